"""In-process admin tests use Django's test client (tests/support/django_api.py)."""

from tests.support.django_api import (  # noqa: F401
    _fast_password_hasher,
    _isolated_rate_limits,
    staff_client,
)
