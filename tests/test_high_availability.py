"""ODENOS on a standalone ZooKeeper ensemble: losing a ZooKeeper server loses nothing.

Three real servers; the core and a component manager point at all three with
``zookeeper.embed off``; the ensemble's leader is killed with SIGKILL.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from odenos.zk.embedded import free_port
from tests.ensemble import Ensemble, mode
from tests.support import Cluster, http, wait_until


@pytest.fixture
def ensemble(tmp_path: Path) -> Iterator[Ensemble]:
    e = Ensemble(tmp_path / "ensemble")
    try:
        e.start_all()
        yield e
    finally:
        e.stop_all()


def test_killing_the_zookeeper_leader_loses_no_session_and_no_component(
    ensemble: Ensemble, tmp_path: Path
) -> None:
    (tmp_path / "odenos").mkdir()
    chroot = f"/odenos-{uuid.uuid4().hex[:8]}"
    cluster = Cluster(tmp_path / "odenos", ensemble.connect_string, chroot)
    try:
        # A session timeout with room for a leader election (tickTime 200 ms here).
        cluster.write_config(extra="zookeeper.session_timeout 6000")
        cluster.start_core()
        cluster.start_cm("romgr1")
        cluster.create_network("network0")
        _, stat = cluster.zk.get("/component_managers/romgr1")
        owner = stat.ephemeralOwner

        leader = ensemble.leader()
        ensemble.kill(leader)
        survivors = [p for i, p in enumerate(ensemble.client_ports) if i != leader]
        wait_until(
            lambda: {mode(p) for p in survivors} == {"leader", "follower"},
            30,
            "a new leader among the two survivors",
            interval=0.1,
        )

        # Writes work again: a new component is created through the whole protocol.
        created = wait_until(
            lambda: (
                cluster.put(
                    "systemmanager/components/network1", {"type": "Network", "cm_id": "romgr1"}
                ).status
                in (200, 201)
            ),
            30,
            "a component created after the failover",
            interval=0.2,
        )
        assert created
        # Nobody's session was lost: same ephemeral owner, nothing re-registered, nothing in error.
        _, stat = cluster.zk.get("/component_managers/romgr1")
        assert stat.ephemeralOwner == owner
        states = {c: p["state"] for c, p in cluster.get("systemmanager/components").body.items()}
        assert states == {"network0": "running", "network1": "running"}
        assert "lost its ZooKeeper session" not in cluster.log("romgr1")
        assert cluster.get("network0/topology").status == 200

        # The dead server comes back and rejoins; the system does not notice.
        ensemble.start(leader)
        wait_until(
            lambda: mode(ensemble.client_ports[leader]) in ("leader", "follower"),
            30,
            "the old leader to rejoin",
            interval=0.1,
        )
        assert cluster.get("systemmanager/components/network1").body["state"] == "running"
    finally:
        cluster.close()


def test_a_standby_system_manager_takes_over_and_nothing_is_lost(
    ensemble: Ensemble, tmp_path: Path
) -> None:
    """Two core processes on one ensemble: one active, one standby whose translator
    sends system manager requests to the active one.  The active one is killed with
    SIGKILL: the standby is elected, takes over, and components, connections,
    subscriptions and settings are all there; no answer meanwhile is a 500."""
    (tmp_path / "odenos").mkdir()
    chroot = f"/odenos-{uuid.uuid4().hex[:8]}"
    cluster = Cluster(tmp_path / "odenos", ensemble.connect_string, chroot)
    try:
        core_a = cluster.write_config(extra="zookeeper.session_timeout 4000")
        cluster.start_core()
        cluster.start_cm("romgr1")
        # The second core: same cluster, its own REST port and var.dir.
        rest_b = free_port()
        text = core_a.read_text().replace(f"rest.port {cluster.rest_port}", f"rest.port {rest_b}")
        core_b = core_a.with_name("core-b.conf")
        core_b.write_text(text + f"var.dir {tmp_path / 'var-b'}\n")
        cluster.config_path = core_b
        cluster.spawn("systemmanager-b", "systemmanager")
        cluster.config_path = core_a
        rest_b_url = f"http://127.0.0.1:{rest_b}"

        def both_listed() -> dict[str, Any] | None:
            reply = http("GET", f"{rest_b_url}/systemmanager/property")
            body = reply.body if reply.status == 200 else {}
            roles = sorted(i["role"] for i in body.get("instances", []))
            return body if roles == ["active", "standby"] else None

        # Answered by the active one, through the standby's translator.
        standby = wait_until(both_listed, 30, "the standby registered")
        assert standby["role"] == "active"
        assert len(cluster.ls("/system_manager")) == 2
        active_instance = standby["instance"]

        cluster.create_network("network0", "romgr1")
        node = {"node_id": "n1", "type": "Node", "ports": {}, "attributes": {"k": "v"}}
        assert cluster.put("network0/topology/nodes/n1", node).status == 201
        assert cluster.put("systemmanager/components/agg", {"type": "Aggregator"}).status == 201
        conn = {
            "type": "LogicAndNetwork",
            "connection_type": "original",
            "logic_id": "agg",
            "network_id": "network0",
        }
        assert cluster.put("systemmanager/connections/c1", conn).status == 201
        subscription = {"subscriber_id": "watcher", "event_filters": {"network0": ["NodeChanged"]}}
        path = "eventmanager/settings/event_subscriptions/watcher"
        assert cluster.put(path, subscription).status == 200
        assert cluster.put("systemmanager/settings", {"kept": True}).status == 200

        cluster.kill("systemmanager")
        statuses: list[int] = []

        def created() -> bool:
            body = {"type": "Network", "cm_id": "romgr1"}
            reply = http("PUT", f"{rest_b_url}/systemmanager/components/network1", body)
            statuses.append(reply.status)
            return reply.status in (200, 201)

        wait_until(created, 30, "a component created through the standby", interval=0.1)
        assert not [s for s in statuses if s >= 500 and s != 503], statuses

        now = http("GET", f"{rest_b_url}/systemmanager/property").body
        assert now["role"] == "active" and now["instance"] != active_instance
        assert cluster.ls("/system_manager") == ["systemmanager"]
        components = http("GET", f"{rest_b_url}/systemmanager/components").body
        assert set(components) == {"network0", "agg", "network1"}
        assert (
            http("GET", f"{rest_b_url}/network0/topology/nodes/n1").body["attributes"]["k"] == "v"
        )
        assert http("GET", f"{rest_b_url}/systemmanager/connections/c1").status == 200
        assert http("GET", f"{rest_b_url}/{path}").body["event_filters"] == {
            "network0": ["NodeChanged"]
        }
        assert http("GET", f"{rest_b_url}/systemmanager/settings").body == {"kept": True}
    finally:
        cluster.close()
