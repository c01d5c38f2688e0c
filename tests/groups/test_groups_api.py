import pytest

from messaging.models import ChannelState, Group, Membership
from tests.accounts.factories import client_for, make_user

pytestmark = pytest.mark.django_db

GROUPS = "/api/groups/"


def create(client, **body):
    body.setdefault("name", "team")
    return client.post(GROUPS, body)


def member_ids(group_id: int) -> set[int]:
    return set(Membership.objects.filter(group_id=group_id).values_list("user_id", flat=True))


# --- create -----------------------------------------------------------------------------


def test_create_a_group():
    owner = make_user()

    response = create(client_for(owner), name="Team")

    assert response.status_code == 201
    body = response.json()
    group = Group.objects.get()
    assert {k: body[k] for k in ("id", "name", "owner", "public", "channel", "member_count")} == {
        "id": group.pk,
        "name": "Team",
        "owner": owner.pk,
        "public": False,
        "channel": f"g:{group.pk}",
        "member_count": 1,
    }
    membership = Membership.objects.get(group=group)
    assert (membership.user_id, membership.role) == (owner.pk, Membership.OWNER)
    state = ChannelState.objects.get(channel=f"g:{group.pk}")
    assert state.group_id == group.pk and state.last_seq == 0


def test_create_with_members():
    owner, a, b = make_user(), make_user(), make_user()

    response = create(
        client_for(owner), name="x", public=True, members=[a.pk, b.pk, a.pk, owner.pk]
    )

    assert response.status_code == 201
    body = response.json()
    assert body["public"] is True
    assert body["member_count"] == 3
    assert member_ids(body["id"]) == {owner.pk, a.pk, b.pk}
    roles = dict(Membership.objects.values_list("user_id", "role"))
    assert roles == {owner.pk: "owner", a.pk: "member", b.pk: "member"}


def test_create_with_unknown_or_inactive_members():
    owner, inactive = make_user(), make_user(is_active=False)

    for members in ([999_999], [inactive.pk]):
        response = create(client_for(owner), members=members)
        assert response.status_code == 400
        assert "members" in response.json()
    assert not Group.objects.exists()
    assert not ChannelState.objects.exists()


def test_create_up_to_the_size_limit(settings):
    settings.IM_GROUP_MAX_MEMBERS = 3
    owner, *others = [make_user() for _ in range(4)]

    too_many = create(client_for(owner), members=[u.pk for u in others])
    just_right = create(client_for(owner), members=[u.pk for u in others[:2]])

    assert too_many.status_code == 400
    assert "members" in too_many.json()
    assert just_right.status_code == 201
    assert just_right.json()["member_count"] == 3


@pytest.mark.parametrize(
    "body",
    [
        {"name": ""},
        {"name": "   "},
        {"name": "n" * 101},
        {"name": None},
        {"name": 5},
        {"name": "ok", "public": "yes"},
        {"name": "ok", "public": 1},
        {"name": "ok", "public": None},
        {"name": "ok", "members": "1"},
        {"name": "ok", "members": 1},
        {"name": "ok", "members": [True]},
        {"name": "ok", "members": ["2"]},
        {"name": "ok", "members": [1.0]},
        {"name": "ok", "members": [0]},
        {"name": "ok", "members": [-1]},
        {"name": "ok", "members": [10**30]},
        {"name": "ok", "members": [2**63]},
        {"name": "ok", "members": [None]},
        {"name": "ok", "members": [[1]]},
        {"name": "ok", "members": {"1": 1}},
    ],
)
def test_create_refuses_bad_fields(body):
    response = client_for(make_user()).post(GROUPS, body)

    assert response.status_code == 400
    assert set(response.json()) <= {"name", "public", "members"}
    assert not Group.objects.exists()


def test_create_accepts_the_longest_name():
    assert create(client_for(make_user()), name="n" * 100).status_code == 201


def test_create_needs_a_token(anon):
    assert create(anon).status_code == 401


# --- list and detail ----------------------------------------------------------------------


