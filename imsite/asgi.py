"""ASGI entry point: HTTP goes to Django, /ws/ to the WebSocket adapter."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "imsite.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402
from django.urls import path  # noqa: E402

from realtime.transport.ws import WebSocketAdapter  # noqa: E402
from realtime.transport.ws_origins import BrowserOrigins  # noqa: E402

websocket = URLRouter([path("ws/", WebSocketAdapter.as_asgi())])
if settings.IM_WS_ORIGINS:
    websocket = BrowserOrigins(websocket, settings.IM_WS_ORIGINS)

application = ProtocolTypeRouter({"http": django_asgi_app, "websocket": websocket})
