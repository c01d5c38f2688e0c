"""Locator claims that arrive together share one Redis transaction and mean what
they would one by one (a private redis-server, the locator in-process)."""

from __future__ import annotations

import asyncio
import secrets

import pytest
import redis

from realtime.locator import ConnRecord, RedisLocator, now_ms

pytestmark = pytest.mark.embedded


def record(conn_id: str, device: str, since: int) -> ConnRecord:
    return ConnRecord(conn_id, "node-a", device, "tok", now_ms() + 60_000, since)


def transactions(client: redis.Redis) -> int:
    return int(client.info("commandstats").get("cmdstat_multi", {}).get("calls", 0))


@pytest.fixture
def locator(redis_server):
    return RedisLocator(redis_server.url(5), f"t{secrets.token_hex(3)}")


def displaced(answers) -> list[set[str]]:
    return [{r.conn_id for r in a.displaced} for a in answers]


async def test_claims_made_together_share_a_transaction_and_mean_what_they_would_alone(
        redis_server, settings):
    settings.IM_MAX_CONNS_PER_USER = 3
    client = redis.Redis.from_url(redis_server.url(5))
    # 200 users with one connection each, and one user who connects five times, twice
    # from one device.
    claims = [(uid, record(f"c{uid}", "phone", 1)) for uid in range(1, 201)]
    crowd = [(999, record(f"m{i}", f"dev{i}", 10 + i)) for i in range(4)]
    crowd.append((999, record("m-again", "dev3", 20)))

    alone = RedisLocator(redis_server.url(5), f"t{secrets.token_hex(3)}")
    one_by_one = [await alone.claim(uid, r) for uid, r in claims + crowd]

    together = RedisLocator(redis_server.url(5), f"t{secrets.token_hex(3)}")
    before = transactions(client)
    answers = await asyncio.gather(*(together.claim(uid, r) for uid, r in claims + crowd))
    assert transactions(client) - before < 10  # not one per claim

    assert displaced(answers) == displaced(one_by_one)
    # The fourth is over the cap of three (m0, the oldest, goes); the fifth takes dev3
    # from m3 and is over the cap again (m0: the node releases it once told).
    assert displaced(answers)[200:] == [set(), set(), set(), {"m0"}, {"m3", "m0"}]
    assert {r.conn_id for r in together.conns_of(999)} == {r.conn_id for _, r in crowd}


async def test_a_revocation_marked_before_the_claims_is_seen_by_each(locator):
    locator.mark_revoked(7)
    answers = await asyncio.gather(locator.claim(7, record("x1", "a", 1)),
                                   locator.claim(8, record("y1", "a", 1)))
    assert [a.recently_revoked for a in answers] == [True, False]


async def claims_task_done() -> None:
    await asyncio.gather(*(t for t in asyncio.all_tasks()
                           if t.get_name() == "im-locator-claims"))


async def test_a_claim_abandoned_before_its_transaction_is_not_left_registered(locator):
    kept = asyncio.ensure_future(locator.claim(11, record("k1", "a", 1)))
    gone = asyncio.ensure_future(locator.claim(12, record("g1", "a", 1)))
    await asyncio.sleep(0)  # both queued, the transaction not sent yet
    gone.cancel()
    await kept
    await claims_task_done()
    assert locator.conns_of(12) == []
    assert [r.conn_id for r in locator.conns_of(11)] == ["k1"]


async def test_a_claim_abandoned_in_flight_is_released(locator, monkeypatch):
    claim_together = locator._claim_together
    futures = []

    async def abandoned_while_sent(batch):
        futures[1].cancel()  # its connection goes away while the transaction runs
        return await claim_together(batch)

    monkeypatch.setattr(locator, "_claim_together", abandoned_while_sent)
    futures.append(asyncio.ensure_future(locator.claim(11, record("k1", "a", 1))))
    futures.append(asyncio.ensure_future(locator.claim(12, record("g1", "a", 1))))
    await futures[0]
    await claims_task_done()  # the release follows the batch's answers, in that task
    assert futures[1].cancelled()
    assert locator.conns_of(12) == []
    assert [r.conn_id for r in locator.conns_of(11)] == ["k1"]
