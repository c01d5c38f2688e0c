"""A closed account's username is held for IM_USERNAME_HOLD_DAYS, so that nobody can
take it at once and pass for the person who just left; then it is free again.

Freed lazily, by the registration that asks for it: no scheduled job. The account
keeps its row (its messages still name it) under `deleted#<id>`.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from accounts.shown_names import deleted_username


def username_release_if_held_past(canonical: str) -> bool:
    """If `canonical` is the name of an account closed more than IM_USERNAME_HOLD_DAYS
    ago, give that account its placeholder name, freeing `canonical`. True if freed."""
    cutoff = timezone.now() - timedelta(days=settings.IM_USERNAME_HOLD_DAYS)
    with transaction.atomic():
        closed = User.objects.filter(
            username_canonical=canonical, deleted_at__isnull=False, deleted_at__lte=cutoff
        ).first()
        if closed is None:
            return False
        closed.username = deleted_username(closed.pk)
        closed.save(update_fields=["username"])
    return True
