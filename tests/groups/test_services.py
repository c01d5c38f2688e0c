"""The group services called directly, as the WebSocket side will call them."""

import pytest

from messaging.models import ChannelState, Group, Membership
from messaging.services import groups as services
from tests.accounts.factories import make_user

pytestmark = [pytest.mark.embedded, pytest.mark.django_db]


def test_create_is_one_transaction(monkeypatch):
    owner = make_user()

    def broken(**kwargs):
        raise RuntimeError("channel state could not be written")

    monkeypatch.setattr(ChannelState.objects, "create", broken)
    with pytest.raises(RuntimeError):
        services.group_create(owner=owner, name="x")

    assert not Group.objects.exists()
    assert not Membership.objects.exists()


def test_errors_carry_protocol_codes():
    owner, outsider = make_user(), make_user()
    private = services.group_create(owner=owner, name="p")

    with pytest.raises(services.NotAllowed) as forbidden:
        services.group_join(user=outsider, group_id=private.pk)
    with pytest.raises(services.NotFound) as missing:
        services.group_join(user=outsider, group_id=private.pk + 100)
    with pytest.raises(services.UnknownUsers) as unknown:
        services.group_create(owner=owner, name="x", member_ids=[424242])

    assert forbidden.value.code == "forbidden"
    assert missing.value.code == "not_found"
    assert unknown.value.code == "invalid" and unknown.value.user_ids == [424242]


@pytest.mark.parametrize("name", ["", "   ", "n" * 101, None])
def test_create_checks_the_name(name):
    with pytest.raises(services.InvalidRequest):
        services.group_create(owner=make_user(), name=name)


@pytest.mark.parametrize("bad", [True, "1", 1.0, 0, -5, 2**63])
def test_services_check_ids(bad):
    with pytest.raises(services.InvalidRequest):
        services.group_create(owner=make_user(), name="x", member_ids=[bad])


def test_create_past_the_limit(settings):
    settings.IM_GROUP_MAX_MEMBERS = 2
    owner, a, b = make_user(), make_user(), make_user()

    with pytest.raises(services.GroupFull):
        services.group_create(owner=owner, name="x", member_ids=[a.pk, b.pk])


def test_ownership_passes_in_joining_order():
    owner, a, b, c = (make_user() for _ in range(4))
    group = services.group_create(owner=owner, name="x", public=True, member_ids=[b.pk])
    services.group_join(user=c, group_id=group.pk)
    services.group_join(user=a, group_id=group.pk)

    services.group_leave(user=owner, group_id=group.pk)
    group.refresh_from_db()
    assert group.owner_id == b.pk

    services.group_leave(user=b, group_id=group.pk)
    group.refresh_from_db()
    assert group.owner_id == c.pk
    owners = Membership.objects.filter(group=group, role=Membership.OWNER)
    assert list(owners.values_list("user_id", flat=True)) == [c.pk]


def test_repair_restores_derived_state():
    owner, a, b = make_user(), make_user(), make_user()
    group = services.group_create(owner=owner, name="x", member_ids=[a.pk, b.pk])
    Membership.objects.filter(group=group, user=owner).delete()  # behind the services' back
    Group.objects.filter(pk=group.pk).update(member_count=42)

    services.group_repair(group_id=group.pk)

    group.refresh_from_db()
    assert group.member_count == 2
    assert group.owner_id == a.pk
    assert Membership.objects.get(group=group, user=a).role == Membership.OWNER
    assert services.group_repair(group_id=group.pk + 1000) is None
