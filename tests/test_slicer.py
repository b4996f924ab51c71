"""The Slicer's parts: naming, slice conditions and their table, what lies within a slice,
packets; and the component against real Network instances in one process (the manager's
own in-process ObjectClient), with events handed to it by the test.

The end-to-end behaviour across processes is tests/test_slicer_e2e.py.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
from typing import Any

import pytest

from odenos.components.base import Component, Request, Response, route
from odenos.components.network import Network
from odenos.components.slicer import Slicer
from odenos.components.slicer.conditions import (
    RECORD_PREFIX,
    ConditionTable,
    SliceCondition,
    check_condition_id,
    parse_priority,
)
from odenos.components.slicer.naming import flow_key, original_flow_id, sliver_flow
from odenos.components.slicer.translation import (
    in_packet_connection,
    original_body,
    out_packet_down,
    packet_without_id,
    slice_problem,
)
from odenos.errors import BadRequest, NotFound
from odenos.model.event import Event
from tests.support import call, host

# --- naming ----------------------------------------------------------------------------------


def test_original_flow_ids_name_the_sliver_and_map_back() -> None:
    assert original_flow_id("slicer", "network01", "flow1") == "slicer_network01_flow1"
    assert sliver_flow("slicer", "slicer_network01_flow1") == ("network01", "flow1")
    assert original_flow_id("s", "net_a", "f_1") == "s_net~ua_f_1"
    assert sliver_flow("s", "s_net~ua_f_1") == ("net_a", "f_1")
    assert flow_key("network01", "flow1") == "network01::flow1"


def test_original_flow_ids_never_collide_between_slivers() -> None:
    parts = ["a", "_", "a_", "_a", "a_b", "~", "a~u", "~u", "a~", "b"]
    seen: dict[str, tuple[str, str]] = {}
    for network, flow in itertools.product(parts, parts):
        name = original_flow_id("s", network, flow)
        assert name not in seen, (name, seen.get(name), (network, flow))
        seen[name] = (network, flow)
        assert sliver_flow("s", name) == (network, flow)


@pytest.mark.parametrize("name", ["other_n_f", "s_", "s_n", "s_n_", "s__f", "s_a~x_f", "s"])
def test_names_the_slicer_does_not_make_map_to_nothing(name: str) -> None:
    assert sliver_flow("s", name) is None


# --- conditions ------------------------------------------------------------------------------


def cond(cid: str, conn: str, node: str, port: str | None = None) -> SliceCondition:
    return SliceCondition(cid, conn, node, port)


def test_priorities_are_integers_from_0_to_65535() -> None:
    assert parse_priority("40") == 40
    assert parse_priority("0") == 0 and parse_priority("65535") == 65535
    for bad in ["", "-1", "65536", "4.0", "x", "100000", " 4", "conditions"]:
        with pytest.raises(BadRequest):
            parse_priority(bad)


def test_a_condition_is_read_from_odenos_json() -> None:
    body = {
        "id": "c1",
        "type": "BasicSliceCondition",
        "connection": "slicer_nw01",
        "in_node": "node001",
        "in_port": "port0011",
        "extra": "ignored",
    }
    parsed = SliceCondition.from_json(body)
    assert parsed == cond("c1", "slicer_nw01", "node001", "port0011")
    assert parsed.to_json() == {k: v for k, v in body.items() if k != "extra"}
    # The URL's id wins over the body's (ODENOS meant to; it wrote the connection id).
    assert SliceCondition.from_json(body, "url").id == "url"
    with pytest.raises(BadRequest):  # a body id is checked even when the URL's wins
        SliceCondition.from_json({**body, "id": {"an": "object"}}, "url")
    # No id: a new one; no type: BasicSliceCondition; no in_port: the whole node.
    anon = SliceCondition.from_json({"connection": "c", "in_node": "n"})
    assert len(anon.id) == 36 and anon.in_port is None
    assert "in_port" not in anon.to_json()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (None, None),
        ([], None),
        ("x", None),
        ({"connection": "c"}, "in_node"),  # ODENOS: a NullPointerException later
        ({"connection": "c", "in_node": ""}, "in_node"),
        ({"connection": "c", "in_node": 5}, "in_node"),
        ({"in_node": "n"}, "connection"),
        ({"connection": ["c"], "in_node": "n"}, "connection"),
        ({"connection": "c", "in_node": "n", "in_port": 1}, "in_port"),
        ({"connection": "c", "in_node": "n", "in_port": ""}, "in_port"),
        ({"connection": "c", "in_node": "n" * 257}, "in_node"),
        ({"connection": "c", "in_node": "n", "type": "VlanSliceCondition"}, "type"),
        ({"connection": "c", "in_node": "n", "id": "a/b"}, "id"),
        ({"connection": "c", "in_node": "n", "id": ""}, "id"),
        ({"connection": "c", "in_node": "n", "id": 7}, "id"),
    ],
)
def test_bad_conditions_are_refused_naming_the_field(body: Any, field: str | None) -> None:
    with pytest.raises(BadRequest) as caught:
        SliceCondition.from_json(body)
    assert caught.value.details.get("field") == field


def test_condition_ids_are_url_segments() -> None:
    assert check_condition_id("sliceconditon1") == "sliceconditon1"
    for bad in ["", "a/b", "..", "a\nb", "x" * 257, None]:
        with pytest.raises(BadRequest):
            check_condition_id(bad)


def test_covers_whole_nodes_and_single_ports() -> None:
    port, node = cond("p", "c", "n1", "p1"), cond("n", "c", "n1")
    assert port.covers("n1", "p1") and not port.covers("n1", "p2")
    assert not port.covers("n1", None)  # any port of n1 is more than p1
    assert node.covers("n1", "p1") and node.covers("n1", None)
    assert not node.covers("n2", "p1") and not node.covers(None, None)


def test_the_table_is_searched_by_integer_priority_then_as_put() -> None:
    table = ConditionTable()
    table.put(9, cond("nine", "c9", "n"))
    table.put(10, cond("ten", "c10", "n"))
    table.put(10, cond("ten-b", "c10", "n", "p"))
    table.put(100, cond("hundred", "c100", "m"))
    # ODENOS compared "9" > "10" as strings.
    assert table.priorities() == {"100": ["hundred"], "10": ["ten", "ten-b"], "9": ["nine"]}
    assert list(table.priorities()) == ["100", "10", "9"]
    assert table.first_match("n", "p").id == "ten"  # type: ignore[union-attr]
    assert table.at(10) == ["ten", "ten-b"] and table.at(11) is None
    assert [c.id for c in table.of_connection("c10")] == ["ten", "ten-b"]
    assert table.first_match("zz", None) is None


def test_putting_an_existing_id_replaces_or_moves_it_never_doubles_it() -> None:
    table = ConditionTable()
    table.put(40, cond("a", "c1", "n"))
    table.put(40, cond("b", "c1", "n"))
    table.put(40, cond("a", "c2", "n", "p"))  # replaced in its place
    assert table.at(40) == ["a", "b"]
    assert [c.id for c in table.of_connection("c1")] == ["b"]
    assert [c.id for c in table.of_connection("c2")] == ["a"]
    table.put(50, cond("b", "c1", "n"))  # moved
    assert table.priorities() == {"50": ["b"], "40": ["a"]}


def test_a_priority_list_replaces_that_priority() -> None:
    table = ConditionTable()
    table.put(50, cond("old", "c", "n"))
    table.put(40, cond("moved", "c", "n"))
    table.set_priority(50, [cond("moved", "c", "m"), cond("new", "c", "k")])
    assert table.priorities() == {"50": ["moved", "new"]}
    # An id listed twice: the later body, in the earlier place.
    stored = table.set_priority(50, [cond("x", "c", "n"), cond("y", "c", "m"), cond("x", "d", "k")])
    assert [c.id for c in stored] == ["x", "y"] and stored[0].connection == "d"
    assert table.priorities() == {"50": ["x", "y"]}


def test_changes_are_one_record_per_condition_and_read_back() -> None:
    old = ConditionTable()
    old.put(40, cond("a", "c1", "n"))
    old.put(40, cond("b", "c2", "n"))
    new = old.copy()
    new.put(40, cond("a", "c3", "n"))
    new.delete("b")
    new.put(7, cond("c", "c4", "x", "y"))
    puts, deletes, touched = new.changes_from(old)
    assert set(puts) == {RECORD_PREFIX + "a", RECORD_PREFIX + "c"}
    assert deletes == [RECORD_PREFIX + "b"]
    assert touched == {"c1", "c2", "c3", "c4"}
    assert old.get("b") is not None  # the copy changed, not the original
    records = [(RECORD_PREFIX + e.condition.id, e.record()) for e in new.ordered()]
    records.append((RECORD_PREFIX + "junk", {"priority": "x"}))
    back, problems = ConditionTable.from_records(records)
    assert back.priorities() == new.priorities() and back.get("c") == new.get("c")
    assert len(problems) == 1 and "junk" in problems[0]


# --- within the slice ------------------------------------------------------------------------


def flow(*matches: Any, **extra: Any) -> dict[str, Any]:
    return {
        "type": "BasicFlow",
        "version": "3",
        "flow_id": "f1",
        "owner": "me",
        "enabled": True,
        "priority": "100",
        "status": "none",
        "matches": list(matches),
        "path": [],
        # Back out of the port it came in by: within any slice that takes n1/p1.
        "edge_actions": {"n1": [{"type": "FlowActionOutput", "output": "p1"}]},
        "attributes": {"bandwidth": "10"},
        **extra,
    }


def m(node: str | None, port: str | None = None) -> dict[str, Any]:
    match: dict[str, Any] = {"type": "BasicFlowMatch"}
    if node is not None:
        match["in_node"] = node
    if port is not None:
        match["in_port"] = port
    return match


SLICE = [cond("a", "c1", "n1", "p1"), cond("b", "c1", "n2")]


def test_a_flow_whose_matches_all_enter_the_slice_is_within_it() -> None:
    assert slice_problem(flow(m("n1", "p1")), SLICE, "c1") is None
    assert slice_problem(flow(m("n1", "p1"), m("n2", "p9"), m("n2")), SLICE, "c1") is None


@pytest.mark.parametrize(
    ("matches", "words"),
    [
        ([], "no matches"),
        ([m("n1", "p2")], "port 'p2' of node 'n1'"),
        ([m("n1")], "any port of 'n1'"),  # the whole node: more than port p1
        ([m("n1", "p1"), m("n3", "p1")], "matches[1]"),  # ODENOS took it for one match
        ([m(None, "p1")], "no in_node"),
        (["junk"], "not a match"),
    ],
)
def test_a_flow_outside_its_slice_says_why(matches: list[Any], words: str) -> None:
    problem = slice_problem(flow(*matches), SLICE, "c1")
    assert problem is not None and words in problem
    assert slice_problem({"matches": "x"}, SLICE, "c1") is not None


def test_a_connection_without_conditions_has_an_empty_slice() -> None:
    assert "no slice condition" in (slice_problem(flow(m("n1", "p1")), [], "c9") or "")


def test_the_indexed_search_finds_what_asking_each_condition_in_order_finds() -> None:
    # The table indexes its search (each InPacket is looked up; sorting 4096 conditions
    # for each took a millisecond): the same answers as a scan, also after each change.
    rng = random.Random(11)
    table = ConditionTable()
    places = [(n, p) for n in ("n1", "n2", "n3") for p in ("p1", "p2", None)]

    def scan(node: str | None, port: str | None) -> SliceCondition | None:
        return next((e.condition for e in table.ordered() if e.condition.covers(node, port)), None)

    for step in range(400):
        node, port = rng.choice(places)
        cid = f"c{rng.randrange(30)}"
        change = rng.randrange(10)
        if change < 6:
            table.put(rng.randrange(4), cond(cid, f"k{step}", node, port))
        elif change < 8:
            table.delete(cid)
        elif change < 9:
            table.delete_priority(rng.randrange(4))
        else:
            table.set_priority(rng.randrange(4), [cond(cid, f"k{step}", node, port)])
        for where in [*places, (None, "p1"), ("n9", None)]:
            assert table.first_match(*where) == scan(*where), (step, where)


def test_many_matches_against_many_conditions_take_one_look_each(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Regression: each match asked every condition (SliceCondition.covers): a flow of
    # 8,000 matches against 3,000 conditions held the manager's loop for 2 s per look.
    conditions = [cond(f"c{i}", "c1", "n1", f"p{i}") for i in range(4096)]
    conditions.append(cond("whole", "c1", "n2"))
    asked = 0
    real = SliceCondition.covers

    def counted(self: SliceCondition, in_node: str | None, in_port: str | None) -> bool:
        nonlocal asked
        asked += 1
        return real(self, in_node, in_port)

    monkeypatch.setattr(SliceCondition, "covers", counted)
    within = flow(*[m("n1", "p4095")] * 5000, *[m("n2", "x")] * 5000, m("n2"))
    assert slice_problem(within, conditions, "c1") is None
    problem = slice_problem(flow(*[m("n1", "p0")] * 9999, m("n1")), conditions, "c1")
    assert problem is not None and "matches[9999]" in problem
    assert asked <= 4 * 4097  # not 10,000 matches times 4,097 conditions
    # The same answers as covers gives, match by match.
    for match in [m("n1", "p7"), m("n1", "q"), m("n1"), m("n2", "p1"), m("n2"), m("n3", "p1")]:
        expected = any(real(c, match.get("in_node"), match.get("in_port")) for c in conditions)
        assert (slice_problem(flow(match), conditions, "c1") is None) == expected


def test_the_original_flow_is_the_same_flow_under_its_new_id() -> None:
    sliver = flow(m("n1", "p1"), attributes={"bandwidth": "10", "reason": "old failure"})
    body = original_body(sliver, "s_net1_f1")
    assert body == {
        "type": "BasicFlow",
        "flow_id": "s_net1_f1",
        "owner": "me",
        "enabled": True,
        "priority": "100",
        "matches": [m("n1", "p1")],
        "path": [],
        "edge_actions": {"n1": [{"type": "FlowActionOutput", "output": "p1"}]},
        "attributes": {"bandwidth": "10"},
    }
    ofp = {
        **flow(
            {"type": "OFPFlowMatch", "in_node": "n1", "in_port": "p1", "eth_type": 2048},
        ),
        "type": "OFPFlow",
        "idle_timeout": 60,
        "hard_timeout": 300,
        "edge_actions": {
            "n3": [
                {"type": "OFPFlowActionPushVlan", "eth_type": 33024},
                {"type": "FlowActionOutput", "output": "p3"},
            ]
        },
    }
    carried = original_body(ofp, "o")
    assert carried["matches"] == ofp["matches"] and carried["edge_actions"] == ofp["edge_actions"]
    assert (carried["type"], carried["idle_timeout"], carried["hard_timeout"]) == (
        "OFPFlow",
        60,
        300,
    )
    assert carried["matches"] is not ofp["matches"]  # a copy


# --- packets ---------------------------------------------------------------------------------


def packet(node: str, port: str, header: Any = "same", **extra: Any) -> dict[str, Any]:
    hdr = {"type": "OFPFlowMatch", "in_node": node, "in_port": port} if header == "same" else header
    return {
        "packet_id": "0000000001",
        "type": "OFPInPacket",
        "node": node,
        "port": port,
        "header": hdr,
        "data": "AAEC",
        **extra,
    }


def test_in_packets_go_to_the_first_condition_by_integer_priority() -> None:
    table = ConditionTable()
    table.put(9, cond("nine", "low", "n1"))
    table.put(10, cond("ten", "high", "n1", "p1"))
    assert in_packet_connection(packet("n1", "p1"), table) == "high"
    assert in_packet_connection(packet("n1", "p2"), table) == "low"
    assert in_packet_connection(packet("n9", "p1"), table) is None
    # A header without in_node: where the packet came in.
    assert (
        in_packet_connection(packet("n1", "p1", header={"type": "OFPFlowMatch"}), table) == "high"
    )
    assert in_packet_connection(packet("n1", "p1", header=None), table) == "high"
    assert packet_without_id(packet("n1", "p1"))["node"] == "n1"
    assert "packet_id" not in packet_without_id(packet("n1", "p1"))


def test_out_packets_go_down_only_within_their_own_slice() -> None:
    table = ConditionTable()
    table.put(10, cond("a", "c1", "n1", "p1"))
    table.put(10, cond("b", "c2", "n1", "p2"))
    table.put(10, cond("c", "c1", "n3", "p3"))
    out = {"type": "OutPacket", "node": "n3", "ports": ["p3"], "ports-except": []}
    down = out_packet_down({**out, "packet_id": "7", "header": m("n1", "p1")}, table, "c1")
    assert down == {**out, "header": m("n1", "p1")}
    # A condition of another sliver does not do (ODENOS accepted any).
    assert out_packet_down({**out, "header": m("n1", "p2")}, table, "c1") is None
    assert out_packet_down({**out, "header": m("n1")}, table, "c1") is None
    assert out_packet_down(out, table, "c1") is None


def test_out_packets_leave_only_by_their_slices_ports() -> None:
    """Slice c1 is n1/p1 and n3/p3, slice c2 n1/p2 and the whole of n4: what c1 sends
    never reaches c2's hosts, a flood included (ODENOS flooded every port)."""
    table = ConditionTable()
    table.put(10, cond("a", "c1", "n1", "p1"))
    table.put(10, cond("c", "c1", "n1", "p3"))
    table.put(10, cond("b", "c2", "n1", "p2"))
    table.put(10, cond("d", "c2", "n4"))
    header = m("n1", "p1")
    flood = {"type": "OFPOutPacket", "node": "n1", "ports": [], "ports-except": ["p1"]}
    down = out_packet_down({**flood, "header": header}, table, "c1")
    assert down is not None and (down["ports"], down["ports-except"]) == (["p3"], [])
    named = {**flood, "ports": ["p2", "p3"], "ports-except": [], "header": header}
    down = out_packet_down(named, table, "c1")
    assert down is not None and down["ports"] == ["p3"]
    # Nothing of the slice left to send by: not sent.
    assert out_packet_down({**named, "ports": ["p2"]}, table, "c1") is None
    assert (
        out_packet_down({**flood, "ports-except": ["p1", "p3"], "header": header}, table, "c1")
        is None
    )
    assert out_packet_down({**flood, "node": "n4", "header": header}, table, "c1") is None
    # A node the slice takes whole: the packet as it is.
    whole = {**flood, "node": "n4", "header": m("n4", "x")}
    assert out_packet_down(whole, table, "c2") == whole


