"""Reads on accounts."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import User

SEARCH_LIMIT = 50


def user_get(*, user_id: int) -> User | None:
    """Any account by id, deactivated ones included: old messages still name them."""
    return User.objects.filter(pk=user_id).first()


def user_search(*, prefix: str, limit: int = SEARCH_LIMIT) -> QuerySet[User]:
    """Active users whose username starts with `prefix`, ignoring case, by username."""
    return User.objects.filter(is_active=True, username__istartswith=prefix).order_by("username")[
        :limit
    ]
