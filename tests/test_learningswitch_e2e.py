"""The LearningSwitch end to end: real processes, real ZooKeeper, its network in another
manager.

``network0`` (romgr1) is a line node001 - node002 - node003 (``build_line``) with a
DummyDriver (romgr1) below it; ``lsw`` (romgr2, a process of its own so that it can be
killed without losing the network) is connected to it as ``lsw_conn``, as ODENOS's
``rest_federator.sh`` connects it.  Hosts: A at node001/port0011, B at node003/port0032,
C (later) at node002/port0023.  A REST event subscription to network0's
``OutPacketAdded`` shows the packets the switch sends (the driver takes them out of the
queue at once).  ``test_learning_switch_vlan_matches_the_vlan`` runs a LearningSwitchVlan
as ``lsw`` instead.
"""

from __future__ import annotations

from typing import Any

from tests.support import Cluster, http, wait_until
from tests.topology import (
    TIMEOUT,
    OutPackets,
    build_line,
    connect,
    flow_of,
    in_packet,
    ok,
    port,
    status_of,
)

LSW = "lsw"
A, B, C = "00:00:00:00:00:0a", "00:00:00:00:00:0b", "00:00:00:00:00:0c"


def at(node: str, port_id: str) -> dict[str, str]:
    return {"node_id": node, "port_id": port_id}


def lsw_flows(cluster: Cluster) -> dict[str, Any]:
    flows = ok(cluster.get("network0/flows"))["flows"]
    return {k: v for k, v in flows.items() if v["owner"] == LSW}


def start(cluster: Cluster, lsw_type: str = "LearningSwitch") -> None:
    cluster.write_config(processes=("romgr1", "romgr2"))
    cluster.start_core()
    for cm in ("romgr1", "romgr2"):
        cluster.start_cm(cm)
    cluster.create_network("network0", "romgr1")
    for comp_id, comp_type, cm in (
        ("driver0", "DummyDriver", "romgr1"),
        (LSW, lsw_type, "romgr2"),
    ):
        ok(
            cluster.put(f"systemmanager/components/{comp_id}", {"type": comp_type, "cm_id": cm}),
            201,
        )
    connect(cluster, "c-driver", "original", "driver0", "network0")
    build_line(cluster)
    connect(cluster, "c-lsw", "lsw_conn", LSW, "network0")


def established(cluster: Cluster, flow_id: str) -> dict[str, Any]:
    wait_until(
        lambda: status_of(cluster, "network0", flow_id) == "established",
        TIMEOUT,
        f"{flow_id} established",
    )
    flow = flow_of(cluster, "network0", flow_id)
    assert flow is not None
    return flow


