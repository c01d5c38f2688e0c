"""Loaded by the server under test (its PYTHONPATH names this folder): a DNS name
whose owner rebinds it, as an attacker with a TTL-0 zone can.

`IM_TEST_REBIND_NAME` answers IM_TEST_REBIND_PUBLIC (a public address) to its first
IM_TEST_REBIND_PUBLIC_LOOKUPS lookups in this process, and 127.0.0.1 to every later
one. Nothing listens at the public address: a connection to it is refused at once,
here, so the test never sends a packet off this machine."""

import os
import socket
import threading

_NAME = os.environ["IM_TEST_REBIND_NAME"]
_PUBLIC = os.environ["IM_TEST_REBIND_PUBLIC"]
_PUBLIC_LOOKUPS = int(os.environ["IM_TEST_REBIND_PUBLIC_LOOKUPS"])
_lock = threading.Lock()
_lookups = [0]
_getaddrinfo = socket.getaddrinfo
_connect = socket.socket.connect


def _rebinding_getaddrinfo(host, port, *args, **kwargs):
    if host != _NAME:
        return _getaddrinfo(host, port, *args, **kwargs)
    with _lock:
        _lookups[0] += 1
        address = _PUBLIC if _lookups[0] <= _PUBLIC_LOOKUPS else "127.0.0.1"
    return _getaddrinfo(address, port, *args, **kwargs)


def _connect_here_only(self, address):
    if isinstance(address, tuple) and address[0] == _PUBLIC:
        raise ConnectionRefusedError(f"nothing listens at {_PUBLIC} in this test")
    return _connect(self, address)


socket.getaddrinfo = _rebinding_getaddrinfo
socket.socket.connect = _connect_here_only
