"""The Federator: its pure rules (names, boundaries, the federated picture, flow splits,
statuses, packets), then the component in one process, over in-process Networks whose
events a small bus delivers."""

from __future__ import annotations

import asyncio
import copy
import logging
from typing import Any

import pytest

from odenos.components.aggregator.translation import UntranslatableFlow
from odenos.components.base import Component, Request, Response
from odenos.components.federator import Federator
from odenos.components.federator.model import Federation, parse_boundary
from odenos.components.federator.naming import segment_id, segment_origin
from odenos.components.federator.packets import in_packet_up, out_packets_down
from odenos.components.federator.translation import split_flow, target_status
from odenos.components.network import Network
from odenos.errors import BadRequest, Conflict, NotFound
from odenos.model.event import Event
from tests.support import host

OUT = "FlowActionOutput"

# --- names -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flow_id", "index"), [("flow01", 0), ("a_b_1", 3), ("x", 12), ("_", 1), ("1_2", 0)]
)
def test_segment_ids_map_back(flow_id: str, index: int) -> None:
    made = segment_id("fed", flow_id, index)
    assert made == f"fed_{flow_id}_{index}"
    assert segment_origin("fed", made) == (flow_id, index)


@pytest.mark.parametrize(
    "name", ["flow01", "fed_", "fed_x", "fed__1", "fed_x_01", "fed_x_y", "fe_x_1"]
)
def test_names_the_federator_does_not_make_map_to_nothing(name: str) -> None:
    assert segment_origin("fed", name) is None


# --- boundaries ------------------------------------------------------------------------------

BOUNDARY = {
    "id": "b1",
    "type": "Federator",
    "network1": "n0",
    "node1": "s2",
    "port1": "p22",
    "network2": "n1",
    "node2": "s1",
    "port2": "p11",
}


def test_a_boundary_is_taken_with_its_id() -> None:
    assert parse_boundary(BOUNDARY, "b1") == BOUNDARY
    without = {k: v for k, v in BOUNDARY.items() if k not in ("id", "type")}
    assert parse_boundary(without, "b1") == BOUNDARY


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ([BOUNDARY], "JSON object"),
        ({**BOUNDARY, "id": "b2"}, "is not 'b1'"),
        ({**BOUNDARY, "type": "Slicer"}, "type"),
        ({**BOUNDARY, "port1": None}, "needs port1"),
        ({k: v for k, v in BOUNDARY.items() if k != "network2"}, "needs network2"),
        ({**BOUNDARY, "node1": 5}, "node1"),
        ({**BOUNDARY, "node1": ""}, "node1"),
        ({**BOUNDARY, "port2": "a/b"}, "port2"),
        ({**BOUNDARY, "port2": "p" * 300}, "longer"),
        ({**BOUNDARY, "network1": "bad id!"}, "network1"),
        ({**BOUNDARY, "network2": "n0"}, "two different networks"),
        ({**BOUNDARY, "colour": "red"}, "colour"),
    ],
)
def test_bad_boundaries_are_refused(body: Any, words: str) -> None:
    with pytest.raises(BadRequest, match=words):
        parse_boundary(body, "b1")


# --- the federated picture -------------------------------------------------------------------


def node(node_id: str, *ports: str, **attributes: Any) -> dict[str, Any]:
    return {
        "type": "Node",
        "node_id": node_id,
        "attributes": attributes,
        "ports": {
            p: {"type": "Port", "node_id": node_id, "port_id": p, "attributes": {"bw": p}}
            for p in ports
        },
    }


def link(link_id: str, src: str, dst: str) -> dict[str, Any]:
    (sn, sp), (dn, dp) = src.split("/"), dst.split("/")
    return {
        "type": "Link",
        "link_id": link_id,
        "src_node": sn,
        "src_port": sp,
        "dst_node": dn,
        "dst_port": dp,
        "attributes": {"cost": "1"},
    }


def line() -> dict[str, Any]:
    """s1 -> s2 (l12) and back (l21); edge ports p11 (s1) and p22 (s2)."""
    return {
        "nodes": {"s1": node("s1", "p11", "p12", v="1"), "s2": node("s2", "p21", "p22")},
        "links": {"l12": link("l12", "s1/p12", "s2/p21"), "l21": link("l21", "s2/p21", "s1/p12")},
    }


def federation(boundary: bool = True) -> Federation:
    model = Federation()
    assert model.replace("n0", line()) == []
    assert model.replace("n1", line()) == []
    if boundary:
        model.set_boundaries({"b1": parse_boundary(BOUNDARY, "b1")})
    return model


