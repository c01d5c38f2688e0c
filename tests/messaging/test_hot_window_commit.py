"""The hot window holds only what the write path's transaction committed, and a
revision wins against a write of the original that lands after it (in process, on the
real database and a private Redis)."""

from __future__ import annotations

import secrets

import pytest
import redis

from improto.channels import p_channel
from tests.support.hot_window import window_seqs


@pytest.mark.django_db(transaction=True)
def test_the_window_is_written_once_the_batch_commits_and_never_for_a_rollback(redis_server):
    from django.db import transaction

    from messaging.store.base import NewMessage
    from messaging.store.hot import HotWindowStore
    from messaging.store.orm import OrmMessageStore
    from tests.accounts.factories import make_user

    alice, bob = make_user(), make_user()
    prefix = f"hw{secrets.token_hex(4)}"
    store = HotWindowStore(OrmMessageStore(), url=redis_server.url(6), prefix=prefix, window=10)
    channel = p_channel(alice.pk, bob.pk)
    key = f"{prefix}:{channel}"
    window = redis.Redis.from_url(redis_server.url(6))

    def message(client_id: str) -> NewMessage:
        return NewMessage(channel=channel, sender_id=alice.pk, client_id=client_id,
                          type="text", body={"text": client_id}, recipient_id=bob.pk)

    with transaction.atomic():
        (stored,) = store.append([message("c1")], now_ms=1)
        assert window.zcard(key) == 0  # stored, not yet committed: not in the window
    assert store.flush(10)  # the write is made after the commit, by the window's thread
    assert [int(s) for _, s in window.zrange(key, 0, -1, withscores=True)] == [stored.message.seq]

    with pytest.raises(RuntimeError), transaction.atomic():
        store.append([message("c2")], now_ms=2)
        raise RuntimeError("the batch fails after the append")
    assert store.flush(10)
    assert window.zcard(key) == 1  # the rolled-back message never reached it
    assert store.range(channel, after=0, limit=10) == [stored.message]


def _setup(redis_server, tmp_path, **kwargs):
    from messaging.store.base import NewMessage
    from messaging.store.hot import HotWindowStore
    from messaging.store.orm import OrmMessageStore
    from tests.accounts.factories import make_user

    alice, bob = make_user(), make_user()
    prefix = f"hw{secrets.token_hex(4)}"
    hold = tmp_path / "hold"
    store = HotWindowStore(OrmMessageStore(), url=redis_server.url(6), prefix=prefix,
                           window=10, hold_path=str(hold), **kwargs)
    channel = p_channel(alice.pk, bob.pk)

    def message(client_id: str) -> NewMessage:
        return NewMessage(channel=channel, sender_id=alice.pk, client_id=client_id,
                          type="text", body={"text": client_id}, recipient_id=bob.pk)

    return store, channel, f"{prefix}:{channel}", hold, message


@pytest.mark.django_db(transaction=True)
def test_a_late_write_never_brings_back_what_retention_removed(redis_server, tmp_path):
    from django.db import transaction

    store, channel, key, hold, message = _setup(redis_server, tmp_path)
    window = redis.Redis.from_url(redis_server.url(6))
    hold.touch()
    with transaction.atomic():
        store.append([message("old1"), message("old2")], now_ms=1)
    with transaction.atomic():
        store.append([message("new")], now_ms=10**13)
    # Retention runs while the window's write of all three still waits.
    step = store.expire(channel, before_ts=2, limit=10)
    assert (step.deleted, step.first_seq) == (2, 3)
    hold.unlink()
    assert store.flush(10)
    assert window_seqs(window, key) == [3]
    assert [m.seq for m in store.range(channel, after=0, limit=10)] == [3]


