"""What the owner of a token is shown about it: the device named at login, and when
the token was last used (accounts.models.TokenSession, one row per token)."""

from __future__ import annotations

from datetime import timedelta

from django.core.exceptions import ObjectDoesNotExist
from django.db.models import QuerySet
from django.utils import timezone
from knox.models import get_token_model

from accounts.models import TokenSession, User

# `last_used` is written at most this often per token: a token used on every request
# costs one write a minute, not one per request.
TOUCH_EVERY = timedelta(minutes=1)


def session_record(*, token, device: str) -> TokenSession:
    """At login, in the transaction that creates the token."""
    return TokenSession.objects.create(token=token, device=device, last_used=token.created)


def session_touch(*, token) -> None:
    """Note that `token` was just used (a REST request, or a connection's `auth`).
    Reads `token.session` (select_related it to save the query); writes only when the
    last note is older than TOUCH_EVERY. A token without a session row (made before
    sessions were recorded, or outside a login) is left alone: listing the sessions
    gives it one, and its uses are noted from then on."""
    now = timezone.now()
    try:
        session = token.session
    except ObjectDoesNotExist:
        return
    if session.last_used is None or now - session.last_used >= TOUCH_EVERY:
        TokenSession.objects.filter(pk=session.pk).update(last_used=now)


def sessions_touch(*, tokens) -> None:
    """`session_touch` for many tokens (their sessions select_related): one write for
    all the sessions whose last note is older than TOUCH_EVERY."""
    now = timezone.now()
    stale = []
    for token in tokens:
        try:
            session = token.session
        except ObjectDoesNotExist:
            continue
        if session.last_used is None or now - session.last_used >= TOUCH_EVERY:
            stale.append(session.pk)
    if stale:
        TokenSession.objects.filter(pk__in=stale).update(last_used=now)


def sessions_of(*, user: User) -> QuerySet[TokenSession]:
    """The user's tokens that still work, newest first. Tokens that have no session row
    yet (made before sessions were recorded) get one here, so each has an id."""
    now = timezone.now()
    tokens = get_token_model().objects.filter(user=user)
    missing = tokens.filter(session__isnull=True)
    TokenSession.objects.bulk_create(
        [TokenSession(token=token) for token in missing], ignore_conflicts=True
    )
    return (
        TokenSession.objects.filter(token__user=user)
        .exclude(token__expiry__lt=now)
        .select_related("token")
        .order_by("-token__created", "-id")
    )
