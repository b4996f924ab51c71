"""The Aggregator's parts: naming, the topology mirror and its paths, flow translation,
the status steps; and the component against real Network instances in one process
(the manager's own in-process ObjectClient), with events handed to it by the test.

The end-to-end behaviour across processes is tests/test_aggregator_e2e.py.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from typing import Any

import pytest

from odenos.components.aggregator import Aggregator
from odenos.components.aggregator.naming import (
    aggregated_flow_id,
    original_flow_id,
    port_name,
    port_origin,
)
from odenos.components.aggregator.packets import in_packet_up, out_packets_down
from odenos.components.aggregator.routing import BadTopologyData, TopologyMirror
from odenos.components.aggregator.translation import (
    UntranslatableFlow,
    refers_to,
    same_content,
    translate,
)
from odenos.components.logic import REASON, status_steps
from odenos.components.network import Network
from odenos.model.event import Event
from tests.support import host
from tests.topology import link

# --- naming ----------------------------------------------------------------------------------


def test_port_names_read_like_odenos_and_map_back() -> None:
    assert port_name("node001", "port0011") == "node001_port0011"
    assert port_origin("node001_port0011") == ("node001", "port0011")
    assert port_name("sw_1", "eth_0") == "sw~u1_eth_0"
    assert port_origin("sw~u1_eth_0") == ("sw_1", "eth_0")


def test_port_names_are_injective_on_awkward_ids() -> None:
    parts = ["a", "_", "a_", "_a", "a_b", "~", "a~u", "~u", "a~", "b"]
    names: dict[str, tuple[str, str]] = {}
    for node, port in itertools.product(parts, parts):
        name = port_name(node, port)
        assert name not in names, (name, names.get(name), (node, port))
        names[name] = (node, port)
        assert port_origin(name) == (node, port)


@pytest.mark.parametrize("name", ["", "noseparator", "_port", "node_", "bad~xescape_p"])
def test_names_the_aggregator_does_not_make_map_to_nothing(name: str) -> None:
    assert port_origin(name) is None


def test_flow_ids_are_prefixed_with_the_aggregator() -> None:
    assert original_flow_id("agg", "f1") == "agg_f1"
    assert aggregated_flow_id("agg", "agg_f1") == "f1"
    assert aggregated_flow_id("agg", "other_f1") is None
    assert aggregated_flow_id("agg", "agg_") is None


# --- the topology mirror and paths -----------------------------------------------------------


def port(
    node_id: str,
    port_id: str,
    in_link: str | None = None,
    out_link: str | None = None,
    **attributes: Any,
) -> dict[str, Any]:
    return {
        "type": "Port",
        "node_id": node_id,
        "port_id": port_id,
        "in_link": in_link,
        "out_link": out_link,
        "attributes": attributes,
    }


def square() -> TopologyMirror:
    """a -> b -> d and a -> c -> d (one way only), with edge ports a/in and d/out."""
    mirror = TopologyMirror()
    nodes: dict[str, Any] = {n: {"node_id": n, "ports": {}} for n in "abcd"}
    links = {
        "ab": link("ab", "a/1", "b/1"),
        "bd": link("bd", "b/2", "d/1"),
        "ac": link("ac", "a/2", "c/1"),
        "cd": link("cd", "c/2", "d/2"),
    }
    for lk in links.values():
        src, dst = (lk["src_node"], lk["src_port"]), (lk["dst_node"], lk["dst_port"])
        nodes[src[0]]["ports"][src[1]] = port(*src, out_link=lk["link_id"])
        nodes[dst[0]]["ports"][dst[1]] = port(*dst, in_link=lk["link_id"])
    nodes["a"]["ports"]["in"] = port("a", "in", vendor="x")
    nodes["d"]["ports"]["out"] = port("d", "out")
    assert mirror.replace({"type": "Topology", "nodes": nodes, "links": links}) == []
    return mirror


def test_edge_ports_are_the_ports_without_links() -> None:
    mirror = square()
    edges = mirror.edge_ports()
    assert set(edges) == {"a_in", "d_out"}
    assert edges["a_in"].attributes == {"vendor": "x"}
    assert mirror.edge_port("a_in") is edges["a_in"]
    assert mirror.edge_port("a_1") is None  # a port, but linked
    assert mirror.edge_port("zz_in") is None


def test_shortest_path_follows_direction_costs_and_status() -> None:
    mirror = square()
    # Equal cost: the tie goes to the lower node id (b).
    assert mirror.shortest_path("a", "d") == ["ab", "bd"]
    assert mirror.shortest_path("d", "a") is None  # links are one way
    assert mirror.shortest_path("a", "a") == []
    assert mirror.shortest_path("a", "nowhere") is None
    mirror.set_link(link("ab", "a/1", "b/1", cost="5"))
    assert mirror.shortest_path("a", "d") == ["ac", "cd"]
    mirror.set_link(link("cd", "c/2", "d/2", oper_status="DOWN"))
    assert mirror.shortest_path("a", "d") == ["ab", "bd"]
    mirror.remove_link("ab")
    assert mirror.shortest_path("a", "d") is None
    assert not mirror.path_ok(["ab", "bd"], "a", "d")
    assert mirror.path_ok([], "b", "b")


def test_unusable_costs_count_as_one() -> None:
    mirror = square()
    for cost in ("cheap", -3, 0, None, [1]):
        mirror.set_link(link("ab", "a/1", "b/1", cost=cost))
        mirror.set_link(link("ac", "a/2", "c/1", cost=2))
        assert mirror.shortest_path("a", "d") == ["ab", "bd"], cost


def test_malformed_topology_data_is_refused_or_skipped() -> None:
    mirror = TopologyMirror()
    with pytest.raises(BadTopologyData):
        mirror.replace(["not", "a", "topology"])
    with pytest.raises(BadTopologyData):
        mirror.set_port({"node_id": "a"})
    with pytest.raises(BadTopologyData):
        mirror.set_link({"link_id": "l", "src_node": 3, "dst_node": "b"})
    problems = mirror.replace(
        {
            "nodes": {
                "a": {"node_id": "a", "ports": {"p": port("a", "p"), "q": "junk"}},
                "b": {"ports": {}},
                "c": {"node_id": "c", "ports": {"x": port("elsewhere", "x")}},
            },
            "links": {"l": {"link_id": "l"}},
        }
    )
    assert len(problems) == 4, problems
    assert set(mirror.edge_ports()) == {"a_p"}


# --- translation -----------------------------------------------------------------------------


def agg_flow(in_port: Any = "a_in", out_port: Any = "d_out", **extra: Any) -> dict[str, Any]:
    return {
        "type": "BasicFlow",
        "version": "3",
        "flow_id": "f1",
        "owner": "me",
        "enabled": False,
        "priority": "7",
        "status": "none",
        "matches": [{"type": "BasicFlowMatch", "in_node": "agg", "in_port": in_port}],
        "path": [],
        "edge_actions": {"agg": [{"type": "FlowActionOutput", "output": out_port}]},
        "attributes": {"bandwidth": "10", REASON: "old"},
        **extra,
    }


def test_translate_carries_the_flow_along_the_shortest_path() -> None:
    wanted = translate(agg_flow(), "agg", "agg_f1", square())
    assert wanted == {
        "type": "BasicFlow",
        "flow_id": "agg_f1",
        "owner": "me",
        "enabled": False,
        "priority": "7",
        "matches": [{"type": "BasicFlowMatch", "in_node": "a", "in_port": "in"}],
        "path": ["ab", "bd"],
        "edge_actions": {"d": [{"type": "FlowActionOutput", "output": "out"}]},
        "attributes": {"bandwidth": "10"},
    }
    # The current path is kept while it is usable, though another is as short.
    kept = translate(agg_flow(), "agg", "agg_f1", square(), current_path=["ac", "cd"])
    assert kept["path"] == ["ac", "cd"]
    stale = translate(agg_flow(), "agg", "agg_f1", square(), current_path=["ac", "gone"])
    assert stale["path"] == ["ab", "bd"]


def test_actions_listed_under_another_node_id_are_the_aggregated_nodes() -> None:
    """ODENOS's samples list the aggregated node's actions under another node id (the
    aggregated network has one node): they are carried all the same, as ODENOS did."""
    flow = agg_flow(edge_actions={"node1": [{"type": "FlowActionOutput", "output": "d_out"}]})
    wanted = translate(flow, "agg", "agg_f1", square())
    assert wanted["edge_actions"] == {"d": [{"type": "FlowActionOutput", "output": "out"}]}


def test_translate_carries_an_ofp_flow_with_its_fields_actions_and_timeouts() -> None:
    """An OFPFlow stays one below: OpenFlow fields kept with the original's in_node and
    in_port, OpenFlow actions in their order around the translated output, timeouts."""
    set_vlan = {"type": "OFPFlowActionSetField", "match": {"type": "OFPFlowMatch", "vlan_vid": 5}}
    flow = agg_flow(
        type="OFPFlow",
        idle_timeout=60,
        hard_timeout=0,
        matches=[
            {
                "type": "OFPFlowMatch",
                "in_node": "agg",
                "in_port": "a_in",
                "eth_type": 2048,
                "ipv4_dst": "10.0.0.2",
            }
        ],
        edge_actions={
            "agg": [
                set_vlan,
                {"type": "FlowActionOutput", "output": "d_out"},
                {"type": "OFPFlowActionDecIpTtl"},
            ]
        },
    )
    wanted = translate(flow, "agg", "agg_f1", square())
    assert wanted["type"] == "OFPFlow"
    assert (wanted["idle_timeout"], wanted["hard_timeout"]) == (60, 0)
    assert wanted["matches"] == [
        {
            "type": "OFPFlowMatch",
            "in_node": "a",
            "in_port": "in",
            "eth_type": 2048,
            "ipv4_dst": "10.0.0.2",
        }
    ]
    assert wanted["edge_actions"] == {
        "d": [
            set_vlan,
            {"type": "FlowActionOutput", "output": "out"},
            {"type": "OFPFlowActionDecIpTtl"},
        ]
    }
    assert same_content(wanted, {**wanted, "version": "2", "status": "established"})
    assert not same_content(wanted, {**wanted, "idle_timeout": 5})
    assert not same_content(wanted, {**wanted, "type": "BasicFlow"})


def test_same_content_ignores_status_version_and_priority_spelling() -> None:
    wanted = translate(agg_flow(), "agg", "agg_f1", square())
    stored = {**wanted, "priority": 7, "status": "established", "version": "4"}
    assert same_content(wanted, stored)
    assert not same_content(wanted, {**stored, "enabled": True})
    assert not same_content(wanted, {**stored, "path": ["ac", "cd"]})


@pytest.mark.parametrize(
    ("flow", "reason"),
    [
        (agg_flow(matches=[]), "no matches"),
        (agg_flow(in_port=None), "needs an in_port"),
        (agg_flow(in_port="a_1"), "'a_1' is not a port"),
        (agg_flow(out_port="zz_out"), "'zz_out' is not a port"),
        (agg_flow(out_port=5), "5 is not a port"),
        (agg_flow(edge_actions={}), "no edge_actions"),
        (agg_flow(edge_actions={"agg": []}), "no output action"),
        (agg_flow(edge_actions={"agg": ["out"]}), "not an action"),
        (
            agg_flow(edge_actions={"agg": [{"type": "OFPFlowActionPopVlan"}]}),
            "has no FlowActionOutput",
        ),
        (agg_flow(edge_actions={"agg": [], "x": []}), "no output action"),
        (agg_flow(edge_actions={"x": {}}), "edge_actions.x is not a list"),
        (
            agg_flow(matches=[{"in_node": "agg", "in_port": "a_in"}, {"in_node": "agg"}]),
            "matches[1] needs an in_port",
        ),
        (agg_flow(matches=[{"in_node": "other", "in_port": "a_in"}]), "does not enter"),
        (agg_flow(in_port="d_out", out_port="a_in"), "no path from node 'd' to node 'a'"),
    ],
)
def test_untranslatable_flows_say_why(flow: dict[str, Any], reason: str) -> None:
    with pytest.raises(UntranslatableFlow) as caught:
        translate(flow, "agg", "agg_f1", square())
    assert reason in caught.value.reason


def test_ports_on_several_nodes_need_several_paths() -> None:
    mirror = square()
    mirror.set_port(port("b", "edge"))
    flow = agg_flow(
        edge_actions={
            "agg": [
                {"type": "FlowActionOutput", "output": "d_out"},
                {"type": "FlowActionOutput", "output": "b_edge"},
            ]
        }
    )
    with pytest.raises(UntranslatableFlow, match="several original nodes"):
        translate(flow, "agg", "agg_f1", mirror)


def test_refers_to_the_aggregated_node() -> None:
    assert refers_to(agg_flow(), "agg")
    assert refers_to(agg_flow(matches=[]), "agg")  # by its edge actions
    assert not refers_to(agg_flow(matches=[], edge_actions={"x": []}), "agg")
    assert not refers_to({"matches": "junk", "edge_actions": None}, "agg")


@pytest.mark.parametrize(
    ("current", "target", "steps"),
    [
        ("none", "none", []),
        ("none", "establishing", ["establishing"]),
        ("none", "established", ["establishing", "established"]),
        ("establishing", "established", ["established"]),
        ("established", "teardown", ["teardown"]),
        ("established", "none", ["teardown", "none"]),
        ("teardown", "none", ["none"]),
        ("teardown", "established", ["none", "establishing", "established"]),
        ("failed", "none", ["none"]),
        ("failed", "established", ["none", "establishing", "established"]),
        ("established", "failed", ["failed"]),
        ("none", "teardown", []),
        ("none", "bogus", []),
        ("bogus", "none", []),
    ],
)
def test_status_steps(current: str, target: str, steps: list[str]) -> None:
    assert status_steps(current, target) == steps


# --- the component, in one process -----------------------------------------------------------


def connection(kind: str, network_id: str) -> dict[str, Any]:
    return {
        "id": f"c-{kind}",
        "type": "LogicAndNetwork",
        "connection_type": kind,
        "logic_id": "agg",
        "network_id": network_id,
    }


async def connected() -> tuple[Aggregator, Network, Network]:
    agg, below, above = Aggregator("agg", "cm"), Network("net0", "cm"), Network("net1", "cm")
    host(agg, below, above)
    below.topology.put_node("a", {"node_id": "a"})
    below.topology.put_port("a", "in", {"attributes": {"vendor": "x"}})
    await agg.on_connection_added(connection("original", "net0"))
    await agg.on_connection_added(connection("aggregated", "net1"))
    assert agg.ready
    return agg, below, above


async def test_bad_events_are_logged_and_change_nothing(caplog: pytest.LogCaptureFixture) -> None:
    agg, below, above = await connected()
    assert set(above.topology.node("agg").ports) == {"a_in"}
    caplog.set_level(logging.WARNING)
    for event in [
        Event("net0", "PortChanged", {"action": "add"}),
        Event("net0", "PortChanged", {"action": "add", "id": "p", "curr": "junk"}),
        Event("net0", "PortChanged", {"action": "add", "id": 5}),
        Event("net0", "LinkChanged", {"action": "add", "id": "nosuch"}),
        Event("net0", "NodeChanged", {"action": "delete", "id": "nosuch"}),
        Event("net1", "FlowChanged", {"action": "add", "id": "nosuch"}),
        Event("net0", "FlowChanged", {"action": "add", "id": "agg_nosuch"}),
        Event("elsewhere", "FlowChanged", {"action": "add", "id": "x"}),
    ]:
        await agg.on_event(event)
    assert "without an id" in caplog.text
    assert set(above.topology.node("agg").ports) == {"a_in"}
    assert below.flows.flows == {} and above.flows.flows == {}


async def test_an_unreachable_network_is_retried_until_it_answers() -> None:
    agg, below = Aggregator("agg", "cm"), Network("net0", "cm")
    instances = host(agg, below)
    agg.RETRY_FIRST = 0.01
    await agg.on_connection_added(connection("original", "net0"))
    await agg.on_connection_added(connection("aggregated", "net1"))  # not hosted yet
    assert not agg.ready
    above = Network("net1", "cm")
    above.calls = agg.calls
    instances["net1"] = above
    async with asyncio.timeout(5):
        while not agg.ready:
            await asyncio.sleep(0.01)
    assert "agg" in above.topology.nodes
    await agg.on_connection_deleted(connection("aggregated", "net1"))
    assert "agg" not in above.topology.nodes


async def test_connections_it_cannot_take_are_refused() -> None:
    agg, _, _ = await connected()
    with pytest.raises(ValueError, match="already has 'net0'"):
        await agg.on_connection_added(connection("original", "net2"))
    with pytest.raises(ValueError, match="'sliver'"):
        await agg.on_connection_added(connection("sliver", "net2"))
    fresh = Aggregator("agg2", "cm")
    await fresh.on_connection_added(connection("original", "net0"))
    with pytest.raises(ValueError, match="both original and aggregated"):
        await fresh.on_connection_added(connection("aggregated", "net0"))


def test_in_packets_go_up_from_edge_ports_only() -> None:
    mirror = square()
    packet = {
        "type": "OFPInPacket",
        "packet_id": "0000000003",
        "node": "a",
        "port": "in",
        "header": {"type": "OFPFlowMatch", "in_node": "a", "in_port": "in", "eth_type": 2054},
        "data": "AAEC",
        "attributes": {"k": "v"},
        "time": 1.5,
    }
    assert in_packet_up(packet, "agg", mirror) == {
        "type": "OFPInPacket",
        "node": "agg",
        "port": "a_in",
        "header": {"type": "OFPFlowMatch", "in_node": "agg", "in_port": "a_in", "eth_type": 2054},
        "data": "AAEC",
        "attributes": {"k": "v"},
        "time": 1.5,
    }
    # Came in at a port with a link (inside the original network): not carried up.
    assert in_packet_up({**packet, "port": "1"}, "agg", mirror) is None
    assert in_packet_up({**packet, "node": "zz"}, "agg", mirror) is None


def test_out_packets_go_down_one_per_original_node() -> None:
    mirror = square()
    packet = {
        "type": "OutPacket",
        "packet_id": "0000000000",
        "node": "agg",
        "ports": ["d_out"],
        "ports-except": [],
        "header": {"type": "BasicFlowMatch", "in_node": "agg", "in_port": "a_in"},
        "data": "AAEC",
        "attributes": {},
    }
    assert out_packets_down(packet, "agg", mirror) == [
        {
            "type": "OutPacket",
            "node": "d",
            "ports": ["out"],
            "header": {"type": "BasicFlowMatch", "in_node": "a", "in_port": "in"},
            "data": "AAEC",
            "attributes": {},
        }
    ]
    # A flood: every edge port but the excepted, from each port's own node.
    flood = {**packet, "ports": [], "ports-except": ["a_in"]}
    assert [(p["node"], p["ports"]) for p in out_packets_down(flood, "agg", mirror)] == [
        ("d", ["out"])
    ]
    everywhere = {**packet, "ports": [], "ports-except": []}
    assert sorted((p["node"], p["ports"]) for p in out_packets_down(everywhere, "agg", mirror)) == [
        ("a", ["in"]),
        ("d", ["out"]),
    ]
    # Not the aggregated node's, or no edge port named: nothing goes down.
    assert out_packets_down({**packet, "node": "other"}, "agg", mirror) == []
    assert out_packets_down({**packet, "ports": ["zz_9"]}, "agg", mirror) == []
