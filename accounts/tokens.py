"""The one place a bearer token is checked: REST (through knox) and both gateways."""

from __future__ import annotations

from dataclasses import dataclass

from drf_spectacular.contrib.knox_auth_token import KnoxTokenScheme
from knox.auth import TokenAuthentication as KnoxTokenAuthentication
from rest_framework.exceptions import AuthenticationFailed


class TokenAuthentication(KnoxTokenAuthentication):
    """knox, minus a 500: knox decodes the header's token as UTF-8 unguarded. Tokens
    are hex (ASCII), so anything else is simply an invalid token. Every REST endpoint
    uses this class (REST_FRAMEWORK's DEFAULT_AUTHENTICATION_CLASSES)."""

    def authenticate_credentials(self, token: bytes):
        try:
            token.decode("ascii")
        except UnicodeDecodeError:
            raise AuthenticationFailed("Invalid token.") from None
        return super().authenticate_credentials(token)


class TokenAuthenticationScheme(KnoxTokenScheme):
    """The OpenAPI description of the class above: knox's `Token` header."""

    target_class = "accounts.tokens.TokenAuthentication"
    name = "tokenAuth"


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
