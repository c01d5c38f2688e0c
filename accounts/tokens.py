"""The one place a bearer token is checked: REST (through knox) and both gateways."""

from __future__ import annotations

import binascii
from dataclasses import dataclass
from hmac import compare_digest

from django.contrib.auth import get_user_model
from django.utils import timezone
from drf_spectacular.contrib.knox_auth_token import KnoxTokenScheme
from knox.auth import TokenAuthentication as KnoxTokenAuthentication
from knox.crypto import hash_token
from knox.models import AuthToken
from knox.settings import CONSTANTS, knox_settings
from rest_framework.exceptions import AuthenticationFailed

from accounts.session_records import session_touch, sessions_touch
from improto.vocabulary import EXPIRED, KICKED, LOGOUT


class TokenAuthentication(KnoxTokenAuthentication):
    """knox, minus a 500, plus the session record. knox decodes the header's token as
    UTF-8 unguarded; tokens are hex (ASCII), so anything else is simply an invalid
    token. knox's lookup is repeated here with the session row joined, so that noting
    the token's use (accounts.session_records) costs no query but a write a minute.
    Every REST endpoint uses this class (REST_FRAMEWORK's DEFAULT_AUTHENTICATION_CLASSES)."""

    def authenticate_credentials(self, token: bytes):
        try:
            raw = token.decode("ascii")
        except UnicodeDecodeError:
            raise AuthenticationFailed("Invalid token.") from None
        try:
            digest = hash_token(raw)
        except (TypeError, ValueError, binascii.Error):
            raise AuthenticationFailed("Invalid token.") from None
        candidates = AuthToken.objects.filter(
            token_key=raw[: CONSTANTS.TOKEN_KEY_LENGTH]
        ).select_related("user", "session")
        for auth_token in candidates:
            if self._cleanup_token(auth_token):  # knox: skips (and deletes) expired ones
                continue
            if compare_digest(digest, auth_token.digest):
                if knox_settings.AUTO_REFRESH and auth_token.expiry:
                    self.renew_token(auth_token)
                user, auth_token = self.validate_user(auth_token)
                session_touch(token=auth_token)
                return user, auth_token
        raise AuthenticationFailed("Invalid token.")


class TokenAuthenticationScheme(KnoxTokenScheme):
    """The OpenAPI description of the class above: knox's `Token` header."""

    target_class = "accounts.tokens.TokenAuthentication"
    name = "tokenAuth"


@dataclass(frozen=True, slots=True)
class TokenIdentity:
    user_id: int
    username: str
    token_key: str
    expiry_ms: int | None  # when the token stops working (ms since the epoch), or never


def authenticate_token(raw: str) -> TokenIdentity | None:
    """Return who a token belongs to, or None if it is unknown, expired or revoked.

    The gateways' check: one indexed query, knox's digest comparison, no clean-up of
    the user's other tokens on the way (REST requests do that). Synchronous (it
    queries the database): async callers run it on a thread.
    """
    return authenticate_tokens([raw])[0]


def authenticate_tokens(raws: list[str]) -> list[TokenIdentity | None]:
    """`authenticate_token` for many tokens at once, one answer per token in order:
    one query for all of them, and one write for the sessions whose use is noted
    (a connect storm's authentications share the query instead of one each)."""
    digests: list[str | None] = []
    for raw in raws:
        digest = None
        if isinstance(raw, str) and raw and len(raw) <= 256 and raw.isascii():
            try:
                digest = hash_token(raw)
            except (TypeError, ValueError, binascii.Error):
                pass
        digests.append(digest)
    keys = {raw[: CONSTANTS.TOKEN_KEY_LENGTH] for raw, d in zip(raws, digests, strict=True) if d}
    if not keys:
        return [None] * len(raws)
    now = timezone.now()
    candidates: dict[str, list[AuthToken]] = {}
    for token in AuthToken.objects.filter(token_key__in=keys).select_related("user", "session"):
        candidates.setdefault(token.token_key, []).append(token)
    answers: list[TokenIdentity | None] = []
    touched = []
    for raw, digest in zip(raws, digests, strict=True):
        found = None
        for token in candidates.get(raw[: CONSTANTS.TOKEN_KEY_LENGTH], ()) if digest else ():
            if token.expiry is not None and token.expiry < now:
                continue
            if compare_digest(digest, token.digest) and token.user.is_active:
                touched.append(token)
                found = TokenIdentity(
                    user_id=token.user_id, username=token.user.username,
                    token_key=token.token_key, expiry_ms=_ms(token.expiry),
                )
                break
        answers.append(found)
    sessions_touch(tokens=touched)
    return answers


def _ms(moment) -> int | None:
    return None if moment is None else int(moment.timestamp() * 1000)


def token_is_live(*, user_id: int, token_key: str) -> bool:
    """Whether a token that authenticated a connection still works: not revoked, not
    expired, its user not banned. Synchronous (one indexed query)."""
    return tokens_state([(user_id, token_key)])[(user_id, token_key)] is None


def tokens_state(pairs: list[tuple[int, str]]) -> dict[tuple[int, str], str | None]:
    """For each (user id, token key): None while the token works, else the `offline`
    reason its connections get: `logout` (revoked, or the user closed the account),
    `expired`, or `kicked` (the user was banned). One or two queries."""
    now = timezone.now()
    found = {
        (user_id, key): (expiry, active)
        for key, user_id, expiry, active in AuthToken.objects.filter(
            token_key__in={key for _, key in pairs}
        ).values_list("token_key", "user_id", "expiry", "user__is_active")
    }
    # A ban deletes the user's tokens: a missing token of a banned user means `kicked`
    # (closing one's own account deletes them too, and means `logout`).
    missing = {user_id for user_id, key in pairs if (user_id, key) not in found}
    inactive = {user_id for (user_id, _), (_, active) in found.items() if not active}
    banned = set(
        get_user_model().objects.filter(
            pk__in=missing | inactive, is_active=False, deleted_at__isnull=True
        ).values_list("pk", flat=True)
    ) if missing | inactive else set()
    answer: dict[tuple[int, str], str | None] = {}
    for pair in pairs:
        state = found.get(pair)
        if state is None or not state[1]:
            answer[pair] = KICKED if pair[0] in banned else LOGOUT
        elif state[0] is not None and state[0] < now:
            answer[pair] = EXPIRED
        else:
            answer[pair] = None
    return answer