def test_learning_switch_floods_learns_installs_and_survives_a_crash(cluster: Cluster) -> None:
    start(cluster)
    types = ok(cluster.get("systemmanager/component_types"))["LearningSwitch"]
    assert {"original": "1", "lsw_conn": "1"}.items() <= types["connection_types"].items()
    out = OutPackets(cluster)

    # A to B, unknown: flooded, to every host (node002 has none), not back into A's port.
    ok(cluster.post("network0/packets/in", in_packet(A, B, "node001", "port0011")))
    flood = out.wait(2, "the flood")
    assert [(p["type"], p["node"], p["ports"], p["ports-except"]) for p in flood] == [
        ("OFPOutPacket", "node001", [], ["port0011", "port0012"]),
        ("OFPOutPacket", "node003", [], ["port0031"]),
    ]
    assert flood[0]["header"]["eth_src"] == A and flood[0]["data"] == "ZnJhbWU="
    assert ok(cluster.get(f"{LSW}/fdb")) == {A: at("node001", "port0011")}
    assert ok(cluster.get("network0/packets/in"))["in_packet_queue_count"] == 0

    # B answers A: a flow B -> A along the line, established by the driver; the packet
    # goes out of A's port.
    ok(cluster.post("network0/packets/in", in_packet(B, A, "node003", "port0032")))
    (sent,) = out.wait(1, "the packet to A")
    assert (sent["node"], sent["ports"], sent["ports-except"]) == ("node001", ["port0011"], [])
    flow = established(cluster, f"{LSW}_0")
    assert flow["type"] == "OFPFlow" and flow["path"] == ["link0032", "link0021"]
    assert flow["matches"] == [
        {
            "type": "OFPFlowMatch",
            "in_node": "node003",
            "in_port": "port0032",
            "eth_src": B,
            "eth_dst": A,
        }
    ]
    assert flow["edge_actions"] == {"node001": [{"type": "FlowActionOutput", "output": "port0011"}]}
    assert (flow["owner"], flow["priority"], flow["idle_timeout"], flow["hard_timeout"]) == (
        LSW,
        "0",
        60,
        300,
    )
    assert ok(cluster.get(f"{LSW}/fdb")) == {
        A: at("node001", "port0011"),
        B: at("node003", "port0032"),
    }

    # The timers: refused when not a timeout, used by the next flow once put.
    for bad in ["60", -1, 70000, True, None, [1]]:
        assert cluster.put(f"{LSW}/settings/default_idle_timer", bad).status == 400
    assert ok(cluster.get(f"{LSW}/settings/default_idle_timer")) == 60
    assert ok(cluster.put(f"{LSW}/settings/default_idle_timer", 120)) == 120
    assert ok(cluster.put(f"{LSW}/settings/default_hard_timer", 600)) == 600
    assert ok(cluster.get(f"{LSW}/settings/default_hard_timer")) == 600
    ok(cluster.post("network0/packets/in", in_packet(A, B, "node001", "port0011")))
    assert out.wait(1, "the packet to B")[0]["ports"] == ["port0032"]
    flow = established(cluster, f"{LSW}_1")
    assert (flow["idle_timeout"], flow["hard_timeout"]) == (120, 600)
    assert flow["path"] == ["link0012", "link0023"]

    # Again B to A: the flow is there, no second one; the packet still goes.
    ok(cluster.post("network0/packets/in", in_packet(B, A, "node003", "port0032")))
    out.wait(1, "the packet to A again")
    assert set(lsw_flows(cluster)) == {f"{LSW}_0", f"{LSW}_1"}

    # A host port for C; then the switch's manager is killed and restarted.
    ok(cluster.put("network0/topology/nodes/node002/ports/port0023", port("node002", "port0023")))
    cluster.kill("romgr2")
    cluster.start_cm("romgr2")
    wait_until(lambda: cluster.get(f"{LSW}/fdb").status == 200, TIMEOUT, "the switch back")
    assert ok(cluster.get(f"{LSW}/fdb")) == {
        A: at("node001", "port0011"),
        B: at("node003", "port0032"),
    }
    assert ok(cluster.get(f"{LSW}/settings/default_idle_timer")) == 120
    assert ok(cluster.get(f"{LSW}/settings/default_hard_timer")) == 600
    ok(cluster.post("network0/packets/in", in_packet(C, A, "node002", "port0023")))
    assert out.wait(1, "C's packet to A")[0]["node"] == "node001"
    flow = established(cluster, f"{LSW}_2")  # the next id: none given twice
    assert flow["path"] == ["link0021"] and flow["idle_timeout"] == 120
    assert flow_of(cluster, "network0", f"{LSW}_0")["matches"][0]["eth_src"] == B  # type: ignore[index]

    # A link deleted: its flow (A -> B) goes, and only it.
    ok(cluster.delete("network0/topology/links/link0023"), 200)
    wait_until(lambda: f"{LSW}_1" not in lsw_flows(cluster), TIMEOUT, "the flow over link0023 gone")
    assert set(lsw_flows(cluster)) == {f"{LSW}_0", f"{LSW}_2"}

    # Not OpenFlow: taken, dropped, nothing learnt.
    basic = {
        "type": "InPacket",
        "node": "node001",
        "port": "port0011",
        "header": {"type": "BasicFlowMatch", "in_node": "node001", "in_port": "port0011"},
    }
    ok(cluster.post("network0/packets/in", basic))
    wait_until(
        lambda: ok(cluster.get("network0/packets/in"))["in_packet_queue_count"] == 0,
        TIMEOUT,
        "the basic packet taken",
    )
    assert len(ok(cluster.get(f"{LSW}/fdb"))) == 3

    # The FDB by REST: a MAC is 12 hex digits; absent is fine; then all of it.
    for bad in ["00:00:00:00:00:0a", "0000000000", "zz000000000a"]:
        assert http("DELETE", f"{cluster.rest}/{LSW}/fdb/{bad}").status == 400
    ok(cluster.delete(f"{LSW}/fdb/0000000000ff"), 200)
    ok(cluster.delete(f"{LSW}/fdb/00000000000A"), 200)
    assert set(ok(cluster.get(f"{LSW}/fdb"))) == {B, C}
    ok(cluster.delete(f"{LSW}/fdb"), 200)
    assert ok(cluster.get(f"{LSW}/fdb")) == {}
    assert cluster.put(f"{LSW}/fdb", {}).status == 405
    assert cluster.get(f"{LSW}/nosuch").status == 404

    # A second connection is refused; disconnected, its flows go (only its own).
    ok(
        cluster.put(
            "network0/flows/mine",
            {"type": "BasicFlow", "owner": "client", "matches": [], "edge_actions": {}},
        ),
        201,
    )
    body = {
        "id": "c-lsw2",
        "type": "LogicAndNetwork",
        "connection_type": "original",
        "logic_id": LSW,
        "network_id": "network0",
    }
    ok(http("PUT", f"{cluster.rest}/systemmanager/connections/c-lsw2", body), 201)
    wait_until(
        lambda: cluster.get("systemmanager/connections/c-lsw2").body.get("state") == "error",
        TIMEOUT,
        "the second connection refused",
    )
    ok(cluster.delete("systemmanager/connections/c-lsw2"), 200)
    ok(cluster.delete("systemmanager/connections/c-lsw"), 200)
    wait_until(lambda: not lsw_flows(cluster), TIMEOUT, "its flows gone")
    assert flow_of(cluster, "network0", "mine") is not None
    assert http("DELETE", f"{cluster.rest}/event/subscriptions/{out.sid}").status == 200


