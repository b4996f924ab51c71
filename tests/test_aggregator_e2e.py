"""The Aggregator end to end: real processes, real ZooKeeper, networks in other managers.

``network0`` (the original, on romgr1) has a DummyDriver below it (romgr2);
``network1`` (the aggregated, on romgr2) shows network0 as one node, made by
``aggregator0`` (romgr3, a process of its own so that it can be restarted
without losing the networks, which keep their state in memory).
"""

from __future__ import annotations

from typing import Any

from tests.support import Cluster, wait_until
from tests.topology import TIMEOUT, build_line, connect, flow_of, link, node, ok, port, status_of

AGG = "aggregator0"  # also the aggregated node's id


# --- bodies ----------------------------------------------------------------------------------


def agg_flow(flow_id: str, in_port: str, out_port: str) -> dict[str, Any]:
    return {
        "type": "BasicFlow",
        "flow_id": flow_id,
        "owner": "test",
        "enabled": True,
        "priority": 100,
        "matches": [{"type": "BasicFlowMatch", "in_node": AGG, "in_port": in_port}],
        "path": [],
        "edge_actions": {AGG: [{"type": "FlowActionOutput", "output": out_port}]},
        "attributes": {"bandwidth": "10"},
    }


# --- helpers ---------------------------------------------------------------------------------


def agg_ports(cluster: Cluster) -> dict[str, Any] | None:
    """The aggregated node's ports in network1, or None while it has no such node."""
    reply = cluster.get(f"network1/topology/nodes/{AGG}")
    return reply.body["ports"] if reply.status == 200 else None


def start(cluster: Cluster) -> None:
    cluster.write_config(processes=("romgr1", "romgr2", "romgr3"))
    cluster.start_core()
    for cm in ("romgr1", "romgr2", "romgr3"):
        cluster.start_cm(cm)
    cluster.create_network("network0", "romgr1")
    cluster.create_network("network1", "romgr2")
    for comp_id, comp_type, cm in (
        ("driver0", "DummyDriver", "romgr2"),
        (AGG, "Aggregator", "romgr3"),
    ):
        ok(
            cluster.put(f"systemmanager/components/{comp_id}", {"type": comp_type, "cm_id": cm}),
            201,
        )
    connect(cluster, "c-driver", "original", "driver0", "network0")
    connect(cluster, "c-original", "original", AGG, "network0")
    connect(cluster, "c-aggregated", "aggregated", AGG, "network1")


EDGE = {"node001_port0011", "node003_port0032"}


# --- tests -----------------------------------------------------------------------------------


