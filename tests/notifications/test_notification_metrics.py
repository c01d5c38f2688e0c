"""The contract's notification metrics on a real server delivering itself:
im_notifications_total{outcome} (one per state a notification is moved into) and
im_push_breaker_open{host} (hosts whose breaker is not closed)."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.notifications.fake_push import wait_outbox
from tests.notifications.helpers import register
from tests.ops.test_metrics import samples, scrape
from tests.support.clients import connect, make_user

pytestmark = pytest.mark.timeout(120)


async def _send(server, sender, to, text):
    client = await connect(server, "ws")
    await client.auth(sender.token, device="laptop")
    await client.send_text(text=text, to=to.id)
    await client.acks(1)
    await client.close()


async def scrape_until(server, predicate, timeout: float = 10) -> dict:
    """Scrapes (the breaker has no event to wait on) until predicate holds."""
    deadline = time.monotonic() + timeout
    while True:
        status, text = await scrape(server)
        got = samples(text) if status == 200 else {}
        if predicate(got):
            return got
        assert time.monotonic() < deadline, f"timed out; scraped {status} {text[-2000:]}"
        await asyncio.sleep(0.1)


def _outcomes(text: str) -> dict[str, float]:
    return {dict(labels)["outcome"]: value for (name, labels), value in samples(text).items()
            if name == "im_notifications_total"}


async def test_each_state_a_notification_is_moved_into_is_counted_once(make_deployment, push):
    dep = make_deployment(IM_PUSH_ALLOW_PRIVATE=1, IM_PUSH_RETRY_BASE_S=1,
                          IM_PUSH_RETRY_MAX_S=1, IM_PUSH_REDELIVER_S=1, IM_PUSH_TIMEOUT_S=2,
                          IM_PUSH_MAX_ATTEMPTS=2, IM_PUSH_BREAKER_FAILS=50)
    server = dep.start_server()
    answers = {"/ok": 200, "/gone": 410, "/bad": 400, "/down": 503}
    push.answer = lambda r: (answers[r.path], {}, 0)
    alice, bob = await make_user(server.base_url), await make_user(server.base_url)
    for path in answers:
        await register(server, bob, push.url(path), device=path[1:])
    status, text = await scrape(server)
    assert status == 200 and _outcomes(text) == dict.fromkeys(
        ("sent", "retried", "failed", "dead", "disabled"), 0)
    await _send(server, alice, bob, "one message, four devices")
    wait_outbox(server.env, lambda rows: {(r["device"], r["state"]) for r in rows} == {
        ("ok", "sent"), ("gone", "disabled"), ("bad", "failed"), ("down", "dead")})
    status, text = await scrape(server)
    # "down": 503 (retried), 503 again at IM_PUSH_MAX_ATTEMPTS=2 (dead).
    assert _outcomes(text) == {"sent": 1, "retried": 1, "failed": 1, "dead": 1, "disabled": 1}
    got = samples(text)
    # The provider-level counter stays, per attempt.
    assert got[("im_push_outcomes_total", (("kind", "webhook"), ("outcome", "transient")))] == 2
    assert len(push.received) == 5


async def test_a_host_whose_breaker_opens_is_a_series_until_it_closes(make_deployment, push):
    reset_s = 3
    dep = make_deployment(IM_PUSH_ALLOW_PRIVATE=1, IM_PUSH_RETRY_BASE_S=1,
                          IM_PUSH_RETRY_MAX_S=1, IM_PUSH_REDELIVER_S=1, IM_PUSH_TIMEOUT_S=2,
                          IM_PUSH_MAX_ATTEMPTS=20, IM_PUSH_BREAKER_FAILS=2,
                          IM_PUSH_BREAKER_RESET_S=reset_s)
    server = dep.start_server()
    failing = [True]
    push.answer = lambda r: (503, {}, 0) if failing[0] else (200, {}, 0)
    alice, bob = await make_user(server.base_url), await make_user(server.base_url)
    await register(server, bob, push.url())
    host = ("host", f"127.0.0.1:{push.port}")
    status, text = await scrape(server)
    assert status == 200 and not any(k[0] == "im_push_breaker_open" for k in samples(text))
    await _send(server, alice, bob, "to a failing host")
    push.wait_for(lambda r: len(r) >= 2)  # the second failure opens the breaker
    got = await scrape_until(server, lambda got: ("im_push_breaker_open", (host,)) in got)
    assert got[("im_push_breaker_open", (host,))] == 1  # open: held for reset_s
    failing[0] = False
    wait_outbox(server.env, lambda rows: rows[0]["state"] == "sent")  # the probe closed it
    status, text = await scrape(server)
    assert not any(k[0] == "im_push_breaker_open" for k in samples(text))
