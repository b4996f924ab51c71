"""The LinkLayerizer's rules (pure functions of :mod:`odenos.components.linklayerizer.translation`)
and the component against real Network instances in one process: their events are
delivered by a small in-test bus, so that a change goes all the way round at once.

The end-to-end behaviour across processes is tests/test_linklayerizer_e2e.py.
"""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest

from odenos.components.aggregator.translation import UntranslatableFlow
from odenos.components.base import Component, Request, Response
from odenos.components.linklayerizer import LinkLayerizer
from odenos.components.linklayerizer.translation import (
    best_flow,
    boundary_clash,
    link_body,
    link_of,
    mirror,
    parse_boundary,
    same_object,
    upper_flow,
)
from odenos.components.network import Network
from odenos.errors import BadRequest, Conflict, NotFound
from odenos.model.event import Event
from tests.support import host

B1 = {
    "id": "boundary1",
    "type": "LinkLayerizer",
    "upper_nw": "upper",
    "lower_nw": "lower",
    "upper_nw_node": "node002",
    "lower_nw_node": "node011",
    "upper_nw_port": "port0022",
    "lower_nw_port": "port0111",
}
B2 = {
    **B1,
    "id": "boundary2",
    "upper_nw_node": "node003",
    "lower_nw_node": "node012",
    "upper_nw_port": "port0031",
    "lower_nw_port": "port0122",
}


def lower_flow(status: str = "established", **extra: Any) -> dict[str, Any]:
    return {
        "type": "OFPFlow",
        "flow_id": "flow01",
        "owner": "logic",
        "enabled": True,
        "status": status,
        "idle_timeout": 60,
        "hard_timeout": 60,
        "matches": [{"type": "OFPFlowMatch", "in_node": "node011", "in_port": "port0111"}],
        "path": ["link0112"],
        "edge_actions": {
            "node012": [
                {"type": "FlowActionOutput", "output": "port0122"},
                {
                    "type": "OFPFlowActionSetField",
                    "match": {"type": "OFPFlowMatch", "eth_src": "ab:ff:ab:ff:ab:ff"},
                },
            ]
        },
        "attributes": {"bandwidth": "100", "req_bandwidth": "10", "latency": "5", "k": "v"},
        **extra,
    }


# --- boundaries ------------------------------------------------------------------------------


def test_a_boundary_is_parsed_under_the_path_id() -> None:
    assert parse_boundary({**B1, "id": "other", "junk": 1}, "boundary1") == B1
    without_type = {k: v for k, v in B1.items() if k not in ("type", "id")}
    assert parse_boundary(without_type, "boundary1") == B1


@pytest.mark.parametrize(
    "body",
    [
        None,
        [],
        "boundary",
        {**B1, "type": "Slicer"},
        {**B1, "id": 5},
        {k: v for k, v in B1.items() if k != "lower_nw_port"},
        {**B1, "upper_nw": ""},
        {**B1, "upper_nw_node": 7},
        {**B1, "lower_nw_node": "x" * 257},
        {**B1, "lower_nw_node": "a/b"},
        {**B1, "upper_nw_node": "..", "upper_nw_port": ".."},
        {**B1, "lower_nw_port": "."},
        {**B1, "lower_nw_port": "a\nb"},
        {**B1, "upper_nw": "lower"},
    ],
)
def test_bad_boundaries_are_refused(body: Any) -> None:
    with pytest.raises(BadRequest):
        parse_boundary(body, "boundary1")


def test_two_boundaries_may_not_share_a_port() -> None:
    assert boundary_clash(B2, {"boundary1": B1}) is None
    assert (
        boundary_clash(
            {**B2, "lower_nw_port": "port0111", "lower_nw_node": "node011"}, {"boundary1": B1}
        )
        == "boundary1"
    )
    assert boundary_clash(B1, {"boundary1": B1}) is None  # itself, replaced


# --- lower flow -> layerized link --------------------------------------------------------------


