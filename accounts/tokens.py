"""The one place a bearer token is checked: REST (through knox) and both gateways."""

from __future__ import annotations

import binascii
from dataclasses import dataclass
from hmac import compare_digest

from django.utils import timezone
from drf_spectacular.contrib.knox_auth_token import KnoxTokenScheme
from knox.auth import TokenAuthentication as KnoxTokenAuthentication
from knox.crypto import hash_token
from knox.models import AuthToken
from knox.settings import CONSTANTS
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

    The gateways' check: one indexed query, knox's digest comparison, no clean-up of
    the user's other tokens on the way (REST requests do that). Synchronous (it
    queries the database): async callers run it on a thread.
    """
    if not isinstance(raw, str) or not raw or len(raw) > 256 or not raw.isascii():
        return None
    try:
        digest = hash_token(raw)
    except (TypeError, ValueError, binascii.Error):
        return None
    now = timezone.now()
    candidates = AuthToken.objects.filter(
        token_key=raw[: CONSTANTS.TOKEN_KEY_LENGTH]
    ).select_related("user")
    for token in candidates:
        if token.expiry is not None and token.expiry < now:
            continue
        if compare_digest(digest, token.digest) and token.user.is_active:
            return TokenIdentity(
                user_id=token.user_id, username=token.user.username, token_key=token.token_key
            )
    return None
