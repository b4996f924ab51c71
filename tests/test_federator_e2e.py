"""The Federator end to end, modelled on ODENOS's ``apps/rest_sample/rest_federator.sh``:
real processes, real ZooKeeper, networks in other managers.

``network00`` and ``network01`` (the originals, on romgr1), each with a DummyDriver
(romgr2), are shown as one network ``network02`` (romgr2) by ``federator`` (romgr3, a
process of its own so that it can be killed without losing the networks)::

    network00: (node001)[port0012] -- [port0021](node002)[port0022]
                                                        |  federator_boundary1
    network01:                              [port0011](node001)[port0012] -- [port0021](node002)

plus port0011 and port0013 on each node001 and port0022 on each node002.
"""

from __future__ import annotations

from typing import Any

from tests.support import Cluster, wait_until
from tests.topology import TIMEOUT, connect, flow_of, link, node, ok, port, status_of

FED = "federator"
B1 = "federator_boundary1"
BOUNDARY = {
    "id": B1,
    "type": "Federator",
    "network1": "network00",
    "node1": "node002",
    "port1": "port0022",
    "network2": "network01",
    "node2": "node001",
    "port2": "port0011",
}
CROSSING = ["network00_link0012", f"{B1}_link01", "network01_link0012"]


def start(cluster: Cluster) -> None:
    cluster.write_config(processes=("romgr1", "romgr2", "romgr3"))
    cluster.start_core()
    for cm in ("romgr1", "romgr2", "romgr3"):
        cluster.start_cm(cm)
    cluster.create_network("network00", "romgr1")
    cluster.create_network("network01", "romgr1")
    cluster.create_network("network02", "romgr2")
    for comp_id, comp_type, cm in (
        ("driver00", "DummyDriver", "romgr2"),
        ("driver01", "DummyDriver", "romgr2"),
        (FED, "Federator", "romgr3"),
    ):
        ok(
            cluster.put(f"systemmanager/components/{comp_id}", {"type": comp_type, "cm_id": cm}),
            201,
        )
    connect(cluster, "driver_nw00", "original", "driver00", "network00")
    connect(cluster, "driver_nw01", "original", "driver01", "network01")
    connect(cluster, "federator_nw00", "original", FED, "network00")
    connect(cluster, "federator_nw01", "original", FED, "network01")
    connect(cluster, "federator_nw02", "federated", FED, "network02")


def build(cluster: Cluster) -> None:
    for nw in ("network00", "network01"):
        for n in ("node001", "node002"):
            ok(cluster.put(f"{nw}/topology/nodes/{n}", node(n, vendor="VENDOR_A")))
        for n, p in (
            ("node001", "port0011"),
            ("node001", "port0012"),
            ("node001", "port0013"),
            ("node002", "port0021"),
            ("node002", "port0022"),
        ):
            ok(cluster.put(f"{nw}/topology/nodes/{n}/ports/{p}", port(n, p, max_bandwidth="1000")))
        ok(
            cluster.put(
                f"{nw}/topology/links/link0012",
                link("link0012", "node001/port0012", "node002/port0021", attr="v"),
            )
        )
        ok(
            cluster.put(
                f"{nw}/topology/links/link0021",
                link("link0021", "node002/port0021", "node001/port0012"),
            )
        )


def topology(cluster: Cluster, network: str = "network02") -> dict[str, Any]:
    body = cluster.get(f"{network}/topology").body
    return body if isinstance(body, dict) else {"nodes": {}, "links": {}}


NODES = {f"{nw}_{n}" for nw in ("network00", "network01") for n in ("node001", "node002")}
LINKS = {f"{nw}_{ln}" for nw in ("network00", "network01") for ln in ("link0012", "link0021")}


def crossing_flow(flow_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "BasicFlow",
        "flow_id": flow_id,
        "owner": "test",
        "enabled": True,
        "priority": 100,
        "matches": [
            {"type": "BasicFlowMatch", "in_node": "network00_node001", "in_port": "port0011"}
        ],
        "path": CROSSING,
        "edge_actions": {"network01_node002": [{"type": "FlowActionOutput", "output": "port0022"}]},
        "attributes": {"bandwidth": "10"},
        **extra,
    }


def queued(cluster: Cluster, network: str, queue: str) -> list[dict[str, Any]]:
    listing = cluster.get(f"{network}/packets/{queue}?attributes=").body
    return list(listing.values()) if isinstance(listing, dict) else []


def out_count(cluster: Cluster, network: str) -> int:
    return int(cluster.get(f"{network}/packets").body["out_packet_count"])