def test_a_lower_flow_between_boundaries_makes_a_link_between_their_upper_ports() -> None:
    boundaries = {"boundary1": B1, "boundary2": B2}
    made = link_of(lower_flow(), boundaries, "lower")
    assert made is not None and made[0] == "boundary1_boundary2"
    assert link_body(made[0], made[1], made[2], lower_flow()) == {
        "type": "Link",
        "link_id": "boundary1_boundary2",
        "src_node": "node002",
        "src_port": "port0022",
        "dst_node": "node003",
        "dst_port": "port0031",
        "attributes": {
            "cost": "1",
            "max_bandwidth": "100",
            "unreserved_bandwidth": "100",
            "req_bandwidth": "10",
            "latency": "5",
            "k": "v",
            "establishment_status": "established",
            "oper_status": "UP",
        },
    }
    attributes = link_body(made[0], made[1], made[2], lower_flow("establishing"))["attributes"]
    assert (attributes["establishment_status"], attributes["oper_status"]) == (
        "establishing",
        "DOWN",
    )


@pytest.mark.parametrize(
    "flow",
    [
        lower_flow("none"),
        lower_flow("teardown"),
        lower_flow(enabled=False),
        lower_flow(matches=[]),
        lower_flow(matches="junk"),
        lower_flow(matches=[{"in_node": "node011", "in_port": "port0112"}]),
        lower_flow(edge_actions={"node012": [{"type": "FlowActionOutput", "output": "port0121"}]}),
        lower_flow(edge_actions={"node012": "junk"}),
        lower_flow(edge_actions={}),
        lower_flow(edge_actions={"node011": [{"type": "FlowActionOutput", "output": "port0111"}]}),
        "junk",
        None,
    ],
)
def test_flows_that_make_no_link(flow: Any) -> None:
    assert link_of(flow, {"boundary1": B1, "boundary2": B2}, "lower") is None
    assert link_of(lower_flow(), {"boundary1": B1, "boundary2": B2}, "other") is None


def test_the_link_shows_the_best_of_its_flows() -> None:
    a, b = lower_flow("establishing", flow_id="a"), lower_flow("established", flow_id="b")
    assert best_flow([a, b]) is b
    assert best_flow([lower_flow("none")]) is None


# --- mirror and upper flows ---------------------------------------------------------------


def test_the_mirror_keeps_ids_and_attributes_only() -> None:
    port = {
        "type": "Port",
        "version": "3",
        "node_id": "n",
        "port_id": "p",
        "out_link": "l",
        "in_link": None,
        "attributes": {"a": "1"},
    }
    body = mirror(port, "Port")
    assert body == {"type": "Port", "node_id": "n", "port_id": "p", "attributes": {"a": "1"}}
    assert same_object(body, port) and not same_object(body, {**port, "attributes": {}})
    assert not same_object(body, None)


LINKS = {
    "link0012": {
        "link_id": "link0012",
        "src_node": "node001",
        "src_port": "port0012",
        "dst_node": "node002",
        "dst_port": "port0021",
    },
    "boundary1_boundary2": {
        "link_id": "boundary1_boundary2",
        "src_node": "node002",
        "src_port": "port0022",
        "dst_node": "node003",
        "dst_port": "port0031",
        "attributes": {"establishment_status": "established"},
    },
}


def layer_flow(path: Any) -> dict[str, Any]:
    return {
        "type": "OFPFlow",
        "flow_id": "lf",
        "version": "4",
        "status": "established",
        "owner": "o",
        "enabled": True,
        "priority": "10",
        "idle_timeout": 5,
        "hard_timeout": 0,
        "matches": [
            {"type": "OFPFlowMatch", "in_node": "node001", "in_port": "port0011", "eth_type": 2048}
        ],
        "path": path,
        "edge_actions": {
            "node003": [
                {
                    "type": "OFPFlowActionSetField",
                    "match": {"type": "OFPFlowMatch", "eth_dst": "00:00:00:00:00:01"},
                },
                {"type": "FlowActionOutput", "output": "port0032"},
            ]
        },
        "attributes": {"bandwidth": "1", "reason": "old"},
    }


def test_a_layerized_flow_is_carried_as_it_is_with_sync() -> None:
    made = {"boundary1_boundary2"}
    flow = layer_flow(["link0012", "boundary1_boundary2"])
    body = upper_flow(flow, LINKS, LINKS, made)
    assert body["path"] == ["link0012", "boundary1_boundary2"]
    assert body["matches"] == flow["matches"] and body["edge_actions"] == flow["edge_actions"]
    assert body["attributes"] == {"bandwidth": "1"}
    assert "status" not in body and "version" not in body
    assert body["idle_timeout"] == 5 and body["priority"] == "10"