def test_aggregated_node_flows_and_statuses(cluster: Cluster) -> None:
    start(cluster)
    types = cluster.get("systemmanager/component_types").body
    assert types["Aggregator"]["connection_types"] == {"original": "1", "aggregated": "1"}

    # The topology, built after the connections: the aggregated node follows it.
    build_line(cluster)
    wait_until(lambda: set(agg_ports(cluster) or {}) == EDGE, TIMEOUT, "the edge ports shown")
    shown = agg_ports(cluster)
    assert shown is not None
    assert shown["node001_port0011"]["attributes"]["vendor"] == "acme"
    assert shown["node003_port0032"]["attributes"]["max_bandwidth"] == "1000"
    assert shown["node001_port0011"]["node_id"] == AGG
    assert list(cluster.get("network1/topology").body["nodes"]) == [AGG]

    # A new edge port shows; linked, it no longer is an edge port; removed, it goes.
    ok(cluster.put("network0/topology/nodes/node002/ports/port0023", port("node002", "port0023")))
    wait_until(lambda: "node002_port0023" in (agg_ports(cluster) or {}), TIMEOUT, "port0023 shown")
    ok(cluster.put("network0/topology/nodes/node003/ports/port0033", port("node003", "port0033")))
    wait_until(lambda: "node003_port0033" in (agg_ports(cluster) or {}), TIMEOUT, "port0033 shown")
    ok(
        cluster.put(
            "network0/topology/links/l23", link("l23", "node002/port0023", "node003/port0033")
        )
    )
    wait_until(lambda: set(agg_ports(cluster) or {}) == EDGE, TIMEOUT, "linked ports hidden")
    ok(cluster.delete("network0/topology/links/l23"), 200)
    wait_until(lambda: len(agg_ports(cluster) or {}) == 4, TIMEOUT, "unlinked ports shown again")
    ok(cluster.delete("network0/topology/nodes/node002/ports/port0023"), 200)
    ok(cluster.delete("network0/topology/nodes/node003/ports/port0033"), 200)
    wait_until(lambda: set(agg_ports(cluster) or {}) == EDGE, TIMEOUT, "deleted ports gone")

    # A flow across the aggregated node becomes a flow along the line, established by
    # the driver, and the aggregated flow follows it to established.
    flow = agg_flow("flow01", "node001_port0011", "node003_port0032")
    ok(cluster.put("network1/flows/flow01", flow), 201)
    wait_until(
        lambda: status_of(cluster, "network1", "flow01") == "established",
        TIMEOUT,
        "flow01 established above",
    )
    below = flow_of(cluster, "network0", f"{AGG}_flow01")
    assert below is not None and below["status"] == "established"
    assert below["path"] == ["link0012", "link0023"]
    assert below["matches"] == [
        {"type": "BasicFlowMatch", "in_node": "node001", "in_port": "port0011"}
    ]
    assert below["edge_actions"] == {
        "node003": [{"type": "FlowActionOutput", "output": "port0032"}]
    }
    assert (below["priority"], below["owner"], below["attributes"]) == (
        "100",
        "test",
        {"bandwidth": "10"},
    )

    # Disabled above: torn down below, and above to none; enabled again: established again.
    current = flow_of(cluster, "network1", "flow01")
    ok(cluster.put("network1/flows/flow01", {**current, "enabled": False}), 200)
    wait_until(
        lambda: (
            status_of(cluster, "network0", f"{AGG}_flow01") == "none"
            and status_of(cluster, "network1", "flow01") == "none"
        ),
        TIMEOUT,
        "flow01 torn down below and above",
    )
    current = flow_of(cluster, "network1", "flow01")
    ok(cluster.put("network1/flows/flow01", {**current, "enabled": True}), 200)
    wait_until(
        lambda: status_of(cluster, "network1", "flow01") == "established",
        TIMEOUT,
        "flow01 established again",
    )

    # Deleted above: the aggregated network asks for teardown, the original flow is
    # deleted (torn down by the driver), then both are gone.
    ok(cluster.delete("network1/flows/flow01"), 200)
    wait_until(
        lambda: (
            flow_of(cluster, "network1", "flow01") is None
            and flow_of(cluster, "network0", f"{AGG}_flow01") is None
        ),
        TIMEOUT,
        "flow01 gone above and below",
    )

    # No path: an island node with an edge port.  The flow fails with a reason, and
    # nothing is put below; once a link reaches the island, it is carried after all.
    ok(cluster.put("network0/topology/nodes/node004", node("node004")))
    ok(cluster.put("network0/topology/nodes/node004/ports/port0041", port("node004", "port0041")))
    wait_until(lambda: "node004_port0041" in (agg_ports(cluster) or {}), TIMEOUT, "port0041 shown")
    ok(
        cluster.put(
            "network1/flows/flow02", agg_flow("flow02", "node001_port0011", "node004_port0041")
        ),
        201,
    )
    wait_until(
        lambda: status_of(cluster, "network1", "flow02") == "failed", TIMEOUT, "flow02 failed"
    )
    failed = flow_of(cluster, "network1", "flow02")
    assert failed is not None and "no path" in failed["attributes"]["reason"]
    assert flow_of(cluster, "network0", f"{AGG}_flow02") is None
    ok(cluster.put("network0/topology/nodes/node003/ports/port0034", port("node003", "port0034")))
    ok(cluster.put("network0/topology/nodes/node004/ports/port0042", port("node004", "port0042")))
    ok(
        cluster.put(
            "network0/topology/links/link0034",
            link("link0034", "node003/port0034", "node004/port0042"),
        )
    )
    wait_until(
        lambda: status_of(cluster, "network1", "flow02") == "established",
        TIMEOUT,
        "flow02 carried once a path exists",
    )
    recovered = flow_of(cluster, "network1", "flow02")
    assert recovered is not None and "reason" not in recovered["attributes"]
    below = flow_of(cluster, "network0", f"{AGG}_flow02")
    assert below is not None and below["path"] == ["link0012", "link0023", "link0034"]

    # A flow that names no port of the aggregated node fails too.
    ok(
        cluster.put("network1/flows/flow03", agg_flow("flow03", "node001_port0011", "nosuch_port")),
        201,
    )
    wait_until(
        lambda: status_of(cluster, "network1", "flow03") == "failed", TIMEOUT, "flow03 failed"
    )

    # Disconnected from the aggregated network: the node goes, the original flows go,
    # and nothing else in network0 is touched.
    ok(
        cluster.put(
            "network0/flows/mine", {**below, "flow_id": "mine", "version": None, "status": None}
        ),
        201,
    )
    ok(cluster.delete("systemmanager/connections/c-aggregated"), 200)
    wait_until(lambda: agg_ports(cluster) is None, TIMEOUT, "the aggregated node removed")
    wait_until(
        lambda: flow_of(cluster, "network0", f"{AGG}_flow02") is None,
        TIMEOUT,
        "the original flow removed",
    )
    assert flow_of(cluster, "network0", "mine") is not None


