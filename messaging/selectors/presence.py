"""Whose presence a user may see: only people they share a channel with, and who
have not blocked them."""

from __future__ import annotations

from accounts.blocking import blockers_among
from messaging.models import ChannelState, Membership


def users_sharing_a_channel(*, user_id: int, candidate_ids: list[int]) -> set[int]:
    """The ids among `candidate_ids` that share a channel with `user_id`: the user
    themself, a peer of a private channel that exists (it has a ChannelState row,
    made by its first message), or a fellow member of a group the user is in.

    One query (a UNION of the two kinds of channel), however many candidates.
    """
    others = [uid for uid in set(candidate_ids) if uid != user_id]
    found = {user_id} if user_id in candidate_ids else set()
    if not others:
        return found
    # p:a:b stores a <= b: the peer is whichever column is not the caller.
    # (No ORDER BY inside a UNION: the models' default ordering is cleared.)
    private_as_a = (
        ChannelState.objects.filter(user_a=user_id, user_b__in=others)
        .order_by()
        .values_list("user_b", flat=True)
    )
    private_as_b = (
        ChannelState.objects.filter(user_b=user_id, user_a__in=others)
        .order_by()
        .values_list("user_a", flat=True)
    )
    my_groups = Membership.objects.filter(user_id=user_id).order_by().values("group_id")
    group_fellows = (
        Membership.objects.filter(group_id__in=my_groups, user_id__in=others)
        .order_by()
        .values_list("user_id", flat=True)
    )
    found.update(private_as_a.union(private_as_b, group_fellows))
    return found


def presence_visible_to(*, user_id: int, candidate_ids: list[int]) -> set[int]:
    """The ids among `candidate_ids` whose presence `user_id` may see: those sharing a
    channel with them (above), less those who blocked them."""
    sharing = users_sharing_a_channel(user_id=user_id, candidate_ids=candidate_ids)
    return sharing - blockers_among(user_id=user_id, candidate_ids=sharing - {user_id})
