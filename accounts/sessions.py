"""Signing out: one of my sessions (tokens), or all of them. Each revoked token's live
connections get `offline`/`logout` on every node once the revocation commits."""

from __future__ import annotations

from django.db import transaction
from knox.models import get_token_model

from accounts.models import TokenSession, User
from accounts.services import revoked_on_commit
from improto.vocabulary import LOGOUT


def session_revoke(*, user: User, session_id: int) -> bool:
    """Revoke one of the user's sessions (the current one included); False if the
    user has no such session (another user's is as unknown as none)."""
    with transaction.atomic():
        session = (
            TokenSession.objects.select_related("token")
            .filter(pk=session_id, token__user=user).first()
        )
        if session is None:
            return False
        token_key = session.token.token_key
        session.token.delete()  # the session row goes with it
        revoked_on_commit(user_id=user.pk, token_key=token_key, reason=LOGOUT)
    return True


def tokens_revoke(*, user: User, keep_digest: str | None = None, reason: str = LOGOUT) -> int:
    """Revoke every token of the user but the one with `keep_digest` (None: all).
    Inside or outside a transaction; the connections are closed after its commit.
    Returns how many were revoked."""
    with transaction.atomic():
        tokens = get_token_model().objects.filter(user=user)
        if keep_digest is not None:
            tokens = tokens.exclude(digest=keep_digest)
        # The rows read are the rows deleted (and announced); a login committing
        # meanwhile keeps its new token.
        revoked = list(tokens.select_for_update().values_list("digest", "token_key"))
        get_token_model().objects.filter(digest__in=[d for d, _ in revoked]).delete()
        if keep_digest is None:
            revoked_on_commit(user_id=user.pk, token_key=None, reason=reason)
        else:
            for key in sorted({key for _, key in revoked}):
                revoked_on_commit(user_id=user.pk, token_key=key, reason=reason)
    return len(revoked)
