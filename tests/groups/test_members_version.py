"""Every change to a group's members raises its members_version in the change's own
transaction (the services, the admin's edits, the deletion of users), and the write
path's members come from this process's cache only while that version matches."""

from __future__ import annotations

import threading

import pytest

from messaging.members_cache import MembersCache, members_cache
from messaging.models import Group, Membership
from messaging.selectors.members import group_members
from messaging.services import groups as services
from messaging.services.message_send import SendRequest, messages_send
from tests.accounts.factories import make_user

pytestmark = [pytest.mark.embedded, pytest.mark.django_db]


def version(group) -> int:
    return Group.objects.values_list("members_version", flat=True).get(pk=group.pk)


# --- the services -------------------------------------------------------------------------


def test_each_change_of_members_raises_the_version_once():
    owner, a, b = make_user(), make_user(), make_user()
    group = services.group_create(owner=owner, name="x", public=True)
    seen = [version(group)]

    services.group_join(user=a, group_id=group.pk)
    seen.append(version(group))
    services.group_join(user=a, group_id=group.pk)  # already in: nothing changes
    seen.append(version(group))
    services.group_members_add(actor=owner, group_id=group.pk, user_ids=[b.pk])
    seen.append(version(group))
    services.group_members_add(actor=owner, group_id=group.pk, user_ids=[b.pk])  # nothing new
    seen.append(version(group))
    services.group_member_remove(actor=owner, group_id=group.pk, user_id=b.pk)
    seen.append(version(group))
    services.group_leave(user=owner, group_id=group.pk)  # the owner hands over to a
    seen.append(version(group))
    services.group_repair(group_id=group.pk)
    seen.append(version(group))

    assert seen == [0, 1, 1, 2, 2, 3, 4, 5]


def test_a_refused_change_raises_nothing(settings):
    settings.IM_GROUP_MAX_MEMBERS = 2
    owner, a, b = make_user(), make_user(), make_user()
    group = services.group_create(owner=owner, name="x", member_ids=[a.pk])

    with pytest.raises(services.GroupFull):
        services.group_members_add(actor=owner, group_id=group.pk, user_ids=[b.pk])
    with pytest.raises(services.NotAllowed):
        services.group_member_remove(actor=a, group_id=group.pk, user_id=owner.pk)

    assert version(group) == 0


# --- the admin and the deletion of users --------------------------------------------------


