"""Apple Push Notification service: HTTP/2 with a provider token (ES256 JWT).

`POST <IM_PUSH_APNS_URL>/3/device/<device token>`, an alert with the preview (or a
plain "New message" when previews are off) and the notification's fields under
"im"; `apns-collapse-id` is the channel. The token is signed with the .p8 key and
reused for 40 minutes (Apple refuses one older than an hour, and one renewed more
often than every 20 minutes). Answers: 200 sent; 410 (Unregistered) gone; 400
(BadDeviceToken included: never taken as "gone"), 413 and most 403s failed; 403
ExpiredProviderToken (a new token is made), 429 and 5xx transient.
"""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from functools import cached_property
from urllib.parse import urlsplit

import httpx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from django.conf import settings

from notifications.providers.base import BAD, TRANSIENT, Outcome, classify

TOKEN_REUSE_S = 40 * 60


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def provider_token(key: ec.EllipticCurvePrivateKey, key_id: str, team_id: str,
                   issued_at: int) -> str:
    header = _b64url(json.dumps({"alg": "ES256", "kid": key_id}).encode())
    claims = _b64url(json.dumps({"iss": team_id, "iat": issued_at}).encode())
    signing_input = f"{header}.{claims}".encode()
    r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
    return f"{header}.{claims}.{_b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


class ApnsProvider:
    def __init__(self, *, key_file: str, key_id: str, team_id: str, topic: str,
                 base_url: str) -> None:
        with open(key_file, "rb") as f:
            self._key = serialization.load_pem_private_key(f.read(), password=None)
        self._key_id, self._team_id, self._topic = key_id, team_id, topic
        self._base = base_url.rstrip("/")
        parts = urlsplit(base_url)
        self._host = f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}"
        self._lock = threading.Lock()
        self._token: tuple[int, str] | None = None

    @cached_property
    def _client(self) -> httpx.Client:
        # HTTP/2 only (APNs speaks nothing else): ALPN over TLS, prior knowledge on a
        # plain-text test URL.
        transport = httpx.HTTPTransport(
            http1=False, http2=True,
            socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)])
        return httpx.Client(transport=transport, timeout=settings.IM_PUSH_TIMEOUT_S)

    def host_of(self, target: object) -> str:
        return self._host

    def _bearer(self, *, renew: bool = False) -> str:
        with self._lock:
            now = int(time.time())
            if renew or self._token is None or now - self._token[0] >= TOKEN_REUSE_S:
                self._token = (now, provider_token(self._key, self._key_id, self._team_id, now))
            return self._token[1]

    def send(self, *, target: object, secret: str, payload: dict, key: str) -> Outcome:
        body = {"aps": {"alert": {"body": payload.get("preview", "New message")},
                        "sound": "default", "mutable-content": 1},
                "im": payload}
        headers = {"authorization": f"bearer {self._bearer()}", "apns-topic": self._topic,
                   "apns-push-type": "alert", "apns-priority": "10",
                   "apns-collapse-id": payload["channel"][:64]}
        try:
            response = self._client.post(f"{self._base}/3/device/{target}",
                                         content=json.dumps(body).encode(), headers=headers)
        except httpx.TimeoutException:
            return Outcome(TRANSIENT, None, "timed out")
        except httpx.HTTPError as exc:
            return Outcome(TRANSIENT, None, f"{type(exc).__name__}: {exc}"[:300])
        reason = _reason(response)
        if response.status_code == 403:
            if reason == "ExpiredProviderToken":
                self._bearer(renew=True)
                return Outcome(TRANSIENT, 403, reason)
            return Outcome(BAD, 403, reason)
        return classify(response.status_code, response.headers, reason)


def _reason(response: httpx.Response) -> str:
    try:
        return str(response.json().get("reason", ""))[:200]
    except ValueError:
        return response.text[:200]
