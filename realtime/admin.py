from django.contrib import admin
from django.utils.html import format_html_join

from realtime import runtime
from realtime.cluster.status import cluster_status
from realtime.models import ClusterRing


@admin.register(ClusterRing)
class ClusterRingAdmin(admin.ModelAdmin):
    """Read-only: the ring and the nodes the registry holds now."""

    list_display = ("version", "members", "changed")
    readonly_fields = ("version", "members", "changed", "nodes")

    @admin.display(description="nodes (registry)")
    def nodes(self, obj):
        rows = cluster_status(runtime.registry())["nodes"]
        return format_html_join(
            "", "<div>{} {} ws={} tcp={} connections={}</div>",
            ((n["node"], n["state"], n["ws"], n["tcp"], n["connections"]) for n in rows),
        ) or "none"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
