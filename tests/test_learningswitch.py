"""The LearningSwitch's parts: MACs, timers, packets, the flows it makes and when they
must go; and the component against a real Network in one process (the manager's own
in-process ObjectClient), with the network's events handed to it by the test.

The end-to-end behaviour across processes is tests/test_learningswitch_e2e.py.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from odenos.components.aggregator.routing import TopologyMirror
from odenos.components.learningswitch import LearningSwitch, LearningSwitchVlan
from odenos.components.learningswitch.component import CONNECTION_KINDS
from odenos.components.learningswitch.fdb import (
    DEFAULT_HARD_TIMER,
    DEFAULT_IDLE_TIMER,
    HARD,
    IDLE,
    Location,
    check_timer,
    mac_from_path,
    normalise_mac,
    timers_from_record,
)
from odenos.components.learningswitch.forwarding import (
    LearnedFlow,
    PathCosts,
    UnusablePacket,
    flood_packets,
    flow_body,
    flow_key,
    flow_number,
    read_in_packet,
    unicast_packet,
    why_broken,
)
from odenos.components.learningswitch.vlan import vlan_match
from odenos.components.network import Network
from odenos.components.network.ofp_flow import parse_flow
from odenos.components.network.packets import parse_out_packet
from odenos.errors import BadRequest
from odenos.model.event import Event
from tests.support import call, host

A, B, C = "00:00:00:00:00:0a", "00:00:00:00:00:0b", "00:00:00:00:00:0c"

# --- MACs and timers -------------------------------------------------------------------------


def test_macs_have_one_spelling() -> None:
    assert normalise_mac("AA:bb:CC:dd:EE:ff") == "aa:bb:cc:dd:ee:ff"
    for bad in [
        "aabbccddeeff",
        "aa:bb:cc:dd:ee",
        "aa-bb-cc-dd-ee-ff",
        "gg:bb:cc:dd:ee:ff",
        5,
        None,
    ]:
        assert normalise_mac(bad) is None
    assert mac_from_path("AABBCCDDEEFF") == "aa:bb:cc:dd:ee:ff"
    for bad in ["aabbccddeef", "aabbccddeeff0", "aa:bb:cc:dd:ee:ff", "zzbbccddeeff", ""]:
        with pytest.raises(BadRequest):
            mac_from_path(bad)


def test_timers_are_openflow_timeouts() -> None:
    assert check_timer(0, IDLE) == 0
    assert check_timer(65535, HARD) == 65535
    assert check_timer(120.0, IDLE) == 120
    for bad in [-1, 65536, 1.5, "60", True, None, [60], {"v": 60}]:
        with pytest.raises(BadRequest):
            check_timer(bad, IDLE)
    defaults = {IDLE: DEFAULT_IDLE_TIMER, HARD: DEFAULT_HARD_TIMER}
    assert defaults == {IDLE: 60, HARD: 300}
    assert timers_from_record(None) == defaults
    assert timers_from_record({IDLE: 5, HARD: "x"}) == {IDLE: 5, HARD: 300}
    assert timers_from_record({IDLE: True, HARD: 70000}) == defaults


# --- packets ---------------------------------------------------------------------------------


def in_packet(
    src: str = A, dst: str = B, node: str = "n1", port: str = "p1", **header: Any
) -> dict[str, Any]:
    return {
        "type": "OFPInPacket",
        "packet_id": "0000000000",
        "node": node,
        "port": port,
        "header": {
            "type": "OFPFlowMatch",
            "in_node": node,
            "in_port": port,
            "eth_src": src,
            "eth_dst": dst,
            **header,
        },
        "data": "ZGF0YQ==",
        "attributes": {"k": "v"},
    }


def test_a_usable_in_packet_is_read() -> None:
    arrival = read_in_packet(in_packet(src=A.upper(), eth_type=2048))
    assert (arrival.node, arrival.in_node, arrival.in_port) == ("n1", "n1", "p1")
    assert (arrival.eth_src, arrival.eth_dst) == (A, B)
    assert arrival.source == Location("n1", "p1")
    assert arrival.header["eth_type"] == 2048


@pytest.mark.parametrize(
    ("packet", "reason"),
    [
        ("junk", "not a JSON object"),
        ({**in_packet(), "header": None}, "no header"),
        ({**in_packet(), "header": {"type": "BasicFlowMatch", "in_node": "n1"}}, "not an OFPFlow"),
        (in_packet(dst=None), "eth_dst None is no MAC"),  # type: ignore[arg-type]
        (in_packet(src="host-a"), "eth_src 'host-a'"),
        ({**in_packet(), "node": ""}, "it has no node"),
        (in_packet(in_port=None), "no in_port"),
        # Regression: the broadcast address was learnt, and broadcasts then went to its port.
        (in_packet(src="FF:FF:FF:FF:FF:FF"), "the broadcast address ff:ff:ff:ff:ff:ff"),
    ],
)
def test_unusable_in_packets_say_why(packet: Any, reason: str) -> None:
    with pytest.raises(UnusablePacket, match=reason):
        read_in_packet(packet)


def line() -> TopologyMirror:
    """n1 - n2 - n3 (links both ways), edge ports n1/p1, n3/p3, and n4 alone with n4/p1."""
    mirror = TopologyMirror()
    ports: dict[str, dict[str, Any]] = {
        "n1": {"p1": {}, "p12": {"out_link": "l12", "in_link": "l21"}},
        "n2": {
            "p21": {"in_link": "l12", "out_link": "l21"},
            "p23": {"out_link": "l23", "in_link": "l32"},
        },
        "n3": {"p32": {"in_link": "l23", "out_link": "l32"}, "p3": {}},
        "n4": {"p1": {}},
    }
    mirror.replace(
        {
            "nodes": {
                node: {
                    "node_id": node,
                    "ports": {
                        p: {"node_id": node, "port_id": p, **links} for p, links in pp.items()
                    },
                }
                for node, pp in ports.items()
            },
            "links": {
                lid: {"link_id": lid, "src_node": s, "dst_node": d}
                for lid, s, d in [
                    ("l12", "n1", "n2"),
                    ("l21", "n2", "n1"),
                    ("l23", "n2", "n3"),
                    ("l32", "n3", "n2"),
                ]
            },
        }
    )
    return mirror


def test_a_flood_reaches_every_edge_port_but_the_ingress() -> None:
    arrival = read_in_packet(in_packet())
    packets = flood_packets(arrival, line())
    assert [(p["node"], p["ports-except"]) for p in packets] == [
        ("n1", ["p1", "p12"]),
        ("n3", ["p32"]),
        ("n4", []),
    ]
    for packet in packets:
        parsed = parse_out_packet(packet, "0")  # what the network takes
        assert parsed.TYPE == "OFPOutPacket"
        assert packet["data"] == "ZGF0YQ==" and packet["attributes"] == {"k": "v"}
    # Without a topology, ODENOS's own flood: the ingress node, all but in_port.
    assert [(p["node"], p["ports-except"]) for p in flood_packets(arrival, TopologyMirror())] == [
        ("n1", ["p1"])
    ]


def test_a_known_destination_gets_the_packet_by_its_port() -> None:
    packet = unicast_packet(read_in_packet(in_packet()), Location("n3", "p3"))
    assert (packet["node"], packet["ports"]) == ("n3", ["p3"])
    assert parse_out_packet(packet, "0").destinations() == ["p3"]


# --- flows -----------------------------------------------------------------------------------


def made_flow(flow_id: str = "lsw_0", **changes: Any) -> Any:
    arrival = read_in_packet(in_packet())
    body = flow_body(
        flow_id, "lsw", arrival, Location("n3", "p3"), ["l12", "l23"], {IDLE: 7, HARD: 9}
    )
    return {**body, **changes}


def test_the_flow_is_odenos_ofpflow_for_the_pair() -> None:
    body = made_flow()
    assert body["matches"] == [
        {"type": "OFPFlowMatch", "in_node": "n1", "in_port": "p1", "eth_src": A, "eth_dst": B}
    ]
    assert body["edge_actions"] == {"n3": [{"type": "FlowActionOutput", "output": "p3"}]}
    assert (body["owner"], body["priority"], body["idle_timeout"], body["hard_timeout"]) == (
        "lsw",
        "0",
        7,
        9,
    )
    assert body["version"] == "0" and body["path"] == ["l12", "l23"]
    parse_flow(body, "lsw_0")  # the network takes it
    flow = LearnedFlow.from_json(body, "lsw")
    assert flow is not None and flow.live and flow.destination == Location("n3", "p3")
    assert flow.uses_port("n1", "p1") and flow.uses_port("n3") and not flow.uses_port("n2")


def test_only_its_own_flows_are_read_as_its_own() -> None:
    assert flow_number("lsw", "lsw_12") == 12
    for other in ["lsw_", "lsw_01", "lsw_x", "lsw2_1", "other_1", 5]:
        assert flow_number("lsw", other) is None
    assert LearnedFlow.from_json(made_flow(owner="someone"), "lsw") is None
    assert LearnedFlow.from_json(made_flow("other_0"), "lsw") is None
    assert LearnedFlow.from_json(made_flow(type="BasicFlow"), "lsw") is None
    assert LearnedFlow.from_json(made_flow(matches=[]), "lsw") is None
    assert LearnedFlow.from_json(made_flow(edge_actions={"n3": []}), "lsw") is None
    assert LearnedFlow.from_json(made_flow(path="l12"), "lsw") is None
    assert LearnedFlow.from_json("junk", "lsw") is None
    disabled = LearnedFlow.from_json(made_flow(enabled=False), "lsw")
    assert disabled is not None and not disabled.live


def test_why_a_flow_must_go() -> None:
    topology = line()
    flow = LearnedFlow.from_json(made_flow(), "lsw")
    assert flow is not None
    fdb = {A: Location("n1", "p1"), B: Location("n3", "p3")}
    assert why_broken(flow, topology, fdb, PathCosts(topology)) is None
    moved = {**fdb, A: Location("n4", "p1")}
    assert "now at n4/p1" in str(why_broken(flow, topology, moved, PathCosts(topology)))
    moved = {**fdb, B: Location("n1", "p9")}
    assert "now at n1/p9" in str(why_broken(flow, topology, moved, PathCosts(topology)))
    assert why_broken(flow, topology, {}, PathCosts(topology)) is None  # forgotten: kept
    # A link of its path down, or gone.
    down = line()
    down.set_link(
        {
            "link_id": "l23",
            "src_node": "n2",
            "dst_node": "n3",
            "attributes": {"oper_status": "DOWN"},
        }
    )
    assert "no longer a usable path" in str(why_broken(flow, down, fdb, PathCosts(down)))
    gone = line()
    gone.remove_link("l12")
    assert "no longer a usable path" in str(why_broken(flow, gone, fdb, PathCosts(gone)))
    # A cheaper path (a direct link n1 -> n3).
    short = line()
    short.set_link({"link_id": "l13", "src_node": "n1", "dst_node": "n3"})
    assert "cheaper path" in str(why_broken(flow, short, fdb, PathCosts(short)))
    # A port gone: only when asked (after a restart).
    no_port = line()
    no_port.remove_port("n3", "p3")
    assert why_broken(flow, no_port, fdb, PathCosts(no_port)) is None
    assert "n3/p3 is gone" in str(
        why_broken(flow, no_port, fdb, PathCosts(no_port), check_ports=True)
    )


def test_the_vlan_switch_matches_the_headers_vlan_vid() -> None:
    assert vlan_match(read_in_packet(in_packet(vlan_vid=10))) == {"vlan_vid": 10}
    assert vlan_match(read_in_packet(in_packet())) == {}  # none: any VLAN, as a LearningSwitch
    assert vlan_match(read_in_packet(in_packet(vlan_vid=0))) == {"vlan_vid": 0}  # untagged
    for bad in [0x2000, -1, "10", True, 1.5]:
        with pytest.raises(UnusablePacket, match="vlan_vid"):
            vlan_match(read_in_packet(in_packet(vlan_vid=bad)))
    # The flow matches it too, the network takes it, and the switch reads it back with it.
    body = made_flow()
    tagged = flow_body(
        "lsw_1",
        "lsw",
        read_in_packet(in_packet(vlan_vid=10)),
        Location("n3", "p3"),
        ["l12", "l23"],
        {IDLE: 7, HARD: 9},
        {"vlan_vid": 10},
    )
    assert tagged["matches"] == [{**body["matches"][0], "vlan_vid": 10}]
    parse_flow(tagged, "lsw_1")
    plain, vlan10 = LearnedFlow.from_json(body, "lsw"), LearnedFlow.from_json(tagged, "lsw")
    assert plain is not None and vlan10 is not None
    assert (plain.extra_match, vlan10.extra_match) == ((), (("vlan_vid", 10),))
    # One pair on two VLANs, or on one and on none, is two flows.
    here, there = Location("n1", "p1"), Location("n3", "p3")
    assert vlan10.key == flow_key(here, A, B, there, {"vlan_vid": 10})
    assert vlan10.key != flow_key(here, A, B, there, {"vlan_vid": 20})
    assert vlan10.key != plain.key == flow_key(here, A, B, there)
    # The FDB is by MAC: a move breaks the flows of the MAC whatever their VLAN; so does a
    # path gone.
    fdb = {A: here, B: there}
    topology = line()
    assert why_broken(vlan10, topology, fdb, PathCosts(topology)) is None
    moved = {**fdb, A: Location("n4", "p1")}
    for flow in (plain, vlan10):
        assert "now at n4/p1" in str(why_broken(flow, topology, moved, PathCosts(topology)))
    topology.remove_link("l12")
    assert "no longer a usable path" in str(why_broken(vlan10, topology, fdb, PathCosts(topology)))


def test_the_vlan_switch_is_a_learning_switch_by_another_name() -> None:
    info = LearningSwitchVlan.type_info()
    assert info == {
        **LearningSwitch.type_info(),
        "type": "LearningSwitchVlan",
        "description": "Learning Switch VLAN",
    }
    assert info["super_type"] == "LearningSwitch"  # ODENOS's, inherited
    assert {(r.method, r.pattern) for r in LearningSwitchVlan._routes} == {
        (r.method, r.pattern) for r in LearningSwitch._routes
    }


# --- the component, in one process -----------------------------------------------------------


def connection(
    kind: str = "lsw_conn", network_id: str = "net", conn_id: str = "c1"
) -> dict[str, Any]:
    return {
        "id": conn_id,
        "type": "LogicAndNetwork",
        "connection_type": kind,
        "logic_id": "lsw",
        "network_id": network_id,
    }


def build(net: Network) -> None:
    """n1 - n2 - n3 in the network, links both ways; edge ports n1/p1 and n3/p3."""
    for node, ports in {"n1": ["p1", "p12"], "n2": ["p21", "p23"], "n3": ["p32", "p3"]}.items():
        net.topology.put_node(node, {"node_id": node})
        for port in ports:
            net.topology.put_port(node, port, {"node_id": node, "port_id": port})
    for lid, src, dst in [
        ("l12", "n1/p12", "n2/p21"),
        ("l21", "n2/p21", "n1/p12"),
        ("l23", "n2/p23", "n3/p32"),
        ("l32", "n3/p32", "n2/p23"),
    ]:
        (sn, sp), (dn, dp) = src.split("/"), dst.split("/")
        net.topology.put_link(
            lid, {"link_id": lid, "src_node": sn, "src_port": sp, "dst_node": dn, "dst_port": dp}
        )


async def connected(kind: type[LearningSwitch] = LearningSwitch) -> tuple[LearningSwitch, Network]:
    lsw, net = kind("lsw", "cm"), Network("net", "cm")
    host(lsw, net)
    build(net)
    await lsw.on_initialize()
    await lsw.on_connection_added(connection())
    assert lsw.ready
    return lsw, net


async def send(lsw: LearningSwitch, net: Network, packet: dict[str, Any]) -> list[dict[str, Any]]:
    """Queue an InPacket, hand its event to the switch; the OutPackets it queued."""
    before = set(net.packets.outbound._packets)
    queued = net.packets.add("in", {k: v for k, v in packet.items() if k != "packet_id"})
    await lsw.on_event(Event("net", "InPacketAdded", {"id": queued.packet_id}))
    assert not net.packets.inbound.has(queued.packet_id)
    return [p.to_json() for k, p in net.packets.outbound._packets.items() if k not in before]


async def flow_event(lsw: LearningSwitch, flow_id: str) -> None:
    await lsw.on_event(Event("net", "FlowChanged", {"action": "update", "id": flow_id}))


def set_status(net: Network, flow_id: str, *statuses: str) -> None:
    for status in statuses:
        net.flows.put(flow_id, {**net.flows.flow(flow_id).to_json(), "status": status})


async def test_it_floods_learns_and_installs_a_flow_along_the_path() -> None:
    lsw, net = await connected()
    out = await send(lsw, net, in_packet(A, B, "n1", "p1"))
    assert [(p["node"], p["ports-except"]) for p in out] == [("n1", ["p1", "p12"]), ("n3", ["p32"])]
    assert (await call(lsw, "GET", "fdb")).body == {A: {"node_id": "n1", "port_id": "p1"}}
    assert net.flows.flows == {}

    out = await send(lsw, net, in_packet(B, A, "n3", "p3"))
    assert [(p["type"], p["node"], p["ports"]) for p in out] == [("OFPOutPacket", "n1", ["p1"])]
    flow = net.flows.flow("lsw_0").to_json()
    assert flow["path"] == ["l32", "l21"]
    assert flow["edge_actions"] == {"n1": [{"type": "FlowActionOutput", "output": "p1"}]}
    assert (flow["idle_timeout"], flow["hard_timeout"], flow["owner"]) == (60, 300, "lsw")
    assert lsw.state.get("next_flow") == 1

    # Again: the flow is there, so none more; the packet still goes.
    out = await send(lsw, net, in_packet(B, A, "n3", "p3"))
    assert len(out) == 1 and set(net.flows.flows) == {"lsw_0"}

    # The timers, put, go into the next flow.
    assert (await call(lsw, "PUT", "settings/default_idle_timer", 5)).body == 5
    assert (await call(lsw, "PUT", "settings/default_hard_timer", 50)).body == 50
    await send(lsw, net, in_packet(A, B, "n1", "p1"))
    flow = net.flows.flow("lsw_1").to_json()
    assert (flow["idle_timeout"], flow["hard_timeout"], flow["path"]) == (5, 50, ["l12", "l23"])

    # The same node: no path; to the port it came from: dropped.
    net.topology.put_port("n1", "p9", {"node_id": "n1", "port_id": "p9"})
    await lsw.on_event(
        Event("net", "PortChanged", {"action": "add", "id": "p9", "curr": {"node_id": "n1"}})
    )
    await send(lsw, net, in_packet(C, A, "n1", "p9"))
    assert net.flows.flow("lsw_2").to_json()["path"] == []
    assert await send(lsw, net, in_packet(C, A, "n1", "p1")) == []  # C moved to A's port
    # C moved: the flow from its old place went.
    assert "lsw_2" not in net.flows.flows


async def test_packets_it_cannot_use_are_dropped(caplog: pytest.LogCaptureFixture) -> None:
    lsw, net = await connected()
    caplog.set_level(logging.INFO)
    basic = {
        "type": "InPacket",
        "node": "n1",
        "port": "p1",
        "header": {"type": "BasicFlowMatch", "in_node": "n1", "in_port": "p1"},
    }
    assert await send(lsw, net, basic) == []
    assert await send(lsw, net, {"type": "OFPInPacket", "node": "n1", "port": "p1"}) == []
    # At a port with a link: traffic inside the network, not a host.
    assert await send(lsw, net, in_packet(A, B, "n1", "p12")) == []
    assert "dropped" in caplog.text and "a port with a link" in caplog.text
    assert lsw.fdb == {} and net.flows.flows == {}
    # Events without an id, or about nothing, change nothing.
    for event in [
        Event("net", "InPacketAdded", {}),
        Event("net", "InPacketAdded", {"id": "nosuch"}),
        Event("net", "FlowChanged", {"id": "lsw_99"}),
        Event("net", "FlowChanged", {"id": "someone_else"}),
        Event("net", "LinkChanged", {"id": "nosuch"}),
        Event("net", "PortChanged", {"id": "p", "curr": "junk"}),
        Event("net", "NodeChanged", {"id": "nosuch"}),
        Event("elsewhere", "InPacketAdded", {"id": "0"}),
    ]:
        await lsw.on_event(event)
    assert lsw.fdb == {} and net.flows.flows == {}


async def test_packets_at_ports_the_network_lacks_are_not_learnt(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Regression: such a packet was learnt, so any client could store MACs at made-up
    # ports of any size (600 kB ids were stored) in the durable FDB, and a rebuild
    # forgot them again.
    lsw, net = await connected()
    caplog.set_level(logging.INFO)
    huge = "x" * 100_000
    assert await send(lsw, net, in_packet(A, B, huge, huge)) == []
    assert await send(lsw, net, in_packet(A, B, "n1", "nosuch")) == []
    assert await send(lsw, net, in_packet(A, B, "nosuch", "p1")) == []
    assert lsw.fdb == {} and lsw.state.keys("fdb/") == [] and net.flows.flows == {}
    assert "a port net does not have: dropped" in caplog.text
    assert huge not in caplog.text
    # At a port it has: learnt as before.
    assert len(await send(lsw, net, in_packet(A, B, "n1", "p1"))) == 2
    assert set(lsw.fdb) == {A}


async def test_the_broadcast_address_is_never_learnt_and_always_flooded() -> None:
    # Regression: a packet from ff:ff:ff:ff:ff:ff was learnt, and every broadcast after
    # it went to that one port, by OutPacket and by a flow for the broadcast address.
    lsw, net = await connected()
    bcast = "ff:ff:ff:ff:ff:ff"
    assert await send(lsw, net, in_packet(bcast, A, "n1", "p1")) == []
    assert lsw.fdb == {}
    # Other group addresses are learnt, as ODENOS does (its rest_slicer.sh sends from one).
    await send(lsw, net, in_packet("ff:11:22:33:44:55", A, "n3", "p3"))
    assert set(lsw.fdb) == {"ff:11:22:33:44:55"}
    lsw.fdb.clear()
    # Even one stored before (restored from an older record) is not a destination.
    lsw.fdb[bcast] = Location("n1", "p1")
    out = await send(lsw, net, in_packet(B, bcast, "n3", "p3"))
    assert [p["node"] for p in out] == ["n3", "n1"] and all("ports-except" in p for p in out)
    assert net.flows.flows == {}


async def test_topology_changes_take_its_flows_and_entries() -> None:
    lsw, net = await connected()
    await send(lsw, net, in_packet(A, B, "n1", "p1"))
    await send(lsw, net, in_packet(B, A, "n3", "p3"))  # lsw_0: n3 -> n1
    await send(lsw, net, in_packet(A, B, "n1", "p1"))  # lsw_1: n1 -> n3
    assert set(net.flows.flows) == {"lsw_0", "lsw_1"}
    net.flows.put("mine", {"type": "BasicFlow", "owner": "lsw", "path": ["l23"]})

    # A link goes down: only its own flows through it go.
    net.topology.merge_link_attributes("l23", {"oper_status": "DOWN"})
    await lsw.on_event(Event("net", "LinkChanged", {"action": "update", "id": "l23"}))
    assert set(net.flows.flows) == {"lsw_0", "mine"}
    # Deleted: the same.
    net.topology.delete_link("l21")
    await lsw.on_event(Event("net", "LinkChanged", {"action": "delete", "id": "l21"}))
    assert set(net.flows.flows) == {"mine"}

    # A port deleted: its FDB entries and flows go.
    await send(lsw, net, in_packet(C, A, "n1", "p1"))  # C moves to n1/p1
    net.topology.put_port("n1", "p5", {"node_id": "n1", "port_id": "p5"})
    await lsw.on_event(
        Event("net", "PortChanged", {"action": "add", "id": "p5", "curr": {"node_id": "n1"}})
    )
    await send(lsw, net, in_packet(B, C, "n1", "p5"))  # B at n1/p5 -> C at n1/p1
    assert any(f.startswith("lsw_") for f in net.flows.flows)
    net.topology.delete_port("n1", "p5")
    await lsw.on_event(
        Event("net", "PortChanged", {"action": "delete", "id": "p5", "prev": {"node_id": "n1"}})
    )
    assert B not in lsw.fdb and C in lsw.fdb
    assert set(net.flows.flows) == {"mine"}


async def test_its_flows_follow_odenos_on_failure_and_teardown() -> None:
    lsw, net = await connected()
    await send(lsw, net, in_packet(A, B, "n1", "p1"))
    await send(lsw, net, in_packet(B, A, "n3", "p3"))
    set_status(net, "lsw_0", "establishing", "failed")
    await flow_event(lsw, "lsw_0")
    assert net.flows.flows == {} and lsw.flows == {}

    await send(lsw, net, in_packet(B, A, "n3", "p3"))  # installed again, a new id
    assert set(net.flows.flows) == {"lsw_1"}
    set_status(net, "lsw_1", "establishing", "established", "teardown")  # the switch dropped it
    await flow_event(lsw, "lsw_1")
    assert net.flows.flow("lsw_1").enabled is False
    set_status(net, "lsw_1", "none")
    await flow_event(lsw, "lsw_1")
    assert net.flows.flows == {}


async def test_connections_and_disconnection() -> None:
    lsw, net = await connected()
    assert set(LearningSwitch.CONNECTION_TYPES) == set(CONNECTION_KINDS)
    with pytest.raises(ValueError, match="takes one network"):
        await lsw.on_connection_added(connection("original", "net", "c2"))
    with pytest.raises(ValueError, match="not 'aggregated'"):
        await LearningSwitch("x", "cm").on_connection_added(connection("aggregated"))
    await send(lsw, net, in_packet(A, B, "n1", "p1"))
    await send(lsw, net, in_packet(B, A, "n3", "p3"))
    net.flows.put("other", {"type": "BasicFlow", "owner": "someone"})
    await lsw.on_connection_deleted(connection("original", "net", "c2"))  # not held: nothing
    assert lsw.network == "net"
    await lsw.on_connection_deleted(connection())
    assert set(net.flows.flows) == {"other"}
    assert lsw.fdb == {} and lsw.state.keys("fdb/") == []
    assert lsw.state.get("next_flow") == 1  # never given again


async def test_it_comes_back_from_its_records() -> None:
    lsw, net = await connected()
    await call(lsw, "PUT", "settings/default_idle_timer", 11)
    await send(lsw, net, in_packet(A, B, "n1", "p1"))
    await send(lsw, net, in_packet(B, A, "n3", "p3"))
    net.topology.put_port("n3", "p8", {"node_id": "n3", "port_id": "p8"})
    await lsw.on_event(
        Event("net", "PortChanged", {"action": "add", "id": "p8", "curr": {"node_id": "n3"}})
    )
    await send(lsw, net, in_packet(C, A, "n3", "p8"))  # lsw_1
    records = dict(lsw.state.items())

    # While it is away, n3/p8 goes (and the event with it).
    net.topology.delete_port("n3", "p8")
    again = LearningSwitch("lsw", "cm")
    host(again, net)
    again.state._records = records
    await again.on_initialize()
    assert again.timers[IDLE] == 11 and again.next_flow == 2
    await again.on_connection_added(connection())
    assert set(again.fdb) == {A, B}  # C's port is gone
    assert set(net.flows.flows) == {"lsw_0"}
    await flow_event(again, "lsw_1")  # its deletion's event
    assert set(again.flows) == {"lsw_0"}
    await send(again, net, in_packet(A, B, "n1", "p1"))
    assert set(net.flows.flows) == {"lsw_0", "lsw_2"}


async def test_rest_answers_and_refusals() -> None:
    lsw, net = await connected()
    await send(lsw, net, in_packet(A, B, "n1", "p1"))
    assert (await call(lsw, "GET", "settings/default_idle_timer")).body == 60
    assert (await call(lsw, "GET", "settings/default_hard_timer")).body == 300
    for bad in ["60", -1, 65536, None, True, {"timer": 5}]:
        with pytest.raises(BadRequest):
            await call(lsw, "PUT", "settings/default_hard_timer", bad)
    assert (await call(lsw, "GET", "settings/default_hard_timer")).body == 300
    with pytest.raises(BadRequest):
        await call(lsw, "DELETE", "fdb/00:00:00:00:00:0a")
    with pytest.raises(BadRequest):
        await call(lsw, "DELETE", "fdb/00000000000")
    assert (await call(lsw, "DELETE", "fdb/0000000000FF")).status == 200  # absent: 200
    assert A in lsw.fdb
    assert (await call(lsw, "DELETE", "fdb/00000000000A")).status == 200
    assert (await call(lsw, "GET", "fdb")).body == {}
    await send(lsw, net, in_packet(B, A, "n3", "p3"))
    assert (await call(lsw, "DELETE", "fdb")).body is None
    assert lsw.fdb == {} and lsw.state.keys("fdb/") == []


async def test_an_unreachable_network_is_retried_and_queued_packets_handled() -> None:
    lsw = LearningSwitch("lsw", "cm")
    lsw.RETRY_FIRST = 0.01
    instances = host(lsw)
    await lsw.on_initialize()
    await lsw.on_connection_added(connection())  # the network is not hosted yet
    assert not lsw.ready
    net = Network("net", "cm")
    net.calls = lsw.calls
    build(net)
    net.packets.add("in", in_packet(A, B, "n1", "p1"))  # queued while the switch was away
    instances["net"] = net
    async with asyncio.timeout(5):
        while not lsw.ready:
            await asyncio.sleep(0.01)
    assert A in lsw.fdb and len(net.packets.outbound) == 2
    assert len(net.packets.inbound) == 0


async def test_a_full_fdb_learns_no_more_and_says_so_each_time_it_fills(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Regression: the "FDB is full" warning was given once per process: after DELETE fdb
    # and a second filling, nothing said so.
    monkeypatch.setattr("odenos.components.learningswitch.component.FDB_LIMIT", 1)
    lsw, net = await connected()
    caplog.set_level(logging.WARNING)
    await send(lsw, net, in_packet(A, B, "n1", "p1"))
    assert len(await send(lsw, net, in_packet(B, A, "n3", "p3"))) == 1  # still forwarded
    assert set(lsw.fdb) == {A}
    assert (await call(lsw, "DELETE", "fdb")).status == 200
    await send(lsw, net, in_packet(B, A, "n3", "p3"))
    await send(lsw, net, in_packet(C, A, "n3", "p3"))
    assert set(lsw.fdb) == {B}
    assert caplog.text.count("the FDB is full") == 2


async def test_the_vlan_switch_installs_one_flow_per_pair_and_vlan() -> None:
    lsw, net = await connected(LearningSwitchVlan)
    out = await send(lsw, net, in_packet(A, B, "n1", "p1", vlan_vid=10))
    assert len(out) == 2 and all(p["header"]["vlan_vid"] == 10 for p in out)  # the tag kept
    out = await send(lsw, net, in_packet(B, A, "n3", "p3", vlan_vid=10))
    assert [(p["node"], p["ports"], p["header"]["vlan_vid"]) for p in out] == [("n1", ["p1"], 10)]
    flow = net.flows.flow("lsw_0").to_json()
    assert flow["matches"] == [
        {
            "type": "OFPFlowMatch",
            "in_node": "n3",
            "in_port": "p3",
            "eth_src": B,
            "eth_dst": A,
            "vlan_vid": 10,
        }
    ]
    assert flow["path"] == ["l32", "l21"]
    # The same pair on the same VLAN: already there.  On another VLAN, or untagged
    # (no vlan_vid: any VLAN): a flow each.
    await send(lsw, net, in_packet(B, A, "n3", "p3", vlan_vid=10))
    assert set(net.flows.flows) == {"lsw_0"}
    await send(lsw, net, in_packet(B, A, "n3", "p3", vlan_vid=20))
    await send(lsw, net, in_packet(B, A, "n3", "p3"))
    matches = {k: f.to_json()["matches"][0] for k, f in net.flows.flows.items()}
    assert {k: m.get("vlan_vid") for k, m in matches.items()} == {
        "lsw_0": 10,
        "lsw_1": 20,
        "lsw_2": None,
    }
    await send(lsw, net, in_packet(B, A, "n3", "p3", vlan_vid=20))
    assert len(net.flows.flows) == 3
    # One FDB entry per MAC, whatever the VLAN (the LearningSwitch's REST answer).
    assert (await call(lsw, "GET", "fdb")).body == {
        A: {"node_id": "n1", "port_id": "p1"},
        B: {"node_id": "n3", "port_id": "p3"},
    }
    # Read back from the network (as after a restart), each keeps its VLAN.
    await lsw._rebuild()
    assert lsw.flows["lsw_1"].extra_match == (("vlan_vid", 20),)
    await send(lsw, net, in_packet(B, A, "n3", "p3", vlan_vid=20))
    assert len(net.flows.flows) == 3

    # A link of their path deleted: every VLAN's flow goes.
    await send(lsw, net, in_packet(A, B, "n1", "p1", vlan_vid=10))  # lsw_3: n1 -> n3
    net.topology.delete_link("l21")
    await lsw.on_event(Event("net", "LinkChanged", {"action": "delete", "id": "l21"}))
    assert set(net.flows.flows) == {"lsw_3"}
    # A moved (learnt on VLAN 30): its flows on VLAN 10 go too.
    net.topology.put_port("n3", "p5", {"node_id": "n3", "port_id": "p5"})
    await lsw.on_event(
        Event("net", "PortChanged", {"action": "add", "id": "p5", "curr": {"node_id": "n3"}})
    )
    await send(lsw, net, in_packet(A, C, "n3", "p5", vlan_vid=30))
    assert lsw.fdb[A] == Location("n3", "p5")
    assert net.flows.flows == {}
