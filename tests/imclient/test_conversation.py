"""Read marks, typing, edit and recall through the SDK, on both transports."""

from __future__ import annotations

import asyncio

import pytest

from imclient import Edited, ReadEvent, Recalled, SendFailed, TypingEvent
from improto.channels import p_channel
from tests.imclient.conftest import TRANSPORTS, WAIT, take, users

pytestmark = pytest.mark.server


async def next_event(client, kind, timeout: float = WAIT):
    """The next event of `kind` (others are skipped)."""
    async def find():
        async for event in client.events():
            if isinstance(event, kind):
                return event
    return await asyncio.wait_for(find(), timeout)


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_read_marks_and_unread_counts(sdk_server, clients, transport):
    alice, bob = await users(sdk_server, 2)
    a = await clients(sdk_server, alice, transport)
    b = await clients(sdk_server, bob, transport, device="phone")
    b2 = await clients(sdk_server, bob, "tcp", device="desk")
    for n in range(3):
        await a.send_text(to=bob.id, text=f"m{n}")
    channel = p_channel(alice.id, bob.id)
    received = await take(b.messages(), 3)
    assert (await b.unread())[channel] == 3
    await b.mark_read(channel, received[1].seq)
    assert b.read_positions[channel] == 2
    # The peer and my other device hear of it.
    assert await next_event(a, ReadEvent) == ReadEvent(channel, bob.id, 2)
    assert await next_event(b2, ReadEvent) == ReadEvent(channel, bob.id, 2)
    assert b2.read_positions[channel] == 2 and a.peer_reads[(channel, bob.id)] == 2
    assert (await b.unread())[channel] == 1
    listed = {c.channel: c for c in await b.channels()}
    assert (listed[channel].read_seq, listed[channel].unread) == (2, 1)
    with pytest.raises(SendFailed) as refused:
        await b.mark_read(channel, 9)
    assert refused.value.code == "invalid"


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_typing_reaches_the_peer(sdk_server, clients, transport):
    alice, bob = await users(sdk_server, 2)
    a = await clients(sdk_server, alice, transport)
    b = await clients(sdk_server, bob, transport)
    channel = p_channel(alice.id, bob.id)
    await a.typing(channel)
    await a.typing(channel)  # throttled in the SDK too: one frame
    assert await next_event(b, TypingEvent) == TypingEvent(channel, alice.id)


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_edit_and_recall_events_apply_to_messages_handed_out(sdk_server, clients,
                                                                   transport):
    alice, bob = await users(sdk_server, 2)
    a = await clients(sdk_server, alice, transport)
    b = await clients(sdk_server, bob, transport)
    first = await a.send_text(to=bob.id, text="helo")
    second = await a.send_text(to=bob.id, text="wrong chat")
    handed = await take(b.messages(), 2)
    edit = await a.edit(first.channel, first.seq, "hello")
    assert (edit.type, edit.seq, edit.target) == ("edit", 3, 1)
    edited = await next_event(b, Edited)
    assert (edited.target, edited.body, edited.by) == (1, {"text": "hello"}, alice.id)
    assert edited.message.body == {"text": "hello"} and edited.message.edited == edit.ts
    assert edited.message.id == handed[0].id
    recall = await a.recall(second.channel, second.seq)
    recalled = await next_event(b, Recalled)
    assert (recalled.target, recalled.ts, recalled.message.body) == (2, recall.ts, {})
    # The messages stream carries the edit and the recall as messages of their own.
    assert [m.type for m in await take(b.messages(), 2)] == ["edit", "recall"]
    with pytest.raises(SendFailed) as refused:
        await b.recall(first.channel, first.seq)
    assert refused.value.code == "forbidden"
    # History has the current state.
    history = await b.history(first.channel)
    assert history[0].text == "hello" and history[0].edited == edit.ts
    assert history[1].body == {} and history[1].recalled == recall.ts
