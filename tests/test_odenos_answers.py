"""ODENOS's answers where they differed (issue 9, item 2), over HTTP against running daemons.

Each body is written as ODENOS's documents and clients write it; each expected
status is the one ODENOS's sources give (``Network.java``, ``SystemManager.java``).
"""

from __future__ import annotations

import uuid
from typing import Any

from tests.support import Cluster
from tests.test_network_openflow import SAMPLE_FLOW


def node(node_id: str, **extra: Any) -> dict[str, Any]:
    return {"type": "Node", "node_id": node_id, "ports": {}, "attributes": {}, **extra}


def port(node_id: str, port_id: str, **attributes: Any) -> dict[str, Any]:
    return {"type": "Port", "node_id": node_id, "port_id": port_id, "attributes": attributes}


def flow(flow_id: str, status: str) -> dict[str, Any]:
    return {
        "type": "BasicFlow",
        "flow_id": flow_id,
        "owner": "sample",
        "enabled": True,
        "priority": 32768,
        "status": status,
        "attributes": {},
        "matches": [{"type": "BasicFlowMatch", "in_node": "n1", "in_port": "p1"}],
        "path": [],
        "edge_actions": {"n1": [{"type": "FlowActionOutput", "output": "p2"}]},
    }


def started(cluster: Cluster) -> None:
    cluster.start_core()
    cluster.start_cm("romgr1")
    cluster.create_network("network0")
    assert cluster.put("network0/topology/nodes/n1", node("n1")).status == 201
    for port_id in ("p1", "p2"):
        assert (
            cluster.put(f"network0/topology/nodes/n1/ports/{port_id}", port("n1", port_id)).status
            == 201
        )


