"""The one write path for groups and their members, whatever interface calls it.

Every change to a group's members runs in one transaction that first locks the
group's row (select_for_update; on SQLite the IMMEDIATE transaction already holds
the database write lock), then reads member_count from that locked row, checks the
size limit and writes the Membership rows together with the new count. Two joins
racing for the last seat therefore queue on the lock and the second sees the group
full: no check-then-act.

A member who leaves or is removed has their user row locked too, the row every batch
of their messages locks (messaging.services.message_send): a batch of theirs already
under way commits before the removal does, and every later one reads the removal. So
nothing of theirs is stored in the group after the removal's commit, on any node.

Every change to a group's Membership rows also raises the group's `members_version`
in its transaction (on the locked row): the write path caches members and uses them
only while that version reads the same (messaging.selectors.members), so the
removal's commit is also the moment every node's cached copy stops being used.
Edits that bypass these services (the admin, the deletion of users) end in
group_repair, which raises it too, in their transaction.

Errors are the small exceptions below, each with a protocol error `code`; interfaces
map them to their own answers (REST: 404/403/409/400).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction

from accounts.blocking import blockers_among
from improto.channels import MAX_ID, g_channel
from messaging.models import ChannelState, Group, Membership

NAME_MAX = 100


class GroupError(Exception):
    code = "invalid"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class NotFound(GroupError):
    """No such group, or a private group the actor is not in (never revealed)."""

    code = "not_found"


class NotAllowed(GroupError):
    code = "forbidden"


class GroupFull(GroupError):
    code = "group_full"


class InvalidRequest(GroupError):
    code = "invalid"


class OwnerMustLeave(GroupError):
    """The owner asked to be removed: a well-formed request the group's state refuses."""

    code = "conflict"


class UnknownUsers(InvalidRequest):
    """Some user ids name no active account."""

    def __init__(self, user_ids: Iterable[int]):
        self.user_ids = sorted(user_ids)
        super().__init__(f"no such users: {self.user_ids}")


def max_members() -> int:
    return settings.IM_GROUP_MAX_MEMBERS


def group_create(
    *, owner, name: str, public: bool = False, member_ids: Iterable[int] = ()
) -> Group:
    """Create a group owned (and joined) by `owner`, with the given other members.

    The group's channel state row is created in the same transaction, so a group
    never exists without its channel.
    """
    name = name.strip() if isinstance(name, str) else name
    if not isinstance(name, str) or not 1 <= len(name) <= NAME_MAX:
        raise InvalidRequest(f"a group name is 1..{NAME_MAX} characters")
    others = _distinct_ids(member_ids) - {owner.pk}
    if 1 + len(others) > max_members():
        raise GroupFull(f"a group has at most {max_members()} members")
    _require_active_users(others)

    with transaction.atomic():
        _refuse_blockers(owner.pk, others)
        group = Group.objects.create(
            name=name, owner=owner, public=bool(public), member_count=1 + len(others)
        )
        # The owner's row first: the earliest membership is next in line for ownership.
        Membership.objects.bulk_create(
            [Membership(group=group, user=owner, role=Membership.OWNER)]
            + [
                Membership(group=group, user_id=uid, role=Membership.MEMBER)
                for uid in sorted(others)
            ]
        )
        ChannelState.objects.create(channel=g_channel(group.pk), group=group)
    return group


def group_join(*, user, group_id: int) -> Group:
    """Join a public group; joining a group one is already in changes nothing.

    The first to join a group left empty becomes its owner.
    """
    with transaction.atomic():
        group = _lock_group(group_id)
        if group is None:
            raise NotFound("no such group")
        if Membership.objects.filter(group=group, user=user).exists():
            return group
        if not group.public:
            raise NotAllowed("this group is private: members are added by its owner")
        if group.member_count >= max_members():
            raise GroupFull(f"the group is full ({max_members()} members)")
        becomes_owner = group.owner_id is None
        Membership.objects.create(
            group=group, user=user, role=Membership.OWNER if becomes_owner else Membership.MEMBER
        )
        group.member_count += 1
        fields = _members_changed(group, ["member_count"])
        if becomes_owner:
            group.owner = user
            fields.append("owner")
        group.save(update_fields=fields)
    return group


