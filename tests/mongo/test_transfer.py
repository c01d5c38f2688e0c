"""im_export_messages / im_import_messages: SQL to MongoDB and back, resumed after a
torn export and a rerun import, and a target that does not match its export refused."""

from __future__ import annotations

import json
import secrets
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from improto.channels import g_channel, p_channel
from messaging.models import ChannelState, Message
from messaging.services.groups import group_create
from messaging.store.mongo import MongoMessageStore
from messaging.store.orm import OrmMessageStore
from messaging.store.transfer import summary_path
from tests.accounts.factories import make_user
from tests.realtime.test_store import message
from tests.support.django_api import _fast_password_hasher  # noqa: F401

pytestmark = [pytest.mark.mongo, pytest.mark.django_db(transaction=True)]


def _history(store, channels):
    return {c: [(m.seq, m.ts, m.sender_id, m.client_id, m.body, m.edited, m.recalled)
                for m in store.range(c, limit=1000)] for c in channels}


def _command(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_messages_move_from_sql_to_mongodb_and_back(mongo_server, tmp_path, settings):
    settings.IM_MONGODB_URL = None
    alice, bob = make_user(), make_user()
    group = group_create(owner=alice, name="g", member_ids=[bob.id])
    p, g = p_channel(alice.id, bob.id), g_channel(group.id)
    sql = OrmMessageStore()
    for i in range(7):
        sql.append([message(p, alice.id, f"p{i}", recipient_id=bob.id),
                    message(g, bob.id, f"g{i}", group_id=group.id)], now_ms=1000 + i)
    sql.revise(p, 2, body={"text": "edited"}, edited=2000)
    before = _history(sql, [p, g])
    url = mongo_server.url(f"im_{secrets.token_hex(6)}")
    dump = tmp_path / "messages.jsonl"

    # An export torn in the middle of a line, resumed.
    assert "exported 14 messages of 2 channels" in _command(
        "im_export_messages", str(dump), "--from", "sql")
    whole = dump.read_bytes()
    dump.write_bytes(whole[: len(whole) // 2])
    _command("im_export_messages", str(dump), "--from", "sql", "--resume")
    assert dump.read_bytes() == whole
    assert json.loads(summary_path(dump).read_text())["channels"] == {p: [7, 7], g: [7, 7]}

    out = _command("im_import_messages", str(dump), "--to", "mongo", "--mongodb-url", url)
    assert "imported 14 messages; verified 14 messages of 2 channels" in out
    mongo = MongoMessageStore(url)
    assert _history(mongo, [p, g]) == before
    # Run again (as after a crash): nothing twice, still verified.
    assert "imported 0 messages" in _command(
        "im_import_messages", str(dump), "--to", "mongo", "--mongodb-url", url)
    # New messages continue the seqs, as the SQL store would have.
    (new,) = mongo.append([message(p, bob.id, "after", recipient_id=alice.id)], now_ms=1)
    assert (new.message.seq, new.message.ts) == (8, 1006)

    # Back to an empty SQL store.
    back = tmp_path / "back.jsonl"
    _command("im_export_messages", str(back), "--from", "mongo", "--mongodb-url", url)
    Message.objects.all().delete()
    ChannelState.objects.filter(channel__in=[p, g]).update(last_seq=0, last_ts=0)
    assert "imported 15 messages; verified 15" in _command(
        "im_import_messages", str(back), "--to", "sql")
    assert _history(sql, [p, g]) == _history(mongo, [p, g])


def test_an_import_that_does_not_match_its_summary_is_refused(mongo_server, tmp_path,
                                                              settings):
    settings.IM_MONGODB_URL = None
    alice, bob = make_user(), make_user()
    p = p_channel(alice.id, bob.id)
    OrmMessageStore().append([message(p, alice.id, f"m{i}", recipient_id=bob.id)
                              for i in range(3)], now_ms=5)
    dump = tmp_path / "messages.jsonl"
    _command("im_export_messages", str(dump), "--from", "sql")
    summary = json.loads(summary_path(dump).read_text())
    summary["channels"][p] = [4, 4]
    summary_path(dump).write_text(json.dumps(summary))
    url = mongo_server.url(f"im_{secrets.token_hex(6)}")
    with pytest.raises(CommandError, match="expected last seq 4 and 4 messages, found 3 and 3"):
        call_command("im_import_messages", str(dump), "--to", "mongo", "--mongodb-url", url)


def test_retention_steps_on_both_stores_and_a_move_keeps_first_seq(mongo_server, tmp_path,
                                                                    settings):
    settings.IM_MONGODB_URL = None
    alice, bob = make_user(), make_user()
    p = p_channel(alice.id, bob.id)
    sql = OrmMessageStore()
    for i in range(7):
        sql.append([message(p, alice.id, f"p{i}", recipient_id=bob.id)], now_ms=1000 + i)
    assert sql.expired_channels(before_ts=1000) == []
    assert sql.expired_channels(before_ts=1004) == [p]
    # Two per step, oldest first; ts 1004 (seq 5) is not below the cutoff.
    steps = [sql.expire(p, before_ts=1004, limit=2) for _ in range(3)]
    assert [(s.deleted, s.first_seq) for s in steps] == [(2, 3), (2, 5), (0, 5)]
    assert sql.first_seqs([p, "g:999999"]) == {p: 5, "g:999999": 1}
    assert [m.seq for m in sql.range(p)] == [5, 6, 7]
    assert sql.expired_channels(before_ts=1004) == []

    dump = tmp_path / "messages.jsonl"
    _command("im_export_messages", str(dump), "--from", "sql")
    url = mongo_server.url(f"im_{secrets.token_hex(6)}")
    out = _command("im_import_messages", str(dump), "--to", "mongo", "--mongodb-url", url)
    assert "imported 3 messages; verified 3 messages of 1 channels" in out
    mongo = MongoMessageStore(url)
    assert mongo.first_seqs([p]) == {p: 5} and mongo.last_seqs([p]) == {p: 7}
    assert [m.seq for m in mongo.range(p)] == [5, 6, 7]
    step = mongo.expire(p, before_ts=1006, limit=10)
    assert (step.deleted, step.first_seq) == (2, 7)
    assert mongo.expired_channels(before_ts=1006) == []
    assert [m.seq for m in mongo.range(p)] == [7]
    (new,) = mongo.append([message(p, bob.id, "after", recipient_id=alice.id)], now_ms=1)
    assert new.message.seq == 8

    # Back to an empty SQL store: it starts at the same first_seq.
    back = tmp_path / "back.jsonl"
    _command("im_export_messages", str(back), "--from", "mongo", "--mongodb-url", url)
    Message.objects.all().delete()
    ChannelState.objects.filter(channel=p).update(last_seq=0, last_ts=0, first_seq=1)
    assert "imported 2 messages; verified 2" in _command(
        "im_import_messages", str(back), "--to", "sql")
    assert sql.first_seqs([p]) == {p: 7} and [m.seq for m in sql.range(p)] == [7, 8]