def test_federation_boundaries_flows_and_packets(cluster: Cluster) -> None:
    start(cluster)
    types = cluster.get("systemmanager/component_types").body
    assert types["Federator"]["connection_types"] == {"original": "*", "federated": "1"}
    build(cluster)
    wait_until(
        lambda: (
            set(topology(cluster)["nodes"]) == NODES and set(topology(cluster)["links"]) == LINKS
        ),
        TIMEOUT,
        "the originals shown in network02",
    )
    shown = topology(cluster)
    assert set(shown["nodes"]["network00_node001"]["ports"]) == {"port0011", "port0012", "port0013"}
    assert shown["nodes"]["network00_node001"]["attributes"]["vendor"] == "VENDOR_A"
    fed_link = shown["links"]["network01_link0012"]
    assert (fed_link["src_node"], fed_link["src_port"], fed_link["dst_node"]) == (
        "network01_node001",
        "port0012",
        "network01_node002",
    )
    assert fed_link["attributes"]["attr"] == "v"

    # A boundary: its two links appear, and its ports are marked.
    assert ok(cluster.put(f"{FED}/settings/boundaries/{B1}", BOUNDARY), 200) == BOUNDARY
    assert ok(cluster.get(f"{FED}/settings/boundaries"), 200) == {B1: BOUNDARY}
    wait_until(
        lambda: {f"{B1}_link01", f"{B1}_link02"} <= set(topology(cluster)["links"]),
        TIMEOUT,
        "the boundary links",
    )
    b_link = topology(cluster)["links"][f"{B1}_link01"]
    assert (b_link["src_node"], b_link["src_port"], b_link["dst_node"], b_link["dst_port"]) == (
        "network00_node002",
        "port0022",
        "network01_node001",
        "port0011",
    )
    assert b_link["attributes"]["max_bandwidth"] == "1000"
    wait_until(
        lambda: (
            cluster.get("network00/topology/nodes/node002/ports/port0022")
            .body["attributes"]
            .get("is_boundary")
            == "true"
        ),
        TIMEOUT,
        "is_boundary on the original port",
    )
    assert ok(cluster.get(f"{FED}/original_network_node"), 200)["network01_node002"] == [
        "network01",
        "node002",
    ]
    assert ok(cluster.get(f"{FED}/federated_network_port"), 200)[
        "network00::node001::port0011"
    ] == ["network00_node001", "port0011"]
    assert ok(cluster.get(f"{FED}/original_network_link"), 200)["network00_link0012"] == [
        "network00",
        "link0012",
    ]

    # Bad input: a JSON 4xx, and nothing stored changes.
    other = {**BOUNDARY, "id": "other", "port1": "port0013"}
    for bad in (
        {**other, "port2": 7},
        {**other, "network2": "network00"},
        {**other, "type": "Slicer"},
        {k: v for k, v in other.items() if k != "node1"},
        [other],
        {**other, "extra": "x"},
        {**other, "id": "another"},
    ):
        reply = cluster.put(f"{FED}/settings/boundaries/other", bad)
        assert reply.status == 400 and "error" in reply.body, reply
    again = {**BOUNDARY, "id": None}
    assert cluster.post(f"{FED}/settings/boundaries", again).status == 409  # ports taken
    assert cluster.put(f"{FED}/settings/boundaries/{B1}", {**BOUNDARY, "port2": "x"}).status == 409
    assert cluster.delete(f"{FED}/settings/boundaries/nosuch").status == 404
    assert ok(cluster.get(f"{FED}/settings/boundaries"), 200) == {B1: BOUNDARY}

    # A flow across the boundary: one segment per network, established by the drivers,
    # and the federated flow follows to established.
    ok(cluster.put("network02/flows/flow01", crossing_flow("flow01")), 201)
    wait_until(
        lambda: status_of(cluster, "network02", "flow01") == "established",
        TIMEOUT,
        "flow01 established",
    )
    seg0 = flow_of(cluster, "network00", f"{FED}_flow01_0")
    seg1 = flow_of(cluster, "network01", f"{FED}_flow01_1")
    assert seg0 is not None and seg1 is not None
    assert seg0["status"] == seg1["status"] == "established"
    assert seg0["matches"] == [
        {"type": "BasicFlowMatch", "in_node": "node001", "in_port": "port0011"}
    ]
    assert seg0["path"] == ["link0012"]
    assert seg0["edge_actions"] == {"node002": [{"type": "FlowActionOutput", "output": "port0022"}]}
    assert seg1["matches"] == [
        {"type": "BasicFlowMatch", "in_node": "node001", "in_port": "port0011"}
    ]
    assert seg1["path"] == ["link0012"]
    assert seg1["edge_actions"] == {"node002": [{"type": "FlowActionOutput", "output": "port0022"}]}
    assert (seg1["priority"], seg1["owner"], seg1["attributes"]) == (
        "100",
        "test",
        {"bandwidth": "10"},
    )
    assert ok(cluster.get(f"{FED}/original_network_flow"), 200)["flow01"] == [
        ["network00", f"{FED}_flow01_0"],
        ["network01", f"{FED}_flow01_1"],
    ]

    # An OpenFlow flow inside one network: one segment, its fields and actions kept.
    ofp = {
        "type": "OFPFlow",
        "flow_id": "ofp01",
        "owner": "logic",
        "enabled": True,
        "priority": 10,
        "idle_timeout": 60,
        "hard_timeout": 300,
        "matches": [
            {
                "type": "OFPFlowMatch",
                "in_node": "network01_node002",
                "in_port": "port0022",
                "eth_type": 2048,
                "ipv4_dst": "10.0.0.2",
            }
        ],
        "path": ["network01_link0021"],
        "edge_actions": {
            "network01_node001": [
                {"type": "OFPFlowActionPushVlan", "eth_type": 0x8100},
                {"type": "FlowActionOutput", "output": "port0013"},
            ]
        },
    }
    ok(cluster.put("network02/flows/ofp01", ofp), 201)
    wait_until(
        lambda: status_of(cluster, "network02", "ofp01") == "established",
        TIMEOUT,
        "ofp01 established",
    )
    seg = flow_of(cluster, "network01", f"{FED}_ofp01_0")
    assert seg is not None and (seg["type"], seg["idle_timeout"]) == ("OFPFlow", 60)
    assert seg["matches"][0]["ipv4_dst"] == "10.0.0.2" and seg["path"] == ["link0021"]
    assert seg["edge_actions"]["node001"][0]["type"] == "OFPFlowActionPushVlan"

    # A flow that crosses no boundary but names two networks fails, with a reason.
    bad_flow = crossing_flow("bad01", path=["network00_link0012"])
    ok(cluster.put("network02/flows/bad01", bad_flow), 201)
    wait_until(lambda: status_of(cluster, "network02", "bad01") == "failed", TIMEOUT, "bad01")
    failed = flow_of(cluster, "network02", "bad01")
    assert failed is not None and "network00" in failed["attributes"]["reason"]

    # Packets: in at an edge port goes up (names mapped), at a boundary port is dropped.
    header = {"type": "OFPFlowMatch", "in_node": "node001", "in_port": "port0013"}
    sent = {
        "type": "OFPInPacket",
        "node": "node001",
        "port": "port0013",
        "header": {**header, "eth_src": "00:11:22:33:44:55"},
        "data": "ABCDEFGHIJKLMN",
        "attributes": {"test_attr1": "test_attr_value1"},
    }
    ok(cluster.post("network00/packets/in", sent), 200)
    at_boundary = {**sent, "node": "node002", "port": "port0022", "attributes": {"b": "1"}}
    ok(cluster.post("network00/packets/in", at_boundary), 200)
    wait_until(lambda: queued(cluster, "network02", "in"), TIMEOUT, "the in-packet up")
    wait_until(lambda: not queued(cluster, "network00", "in"), TIMEOUT, "both taken")
    (up,) = queued(cluster, "network02", "in")
    assert (up["node"], up["port"], up["header"]["in_node"], up["header"]["in_port"]) == (
        "network00_node001",
        "port0013",
        "network00_node001",
        "port0013",
    )
    assert up["attributes"] == {"test_attr1": "test_attr_value1"}
    # Out by ports: to the node's network; a flood: to every network (each node there).
    out = {"type": "OutPacket", "node": "network01_node002", "ports": ["port0022"], "data": "AA"}
    ok(cluster.post("network02/packets/out", out), 200)
    wait_until(lambda: out_count(cluster, "network01") == 1, TIMEOUT, "the out-packet down")
    flood = {"type": "OutPacket", "node": "network00_node001", "ports-except": ["port0011"]}
    ok(cluster.post("network02/packets/out", flood), 200)
    wait_until(
        lambda: out_count(cluster, "network00") == 1 and out_count(cluster, "network01") == 3,
        TIMEOUT,
        "the flood down to both networks",
    )

    # Deleted: the segments go (torn down by the drivers), then the federated flow.
    ok(cluster.delete("network02/flows/flow01"), 200)
    wait_until(
        lambda: (
            flow_of(cluster, "network02", "flow01") is None
            and flow_of(cluster, "network00", f"{FED}_flow01_0") is None
            and flow_of(cluster, "network01", f"{FED}_flow01_1") is None
        ),
        TIMEOUT,
        "flow01 gone everywhere",
    )

    # The boundary deleted: its links go, and so does the mark.
    ok(cluster.delete(f"{FED}/settings/boundaries/{B1}"), 200)
    wait_until(lambda: set(topology(cluster)["links"]) == LINKS, TIMEOUT, "the boundary links gone")
    attributes = cluster.get("network00/topology/nodes/node002/ports/port0022").body["attributes"]
    assert attributes["is_boundary"] == "false"

    # Disconnected from network01: its part goes, its segment goes, the rest stays.
    ok(cluster.delete("systemmanager/connections/federator_nw01"), 200)
    wait_until(
        lambda: set(topology(cluster)["nodes"]) == {"network00_node001", "network00_node002"},
        TIMEOUT,
        "network01's part gone",
    )
    wait_until(
        lambda: flow_of(cluster, "network01", f"{FED}_ofp01_0") is None,
        TIMEOUT,
        "ofp01's segment gone",
    )
    wait_until(
        lambda: status_of(cluster, "network02", "ofp01") == "failed", TIMEOUT, "ofp01 failed"
    )
    # Disconnected from the federated network: everything it made there goes.
    ok(cluster.delete("systemmanager/connections/federator_nw02"), 200)
    wait_until(lambda: not topology(cluster)["nodes"], TIMEOUT, "network02 emptied")