def group_leave(*, user, group_id: int) -> None:
    """Leave a group. An owner who leaves hands the group to the longest-standing member;
    the last member leaves it empty and ownerless (its history stays)."""
    with transaction.atomic():
        group = _lock_group(group_id)
        membership = _membership(group, user.pk)
        if membership is None:
            raise _outsider_error(group)
        _hold_sends_of(user.pk)
        membership.delete()
        group.member_count -= 1
        fields = _members_changed(group, ["member_count"])
        if group.owner_id == user.pk or membership.role == Membership.OWNER:
            _pass_ownership(group)
            fields.append("owner")
        group.save(update_fields=fields)


def group_members_add(*, actor, group_id: int, user_ids: Iterable[int]) -> tuple[Group, list[int]]:
    """The owner adds users; ids already in the group are ignored. All or nothing:
    if the new members would not all fit, nobody is added. Returns the group and the
    ids actually added, ascending."""
    ids = _distinct_ids(user_ids)
    with transaction.atomic():
        group = _lock_group(group_id)
        _require_owner(group, actor)
        _require_active_users(ids)
        _refuse_blockers(actor.pk, ids)
        present = set(
            Membership.objects.filter(group=group, user_id__in=ids).values_list(
                "user_id", flat=True
            )
        )
        new = sorted(ids - present)
        if group.member_count + len(new) > max_members():
            raise GroupFull(
                f"adding {len(new)} would pass the limit of {max_members()} members "
                f"({group.member_count} now)"
            )
        if new:
            Membership.objects.bulk_create(
                [Membership(group=group, user_id=uid, role=Membership.MEMBER) for uid in new]
            )
            group.member_count += len(new)
            group.save(update_fields=_members_changed(group, ["member_count"]))
    return group, new


def group_member_remove(*, actor, group_id: int, user_id: int) -> None:
    """The owner removes a member. The owner leaves with group_leave instead."""
    with transaction.atomic():
        group = _lock_group(group_id)
        _require_owner(group, actor)
        if user_id == actor.pk:
            raise OwnerMustLeave("the owner cannot remove themselves: leave the group instead")
        membership = _membership(group, user_id)
        if membership is None:
            raise NotFound(f"user {user_id} is not a member of {g_channel(group.pk)}")
        _hold_sends_of(user_id)
        membership.delete()
        group.member_count -= 1
        group.save(update_fields=_members_changed(group, ["member_count"]))


def group_repair(*, group_id: int) -> Group | None:
    """Make a group's derived state agree with its Membership rows again.

    For edits that bypass the functions above (the Django admin, data fixes, the
    deletion of users): recount members, make sure exactly the owner has the owner
    role, pass ownership on if the owner is no longer a member, and raise
    members_version (what changed is not known here). Call it in the edit's
    transaction, so that no cached copy of the old members outlives the edit's commit.
    """
    with transaction.atomic():
        group = _lock_group(group_id)
        if group is None:
            return None
        memberships = list(Membership.objects.filter(group=group).order_by("joined_at", "id"))
        group.member_count = len(memberships)
        member_ids = {m.user_id for m in memberships}
        if group.owner_id not in member_ids:
            heirs = [m for m in memberships if m.role == Membership.OWNER] or memberships
            group.owner_id = heirs[0].user_id if heirs else None
        for m in memberships:
            role = Membership.OWNER if m.user_id == group.owner_id else Membership.MEMBER
            if m.role != role:
                m.role = role
                m.save(update_fields=["role"])
        group.save(update_fields=_members_changed(group, ["member_count", "owner"]))
    return group


@contextmanager
def group_members_edited(*, group_ids: Iterable[int | None]) -> Iterator[None]:
    """Around an edit of Membership rows that bypasses the functions above (the
    admin's pages): one transaction that locks the groups first (the order the
    services lock in, so the two never deadlock), runs the edit, holds the sends of
    everyone the edit took out of a group (as a removal does), and repairs the groups
    (which raises their members_version), all before the one commit."""
    ids = sorted({group_id for group_id in group_ids if group_id is not None})
    with transaction.atomic():
        _lock_groups(ids)
        before = _member_pairs(ids)
        yield
        for user_id in sorted({user_id for _, user_id in before - _member_pairs(ids)}):
            _hold_sends_of(user_id)
        for group_id in ids:
            group_repair(group_id=group_id)


# --- helpers ----------------------------------------------------------------------------


def _lock_group(group_id: int) -> Group | None:
    return Group.objects.select_for_update().filter(pk=group_id).first()


