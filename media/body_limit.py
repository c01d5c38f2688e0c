"""The request-body cap in the HTTP server, before anything is buffered.

Daphne (Twisted) reads a request's whole body into memory or a temporary file before
the ASGI application sees a byte of it, and Django's ASGI handler spools it once more
before an upload handler runs. So media.uploads.LimitedUploadHandler alone answers 413
only after an oversized body was written whole. The cap that keeps it off the disk has
to sit in the server, and this module is it, for Daphne: `LimitedHTTPFactory` builds
connections whose requests answer 413

- as soon as the headers declare a Content-Length over the limit, before the body is
  read (and with no `100 Continue`, so a client that asked first sends nothing), or
- as soon as a chunked body passes the limit,

keeping nothing of the body. The answer is followed by a half close: the client reads
the 413 instead of a reset, the rest of its body is read and dropped, and the
connection is cut after LINGER_S.

A chunked body within the limit is given its Content-Length once whole, which Django
needs to read it. The limit is IM_MAX_UPLOAD_BYTES plus the multipart framing
(media.uploads) and applies to every HTTP request: no endpoint takes a bigger body.

It takes effect where Daphne's Server is given this factory or a subclass: imserver
installs realtime.transport.http_guard.GuardedHTTPFactory, whose requests extend
LimitedWebRequest. `json_answer`, `answer_and_close` and `LimitedWebRequest.refuse`
are how any guard there answers before the application.
"""

from __future__ import annotations

import io
import json
import logging

from daphne.http_protocol import HTTPFactory, WebRequest
from django.conf import settings

from media.uploads import max_request_bytes

log = logging.getLogger(__name__)

LINGER_S = 2.0


def json_answer(status: int, reason: str, detail: str,
                headers: tuple[tuple[str, str], ...] = ()) -> bytes:
    """A whole HTTP/1.1 answer with a JSON `{"detail": ...}` body, ending the connection."""
    body = json.dumps({"detail": detail}).encode()
    head = [f"HTTP/1.1 {status} {reason}", "Content-Type: application/json",
            f"Content-Length: {len(body)}", "X-Content-Type-Options: nosniff",
            "Connection: close", *(f"{name}: {value}" for name, value in headers)]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


def _too_large_response() -> bytes:
    return json_answer(413, "Content Too Large",
                       f"The file is larger than {settings.IM_MAX_UPLOAD_BYTES} bytes.")


def answer_and_close(transport, answer: bytes) -> None:
    """Write `answer`, then close so that the client reads it instead of a reset: the
    write side is closed at once, what the client still sends is read and dropped, and
    the connection is cut after LINGER_S."""
    # Imported here: importing the reactor with this module would install Twisted's
    # default reactor before Daphne installs its asyncio one.
    from twisted.internet import reactor

    transport.write(answer)
    if hasattr(transport, "loseWriteConnection"):
        transport.loseWriteConnection()
        reactor.callLater(LINGER_S, _abort, transport)
    else:
        transport.loseConnection()


class LimitedWebRequest(WebRequest):
    """Daphne's request, refusing a body over the limit as it arrives."""

    _refused = False

    def __init__(self, *args, **kwargs):
        # Twisted's Request would parse a multipart body itself, all of it in memory,
        # into `args` that Daphne never reads, and answer a bare 400 (not JSON) if it
        # cannot. Django parses it, streaming the file to disk.
        kwargs["parsePOSTFormSubmission"] = False
        super().__init__(*args, **kwargs)

    def gotLength(self, length):
        self._body_limit = max_request_bytes()
        self._body_received = 0
        if length is not None and length > self._body_limit:
            self._refuse()
            return
        super().gotLength(length)

    def handleContentChunk(self, data):
        if self._refused:
            return  # dropped
        self._body_received += len(data)
        if self._body_received > self._body_limit:
            self._refuse()
            return
        super().handleContentChunk(data)

    def process(self):
        if self._refused:
            return None  # already answered; the application never sees this request
        if self.content is not None and not self.requestHeaders.hasHeader(b"content-length"):
            # A chunked body is whole by now, and Django reads a body only as far as
            # Content-Length says: give it the length.
            size = self.content.seek(0, io.SEEK_END)
            self.content.seek(0)
            if size:
                self.requestHeaders.setRawHeaders(b"content-length", [b"%d" % size])
        return super().process()

    def _refuse(self) -> None:
        log.info("refused a request body over %d bytes from %s", self._body_limit,
                 self.channel.transport.getPeer())
        self.refuse(_too_large_response())

    def refuse(self, answer: bytes) -> None:
        """Answer this request with `answer` before the application sees it, keep
        nothing of its body, and end the connection."""
        self._refused = True
        if getattr(self, "content", None) is not None:
            self.content.close()  # drop what was buffered (a temporary file is deleted)
        self.content = io.BytesIO()  # what Twisted reads if the body still completes
        # allHeadersReceived sends "100 Continue" after gotLength; there is nothing to
        # continue to.
        self.requestHeaders.removeHeader(b"expect")
        channel = self.channel
        channel.persistent = False
        answer_and_close(channel.transport, answer)


def _abort(transport) -> None:
    if transport.connected:
        transport.abortConnection()


class LimitedHTTPFactory(HTTPFactory):
    """Daphne's HTTP factory whose connections use LimitedWebRequest."""

    def buildProtocol(self, addr):
        protocol = super().buildProtocol(addr)
        if protocol is not None:
            protocol.requestFactory = LimitedWebRequest
        return protocol