def test_a_flow_must_leave_within_its_slice() -> None:
    conditions = [cond("a", "c1", "n1", "p1"), cond("b", "c1", "n3", "p3"), cond("c", "c1", "n5")]
    inside = flow_leaving(outputs={"n3": ["p3"], "n5": ["any"]})
    assert slice_problem(inside, conditions, "c1") is None
    outside = flow_leaving(outputs={"n3": ["p3", "p4"]})
    problem = slice_problem(outside, conditions, "c1")
    assert problem is not None and "port 'p4' of node 'n3'" in problem
    # OpenFlow actions other than outputs say nothing about where traffic leaves.
    other = flow_leaving(outputs={"n3": ["p3"]})
    other["edge_actions"]["n3"].insert(0, {"type": "OFPFlowActionPopVlan"})
    assert slice_problem(other, conditions, "c1") is None


def flow_leaving(outputs: dict[str, list[str]]) -> dict[str, Any]:
    return {
        "type": "BasicFlow",
        "flow_id": "f",
        "matches": [{"type": "BasicFlowMatch", "in_node": "n1", "in_port": "p1"}],
        "path": [],
        "edge_actions": {
            node: [{"type": "FlowActionOutput", "output": p} for p in ports]
            for node, ports in outputs.items()
        },
    }


