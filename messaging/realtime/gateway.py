"""Where clients of this node connect (GET /api/gateway/)."""

from __future__ import annotations

from django.conf import settings

_addresses: dict[str, tuple[str, int] | None] = {"http": None, "tcp": None}


def set_addresses(*, http: tuple[str, int] | None, tcp: tuple[str, int] | None) -> None:
    _addresses["http"] = http
    _addresses["tcp"] = tcp


def _public(address: tuple[str, int], request_host: str | None) -> str:
    host = settings.IM_PUBLIC_HOST or request_host or address[0]
    if host in ("0.0.0.0", "::"):
        host = "127.0.0.1"
    return f"{host}:{address[1]}"


def gateway_for(*, request_host: str | None) -> dict:
    """The addresses of this node as a client should dial them."""
    http, tcp = _addresses["http"], _addresses["tcp"]
    return {
        "node": settings.IM_NODE_ID or (f"{http[0]}:{http[1]}" if http else "local"),
        "ws": f"ws://{_public(http, request_host)}/ws/" if http else None,
        "tcp": _public(tcp, request_host) if tcp else None,
    }
