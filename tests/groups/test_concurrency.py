"""Races for the last seat of a group, with real threads and real transactions."""

import threading
import time

import pytest
from django.db import connection

from messaging.models import Group, Membership
from messaging.services import groups as services
from tests.accounts.factories import make_user

pytestmark = pytest.mark.embedded

ROUNDS = 3


@pytest.fixture
def slow_lock(monkeypatch):
    """Hold each group lock a little longer, so that without the lock the two
    threads would both read "one seat left" and both take it."""
    original = services._lock_group

    def lock_then_wait(group_id):
        group = original(group_id)
        time.sleep(0.1)
        return group

    monkeypatch.setattr(services, "_lock_group", lock_then_wait)


def run_together(*calls):
    """Run each call in its own thread (own database connection), all at once."""
    barrier = threading.Barrier(len(calls))
    outcomes: list = [None] * len(calls)

    def run(index, call):
        try:
            barrier.wait()
            outcomes[index] = call()
        except Exception as exc:  # recorded, asserted by the test
            outcomes[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    return outcomes


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("round_", range(ROUNDS))
def test_two_joins_for_the_last_seat(settings, slow_lock, round_):
    settings.IM_GROUP_MAX_MEMBERS = 3
    owner, member, first, second = (make_user() for _ in range(4))
    group = services.group_create(owner=owner, name="race", public=True, member_ids=[member.pk])

    outcomes = run_together(
        lambda: services.group_join(user=first, group_id=group.pk),
        lambda: services.group_join(user=second, group_id=group.pk),
    )

    full = [o for o in outcomes if isinstance(o, services.GroupFull)]
    joined = [o for o in outcomes if isinstance(o, Group)]
    assert len(full) == 1 and len(joined) == 1, outcomes
    group.refresh_from_db()
    assert group.member_count == 3
    assert Membership.objects.filter(group=group).count() == 3


@pytest.mark.django_db(transaction=True)
def test_join_and_add_racing_for_the_last_seat(settings, slow_lock):
    settings.IM_GROUP_MAX_MEMBERS = 3
    owner, member, joiner, added = (make_user() for _ in range(4))
    group = services.group_create(owner=owner, name="race", public=True, member_ids=[member.pk])

    outcomes = run_together(
        lambda: services.group_join(user=joiner, group_id=group.pk),
        lambda: services.group_members_add(actor=owner, group_id=group.pk, user_ids=[added.pk]),
    )

    assert sum(isinstance(o, services.GroupFull) for o in outcomes) == 1, outcomes
    group.refresh_from_db()
    assert group.member_count == 3 == Membership.objects.filter(group=group).count()


@pytest.mark.django_db(transaction=True)
def test_leaves_and_joins_keep_the_count(settings):
    settings.IM_GROUP_MAX_MEMBERS = 50
    owner = make_user()
    leavers = [make_user() for _ in range(4)]
    joiners = [make_user() for _ in range(4)]
    group = services.group_create(
        owner=owner, name="busy", public=True, member_ids=[u.pk for u in leavers]
    )

    outcomes = run_together(
        *(lambda u=u: services.group_leave(user=u, group_id=group.pk) for u in leavers),
        *(lambda u=u: services.group_join(user=u, group_id=group.pk) for u in joiners),
    )

    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    group.refresh_from_db()
    assert group.member_count == 5 == Membership.objects.filter(group=group).count()
