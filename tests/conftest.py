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