# --- the component, in one process -----------------------------------------------------------


def connection(conn_id: str, kind: str, network_id: str) -> dict[str, Any]:
    return {
        "id": conn_id,
        "type": "LogicAndNetwork",
        "connection_type": kind,
        "logic_id": "s",
        "network_id": network_id,
    }


async def settle(slicer: Slicer) -> None:
    """Wait for the Slicer's background work (topology copies, re-checks)."""
    for _ in range(100):
        tasks = [t for t in (slicer._topology_task, slicer._recheck_task) if t is not None]
        if not tasks:
            return
        await asyncio.gather(*tasks)


async def sliced() -> tuple[Slicer, Network, Network, Network]:
    slicer = Slicer("s", "cm")
    orig, one, two = Network("net0", "cm"), Network("net1", "cm"), Network("net2", "cm")
    host(slicer, orig, one, two)
    await slicer.initialize()
    orig.topology.put_node("n1", {"node_id": "n1"})
    for p in ("p1", "p2"):
        orig.topology.put_port("n1", p, {"attributes": {"vendor": "x"}})
    await slicer.on_connection_added(connection("c1", "sliver", "net1"))
    await slicer.on_connection_added(connection("c0", "original", "net0"))
    await slicer.on_connection_added(connection("c2", "sliver", "net2"))
    assert slicer.ready
    return slicer, orig, one, two


