"""What imserver and runserver check before they listen."""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.core.management.base import CommandError

from realtime.gateway import WILDCARD_HOSTS, public_host


def is_loopback(host: str) -> bool:
    """True only for addresses no other machine can reach: 127.0.0.0/8, ::1, localhost."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.removeprefix("[").removesuffix("]")).is_loopback
    except ValueError:
        return False  # a host name may resolve to anything


def refuse_debug_beyond_loopback(host: str) -> None:
    """Debug pages show settings and local variables to whoever asks: never to others."""
    if settings.DEBUG and not is_loopback(host):
        raise CommandError(
            f"IM_DEBUG is on and the server would listen on {host}: debug pages are "
            "served on a loopback address only (127.0.0.1, ::1); unset IM_DEBUG or "
            "bind 127.0.0.1"
        )


def start_warnings(host: str) -> list[str]:
    """Configurations that work here but not as the operator likely meant."""
    found = []
    if settings.GENERATED_SECRET_KEY_FILE and settings.IM_REDIS_URL:
        found.append(
            f"SECRET_KEY is not set, so this node signs with its own key from "
            f"{settings.GENERATED_SECRET_KEY_FILE}; that is right for one node only: "
            "the nodes of a cluster (IM_REDIS_URL is set) must share one SECRET_KEY, or "
            "links and admin sessions signed by one node fail on the others"
        )
    if host in WILDCARD_HOSTS and not settings.IM_PUBLIC_HOST and not (
        settings.IM_PUBLIC_WS_URL and settings.IM_PUBLIC_TCP
    ):
        found.append(
            f"listening on {host} without IM_PUBLIC_HOST: GET /api/gateway/ names this "
            f"machine's host name {public_host(host)!r}; set IM_PUBLIC_HOST (or "
            "IM_PUBLIC_WS_URL and IM_PUBLIC_TCP) to the address clients dial"
        )
    if settings.IM_HTTPS and not settings.IM_PUBLIC_WS_URL:
        found.append(
            "IM_HTTPS is on but IM_PUBLIC_WS_URL is not set: GET /api/gateway/ names "
            "this node's own ws:// address, not the proxy's wss:// one"
        )
    if settings.DEBUG:
        found.append(
            "IM_DEBUG is on: error pages show settings and local variables; "
            "for development on this machine only"
        )
    return found
