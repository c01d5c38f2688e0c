"""What a metrics scrape reads from messaging (docs/operations.md, Metrics)."""

from __future__ import annotations

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from messaging.members_cache import members_cache


class MembersCacheCollector:
    """The cache of group members of this process: lookups by outcome, and its size."""

    def describe(self):
        return []

    def collect(self):
        cache = members_cache()
        lookups = CounterMetricFamily(
            "im_members_cache_lookups", "Group members looked up in this process's cache, "
            "by outcome (a miss reads them from the database).", labels=["outcome"])
        lookups.add_metric(["hit"], cache.hits)
        lookups.add_metric(["miss"], cache.misses)
        yield lookups
        yield GaugeMetricFamily("im_members_cache_groups",
                                "Groups whose members this process caches.", value=len(cache))
        yield GaugeMetricFamily("im_members_cache_members",
                                "Member ids this process caches, in all.",
                                value=cache.members_held)
