"""The MongoDB message store in-process, against a real MongoDB-protocol server: the
store contract of tests/realtime/test_store.py, then what only this store must show
(racing writers, a writer that died between its insert and its mark, a restart)."""

from __future__ import annotations

import os
import secrets
import signal
import tempfile
import threading

import pytest
from django.db import connection

from improto.channels import p_channel
from messaging.store import MessageQuery, NewMessage, get_search, get_store
from messaging.store.mongo import MongoMessageStore
from tests.accounts.factories import make_user
from tests.realtime.test_store import (  # noqa: F401  (run here on MongoDB)
    message,
    test_a_client_id_is_stored_once_per_sender_and_channel_even_within_a_batch,
    test_each_channel_counts_its_own_seqs_and_a_batch_keeps_its_order,
    test_ranges_are_ascending_and_before_gives_the_newest_below_it,
)
from tests.site.processes import manage
from tests.support.django_api import _fast_password_hasher  # noqa: F401
from tests.support.servers import MongoServer

pytestmark = [pytest.mark.mongo, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def mongo_url(mongo_server, settings):
    url = mongo_server.url(f"im_{secrets.token_hex(6)}")
    settings.IM_MONGODB_URL = url
    settings.IM_REDIS_URL = None
    get_store.cache_clear()
    assert isinstance(get_store(), MongoMessageStore)
    yield url
    get_store.cache_clear()


def test_writers_racing_on_one_channel_get_a_gap_free_seq_and_ordered_ts(mongo_url):
    alice, bob = make_user(), make_user()
    p = p_channel(alice.id, bob.id)
    stores = [MongoMessageStore(mongo_url) for _ in range(4)]
    acked: list[tuple[int, int, str]] = []
    dups: list[bool] = []  # a collision never makes a writer's own message a duplicate
    lock = threading.Lock()

    def write(n: int) -> None:
        try:
            for i in range(15):
                batch = [message(p, alice.id, f"w{n}-{i}-{k}", recipient_id=bob.id)
                         for k in range(2)]
                for result in stores[n].append(batch, now_ms=1000 * i + n):
                    with lock:
                        acked.append(
                            (result.message.seq, result.message.ts, result.message.client_id))
                        dups.append(result.dup)
        finally:
            connection.close()  # this thread's own database connection

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(seq for seq, _, _ in acked) == list(range(1, 121))
    assert dups == [False] * 120
    stored = get_store().range(p, limit=500)
    assert [m.seq for m in stored] == list(range(1, 121))
    assert {(m.seq, m.ts, m.client_id) for m in stored} == set(acked)
    assert all(a.ts <= b.ts for a, b in zip(stored, stored[1:], strict=False))
    assert get_store().last_seqs([p]) == {p: 120}


def test_a_writer_that_died_before_its_mark_leaves_no_visible_hole_and_no_loss(mongo_url):
    alice, bob = make_user(), make_user()
    p = p_channel(alice.id, bob.id)
    store = get_store()
    store.append([message(p, alice.id, "m1", recipient_id=bob.id)], now_ms=100)
    # A writer inserted seqs 2 and 3 and died before raising the mark (its sender
    # never got an ack): invisible to readers, taken up by the next writer.
    store.messages.insert_many([
        {"channel": p, "seq": s, "ts": 200, "sender_id": alice.id, "client_id": f"o{s}",
         "type": "text", "body": {"text": "orphan"}, "recipient_id": bob.id,
         "group_id": None, "target": None, "edited": None, "recalled": None}
        for s in (2, 3)])
    assert [m.seq for m in store.range(p)] == [1]
    assert store.last_seqs([p]) == {p: 1}
    (new,) = store.append([message(p, bob.id, "b1", recipient_id=alice.id)], now_ms=150)
    assert (new.dup, new.message.seq, new.message.ts) == (False, 4, 200)
    # The dead writer's client retries: acked as a duplicate at the seq it was given.
    (retry,) = store.append([message(p, alice.id, "o3", recipient_id=bob.id)], now_ms=300)
    assert (retry.dup, retry.message.seq) == (True, 3)
    assert [m.seq for m in store.range(p)] == [1, 2, 3, 4]


def test_the_moderators_search_shows_nothing_above_a_channels_mark(mongo_url):
    alice, bob = make_user(), make_user()
    p = p_channel(alice.id, bob.id)
    store = get_store()
    store.append([message(p, alice.id, "m1", recipient_id=bob.id)], now_ms=100)
    # A dead writer's message above the mark: never acked, not to be shown, newest by ts.
    store.messages.insert_one(
        {"channel": p, "seq": 2, "ts": 900, "sender_id": alice.id, "client_id": "o2",
         "type": "text", "body": {"text": "orphan"}, "recipient_id": bob.id,
         "group_id": None, "target": None, "edited": None, "recalled": None})
    search = get_search()
    assert search is store
    assert [m.seq for m in search.search(MessageQuery())] == [1]
    assert search.search(MessageQuery(text="ORPH")) == []
    assert [m.seq for m in search.search(MessageQuery(channel=p, since_ms=100))] == [1]
    # Once the next writer has rolled the mark over it, it is a message like any other.
    store.append([message(p, bob.id, "b1", recipient_id=alice.id)], now_ms=150)
    assert [m.seq for m in search.search(MessageQuery(channel=p))] == [3, 2, 1]
    assert [m.seq for m in search.search(MessageQuery(text="orph"))] == [2]
    assert [m.seq for m in search.search(MessageQuery(anything="orph"))] == [2]
    assert [m.seq for m in search.search(MessageQuery(anything=p), offset=1, limit=1)] == [2]


def test_a_retry_whose_first_try_is_above_the_mark_is_acked_once_visible(mongo_url):
    alice, bob = make_user(), make_user()
    p = p_channel(alice.id, bob.id)
    store = get_store()
    store.messages.insert_one(
        {"channel": p, "seq": 1, "ts": 50, "sender_id": alice.id, "client_id": "x",
         "type": "text", "body": {"text": "x"}, "recipient_id": bob.id, "group_id": None,
         "target": None, "edited": None, "recalled": None})
    store.channels.insert_one({"_id": p, "seq": 0, "ts": 0})
    (retry,) = store.append([message(p, alice.id, "x", recipient_id=bob.id)], now_ms=60)
    assert (retry.dup, retry.message.seq) == (True, 1)
    assert store.last_seqs([p]) == {p: 1}
    assert [m.client_id for m in store.range(p)] == ["x"]


def test_idempotency_and_seqs_survive_a_server_restart(mongo_server, mongo_url):
    alice, bob = make_user(), make_user()
    p = p_channel(alice.id, bob.id)
    store = get_store()
    store.append([message(p, alice.id, f"r{i}", recipient_id=bob.id) for i in range(3)],
                 now_ms=10)
    mongo_server.stop(keep_data=True)
    mongo_server.start()
    again = MongoMessageStore(mongo_url)
    results = again.append([message(p, alice.id, "r1", recipient_id=bob.id),
                            message(p, alice.id, "r3", recipient_id=bob.id)], now_ms=5)
    assert [(r.dup, r.message.seq) for r in results] == [(True, 2), (False, 4)]
    assert results[1].message.ts == 10  # never below an earlier seq's ts
    assert again.last_seqs([p]) == {p: 4}


def test_what_was_acked_survives_the_mongodb_server_killed_at_once():
    """Durable before ack, as far as a process crash goes: every batch append returned
    (w: majority, j: true) is there after SIGKILL of the server and a restart on its
    files. A power cut, which also loses the OS's unflushed pages, is not tested here."""
    alice, bob = make_user(), make_user()
    p = p_channel(alice.id, bob.id)
    server = MongoServer()
    try:
        url = server.url(f"im_test_mongo_{secrets.token_hex(4)}")
        store = MongoMessageStore(url)
        acked = []
        for i in range(20):
            batch = [message(p, alice.id, f"k{i}-{k}", recipient_id=bob.id) for k in range(5)]
            acked += [r.message.seq for r in store.append(batch, now_ms=i)]
        store.client.close()
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait(timeout=30)
        server.start()
        again = MongoMessageStore(url)
        assert acked == list(range(1, 101))
        assert again.last_seqs([p]) == {p: 100}
        assert [m.seq for m in again.range(p, limit=500)] == acked
        again.client.close()
    finally:
        server.stop()


def test_revisions_are_found_counted_and_never_undo_a_recall(mongo_url):
    alice, bob = make_user(), make_user()
    p = p_channel(alice.id, bob.id)
    store = get_store()
    store.append([message(p, alice.id, f"t{i}", recipient_id=bob.id) for i in range(3)],
                 now_ms=10)
    store.append([NewMessage(channel=p, sender_id=alice.id, client_id="rc", type="recall",
                             body={}, recipient_id=bob.id, target=1)], now_ms=20)
    store.revise(p, 1, body={"text": "late edit"}, edited=30)
    found = store.find([(p, 1), (p, 4), (p, 9)])
    assert set(found) == {(p, 1), (p, 4)}
    assert (found[p, 1].recalled, found[p, 1].body, found[p, 1].edited) == (20, {}, None)
    assert store.stored_keys([(p, alice.id, "rc"), (p, bob.id, "rc")]) == {(p, alice.id, "rc")}
    assert store.revisions_after({p: 0}) == {p: 1}
    assert store.revisions_after({p: 4}) == {}


def test_a_batch_cut_short_by_a_collision_keeps_what_it_stored_as_new(mongo_url):
    alice, bob = make_user(), make_user()
    p = p_channel(alice.id, bob.id)
    store = get_store()
    store.channels.insert_one({"_id": p, "seq": 0, "ts": 0})
    # Another writer's message lands at seq 2 while this batch inserts 1, 2, 3.
    store.messages.insert_one(
        {"channel": p, "seq": 2, "ts": 40, "sender_id": bob.id, "client_id": "other",
         "type": "text", "body": {"text": "other"}, "recipient_id": alice.id,
         "group_id": None, "target": None, "edited": None, "recalled": None})
    results = store.append([message(p, alice.id, f"b{i}", recipient_id=bob.id)
                            for i in range(3)], now_ms=50)
    assert [(r.dup, r.message.seq, r.message.client_id) for r in results] == [
        (False, 1, "b0"), (False, 3, "b1"), (False, 4, "b2")]
    assert [m.client_id for m in store.range(p)] == ["b0", "other", "b1", "b2"]


def test_the_mongodb_url_is_checked_at_start_up():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IM_", "DATABASE_URL"))}
    env.update(IM_DATA_DIR=tempfile.mkdtemp(prefix="im-settings-"),
               IM_MONGODB_URL="postgres://127.0.0.1/im")
    result = manage(env, "check")
    assert result.returncode != 0
    assert "IM_MONGODB_URL takes a mongodb:// or mongodb+srv:// URL" in result.stderr
