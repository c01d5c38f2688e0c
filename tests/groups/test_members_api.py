from datetime import datetime

import pytest

from messaging.models import Group, Membership
from tests.accounts.factories import client_for, make_user

pytestmark = pytest.mark.django_db

GROUPS = "/api/groups/"


def new_group(owner, **body) -> int:
    body.setdefault("name", "team")
    response = client_for(owner).post(GROUPS, body)
    assert response.status_code == 201
    return response.json()["id"]


def members_url(group_id: int) -> str:
    return f"{GROUPS}{group_id}/members/"


def member_ids(group_id: int) -> set[int]:
    return set(Membership.objects.filter(group_id=group_id).values_list("user_id", flat=True))


# --- list -------------------------------------------------------------------------------


def test_members_list():
    owner = make_user("owner", display_name="The Owner")
    member = make_user("member")
    group = new_group(owner, members=[member.pk])

    response = client_for(member).get(members_url(group))

    assert response.status_code == 200
    rows = response.json()
    assert [r["user"] for r in rows] == [
        {"id": owner.pk, "username": "owner", "display_name": "The Owner"},
        {"id": member.pk, "username": "member", "display_name": ""},
    ]
    assert [r["role"] for r in rows] == ["owner", "member"]
    assert all(datetime.fromisoformat(r["joined_at"]) for r in rows)


def test_members_of_a_public_group_are_listed_for_anyone():
    owner = make_user()
    group = new_group(owner, public=True)

    assert client_for(make_user()).get(members_url(group)).status_code == 200


def test_members_of_a_private_group_are_hidden():
    owner = make_user()
    group = new_group(owner)

    assert client_for(make_user()).get(members_url(group)).status_code == 404


def test_members_list_has_no_query_per_member(django_assert_max_num_queries):
    owner = make_user()
    group = new_group(owner, members=[make_user().pk for _ in range(10)])
    client = client_for(owner)

    with django_assert_max_num_queries(6):
        assert len(client.get(members_url(group)).json()) == 11


# --- add --------------------------------------------------------------------------------


def test_owner_adds_members():
    owner, a, b = make_user(), make_user(), make_user()
    group = new_group(owner, members=[a.pk])

    response = client_for(owner).post(members_url(group), {"user_ids": [b.pk, a.pk, b.pk]})

    assert response.status_code == 200
    assert response.json()["added"] == [b.pk]
    assert response.json()["group"]["member_count"] == 3
    assert member_ids(group) == {owner.pk, a.pk, b.pk}
    assert Membership.objects.get(group_id=group, user=b).role == "member"


def test_adding_only_existing_members_changes_nothing():
    owner, a = make_user(), make_user()
    group = new_group(owner, members=[a.pk])

    response = client_for(owner).post(members_url(group), {"user_ids": [a.pk, owner.pk]})

    assert response.status_code == 200
    assert response.json()["added"] == []
    assert Group.objects.get(pk=group).member_count == 2


def test_non_owner_cannot_add():
    owner, member, outsider, newcomer = make_user(), make_user(), make_user(), make_user()
    private = new_group(owner, members=[member.pk])
    public = new_group(owner, public=True)

    by_member = client_for(member).post(members_url(private), {"user_ids": [newcomer.pk]})
    by_outsider_public = client_for(outsider).post(members_url(public), {"user_ids": [newcomer.pk]})
    by_outsider_private = client_for(outsider).post(
        members_url(private), {"user_ids": [newcomer.pk]}
    )

    assert by_member.status_code == 403
    assert by_outsider_public.status_code == 403
    assert by_outsider_private.status_code == 404
    assert member_ids(private) == {owner.pk, member.pk}
    assert member_ids(public) == {owner.pk}


def test_adding_past_the_limit_adds_nobody(settings):
    settings.IM_GROUP_MAX_MEMBERS = 3
    owner, a, b, c = make_user(), make_user(), make_user(), make_user()
    group = new_group(owner, members=[a.pk])

    response = client_for(owner).post(members_url(group), {"user_ids": [a.pk, b.pk, c.pk]})

    assert response.status_code == 409
    assert "detail" in response.json()
    assert member_ids(group) == {owner.pk, a.pk}
    assert Group.objects.get(pk=group).member_count == 2
    # exactly up to the limit is fine; ids already in do not count
    response = client_for(owner).post(members_url(group), {"user_ids": [a.pk, b.pk]})
    assert response.status_code == 200
    assert Group.objects.get(pk=group).member_count == 3


def test_adding_unknown_users():
    owner, a, inactive = make_user(), make_user(), make_user(is_active=False)
    group = new_group(owner)

    for ids in ([a.pk, 987654], [inactive.pk]):
        response = client_for(owner).post(members_url(group), {"user_ids": ids})
        assert response.status_code == 400
        assert "user_ids" in response.json()
    assert member_ids(group) == {owner.pk}


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"user_ids": None},
        {"user_ids": "1"},
        {"user_ids": 1},
        {"user_ids": [True]},
        {"user_ids": ["1"]},
        {"user_ids": [1.5]},
        {"user_ids": [0]},
        {"user_ids": [10**30]},
        {"user_ids": [2**63]},
        {"user_ids": [{}]},
        {"user_ids": list(range(1, 10_000))},
    ],
)
def test_add_refuses_bad_bodies(body):
    owner = make_user()
    group = new_group(owner)

    response = client_for(owner).post(members_url(group), body)

    assert response.status_code == 400
    assert "user_ids" in response.json()


# --- remove -----------------------------------------------------------------------------


def test_owner_removes_a_member():
    owner, member = make_user(), make_user()
    group = new_group(owner, members=[member.pk])

    response = client_for(owner).delete(f"{members_url(group)}{member.pk}/")

    assert response.status_code == 204
    assert member_ids(group) == {owner.pk}
    assert Group.objects.get(pk=group).member_count == 1


def test_non_owner_cannot_remove():
    owner, a, b = make_user(), make_user(), make_user()
    group = new_group(owner, members=[a.pk, b.pk])

    response = client_for(a).delete(f"{members_url(group)}{b.pk}/")

    assert response.status_code == 403
    assert member_ids(group) == {owner.pk, a.pk, b.pk}


def test_owner_cannot_remove_themselves():
    owner = make_user()
    group = new_group(owner)

    response = client_for(owner).delete(f"{members_url(group)}{owner.pk}/")

    # 409: the request is well formed; the owner's role is what refuses it.
    assert response.status_code == 409
    assert "detail" in response.json()
    assert member_ids(group) == {owner.pk}


def test_removing_a_non_member():
    owner, outsider = make_user(), make_user()
    group = new_group(owner)

    assert client_for(owner).delete(f"{members_url(group)}{outsider.pk}/").status_code == 404
    assert client_for(owner).delete(f"{members_url(group)}777777/").status_code == 404


def test_remove_in_a_hidden_group_is_404():
    owner, member = make_user(), make_user()
    group = new_group(owner, members=[member.pk])

    response = client_for(make_user()).delete(f"{members_url(group)}{member.pk}/")

    assert response.status_code == 404
