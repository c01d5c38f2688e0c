"""Which address a request comes from, behind a known number of reverse proxies."""

from __future__ import annotations


def forwarded_client(peer: str, forwarded_for: str | None, num_proxies: int | None) -> str:
    """The client's address behind `num_proxies` trusted proxies.

    With no proxy configured, or no X-Forwarded-For, the peer; else the entry the
    outermost trusted proxy appended, `num_proxies` from the right. Entries left of it
    are whatever the client wrote and are never used: trusting them would let any
    client pick a fresh address per request and escape every per-address limit.
    """
    if not num_proxies or not forwarded_for:
        return peer
    addresses = [part.strip() for part in forwarded_for.split(",")]
    return addresses[-min(num_proxies, len(addresses))] or peer