def test_the_originals_are_shown_under_odenos_names() -> None:
    picture = federation(boundary=False).federated()
    assert set(picture.nodes) == {"n0_s1", "n0_s2", "n1_s1", "n1_s2"}
    assert picture.nodes["n0_s1"] == {"v": "1"}
    assert picture.ports[("n1_s2", "p22")] == {"bw": "p22"}
    assert set(picture.links) == {"n0_l12", "n0_l21", "n1_l12", "n1_l21"}
    fed_link = picture.links["n1_l12"]
    assert (fed_link["src_node"], fed_link["src_port"], fed_link["dst_node"]) == (
        "n1_s1",
        "p12",
        "n1_s2",
    )


def test_a_boundary_is_two_links_once_both_ports_exist() -> None:
    model = federation()
    links = model.federated().links
    assert links["b1_link01"]["src_node"] == "n0_s2" and links["b1_link01"]["dst_port"] == "p11"
    assert links["b1_link02"]["src_node"] == "n1_s1" and links["b1_link02"]["dst_node"] == "n0_s2"
    assert links["b1_link01"]["attributes"] == {"cost": "1"}
    assert model.boundary_ports_shown() == {("n0", "s2", "p22"), ("n1", "s1", "p11")}
    model.set_port("n1", "s1", "p11", None)
    assert "b1_link01" not in model.federated().links
    assert model.boundary_ports_shown() == set()
    model.set_port("n1", "s1", "p11", {"attributes": {}})
    assert {"b1_link01", "b1_link02"} <= set(model.federated().links)


def test_colliding_names_never_mix_two_objects() -> None:
    model = Federation()
    model.replace("a_b", {"nodes": {"c": node("c", "p1")}, "links": {}})
    model.replace("a", {"nodes": {"b_c": node("b_c", "p2", "p3")}, "links": {}})
    picture = model.federated()
    # "a" sorts first: node b_c of a is a_b_c; node c of a_b is not shown.
    assert picture.nodes == {"a_b_c": {}}
    assert set(picture.ports) == {("a_b_c", "p2"), ("a_b_c", "p3")}
    assert model.original_node("a_b_c") == ("a", "b_c")
    assert model.federated_node("a_b", "c") is None
    assert len(model.collisions) == 1 and "not shown" in model.collisions[0]
    assert model.maps()["original_network_node"] == {"a_b_c": ["a", "b_c"]}


def test_a_boundary_link_never_takes_an_original_links_name() -> None:
    model = Federation()
    model.replace(
        "b1",
        {"nodes": {"s": node("s", "p", "q")}, "links": {"link01": link("link01", "s/p", "s/q")}},
    )
    model.replace("n1", {"nodes": {"t": node("t", "r")}, "links": {}})
    model.set_boundaries(
        {
            "b1": parse_boundary(
                {
                    **BOUNDARY,
                    "network1": "b1",
                    "node1": "s",
                    "port1": "p",
                    "node2": "t",
                    "port2": "r",
                    "network2": "n1",
                },
                "b1",
            )
        }
    )
    links = model.federated().links
    assert links["b1_link01"]["src_port"] == "p" and links["b1_link01"]["dst_port"] == "q"
    assert model.link_owner["b1_link01"] == ("b1", "link01")
    assert "b1_link02" in model.boundary_link_owner
    assert any("already an original link" in c for c in model.collisions)


def test_malformed_topology_objects_are_skipped() -> None:
    model = Federation()
    problems = model.replace(
        "n0",
        {
            "nodes": {"s1": node("s1", "p1"), "bad": "junk"},
            "links": {"l": {"type": "Link", "src_node": "s1"}, "m": 7},
        },
    )
    assert len(problems) == 3
    assert set(model.federated().nodes) == {"n0_s1"}
    assert model.replace("n1", "junk") == ["n1: the topology is not a JSON object"]


def test_maps_read_like_odenos() -> None:
    maps = federation().maps()
    assert maps["federated_network_node"]["n0::s1"] == "n0_s1"
    assert maps["original_network_node"]["n1_s2"] == ["n1", "s2"]
    assert maps["federated_network_port"]["n0::s1::p11"] == ["n0_s1", "p11"]
    assert maps["original_network_port"]["n0_s1::p11"] == ["n0", "s1", "p11"]
    assert maps["federated_network_link"]["n1::l12"] == "n1_l12"
    assert maps["original_network_link"]["n1_l12"] == ["n1", "l12"]
    assert "b1_link01" not in maps["original_network_link"]


# --- flows -----------------------------------------------------------------------------------


