"""DummyDriver below a Network, in another process: flows go to established and back."""

from __future__ import annotations

from typing import Any

from tests.support import Cluster, http, wait_until


def flow(flow_id: str, enabled: bool = True) -> dict[str, Any]:
    return {
        "type": "BasicFlow",
        "flow_id": flow_id,
        "owner": "test",
        "enabled": enabled,
        "priority": 100,
        "matches": [{"type": "BasicFlowMatch", "in_node": "n1", "in_port": "p1"}],
        "path": [],
        "edge_actions": {"n1": [{"type": "FlowActionOutput", "output": "p2"}]},
        "attributes": {},
    }


def status(cluster: Cluster, flow_id: str) -> str | None:
    reply = cluster.get(f"network0/flows/{flow_id}")
    return reply.body.get("status") if reply.status == 200 else None


def test_dummy_driver_establishes_and_tears_down_flows(cluster: Cluster) -> None:
    cluster.start_core()
    cluster.start_cm("romgr1")
    cluster.start_cm("romgr2")
    cluster.create_network("network0", "romgr1")
    # A flow that exists before the driver is connected is driven too.
    assert cluster.put("network0/flows/early", flow("early")).status == 201
    driver = {"type": "DummyDriver", "cm_id": "romgr2"}
    assert cluster.put("systemmanager/components/driver0", driver).status == 201
    conn = {
        "id": "c0",
        "type": "LogicAndNetwork",
        "connection_type": "original",
        "logic_id": "driver0",
        "network_id": "network0",
    }
    assert http("PUT", f"{cluster.rest}/systemmanager/connections/c0", conn).status == 201
    wait_until(lambda: status(cluster, "early") == "established", 10, "early established")

    assert cluster.put("network0/flows/f1", flow("f1")).status == 201
    wait_until(lambda: status(cluster, "f1") == "established", 10, "f1 established")

    # Disabled: torn down to none, and kept.
    disabled = {**cluster.get("network0/flows/f1").body, "enabled": False}
    assert cluster.put("network0/flows/f1", disabled).status == 200
    wait_until(lambda: status(cluster, "f1") == "none", 10, "f1 torn down")
    # Enabled again: established again.
    enabled = {**cluster.get("network0/flows/f1").body, "enabled": True}
    assert cluster.put("network0/flows/f1", enabled).status == 200
    wait_until(lambda: status(cluster, "f1") == "established", 10, "f1 established again")

    # Deleted: the network asks for teardown, the driver says none, the flow is gone.
    assert cluster.delete("network0/flows/f1").status == 200
    wait_until(lambda: cluster.get("network0/flows/f1").status == 404, 10, "f1 removed")

    # Disconnected: the driver stops driving.
    assert cluster.delete("systemmanager/connections/c0").status == 200
    assert cluster.put("network0/flows/f2", flow("f2")).status == 201
    assert status(cluster, "f2") == "none"
