"""What a scrape of /metrics reads from the running node when it comes: live
connections by transport, the bytes queued for them, the cluster as this node sees
it. Nothing here is updated per message (imsite/metrics.py holds the counters)."""

from __future__ import annotations

from prometheus_client.core import GaugeMetricFamily

from realtime import runtime


class NodeCollector:
    def describe(self):
        return []  # collected lazily: nothing to check at registration

    def collect(self):
        node = runtime.running_node()
        if node is None:
            return
        conns = GaugeMetricFamily("im_connections", "Live connections, by transport.",
                                  labels=["transport"])
        authed = GaugeMetricFamily("im_connections_authenticated",
                                   "Live connections that have authenticated.")
        by_transport = {"ws": 0, "tcp": 0}
        authenticated = 0
        biggest = total = 0
        for session in list(node.sessions.values()):
            by_transport["tcp" if session.adapter.form == "tcp" else "ws"] += 1
            authenticated += session.authenticated
            queued = session.queued_bytes
            total += queued
            biggest = max(biggest, queued)
        for transport, count in by_transport.items():
            conns.add_metric([transport], count)
        authed.add_metric([], authenticated)
        yield conns
        yield authed
        yield GaugeMetricFamily("im_outbound_queued_bytes_max",
                                "Largest number of bytes queued for one connection.", biggest)
        yield GaugeMetricFamily("im_outbound_queued_bytes",
                                "Bytes queued for all connections of this node.", total)
        ring = node.member.ring
        yield GaugeMetricFamily("im_nodes", "Active nodes in the ring this node serves.",
                                len(ring.members))
        yield GaugeMetricFamily("im_ring_version", "Version of the ring this node serves.",
                                ring.version)
        yield GaugeMetricFamily("im_node_draining", "1 while this node drains.",
                                int(node.draining))