def fed_flow(**extra: Any) -> dict[str, Any]:
    flow = {
        "type": "BasicFlow",
        "flow_id": "f1",
        "owner": "o",
        "enabled": True,
        "priority": 7,
        "matches": [{"type": "BasicFlowMatch", "in_node": "n0_s1", "in_port": "p11"}],
        "path": ["n0_l12", "b1_link01", "n1_l12"],
        "edge_actions": {"n1_s2": [{"type": OUT, "output": "p22"}]},
        "attributes": {"bandwidth": "5", "reason": "old"},
    }
    flow.update(extra)
    return flow


def test_a_flow_across_a_boundary_is_one_segment_per_network() -> None:
    segments = split_flow(fed_flow(), "fed", federation())
    assert list(segments) == ["fed_f1_0", "fed_f1_1"]
    (nw0, first), (nw1, second) = segments["fed_f1_0"], segments["fed_f1_1"]
    assert (nw0, nw1) == ("n0", "n1")
    assert first["matches"] == [{"type": "BasicFlowMatch", "in_node": "s1", "in_port": "p11"}]
    assert first["path"] == ["l12"]
    assert first["edge_actions"] == {"s2": [{"type": OUT, "output": "p22"}]}
    assert second["matches"] == [{"type": "BasicFlowMatch", "in_node": "s1", "in_port": "p11"}]
    assert second["path"] == ["l12"]
    assert second["edge_actions"] == {"s2": [{"type": OUT, "output": "p22"}]}
    for body in (first, second):
        assert (body["owner"], body["priority"], body["enabled"]) == ("o", "7", True)
        assert body["attributes"] == {"bandwidth": "5"}
        assert body["type"] == "BasicFlow" and "idle_timeout" not in body


def test_the_way_back_uses_the_other_boundary_link() -> None:
    flow = fed_flow(
        matches=[{"type": "BasicFlowMatch", "in_node": "n1_s2", "in_port": "p22"}],
        path=["n1_l21", "b1_link02", "n0_l21"],
        edge_actions={"n0_s1": [{"type": OUT, "output": "p11"}]},
    )
    segments = split_flow(flow, "fed", federation())
    assert segments["fed_f1_0"][0] == "n1"
    assert segments["fed_f1_0"][1]["edge_actions"] == {"s1": [{"type": OUT, "output": "p11"}]}
    assert segments["fed_f1_1"][0] == "n0"
    assert segments["fed_f1_1"][1]["matches"][0] == {
        "type": "BasicFlowMatch",
        "in_node": "s2",
        "in_port": "p22",
    }


def test_an_ofp_flow_keeps_its_fields_actions_and_timeouts() -> None:
    set_field = {"type": "OFPFlowActionSetField", "match": {"type": "OFPFlowMatch", "eth_src": "a"}}
    flow = fed_flow(
        type="OFPFlow",
        idle_timeout=60,
        hard_timeout=300,
        matches=[{"type": "OFPFlowMatch", "in_node": "n0_s1", "in_port": "p11", "eth_type": 2048}],
        edge_actions={"n1_s2": [set_field, {"type": OUT, "output": "p22"}]},
    )
    segments = split_flow(flow, "fed", federation())
    first, second = segments["fed_f1_0"][1], segments["fed_f1_1"][1]
    assert first["type"] == second["type"] == "OFPFlow"
    assert (second["idle_timeout"], second["hard_timeout"]) == (60, 300)
    assert second["matches"] == [
        {"type": "OFPFlowMatch", "in_node": "s1", "in_port": "p11", "eth_type": 2048}
    ]
    assert first["edge_actions"] == {"s2": [{"type": OUT, "output": "p22"}]}
    assert second["edge_actions"] == {"s2": [set_field, {"type": OUT, "output": "p22"}]}


def test_an_empty_path_inside_one_network_is_one_segment() -> None:
    flow = fed_flow(path=[], edge_actions={"n0_s1": [{"type": OUT, "output": "p12"}]})
    segments = split_flow(flow, "fed", federation())
    assert list(segments) == ["fed_f1_0"]
    assert segments["fed_f1_0"][1]["path"] == []
    assert split_flow({**flow, "path": None}, "fed", federation()) == segments


