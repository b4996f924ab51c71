"""The LinkLayerizer end to end, after ODENOS's ``apps/rest_sample/rest_linklayerizer.sh``:
real processes, real ZooKeeper, networks in other managers.

``upper-nw`` and ``lower-nw`` (romgr1) each have a DummyDriver below them (romgr2);
``layerized-nw`` (romgr2) is made by ``linklayerizer`` (romgr3, a process of its own so
that it can be killed without losing the networks).
"""

from __future__ import annotations

from typing import Any

from tests.support import Cluster, wait_until
from tests.topology import TIMEOUT, connect, flow_of, link, node, ok, port, status_of

LL = "linklayerizer"
UP, LOW, LAY = "upper-nw", "lower-nw", "layerized-nw"
BOUNDARY1 = {
    "id": "boundary1",
    "type": "LinkLayerizer",
    "upper_nw": UP,
    "lower_nw": LOW,
    "upper_nw_node": "node002",
    "lower_nw_node": "node011",
    "upper_nw_port": "port0022",
    "lower_nw_port": "port0111",
}
BOUNDARY2 = {
    "id": "boundary2",
    "type": "LinkLayerizer",
    "upper_nw": UP,
    "lower_nw": LOW,
    "upper_nw_node": "node003",
    "lower_nw_node": "node012",
    "upper_nw_port": "port0031",
    "lower_nw_port": "port0122",
}


def lower_flow(flow_id: str, src: str, dst: str) -> dict[str, Any]:
    """An OFPFlow of lower-nw from ``src`` to ``dst`` (``node/port``), as the sample's."""
    (in_node, in_port), (out_node, out_port) = src.split("/"), dst.split("/")
    return {
        "flow_id": flow_id,
        "owner": "logic",
        "enabled": True,
        "status": "none",
        "attributes": {"bandwidth": "100", "req_bandwidth": "10", "latency": "3"},
        "type": "OFPFlow",
        "idle_timeout": 60,
        "hard_timeout": 60,
        "matches": [
            {"type": "OFPFlowMatch", "in_node": in_node, "in_port": in_port, "eth_type": 2048}
        ],
        "path": ["link0112" if in_node == "node011" else "link0121"],
        "edge_actions": {
            out_node: [
                {"type": "FlowActionOutput", "output": out_port},
                {
                    "type": "OFPFlowActionSetField",
                    "match": {"type": "OFPFlowMatch", "eth_src": "ab:ff:ab:ff:ab:ff"},
                },
            ]
        },
    }


def layerized_flow(flow_id: str, path: list[str]) -> dict[str, Any]:
    return {
        "type": "BasicFlow",
        "flow_id": flow_id,
        "owner": "test",
        "enabled": True,
        "priority": 100,
        "matches": [{"type": "BasicFlowMatch", "in_node": "node001", "in_port": "port0011"}],
        "path": path,
        "edge_actions": {"node003": [{"type": "FlowActionOutput", "output": "port0032"}]},
        "attributes": {"req_bandwidth": "5"},
    }


OFP_FLOW = {
    "type": "OFPFlow",
    "flow_id": "ofp01",
    "owner": "test",
    "enabled": True,
    "priority": 10,
    "idle_timeout": 30,
    "hard_timeout": 0,
    "matches": [
        {
            "type": "OFPFlowMatch",
            "in_node": "node001",
            "in_port": "port0011",
            "eth_type": 2048,
            "ipv4_dst": "10.0.0.2",
        }
    ],
    "path": [],
    "edge_actions": {
        "node001": [
            {
                "type": "OFPFlowActionSetField",
                "match": {"type": "OFPFlowMatch", "eth_dst": "66:77:88:99:00:11"},
            },
            {"type": "FlowActionOutput", "output": "port0013"},
        ]
    },
    "attributes": {},
}


def start(cluster: Cluster) -> None:
    cluster.write_config(processes=("romgr1", "romgr2", "romgr3"))
    cluster.start_core()
    for cm in ("romgr1", "romgr2", "romgr3"):
        cluster.start_cm(cm)
    cluster.create_network(UP, "romgr1")
    cluster.create_network(LOW, "romgr1")
    cluster.create_network(LAY, "romgr2")
    for comp_id, comp_type, cm in (
        ("driver-up", "DummyDriver", "romgr2"),
        ("driver-low", "DummyDriver", "romgr2"),
        (LL, "LinkLayerizer", "romgr3"),
    ):
        ok(
            cluster.put(f"systemmanager/components/{comp_id}", {"type": comp_type, "cm_id": cm}),
            201,
        )
    connect(cluster, "c-driver-up", "original", "driver-up", UP)
    connect(cluster, "c-driver-low", "original", "driver-low", LOW)
    connect(cluster, f"{LL}_{LAY}", "layerized", LL, LAY)
    connect(cluster, f"{LL}_{UP}", "upper", LL, UP)
    connect(cluster, f"{LL}_{LOW}", "lower", LL, LOW)


