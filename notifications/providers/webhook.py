"""The generic provider: a signed HTTP POST (docs/protocol.md, Notifications)."""

from __future__ import annotations

import hashlib
import hmac
import json
from urllib.parse import urlsplit

import httpx

from notifications.providers.base import BAD, TRANSIENT, Outcome, classify
from notifications.providers.dialing import url_target_client
from notifications.targets import TargetRefused


def sign(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookProvider:
    def host_of(self, target: object) -> str:
        parts = urlsplit(str(target))
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return f"{parts.hostname}:{port}"

    def send(self, *, target: object, secret: str, payload: dict, key: str) -> Outcome:
        url = str(target)
        body = json.dumps(payload, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", "Idempotency-Key": key,
                   "X-IM-Signature": sign(body, secret)}
        try:
            response = url_target_client().post(url, content=body, headers=headers)
        except TargetRefused as exc:  # a private address, found when dialling
            return Outcome(BAD, None, str(exc))
        except httpx.TimeoutException:
            return Outcome(TRANSIENT, None, "timed out")
        except httpx.HTTPError as exc:
            return Outcome(TRANSIENT, None, f"{type(exc).__name__}: {exc}"[:300])
        return classify(response.status_code, response.headers, response.text[:200])