def test_a_path_entering_a_network_twice_gets_distinct_segments() -> None:
    model = federation()
    model.set_boundaries(
        {
            "b1": parse_boundary(BOUNDARY, "b1"),
            "b2": parse_boundary(
                {
                    **BOUNDARY,
                    "id": "b2",
                    "node1": "s1",
                    "port1": "p11",
                    "node2": "s2",
                    "port2": "p22",
                },
                "b2",
            ),
        }
    )
    flow = fed_flow(
        matches=[{"type": "BasicFlowMatch", "in_node": "n0_s1", "in_port": "p12"}],
        path=["n0_l12", "b1_link01", "n1_l12", "b2_link02"],
        edge_actions={"n0_s1": [{"type": OUT, "output": "p12"}]},
    )
    segments = split_flow(flow, "fed", model)
    assert [(k, v[0]) for k, v in segments.items()] == [
        ("fed_f1_0", "n0"),
        ("fed_f1_1", "n1"),
        ("fed_f1_2", "n0"),
    ]


def test_a_path_looping_across_a_boundary_is_carried_by_at_most_64_segments() -> None:
    """One PUT of a path crossing a boundary a thousand times made a thousand segments,
    each of whose changes re-read them all: its manager answered nothing for minutes."""

    def looping(crossings: int) -> dict[str, Any]:
        return fed_flow(
            matches=[{"type": "BasicFlowMatch", "in_node": "n0_s2", "in_port": "p21"}],
            path=["b1_link01", "b1_link02"] * (crossings // 2),
            edge_actions={"n0_s2": [{"type": OUT, "output": "p21"}]},
        )

    assert len(split_flow(looping(62), "fed", federation())) == 63
    for crossings in (64, 1000):
        with pytest.raises(UntranslatableFlow) as caught:
            split_flow(looping(crossings), "fed", federation())
        assert "at most 64 segment flows" in caught.value.reason


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"matches": []}, "no matches"),
        ({"matches": ["x"]}, "not a match"),
        ({"matches": [{"in_node": "nosuch"}]}, "no node"),
        ({"matches": [{"in_node": "n0_s1", "in_port": 5}]}, "not a port id"),
        (
            {"matches": [{"in_node": "n0_s1"}, {"in_node": "n1_s1"}]},
            "several original networks",
        ),
        ({"path": "n0_l12"}, "not a list"),
        ({"path": [5]}, "not a link id"),
        ({"path": ["nosuch"]}, "no link"),
        ({"path": ["n1_l12"]}, "but the flow is in 'n0'"),
        ({"path": ["n0_l12", "b1_link02"]}, "leaves 'n1'"),
        ({"path": ["n0_l12"]}, "but the path ends in 'n0'"),
        ({"edge_actions": {}}, "no edge_actions"),
        ({"edge_actions": {"nosuch": []}}, "no node"),
        ({"edge_actions": {"n1_s2": "x"}}, "not a list"),
        ({"edge_actions": {"n1_s2": [5]}}, "not an action"),
        ({"edge_actions": {"n1_s2": [{"type": OUT, "output": 3}]}}, "not a port id"),
        ({"edge_actions": {"n1_s2": [{"type": "OFPFlowActionPopVlan"}]}}, "no FlowActionOutput"),
    ],
)
def test_flows_it_cannot_carry_say_why(changes: dict[str, Any], words: str) -> None:
    with pytest.raises(UntranslatableFlow) as caught:
        split_flow(fed_flow(**changes), "fed", federation())
    assert words in caught.value.reason


@pytest.mark.parametrize(
    ("current", "segments", "target"),
    [
        ("none", ["none", "none"], "none"),
        ("none", ["establishing", "none"], "establishing"),
        ("establishing", ["established", "establishing"], "establishing"),
        ("establishing", ["established", "established"], "established"),
        ("none", ["established", "failed"], "failed"),
        ("established", ["teardown", "established"], "teardown"),
        ("teardown", ["none", "teardown"], "teardown"),
        ("teardown", ["none", "none"], "none"),
        ("established", ["established", "none"], "established"),
        ("failed", ["none"], "none"),
        ("established", [], "established"),
    ],
)
def test_the_federated_status_follows_the_segments(
    current: str, segments: list[str], target: str
) -> None:
    assert target_status(current, segments) == target


# --- packets ---------------------------------------------------------------------------------


def test_in_packets_go_up_except_at_boundary_ports() -> None:
    model = federation()
    packet = {
        "packet_id": "0000000001",
        "type": "OFPInPacket",
        "node": "s1",
        "port": "p11",
        "header": {"type": "OFPFlowMatch", "in_node": "s1", "in_port": "p11", "eth_type": 1},
        "data": "AA",
        "attributes": {"a": "1"},
    }
    up = in_packet_up(packet, "n0", model)
    assert up is not None and "packet_id" not in up
    assert (up["node"], up["port"], up["header"]["in_node"], up["header"]["in_port"]) == (
        "n0_s1",
        "p11",
        "n0_s1",
        "p11",
    )
    assert in_packet_up(packet, "n1", model) is None  # n1's s1/p11 is a boundary port
    assert in_packet_up({**packet, "node": "nosuch"}, "n0", model) is None
    assert in_packet_up({**packet, "node": 5}, "n0", model) is None
    odd = in_packet_up({**packet, "header": {"in_node": "nosuch", "in_port": "x"}}, "n0", model)
    assert odd is not None and odd["header"] == {}


