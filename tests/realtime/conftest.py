"""In-process tests of the realtime tier: a session under a fake host and transport,
the batch writer and the store against the test database."""

import pytest

from realtime.db import close_connections
from tests.support.django_api import _fast_password_hasher  # noqa: F401


@pytest.fixture(scope="session", autouse=True)
def _db_threads_let_go(django_db_setup):
    """The realtime tier's database threads keep their connections; close them before
    the test database is dropped."""
    yield
    close_connections()
