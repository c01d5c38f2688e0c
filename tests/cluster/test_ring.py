"""Placement properties of the ring (docs/cluster.md), with a fixed seed."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from realtime.cluster.ring import Ring

USERS = range(1, 4001)
PROPERTIES = settings(max_examples=40, deadline=None, database=None, derandomize=True)

node_ids = st.builds(
    lambda host, port: f"{host}:{port}",
    st.sampled_from(["10.0.0.1", "10.0.0.2", "chat-a.example.org", "::1", "node"]),
    st.integers(1, 65535),
)
clusters = st.lists(node_ids, min_size=1, max_size=8, unique=True)


def placement(ring: Ring) -> dict[int, str]:
    return {uid: ring.owner(uid) for uid in USERS}


@PROPERTIES
@given(clusters, st.randoms(use_true_random=False))
def test_every_node_computes_the_same_ring(members, rnd):
    shuffled = list(members)
    rnd.shuffle(shuffled)
    assert placement(Ring.build(3, members, 160)) == placement(Ring.build(3, shuffled, 160))


@PROPERTIES
@given(clusters, node_ids)
def test_adding_a_node_moves_about_one_in_n_plus_one_all_to_it(members, new):
    if new in members:
        return
    before = placement(Ring.build(1, members, 160))
    after = placement(Ring.build(2, [*members, new], 160))
    moved = [uid for uid in USERS if before[uid] != after[uid]]
    assert all(after[uid] == new for uid in moved)
    share = len(moved) / len(USERS)
    expected = 1 / (len(members) + 1)
    assert 0.5 * expected < share < 1.6 * expected, (share, expected)


@PROPERTIES
@given(clusters.filter(lambda m: len(m) >= 2), st.data())
def test_removing_a_node_moves_only_its_users(members, data):
    gone = data.draw(st.sampled_from(members))
    before = placement(Ring.build(1, members, 160))
    after = placement(Ring.build(2, [m for m in members if m != gone], 160))
    for uid in USERS:
        if before[uid] == gone:
            assert after[uid] != gone
        else:
            assert after[uid] == before[uid]


def test_no_node_places_no_one():
    assert Ring.build(0, [], 160).owner(7) is None
