"""The HTTP clients of the push providers, and the private-address rule at delivery.

A URL target (webhook, Web Push endpoint) is chosen by a user, so its host is
resolved once, when the connection is made, and the connection goes to an address of
that answer only after every address in it proved public (PROTOCOL.md section 10;
unless IM_PUSH_ALLOW_PRIVATE). Checking a name and then letting the HTTP library
resolve it again would dial whatever a second lookup returns (DNS rebinding). The
URL keeps the name, so the Host header and TLS (SNI, certificate) are unchanged.

FCM and APNs talk to base URLs the operator configured (IM_PUSH_FCM_URL,
IM_PUSH_APNS_URL), not to addresses a user picked: their clients dial as configured,
so a relay on a private network stays possible.
"""

from __future__ import annotations

import socket
import typing
from functools import cache

import httpcore
import httpx
from django.conf import settings

from notifications.targets import public_addresses

# TCP_NODELAY: a request's headers and body go out in two writes, and Nagle plus the
# receiver's delayed ACK would hold the body back ~40 ms on a kept-alive connection.
NODELAY = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]


class PublicOnlyBackend(httpcore.SyncBackend):
    """httpcore's network backend, dialling only addresses it resolved and vetted.

    A refused host raises TargetRefused (the provider records the notification as
    failed); a name that does not resolve is a ConnectError (retried, like any
    network failure)."""

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None,
                    socket_options: typing.Iterable | None = None) -> httpcore.NetworkStream:
        if settings.IM_PUSH_ALLOW_PRIVATE:
            return super().connect_tcp(host, port, timeout, local_address, socket_options)
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            raise httpcore.ConnectError(f"cannot resolve {host!r}: {exc}") from exc
        last: Exception | None = None
        for info in public_addresses(host, infos):
            try:
                return super().connect_tcp(info[4][0], port, timeout, local_address,
                                           socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        raise last or httpcore.ConnectError(f"no address for {host!r}")


class PublicOnlyTransport(httpx.HTTPTransport):
    """httpx's transport over a connection pool that dials through PublicOnlyBackend."""

    def __init__(self, *, limits: httpx.Limits,
                 socket_options: typing.Iterable | None = None) -> None:
        super().__init__(limits=limits, socket_options=socket_options)
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            socket_options=socket_options, network_backend=PublicOnlyBackend())


LIMITS = httpx.Limits(max_connections=64, max_keepalive_connections=32)


@cache
def url_target_client() -> httpx.Client:
    """For webhooks and Web Push: one pool per process, shared by the delivering
    threads; no redirects followed (a redirect would be a URL nobody vetted)."""
    return httpx.Client(timeout=settings.IM_PUSH_TIMEOUT_S, follow_redirects=False,
                        transport=PublicOnlyTransport(limits=LIMITS, socket_options=NODELAY))


@cache
def configured_client() -> httpx.Client:
    """For FCM (and its OAuth token endpoint): the operator's URLs, dialled as they are."""
    transport = httpx.HTTPTransport(limits=LIMITS, socket_options=NODELAY)
    return httpx.Client(timeout=settings.IM_PUSH_TIMEOUT_S, follow_redirects=False,
                        transport=transport)
