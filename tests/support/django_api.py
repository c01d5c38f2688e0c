"""Fixtures for tests that call the REST API in-process (DRF's APIClient)."""

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from tests.accounts.factories import json_client


@pytest.fixture(autouse=True)
def _isolated_rate_limits():
    # Throttle counters live in the cache; every test starts with none.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def anon() -> APIClient:
    return json_client()
