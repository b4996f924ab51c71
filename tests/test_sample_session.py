"""The ODENOS sample session, as an ODENOS user's REST script runs it, over real HTTP.

Networks, an Aggregator and a DummyDriver created by PUT; connections made; a
three-node topology built from nodes, ports and links (the reference's sample
bodies); a flow put on the aggregated network and seen ``established`` in both
networks; the events seen by a REST subscriber (ODENOS's long-poll); then
everything deleted again in the allowed order, 403 first while connected.
"""

from __future__ import annotations

from typing import Any

from tests.support import Cluster, http, wait_until

TIMEOUT = 15


def ok(reply: Any, *statuses: int) -> Any:
    assert reply.status in (statuses or (200, 201)), reply
    return reply.body


def test_odenos_sample_session(cluster: Cluster) -> None:
    cluster.start_core()
    cluster.start_cm("romgr1")
    cluster.start_cm("romgr2")
    rest = cluster.rest

    def put(path: str, body: Any) -> Any:
        return http("PUT", f"{rest}/{path}", body)

    # The system: two managers; a network, an aggregator and a driver below it.
    assert [m["id"] for m in ok(cluster.get("systemmanager/component_managers"))] == [
        "romgr1",
        "romgr2",
    ]
    for comp_id, comp_type, cm_id in (
        ("network0", "Network", "romgr1"),
        ("network1", "Network", "romgr2"),
        ("aggregator0", "Aggregator", "romgr2"),
        ("driver0", "DummyDriver", "romgr1"),
    ):
        body = {"type": comp_type, "id": comp_id, "cm_id": cm_id}
        assert ok(put(f"systemmanager/components/{comp_id}", body), 201)["state"] == "running"

    # A REST client subscribes to what it wants to watch (ODENOS's long-poll).
    sid = ok(cluster.get("event/stream"))["subscription_id"]
    filters = {"network0": ["NodeChanged", "FlowChanged"], "network1": ["FlowChanged"]}
    ok(put(f"event/subscriptions/{sid}", filters))

    # Connections: the aggregator between the two networks, the driver below network0.
    for conn_id, kind, logic, network in (
        ("conn0", "original", "aggregator0", "network0"),
        ("conn1", "aggregated", "aggregator0", "network1"),
        ("conn2", "original", "driver0", "network0"),
    ):
        body = {
            "id": conn_id,
            "type": "LogicAndNetwork",
            "connection_type": kind,
            "logic_id": logic,
            "network_id": network,
        }
        ok(http("PUT", f"{rest}/systemmanager/connections/{conn_id}", body), 201)
    wait_until(
        lambda: all(
            c["state"] == "running" for c in ok(cluster.get("systemmanager/connections")).values()
        ),
        TIMEOUT,
        "the three connections running",
    )

    # The topology, with the reference's sample bodies: node001 - node002 - node003.
    for n in ("node001", "node002", "node003"):
        node = {
            "node_id": n,
            "type": "Node",
            "version": "0",
            "ports": {},
            "attributes": {"oper_status": "UP"},
        }
        assert put(f"network0/topology/nodes/{n}", node).status == 201
    ports = {
        "node001": ["port0011", "port0012"],
        "node002": ["port0021", "port0023"],
        "node003": ["port0032", "port0033"],
    }
    for n, port_ids in ports.items():
        for p in port_ids:
            body = {
                "type": "Port",
                "node_id": n,
                "port_id": p,
                "out_link": None,
                "in_link": None,
                "attributes": {},
            }
            assert put(f"network0/topology/nodes/{n}/ports/{p}", body).status == 201
    for link_id, src, dst in (
        ("link0012", ("node001", "port0012"), ("node002", "port0021")),
        ("link0021", ("node002", "port0021"), ("node001", "port0012")),
        ("link0023", ("node002", "port0023"), ("node003", "port0032")),
        ("link0032", ("node003", "port0032"), ("node002", "port0023")),
    ):
        body = {
            "type": "Link",
            "link_id": link_id,
            "src_node": src[0],
            "src_port": src[1],
            "dst_node": dst[0],
            "dst_port": dst[1],
            "attributes": {},
        }
        assert put(f"network0/topology/links/{link_id}", body).status == 201
    topology = ok(cluster.get("systemmanager/components/network0/topology"))
    assert sorted(topology["nodes"]) == ["node001", "node002", "node003"]
    assert len(topology["links"]) == 4

    # The aggregated network: one node whose ports are network0's edge ports.
    def aggregated_ports() -> list[str]:
        nodes = ok(cluster.get("network1/topology"))["nodes"]
        return sorted(nodes.get("aggregator0", {}).get("ports", {}))

    wait_until(
        lambda: aggregated_ports() == ["node001_port0011", "node003_port0033"],
        TIMEOUT,
        "the aggregated node with the two edge ports",
    )

    # A flow on the aggregated network, between the edge ports.
    flow = {
        "type": "BasicFlow",
        "flow_id": "flow01",
        "owner": "sample",
        "enabled": True,
        "priority": 100,
        "matches": [
            {"type": "BasicFlowMatch", "in_node": "aggregator0", "in_port": "node001_port0011"}
        ],
        "path": [],
        "edge_actions": {
            "aggregator0": [{"type": "FlowActionOutput", "output": "node003_port0033"}]
        },
        "attributes": {},
    }
    assert put("network1/flows/flow01", flow).status == 201

    def status(network: str, flow_id: str) -> str | None:
        reply = cluster.get(f"{network}/flows/{flow_id}")
        return reply.body.get("status") if reply.status == 200 else None

    wait_until(lambda: status("network1", "flow01") == "established", TIMEOUT, "established")
    original = ok(cluster.get("network0/flows"))["flows"]
    assert len(original) == 1
    ((original_id, original_flow),) = original.items()
    assert original_flow["status"] == "established"
    assert original_flow["path"] == ["link0012", "link0023"]

    # What the REST subscriber saw, in order per publisher.
    events: list[dict[str, Any]] = []

    def collected() -> bool:
        events.extend(ok(cluster.get(f"event/stream?subscription_id={sid}&timeout=1")))
        up = [e["body"]["curr"]["status"] for e in events if _flow_event(e, "network1")]
        return "established" in up

    wait_until(collected, TIMEOUT, "the aggregated flow's events")
    added = [e["body"]["id"] for e in events if e["event_type"] == "NodeChanged"]
    assert added[:3] == ["node001", "node002", "node003"]
    up = [e["body"]["curr"]["status"] for e in events if _flow_event(e, "network1")]
    assert up[0] == "none" and up[-1] == "established"
    assert up.index("establishing") < up.index("established")
    down = [e["body"]["curr"]["status"] for e in events if _flow_event(e, "network0")]
    assert down[-1] == "established"

    # Deleting in the allowed order: connected components first refuse (403).
    for comp_id in ("network0", "network1", "aggregator0", "driver0"):
        assert http("DELETE", f"{rest}/systemmanager/components/{comp_id}").status == 403
    assert http("DELETE", f"{rest}/network1/flows/flow01").status in (200, 202)
    wait_until(lambda: status("network1", "flow01") is None, TIMEOUT, "flow01 gone")
    wait_until(lambda: status("network0", original_id) is None, TIMEOUT, "its original gone")
    for conn_id in ("conn2", "conn1", "conn0"):
        assert http("DELETE", f"{rest}/systemmanager/connections/{conn_id}").status == 200
    for comp_id in ("driver0", "aggregator0", "network1", "network0"):
        assert http("DELETE", f"{rest}/systemmanager/components/{comp_id}").status == 200
    assert ok(cluster.get("systemmanager/components")) == {}
    assert ok(cluster.get("systemmanager/connections")) == {}
    assert cluster.ls("/components") == []
    assert http("DELETE", f"{rest}/event/subscriptions/{sid}").status == 200


def _flow_event(event: dict[str, Any], network: str) -> bool:
    return (
        event["event_type"] == "FlowChanged"
        and event["publisher_id"] == network
        and "curr" in event["body"]
    )
