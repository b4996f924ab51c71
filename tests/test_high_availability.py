"""ODENOS on a standalone ZooKeeper ensemble: losing a ZooKeeper server loses nothing.

Three real servers; the core and a component manager point at all three with
``zookeeper.embed off``; the ensemble's leader is killed with SIGKILL.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ensemble import Ensemble, mode
from tests.support import Cluster, wait_until


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