def sliver_flow_body(flow_id: str, node: str, port: str | None) -> dict[str, Any]:
    """A flow entering at ``node``/``port`` and leaving by it (within its slice)."""
    back = {node: [{"type": "FlowActionOutput", "output": port}]} if port else {}
    return {
        **flow(m(node, port)),
        "flow_id": flow_id,
        "version": None,
        "path": [],
        "edge_actions": back,
    }


async def test_topology_is_mirrored_and_conditions_carry_or_fail_flows() -> None:
    slicer, orig, one, two = await sliced()
    for net in (one, two):
        assert set(net.topology.node("n1").ports) == {"p1", "p2"}
    # The topology follows the original.
    orig.topology.put_port("n1", "p3", {})
    await slicer.on_event(Event("net0", "PortChanged", {"action": "add", "id": "p3"}))
    await settle(slicer)
    assert "p3" in two.topology.node("n1").ports

    ok = await call(
        slicer,
        "PUT",
        "settings/slice_condition_table/40/conditions/a",
        {"type": "BasicSliceCondition", "connection": "c1", "in_node": "n1", "in_port": "p1"},
    )
    assert ok.status == 200
    other = {"connection": "c2", "in_node": "n1", "in_port": "p2"}
    ok = await call(slicer, "PUT", "settings/slice_condition_table/40/conditions/b", other)
    assert ok.status == 200
    await settle(slicer)
    # A flow of net1 inside its slice is carried; one of net2 at the same port is not.
    assert (await call(one, "PUT", "flows/f", sliver_flow_body("f", "n1", "p1"))).status == 201
    assert (await call(two, "PUT", "flows/f", sliver_flow_body("f", "n1", "p1"))).status == 201
    await slicer.on_event(Event("net1", "FlowChanged", {"action": "add", "id": "f"}))
    await slicer.on_event(Event("net2", "FlowChanged", {"action": "add", "id": "f"}))
    assert "s_net1_f" in orig.flows.flows and "s_net2_f" not in orig.flows.flows
    failed = (await call(two, "GET", "flows/f")).body
    assert failed["status"] == "failed" and "outside the slice" in failed["attributes"]["reason"]
    maps = (await call(slicer, "GET", "original_network_flow")).body
    assert maps == {"s_net1_f": "net1::f"}
    assert (await call(slicer, "GET", "sliver_network_flow")).body == {"net1::f": "s_net1_f"}

    # The condition moves to net2's connection: net1's flow leaves, net2's is carried.
    ok = await call(
        slicer,
        "PUT",
        "settings/slice_condition_table/40/conditions/a",
        {"connection": "c2", "in_node": "n1", "in_port": "p1"},
    )
    await settle(slicer)
    assert "s_net1_f" not in orig.flows.flows and "s_net2_f" in orig.flows.flows
    assert (await call(one, "GET", "flows/f")).body["status"] == "failed"
    assert (await call(two, "GET", "flows/f")).body["status"] == "none"
    assert "reason" not in (await call(two, "GET", "flows/f")).body["attributes"]

    # Disconnecting net2: its topology goes, its flow fails, the original flow goes.
    await slicer.on_connection_deleted(connection("c2", "sliver", "net2"))
    assert two.topology.nodes == {} and "s_net2_f" not in orig.flows.flows
    assert (await call(two, "GET", "flows/f")).body["status"] == "failed"
    assert one.topology.nodes  # the other keeps it