def build(cluster: Cluster) -> None:
    """The sample's topologies: node001-003 in upper-nw, node011/012 in lower-nw."""
    for n, ports in (
        ("node001", ("port0011", "port0012", "port0013")),
        ("node002", ("port0021", "port0022", "port0023", "port0024")),
        ("node003", ("port0031", "port0032", "port0033")),
    ):
        ok(cluster.put(f"{UP}/topology/nodes/{n}", node(n, vendor="VENDOR_A")))
        for p in ports:
            ok(cluster.put(f"{UP}/topology/nodes/{n}/ports/{p}", port(n, p)))
    for link_id, src, dst in (
        ("link0012", "node001/port0012", "node002/port0021"),
        ("link0021", "node002/port0021", "node001/port0012"),
    ):
        ok(cluster.put(f"{UP}/topology/links/{link_id}", link(link_id, src, dst, k=link_id)))
    for n, ports in (("node011", ("port0111", "port0112")), ("node012", ("port0121", "port0122"))):
        ok(cluster.put(f"{LOW}/topology/nodes/{n}", node(n)))
        for p in ports:
            ok(cluster.put(f"{LOW}/topology/nodes/{n}/ports/{p}", port(n, p)))
    for link_id, src, dst in (
        ("link0112", "node011/port0112", "node012/port0121"),
        ("link0121", "node012/port0121", "node011/port0112"),
    ):
        ok(cluster.put(f"{LOW}/topology/links/{link_id}", link(link_id, src, dst)))


def links_of(cluster: Cluster, network: str) -> dict[str, Any]:
    reply = cluster.get(f"{network}/topology/links")
    return reply.body if reply.status == 200 else {}


def attr(cluster: Cluster, network: str, link_id: str, key: str) -> Any:
    return links_of(cluster, network).get(link_id, {}).get("attributes", {}).get(key)