def test_topology_and_packet_answers_as_odenos_gives_them(cluster: Cluster) -> None:
    started(cluster)
    # The version in a PUT that creates an object is ignored (201, version 1).
    created = cluster.put("network0/topology/nodes/n2", node("n2", version="5"))
    assert created.status == 201 and str(created.body["version"]) == "1"
    reply = cluster.put("network0/topology/nodes/n2/ports/p9", {**port("n2", "p9"), "version": "7"})
    assert reply.status == 201
    # ...but an update still names the stored version.
    assert cluster.put("network0/topology/nodes/n2", node("n2", version="5")).status == 409
    # Ports may share a physical_id.
    for node_id, port_id in (("n1", "p1"), ("n2", "p9")):
        path = f"network0/topology/nodes/{node_id}/ports/{port_id}/attributes"
        assert cluster.put(path, {"physical_id": "same@phys"}).status == 200
    assert cluster.get("network0/topology/physical_ports/same@phys").status == 200
    # Deleting what is not there: 200 for a node, a port of a known node, a packet; the
    # port of an unknown node and an unknown link stay 404.
    assert cluster.delete("network0/topology/nodes/ghost").status == 200
    assert cluster.delete("network0/topology/nodes/n1/ports/ghost").status == 200
    assert cluster.delete("network0/topology/nodes/ghost/ports/p1").status == 404
    assert cluster.delete("network0/topology/links/ghost").status == 404
    assert cluster.delete("network0/packets/in/0000000042").status == 200
    # The head of an empty queue: 204, no body.
    for method in ("GET", "DELETE"):
        for queue in ("in", "out"):
            reply = cluster.request(method, f"network0/packets/{queue}/head")
            assert (reply.status, reply.body) == (204, None), (method, queue)
    # An OutPacket with ports and an empty ports-except (ODENOS's clients send both).
    out = {
        "type": "OutPacket",
        "node": "n1",
        "ports": ["p2"],
        "ports-except": [],
        "header": {"type": "BasicFlowMatch", "in_node": "n1", "in_port": "p1"},
        "data": "AAEC",
    }
    posted = cluster.post("network0/packets/out", out)
    assert posted.status == 200 and posted.body["ports"] == ["p2"]
    head = cluster.request("GET", "network0/packets/out/head")
    assert head.status == 200 and head.body["packet_id"] == posted.body["packet_id"]
    # GET packets/<queue>: ODENOS's PacketStatus, its half filled; with the attributes
    # query (its only one) the matching packets by packet_id.
    status = cluster.get("network0/packets/out").body
    assert status["type"] == "PacketStatus" and status["out_packets"] == [posted.body["packet_id"]]
    assert (status["in_packet_count"], status["in_packets"]) == (0, None)
    found = cluster.get("network0/packets/out?attributes=missing=x")
    assert (found.status, found.body) == (200, {})
    assert cluster.get("network0/packets/out?in_node=n1").status == 400
    # Default attributes, as ODENOS fills them when a body has none.
    assert cluster.get("network0/topology/nodes/n2").body["attributes"] == {
        "oper_status": "UP",
        "vendor": "unknown",
    }
    assert cluster.get("network0/topology/nodes/n1/ports/p2").body["attributes"] == {
        "oper_status": "UP",
        "vendor": "unknown",
        "is_boundary": "false",
        "physical_id": "p2@n1",
    }
    assert cluster.get("network0/topology/physical_ports/p2@n1").body["port_id"] == "p2"
    link = {"src_node": "n1", "src_port": "p2", "dst_node": "n2", "dst_port": "p9"}
    assert cluster.put("network0/topology/links/l1", link).body["attributes"] == {
        "oper_status": "UP",
        "cost": "1",
    }
    # A default set to null in a merge comes back; a value given is kept.
    merged = cluster.put("network0/topology/links/l1/attributes", {"cost": None, "x": "y"})
    assert merged.body["attributes"] == {"oper_status": "UP", "cost": "1", "x": "y"}
    # A DELETE whose body names another version is 409; the right one deletes.
    assert cluster.request("DELETE", "network0/topology/links/l1", {"version": "99"}).status == 409
    version = cluster.get("network0/topology/links/l1").body["version"]
    reply = cluster.request("DELETE", "network0/topology/links/l1", {"version": version})
    assert reply.status == 200
    assert cluster.delete("network0/topology/physical_nodes/ghost").status == 200
    # A query key given twice: the last value counts, as in ODENOS.
    query = "attributes=vendor=acme&attributes=vendor=unknown"
    assert set(cluster.get(f"network0/topology/nodes?{query}").body) == {"n1", "n2"}


def test_flow_answers_as_odenos_gives_them(cluster: Cluster) -> None:
    started(cluster)
    # A flow may be created in any status (a driver reports one it found established).
    for flow_id, status in (("f-est", "established"), ("f-none", "none"), ("f-fail", "failed")):
        reply = cluster.put(f"network0/flows/{flow_id}", flow(flow_id, status))
        assert reply.status == 201 and reply.body["status"] == status, reply
    posted = cluster.post("network0/flows", flow("ignored", "establishing"))
    assert posted.status == 200 and posted.body["status"] == "establishing"
    # DELETE of a flow answers 200 with no body, also while its teardown is pending.
    reply = cluster.delete("network0/flows/f-est")
    assert (reply.status, reply.body) == (200, None)
    assert cluster.get("network0/flows/f-est").body["status"] == "teardown"
    assert cluster.delete("network0/flows/f-none").status == 200
    assert cluster.get("network0/flows/f-none").status == 404
    assert cluster.delete("network0/flows/ghost").status == 404


