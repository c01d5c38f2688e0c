"""In-process REST tests: see tests/support/django_api.py."""

from tests.support.django_api import (  # noqa: F401
    _fast_password_hasher,
    _isolated_rate_limits,
    anon,
    staff_client,
)
