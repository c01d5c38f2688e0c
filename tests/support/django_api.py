"""Fixtures for tests that call the REST API in-process (DRF's APIClient)."""

import pytest
from django.core.cache import cache
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import User
from tests.accounts.factories import PASSWORD, json_client


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


@pytest.fixture
def staff_client() -> Client:
    """Django admin, logged in as a superuser."""
    client = Client()
    client.force_login(User.objects.create_superuser("root", "root@example.com", PASSWORD))
    return client
