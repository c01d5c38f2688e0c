"""The SDK and a channel whose oldest messages the server's retention removed: what
lies below first_seq is skipped, never waited for as a hole (docs/sdk.md)."""

from __future__ import annotations

import asyncio
import subprocess
import time

import pytest

from tests.imclient.conftest import take, users
from tests.support.servers import PYTHON, ROOT, Deployment

pytestmark = [pytest.mark.server, pytest.mark.mongo]


@pytest.fixture
def own_server():
    """A server of its own: retention here must not remove other tests' messages."""
    dep = Deployment.create()
    server = dep.start_server()
    yield server
    dep.close()


async def test_catching_up_skips_what_retention_removed(own_server, clients, tmp_path):
    alice, bob = await users(own_server, 2)
    a = await clients(own_server, alice)
    old = [await a.send_text(to=bob.id, text=f"old {i}") for i in range(5)]
    while time.time() * 1000 <= old[-1].ts:  # the server's clock, on this machine
        await asyncio.sleep(0.001)
    new = [await a.send_text(to=bob.id, text=f"new {i}") for i in range(2)]
    assert [m.seq for m in new] == [6, 7] and new[0].ts > old[-1].ts
    await asyncio.to_thread(
        subprocess.run, [PYTHON, "manage.py", "im_retention", "--before-ms",
                         str(old[-1].ts + 1)],
        cwd=ROOT, env=own_server.env, check=True, timeout=120, capture_output=True)

    # A new device replaying history, with a long reorder window: a hole below
    # first_seq would hold every message back for it; none is.
    b = await clients(own_server, bob, replay_history=True, reorder_window=30,
                      resync_interval=600, state_path=tmp_path / "bob.json")
    got = await take(b.messages(), 2, timeout=10)
    assert [(m.seq, m.text) for m in got] == [(6, "new 0"), (7, "new 1")]
    assert b.stats["removed_skipped"] == 5 and b.stats["gap_syncs"] == 0
    [channel] = await b.channels()
    assert (channel.first_seq, channel.last_seq) == (6, 7)
    assert [m.seq for m in await b.history(channel.channel, before=7)] == [6]
