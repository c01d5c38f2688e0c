"""Users, tokens and authenticated clients for the account and group tests."""

from __future__ import annotations

import itertools

from knox.models import AuthToken
from rest_framework.test import APIClient

from accounts.models import User

PASSWORD = "correct-horse-battery-9"
_numbers = itertools.count(1)


def make_user(username: str | None = None, *, password: str = PASSWORD, **extra) -> User:
    username = username or f"user{next(_numbers)}"
    return User.objects.create_user(username=username, password=password, **extra)


def token_for(user: User, **kwargs) -> str:
    return AuthToken.objects.create(user=user, **kwargs)[1]


def json_client() -> APIClient:
    """An APIClient that sends JSON bodies (the server parses nothing else)."""
    client = APIClient()
    client.default_format = "json"
    return client


def client_for(user: User | None = None, *, token: str | None = None) -> APIClient:
    client = json_client()
    if token is None and user is not None:
        token = token_for(user)
    if token is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client