async def test_topology_changes_are_copied_in_batches_not_one_copy_per_event() -> None:
    # Regression: each event of the original made a whole copy, so a topology put object
    # by object cost the square of its size (200 nodes and 400 links: 23 s instead of 4).
    slicer, orig, one, two = await sliced()
    gate = asyncio.Event()
    copies = 0
    push = slicer._push_topology

    async def counted(slivers: list[str], strict: bool) -> None:
        nonlocal copies
        copies += 1
        await push(slivers, strict)

    async def pause() -> None:
        await gate.wait()

    slicer._push_topology = counted  # type: ignore[method-assign]
    slicer._pause_before_copy = pause  # type: ignore[method-assign]
    for i in range(20):
        orig.topology.put_node(f"m{i}", {"node_id": f"m{i}"})
        await slicer.on_event(Event("net0", "NodeChanged", {"action": "add", "id": f"m{i}"}))
        for _ in range(10):
            await asyncio.sleep(0)  # room for a copy, were one started
    assert copies == 0 and "m0" not in one.topology.nodes
    gate.set()
    await settle(slicer)
    assert copies == 1
    for net in (one, two):
        assert {f"m{i}" for i in range(20)} <= set(net.topology.nodes)
    # The pause grows with a copy's duration, within its bounds.
    assert Slicer.copy_pause_after(0.0) == Slicer.COPY_PAUSE_MIN
    assert Slicer.copy_pause_after(1.0) == 2.0
    assert Slicer.copy_pause_after(60.0) == Slicer.COPY_PAUSE_CAP


