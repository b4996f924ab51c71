"""restart_policy "reassign": a component whose manager stays dead moves, with its state."""

from __future__ import annotations

import pytest

from tests.support import Cluster, http, wait_until

pytestmark = pytest.mark.timeout(120)


def node(node_id: str) -> dict[str, object]:
    return {"type": "Node", "node_id": node_id, "ports": {}, "attributes": {"k": node_id}}


def test_a_reassign_component_moves_with_its_state_and_stays_moved(cluster: Cluster) -> None:
    cluster.start_core()
    cluster.start_cm("romgr1")
    cluster.start_cm("romgr2")
    moving = {"type": "Network", "cm_id": "romgr1", "restart_policy": "reassign"}
    moving["reassign_after"] = 1
    assert cluster.put("systemmanager/components/n0", moving).status == 201
    assert cluster.put("systemmanager/components/s0", {"type": "Network", "cm_id": "romgr1"})
    prop = cluster.get("systemmanager/components/n0").body
    assert (prop["restart_policy"], prop["reassign_after"]) == ("reassign", 1)
    assert cluster.get("systemmanager/components/s0").body["restart_policy"] == "stay"
    assert cluster.put("n0/topology/nodes/a", node("a")).status == 201
    assert cluster.put("n0/settings", {"kept": 1}).status == 200

    cluster.kill("romgr1")

    def moved() -> bool:
        body = cluster.get("systemmanager/components/n0").body
        return body["cm_id"] == "romgr2" and body["state"] == "running"

    wait_until(moved, 30, "n0 running on romgr2")
    assert cluster.get("n0/topology/nodes/a").body["attributes"]["k"] == "a"
    assert cluster.get("n0/settings").body == {"kept": 1}
    assert cluster.put("n0/topology/nodes/b", node("b")).status == 201
    stayed = cluster.get("systemmanager/components/s0").body
    assert (stayed["cm_id"], stayed["state"]) == ("romgr1", "error")

    # romgr1 comes back: the moved one stays moved (and keeps its records); s0 resumes.
    cluster.start_cm("romgr1")
    wait_until(
        lambda: cluster.get("systemmanager/components/s0").body["state"] == "running",
        20,
        "s0 back on romgr1",
    )
    assert cluster.get("systemmanager/components/n0").body["cm_id"] == "romgr2"
    assert set(cluster.get("n0/topology/nodes").body) == {"a", "b"}
    assert "n0" not in cluster.get("romgr1/components").body
    assert cluster.log("systemmanager").count("component n0 reassigned from romgr1") == 1


def test_restart_policy_is_checked_and_can_be_changed(cluster: Cluster) -> None:
    cluster.start_core()
    cluster.start_cm("romgr1")
    url = f"{cluster.rest}/systemmanager/components/n0"
    for bad in ({"restart_policy": "move"}, {"reassign_after": -1}, {"reassign_after": "5"}):
        reply = http("PUT", url, {"type": "Network", **bad})
        assert reply.status == 400 and reply.body["field"] in bad, reply
    assert cluster.get("systemmanager/components/n0").status == 404
    assert http("PUT", url, {"type": "Network"}).status == 201
    changed = http("PUT", url, {"type": "Network", "restart_policy": "reassign"})
    assert changed.status == 200 and changed.body["restart_policy"] == "reassign"
    assert cluster.get("systemmanager/components/n0").body["restart_policy"] == "reassign"
