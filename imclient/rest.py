"""A small JSON-over-HTTP client for the server's REST API.

urllib runs in a worker thread (asyncio.to_thread): REST calls are rare (login,
gateway, history), so a thread per call keeps this module tiny and dependency-free.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.parse
import urllib.request

from .errors import ApiError, NetworkError


class Rest:
    def __init__(self, base_url: str, *, timeout: float = 15.0) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must be an http:// or https:// URL, got {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    async def call(
        self,
        method: str,
        path: str,
        *,
        body: object = None,
        token: str | None = None,
        query: dict | None = None,
    ) -> object:
        """Send one request; return the decoded JSON (None for an empty body).

        Raises ApiError for a 4xx/5xx answer and NetworkError when the server
        cannot be reached.
        """
        return await asyncio.to_thread(self._call, method, path, body, token, query)

    def _call(self, method: str, path: str, body: object, token: str | None,
              query: dict | None) -> object:
        url = self.base_url + path
        if query:
            url += "?" + urllib.parse.urlencode(
                {k: v for k, v in query.items() if v is not None}
            )
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Token {token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                payload = response.read()
        except urllib.error.HTTPError as error:
            raw = error.read()
            raise ApiError(error.code, _decode(raw), method, path) from None
        except (urllib.error.URLError, OSError) as error:
            raise NetworkError(f"{method} {url}: {error}") from None
        return _decode(payload)


def _decode(payload: bytes) -> object:
    if not payload:
        return None
    try:
        return json.loads(payload)
    except ValueError:
        return payload.decode("utf-8", "replace")
