"""Every daemon's Prometheus metrics (issue 10, item 3), scraped as Prometheus would,
through the REST translator: the core's at ``/metrics``, each manager's at
``/<cm_id>/metrics``.  The values move when things happen: requests, locks,
ZooKeeper operations, events, and a manager's kill -9 (refusals, the dead-manager
gauge)."""

from __future__ import annotations

import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from tests.support import Cluster, wait_until


def scrape(cluster: Cluster, path: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """``{(sample name, sorted labels): value}`` of one daemon's metrics."""
    with urllib.request.urlopen(f"{cluster.rest}/{path}", timeout=10) as resp:
        assert resp.headers["Content-Type"].startswith("text/plain")
        text = resp.read().decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    """The sum of ``name``'s samples whose labels include ``labels`` (0 if none)."""
    return sum(
        v for (n, lbls), v in samples.items() if n == name and set(labels.items()) <= set(lbls)
    )


def node(node_id: str) -> dict[str, object]:
    return {"type": "Node", "node_id": node_id, "ports": {}, "attributes": {}}


def test_each_daemon_serves_its_metrics_and_they_move(cluster: Cluster) -> None:
    cluster.start_core()
    cluster.start_cm("romgr1")
    cluster.start_cm("romgr2")
    cluster.create_network("network0", "romgr1")
    assert cluster.put("network0/topology/nodes/n1", node("n1")).status == 201

    core = scrape(cluster, "metrics")
    managers = {cm: scrape(cluster, f"{cm}/metrics") for cm in ("romgr1", "romgr2")}
    for samples in (core, *managers.values()):
        assert value(samples, "odenos_zookeeper_gate", state="UP") == 1
        assert value(samples, "odenos_zookeeper_gate", state="DOWN") == 0
        assert value(samples, "odenos_zookeeper_session_events_total", event="connected") >= 1
        assert value(samples, "odenos_zookeeper_operation_seconds_count") > 0
        assert ("odenos_zookeeper_recovering_seconds_total", ()) in samples
        assert ("odenos_zookeeper_ephemeral_recreations_total", ()) in samples
        assert ("odenos_events_queue_depth", ()) in samples
    # Locks: the managers registered under the global lock, the core won the election.
    for samples in managers.values():
        assert value(samples, "odenos_lock_wait_seconds_count", lock="global") >= 1
        assert value(samples, "odenos_lock_hold_seconds_count", lock="global") >= 1
    assert value(core, "odenos_lock_wait_seconds_count", lock="leadership") == 1
    # The translator's requests, by route template; the forward's latency; the view.
    assert (
        value(
            core,
            "odenos_rest_requests_total",
            route="/{id}/topology/nodes/{id}",
            method="PUT",
            status="201",
        )
        == 1
    )
    assert value(core, "odenos_rest_forward_seconds_count", kind="component") >= 1
    assert value(core, "odenos_cluster_components", state="running", manager="romgr1") == 1
    assert value(core, "odenos_cluster_component_managers", state="running") == 2
    # The Network published its change (nobody subscribed: published, not delivered).
    assert value(managers["romgr1"], "odenos_events_published_total") >= 1

    # kill -9 of romgr1: its objects are refused at once, by reason, and once ZooKeeper
    # has expired its session it counts as a manager down, and its component as not running.
    refused_before = value(core, "odenos_rest_refusals_total")
    cluster.kill("romgr1")
    wait_until(lambda: cluster.get("network0/topology").status == 503, 10, "a refusal")
    wait_until(
        lambda: (
            value(
                scrape(cluster, "metrics"),
                "odenos_cluster_component_managers_down",
                manager="romgr1",
            )
            == 1
        ),
        30,
        "romgr1 counted as down",
    )
    assert cluster.get("network0/topology").status == 503  # now known: its manager is down
    after = scrape(cluster, "metrics")
    assert value(after, "odenos_rest_refusals_total") > refused_before
    assert value(after, "odenos_rest_refusals_total", reason="manager_down") >= 1
    assert value(after, "odenos_cluster_components", manager="romgr1", state="running") == 0
    assert value(after, "odenos_cluster_component_managers", state="running") == 1
    # A dead manager's metrics are refused like its objects (Prometheus: the target is down).
    assert cluster.get("romgr1/metrics").status == 503
