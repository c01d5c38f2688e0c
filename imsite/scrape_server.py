"""The Prometheus exposition on a port of its own (a Celery worker's
IM_METRICS_WORKER_PORT), under the access rule of the /metrics view: GET /metrics
answered to IM_METRICS_ALLOW's addresses or with the IM_METRICS_TOKEN bearer, 403
otherwise; any other path 404. Bound to IM_METRICS_WORKER_ADDR (loopback unless
configured otherwise)."""

from __future__ import annotations

import json
import socket
import threading
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import REGISTRY, make_wsgi_app

from imsite.scrape import REFUSED, access_allowed


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Quiet(WSGIRequestHandler):
    def log_message(self, format, *args) -> None:  # scrapes are not log lines
        pass


def _json(start_response, status: str, detail: str) -> list[bytes]:
    body = json.dumps({"detail": detail}).encode()
    start_response(status, [("Content-Type", "application/json"),
                            ("Content-Length", str(len(body)))])
    return [body]


def guarded(app):
    """`app` for GET /metrics and the clients the access rule lets in."""
    def guarded_app(environ, start_response):
        if environ.get("PATH_INFO") != "/metrics":
            return _json(start_response, "404 Not Found", "not found")
        if environ.get("REQUEST_METHOD") != "GET":
            return _json(start_response, "405 Method Not Allowed", "GET only")
        if not access_allowed(environ.get("REMOTE_ADDR") or "",
                              environ.get("HTTP_X_FORWARDED_FOR"),
                              environ.get("HTTP_AUTHORIZATION") or ""):
            return _json(start_response, "403 Forbidden", REFUSED)
        return app(environ, start_response)
    return guarded_app


def serve_metrics(address: str, port: int) -> WSGIServer:
    """Serve the registry on address:port from a daemon thread; returns the server."""
    server_class = _Server6 if ":" in address else _Server
    server = make_server(address, port, guarded(make_wsgi_app(REGISTRY)),
                         server_class=server_class, handler_class=_Quiet)
    threading.Thread(target=server.serve_forever, name="metrics-port", daemon=True).start()
    return server
