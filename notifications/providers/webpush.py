"""Web Push (RFC 8030) with message encryption (RFC 8291, aes128gcm) and VAPID
(RFC 8292).

Built on the two libraries pywebpush itself uses, http-ece (encryption) and py-vapid
(the signed `Authorization: vapid t=..., k=...`), and sent over our own httpx client,
so the breaker, the timeouts and the private-address check apply as to webhooks.
The push service's answers: 201/200 sent; 404 or 410 the subscription is gone; 429
and 5xx transient; other 4xx (413 too large, 400, 401/403 a VAPID problem) failed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from urllib.parse import urlsplit

import http_ece
import httpx
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid02

from notifications.providers.base import BAD, TRANSIENT, Outcome, classify
from notifications.providers.dialing import url_target_client
from notifications.targets import TargetRefused

TTL_S = 24 * 3600
VAPID_VALID_S = 12 * 3600


def b64url_decode(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def topic_of(channel: str) -> str:
    """RFC 8030's Topic (at most 32 URL-safe base64 characters) for a channel: the push
    service keeps only the latest undelivered message of a topic."""
    return base64.urlsafe_b64encode(hashlib.sha256(channel.encode()).digest()[:24]).decode()


def encrypt(data: bytes, p256dh: str, auth: str) -> bytes:
    """The aes128gcm body for one subscription (a fresh key and salt each time)."""
    return http_ece.encrypt(data, salt=os.urandom(16),
                            private_key=ec.generate_private_key(ec.SECP256R1()),
                            dh=b64url_decode(p256dh), auth_secret=b64url_decode(auth),
                            version="aes128gcm")


class WebPushProvider:
    def __init__(self, private_key_file: str, subject: str) -> None:
        self._vapid = Vapid02.from_file(private_key_file)
        self._subject = subject

    def host_of(self, target: object) -> str:
        parts = urlsplit(str(target.get("endpoint", "")) if isinstance(target, dict) else "")
        return f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}"

    def send(self, *, target: object, secret: str, payload: dict, key: str) -> Outcome:
        endpoint = target["endpoint"]
        parts = urlsplit(endpoint)
        try:
            body = encrypt(json.dumps(payload, separators=(",", ":")).encode(),
                           target["keys"]["p256dh"], target["keys"]["auth"])
        except (ValueError, TypeError) as exc:  # keys that are no P-256 point / secret
            return Outcome(BAD, None, f"bad subscription keys: {exc}"[:300])
        headers = self._vapid.sign({"aud": f"{parts.scheme}://{parts.netloc}",
                                    "sub": self._subject,
                                    "exp": int(time.time()) + VAPID_VALID_S})
        headers.update({"Content-Encoding": "aes128gcm", "TTL": str(TTL_S),
                        "Urgency": "high", "Content-Type": "application/octet-stream",
                        "Topic": topic_of(payload["channel"])})
        try:
            response = url_target_client().post(endpoint, content=body, headers=headers)
        except TargetRefused as exc:  # a private address, found when dialling
            return Outcome(BAD, None, str(exc))
        except httpx.TimeoutException:
            return Outcome(TRANSIENT, None, "timed out")
        except httpx.HTTPError as exc:
            return Outcome(TRANSIENT, None, f"{type(exc).__name__}: {exc}"[:300])
        return classify(response.status_code, response.headers, response.text[:200])
