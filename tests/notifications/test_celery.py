"""Delivery by real Celery workers (Redis broker): kill a worker mid-delivery, lose the
broker, and nothing is lost or sent twice as far as the server knows."""

from __future__ import annotations

import asyncio
import json
import secrets
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from kombu import Connection

from tests.notifications.fake_push import outbox_intents, wait_outbox
from tests.notifications.helpers import register, signed
from tests.notifications.test_notification_metrics import scrape_until
from tests.notifications.workers import Broker, Worker
from tests.ops.test_metrics import TOKEN, samples, scrape
from tests.support.clients import connect, make_user
from tests.support.proxy import FaultProxy
from tests.support.servers import free_port

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def broker():
    b = Broker()
    yield b
    b.close()


@pytest.fixture
def celery_site(make_deployment, broker):
    """imserver (Redis locator and breakers) and the env its workers share."""
    dep = make_deployment(
        redis=True, redis_db=3, CELERY_BROKER_URL=broker.url, IM_PUSH_ALLOW_PRIVATE=1,
        IM_PUSH_REDELIVER_S=1, IM_PUSH_TIMEOUT_S=2, IM_PUSH_RETRY_BASE_S=1,
        IM_PUSH_RETRY_MAX_S=1, IM_PUSH_BREAKER_FAILS=50,
    )
    server = dep.start_server()
    workers: list[Worker] = []

    def start_worker(**kw) -> Worker:
        worker = Worker(dep.env, **kw)
        workers.append(worker)
        return worker

    yield server, start_worker
    for worker in workers:
        worker.stop()


async def _send(server, sender, to, texts):
    client = await connect(server, "ws")
    await client.auth(sender.token, device="laptop")
    for text in texts:
        await client.send_text(text=text, to=to.id)
    acks = await asyncio.wait_for(client.acks(len(texts)), 10)
    await client.close()
    return acks


def _mine(rows, alice, bob):
    channel = f"p:{min(alice.id, bob.id)}:{max(alice.id, bob.id)}"
    return [r for r in rows if r["channel"] == channel]


async def test_a_worker_delivers_each_message_once(celery_site, push):
    server, start_worker = celery_site
    start_worker()
    alice, bob = await make_user(server.base_url), await make_user(server.base_url)
    await register(server, bob, push.url())
    await _send(server, alice, bob, [f"m{i}" for i in range(5)])
    got = push.wait_for(lambda r: len(r) >= 5)
    assert sorted(r.json["preview"] for r in got) == [f"m{i}" for i in range(5)]
    assert all(signed(r) for r in got)
    rows = wait_outbox(server.env, lambda rows: len(rows) == 5
                       and all(r["state"] == "sent" for r in rows))
    assert len(set(push.keys())) == 5 == len(push.keys())
    assert all(r["attempts"] == 1 for r in rows)


async def test_a_threads_worker_serves_its_delivery_outcomes(make_deployment, broker, push):
    port = free_port()
    dep = make_deployment(redis=True, redis_db=3, CELERY_BROKER_URL=broker.url,
                          IM_PUSH_ALLOW_PRIVATE=1, IM_METRICS_WORKER_PORT=port)
    server = dep.start_server()
    worker = Worker(dep.env, concurrency=4, pool="threads")
    try:
        alice, bob = await make_user(server.base_url), await make_user(server.base_url)
        await register(server, bob, push.url())
        await _send(server, alice, bob, ["m0", "m1", "m2"])
        push.wait_for(lambda r: len(r) >= 3)
        wait_outbox(server.env, lambda rows: len(rows) == 3
                    and all(r["state"] == "sent" for r in rows))
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
            text = answer.read().decode()
        assert 'im_push_outcomes_total{kind="webhook",outcome="ok"} 3.0' in text
        assert 'im_notifications_total{outcome="sent"} 3.0' in text
    finally:
        worker.stop()


async def test_a_workers_metrics_port_lets_in_whom_the_metrics_view_does(
        make_deployment, broker):
    port = free_port()
    dep = make_deployment(redis=True, redis_db=3, CELERY_BROKER_URL=broker.url,
                          IM_METRICS_WORKER_PORT=port, IM_METRICS_ALLOW="192.0.2.0/24",
                          IM_METRICS_TOKEN=TOKEN)
    worker = Worker(dep.env, concurrency=1, pool="threads")
    try:
        url = f"http://127.0.0.1:{port}/metrics"
        status, body = await asyncio.to_thread(_get_when_up, url, {})
        assert status == 403 and "IM_METRICS_ALLOW" in json.loads(body)["detail"]
        assert _listening(port) == {"127.0.0.1"}  # IM_METRICS_WORKER_ADDR's default
        status, body = await asyncio.to_thread(
            _get_when_up, url, {"Authorization": f"Bearer {TOKEN}x"})
        assert status == 403
        status, body = await asyncio.to_thread(
            _get_when_up, url, {"Authorization": f"Bearer {TOKEN}"})
        assert status == 200 and 'im_notifications_total{outcome="sent"} 0.0' in body
        status, _ = await asyncio.to_thread(
            _get_when_up, f"http://127.0.0.1:{port}/", {"Authorization": f"Bearer {TOKEN}"})
        assert status == 404
    finally:
        worker.stop()


