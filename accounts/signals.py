"""Signals accounts sends; apps above it subscribe (in their AppConfig.ready)."""

from __future__ import annotations

from django.dispatch import Signal

# Sent after the commit that revoked tokens, with keyword arguments:
#   user_id: int            whose tokens
#   token_key: str | None   the one revoked token's key; None: all of the user's tokens
#   reason: str             the `offline` reason for its live connections
#                           ("logout", "kicked")
# realtime closes the live connections opened with them.
tokens_revoked = Signal()

# Sent when a user sets an avatar, with keyword arguments:
#   user_id: int     who sets it
#   media_id: str    the id they gave
# A receiver answers True if that id is an image the user uploaded; media does.
# With no receiver, no avatar is accepted.
avatar_check = Signal()

# Sent by the admin before it deletes users, inside the transaction that deletes them,
# with keyword arguments:
#   users: QuerySet  the users about to be deleted
# A receiver may answer a function of no arguments; each is called once the users are
# deleted, in the same transaction. messaging locks the groups they were members of
# and answers one that repairs them (and raises their members_version).
users_deleting = Signal()

# Sent after the commit that closed an account (DELETE /api/users/me/), with keyword
# arguments:
#   user_id: int     whose account
# messaging takes it out of its groups.
account_closed = Signal()

# Sent by a moderator's ban or unban in the admin's Users pages, inside the transaction
# that makes it (so what a receiver writes commits or rolls back with it), with
# keyword arguments:
#   moderator_id: int   who did it
#   user_id: int        to whom
#   banned: bool        True: banned (deactivated); False: the ban lifted
#   reason: str         why, as the moderator wrote it ("" if not given)
# messaging writes it to the moderation audit log.
user_moderated = Signal()