def test_linklayerizer_sample(cluster: Cluster) -> None:
    start(cluster)
    types = cluster.get("systemmanager/component_types").body
    assert types["LinkLayerizer"]["connection_types"] == {
        "lower": "1",
        "upper": "1",
        "layerized": "1",
    }
    build(cluster)
    # The upper topology is mirrored into the layerized network, same ids.
    wait_until(
        lambda: (
            set(links_of(cluster, LAY)) == {"link0012", "link0021"}
            and len(cluster.get(f"{LAY}/topology/nodes/node002").body.get("ports", {})) == 4
        ),
        TIMEOUT,
        "upper topology mirrored",
    )
    assert links_of(cluster, LAY)["link0012"]["attributes"]["k"] == "link0012"

    # Boundaries, as the sample puts them; the ports are marked.
    for b in (BOUNDARY1, BOUNDARY2):
        assert ok(cluster.put(f"{LL}/settings/boundaries/{b['id']}", b), 200) == b
    assert ok(cluster.get(f"{LL}/settings/boundaries"), 200) == {
        "boundary1": BOUNDARY1,
        "boundary2": BOUNDARY2,
    }
    assert ok(cluster.get(f"{LL}/settings/boundaries/boundary2"), 200) == BOUNDARY2
    assert ok(cluster.get(f"{LL}/settings/upper_link_sync"), 200) == {"sync": True}
    wait_until(
        lambda: (
            cluster.get(f"{LAY}/topology/nodes/node002/ports/port0022")
            .body["attributes"]
            .get("is_boundary")
            == "true"
            and cluster.get(f"{LOW}/topology/nodes/node011/ports/port0111")
            .body["attributes"]
            .get("is_boundary")
            == "true"
        ),
        TIMEOUT,
        "boundary ports marked",
    )

    # A lower flow between the boundaries walks to established: the layerized link
    # appears, and (sync) in the upper network too.
    ok(
        cluster.put(
            f"{LOW}/flows/flow01", lower_flow("flow01", "node011/port0111", "node012/port0122")
        )
    )
    wait_until(
        lambda: (
            attr(cluster, LAY, "boundary1_boundary2", "oper_status") == "UP"
            and attr(cluster, UP, "boundary1_boundary2", "oper_status") == "UP"
        ),
        TIMEOUT,
        "layerized link up in both networks",
    )
    made = links_of(cluster, LAY)["boundary1_boundary2"]
    assert (made["src_node"], made["src_port"], made["dst_node"], made["dst_port"]) == (
        "node002",
        "port0022",
        "node003",
        "port0031",
    )
    attributes = made["attributes"]
    assert (attributes["cost"], attributes["max_bandwidth"], attributes["latency"]) == (
        "1",
        "100",
        "3",
    )
    assert attributes["establishment_status"] == "established"
    assert ok(cluster.get(f"{LL}/lower_flows"), 200) == {"boundary1_boundary2": ["flow01"]}
    assert ok(cluster.get(f"{LL}/layerized_links"), 200) == {"flow01": "boundary1_boundary2"}
    assert ok(cluster.get(f"{LL}/layerized_links/flow01"), 200) == "boundary1_boundary2"

    # Layerized flows go to the upper network (same ids); their status follows back.
    ok(
        cluster.put(
            f"{LAY}/flows/lf01", layerized_flow("lf01", ["link0012", "boundary1_boundary2"])
        ),
        201,
    )
    ok(cluster.put(f"{LAY}/flows/ofp01", OFP_FLOW), 201)
    for flow_id in ("lf01", "ofp01"):
        wait_until(
            lambda f=flow_id: status_of(cluster, LAY, f) == "established",  # type: ignore[misc]
            TIMEOUT,
            f"{flow_id} established in the layerized network",
        )
    above = flow_of(cluster, UP, "lf01")
    assert above is not None and above["status"] == "established"
    assert above["path"] == ["link0012", "boundary1_boundary2"]
    ofp = flow_of(cluster, UP, "ofp01")
    assert ofp is not None
    assert ofp["matches"] == OFP_FLOW["matches"] and ofp["edge_actions"] == OFP_FLOW["edge_actions"]
    assert ofp["idle_timeout"] == 30

    # Packets: in from the upper network to the layerized one; out the other way.
    packet = {
        "type": "OFPInPacket",
        "node": "node001",
        "port": "port0011",
        "header": {"type": "OFPFlowMatch", "in_node": "node001", "in_port": "port0011"},
        "data": "ABCDEFGHIJKLMN",
        "attributes": {"test_attr1": "test_attr_value1"},
    }
    ok(cluster.post(f"{UP}/packets/in", packet), 200)
    wait_until(
        lambda: (
            cluster.get(f"{LAY}/packets").body["in_packet_queue_count"] == 1
            and cluster.get(f"{UP}/packets").body["in_packet_queue_count"] == 0
        ),
        TIMEOUT,
        "in-packet moved up",
    )
    out = {**packet, "type": "OFPOutPacket", "ports": ["port0011"]}
    del out["port"]
    ok(cluster.post(f"{LAY}/packets/out", out), 200)
    wait_until(
        lambda: cluster.get(f"{UP}/packets").body["out_packet_count"] == 1,
        TIMEOUT,
        "out-packet moved down",
    )

    # upper_link_sync off: the link leaves the upper network, and lf01, whose path the
    # upper network can no longer follow, fails (its upper flow removed).
    assert ok(cluster.put(f"{LL}/settings/upper_link_sync", {"sync": False}), 200) == {
        "sync": False
    }
    wait_until(
        lambda: (
            "boundary1_boundary2" not in links_of(cluster, UP)
            and status_of(cluster, LAY, "lf01") == "failed"
            and flow_of(cluster, UP, "lf01") is None
        ),
        TIMEOUT,
        "link out of the upper network, lf01 failed",
    )
    assert "boundary1_boundary2" in links_of(cluster, LAY)

    # kill -9 of its manager; meanwhile a lower flow back the other way.  Restarted, it
    # has its settings and maps and makes the new link.
    cluster.kill("romgr3")
    ok(
        cluster.put(
            f"{LOW}/flows/flow02", lower_flow("flow02", "node012/port0122", "node011/port0111")
        )
    )
    wait_until(lambda: status_of(cluster, LOW, "flow02") == "established", TIMEOUT, "flow02 up")
    cluster.start_cm("romgr3")
    wait_until(
        lambda: attr(cluster, LAY, "boundary2_boundary1", "oper_status") == "UP",
        TIMEOUT,
        "the new link made after the restart",
    )
    assert ok(cluster.get(f"{LL}/settings/boundaries"), 200) == {
        "boundary1": BOUNDARY1,
        "boundary2": BOUNDARY2,
    }
    assert ok(cluster.get(f"{LL}/layerized_links"), 200) == {
        "flow01": "boundary1_boundary2",
        "flow02": "boundary2_boundary1",
    }
    assert ok(cluster.get(f"{LL}/settings/upper_link_sync"), 200) == {"sync": False}
    assert "boundary2_boundary1" not in links_of(cluster, UP)

    # Sync on again: the links go back up, and lf01 is carried again.
    ok(cluster.put(f"{LL}/settings/upper_link_sync", {"sync": True}), 200)
    wait_until(
        lambda: (
            {"boundary1_boundary2", "boundary2_boundary1"} <= set(links_of(cluster, UP))
            and status_of(cluster, LAY, "lf01") == "established"
            and status_of(cluster, UP, "lf01") == "established"
        ),
        TIMEOUT,
        "links back up, lf01 established again",
    )
    assert "reason" not in (flow_of(cluster, LAY, "lf01") or {}).get("attributes", {})

    # Bad input: a JSON 4xx, and nothing stored is lost.
    for method, path, body, status in (
        ("PUT", "settings/upper_link_sync", {"sync": "yes"}, 400),
        ("PUT", "settings/boundaries/b3", {"type": "LinkLayerizer"}, 400),
        ("PUT", "settings/boundaries/b3", [1, 2], 400),
        ("PUT", "settings/boundaries/b3", {**BOUNDARY1, "id": "b3"}, 409),
        ("POST", "settings/boundaries", {**BOUNDARY1, "lower_nw_port": 3}, 400),
        ("GET", "settings/boundaries/nosuch", None, 404),
        ("DELETE", "settings/boundaries/nosuch", None, 404),
        ("GET", "lower_flows/nosuch", None, 404),
    ):
        reply = cluster.request(method, f"{LL}/{path}", body)
        assert reply.status == status and isinstance(reply.body, dict), (method, path, reply)
    assert len(ok(cluster.get(f"{LL}/settings/boundaries"), 200)) == 2

    # The lower flow deleted: its link goes from both networks; the layerized flow using
    # it fails, and its upper flow is removed.
    ok(cluster.delete(f"{LOW}/flows/flow01"), 200, 202)
    wait_until(
        lambda: (
            "boundary1_boundary2" not in links_of(cluster, LAY)
            and "boundary1_boundary2" not in links_of(cluster, UP)
        ),
        TIMEOUT,
        "the link gone with its lower flow",
    )
    wait_until(
        lambda: (
            status_of(cluster, LAY, "lf01") == "failed" and flow_of(cluster, UP, "lf01") is None
        ),
        TIMEOUT,
        "lf01 failed and its upper flow gone",
    )
    assert ok(cluster.get(f"{LL}/lower_flows"), 200) == {"boundary2_boundary1": ["flow02"]}

    # A layerized DELETE tears the upper flow down first.
    ok(cluster.delete(f"{LAY}/flows/ofp01"), 200, 202)
    wait_until(
        lambda: flow_of(cluster, LAY, "ofp01") is None and flow_of(cluster, UP, "ofp01") is None,
        TIMEOUT,
        "ofp01 gone in both networks",
    )

    # Disconnect in order: what it made goes.
    ok(cluster.delete(f"systemmanager/connections/{LL}_{LOW}"), 200)
    wait_until(
        lambda: (
            "boundary2_boundary1" not in links_of(cluster, LAY)
            and "boundary2_boundary1" not in links_of(cluster, UP)
        ),
        TIMEOUT,
        "links of lower flows removed",
    )
    ok(cluster.delete(f"systemmanager/connections/{LL}_{UP}"), 200)
    wait_until(
        lambda: cluster.get(f"{LAY}/topology").body["nodes"] == {},
        TIMEOUT,
        "the mirrored topology removed",
    )
    assert set(links_of(cluster, UP)) == {"link0012", "link0021"}
    ok(cluster.delete(f"systemmanager/connections/{LL}_{LAY}"), 200)
    ok(cluster.delete(f"systemmanager/components/{LL}"), 200)
