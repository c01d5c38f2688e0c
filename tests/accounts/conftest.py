"""In-process REST tests: see tests/support/django_api.py."""

from tests.support.django_api import _fast_password_hasher, _isolated_rate_limits, anon  # noqa: F401
