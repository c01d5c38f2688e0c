"""The one place a bearer token is checked: REST (through knox) and both gateways."""

from __future__ import annotations

from dataclasses import dataclass

from knox.auth import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed


@dataclass(frozen=True, slots=True)
class TokenIdentity:
    user_id: int
    username: str
    token_key: str


def authenticate_token(raw: str) -> TokenIdentity | None:
    """Return who a token belongs to, or None if it is unknown, expired or revoked.

    Synchronous (it queries the database): async callers wrap it in
    ``database_sync_to_async``.
    """
    if not isinstance(raw, str) or not raw or len(raw) > 256 or not raw.isascii():
        return None
    try:
        user, auth_token = TokenAuthentication().authenticate_credentials(raw.encode("ascii"))
    except AuthenticationFailed:
        return None
    return TokenIdentity(user_id=user.pk, username=user.username, token_key=auth_token.token_key)
