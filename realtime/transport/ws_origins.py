"""IM_WS_ORIGINS: which web pages may open a WebSocket to /ws/.

Empty (the default): any. Otherwise a handshake whose `Origin` is neither listed nor
this server's own (the web client it serves at `/`, as the handshake's `Host` names
it) is refused with 403 before the WebSocket opens. A handshake without `Origin` is a
native client's (browsers always send one) and is accepted, as the wire contract
says. Patterns are Channels' (`OriginValidator`): `https://chat.example.org`,
`https://.example.org` for a domain and its subdomains, a port where one is used.
"""

from __future__ import annotations

from urllib.parse import urlparse

from channels.security.websocket import OriginValidator, WebsocketDenier


class BrowserOrigins(OriginValidator):
    async def __call__(self, scope, receive, send):
        headers = dict(scope.get("headers", []))
        origin = headers.get(b"origin")
        if origin is None or self._allowed(origin, headers.get(b"host")):
            return await self.application(scope, receive, send)
        return await WebsocketDenier()(scope, receive, send)

    def _allowed(self, origin: bytes, host: bytes | None) -> bool:
        try:
            parsed = urlparse(origin.decode("latin1"))
        except (UnicodeDecodeError, ValueError):
            return False
        if host is not None and parsed.netloc and parsed.netloc.encode("latin1") == host:
            return True  # same origin: the web client this server serves
        return bool(parsed.scheme and parsed.netloc) and self.validate_origin(parsed)
