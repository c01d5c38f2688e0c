"""Log lines: readable text, or one JSON object per line (IM_LOG_FORMAT=json), each
with the id of the work it belongs to: `c<connection id>` for a WebSocket or TCP
connection, `r<request id>` for an HTTP request, `-` for the node's own work.

The id lives in a context variable: set where a connection or request starts, it
follows every task and callback created from there. Message bodies and tokens are
never put in a log message (docs/operations.md, Logs); nothing here adds them.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import time
from contextvars import ContextVar

from asgiref.sync import iscoroutinefunction, markcoroutinefunction

CONTEXT: ContextVar[str] = ContextVar("im_log_context", default="-")
# A request id a proxy sends is kept if it is this plain; otherwise one is made up.
REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def set_connection(conn_id: str) -> None:
    CONTEXT.set(f"c{conn_id}")


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.ctx = CONTEXT.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "ctx": getattr(record, "ctx", "-"),
            "msg": record.getMessage(),
        }
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def _request_id(request) -> str:
    given = request.headers.get("x-request-id", "")
    return given if REQUEST_ID.match(given) else secrets.token_hex(8)


class RequestIdMiddleware:
    """Every HTTP request gets an id (the proxy's X-Request-ID when plain, else a new
    one): on its log lines and in the answer's X-Request-ID header. Sync and async, so
    that it adds no hop between the two to a request."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response) -> None:
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request):
        if iscoroutinefunction(self):
            return self._acall(request)
        request_id = _request_id(request)
        # Not reset on the way out: Django logs a 4xx or 5xx answer after the
        # middleware returns, and each request runs in a task (a context) of its own.
        CONTEXT.set(f"r{request_id}")
        response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response

    async def _acall(self, request):
        request_id = _request_id(request)
        CONTEXT.set(f"r{request_id}")
        response = await self.get_response(request)
        response["X-Request-ID"] = request_id
        return response
