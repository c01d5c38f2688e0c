"""Reads of groups and their members, with the visibility rule every reader needs.

A group is visible to its members and, if public, to every user. A private group is
invisible to anyone else: readers answer as if it did not exist.
"""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Q, QuerySet

from messaging.models import Group, Membership


def _is_member(user) -> Exists:
    return Exists(Membership.objects.filter(group=OuterRef("pk"), user=user))


def group_get_visible(*, user, group_id: int) -> Group | None:
    return Group.objects.filter(Q(public=True) | _is_member(user), pk=group_id).first()


def groups_of_user(*, user) -> QuerySet[Group]:
    """The groups the user is a member of, oldest first."""
    return Group.objects.filter(_is_member(user)).order_by("id")


def group_members(*, group: Group) -> QuerySet[Membership]:
    """Memberships of a group with their users, longest-standing first."""
    return Membership.objects.filter(group=group).select_related("user").order_by("joined_at", "id")