@pytest.mark.django_db(transaction=True)
def test_a_full_queue_drops_the_write_and_counts_it(redis_server, tmp_path):
    from django.db import transaction
    from prometheus_client import REGISTRY

    store, channel, key, hold, message = _setup(redis_server, tmp_path, queue_bytes=1)
    window = redis.Redis.from_url(redis_server.url(6))

    def dropped() -> float:
        return REGISTRY.get_sample_value("im_hot_window_dropped_total", {"kind": "full"}) or 0

    before = dropped()
    with transaction.atomic():
        (stored,) = store.append([message("c1")], now_ms=1)
    assert dropped() == before + 1
    assert store.flush(10)
    assert window.zcard(key) == 0  # never written: readers go to the store
    assert store.range(channel, after=0, limit=10) == [stored.message]


@pytest.mark.django_db(transaction=True)
def test_a_redis_that_is_down_neither_blocks_the_commit_nor_holds_the_queue(tmp_path):
    import socket
    import time

    from django.db import transaction
    from prometheus_client import REGISTRY

    from messaging.store.base import NewMessage
    from messaging.store.hot import HotWindowStore
    from messaging.store.orm import OrmMessageStore
    from tests.accounts.factories import make_user

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    alice, bob = make_user(), make_user()
    store = HotWindowStore(OrmMessageStore(), url=f"redis://127.0.0.1:{port}/0", prefix="down",
                           window=10)
    channel = p_channel(alice.pk, bob.pk)

    def errors() -> float:
        return REGISTRY.get_sample_value("im_hot_window_dropped_total", {"kind": "error"}) or 0

    before = errors()
    started = time.monotonic()
    for i in range(20):
        with transaction.atomic():
            store.append([NewMessage(channel=channel, sender_id=alice.pk, client_id=f"d{i}",
                                     type="text", body={"text": "x"}, recipient_id=bob.pk)],
                         now_ms=1)
    assert time.monotonic() - started < 5  # the commits never waited for Redis
    assert store.flush(10)  # the queue empties: each write fails and is dropped
    assert errors() > before
    assert [m.seq for m in store.range(channel, after=0, limit=50)] == list(range(1, 21))


@pytest.mark.django_db(transaction=True)
def test_what_was_queued_when_redis_lost_its_data_is_dropped(redis_server, tmp_path):
    """A flush took the tombstones: a queued original could be older than a revision
    nobody can see any more, so nothing queued then is written."""
    from django.db import transaction

    store, channel, key, hold, message = _setup(redis_server, tmp_path)
    window = redis.Redis.from_url(redis_server.url(6))
    with transaction.atomic():
        store.append([message("c1")], now_ms=1)
    assert store.flush(10)
    hold.touch()
    with transaction.atomic():
        store.append([message("c2")], now_ms=2)
    with transaction.atomic():
        store.revise(channel, 2, body={"text": "edited"}, edited=3)
    window.delete(key, f"{store.prefix}:~epoch")  # what a FLUSHDB does to this window
    hold.unlink()
    assert store.flush(10)
    assert window.zcard(key) == 0
    with transaction.atomic():
        store.append([message("c3")], now_ms=4)
    assert store.flush(10)  # the writer knows the new epoch: writes flow again
    assert [int(s) for _, s in window.zrange(key, 0, -1, withscores=True)] == [3]
    assert [m.body for m in store.range(channel, after=0, limit=10)] == [
        {"text": "c1"}, {"text": "edited"}, {"text": "c3"}]


@pytest.mark.django_db(transaction=True)
def test_batches_queued_behind_a_held_writer_are_all_written_in_order(redis_server, tmp_path):
    from django.db import transaction

    store, channel, key, hold, message = _setup(redis_server, tmp_path)
    store.window = 5000
    window = redis.Redis.from_url(redis_server.url(6))
    hold.touch()
    for b in range(6):
        with transaction.atomic():
            store.append([message(f"b{b}m{i}") for i in range(500)], now_ms=1)
    hold.unlink()
    assert store.flush(20)  # several script calls, the largest with 2,000 messages
    assert window_seqs(window, key) == list(range(1, 3001))
    assert [m.body["text"] for m in store.range(channel, after=2990, limit=20)] == [
        f"b5m{i}" for i in range(490, 500)]