async def test_conditions_rest_and_bad_input_change_nothing() -> None:
    slicer = Slicer("s", "cm")
    await slicer.initialize()
    body = [
        {
            "id": "c3",
            "type": "BasicSliceCondition",
            "connection": "nw02",
            "in_node": "n1",
            "in_port": "p3",
        },
        {"type": "BasicSliceCondition", "connection": "nw02", "in_node": "n3"},
    ]
    reply = await call(slicer, "PUT", "settings/slice_condition_table/50", body)
    assert reply.status == 200 and reply.body[0]["id"] == "c3" and reply.body[1]["id"]
    posted = await call(
        slicer,
        "POST",
        "settings/slice_condition_table/9/conditions/",
        {"id": "ignored", "connection": "nw01", "in_node": "n1"},
    )
    assert posted.status == 200 and posted.body["id"] != "ignored"
    table = (await call(slicer, "GET", "settings/slice_condition_table")).body
    assert list(table) == ["50", "9"] and table["50"][0] == "c3"
    assert (await call(slicer, "GET", "settings/slice_condition_table/50")).body == table["50"]
    assert (await call(slicer, "GET", "settings/slice_condition_table/conditions/c3")).body[
        "in_port"
    ] == "p3"
    assert (
        await call(slicer, "GET", "settings/slice_condition_table/connections/nw02")
    ).body == table["50"]
    assert (await call(slicer, "GET", "settings/slice_condition_table/connections/nope")).body == []
    before = dict(slicer.state.items())
    for method, path, bad in [
        ("PUT", "settings/slice_condition_table/50", {"not": "a list"}),
        ("PUT", "settings/slice_condition_table/50", [{"connection": "x"}]),
        ("PUT", "settings/slice_condition_table/70000", []),
        ("PUT", "settings/slice_condition_table/50/conditions/c3", {"in_node": "n"}),
        (
            "PUT",
            "settings/slice_condition_table/x/conditions/c3",
            {"connection": "c", "in_node": "n"},
        ),
        ("POST", "settings/slice_condition_table/50/conditions", None),
        (
            "PUT",
            "settings/slice_condition_table/50",
            [{"id": "d/e", "connection": "c", "in_node": "n"}],
        ),
        # Longer than the schema's maxItems: a 400 (make fuzz took a 413 for a bad answer).
        ("PUT", "settings/slice_condition_table/50", [{"connection": "c", "in_node": "n"}] * 1025),
    ]:
        with pytest.raises(BadRequest):
            await call(slicer, method, path, bad)
    assert dict(slicer.state.items()) == before
    for path in [
        "settings/slice_condition_table/51",
        "settings/slice_condition_table/conditions/nope",
    ]:
        with pytest.raises(NotFound):
            await call(slicer, "GET", path)
    assert (
        await call(slicer, "DELETE", "settings/slice_condition_table/conditions/c3")
    ).status == 200
    assert (
        await call(slicer, "DELETE", "settings/slice_condition_table/conditions/c3")
    ).status == 200
    assert (await call(slicer, "DELETE", "settings/slice_condition_table/50")).status == 200
    assert list((await call(slicer, "GET", "settings/slice_condition_table")).body) == ["9"]
    assert (await call(slicer, "DELETE", "settings/slice_condition_table")).status == 200
    assert (await call(slicer, "GET", "settings/slice_condition_table")).body == {}
    assert not list(slicer.state.items(RECORD_PREFIX))
    # No original: the flow maps are empty (ODENOS failed on original.get(0)).
    assert (await call(slicer, "GET", "original_network_flow")).body == {}