def test_my_groups():
    me, other = make_user(), make_user()
    mine = create(client_for(me), name="mine").json()["id"]
    added = create(client_for(other), name="added", members=[me.pk]).json()["id"]
    create(client_for(other), name="not mine", public=True)

    response = client_for(me).get(GROUPS)

    assert response.status_code == 200
    assert [g["id"] for g in response.json()] == [mine, added]
    assert response.json()[1]["channel"] == f"g:{added}"


def test_detail_for_members_and_for_public_groups():
    owner, outsider = make_user(), make_user()
    private = create(client_for(owner), name="p").json()
    public = create(client_for(owner), name="q", public=True).json()

    assert client_for(owner).get(f"{GROUPS}{private['id']}/").json() == private
    assert client_for(outsider).get(f"{GROUPS}{public['id']}/").json() == public


def test_private_group_is_invisible_to_outsiders():
    owner, outsider = make_user(), make_user()
    private = create(client_for(owner)).json()["id"]

    hidden = client_for(outsider).get(f"{GROUPS}{private}/")
    missing = client_for(outsider).get(f"{GROUPS}{private + 1000}/")

    assert hidden.status_code == missing.status_code == 404
    assert hidden.json() == missing.json()


@pytest.mark.parametrize("group_id", ["0", str(2**63 - 1), str(2**63), str(10**30)])
@pytest.mark.parametrize("suffix", ["", "join/", "leave/", "members/", "members/1/"])
def test_out_of_range_ids_are_404(group_id, suffix):
    client = client_for(make_user())
    method = (
        "delete" if suffix == "members/1/" else ("post" if suffix in ("join/", "leave/") else "get")
    )

    response = getattr(client, method)(f"{GROUPS}{group_id}/{suffix}")

    assert response.status_code == 404
    assert "detail" in response.json()


def test_member_id_out_of_range_is_404():
    owner = make_user()
    group = create(client_for(owner)).json()["id"]

    for user_id in (2**63, 10**30):
        response = client_for(owner).delete(f"{GROUPS}{group}/members/{user_id}/")
        assert response.status_code == 404
        assert "detail" in response.json()


# --- join -------------------------------------------------------------------------------


def test_join_a_public_group():
    owner, joiner = make_user(), make_user()
    group = create(client_for(owner), public=True).json()["id"]

    response = client_for(joiner).post(f"{GROUPS}{group}/join/")

    assert response.status_code == 200
    assert response.json()["member_count"] == 2
    assert response.json()["id"] == group
    assert member_ids(group) == {owner.pk, joiner.pk}
    assert Membership.objects.get(group_id=group, user=joiner).role == "member"


def test_join_twice_is_idempotent():
    owner, joiner = make_user(), make_user()
    group = create(client_for(owner), public=True).json()["id"]
    client = client_for(joiner)

    first = client.post(f"{GROUPS}{group}/join/")
    second = client.post(f"{GROUPS}{group}/join/")

    assert first.status_code == second.status_code == 200
    assert second.json()["member_count"] == 2
    assert Group.objects.get(pk=group).member_count == 2 == len(member_ids(group))


def test_join_a_private_group_is_forbidden():
    owner, outsider = make_user(), make_user()
    group = create(client_for(owner)).json()["id"]

    response = client_for(outsider).post(f"{GROUPS}{group}/join/")

    assert response.status_code == 403
    assert "detail" in response.json()
    assert member_ids(group) == {owner.pk}


def test_member_joining_their_private_group_again_is_fine():
    owner = make_user()
    group = create(client_for(owner)).json()["id"]

    assert client_for(owner).post(f"{GROUPS}{group}/join/").status_code == 200


def test_join_a_full_group(settings):
    settings.IM_GROUP_MAX_MEMBERS = 2
    owner, first, second = make_user(), make_user(), make_user()
    group = create(client_for(owner), public=True).json()["id"]

    assert client_for(first).post(f"{GROUPS}{group}/join/").status_code == 200
    response = client_for(second).post(f"{GROUPS}{group}/join/")

    assert response.status_code == 409
    assert "detail" in response.json()
    assert Group.objects.get(pk=group).member_count == 2


def test_join_unknown_group():
    assert client_for(make_user()).post(f"{GROUPS}424242/join/").status_code == 404


