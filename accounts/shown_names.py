"""The names a closed account shows in place of its owner's (docs/protocol.md, REST,
DELETE /api/users/me/): messages it sent stay, under a "deleted user" name."""

from __future__ import annotations

from accounts.models import User

DELETED_DISPLAY_NAME = "Deleted user"


def deleted_username(user_id: int) -> str:
    """The username a closed account takes once its old one is freed; "#" is never in
    a username anyone can register, so it is nobody else's."""
    return f"deleted#{user_id}"


def shown_username(user: User) -> str:
    return deleted_username(user.pk) if user.deleted_at is not None else user.username


def shown_display_name(user: User) -> str:
    return DELETED_DISPLAY_NAME if user.deleted_at is not None else user.display_name