def test_without_sync_a_made_link_is_replaced_by_the_upper_link_with_its_ends() -> None:
    made = {"boundary1_boundary2"}
    upper = {
        "link0012": LINKS["link0012"],
        "optical": {**LINKS["boundary1_boundary2"], "link_id": "optical"},
    }
    body = upper_flow(layer_flow(["link0012", "boundary1_boundary2"]), LINKS, upper, made)
    assert body["path"] == ["link0012", "optical"]
    with pytest.raises(UntranslatableFlow, match="no link with the ends"):
        upper_flow(
            layer_flow(["boundary1_boundary2"]), LINKS, {"link0012": LINKS["link0012"]}, made
        )


@pytest.mark.parametrize("path", ["link0012", [5], ["nosuch"]])
def test_untranslatable_paths(path: Any) -> None:
    with pytest.raises(UntranslatableFlow):
        upper_flow(layer_flow(path), LINKS, LINKS, set())


def test_a_link_of_a_failed_lower_flow_carries_nothing() -> None:
    links = copy.deepcopy(LINKS)
    links["boundary1_boundary2"]["attributes"]["establishment_status"] = "failed"
    with pytest.raises(UntranslatableFlow, match="failed"):
        upper_flow(layer_flow(["boundary1_boundary2"]), links, links, {"boundary1_boundary2"})


# --- the component, in one process -----------------------------------------------------------


class Bus:
    """Events of the hosted networks delivered to their subscribers by :meth:`pump`."""

    def __init__(self) -> None:
        self.queue: list[Event] = []
        self.filters: dict[str, dict[str, list[str]]] = {}
        self.components: dict[str, Component] = {}

    def publish(self, event: Event) -> None:
        self.queue.append(event)

    async def set_filters(self, subscriber_id: str, filters: dict[str, list[str]]) -> None:
        self.filters[subscriber_id] = copy.deepcopy(filters)

    async def pump(self) -> None:
        for _ in range(10000):
            if not self.queue:
                return
            event = self.queue.pop(0)
            for sub, filters in self.filters.items():
                if event.event_type in filters.get(event.publisher_id, []):
                    await self.components[sub].on_event(event)
        raise AssertionError("events do not settle")


def conn(kind: str, network: str) -> dict[str, Any]:
    return {
        "id": f"c-{kind}",
        "type": "LogicAndNetwork",
        "connection_type": kind,
        "logic_id": "ll",
        "network_id": network,
    }


async def setup(sync: bool = True) -> tuple[LinkLayerizer, Network, Network, Network, Bus]:
    ll = LinkLayerizer("ll", "cm")
    upper, lower, layer = Network("upper", "cm"), Network("lower", "cm"), Network("layer", "cm")
    bus = Bus()
    instances = host(ll, upper, lower, layer)
    for c in instances.values():
        c.events = bus
    bus.components = instances
    await ll.initialize()
    for n in ("node001", "node002", "node003"):
        upper.topology.put_node(n, {"node_id": n, "attributes": {"vendor": "V"}})
    for n, p in [
        ("node001", "port0011"),
        ("node001", "port0012"),
        ("node002", "port0021"),
        ("node002", "port0022"),
        ("node003", "port0031"),
        ("node003", "port0032"),
    ]:
        upper.topology.put_port(n, p, {"attributes": {}})
    upper.topology.put_link("link0012", {**LINKS["link0012"], "attributes": {"a": "b"}})
    for n, ports in [("node011", ("port0111", "port0112")), ("node012", ("port0121", "port0122"))]:
        lower.topology.put_node(n, {"node_id": n})
        for p in ports:
            lower.topology.put_port(n, p, {})
    bus.queue.clear()
    if not sync:
        await ll.dispatch(Request("PUT", "settings/upper_link_sync", body={"sync": False}))
    for b in (B1, B2):
        await ll.dispatch(Request("PUT", f"settings/boundaries/{b['id']}", body=b))
    for kind, net in (("upper", "upper"), ("layerized", "layer"), ("lower", "lower")):
        await ll.on_connection_added(conn(kind, net))
    await bus.pump()
    assert ll.ready
    return ll, upper, lower, layer, bus


