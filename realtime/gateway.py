"""This node's public addresses, as the registry records them for GET /api/gateway/.

From configuration only, never from a request's Host header (anyone can send any Host,
and an answer built from it would send clients wherever the sender liked):
IM_PUBLIC_WS_URL and IM_PUBLIC_TCP when set; otherwise built from IM_PUBLIC_HOST, else
the address the server listens on, and the ports it listens on. A wildcard listen
address (0.0.0.0, ::) is nothing a client can dial: this machine's host name stands in
for it, and imserver warns at start that IM_PUBLIC_HOST should be set.
"""

from __future__ import annotations

import ipaddress
import socket

from django.conf import settings

WILDCARD_HOSTS = frozenset({"0.0.0.0", "::"})



def public_host(listen_host: str) -> str:
    """The host name clients dial to reach a socket listening on listen_host."""
    if settings.IM_PUBLIC_HOST:
        return settings.IM_PUBLIC_HOST
    if listen_host in WILDCARD_HOSTS:
        return socket.gethostname()
    return listen_host


def host_port(host: str, port: int) -> str:
    """host:port, with an IPv6 literal in brackets."""
    try:
        is_ipv6 = ipaddress.ip_address(host).version == 6
    except ValueError:
        is_ipv6 = False
    return f"[{host}]:{port}" if is_ipv6 else f"{host}:{port}"


def public_ws_url(http: tuple[str, int]) -> str:
    return settings.IM_PUBLIC_WS_URL or f"ws://{host_port(public_host(http[0]), http[1])}/ws/"


def public_tcp(tcp: tuple[str, int] | None) -> str | None:
    if tcp is None:
        return None  # this node does not serve TCP
    return settings.IM_PUBLIC_TCP or host_port(public_host(tcp[0]), tcp[1])


def node_id(http: tuple[str, int], *, worker: int | None = None) -> str:
    """IM_NODE_ID, else the public HTTP address: unique within a cluster. The workers
    of `imserver --workers N` share that address: worker i is `<that>/i`."""
    base = settings.IM_NODE_ID or host_port(public_host(http[0]), http[1])
    return base if worker is None else f"{base}/{worker}"
