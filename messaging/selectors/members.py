"""The members of groups, for the write path and the readers that need all of them.

The group rows' `members_version` is read first (one row per group), then the
members of each group whose version this process's cache does not hold (one query
for all of them), which are cached under the version read. Reading the version
before the members keeps the cache safe on PostgreSQL's READ COMMITTED, where each
statement sees a later snapshot: the members read are at least as new as the
version they are filed under, so an entry can be newer than its label, never older,
and a newer label always misses.
"""

from __future__ import annotations

from messaging.members_cache import members_cache
from messaging.models import Group, Membership


def group_members(ids: set[int]) -> dict[int, frozenset[int]]:
    """The members of each existing group (a missing group is not in the answer), as
    of this call's read of the groups' rows: inside the write path's transaction,
    after the senders' rows are locked (messaging.services.message_send)."""
    if not ids:
        return {}
    versions = dict(
        Group.objects.filter(pk__in=ids).order_by().values_list("pk", "members_version")
    )
    cache = members_cache()
    if len(versions) < len(ids):
        cache.drop(ids - versions.keys())
    answer: dict[int, frozenset[int]] = {}
    unknown: dict[int, set[int]] = {}
    for group_id, version in versions.items():
        members = cache.get(group_id, version)
        if members is None:
            unknown[group_id] = set()
        else:
            answer[group_id] = members
    if unknown:
        for group_id, user_id in Membership.objects.filter(
            group_id__in=list(unknown)
        ).order_by().values_list("group_id", "user_id"):
            unknown[group_id].add(user_id)
        for group_id, user_ids in unknown.items():
            members = frozenset(user_ids)
            cache.put(group_id, versions[group_id], members)
            answer[group_id] = members
    return answer
