import pytest

from messaging.models import Membership
from messaging.services import groups as services
from tests.accounts.factories import make_user

pytestmark = pytest.mark.django_db


def test_group_admin_search_filter_and_inline(staff_client):
    owner, member = make_user("owner"), make_user("member")
    group = services.group_create(owner=owner, name="Book club", member_ids=[member.pk])
    services.group_create(owner=owner, name="Chess", public=True)

    search = staff_client.get("/admin/messaging/group/", {"q": "book"})
    public = staff_client.get("/admin/messaging/group/", {"public__exact": "1"})
    change = staff_client.get(f"/admin/messaging/group/{group.pk}/change/")

    assert search.status_code == 200 and search.context["cl"].result_count == 1
    assert public.status_code == 200 and public.context["cl"].result_count == 1
    assert change.status_code == 200
    assert b"member" in change.content


def test_groups_are_not_created_in_the_admin(staff_client):
    assert staff_client.get("/admin/messaging/group/add/").status_code == 403


def test_membership_admin_filter_and_delete_repairs_the_group(staff_client):
    owner, member = make_user(), make_user()
    group = services.group_create(owner=owner, name="x", member_ids=[member.pk])
    owner_row = Membership.objects.get(group=group, user=owner)

    listing = staff_client.get("/admin/messaging/membership/", {"role__exact": "owner"})
    deleted = staff_client.post(
        f"/admin/messaging/membership/{owner_row.pk}/delete/", {"post": "yes"}
    )

    assert listing.status_code == 200 and listing.context["cl"].result_count == 1
    assert deleted.status_code == 302
    group.refresh_from_db()
    assert group.member_count == 1
    assert group.owner_id == member.pk


def test_deleting_a_user_in_the_admin_repairs_their_groups(staff_client):
    owner, member = make_user(), make_user()
    group = services.group_create(owner=owner, name="x", member_ids=[member.pk])

    response = staff_client.post(f"/admin/accounts/user/{owner.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    group.refresh_from_db()
    assert (group.member_count, group.owner_id) == (1, member.pk)


def test_deleting_users_in_bulk_in_the_admin_repairs_their_groups(staff_client):
    owner, heir, other = make_user(), make_user(), make_user()
    group = services.group_create(owner=owner, name="x", member_ids=[heir.pk, other.pk])
    second = services.group_create(owner=other, name="y", member_ids=[owner.pk, heir.pk])

    response = staff_client.post("/admin/accounts/user/", {
        "action": "delete_selected", "_selected_action": [owner.pk, other.pk], "post": "yes",
    })

    assert response.status_code == 302
    group.refresh_from_db()
    second.refresh_from_db()
    assert (group.member_count, group.owner_id) == (1, heir.pk)
    assert (second.member_count, second.owner_id) == (1, heir.pk)


def test_schema_describes_the_group_endpoints(anon):
    response = anon.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")

    assert response.status_code == 200
    paths = response.json()["paths"]
    expected = {
        "/api/groups/": {"get", "post"},
        "/api/groups/{group_id}/": {"get"},
        "/api/groups/{group_id}/join/": {"post"},
        "/api/groups/{group_id}/leave/": {"post"},
        "/api/groups/{group_id}/members/": {"get", "post"},
        "/api/groups/{group_id}/members/{user_id}/": {"delete"},
    }
    for path, methods in expected.items():
        assert methods <= set(paths[path]), path
    join = paths["/api/groups/{group_id}/join/"]["post"]["responses"]
    assert {"200", "403", "404", "409"} <= set(join)