def test_federator_keeps_its_boundaries_across_a_kill(cluster: Cluster) -> None:
    start(cluster)
    build(cluster)
    posted = ok(cluster.post(f"{FED}/settings/boundaries", {**BOUNDARY, "id": None}), 200)
    b_id = posted["id"]
    assert posted == {**BOUNDARY, "id": b_id}
    crossing = ["network00_link0012", f"{b_id}_link01", "network01_link0012"]
    wait_until(
        lambda: f"{b_id}_link01" in topology(cluster)["links"], TIMEOUT, "the boundary links"
    )
    for flow_id in ("keep", "drop"):
        ok(cluster.put(f"network02/flows/{flow_id}", crossing_flow(flow_id, path=crossing)), 201)
        wait_until(
            lambda f=flow_id: status_of(cluster, "network02", f) == "established",
            TIMEOUT,
            f"{flow_id} established",
        )

    cluster.kill("romgr3")
    # While the Federator is away: a new port, and a flow deleted above.
    ok(cluster.put("network01/topology/nodes/node002/ports/port0029", port("node002", "port0029")))
    ok(cluster.delete("network02/flows/drop"), 200)
    cluster.start_cm("romgr3")

    assert ok(cluster.get(f"{FED}/settings/boundaries"), 200) == {b_id: {**BOUNDARY, "id": b_id}}
    wait_until(
        lambda: "port0029" in topology(cluster)["nodes"]["network01_node002"]["ports"],
        TIMEOUT,
        "the new port shown after the restart",
    )
    wait_until(
        lambda: (
            flow_of(cluster, "network02", "drop") is None
            and flow_of(cluster, "network00", f"{FED}_drop_0") is None
            and flow_of(cluster, "network01", f"{FED}_drop_1") is None
        ),
        TIMEOUT,
        "drop gone above and below",
    )
    assert status_of(cluster, "network02", "keep") == "established"
    assert status_of(cluster, "network01", f"{FED}_keep_1") == "established"
    # Still translating: a change of the flow re-splits it (now leaving by port0029).
    current = flow_of(cluster, "network02", "keep")
    assert current is not None
    moved = {
        **current,
        "edge_actions": {"network01_node002": [{"type": "FlowActionOutput", "output": "port0029"}]},
    }
    ok(cluster.put("network02/flows/keep", moved), 200)
    wait_until(
        lambda: (
            (flow_of(cluster, "network01", f"{FED}_keep_1") or {}).get("edge_actions")
            == {"node002": [{"type": "FlowActionOutput", "output": "port0029"}]}
        ),
        TIMEOUT,
        "keep re-split",
    )
    wait_until(
        lambda: status_of(cluster, "network02", "keep") == "established",
        TIMEOUT,
        "keep established",
    )
    # And the boundary still goes with a DELETE.
    ok(cluster.delete(f"{FED}/settings/boundaries/{b_id}"), 200)
    wait_until(
        lambda: f"{b_id}_link01" not in topology(cluster)["links"], TIMEOUT, "boundary links gone"
    )
    wait_until(lambda: status_of(cluster, "network02", "keep") == "failed", TIMEOUT, "keep failed")