async def test_bad_events_are_logged_and_change_nothing(caplog: pytest.LogCaptureFixture) -> None:
    slicer, orig, one, _ = await sliced()
    caplog.set_level(logging.WARNING)
    for event in [
        Event("net1", "FlowChanged", {"action": "add"}),
        Event("net1", "FlowChanged", {"action": "add", "id": 5}),
        Event("net1", "FlowChanged", {"action": "add", "id": "nosuch"}),
        Event("net0", "FlowChanged", {"action": "add", "id": "s_net1_nosuch"}),
        Event("net0", "FlowChanged", {"action": "add", "id": "other"}),
        Event("net0", "InPacketAdded", {"id": "nosuch"}),
        Event("net1", "OutPacketAdded", {"id": "nosuch"}),
        Event("elsewhere", "FlowChanged", {"action": "add", "id": "x"}),
    ]:
        await slicer.on_event(event)
    assert "without an id" in caplog.text
    assert orig.flows.flows == {} and one.flows.flows == {}


async def test_an_unreachable_sliver_is_retried_until_it_answers() -> None:
    slicer, orig = Slicer("s", "cm"), Network("net0", "cm")
    instances = host(slicer, orig)
    await slicer.initialize()
    slicer.RETRY_FIRST = 0.01
    orig.topology.put_node("n1", {"node_id": "n1"})
    await slicer.on_connection_added(connection("c0", "original", "net0"))
    await slicer.on_connection_added(connection("c1", "sliver", "net1"))  # not hosted yet
    assert not slicer.ready
    one = Network("net1", "cm")
    one.calls = slicer.calls
    instances["net1"] = one
    async with asyncio.timeout(5):
        while not slicer.ready:
            await asyncio.sleep(0.01)
    assert "n1" in one.topology.nodes
    await slicer.on_connection_deleted(connection("c0", "original", "net0"))
    assert one.topology.nodes == {} and not slicer.ready