def _lock_groups(group_ids: list[int]) -> None:
    """Lock several groups' rows, in id order (two lockers of the same groups queue
    instead of deadlocking)."""
    if group_ids:
        list(Group.objects.select_for_update().filter(pk__in=group_ids).order_by("pk")
             .values_list("pk", flat=True))


def _member_pairs(group_ids: list[int]) -> set[tuple[int, int]]:
    return set(Membership.objects.filter(group_id__in=group_ids)
               .values_list("group_id", "user_id"))


def _members_changed(group: Group, fields: list[str]) -> list[str]:
    """Raise the version of the group's members (its row is locked: no lost update);
    the fields to save, with it."""
    group.members_version += 1
    return [*fields, "members_version"]


def _membership(group: Group | None, user_id: int) -> Membership | None:
    if group is None:
        raise NotFound("no such group")
    return Membership.objects.filter(group=group, user_id=user_id).first()


def _outsider_error(group: Group) -> GroupError:
    # A private group is not revealed to someone outside it.
    if group.public:
        return NotAllowed(f"not a member of {g_channel(group.pk)}")
    return NotFound("no such group")


def _require_owner(group: Group | None, actor) -> None:
    membership = _membership(group, actor.pk)
    if membership is None:
        raise _outsider_error(group)
    if group.owner_id != actor.pk:
        raise NotAllowed("only the group's owner may change its members")


def _pass_ownership(group: Group) -> None:
    successor = Membership.objects.filter(group=group).order_by("joined_at", "id").first()
    if successor is None:
        group.owner = None
        return
    successor.role = Membership.OWNER
    successor.save(update_fields=["role"])
    group.owner_id = successor.user_id


def _distinct_ids(ids: Iterable[int]) -> set[int]:
    distinct = set()
    for uid in ids:
        if type(uid) is not int or not 1 <= uid <= MAX_ID:
            raise InvalidRequest(f"not a user id: {uid!r}")
        distinct.add(uid)
    return distinct


def _require_active_users(ids: set[int]) -> None:
    if not ids:
        return
    found = set(
        get_user_model().objects.filter(pk__in=ids, is_active=True).values_list("pk", flat=True)
    )
    if missing := ids - found:
        raise UnknownUsers(missing)


def _hold_sends_of(user_id: int) -> None:
    """Wait for the user's message batch under way, and hold their next ones until
    this transaction ends (their row's lock; see the module's docstring)."""
    if connection.features.has_select_for_update:
        list(
            get_user_model().objects.select_for_update(no_key=True)
            .filter(pk=user_id).values_list("pk", flat=True)
        )


def _refuse_blockers(actor_id: int, ids: set[int]) -> None:
    """Nobody is added to a group by someone they blocked. The actor's row is locked
    first, as creating a block locks it (accounts.blocking): a block that commits
    before this transaction is seen, one that commits later waits for it."""
    if not ids:
        return
    if connection.features.has_select_for_update:
        list(
            get_user_model().objects.select_for_update(no_key=True)
            .filter(pk=actor_id).values_list("pk", flat=True)
        )
    if blockers_among(user_id=actor_id, candidate_ids=ids):
        # Which of them is not said: a block is not revealed.
        raise NotAllowed("you cannot add some of these users to a group")


def groups_repair_after_users_deleted(sender=None, *, users, **kwargs):
    """The answer to accounts' `users_deleting`: the groups the users are members of,
    read and locked before they go, repaired once they are gone (their memberships go
    with them, and the groups' counts, owners and members_version are derived from
    those). The deletion, and the repair, must be one transaction (accounts.admin):
    the memberships vanish by the cascade and the versions are raised at one commit,
    and the deleted users' own rows are locked by their DELETE, as a removal holds a
    member's sends."""
    group_ids = sorted(set(
        Membership.objects.filter(user__in=users).values_list("group_id", flat=True).distinct()
    ))
    _lock_groups(group_ids)

    def repair() -> None:
        for group_id in group_ids:
            group_repair(group_id=group_id)

    return repair


def groups_leave_after_account_closed(sender=None, *, user_id: int, **kwargs) -> None:
    """The answer to accounts' `account_closed`: the account leaves every group it was
    in, as a member leaving would (an owner hands the group on); its messages stay."""
    user = get_user_model().objects.filter(pk=user_id).first()
    if user is None:
        return
    group_ids = Membership.objects.filter(user_id=user_id).values_list("group_id", flat=True)
    for group_id in sorted(set(group_ids)):
        try:
            group_leave(user=user, group_id=group_id)
        except GroupError:
            continue  # left meanwhile