async def put_flow(net: Network, body: dict[str, Any], bus: Bus) -> None:
    stored = net.flows.flows.get(body["flow_id"])
    version = {"version": str(stored.version)} if stored is not None else {}
    reply = await net.dispatch(Request("PUT", f"flows/{body['flow_id']}", body={**body, **version}))
    assert reply.status in (200, 201), reply
    await bus.pump()


def flow_json(net: Network, flow_id: str) -> dict[str, Any] | None:
    flow = net.flows.flows.get(flow_id)
    return None if flow is None else flow.to_json()


async def test_the_upper_topology_is_mirrored_and_boundary_ports_marked() -> None:
    ll, upper, lower, layer, bus = await setup()
    assert set(layer.topology.nodes) == {"node001", "node002", "node003"}
    assert set(layer.topology.links) == {"link0012"}
    assert layer.topology.links["link0012"].to_json()["attributes"]["a"] == "b"
    port = layer.topology.nodes["node002"].ports["port0022"].to_json()
    assert port["attributes"]["is_boundary"] == "true"
    assert (
        lower.topology.nodes["node011"].ports["port0111"].to_json()["attributes"]["is_boundary"]
        == "true"
    )
    # Changes follow.
    upper.topology.put_port("node001", "port0013", {"attributes": {"x": "y"}})
    await bus.pump()
    mirrored = layer.topology.nodes["node001"].ports["port0013"].to_json()["attributes"]
    assert mirrored == upper.topology.nodes["node001"].ports["port0013"].to_json()["attributes"]
    assert mirrored["x"] == "y"
    upper.topology.delete_link("link0012")
    upper.topology.delete_port("node001", "port0013")
    await bus.pump()
    assert "link0012" not in layer.topology.links
    assert "port0013" not in layer.topology.nodes["node001"].ports
    # A boundary deleted: its ports lose the mark.
    reply = await ll.dispatch(Request("DELETE", "settings/boundaries/boundary1"))
    assert reply.status == 200
    for task in list(ll._tasks):
        await task
    await bus.pump()
    assert (
        lower.topology.nodes["node011"].ports["port0111"].to_json()["attributes"]["is_boundary"]
        == "false"
    )


@pytest.mark.parametrize("sync", [True, False])
async def test_a_lower_flow_makes_a_link_that_follows_it(sync: bool) -> None:
    ll, upper, lower, layer, bus = await setup(sync)
    flow = lower_flow("none")
    await put_flow(lower, flow, bus)
    assert "boundary1_boundary2" not in layer.topology.links
    await put_flow(lower, {**flow, "status": "establishing"}, bus)
    link = layer.topology.links["boundary1_boundary2"].to_json()
    assert link["attributes"]["oper_status"] == "DOWN"
    assert (link["src_node"], link["src_port"]) == ("node002", "port0022")
    await put_flow(lower, {**flow, "status": "established"}, bus)
    link = layer.topology.links["boundary1_boundary2"].to_json()
    assert link["attributes"]["oper_status"] == "UP"
    assert link["attributes"]["establishment_status"] == "established"
    assert ("boundary1_boundary2" in upper.topology.links) is sync
    assert (await ll.dispatch(Request("GET", "lower_flows"))).body == {
        "boundary1_boundary2": ["flow01"]
    }
    assert (
        await ll.dispatch(Request("GET", "layerized_links/flow01"))
    ).body == "boundary1_boundary2"
    assert (await ll.dispatch(Request("GET", "lower_flows/boundary1_boundary2"))).body == ["flow01"]
    # Turning sync over moves the upper copy.
    await ll.dispatch(Request("PUT", "settings/upper_link_sync", body={"sync": not sync}))
    for task in list(ll._tasks):
        await task
    await bus.pump()
    assert ("boundary1_boundary2" in upper.topology.links) is (not sync)
    # The lower flow deleted (at none: at once): the link goes.
    await put_flow(lower, {**flow_json(lower, "flow01"), "status": "teardown"}, bus)  # type: ignore[dict-item]
    assert "boundary1_boundary2" not in layer.topology.links
    assert "boundary1_boundary2" not in upper.topology.links
    assert (await ll.dispatch(Request("GET", "lower_flows"))).body == {}
    with pytest.raises(NotFound):
        await ll.dispatch(Request("GET", "layerized_links/flow01"))


