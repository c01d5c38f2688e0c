"""python manage.py imcluster status | drain NODE"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from realtime import runtime
from realtime.cluster.status import cluster_status


class Command(BaseCommand):
    help = "Show the cluster's nodes and ring, or drain a node as SIGTERM would."

    def add_arguments(self, parser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("status", help="print what GET /api/cluster/ answers")
        drain = sub.add_parser("drain", help="drain a node: it leaves the ring and stops")
        drain.add_argument("node", help="the node's id, as `status` shows it")

    def handle(self, *args, action: str, node: str | None = None, **options):
        registry = runtime.registry()
        status = cluster_status(registry)
        if action == "status":
            self.stdout.write(json.dumps(status, indent=2))
            return
        if node not in {n["node"] for n in status["nodes"]}:
            raise CommandError(f"no live node {node!r}; see `imcluster status`")
        registry.request_drain(node)
        self.stdout.write(f"asked {node} to drain; it leaves the ring within a heartbeat")
