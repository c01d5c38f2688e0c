"""Reads on accounts."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import User
from accounts.usernames import canonical_username

SEARCH_LIMIT = 50


def user_get(*, user_id: int) -> User | None:
    """Any account by id, deactivated ones included: old messages still name them."""
    return User.objects.filter(pk=user_id).first()


def user_search(*, prefix: str, limit: int = SEARCH_LIMIT) -> QuerySet[User]:
    """Active users whose username starts with `prefix`, both compared in canonical
    form (so ignoring case, on every database), by username."""
    return User.objects.filter(
        is_active=True, username_canonical__startswith=canonical_username(prefix)
    ).order_by("username")[:limit]