async def test_layerized_flows_go_up_and_their_status_follows() -> None:
    ll, upper, lower, layer, bus = await setup()
    await put_flow(lower, lower_flow("establishing"), bus)
    await put_flow(lower, {**flow_json(lower, "flow01"), "status": "established"}, bus)  # type: ignore[dict-item]
    flow = layer_flow(["link0012", "boundary1_boundary2"])
    del flow["version"]
    await put_flow(layer, {**flow, "status": "none"}, bus)
    above = flow_json(upper, "lf")
    assert above is not None and above["path"] == ["link0012", "boundary1_boundary2"]
    assert above["attributes"] == {"bandwidth": "1"}
    # The upper network's driver moves it; the layerized flow follows.
    await put_flow(upper, {**above, "status": "establishing"}, bus)
    await put_flow(upper, {**flow_json(upper, "lf"), "status": "established"}, bus)  # type: ignore[dict-item]
    assert flow_json(layer, "lf")["status"] == "established"  # type: ignore[index]
    # An update above (priority) is carried.
    await put_flow(layer, {**flow_json(layer, "lf"), "priority": "20"}, bus)  # type: ignore[dict-item]
    assert flow_json(upper, "lf")["priority"] == "20"  # type: ignore[index]
    # The lower flow fails: the link goes DOWN, the layerized flow fails, the upper is removed.
    await put_flow(lower, {**flow_json(lower, "flow01"), "status": "failed"}, bus)  # type: ignore[dict-item]
    assert (
        layer.topology.links["boundary1_boundary2"].to_json()["attributes"]["oper_status"] == "DOWN"
    )
    got = flow_json(layer, "lf")
    assert got is not None and got["status"] == "failed" and "failed" in got["attributes"]["reason"]
    await put_flow(upper, {**flow_json(upper, "lf"), "status": "teardown"}, bus)  # type: ignore[dict-item]
    await put_flow(upper, {**flow_json(upper, "lf"), "status": "none"}, bus)  # type: ignore[dict-item]
    await bus.pump()
    assert flow_json(upper, "lf") is None
    assert ll.carried == set()


async def test_a_foreign_upper_flow_is_never_touched() -> None:
    _ll, upper, _lower, layer, bus = await setup()
    mine = {k: v for k, v in layer_flow([]).items() if k != "version"}
    await put_flow(upper, {**mine, "status": "none", "priority": "1"}, bus)
    await put_flow(layer, {**mine, "status": "none"}, bus)
    got = flow_json(layer, "lf")
    assert (
        got is not None
        and got["status"] == "failed"
        and "of its own" in got["attributes"]["reason"]
    )
    assert flow_json(upper, "lf")["priority"] == "1"  # type: ignore[index]


async def test_packets_move_up_and_down() -> None:
    _ll, upper, _lower, layer, bus = await setup()
    packet = {
        "type": "OFPInPacket",
        "node": "node001",
        "port": "port0011",
        "header": {"type": "OFPFlowMatch", "in_node": "node001", "in_port": "port0011"},
        "data": "AAEC",
    }
    await upper.dispatch(Request("POST", "packets/in", body=packet))
    await upper.dispatch(
        Request("POST", "packets/in", body={**packet, "port": "port0012"})
    )  # linked: dropped
    await bus.pump()
    assert [p.to_json()["port"] for p in layer.packets.queue("in").packets()] == ["port0011"]
    assert len(upper.packets.queue("in")) == 0
    out = {
        "type": "OFPOutPacket",
        "node": "node003",
        "ports": ["port0032"],
        "header": packet["header"],
        "data": "AAEC",
    }
    await layer.dispatch(Request("POST", "packets/out", body=out))
    await bus.pump()
    assert [p.to_json()["ports"] for p in upper.packets.queue("out").packets()] == [["port0032"]]