def test_out_packets_go_to_the_nodes_network_and_floods_everywhere() -> None:
    model = federation()
    packet = {
        "type": "OutPacket",
        "node": "n1_s2",
        "ports": ["p22"],
        "header": {"type": "BasicFlowMatch", "in_node": "n1_s1", "in_port": "p12"},
        "data": "AA",
    }
    assert out_packets_down(packet, model) == [
        (
            "n1",
            {
                "type": "OutPacket",
                "data": "AA",
                "node": "s2",
                "ports": ["p22"],
                "header": {"type": "BasicFlowMatch", "in_node": "s1", "in_port": "p12"},
            },
        )
    ]
    assert out_packets_down({**packet, "node": "nosuch"}, model) == []
    flood = {"type": "OutPacket", "node": "n0_s1", "ports-except": ["p11"], "data": "AA"}
    down = out_packets_down(flood, model)
    assert [(nw, p["node"], p["ports-except"]) for nw, p in down] == [
        ("n0", "s1", ["p11"]),
        ("n1", "s1", ["p11"]),  # the boundary port
        ("n1", "s2", []),
    ]
    header = {"type": "OFPFlowMatch", "in_node": "n0_s1", "in_port": "p11"}
    down = out_packets_down({**flood, "header": header}, model)
    assert down[0][1]["header"] == {"type": "OFPFlowMatch", "in_node": "s1", "in_port": "p11"}
    assert down[1][1]["header"] == {"type": "OFPFlowMatch"}  # any, in another network


# --- the component, in one process -----------------------------------------------------------


class Bus:
    """Delivers the events of in-process components to their subscribers, when pumped."""

    def __init__(self, *components: Component) -> None:
        self.instances = host(*components)
        self.filters: dict[str, dict[str, list[str]]] = {}
        self.queue: list[Event] = []
        for component in components:
            component.events = self  # type: ignore[assignment]

    def publish(self, event: Event) -> None:
        self.queue.append(Event(event.publisher_id, event.event_type, copy.deepcopy(event.body)))

    async def set_filters(self, subscriber_id: str, filters: dict[str, list[str]]) -> None:
        self.filters[subscriber_id] = copy.deepcopy(filters)

    async def pump(self) -> None:
        while self.queue:
            event = self.queue.pop(0)
            for subscriber, filters in list(self.filters.items()):
                if event.event_type in filters.get(event.publisher_id, []):
                    await self.instances[subscriber].on_event(event)


def connection(kind: str, network_id: str) -> dict[str, Any]:
    return {
        "id": f"c-{network_id}",
        "type": "LogicAndNetwork",
        "connection_type": kind,
        "logic_id": "fed",
        "network_id": network_id,
    }


async def call(component: Component, method: str, path: str, body: Any = None) -> Any:
    reply = await component.dispatch(Request(method, path, {}, body))
    assert reply.status in (200, 201), reply
    return reply.body


async def settle(fed: Federator, bus: Bus) -> None:
    """Until the background build is done and every event is delivered."""
    if fed._retry is not None:
        async with asyncio.timeout(10):
            await fed._retry
    await bus.pump()


async def federated(
    fed: Federator | None = None,
) -> tuple[Federator, Network, Network, Network, Bus]:
    fed = fed or Federator("fed", "cm")
    n0, n1, top = Network("n0", "cm"), Network("n1", "cm"), Network("top", "cm")
    bus = Bus(fed, n0, n1, top)
    for network in (n0, n1):
        for node_id, body in line()["nodes"].items():
            await call(network, "PUT", f"topology/nodes/{node_id}", {**body, "ports": {}})
            for port_id, port in body["ports"].items():
                await call(network, "PUT", f"topology/nodes/{node_id}/ports/{port_id}", port)
        for link_id, body in line()["links"].items():
            await call(network, "PUT", f"topology/links/{link_id}", body)
    for conn in (
        connection("original", "n0"),
        connection("original", "n1"),
        connection("federated", "top"),
    ):
        await fed.on_connection_added(conn)
    await settle(fed, bus)
    assert fed.ready
    return fed, n0, n1, top, bus


