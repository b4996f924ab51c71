"""Prometheus metrics derived from the cluster view at scrape time.

Nothing is counted twice: the numbers are read from :class:`ClusterView` when
``/metrics`` is scraped, so they cannot drift from what the REST API reports.
Served by the core process and by a standalone translator (each has a view).
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
        view = self._view
        managers = GaugeMetricFamily(
            "odenos_cluster_component_managers",
            "Live component managers by state",
            labels=["state"],
        )
        live = view.manager_ids()
        by_state = Counter(str((view.manager(cm) or {}).get("state")) for cm in live)
        for state, count in sorted(by_state.items()):
            managers.add_metric([state], count)
        yield managers
        down = GaugeMetricFamily(
            "odenos_cluster_component_managers_down",
            "Component managers that hold components but are not alive (crashed, stopped, "
            "cut off from ZooKeeper)",
            labels=["manager"],
        )
        for cm_id in sorted(set(view.known_manager_ids()) - set(live)):
            if view.owned_by(cm_id):
                down.add_metric([cm_id], 1)
        yield down
        components = GaugeMetricFamily(
            "odenos_cluster_components",
            "Desired components by observed state and by the manager that holds them",
            labels=["state", "manager"],
        )
        states = Counter(
            (view.component_status(cid)[0], str(view.owner_of(cid))) for cid in view.desired_ids()
        )
        for (state, manager), count in sorted(states.items()):
            components.add_metric([state, manager], count)
        yield components


def register_cluster_metrics(view: ClusterView) -> None:
    """Once per process: the core process and a standalone translator each call it."""
    REGISTRY.register(ClusterCollector(view))