async def test_rest_settings_and_bad_input() -> None:
    ll, _upper, _lower, _layer, _bus = await setup()
    assert (await ll.dispatch(Request("GET", "settings/upper_link_sync"))).body == {"sync": True}
    assert (await ll.dispatch(Request("GET", "settings/boundaries"))).body == {
        "boundary1": B1,
        "boundary2": B2,
    }
    assert (await ll.dispatch(Request("GET", "settings/boundaries/boundary2"))).body == B2
    posted = (
        await ll.dispatch(
            Request(
                "POST",
                "settings/boundaries",
                body={**B1, "upper_nw_port": "port0032", "lower_nw_port": "port0112"},
            )
        )
    ).body
    assert posted["id"] not in ("boundary1", "boundary2") and posted["upper_nw_port"] == "port0032"
    for method, path, body, error in [
        ("PUT", "settings/upper_link_sync", {"sync": "yes"}, BadRequest),
        ("PUT", "settings/upper_link_sync", [], BadRequest),
        ("PUT", "settings/boundaries/b3", {**B1, "id": "b3"}, Conflict),
        ("PUT", "settings/boundaries/b3", {"type": "LinkLayerizer"}, BadRequest),
        ("POST", "settings/boundaries", "x", BadRequest),
        ("GET", "settings/boundaries/nosuch", None, NotFound),
        ("DELETE", "settings/boundaries/nosuch", None, NotFound),
        ("GET", "lower_flows/nosuch", None, NotFound),
        ("GET", "layerized_links/nosuch", None, NotFound),
    ]:
        with pytest.raises(error):
            await ll.dispatch(Request(method, path, body=body))
    assert set(ll.boundaries) == {"boundary1", "boundary2", posted["id"]}
    assert ll.sync is True


async def test_state_survives_a_restart_and_a_disconnect_cleans_up() -> None:
    ll, upper, lower, layer, bus = await setup()
    await put_flow(lower, lower_flow("establishing"), bus)
    # A new instance over the same records (what a restarted manager does), its
    # connections re-added with the lower one last: the link made stays meanwhile.
    again = LinkLayerizer("ll", "cm")
    again.state.attach(_Sink(), dict(ll.state._records))  # type: ignore[arg-type]
    await again.initialize()
    assert again.boundaries == ll.boundaries and again.link_map == {"flow01": "boundary1_boundary2"}
    assert again.upper_links == {"boundary1_boundary2"}
    again.calls, again.events = ll.calls, bus
    bus.components["ll"] = again
    await again.on_connection_added(conn("upper", "upper"))
    await again.on_connection_added(conn("layerized", "layer"))
    await bus.pump()
    assert "boundary1_boundary2" in layer.topology.links
    assert "boundary1_boundary2" in upper.topology.links
    await again.on_connection_added(conn("lower", "lower"))
    await bus.pump()
    assert again.link_map == {"flow01": "boundary1_boundary2"}
    # Disconnecting in order removes what it made.
    await again.on_connection_deleted(conn("lower", "lower"))
    await bus.pump()
    assert "boundary1_boundary2" not in layer.topology.links
    assert "boundary1_boundary2" not in upper.topology.links
    await again.on_connection_deleted(conn("upper", "upper"))
    await bus.pump()
    assert layer.topology.nodes == {}
    attributes = upper.topology.nodes["node002"].ports["port0022"].to_json()["attributes"]
    assert attributes["is_boundary"] == "false"
    await again.on_connection_deleted(conn("layerized", "layer"))
    with pytest.raises(ValueError):
        await again.on_connection_added(conn("sideways", "x"))


class _Sink:
    def submit(self, component_id: str, key: str, data: bytes | None) -> int:
        return 0

    async def wait_durable(self, seq: int, component_id: str | None = None) -> None:
        return None