async def drive(bus: Bus, network: Network, flow_id: str, *statuses: str) -> None:
    """Play the driver: take a segment flow through ``statuses``."""
    for status in statuses:
        flow = await call(network, "GET", f"flows/{flow_id}")
        await call(network, "PUT", f"flows/{flow_id}", {**flow, "status": status})
        await bus.pump()


async def test_topology_boundaries_and_flows_in_one_process() -> None:
    fed, n0, n1, top, bus = await federated()
    assert set(top.topology.nodes) == {"n0_s1", "n0_s2", "n1_s1", "n1_s2"}
    assert set(top.topology.links) == {"n0_l12", "n0_l21", "n1_l12", "n1_l21"}

    # A boundary: links and marks.
    assert await call(fed, "PUT", "settings/boundaries/b1", BOUNDARY) == BOUNDARY
    await bus.pump()
    assert {"b1_link01", "b1_link02"} <= set(top.topology.links)
    assert n0.topology.port("s2", "p22").attributes["is_boundary"] == "true"
    assert n1.topology.port("s1", "p11").attributes["is_boundary"] == "true"
    # Its port removed: the links go; back: they come again.
    await call(n1, "DELETE", "topology/nodes/s1/ports/p11")
    await bus.pump()
    assert "b1_link01" not in top.topology.links
    await call(n1, "PUT", "topology/nodes/s1/ports/p11", {"type": "Port", "attributes": {}})
    await bus.pump()
    assert {"b1_link01", "b1_link02"} <= set(top.topology.links)
    # Attribute changes follow; a node and its link going take theirs along.
    await call(n0, "PUT", "topology/nodes/s1", {"type": "Node", "attributes": {"v": "2"}})
    await bus.pump()
    assert top.topology.node("n0_s1").attributes["v"] == "2"

    # A flow across: two segments; the status follows theirs.
    await call(top, "PUT", "flows/f1", fed_flow(attributes={}))
    await bus.pump()
    assert set(n0.flows.flows) == {"fed_f1_0"} and set(n1.flows.flows) == {"fed_f1_1"}
    await drive(bus, n0, "fed_f1_0", "establishing", "established")
    assert top.flows.flows["f1"].status == "establishing"
    await drive(bus, n1, "fed_f1_1", "establishing", "established")
    assert top.flows.flows["f1"].status == "established"
    flow_map = await call(fed, "GET", "original_network_flow")
    assert flow_map == {"f1": [["n0", "fed_f1_0"], ["n1", "fed_f1_1"]]}
    assert (await call(fed, "GET", "federated_network_flow"))["n1::fed_f1_1"] == "f1"
    # One segment fails: the federated flow fails, with the segment's reason.
    await drive(bus, n1, "fed_f1_1", "failed")
    assert top.flows.flows["f1"].status == "failed"
    assert "fed_f1_1" in top.flows.flows["f1"].attributes["reason"]

    # Re-split: a new path (a shorter one inside n0) replaces the segments.
    current = await call(top, "GET", "flows/f1")
    await call(
        top,
        "PUT",
        "flows/f1",
        {
            **current,
            "path": ["n0_l12"],
            "edge_actions": {"n0_s2": [{"type": OUT, "output": "p22"}]},
        },
    )
    await bus.pump()
    assert "fed_f1_1" not in n1.flows.flows
    assert n0.flows.flows["fed_f1_0"].to_json()["edge_actions"] == {
        "s2": [{"type": OUT, "output": "p22"}]
    }

    # The boundary deleted: links and marks go; flows crossing it fail.
    await call(fed, "DELETE", "settings/boundaries/b1")
    await bus.pump()
    assert "b1_link01" not in top.topology.links
    assert n0.topology.port("s2", "p22").attributes["is_boundary"] == "false"

    # The federated connection deleted: everything made goes.
    await fed.on_connection_deleted(connection("federated", "top"))
    assert top.topology.nodes == {} and top.topology.links == {}
    assert n1.flows.flows == {}
    assert n0.flows.flows["fed_f1_0"].status == "teardown"  # deleted: the driver takes it
    assert top.flows.flows["f1"].status == "none"