def test_system_manager_answers_as_odenos_gives_them(cluster: Cluster) -> None:
    started(cluster)
    # A PUT of a component that exists: 409, as ODENOS (nothing changes).
    body = {"type": "Network", "id": "network0", "cm_id": "romgr1"}
    reply = cluster.put("systemmanager/components/network0", body)
    assert reply.status == 409 and reply.body["error"] == "Conflict"
    assert cluster.get("network0/topology/nodes/n1").status == 200
    # An extension: a PUT that changes only the restart policy updates it.
    policy = {**body, "restart_policy": "reassign"}
    assert cluster.put("systemmanager/components/network0", policy).status == 200
    # POST connections generates the id (a UUID), whatever id the body gives.
    driver = {"type": "DummyDriver", "id": "driver0"}
    assert cluster.put("systemmanager/components/driver0", driver).status == 201
    conn = {
        "id": "chosen",
        "type": "LogicAndNetwork",
        "connection_type": "original",
        "logic_id": "driver0",
        "network_id": "network0",
    }
    reply = cluster.post("systemmanager/connections", conn)
    assert reply.status == 200, reply
    conn_id = reply.body["id"]
    assert conn_id != "chosen" and str(uuid.UUID(conn_id)) == conn_id
    assert cluster.get(f"systemmanager/connections/{conn_id}").status == 200
    assert cluster.get("systemmanager/connections/chosen").status == 404
    assert cluster.delete(f"systemmanager/connections/{conn_id}").status == 200


def test_openflow_flows_and_packets_over_http(cluster: Cluster) -> None:
    """Issue 9, item 1: ODENOS's OpenFlow shapes through the REST translator."""
    started(cluster)
    reply = cluster.put("network0/flows/flow01", SAMPLE_FLOW)
    assert reply.status == 201, reply
    assert reply.body == {**SAMPLE_FLOW, "version": "1", "priority": "32768"}
    assert cluster.get("network0/flows/flow01").body == reply.body
    # Queries as ODENOS's clients write them (quoted sub-queries).
    query = 'flows?type=OFPFlow&match="type=OFPFlowMatch,tcp_dst=10001,eth_type=2048"'
    assert set(cluster.get(f"network0/{query}").body["flows"]) == {"flow01"}
    query = 'flows?type=OFPFlow&actions="type=OFPFlowActionSetField,eth_src=ab:ff:ab:ff:ab:ff"'
    assert set(cluster.get(f"network0/{query}").body["flows"]) == {"flow01"}
    assert cluster.get("network0/flows?type=OFPFlow&idle_timeout=59").body["flows"] == {}
    # A wrong field type or an unknown action: 400 with a JSON body naming the field.
    bad = {**SAMPLE_FLOW, "flow_id": "flow02", "idle_timeout": "60"}
    reply = cluster.put("network0/flows/flow02", bad)
    assert reply.status == 400 and reply.body["field"] == "idle_timeout", reply
    bad = {**SAMPLE_FLOW, "flow_id": "flow02", "edge_actions": {"n1": [{"type": "OFPDrop"}]}}
    reply = cluster.put("network0/flows/flow02", bad)
    assert reply.status == 400 and reply.body["field"] == "edge_actions.n1[0].type", reply
    assert cluster.get("network0/flows/flow02").status == 404
    # Packets of ODENOS's rest_packet.sample.
    header = {"type": "OFPFlowMatch", "in_node": "n1", "in_port": "p1"}
    sent = {"type": "OFPInPacket", "node": "n1", "port": "p1", "header": header, "data": ""}
    reply = cluster.post("network0/packets/in", {**sent, "attributes": {}})
    assert reply.status == 200 and reply.body["type"] == "OFPInPacket", reply
    assert reply.body["time"] == 0.0 and reply.body["header"] == header
    out = {"type": "OFPOutPacket", "node": "n1", "ports": ["p2"], "header": header, "data": ""}
    reply = cluster.post("network0/packets/out", out)
    assert reply.status == 200 and reply.body["type"] == "OFPOutPacket", reply
    # ODENOS queued an OFPInPacket posted to packets/out; here it is a clear 400.
    reply = cluster.post("network0/packets/out", {**sent, "ports": ["p2"]})
    assert reply.status == 400 and reply.body["field"] == "type", reply
    assert cluster.get("network0/packets").body["out_packet_count"] == 1
