"""The generic provider: a signed HTTP POST (docs/protocol.md, Notifications)."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
from functools import cache
from urllib.parse import urlsplit

import httpx
from django.conf import settings

from notifications.providers.base import BAD, TRANSIENT, Outcome, classify
from notifications.targets import TargetRefused, address_check


@cache
def http_client() -> httpx.Client:
    # One pool per process, shared by the delivering threads; no redirects followed.
    # TCP_NODELAY: the request's headers and body go out in two writes, and Nagle plus
    # the receiver's delayed ACK would hold the body back ~40 ms on a kept-alive
    # connection.
    transport = httpx.HTTPTransport(
        socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
        limits=httpx.Limits(max_connections=64, max_keepalive_connections=32))
    return httpx.Client(timeout=settings.IM_PUSH_TIMEOUT_S, follow_redirects=False,
                        transport=transport)


def sign(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookProvider:
    def host_of(self, target: object) -> str:
        parts = urlsplit(str(target))
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return f"{parts.hostname}:{port}"

    def send(self, *, target: object, secret: str, payload: dict, key: str) -> Outcome:
        url = str(target)
        host, _, port = self.host_of(url).rpartition(":")
        try:
            address_check(host, int(port))
        except TargetRefused as exc:
            return Outcome(BAD, None, str(exc))
        body = json.dumps(payload, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", "Idempotency-Key": key,
                   "X-IM-Signature": sign(body, secret)}
        try:
            response = http_client().post(url, content=body, headers=headers)
        except httpx.TimeoutException:
            return Outcome(TRANSIENT, None, "timed out")
        except httpx.HTTPError as exc:
            return Outcome(TRANSIENT, None, f"{type(exc).__name__}: {exc}"[:300])
        return classify(response.status_code, response.headers, response.text[:200])
