"""Closing one's own account (DELETE /api/users/me/).

As a ban does (accounts.services.user_deactivate): in one transaction the account is
made inactive and every token revoked; after the commit, its live connections get
`offline`/`logout` on every node. The sender-row lock of the message write path makes
"no frame of theirs stored after the commit" exact. Besides, the profile is emptied
(names shown as "Deleted user" / `deleted#<id>`, accounts.shown_names), the password
made unusable, and the username held, then freed (accounts.username_hold).

Messages already sent stay in their channels, as in every group messenger: the other
members' history is theirs too. After the commit, `account_closed` is sent: messaging
takes the account out of its groups, media stops serving its files.
"""

from __future__ import annotations

from functools import partial

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from accounts.password import password_check
from accounts.sessions import tokens_revoke
from accounts.signals import account_closed
from improto.vocabulary import LOGOUT


def account_close(*, user: User, password: str, address: str) -> None:
    """Raise ValidationError {"password": [...]} if the password is wrong."""
    password_check(user=user, password=password, address=address, field="password")
    with transaction.atomic():
        user.is_active = False
        user.deleted_at = timezone.now()
        user.display_name = ""
        user.bio = ""
        user.avatar = ""
        user.set_unusable_password()
        user.save(
            update_fields=["is_active", "deleted_at", "display_name", "bio", "avatar", "password"]
        )
        tokens_revoke(user=user, reason=LOGOUT)
        transaction.on_commit(
            partial(account_closed.send, sender=User, user_id=user.pk), robust=True
        )
