"""Prometheus metrics derived from the cluster view at scrape time.

Nothing is counted twice: the numbers are read from :class:`ClusterView` when
``/metrics`` is scraped, so they cannot drift from what the REST API reports.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY, Collector

from odenos.cluster import ClusterView


class ClusterCollector(Collector):
    def __init__(self, view: ClusterView) -> None:
        self._view = view

    def collect(self) -> Iterator[GaugeMetricFamily]:
        managers = GaugeMetricFamily(
            "odenos_component_managers", "Live component managers by state", labels=["state"]
        )
        by_state = Counter(
            str((self._view.manager(cm) or {}).get("state")) for cm in self._view.manager_ids()
        )
        for state, count in sorted(by_state.items()):
            managers.add_metric([state], count)
        yield managers
        components = GaugeMetricFamily(
            "odenos_components", "Desired components by observed state", labels=["state"]
        )
        states = Counter(self._view.component_status(cid)[0] for cid in self._view.desired_ids())
        for state, count in sorted(states.items()):
            components.add_metric([state], count)
        yield components


def register_cluster_metrics(view: ClusterView) -> None:
    """Once per process: the core process and a standalone translator each call it."""
    REGISTRY.register(ClusterCollector(view))