async def test_connections_it_cannot_take_are_refused() -> None:
    slicer, _, _, _ = await sliced()
    with pytest.raises(ValueError, match="already has 'net0'"):
        await slicer.on_connection_added(connection("c9", "original", "net9"))
    with pytest.raises(ValueError, match="already connected"):
        await slicer.on_connection_added(connection("c9", "sliver", "net1"))
    with pytest.raises(ValueError, match="already connected"):
        await slicer.on_connection_added(connection("c9", "sliver", "net0"))
    with pytest.raises(ValueError, match="'aggregated'"):
        await slicer.on_connection_added(connection("c9", "aggregated", "net9"))


class Connections(Component):
    """The system manager's ``GET connections``, as far as these tests need it."""

    TYPE = "Connections"

    def __init__(self, connections: dict[str, Any]) -> None:
        super().__init__("systemmanager", "cm")
        self.held = connections

    @route("GET", "connections")
    async def list_connections(self, request: Request) -> Response:
        return Response(200, self.held)


async def test_a_restart_keeps_slivers_being_re_added_and_drops_deleted_ones() -> None:
    slicer, orig, one, two = await sliced()
    rule = {"connection": "c1", "in_node": "n1", "in_port": "p1"}
    assert (
        await call(slicer, "PUT", "settings/slice_condition_table/1/conditions/a", rule)
    ).status == 200
    rule = {"connection": "c2", "in_node": "n1", "in_port": "p2"}
    assert (
        await call(slicer, "PUT", "settings/slice_condition_table/1/conditions/b", rule)
    ).status == 200
    await settle(slicer)
    assert (await call(one, "PUT", "flows/f", sliver_flow_body("f", "n1", "p1"))).status == 201
    assert (await call(two, "PUT", "flows/f", sliver_flow_body("f", "n1", "p2"))).status == 201
    await slicer.on_event(Event("net1", "FlowChanged", {"action": "add", "id": "f"}))
    await slicer.on_event(Event("net2", "FlowChanged", {"action": "add", "id": "f"}))
    assert {"s_net1_f", "s_net2_f"} <= set(orig.flows.flows)

    # A new Slicer from the same records; the original is re-added first.  c1 is still a
    # connection of the system (being re-added), c2 was deleted meanwhile.
    again = Slicer("s", "cm")
    again.state.write(dict(slicer.state.items()))
    system = Connections({"c1": {"id": "c1", "logic_id": "s", "network_id": "net1"}})
    host(again, orig, one, two, system)
    await again.initialize()
    assert again.table.priorities() == {"1": ["a", "b"]}
    await again.on_connection_added(connection("c0", "original", "net0"))
    assert "s_net1_f" in orig.flows.flows and "s_net2_f" not in orig.flows.flows
    await again.on_connection_added(connection("c1", "sliver", "net1"))
    assert (await call(again, "GET", "sliver_network_flow")).body == {"net1::f": "s_net1_f"}


async def test_packets_queued_while_it_was_away_are_handled_once_it_is_back() -> None:
    # Regression: after its manager's kill -9 the Slicer never took the InPackets queued
    # in the original meanwhile, nor the OutPackets queued in its slivers (their events
    # were gone): 96 and 222 of them stayed queued for ever.
    slicer, orig, one, two = await sliced()
    for cid, conn, port in (("a", "c1", "p1"), ("b", "c2", "p2")):
        rule = {"connection": conn, "in_node": "n1", "in_port": port}
        path = f"settings/slice_condition_table/1/conditions/{cid}"
        assert (await call(slicer, "PUT", path, rule)).status == 200
    await settle(slicer)

    # While it is away: a packet in for each slice, one out of net1's.
    for port in ("p1", "p2"):
        orig.packets.add(
            "in", {"type": "InPacket", "node": "n1", "port": port, "header": m("n1", port)}
        )
    one.packets.add(
        "out", {"type": "OutPacket", "node": "n1", "ports": ["p1"], "header": m("n1", "p1")}
    )
    again = Slicer("s", "cm")
    again.state.write(dict(slicer.state.items()))
    held = {
        c: {"id": c, "logic_id": "s", "network_id": n} for c, n in (("c1", "net1"), ("c2", "net2"))
    }
    host(again, orig, one, two, Connections(held))
    await again.initialize()
    await again.on_connection_added(connection("c0", "original", "net0"))
    await again.on_connection_added(connection("c1", "sliver", "net1"))
    # net1's OutPacket goes down; the InPackets wait for every sliver served to be back.
    assert len(one.packets.outbound) == 0 and len(orig.packets.outbound) == 1
    assert len(orig.packets.inbound) == 2 and len(one.packets.inbound) == 0
    await again.on_connection_added(connection("c2", "sliver", "net2"))
    assert len(orig.packets.inbound) == 0
    assert [p.port for p in one.packets.inbound.packets()] == ["p1"]
    assert [p.port for p in two.packets.inbound.packets()] == ["p2"]