async def test_originals_sharing_physical_ids_are_all_shown() -> None:
    """ODENOS's sample gives node001 physical_id "001" in both originals; a Network
    refuses a second node with one physical_id, so the second stays without it
    (before, all of network01 was missing from the federated network)."""
    fed, n0, n1, top, bus = await federated()
    for network in (n0, n1):
        await call(
            network,
            "PUT",
            "topology/nodes/s1",
            {"type": "Node", "attributes": {"physical_id": "001"}},
        )
        await bus.pump()
    assert {"n0_s1", "n1_s1"} <= set(top.topology.nodes)
    assert top.topology.node("n0_s1").attributes["physical_id"] == "001"
    assert "physical_id" not in top.topology.node("n1_s1").attributes
    assert {"p11", "p12"} <= set(top.topology.node("n1_s1").ports)
    assert "n1_l12" in top.topology.links
    assert any("physical_id '001'" in c for c in fed.model.collisions)
    # The first one lets go of it: the other is shown with it.
    await call(n0, "PUT", "topology/nodes/s1", {"type": "Node", "attributes": {}})
    await bus.pump()
    assert top.topology.node("n1_s1").attributes["physical_id"] == "001"


async def test_boundary_rest_answers_like_odenos() -> None:
    fed, _, _, _, _ = await federated()
    posted = await call(fed, "POST", "settings/boundaries", {**BOUNDARY, "id": "ignored"})
    assert posted["id"] != "ignored" and posted == {**BOUNDARY, "id": posted["id"]}
    with pytest.raises(Conflict):  # the same ports again
        await fed.dispatch(Request("PUT", "settings/boundaries/b1", {}, BOUNDARY))
    assert await call(fed, "PUT", f"settings/boundaries/{posted['id']}", {**posted}) == posted
    with pytest.raises(Conflict, match="already exist"):
        await fed.dispatch(
            Request("PUT", f"settings/boundaries/{posted['id']}", {}, {**posted, "port1": "p21"})
        )
    with pytest.raises(BadRequest):
        await fed.dispatch(Request("PUT", "settings/boundaries/bad id", {}, BOUNDARY))
    with pytest.raises(BadRequest):
        await fed.dispatch(Request("POST", "settings/boundaries", {}, "junk"))
    with pytest.raises(NotFound):
        await fed.dispatch(Request("DELETE", "settings/boundaries/nosuch", {}, None))
    assert await call(fed, "GET", "settings/boundaries") == {posted["id"]: posted}
    assert await call(fed, "GET", f"settings/boundaries/{posted['id']}") == posted
    with pytest.raises(NotFound):
        await fed.dispatch(Request("GET", "settings/boundaries/nosuch", {}, None))
    for route in ("federated_network_node", "original_network_port", "federated_network_link"):
        assert await call(fed, "GET", route)
    assert await call(fed, "DELETE", f"settings/boundaries/{posted['id']}") is None
    assert await call(fed, "GET", "settings/boundaries") == {}


async def test_boundaries_and_bookkeeping_survive_a_restart() -> None:
    fed, n0, n1, top, bus = await federated()
    await call(fed, "PUT", "settings/boundaries/b1", BOUNDARY)
    await call(top, "PUT", "flows/bad", fed_flow(flow_id="bad", path=["n0_l12"]))
    await bus.pump()
    assert top.flows.flows["bad"].status == "failed"
    records = dict(fed.state.items())
    again = Federator("fed", "cm")
    again.state._records = copy.deepcopy(records)
    again.WAIT_CAP = 0.05
    await again.on_initialize()
    assert again.model.boundaries == {"b1": BOUNDARY}
    assert again._failed == {"bad"} and again._expected == {"n0", "n1", "top"}
    # Connected again, federated network first: it waits for the originals.
    bus = Bus(again, n0, n1, top)
    await again.on_connection_added(connection("federated", "top"))
    await asyncio.sleep(0.01)
    assert not again.ready
    await again.on_connection_added(connection("original", "n1"))
    await again.on_connection_added(connection("original", "n0"))
    await settle(again, bus)
    assert again.ready and {"b1_link01", "b1_link02"} <= set(top.topology.links)