def test_deleting_a_user_in_the_admin_raises_the_versions_of_their_groups(staff_client):
    owner, member, outsider = make_user(), make_user(), make_user()
    theirs = services.group_create(owner=owner, name="x", member_ids=[member.pk])
    other = services.group_create(owner=owner, name="y", member_ids=[outsider.pk])

    response = staff_client.post(f"/admin/accounts/user/{member.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert (version(theirs), version(other)) == (1, 0)


def test_deleting_users_in_bulk_raises_the_versions_of_their_groups(staff_client):
    owner, a, b = make_user(), make_user(), make_user()
    first = services.group_create(owner=owner, name="x", member_ids=[a.pk])
    second = services.group_create(owner=owner, name="y", member_ids=[a.pk, b.pk])
    untouched = services.group_create(owner=owner, name="z")

    response = staff_client.post("/admin/accounts/user/", {
        "action": "delete_selected", "_selected_action": [a.pk, b.pk], "post": "yes",
    })

    assert response.status_code == 302
    assert (version(first), version(second), version(untouched)) == (1, 1, 0)
    assert group_members({first.pk, second.pk}) == {
        first.pk: frozenset({owner.pk}), second.pk: frozenset({owner.pk})}


def test_a_user_deletion_that_fails_leaves_the_groups_as_they_were(staff_client, monkeypatch):
    """The deletion and the groups' repair are one transaction: a repair that fails
    takes the deletion back with it (no member gone without its version raised)."""
    owner, member = make_user(), make_user()
    group = services.group_create(owner=owner, name="x", member_ids=[member.pk])

    def broken(*, group_id):
        raise RuntimeError("repair failed")

    monkeypatch.setattr(services, "group_repair", broken)
    with pytest.raises(RuntimeError):
        staff_client.post("/admin/accounts/user/", {
            "action": "delete_selected", "_selected_action": [member.pk], "post": "yes",
        })

    assert Membership.objects.filter(group=group, user=member).exists()
    assert version(group) == 0


def test_admin_membership_edits_raise_the_version(staff_client):
    owner, a, b, c = make_user(), make_user(), make_user(), make_user()
    group = services.group_create(owner=owner, name="x", member_ids=[a.pk, b.pk, c.pk])
    row_a = Membership.objects.get(group=group, user=a)
    rows_bc = Membership.objects.filter(group=group, user__in=[b, c])

    one = staff_client.post(f"/admin/messaging/membership/{row_a.pk}/delete/", {"post": "yes"})
    after_one = version(group)
    bulk = staff_client.post("/admin/messaging/membership/", {
        "action": "delete_selected", "post": "yes",
        "_selected_action": list(rows_bc.values_list("pk", flat=True)),
    })

    assert (one.status_code, bulk.status_code) == (302, 302)
    assert (after_one, version(group)) == (1, 2)
    assert group_members({group.pk}) == {group.pk: frozenset({owner.pk})}


def test_removing_a_member_in_the_group_page_raises_the_version(staff_client):
    owner, member = make_user(), make_user()
    group = services.group_create(owner=owner, name="x", member_ids=[member.pk])
    rows = list(Membership.objects.filter(group=group).order_by("joined_at", "id"))
    form = {
        "name": "x", "public": "", "memberships-TOTAL_FORMS": str(len(rows)),
        "memberships-INITIAL_FORMS": str(len(rows)), "memberships-MIN_NUM_FORMS": "0",
        "memberships-MAX_NUM_FORMS": "1000",
    }
    for i, row in enumerate(rows):
        form |= {f"memberships-{i}-id": str(row.pk), f"memberships-{i}-group": str(group.pk),
                 f"memberships-{i}-user": str(row.user_id)}
    form[f"memberships-{rows.index(next(r for r in rows if r.user_id == member.pk))}-DELETE"] = "on"

    response = staff_client.post(f"/admin/messaging/group/{group.pk}/change/", form)

    assert response.status_code == 302, response.context["errors"]
    assert version(group) == 1
    assert group_members({group.pk}) == {group.pk: frozenset({owner.pk})}


# --- the read ------------------------------------------------------------------------------


def test_a_warm_group_costs_one_row_and_a_change_is_read_at_once(django_assert_num_queries):
    owner, *others = [make_user() for _ in range(20)]
    group = services.group_create(owner=owner, name="x", member_ids=[u.pk for u in others])
    everyone = frozenset(u.pk for u in [owner, *others])

    with django_assert_num_queries(2):  # the versions, then the members
        assert group_members({group.pk}) == {group.pk: everyone}
    with django_assert_num_queries(1):  # the versions only
        assert group_members({group.pk}) == {group.pk: everyone}
    services.group_member_remove(actor=owner, group_id=group.pk, user_id=others[0].pk)
    with django_assert_num_queries(2):
        assert group_members({group.pk}) == {group.pk: everyone - {others[0].pk}}


def test_a_deleted_group_is_no_group_and_leaves_the_cache():
    owner = make_user()
    group = services.group_create(owner=owner, name="x")
    assert group_members({group.pk}) == {group.pk: frozenset({owner.pk})}

    Group.objects.filter(pk=group.pk).delete()

    assert group_members({group.pk}) == {}
    assert members_cache().get(group.pk, 0) is None


@pytest.mark.django_db(transaction=True)
def test_a_removed_member_is_refused_by_the_write_path_with_a_warm_cache():
    owner, member = make_user(), make_user()
    group = services.group_create(owner=owner, name="x", member_ids=[member.pk])

    def send(client_id: str):
        outcome, = messages_send([SendRequest(sender_id=member.pk, client_id=client_id,
                                              type="text", body={"text": client_id},
                                              group=group.pk)])
        return outcome.refused.code if outcome.refused else outcome.result.message.seq

    first = send("before")
    services.group_member_remove(actor=owner, group_id=group.pk, user_id=member.pk)
    removed = send("removed")
    services.group_members_add(actor=owner, group_id=group.pk, user_ids=[member.pk])
    back = send("back")

    assert (first, removed, back) == (1, "forbidden", 2)


# --- the cache alone -----------------------------------------------------------------------


def test_the_cache_answers_only_the_version_it_holds():
    cache = MembersCache(10)
    cache.put(1, 3, frozenset({7}))

    assert cache.get(1, 3) == frozenset({7})
    assert cache.get(1, 4) is None and cache.get(1, 2) is None and cache.get(2, 3) is None
    cache.put(1, 2, frozenset({7, 8}))  # an older read, later: the newer one stays
    assert cache.get(1, 3) == frozenset({7})
    cache.put(1, 4, frozenset())
    assert cache.get(1, 4) == frozenset() and cache.get(1, 3) is None


def test_the_cache_keeps_the_most_recently_used_groups_up_to_its_size():
    cache = MembersCache(3)
    for group_id in (1, 2, 3):
        cache.put(group_id, 0, frozenset({group_id}))
    cache.get(1, 0)  # used: 2 is now the oldest
    cache.put(4, 0, frozenset({4}))

    assert len(cache) == 3
    assert [cache.get(g, 0) is not None for g in (1, 2, 3, 4)] == [True, False, True, True]


def test_the_cache_keeps_at_most_its_number_of_member_ids():
    cache = MembersCache(100, max_members=10)
    cache.put(1, 0, frozenset(range(4)))
    cache.put(2, 0, frozenset(range(4)))
    cache.put(1, 1, frozenset(range(5)))  # replaces its entry: 9 held
    assert cache.members_held == 9 and len(cache) == 2
    cache.put(3, 0, frozenset(range(3)))  # 12: the least recently used (2) goes

    assert cache.members_held == 8
    assert [cache.get(g, v) is not None for g, v in ((1, 1), (2, 0), (3, 0))] == [
        True, False, True]
    cache.put(4, 0, frozenset(range(11)))  # larger than the whole cache: not kept
    assert cache.get(4, 0) is None and cache.members_held == 8
    cache.drop([1])
    assert cache.members_held == 3


def test_a_cache_of_size_zero_holds_nothing():
    cache = MembersCache(0)
    cache.put(1, 0, frozenset({1}))
    assert cache.get(1, 0) is None and len(cache) == 0


def test_the_cache_stays_bounded_and_consistent_under_threads():
    cache = MembersCache(50)
    errors = []

    def work(seed: int) -> None:
        for i in range(5000):
            group_id, version = (seed * 7 + i) % 200, i % 5
            cache.put(group_id, version, frozenset({group_id, version}))
            found = cache.get(group_id, version)
            if found is not None and found != frozenset({group_id, version}):
                errors.append((group_id, version, found))

    threads = [threading.Thread(target=work, args=(seed,)) for seed in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == [] and len(cache) <= 50
    assert cache.members_held == sum(len(members) for _, members in cache._entries.values())
