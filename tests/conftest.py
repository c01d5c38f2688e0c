"""Shared fixtures. Server-process fixtures live in tests/support/."""

import pytest

pytest_plugins = ["tests.support.fixtures"]


@pytest.fixture(scope="session", autouse=True)
def _no_notification_threads_in_the_test_process():
    """In-process tests call the write path, whose commit hands the messages to the
    notification outbox; in this process nothing is to be notified, and an outbox
    thread would hold a connection to the test database past its end. The servers the
    tests start are other processes, with their own settings."""
    from django.conf import settings

    settings.IM_PUSH_ENABLED = False


@pytest.fixture(autouse=True)
def _no_members_cached_across_tests():
    """In-process tests share this process's cache of group members, and a test's
    database is rolled back or flushed after it: on SQLite a rolled-back group's id is
    given again to the next test's group, at version 0 again. A server never reuses an
    id that another transaction could have read (docs/architecture.md)."""
    from messaging.members_cache import members_cache

    members_cache().clear()
    yield
    members_cache().clear()