async def test_a_boundary_a_network_refuses_to_address_stalls_no_other() -> None:
    """A boundary of ``..`` ids (once accepted) made every port request fail, and the
    marking of every boundary after it, and the links, stopped there: now refused, and
    skipped when found among stored records; and one port in error holds no other."""
    ll, upper, lower, _layer, bus = await setup()
    records = dict(ll.state._records)
    records["boundary/dots"] = {**B1, "id": "dots", "lower_nw_node": "..", "upper_nw_node": ".."}
    again = LinkLayerizer("ll", "cm")
    again.state.attach(_Sink(), records)  # type: ignore[arg-type]
    await again.initialize()
    assert set(again.boundaries) == {"boundary1", "boundary2"}
    # Past the checks (as an older record would be): the other ports are still done.
    # Over HTTP a ``..`` segment is refused (400 BadPath); in one process it is not.
    ll.boundaries = {**ll.boundaries, "dots": records["boundary/dots"]}
    plain = ll.request

    async def refusing(object_id: str, method: str, path: str, *args: Any) -> Response:
        if "/../" in f"/{path}/":
            return Response(400, {"error": "BadPath", "message": f"{path}: '..'"})
        return await plain(object_id, method, path, *args)

    ll.request = refusing  # type: ignore[method-assign]
    reply = await ll.dispatch(Request("DELETE", "settings/boundaries/boundary2"))
    assert reply.status == 200
    for task in list(ll._tasks):
        await task
    await bus.pump()
    for net, node, port in (("lower", "node012", "port0122"), ("upper", "node003", "port0031")):
        network = lower if net == "lower" else upper
        attributes = network.topology.nodes[node].ports[port].to_json()["attributes"]
        assert attributes["is_boundary"] == "false", (net, node, port)


async def test_marking_a_port_loses_no_attribute_set_meanwhile() -> None:
    """``is_boundary`` is written with the version read: an attribute set between the
    read and the write (the Federator marking the same port, a driver) is kept, and
    the change's own event brings the mark again."""
    ll, upper, _lower, _layer, bus = await setup()
    await ll.dispatch(Request("DELETE", "settings/boundaries/boundary1"))
    for task in list(ll._tasks):
        await task
    await bus.pump()
    plain = ll.request
    meddled: list[str] = []

    async def meddling(object_id: str, method: str, path: str, *args: Any) -> Response:
        if method == "PUT" and path == "topology/nodes/node002/ports/port0022" and not meddled:
            meddled.append(path)
            await upper.dispatch(
                Request("PUT", f"{path}/attributes", body={"set_by_someone": "else"})
            )
        return await plain(object_id, method, path, *args)

    ll.request = meddling  # type: ignore[method-assign]
    await ll.dispatch(Request("PUT", "settings/boundaries/boundary1", body=B1))
    for task in list(ll._tasks):
        await task
    await bus.pump()
    assert meddled
    attributes = upper.topology.nodes["node002"].ports["port0022"].to_json()["attributes"]
    assert attributes["set_by_someone"] == "else"
    assert attributes["is_boundary"] == "true"


async def test_a_boundary_acknowledged_while_a_network_is_down_is_made_once_it_answers() -> None:
    """Its marks and links were left undone (logged) until some later event: now it is
    built again, retried with a growing delay, until the networks answer."""
    ll, upper, lower, _layer, bus = await setup()
    await put_flow(lower, lower_flow("established"), bus)
    await ll.dispatch(Request("DELETE", "settings/boundaries/boundary2"))
    for task in list(ll._tasks):
        await task
    await bus.pump()
    assert ll.link_map == {}
    ll.RETRY_FIRST = 0.01
    plain = ll.request
    down = {"lower"}

    async def unavailable(object_id: str, *args: Any) -> Response:
        if object_id in down:
            return Response(503, {"error": "ObjectUnavailable", "message": f"{object_id}"})
        return await plain(object_id, *args)

    ll.request = unavailable  # type: ignore[method-assign]
    reply = await ll.dispatch(Request("PUT", "settings/boundaries/boundary2", body=B2))
    assert reply.status == 200
    for task in list(ll._tasks):
        await task
    assert ll._retry is not None
    down.clear()
    async with asyncio.timeout(10):
        await ll._retry
    await bus.pump()
    assert ll.ready and ll.link_map == {"flow01": "boundary1_boundary2"}
    assert "boundary1_boundary2" in upper.topology.links
    attributes = lower.topology.nodes["node012"].ports["port0122"].to_json()["attributes"]
    assert attributes["is_boundary"] == "true"
