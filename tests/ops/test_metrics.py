"""GET /metrics on a real server: what the message path counted, and who may read it."""

from __future__ import annotations

import asyncio
import json
import re
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.clients import connect, make_user

pytestmark = pytest.mark.server

TOKEN = "scrape-token-0123456789"


def _get(url: str, headers: dict | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


async def scrape(server, headers: dict | None = None) -> tuple[int, str]:
    return await asyncio.to_thread(_get, server.base_url + "/metrics", headers)


def samples(text: str) -> dict[tuple, float]:
    """(name, sorted labels) -> value."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


async def test_a_scrape_counts_connections_sends_and_latencies(make_deployment):
    dep = make_deployment()
    server = dep.start_server()
    alice, bob = await make_user(server.base_url), await make_user(server.base_url)
    sender, receiver = await connect(server, "tcp"), await connect(server, "ws")
    await sender.auth(alice.token)
    await receiver.auth(bob.token)
    for i in range(5):
        await sender.send_text(text=f"m{i}", to=bob.id, client_id=f"c{i}")
    await sender.acks(5)
    # A retry and a read mark ride the group commit but store no message.
    await sender.send_text(text="m0", to=bob.id, client_id="c0")
    assert (await sender.expect("ack"))["dup"] is True
    for _ in range(5):
        await receiver.expect("text")
    await sender.send({"type": "made-up", "id": "x1"})
    await sender.expect("error")
    channel = f"p:{min(alice.id, bob.id)}:{max(alice.id, bob.id)}"
    await receiver.send({"type": "read", "id": "r1", "channel": channel, "seq": 5})
    assert (await receiver.expect("ack"))["id"] == "r1"

    status, text = await scrape(server)
    assert status == 200
    got = samples(text)
    assert got[("im_connections", (("transport", "tcp"),))] == 1
    assert got[("im_connections", (("transport", "ws"),))] == 1
    assert got[("im_connections_authenticated", ())] == 2
    assert got[("im_auth_total", (("outcome", "ok"),))] == 2
    assert got[("im_frames_received_total", (("type", "text"),))] == 6  # with the retry
    assert got[("im_frames_received_total", (("type", "other"),))] == 1
    assert got[("im_frames_out_total", (("type", "ack"),))] == 7  # 5, the retry, the read
    assert got[("im_frames_out_total", (("type", "text"),))] == 5
    assert got[("im_messages_stored_total", ())] == 5
    assert got[("im_ack_seconds_count", ())] == 6  # every send answered, the retry too
    assert got[("im_fanout_seconds_count", ())] >= 1
    assert got[("im_delivery_seconds_count", ())] == 5  # each message, pushed to bob here
    assert got[("im_batch_size_sum", ())] == 5
    assert got[("im_nodes", ())] == 1
    assert got[("im_http_responses_total", (("code", "2xx"),))] >= 4  # register, login x2
    assert got[("im_http_seconds_count", ())] >= 4
    # Labels are few and bounded: never a user, a channel or a connection.
    im_labels = {name for key in got if key[0].startswith("im_") for name, _ in key[1]}
    assert im_labels <= {"transport", "outcome", "type", "kind", "state", "code", "le",
                         "host"}
    await sender.close()
    await receiver.close()


async def test_metrics_are_refused_outside_the_allow_list_without_the_token(make_deployment):
    dep = make_deployment(IM_METRICS_ALLOW="192.0.2.0/24", IM_METRICS_TOKEN=TOKEN)
    server = dep.start_server()
    status, body = await scrape(server)
    assert status == 403 and '"detail"' in body
    status, _ = await scrape(server, {"Authorization": "Bearer wrong-token-0123456789"})
    assert status == 403
    status, text = await scrape(server, {"Authorization": f"Bearer {TOKEN}"})
    assert status == 200 and "im_messages_stored_total" in text
    assert samples(text)[("im_http_responses_total", (("code", "4xx"),))] == 2


async def test_the_dashboard_and_the_alerts_use_metrics_the_server_exposes(make_deployment):
    dep = make_deployment()
    server = dep.start_server()
    status, text = await scrape(server)
    assert status == 200
    exposed = {f.name for f in text_string_to_metric_families(text)}
    deploy = Path(__file__).resolve().parents[2] / "deploy"
    dashboard = json.loads((deploy / "grafana-dashboard.json").read_text())
    used = {name for panel in dashboard["panels"] for target in panel["targets"]
            for name in re.findall(r"\bim_[a-z_]+", target["expr"])}
    used |= set(re.findall(r"\bim_[a-z_]+", (deploy / "prometheus-alerts.yml").read_text()))
    # A family is named without the _total, _bucket, _sum, _count of its samples.
    families = {re.sub(r"_(total|bucket|sum|count)$", "", name) for name in used}
    assert families and families <= exposed, families - exposed