def tagged(src: str, dst: str, node: str, port_id: str, vid: int) -> dict[str, Any]:
    """:func:`in_packet` with ``vlan_vid`` in its OFPFlowMatch header."""
    packet = in_packet(src, dst, node, port_id)
    return {**packet, "header": {**packet["header"], "vlan_vid": vid}}


def test_learning_switch_vlan_matches_the_vlan(cluster: Cluster) -> None:
    start(cluster, "LearningSwitchVlan")
    info = ok(cluster.get("systemmanager/component_types"))["LearningSwitchVlan"]
    assert (info["super_type"], info["description"]) == ("LearningSwitch", "Learning Switch VLAN")
    assert {"original": "1", "lsw_conn": "1"}.items() <= info["connection_types"].items()
    out = OutPackets(cluster)

    # A to B on VLAN 10, unknown: flooded with its tag.
    ok(cluster.post("network0/packets/in", tagged(A, B, "node001", "port0011", 10)))
    flood = out.wait(2, "the flood")
    assert [(p["node"], p["header"]["vlan_vid"]) for p in flood] == [
        ("node001", 10),
        ("node003", 10),
    ]

    # B answers on VLAN 10: a flow matching VLAN 10, established by the driver.
    ok(cluster.post("network0/packets/in", tagged(B, A, "node003", "port0032", 10)))
    (sent,) = out.wait(1, "the packet to A")
    assert (sent["node"], sent["ports"], sent["header"]["vlan_vid"]) == (
        "node001",
        ["port0011"],
        10,
    )
    flow = established(cluster, f"{LSW}_0")
    assert flow["matches"] == [
        {
            "type": "OFPFlowMatch",
            "in_node": "node003",
            "in_port": "port0032",
            "eth_src": B,
            "eth_dst": A,
            "vlan_vid": 10,
        }
    ]
    assert flow["path"] == ["link0032", "link0021"]

    # The same pair on VLAN 20: a second flow; on VLAN 10 again: none more.
    ok(cluster.post("network0/packets/in", tagged(B, A, "node003", "port0032", 20)))
    out.wait(1, "the packet to A on VLAN 20")
    flow = established(cluster, f"{LSW}_1")
    assert flow["matches"][0]["vlan_vid"] == 20 and flow["matches"][0]["eth_src"] == B
    ok(cluster.post("network0/packets/in", tagged(B, A, "node003", "port0032", 10)))
    out.wait(1, "the packet to A on VLAN 10 again")
    assert set(lsw_flows(cluster)) == {f"{LSW}_0", f"{LSW}_1"}
    # One FDB entry per MAC, as the LearningSwitch's.
    assert ok(cluster.get(f"{LSW}/fdb")) == {
        A: at("node001", "port0011"),
        B: at("node003", "port0032"),
    }
    assert http("DELETE", f"{cluster.rest}/event/subscriptions/{out.sid}").status == 200