def test_aggregator_rebuilds_after_its_manager_restarts(cluster: Cluster) -> None:
    start(cluster)
    build_line(cluster)
    wait_until(lambda: set(agg_ports(cluster) or {}) == EDGE, TIMEOUT, "the edge ports shown")
    for flow_id in ("keep", "drop"):
        flow = agg_flow(flow_id, "node001_port0011", "node003_port0032")
        ok(cluster.put(f"network1/flows/{flow_id}", flow), 201)
        wait_until(
            lambda f=flow_id: status_of(cluster, "network1", f) == "established",
            TIMEOUT,
            f"{flow_id} established",
        )

    cluster.kill("romgr3")
    # While the Aggregator is away: a new edge port, and a flow deleted above.  The
    # aggregated network asks for teardown, which nobody answers yet.
    ok(cluster.put("network0/topology/nodes/node002/ports/port0029", port("node002", "port0029")))
    ok(cluster.delete("network1/flows/drop"), 200)
    assert status_of(cluster, "network1", "drop") == "teardown"

    cluster.start_cm("romgr3")
    wait_until(
        lambda: "node002_port0029" in (agg_ports(cluster) or {}),
        TIMEOUT,
        "the new port shown after the restart",
    )
    wait_until(
        lambda: (
            flow_of(cluster, "network1", "drop") is None
            and flow_of(cluster, "network0", f"{AGG}_drop") is None
        ),
        TIMEOUT,
        "the dropped flow gone above and below",
    )
    # The other flow was left as it was, and is still followed.
    assert status_of(cluster, "network1", "keep") == "established"
    assert status_of(cluster, "network0", f"{AGG}_keep") == "established"
    ok(cluster.delete("network1/flows/keep"), 200)
    wait_until(
        lambda: (
            flow_of(cluster, "network0", f"{AGG}_keep") is None
            and flow_of(cluster, "network1", "keep") is None
        ),
        TIMEOUT,
        "keep gone above and below",
    )


def test_openflow_flows_go_through_the_aggregator_to_the_driver(cluster: Cluster) -> None:
    """Issue 9: an OFPFlow in ODENOS's shape on the aggregated node is carried below as an
    OFPFlow (its OpenFlow fields, actions and timeouts), established by the DummyDriver,
    and the aggregated flow comes back established; deleted, both go."""
    start(cluster)
    build_line(cluster)
    wait_until(lambda: set(agg_ports(cluster) or {}) == EDGE, TIMEOUT, "the edge ports shown")
    set_field = {
        "type": "OFPFlowActionSetField",
        "match": {"type": "OFPFlowMatch", "eth_src": "ab:ff:ab:ff:ab:ff"},
    }
    flow = {
        "type": "OFPFlow",
        "version": "0",
        "flow_id": "ofp01",
        "owner": "logic",
        "enabled": True,
        "status": "none",
        "attributes": {"bandwidth": "0", "req_bandwidth": "0", "latency": "0"},
        "idle_timeout": 60,
        "hard_timeout": 300,
        "matches": [
            {
                "type": "OFPFlowMatch",
                "in_node": AGG,
                "in_port": "node001_port0011",
                "eth_type": 2048,
                "ip_proto": 6,
                "ipv4_dst": "10.0.0.2",
                "tcp_dst": 10001,
            }
        ],
        "path": [],
        "edge_actions": {
            AGG: [
                set_field,
                {"type": "OFPFlowActionPushVlan", "eth_type": 0x8100},
                {"type": "FlowActionOutput", "output": "node003_port0032"},
            ]
        },
    }
    ok(cluster.put("network1/flows/ofp01", flow), 201)
    wait_until(
        lambda: status_of(cluster, "network1", "ofp01") == "established",
        TIMEOUT,
        "ofp01 established above",
    )
    below = flow_of(cluster, "network0", f"{AGG}_ofp01")
    assert below is not None and below["status"] == "established"
    assert (below["type"], below["idle_timeout"], below["hard_timeout"]) == ("OFPFlow", 60, 300)
    assert below["path"] == ["link0012", "link0023"]
    assert below["matches"] == [
        {
            "type": "OFPFlowMatch",
            "in_node": "node001",
            "in_port": "port0011",
            "eth_type": 2048,
            "ip_proto": 6,
            "ipv4_dst": "10.0.0.2",
            "tcp_dst": 10001,
        }
    ]
    assert below["edge_actions"] == {
        "node003": [
            set_field,
            {"type": "OFPFlowActionPushVlan", "eth_type": 0x8100},
            {"type": "FlowActionOutput", "output": "port0032"},
        ]
    }
    # Found below by ODENOS's OpenFlow queries.
    found = cluster.get(
        'network0/flows?type=OFPFlow&match="type=OFPFlowMatch,tcp_dst=10001"'
        '&actions="type=OFPFlowActionPushVlan,eth_type=33024,edge_node=node003"'
    ).body["flows"]
    assert set(found) == {f"{AGG}_ofp01"}
    above = flow_of(cluster, "network1", "ofp01")
    assert above is not None and above["type"] == "OFPFlow" and above["idle_timeout"] == 60

    # A change of a timeout above is carried below.
    ok(cluster.put("network1/flows/ofp01", {**above, "idle_timeout": 30}), 200)
    wait_until(
        lambda: (flow_of(cluster, "network0", f"{AGG}_ofp01") or {}).get("idle_timeout") == 30,
        TIMEOUT,
        "the new idle_timeout below",
    )
    # Deleted above: torn down and gone, above and below.
    ok(cluster.delete("network1/flows/ofp01"), 200)
    wait_until(
        lambda: (
            flow_of(cluster, "network1", "ofp01") is None
            and flow_of(cluster, "network0", f"{AGG}_ofp01") is None
        ),
        TIMEOUT,
        "ofp01 gone above and below",
    )


