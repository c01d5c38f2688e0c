"""Firebase Cloud Messaging, HTTP v1 API: a data message to one registration token.

The access token comes from the service account (google-auth), fetched over the
same httpx client and refreshed before it expires. FCM's answers: 200 sent; 404
(UNREGISTERED) the token is gone; 400 (INVALID_ARGUMENT) and 403
(SENDER_ID_MISMATCH) are refusals, never "gone"; 401 (our token), 429 and 5xx are
transient.
"""

from __future__ import annotations

import json
import threading
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from google.auth import exceptions as auth_exceptions
from google.auth import transport
from google.oauth2 import service_account

from notifications.providers.base import BAD, TRANSIENT, Outcome, classify
from notifications.providers.dialing import configured_client

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"


class _Response(transport.Response):
    def __init__(self, response: httpx.Response) -> None:
        self._response = response

    @property
    def status(self) -> int:
        return self._response.status_code

    @property
    def headers(self):
        return dict(self._response.headers)

    @property
    def data(self) -> bytes:
        return self._response.content


class _HttpxRequest(transport.Request):
    """google-auth's transport over our httpx client (no `requests` needed)."""

    def __call__(self, url, method="GET", body=None, headers=None, timeout=None, **kwargs):
        try:
            response = configured_client().request(method, url, content=body, headers=headers,
                                             timeout=timeout or settings.IM_PUSH_TIMEOUT_S)
        except httpx.HTTPError as exc:
            raise auth_exceptions.TransportError(str(exc)) from exc
        return _Response(response)


class FcmProvider:
    def __init__(self, credentials_file: str, base_url: str) -> None:
        self._credentials = service_account.Credentials.from_service_account_file(
            credentials_file, scopes=[SCOPE])
        self._project = settings.IM_PUSH_FCM_PROJECT or self._credentials.project_id
        self._url = f"{base_url.rstrip('/')}/v1/projects/{self._project}/messages:send"
        parts = urlsplit(base_url)
        self._host = f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}"
        self._lock = threading.Lock()

    def host_of(self, target: object) -> str:
        return self._host

    def _access_token(self) -> str:
        with self._lock:
            if not self._credentials.valid:
                self._credentials.refresh(_HttpxRequest())
            return self._credentials.token

    def send(self, *, target: object, secret: str, payload: dict, key: str) -> Outcome:
        try:
            token = self._access_token()
        except auth_exceptions.GoogleAuthError as exc:
            return Outcome(TRANSIENT, None, f"FCM credentials: {exc}"[:300])
        # FCM data values are strings; the collapse key groups a channel's messages.
        message = {"token": target, "data": {k: str(v) for k, v in payload.items()},
                   "android": {"collapse_key": payload["channel"]}}
        try:
            response = configured_client().post(
                self._url, content=json.dumps({"message": message}).encode(),
                headers={"Authorization": f"Bearer {token}",
                         "Content-Type": "application/json"})
        except httpx.TimeoutException:
            return Outcome(TRANSIENT, None, "timed out")
        except httpx.HTTPError as exc:
            return Outcome(TRANSIENT, None, f"{type(exc).__name__}: {exc}"[:300])
        if response.status_code == 401:
            with self._lock:
                self._credentials.token = None  # refreshed before the retry
            return Outcome(TRANSIENT, 401, "FCM refused our access token")
        if response.status_code == 403:
            return Outcome(BAD, 403, response.text[:200])
        return classify(response.status_code, response.headers, response.text[:200])
