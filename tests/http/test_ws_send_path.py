"""The WebSocket write path does not format autobahn's debug line for every frame
unless Twisted logs at debug level; what it writes and counts is autobahn's."""

from __future__ import annotations

from collections import deque

import autobahn.websocket.protocol as autobahn_protocol
import pytest
import txaio
from autobahn.websocket.protocol import TrafficStats

from realtime.transport.ws_protocol import GuardedWebSocketProtocol


class _Transport:
    def __init__(self) -> None:
        self.written: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.written.append(data)


@pytest.fixture
def formatted(monkeypatch) -> list:
    """Every call of autobahn's debug-argument formatters (spied on, not replaced in
    the server)."""
    calls: list = []
    monkeypatch.setattr(autobahn_protocol, "hltype", lambda obj: calls.append(obj) or "")
    monkeypatch.setattr(autobahn_protocol, "hlval",
                        lambda val, color="white", bold=True: calls.append(val) or "")
    return calls


def _open_protocol() -> GuardedWebSocketProtocol:
    protocol = GuardedWebSocketProtocol()
    protocol.transport = _Transport()
    protocol.state = protocol.STATE_OPEN
    protocol.logOctets = False
    protocol.trafficStats = TrafficStats()
    return protocol


def test_a_frame_is_written_and_counted_without_formatting_the_debug_line(formatted):
    protocol = _open_protocol()
    protocol.sendData(b"frame one")
    protocol.sendData(b"two")
    assert protocol.transport.written == [b"frame one", b"two"]
    assert protocol.trafficStats.outgoingOctetsWireLevel == len(b"frame one") + len(b"two")
    assert formatted == []


def test_at_debug_level_autobahn_writes_and_logs_as_before(formatted):
    protocol = _open_protocol()
    level = txaio.get_global_log_level()
    txaio.set_global_log_level("debug")
    try:
        protocol.sendData(b"frame")
    finally:
        txaio.set_global_log_level(level)
    assert protocol.transport.written == [b"frame"]
    assert protocol.trafficStats.outgoingOctetsWireLevel == len(b"frame")
    assert formatted  # autobahn's own path ran, debug line and all


def test_a_queued_write_stays_behind_the_queue():
    protocol = _open_protocol()
    protocol.send_queue = deque([(b"earlier", False)])
    protocol._trigger = lambda: None  # the queue drains on the reactor; not here
    protocol.sendData(b"later")
    assert protocol.transport.written == []
    assert list(protocol.send_queue) == [(b"earlier", False), (b"later", False)]


def test_the_send_queue_is_made_on_first_use():
    protocol = _open_protocol()
    protocol.send_queue = deque()  # what autobahn gives every connection
    assert protocol.__dict__["_send_queue"] is None  # nothing held while unused
    assert not protocol.send_queue
    triggered = []
    protocol._trigger = lambda: triggered.append(True)
    protocol.sendData(b"synchronous", sync=True)  # autobahn's own queued path
    assert protocol.transport.written == []
    assert list(protocol.send_queue) == [(b"synchronous", True)]
    assert triggered


def test_autobahn_pretty_prints_its_options_only_for_a_line_written(monkeypatch):
    from realtime.transport import ws_protocol

    calls = []
    monkeypatch.setattr(ws_protocol, "pformat", lambda value: calls.append(value) or "text")
    options = [("openHandshakeTimeout", 5, "WebSocketServerFactory")]
    made = autobahn_protocol.pformat(options)  # what _connectionMade calls per connection
    level = txaio.get_global_log_level()
    txaio.set_global_log_level("info")
    try:
        txaio.make_logger().debug("\n{attrs}", attrs=made)  # debug is off: dropped
    finally:
        txaio.set_global_log_level(level)
    assert calls == []
    assert f"{made}" == "text"  # a line that is written shows the options
    assert calls == [options]