def _listening(port: int) -> set[str]:
    """The IPv4 addresses a socket of this machine listens on at this TCP port."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        address, port_hex = fields[1].split(":")
        if fields[3] == "0A" and int(port_hex, 16) == port:  # 0A: LISTEN
            found.add(socket.inet_ntoa(bytes.fromhex(address)[::-1]))
    return found


def _get_when_up(url: str, headers: dict, timeout: float = 30) -> tuple[int, str]:
    """GET url once the worker listens on its port (polled: no event says it does)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                        timeout=10) as answer:
                return answer.status, answer.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()
        except OSError:
            assert time.monotonic() < deadline, f"nothing listens at {url}"
            time.sleep(0.1)


async def test_worker_killed_mid_delivery_loses_nothing(celery_site, push):
    server, start_worker = celery_site
    first_seen = []

    def answer(request):
        if not first_seen:
            first_seen.append(request)
            return 200, {}, 60  # hangs until released: the worker dies meanwhile
        return 200, {}, 0

    push.answer = answer
    worker = start_worker(concurrency=1)
    alice, bob = await make_user(server.base_url), await make_user(server.base_url)
    await register(server, bob, push.url())
    await _send(server, alice, bob, ["in flight"])
    push.wait_for(lambda r: len(r) >= 1)
    worker.kill()
    rows = wait_outbox(server.env, lambda rows: len(rows) == 1)
    assert rows[0]["state"] == "sending"
    # The Redis broker would give the killed worker's unacked task back only after its
    # visibility timeout (an hour); the new worker's sweep republishes the row once
    # its lease (timeout 2 + redeliver 1 s) has run out.
    start_worker(concurrency=1)
    got = push.wait_for(lambda r: len(r) >= 2)
    rows = wait_outbox(server.env, lambda rows: rows[0]["state"] == "sent")
    # The same idempotency key both times; recorded sent once, after two attempts.
    assert got[0].headers["idempotency-key"] == got[1].headers["idempotency-key"]
    assert rows[0]["attempts"] == 2
    await _send(server, alice, bob, ["after"])
    got = push.wait_for(lambda r: len(r) >= 3)
    assert len(got) == 3 and len(set(push.keys())) == 2


async def test_redis_broker_flushed_by_a_restart_loses_nothing(celery_site, broker, push):
    server, start_worker = celery_site
    worker = start_worker()
    alice, bob = await make_user(server.base_url), await make_user(server.base_url)
    await register(server, bob, push.url())
    await _send(server, alice, bob, ["before"])
    push.wait_for(lambda r: len(r) >= 1)
    broker.stop()
    # Acks do not wait for the broker.
    await _send(server, alice, bob, ["during 1", "during 2", "during 3"])
    wait_outbox(server.env, lambda rows: len(rows) == 4)
    broker.start()  # empty: whatever it held is gone
    # A Celery 5.7 worker on a Redis broker does not live through a lost connection
    # (kombu's restore of unacked messages fails while it is down: "Unrecoverable
    # error"); it is restarted, as its supervisor would. RabbitMQ's case is below.
    worker.kill()
    start_worker()
    got = push.wait_for(lambda r: len(r) >= 4, timeout=60)
    rows = wait_outbox(server.env, lambda rows: all(r["state"] == "sent" for r in rows))
    assert sorted(r.json["preview"] for r in got) == ["before", "during 1", "during 2",
                                                       "during 3"]
    assert len(rows) == 4 and len(push.keys()) == 4 == len(set(push.keys()))


RABBITMQ = "127.0.0.1:5672"


async def test_rabbitmq_outage_loses_nothing(make_deployment, push):
    """RabbitMQ (the broker to deploy) behind a proxy that can make it vanish: the
    server's publishes fail meanwhile, the sweep publishes them once it is back."""
    prefix = f"im-push-t{secrets.token_hex(4)}"
    async with FaultProxy(RABBITMQ) as proxy:
        dep = await asyncio.to_thread(
            make_deployment, CELERY_BROKER_URL=f"amqp://guest:guest@{proxy.address}//",
            IM_PUSH_QUEUE_PREFIX=prefix, IM_PUSH_ALLOW_PRIVATE=1, IM_PUSH_REDELIVER_S=1,
            IM_PUSH_TIMEOUT_S=2, IM_PUSH_RETRY_BASE_S=1, IM_PUSH_RETRY_MAX_S=1)
        server = await asyncio.to_thread(dep.start_server)
        worker = Worker(dep.env)
        try:
            alice, bob = await make_user(server.base_url), await make_user(server.base_url)
            await register(server, bob, push.url())
            await _send(server, alice, bob, ["before"])
            await asyncio.to_thread(push.wait_for, lambda r: len(r) >= 1)
            proxy.refuse(True)
            proxy.cut()
            await _send(server, alice, bob, ["during 1", "during 2", "during 3"])
            await asyncio.to_thread(wait_outbox, server.env, lambda rows: len(rows) == 4)
            assert len(push.received) == 1
            proxy.refuse(False)
            got = await asyncio.to_thread(push.wait_for, lambda r: len(r) >= 4, 60)
            rows = await asyncio.to_thread(
                wait_outbox, server.env, lambda rows: all(r["state"] == "sent" for r in rows))
            assert sorted(r.json["preview"] for r in got) == [
                "before", "during 1", "during 2", "during 3"]
            assert len(rows) == 4 and len(push.keys()) == 4 == len(set(push.keys()))
            assert worker.proc.poll() is None  # the worker lived through it
        finally:
            await asyncio.to_thread(worker.stop)
            await asyncio.to_thread(_delete_queues, prefix)


