"""Live connections per client address, in this process (docs/protocol.md,
Connections and slow clients).

One table counts HTTP connections, WebSockets and TCP connections together; an
address holding IM_MAX_CONNS_PER_IP of them gets no more until one closes (0: no
cap). Every transport calls `acquire` when a connection starts and, only if that
returned True, `release` exactly once when it ends, on every close path.

The address is the peer's for TCP and for HTTP with no trusted proxy; behind
IM_NUM_PROXIES proxies it is the one `imsite.forwarding.forwarded_client` picks from
X-Forwarded-For (the rule of the REST rate limits).
IPv6 addresses are counted per /64, the block one host or one home gets: counting
single IPv6 addresses would let one host take a fresh address per connection.

Everything runs on the server's one event loop; the lock only keeps the table sane
if a thread ever calls in.
"""

from __future__ import annotations

import ipaddress
import threading

from django.conf import settings

TOO_MANY = "too many connections from your address"

_counts: dict[str, int] = {}
_lock = threading.Lock()


def address_key(address: str) -> str:
    """What an address is counted as: an IPv4 address (also when IPv4-mapped IPv6), an
    IPv6 /64, or, for anything that is not an IP address, the string itself."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address
    if ip.version == 6:
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def acquire(address: str) -> bool:
    """Count one more connection from `address`; False (and nothing counted) when the
    address already has IM_MAX_CONNS_PER_IP."""
    key = address_key(address)
    cap = settings.IM_MAX_CONNS_PER_IP
    with _lock:
        held = _counts.get(key, 0)
        if cap and held >= cap:
            return False
        _counts[key] = held + 1
    return True


def release(address: str) -> None:
    """One connection from `address` has ended."""
    key = address_key(address)
    with _lock:
        held = _counts.get(key, 0)
        if held <= 1:
            _counts.pop(key, None)
        else:
            _counts[key] = held - 1


def live(address: str) -> int:
    """Connections `address` holds now."""
    with _lock:
        return _counts.get(address_key(address), 0)
