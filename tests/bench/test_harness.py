"""The generator end to end on a tiny run against the raw relay (no Django server)."""

from __future__ import annotations

import pytest

from bench.deploy import RelayServer
from bench.loadgen import run_scenario
from bench.wire import OP_BINARY, OP_TEXT, WsFrameParser, ws_frame


@pytest.fixture(scope="module")
def relay(tmp_path_factory):
    server = RelayServer(tmp_path_factory.mktemp("relay") / "relay.log")
    yield server
    server.stop()


def _spec(relay, transport, scenario, params, users, groups=()):
    return {
        "scenario": scenario, "transport": transport,
        "address": relay.tcp if transport == "tcp" else relay.ws, "encoding": "json",
        "relay": True, "server_pid": relay.pid, "users": users, "groups": list(groups),
        "params": params,
    }


@pytest.mark.parametrize("transport", ["tcp", "ws"])
def test_p2p_throughput_counts_every_message_once(relay, transport):
    first = 1000 if transport == "tcp" else 2000
    users = [[first + i, ""] for i in range(4)]
    result = run_scenario(_spec(relay, transport, "p2p_throughput",
                                {"pairs": 2, "window": 4, "duration": 0.3, "warmup": 0.1},
                                users))
    assert result["sent"] > 0
    assert result["acked"] == result["sent"] == result["delivered"]
    assert result["lost"] == result["duplicates"] == result["undelivered"] == 0
    assert result["acked_per_s"] > 0


@pytest.mark.parametrize("transport", ["tcp", "ws"])
def test_group_fanout_expects_one_delivery_per_other_member(relay, transport):
    first = 3000 if transport == "tcp" else 4000
    users = [[first + i, ""] for i in range(5)]
    result = run_scenario(_spec(relay, transport, "group_fanout",
                                {"members": 5, "rate": 50, "duration": 0.2}, users,
                                groups=[first]))
    assert result["acked"] == result["sent"] == 10
    assert result["delivered"] == 10 * 4
    assert result["lost"] == result["duplicates"] == result["undelivered"] == 0


def test_ws_framer_round_trip_masked_fragmented_and_split():
    mask = b"\x01\x02\x03\x04"
    big = b"x" * 70000
    stream = (ws_frame(OP_TEXT, b'{"a":1}', mask) + ws_frame(OP_BINARY, big)
              # a text message in two fragments: not final + continuation
              + bytes((0x01, 0x02)) + b"he" + bytes((0x80, 0x03)) + b"llo")
    parser = WsFrameParser()
    out = []
    for i in range(0, len(stream), 1000):  # arrives in pieces
        out.extend(parser.feed(stream[i : i + 1000]))
    assert out == [(OP_TEXT, b'{"a":1}'), (OP_BINARY, big), (OP_TEXT, b"hello")]