def _delete_queues(prefix: str) -> None:
    with Connection(f"amqp://guest:guest@{RABBITMQ}//") as conn:
        channel = conn.channel()
        for kind in ("webhook", "webpush", "fcm", "apns"):
            channel.queue_delete(f"{prefix}-{kind}")


async def test_breaker_opens_holds_and_one_probe_closes_it(make_deployment, broker, push):
    """Two workers share the breaker of the failing host (in Redis)."""
    reset_s = 3
    dep = make_deployment(
        redis=True, redis_db=4, CELERY_BROKER_URL=broker.url, IM_PUSH_ALLOW_PRIVATE=1,
        IM_PUSH_REDELIVER_S=1, IM_PUSH_TIMEOUT_S=2, IM_PUSH_RETRY_BASE_S=1,
        IM_PUSH_RETRY_MAX_S=1, IM_PUSH_MAX_ATTEMPTS=20, IM_PUSH_BREAKER_FAILS=3,
        IM_PUSH_BREAKER_RESET_S=reset_s,
    )
    server = dep.start_server()
    workers = [Worker(dep.env, concurrency=1), Worker(dep.env, concurrency=1)]
    try:
        failing = [True]
        push.answer = lambda r: (500, {}, 0) if failing[0] else (200, {}, 0)
        alice, bob = await make_user(server.base_url), await make_user(server.base_url)
        await register(server, bob, push.url())
        await _send(server, alice, bob, [f"m{i}" for i in range(6)])
        push.wait_for(lambda r: len(r) >= 3)
        # Every node reads the breakers from Redis: the server's /metrics shows the host.
        host = ("host", f"127.0.0.1:{push.port}")
        got = await scrape_until(server, lambda got: ("im_push_breaker_open", (host,)) in got)
        assert got[("im_push_breaker_open", (host,))] == 1
        failing[0] = False  # the host is back, but the breaker is open: nothing yet
        got = push.wait_for(lambda r: sum(x.status == 200 for x in r) >= 6, timeout=60)
        failures = [r for r in got if r.status == 500]
        successes = [r for r in got if r.status == 200]
        assert 3 <= len(failures) <= 4  # the third opened it; one more may have been in flight
        # Held: nothing was sent for the reset period after the breaker opened.
        assert successes[0].at - failures[2].at >= reset_s - 0.2
        # Then every message once, and no failure more (the probe succeeded).
        assert len(successes) == 6 == len({r.json["id"] for r in successes})
        assert len(got) == len(failures) + 6
        rows = wait_outbox(server.env, lambda rows: all(r["state"] == "sent" for r in rows))
        assert len(rows) == 6
        status, text = await scrape(server)
        assert not any(key[0] == "im_push_breaker_open" for key in samples(text))
    finally:
        for worker in workers:
            worker.stop()


async def test_a_worker_replays_what_a_killed_server_never_wrote(make_deployment, broker, push):
    """The server is killed after the acks and before its outbox write; no server
    comes back, and a worker's sweep writes and delivers the notification once."""
    dep = make_deployment(
        redis=True, redis_db=5, CELERY_BROKER_URL=broker.url, IM_PUSH_ALLOW_PRIVATE=1,
        IM_PUSH_REDELIVER_S=1, IM_PUSH_TIMEOUT_S=2,
    )
    server = dep.start_server(IM_TEST_PUSH_STALL_OUTBOX="1")
    alice, bob = await make_user(server.base_url), await make_user(server.base_url)
    await register(server, bob, push.url())
    acks = await _send(server, alice, bob, ["acked before the crash"])
    server.kill()
    assert wait_outbox(dep.env, lambda rows: True) == []
    worker = Worker(dep.env, concurrency=1)
    try:
        got = push.wait_for(lambda r: len(r) >= 1)
        assert got[0].json["seq"] == acks[0]["seq"] and signed(got[0])
        wait_outbox(dep.env, lambda rows: len(rows) == 1 and rows[0]["state"] == "sent")
        assert outbox_intents(dep.env) == [] and len(push.received) == 1
    finally:
        worker.stop()
