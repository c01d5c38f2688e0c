"""Blocking: one user stops another from reaching them.

A block is read where it matters, inside the transaction that would break it (the
message write path, adding group members), never from a cache: so it holds on every
node from the block's commit on. To make "from the commit on" exact, creating a
block first locks the blocked user's row, the row every message write of that user
locks (messaging.services.message_send): a batch of theirs already under way commits
before the block does, and every later one reads it.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import IntegrityError, connection, transaction
from django.db.models import QuerySet

from accounts.models import Block, User


class BlockError(Exception):
    code = "invalid"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class BlockTargetNotFound(BlockError):
    code = "not_found"


def block_create(*, blocker: User, blocked_id: int) -> tuple[Block, bool]:
    """Block `blocked_id`; blocking someone already blocked changes nothing.
    Returns the block and whether it is new."""
    if blocked_id == blocker.pk:
        raise BlockError("you cannot block yourself")
    with transaction.atomic():
        query = User.objects.filter(pk=blocked_id)
        if connection.features.has_select_for_update:
            query = query.select_for_update(no_key=True)
        if not query.exists():
            raise BlockTargetNotFound(f"no such user: {blocked_id}")
        existing = Block.objects.filter(blocker=blocker, blocked_id=blocked_id).first()
        if existing is not None:
            return existing, False
        try:
            with transaction.atomic():
                return Block.objects.create(blocker=blocker, blocked_id=blocked_id), True
        except IntegrityError:
            # The same block, made at the same moment by another request.
            return Block.objects.get(blocker=blocker, blocked_id=blocked_id), False


def block_delete(*, blocker: User, blocked_id: int) -> bool:
    """Lift a block; False if there was none."""
    deleted, _ = Block.objects.filter(blocker=blocker, blocked_id=blocked_id).delete()
    return deleted > 0


def blocks_of(*, blocker_id: int) -> QuerySet[Block]:
    """The blocks a user made, newest first, with the blocked users."""
    return Block.objects.filter(blocker_id=blocker_id).select_related("blocked")


def blocked_pairs(pairs: Iterable[tuple[int, int]]) -> set[tuple[int, int]]:
    """Of the given (sender, recipient) pairs, those where the recipient blocked the
    sender. One indexed query, whatever the number of pairs."""
    pairs = set(pairs)
    if not pairs:
        return set()
    senders = {s for s, _ in pairs}
    recipients = {r for _, r in pairs}
    rows = Block.objects.filter(blocked_id__in=senders, blocker_id__in=recipients).values_list(
        "blocked_id", "blocker_id"
    )
    return {pair for pair in rows if pair in pairs}


def blockers_among(*, user_id: int, candidate_ids: Iterable[int]) -> set[int]:
    """Those of `candidate_ids` who blocked `user_id`."""
    ids = set(candidate_ids)
    if not ids:
        return set()
    return set(
        Block.objects.filter(blocked_id=user_id, blocker_id__in=ids).values_list(
            "blocker_id", flat=True
        )
    )


def active_and_blocked(user_ids: Iterable[int], pairs: Iterable[tuple[int, int]]
                       ) -> tuple[set[int], set[tuple[int, int]]]:
    """The active ones of `user_ids`, and those of the (sender, recipient) pairs where
    the recipient blocked the sender: one statement for both (the write path's check
    of its recipients). A block is read by the statement's own snapshot, so one that
    committed before the statement began is seen."""
    ids, pairs = set(user_ids), set(pairs)
    if not ids:
        return set(), set()
    senders = sorted({s for s, _ in pairs}) or [0]  # no pairs: an id no user has
    quote = connection.ops.quote_name
    user_table, block_table = quote(User._meta.db_table), quote(Block._meta.db_table)
    id_list = ", ".join(["%s"] * len(ids))
    sender_list = ", ".join(["%s"] * len(senders))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT u.{quote('id')}, b.{quote('blocked_id')} FROM {user_table} AS u "
            f"LEFT JOIN {block_table} AS b ON b.{quote('blocker_id')} = u.{quote('id')} "
            f"AND b.{quote('blocked_id')} IN ({sender_list}) "
            f"WHERE u.{quote('id')} IN ({id_list}) AND u.{quote('is_active')}",
            [*senders, *sorted(ids)],
        )
        rows = cursor.fetchall()
    active = {user_id for user_id, _ in rows}
    blocked = {(sender, user_id) for user_id, sender in rows if sender is not None}
    return active, blocked & pairs