async def test_collisions_are_logged_and_bad_events_change_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fed, n0, _, top, bus = await federated()
    caplog.set_level(logging.WARNING)
    # n0's node x_y and node y of network n0_x would both be n0_x_y: n0 keeps it.
    await call(n0, "PUT", "topology/nodes/x_y", {"type": "Node", "attributes": {}})
    await bus.pump()
    other = Network("n0_x", "cm")
    bus.instances["n0_x"] = other
    other.calls = n0.calls
    other.events = bus  # type: ignore[assignment]
    await call(other, "PUT", "topology/nodes/y", {"type": "Node", "attributes": {"o": "1"}})
    await fed.on_connection_added(connection("original", "n0_x"))
    await settle(fed, bus)
    assert "name collision" in caplog.text
    assert fed.model.original_node("n0_x_y") == ("n0", "x_y")
    assert top.topology.node("n0_x_y").attributes.get("o") is None
    for event in [
        Event("n0", "PortChanged", {"action": "add"}),
        Event("n0", "PortChanged", {"action": "add", "id": "p", "curr": "junk"}),
        Event("n0", "LinkChanged", {"action": "add", "id": "nosuch"}),
        Event("n0", "NodeChanged", {"action": "delete", "id": "nosuch"}),
        Event("top", "FlowChanged", {"action": "add", "id": "nosuch"}),
        Event("n0", "FlowChanged", {"action": "add", "id": "fed_nosuch_0"}),
        Event("n0", "InPacketAdded", {"action": "add", "id": "0000000009"}),
        Event("elsewhere", "FlowChanged", {"action": "add", "id": "x"}),
    ]:
        await fed.on_event(event)
    assert "without an id" in caplog.text
    assert set(top.topology.nodes) == {"n0_s1", "n0_s2", "n1_s1", "n1_s2", "n0_x_y"}


async def test_connections_it_cannot_take_are_refused() -> None:
    fed, _, _, _, _ = await federated()
    with pytest.raises(ValueError, match="already has 'top'"):
        await fed.on_connection_added(connection("federated", "other"))
    with pytest.raises(ValueError, match="is the federated network"):
        await fed.on_connection_added(connection("original", "top"))
    fresh = Federator("x", "cm")
    await fresh.on_connection_added(connection("original", "n0"))
    with pytest.raises(ValueError, match="already an original"):
        await fresh.on_connection_added(connection("federated", "n0"))
    with pytest.raises(ValueError, match="'sliver'"):
        await fed.on_connection_added(connection("sliver", "n2"))


async def test_a_rebuild_removes_what_is_no_longer_wanted() -> None:
    fed, _, _, top, bus = await federated()
    # Left behind while the Federator was away: a node of n0 deleted since, and a link of
    # a boundary deleted while the federated network did not answer.
    await call(top, "PUT", "topology/nodes/n0_gone", {"type": "Node", "attributes": {}})
    stale = {
        "type": "Link",
        "link_id": "old_link01",
        "src_node": "n0_s1",
        "src_port": "p11",
        "dst_node": "n1_s2",
        "dst_port": "p22",
    }
    await call(top, "PUT", "topology/links/old_link01", stale)
    await call(top, "PUT", "topology/nodes/mine", {"type": "Node", "attributes": {}})
    await fed.on_connection_added(connection("original", "n0"))  # rebuilds
    await settle(fed, bus)
    assert "n0_gone" not in top.topology.nodes and "old_link01" not in top.topology.links
    assert "mine" in top.topology.nodes  # not a name it gives: not its business


async def test_an_unreachable_network_is_retried_until_it_answers() -> None:
    fed, n0 = Federator("fed", "cm"), Network("n0", "cm")
    bus = Bus(fed, n0)
    fed.RETRY_FIRST = 0.01
    await fed.on_connection_added(connection("original", "n0"))
    await fed.on_connection_added(connection("federated", "top"))  # not hosted yet
    await asyncio.sleep(0.05)
    assert not fed.ready
    top = Network("top", "cm")
    top.calls, top.events = n0.calls, bus  # type: ignore[assignment]
    bus.instances["top"] = top
    await settle(fed, bus)
    assert fed.ready


async def test_a_boundary_acknowledged_while_a_network_is_down_is_made_once_it_answers() -> None:
    """Its links and marks were left undone (logged) until some later change: now it is
    built again, with the restart's retry, until the networks answer."""
    fed, n0, n1, top, bus = await federated()
    fed.RETRY_FIRST = 0.01
    plain = fed.request
    down = {"n1"}

    async def unavailable(object_id: str, *args: Any) -> Response:
        if object_id in down:
            return Response(503, {"error": "ObjectUnavailable", "message": f"{object_id}"})
        return await plain(object_id, *args)

    fed.request = unavailable  # type: ignore[method-assign]
    built = fed._retry
    assert await call(fed, "PUT", "settings/boundaries/b1", BOUNDARY) == BOUNDARY
    await bus.pump()  # the events of what was made meanwhile find n1 down too
    assert n1.topology.port("s1", "p11").attributes["is_boundary"] == "false"
    assert fed._retry is not built
    down.clear()
    await settle(fed, bus)
    assert fed.ready
    assert {"b1_link01", "b1_link02"} <= set(top.topology.links)
    assert n0.topology.port("s2", "p22").attributes["is_boundary"] == "true"
    assert n1.topology.port("s1", "p11").attributes["is_boundary"] == "true"