def test_join_ignores_a_body():
    owner = make_user()
    group = create(client_for(owner), public=True).json()["id"]

    response = client_for(make_user()).post(
        f"{GROUPS}{group}/join/", b"{not json", content_type="application/json"
    )

    assert response.status_code == 200


# --- leave and ownership ------------------------------------------------------------------


def test_member_leaves():
    owner, member = make_user(), make_user()
    group = create(client_for(owner), members=[member.pk]).json()["id"]

    response = client_for(member).post(f"{GROUPS}{group}/leave/")

    assert response.status_code == 204
    assert member_ids(group) == {owner.pk}
    assert Group.objects.get(pk=group).member_count == 1
    assert client_for(member).get(f"{GROUPS}{group}/").status_code == 404


def test_leave_when_not_a_member():
    owner, outsider = make_user(), make_user()
    public = create(client_for(owner), public=True).json()["id"]
    private = create(client_for(owner)).json()["id"]

    assert client_for(outsider).post(f"{GROUPS}{public}/leave/").status_code == 403
    assert client_for(outsider).post(f"{GROUPS}{private}/leave/").status_code == 404
    assert client_for(outsider).post(f"{GROUPS}9999/leave/").status_code == 404


def test_owner_leaving_hands_over_to_the_longest_standing_member():
    owner, early, late = make_user(), make_user(), make_user()
    group = create(client_for(owner), public=True, members=[early.pk]).json()["id"]
    client_for(late).post(f"{GROUPS}{group}/join/")

    assert client_for(owner).post(f"{GROUPS}{group}/leave/").status_code == 204

    detail = client_for(early).get(f"{GROUPS}{group}/").json()
    assert detail["owner"] == early.pk
    assert detail["member_count"] == 2
    roles = dict(Membership.objects.filter(group_id=group).values_list("user_id", "role"))
    assert roles == {early.pk: "owner", late.pk: "member"}
    # the new owner has the owner's powers
    assert client_for(early).delete(f"{GROUPS}{group}/members/{late.pk}/").status_code == 204


def test_last_member_leaving_leaves_an_empty_ownerless_group():
    owner = make_user()
    group = create(client_for(owner), public=True).json()["id"]

    assert client_for(owner).post(f"{GROUPS}{group}/leave/").status_code == 204

    row = Group.objects.get(pk=group)
    assert (row.owner_id, row.member_count) == (None, 0)
    assert ChannelState.objects.filter(channel=f"g:{group}").exists()


def test_first_to_join_an_empty_public_group_owns_it():
    founder, newcomer = make_user(), make_user()
    group = create(client_for(founder), public=True).json()["id"]
    client_for(founder).post(f"{GROUPS}{group}/leave/")

    response = client_for(newcomer).post(f"{GROUPS}{group}/join/")

    assert response.status_code == 200
    assert response.json()["owner"] == newcomer.pk
    assert Membership.objects.get(group_id=group).role == "owner"


# --- raw bodies -------------------------------------------------------------------------

RAW_BODIES = [
    b"{",
    b"[]",
    b'"name"',
    b"null",
    b'{"name": NaN}',
    b"\xff\xfe",
    b'{"name": "\\ud800"}',
    b'{"name": "ok", "members": [1e400]}',
    b'{"name": "ok", "members": [' + b"9" * 5000 + b"]}",
]


@pytest.mark.parametrize("body", RAW_BODIES)
def test_create_refuses_bad_raw_bodies(body):
    response = client_for(make_user()).post(GROUPS, body, content_type="application/json")

    assert 400 <= response.status_code < 500
    assert isinstance(response.json(), dict)
    assert not Group.objects.exists()


@pytest.mark.parametrize("body", [*RAW_BODIES, b'{"user_ids": [1e400]}', b'{"user_ids": [-0.0]}'])
def test_add_members_refuses_bad_raw_bodies(body):
    owner = make_user()
    group = create(client_for(owner)).json()["id"]

    response = client_for(owner).post(
        f"{GROUPS}{group}/members/", body, content_type="application/json"
    )

    assert 400 <= response.status_code < 500
    assert isinstance(response.json(), dict)