def test_packets_go_through_the_aggregator_and_the_driver_sends_them(cluster: Cluster) -> None:
    """As ODENOS's Aggregator: an InPacket queued in the original network at an edge port
    is moved to the aggregated network (at that port of the aggregated node), one at an
    inner port is dropped; an OutPacket queued in the aggregated network goes down to the
    original network, where the DummyDriver sends it (takes it out of the queue)."""
    start(cluster)
    build_line(cluster)
    wait_until(lambda: set(agg_ports(cluster) or {}) == EDGE, TIMEOUT, "the edge ports shown")
    header = {"type": "OFPFlowMatch", "in_node": "node001", "in_port": "port0011"}
    sent = {
        "type": "OFPInPacket",
        "node": "node001",
        "port": "port0011",
        "header": {**header, "eth_type": 2054},
        "data": "AAEC",
        "attributes": {"seen": "1"},
        "time": 12.5,
    }
    assert cluster.post("network0/packets/in", sent).status == 200
    inner = {**sent, "port": "port0012", "attributes": {"seen": "inner"}}
    assert cluster.post("network0/packets/in", inner).status == 200

    def queued(network: str, queue: str) -> list[dict[str, Any]]:
        listing = cluster.get(f"{network}/packets/{queue}?attributes=").body
        return list(listing.values()) if isinstance(listing, dict) else []

    wait_until(lambda: queued("network1", "in"), TIMEOUT, "the in-packet up")
    wait_until(lambda: not queued("network0", "in"), TIMEOUT, "both taken from network0")
    (up,) = queued("network1", "in")
    assert (up["type"], up["node"], up["port"], up["time"]) == (
        "OFPInPacket",
        AGG,
        "node001_port0011",
        12.5,
    )
    assert up["header"] == {
        "type": "OFPFlowMatch",
        "in_node": AGG,
        "in_port": "node001_port0011",
        "eth_type": 2054,
    }
    assert up["attributes"] == {"seen": "1"}  # the inner one was dropped

    out = {
        "type": "OutPacket",
        "node": AGG,
        "ports": ["node003_port0032"],
        "header": {"type": "BasicFlowMatch", "in_node": AGG, "in_port": "node001_port0011"},
        "data": "AAEC",
    }
    assert cluster.post("network1/packets/out", out).status == 200
    wait_until(
        lambda: cluster.get("network0/packets").body["out_packet_count"] == 1,
        TIMEOUT,
        "the out-packet down",
    )
    wait_until(
        lambda: not queued("network0", "out") and not queued("network1", "out"),
        TIMEOUT,
        "the out-packet sent by the driver",
    )
