"""The retention run on a thread of the server, for deployments without a broker
(IM_RETENTION_IN_SERVER; with a broker, Celery beat schedules messaging.tasks)."""

from __future__ import annotations

import logging
import threading

from django.conf import settings
from django.db import connection

from messaging.services.retention import retention_run_configured

log = logging.getLogger(__name__)


class RetentionThread:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._started = False
        self._stop = threading.Event()

    def start(self) -> None:
        with self._lock:
            if self._started or not settings.IM_RETENTION_IN_SERVER:
                return
            self._started = True
            threading.Thread(target=self._loop, name="im-retention", daemon=True).start()

    def _loop(self) -> None:
        while not self._stop.wait(settings.IM_RETENTION_INTERVAL_S):
            try:
                retention_run_configured()
            except Exception:
                log.exception("the retention run failed; the next one tries again")
            finally:
                # Runs are rare: no connection is kept between them.
                connection.close()

    def stop(self) -> None:
        self._stop.set()


RETENTION = RetentionThread()
