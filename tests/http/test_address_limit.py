"""The per-address counter and the address rules, without a server."""

from __future__ import annotations

import pytest

from imsite.forwarding import forwarded_client
from realtime.transport import address_limit
from realtime.transport.address_limit import address_key


@pytest.mark.parametrize(("address", "key"), [
    ("203.0.113.7", "203.0.113.7"),
    ("::ffff:203.0.113.7", "203.0.113.7"),  # IPv4 on a dual-stack socket
    ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
    ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
    ("fe80::1%eth0", "fe80::/64"),
    ("unknown", "unknown"),
    ("not an address", "not an address"),
])
def test_address_key(address, key):
    assert address_key(address) == key


@pytest.mark.parametrize(("forwarded", "proxies", "client"), [
    (None, 1, "10.9.9.9"),
    ("198.51.100.1", None, "10.9.9.9"),  # no proxy configured: the header is ignored
    ("198.51.100.1", 1, "198.51.100.1"),
    ("6.6.6.6, 198.51.100.1", 1, "198.51.100.1"),  # the client's own entry is not used
    ("6.6.6.6, 198.51.100.1, 10.0.0.2", 2, "198.51.100.1"),
    ("198.51.100.1", 3, "198.51.100.1"),  # fewer entries than proxies: the leftmost
    (" , ", 1, "10.9.9.9"),
])
def test_forwarded_client(forwarded, proxies, client):
    assert forwarded_client("10.9.9.9", forwarded, proxies) == client


def test_acquire_up_to_the_cap_and_release(settings):
    settings.IM_MAX_CONNS_PER_IP = 2
    address = "192.0.2.55"
    assert address_limit.acquire(address) and address_limit.acquire(address)
    assert not address_limit.acquire(address)
    assert not address_limit.acquire("::ffff:192.0.2.55")  # the same address
    assert address_limit.acquire("192.0.2.56")
    assert address_limit.live(address) == 2
    address_limit.release(address)
    assert address_limit.acquire(address)
    for held in ("192.0.2.55", "192.0.2.55", "192.0.2.56"):
        address_limit.release(held)
    assert address_limit.live(address) == 0
    address_limit.release(address)  # one too many is harmless, never negative
    assert address_limit.live(address) == 0


def test_zero_means_no_cap(settings):
    settings.IM_MAX_CONNS_PER_IP = 0
    address = "2001:db8:77::1"
    assert all(address_limit.acquire(address) for _ in range(5000))
    assert address_limit.live(address) == 5000
    for _ in range(5000):
        address_limit.release(address)
    assert address_limit.live(address) == 0
