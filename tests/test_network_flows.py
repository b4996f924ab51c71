"""The Network component's flows and packet queues, driven through ``Component.dispatch``."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from odenos.components.base import Response
from odenos.components.network import Network
from odenos.components.network.changes import ChangeKind
from odenos.components.network.packets import PacketQueue, parse_in_packet
from odenos.errors import (
    BadRequest,
    Conflict,
    InvalidStateTransition,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
)
from tests.support import call


def flow_body(flow_id: str, **fields: Any) -> dict[str, Any]:
    """The reference's example flow: into node001 at port0011, over link0012, out of port0022."""
    return {
        "type": "BasicFlow",
        "flow_id": flow_id,
        "owner": "logic0",
        "enabled": True,
        "priority": 100,
        "matches": [{"type": "BasicFlowMatch", "in_node": "node001", "in_port": "port0011"}],
        "path": ["link0012"],
        "edge_actions": {"node002": [{"type": "FlowActionOutput", "output": "port0022"}]},
        "attributes": {"req_bandwidth": "1000"},
        **fields,
    }


async def put_flow(net: Network, flow_id: str, **fields: Any) -> Response:
    return await call(net, "PUT", f"flows/{flow_id}", flow_body(flow_id, **fields))


async def set_status(net: Network, flow_id: str, status: str) -> dict[str, Any]:
    """What a driver does: read the flow, change its status, PUT it back with its version."""
    flow = (await call(net, "GET", f"flows/{flow_id}")).body
    return (await call(net, "PUT", f"flows/{flow_id}", {**flow, "status": status})).body


# --- the flow object -------------------------------------------------------------------------


async def test_put_flow_creates_then_reads_back(net: Network) -> None:
    resp = await put_flow(net, "f1")
    assert resp.status == 201
    assert resp.body == {
        "type": "BasicFlow",
        "version": "1",
        "flow_id": "f1",
        "owner": "logic0",
        "enabled": True,
        "priority": "100",
        "status": "none",
        "matches": [{"type": "BasicFlowMatch", "in_node": "node001", "in_port": "port0011"}],
        "path": ["link0012"],
        "edge_actions": {"node002": [{"type": "FlowActionOutput", "output": "port0022"}]},
        "attributes": {"req_bandwidth": "1000"},
    }
    assert (await call(net, "GET", "flows/f1")).body == resp.body


async def test_flow_defaults(net: Network) -> None:
    flow = (await call(net, "PUT", "flows/f1", {"matches": [{"in_node": "n1"}]})).body
    assert (flow["owner"], flow["enabled"], flow["priority"], flow["status"]) == (
        "unknown",  # ODENOS's default owner
        True,
        "32768",
        "none",
    )
    assert flow["matches"] == [{"type": "BasicFlowMatch", "in_node": "n1"}]
    assert (flow["path"], flow["edge_actions"], flow["attributes"]) == ([], {}, {})


async def test_flow_may_name_objects_the_topology_lacks(net: Network) -> None:
    # The topology is empty: flows are accepted independently of it.
    assert (await put_flow(net, "f1")).status == 201
    assert (await call(net, "GET", "topology")).body["nodes"] == {}


async def test_post_flow_generates_id_and_ignores_version(net: Network) -> None:
    resp = await call(net, "POST", "flows", flow_body("given", version="7"))
    assert resp.status == 200
    flow_id = resp.body["flow_id"]
    assert flow_id != "given"
    assert resp.body["version"] == "1"
    assert (await call(net, "GET", f"flows/{flow_id}")).body == resp.body


async def test_get_unknown_flow_is_404(net: Network) -> None:
    with pytest.raises(NotFound, match="ghost"):
        await call(net, "GET", "flows/ghost")
    with pytest.raises(NotFound):
        await call(net, "DELETE", "flows/ghost")
    with pytest.raises(NotFound):
        await call(net, "PUT", "flows/ghost/attributes", {"a": "1"})


# --- versions --------------------------------------------------------------------------------


async def test_update_versions_and_conflicts(net: Network) -> None:
    await put_flow(net, "f1")
    updated = await put_flow(net, "f1", priority="200", version="1")
    assert (updated.status, updated.body["version"], updated.body["priority"]) == (200, "2", "200")
    same = await put_flow(net, "f1", priority=200)
    assert (same.status, same.body["version"]) == (200, "2")
    same = await put_flow(net, "f1", priority=200.0)  # JSON does not tell 200 from 200.0
    assert (same.status, same.body["version"]) == (200, "2")
    with pytest.raises(BadRequest, match="priority"):
        await put_flow(net, "f1", priority=200.5)
    with pytest.raises(Conflict) as err:
        await put_flow(net, "f1", priority=300, version="1")
    assert (err.value.details["version"], err.value.details["requested"]) == ("2", "1")
    # "0" means "I am creating it": the flow exists, so this is stale too.
    with pytest.raises(Conflict):
        await put_flow(net, "f1", priority=300, version="0")
    assert (await call(net, "GET", "flows/f1")).body["priority"] == "200"


async def test_create_with_nonzero_version_is_conflict(net: Network) -> None:
    with pytest.raises(Conflict):
        await put_flow(net, "f1", version="3")
    with pytest.raises(NotFound):
        await call(net, "GET", "flows/f1")
    assert (await put_flow(net, "f1", version="0")).status == 201


async def test_flowset_version_counts_changes(net: Network) -> None:
    assert (await call(net, "GET", "flows")).body["version"] == "0"
    await put_flow(net, "f1")
    await put_flow(net, "f1", priority=5)
    await put_flow(net, "f1", priority=5)  # no change
    await call(net, "DELETE", "flows/f1")
    assert (await call(net, "GET", "flows")).body["version"] == "3"


# --- the status machine ----------------------------------------------------------------------

STATUSES = ["none", "establishing", "established", "teardown", "failed"]

#: The table, written out independently of the code: (from, to) pairs a PUT may ask for.
ALLOWED = {
    ("none", "establishing"),
    ("establishing", "established"),
    ("established", "teardown"),
    ("teardown", "none"),
    *((status, "failed") for status in STATUSES),
    ("failed", "none"),
    ("failed", "teardown"),
    *((status, status) for status in STATUSES),
}

#: How a driver brings a new flow to each status.
ROUTE_TO = {
    "none": [],
    "establishing": ["establishing"],
    "established": ["establishing", "established"],
    "teardown": ["establishing", "established", "teardown"],
    "failed": ["failed"],
}


@pytest.mark.parametrize("current", STATUSES)
@pytest.mark.parametrize("target", STATUSES)
async def test_status_transitions_follow_the_table(net: Network, current: str, target: str) -> None:
    await put_flow(net, "f1")
    for step in ROUTE_TO[current]:
        await set_status(net, "f1", step)
    before = (await call(net, "GET", "flows/f1")).body
    assert before["status"] == current
    if (current, target) in ALLOWED:
        after = await set_status(net, "f1", target)
        assert after["status"] == target
        expected_version = int(before["version"]) + (current != target)
        assert after["version"] == str(expected_version)
    else:
        with pytest.raises(InvalidStateTransition) as err:
            await set_status(net, "f1", target)
        assert err.value.status == 409
        assert err.value.details["current"] == current
        assert err.value.details["requested"] == target
        assert set(err.value.details["allowed"]) == {
            to for frm, to in ALLOWED if frm == current and to != current
        }
        assert (await call(net, "GET", "flows/f1")).body == before


async def test_new_flow_starts_none_or_in_the_status_it_is_created_with(net: Network) -> None:
    """ODENOS creates a flow in any status (a driver may report one it found established);
    the table's transitions apply from then on."""
    assert (await put_flow(net, "f1")).body["status"] == "none"
    assert (await put_flow(net, "f2", status="establishing")).body["status"] == "establishing"
    assert (await put_flow(net, "f3", status="established")).body["status"] == "established"
    with pytest.raises(InvalidStateTransition):
        await set_status(net, "f3", "establishing")
    with pytest.raises(BadRequest):
        await put_flow(net, "f4", status="installed")  # not a status: a clear 400


async def test_update_without_status_keeps_it(net: Network) -> None:
    await put_flow(net, "f1")
    await set_status(net, "f1", "establishing")
    body = flow_body("f1", priority=7)
    body.pop("status", None)
    flow = (await call(net, "PUT", "flows/f1", body)).body
    assert (flow["status"], flow["priority"]) == ("establishing", "7")


async def test_refused_transition_changes_nothing_else(net: Network) -> None:
    await put_flow(net, "f1")
    with pytest.raises(InvalidStateTransition):
        await put_flow(net, "f1", status="teardown", priority=1)
    flow = (await call(net, "GET", "flows/f1")).body
    assert (flow["status"], flow["priority"], flow["version"]) == ("none", "100", "1")


# --- deletion --------------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["none", "failed"])
async def test_delete_resting_flow_removes_it(net: Network, status: str) -> None:
    await put_flow(net, "f1")
    for step in ROUTE_TO[status]:
        await set_status(net, "f1", step)
    resp = await call(net, "DELETE", "flows/f1")
    assert (resp.status, resp.body) == (200, None)
    with pytest.raises(NotFound):
        await call(net, "GET", "flows/f1")


async def test_delete_established_flow_tears_it_down_first(net: Network) -> None:
    await put_flow(net, "f1")
    for step in ROUTE_TO["established"]:
        await set_status(net, "f1", step)
    resp = await call(net, "DELETE", "flows/f1")
    assert (resp.status, resp.body) == (200, None)  # ODENOS's answer, teardown pending
    assert (await call(net, "GET", "flows/f1")).body["status"] == "teardown"
    assert (await call(net, "GET", "flows/f1")).body["status"] == "teardown"
    assert set((await call(net, "GET", "flows")).body["flows"]) == {"f1"}
    # The driver has removed it below: the network forgets it.
    assert (await set_status(net, "f1", "none"))["status"] == "none"
    with pytest.raises(NotFound):
        await call(net, "GET", "flows/f1")
    # The id is free again.
    assert (await put_flow(net, "f1")).status == 201


async def test_delete_establishing_flow_waits_for_established(net: Network) -> None:
    await put_flow(net, "f1")
    await set_status(net, "f1", "establishing")
    resp = await call(net, "DELETE", "flows/f1")
    assert (resp.status, resp.body) == (200, None)  # ODENOS's answer, teardown pending
    assert (await call(net, "GET", "flows/f1")).body["status"] == "establishing"
    # The driver finishes establishing it; the network starts the teardown at once.
    assert (await set_status(net, "f1", "established"))["status"] == "teardown"
    await set_status(net, "f1", "none")
    with pytest.raises(NotFound):
        await call(net, "GET", "flows/f1")


async def test_delete_pending_flow_removed_if_driver_fails_it(net: Network) -> None:
    await put_flow(net, "f1")
    await set_status(net, "f1", "establishing")
    await call(net, "DELETE", "flows/f1")
    await set_status(net, "f1", "failed")
    with pytest.raises(NotFound):
        await call(net, "GET", "flows/f1")


async def test_delete_flow_in_teardown_waits_for_none(net: Network) -> None:
    await put_flow(net, "f1")
    for step in ROUTE_TO["teardown"]:
        await set_status(net, "f1", step)
    resp = await call(net, "DELETE", "flows/f1")
    assert (resp.status, resp.body) == (200, None)  # ODENOS's answer, teardown pending
    assert (await call(net, "GET", "flows/f1")).body["status"] == "teardown"
    await set_status(net, "f1", "none")
    with pytest.raises(NotFound):
        await call(net, "GET", "flows/f1")


async def test_second_delete_forces_removal(net: Network) -> None:
    await put_flow(net, "f1")
    for step in ROUTE_TO["established"]:
        await set_status(net, "f1", step)
    assert (await call(net, "DELETE", "flows/f1")).status == 200  # teardown pending
    assert (await call(net, "GET", "flows/f1")).body["status"] == "teardown"
    assert (await call(net, "DELETE", "flows/f1")).status == 200
    with pytest.raises(NotFound):
        await call(net, "GET", "flows/f1")


async def test_flow_pending_deletion_can_still_be_updated(net: Network) -> None:
    await put_flow(net, "f1")
    for step in ROUTE_TO["established"]:
        await set_status(net, "f1", step)
    await call(net, "DELETE", "flows/f1")
    flow = (await call(net, "PUT", "flows/f1/attributes", {"note": "going"})).body
    assert (flow["status"], flow["attributes"]["note"]) == ("teardown", "going")
    await set_status(net, "f1", "none")
    with pytest.raises(NotFound):
        await call(net, "GET", "flows/f1")


# --- listing and filters ---------------------------------------------------------------------


async def filtered(net: Network, **query: str) -> set[str]:
    return set((await call(net, "GET", "flows", query=query)).body["flows"])


async def test_flowset_shape(net: Network) -> None:
    await put_flow(net, "f1", priority=10)
    await put_flow(net, "f2", priority=10)
    await put_flow(net, "f3", priority=20)
    flowset = (await call(net, "GET", "flows")).body
    assert (flowset["type"], flowset["version"]) == ("FlowSet", "3")
    assert {k: sorted(v) for k, v in flowset["priority"].items()} == {
        "10": ["f1", "f2"],
        "20": ["f3"],
    }
    assert flowset["flows"]["f3"] == (await call(net, "GET", "flows/f3")).body


async def test_flow_filters(net: Network) -> None:
    await put_flow(net, "on", attributes={"tenant": "a"})
    await put_flow(net, "off", enabled=False, attributes={"tenant": "b"})
    await put_flow(net, "busy", status="establishing", attributes={"tenant": "a", "n": 1})
    assert await filtered(net) == {"on", "off", "busy"}
    assert await filtered(net, enabled="true") == {"on", "busy"}
    assert await filtered(net, enabled="false") == {"off"}
    assert await filtered(net, status="none") == {"on", "off"}
    assert await filtered(net, status="establishing") == {"busy"}
    assert await filtered(net, status="failed") == set()
    assert await filtered(net, type="BasicFlow") == {"on", "off", "busy"}
    assert await filtered(net, type="OFPFlow") == set()
    assert await filtered(net, attributes="tenant=a") == {"on", "busy"}
    assert await filtered(net, attributes='"tenant=a,n=1"') == {"busy"}
    assert await filtered(net, enabled="true", status="none", attributes="tenant=a") == {"on"}
    filtered_set = (await call(net, "GET", "flows", query={"status": "none"})).body
    assert set(filtered_set["priority"]["100"]) == {"on", "off"}


@pytest.mark.parametrize(
    "query",
    [{"enabled": "yes"}, {"status": "up"}, {"attributes": "tenant"}],
)
async def test_bad_flow_filters_are_bad_requests(net: Network, query: dict[str, str]) -> None:
    with pytest.raises(BadRequest):
        await call(net, "GET", "flows", query=query)


# --- attributes ------------------------------------------------------------------------------


async def test_flow_attributes_merge(net: Network) -> None:
    await put_flow(net, "f1")
    merged = (await call(net, "PUT", "flows/f1/attributes", {"latency": "5"})).body
    assert merged["attributes"] == {"req_bandwidth": "1000", "latency": "5"}
    assert merged["version"] == "2"
    replaced = (await call(net, "PUT", "flows/f1/attributes", {"req_bandwidth": "10"})).body
    assert replaced["attributes"] == {"req_bandwidth": "10", "latency": "5"}
    assert replaced["version"] == "3"
    same = (await call(net, "PUT", "flows/f1/attributes", {"latency": "5"})).body
    assert same["version"] == "3"
    for body in (None, "x", []):
        with pytest.raises(BadRequest):
            await call(net, "PUT", "flows/f1/attributes", body)


# --- bad bodies ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"type": "Flow"}, "type"),
        ({"flow_id": "other"}, None),
        ({"flow_id": 5}, "flow flow_id"),
        ({"owner": 5}, "owner"),
        ({"enabled": "yes"}, "enabled"),
        ({"priority": 70000}, "priority"),
        ({"priority": -1}, "priority"),
        ({"priority": "high"}, "priority"),
        ({"priority": True}, "priority"),
        ({"status": "up"}, "status"),
        ({"version": "one"}, "version"),
        ({"matches": {}}, "matches"),
        ({"matches": [{}]}, "matches[0].in_node"),
        ({"matches": ["n1"]}, None),
        ({"matches": [{"in_node": 5}]}, "matches[0].in_node"),
        ({"matches": [{"in_node": "n1"}, {"in_node": "n1", "in_port": ""}]}, "matches[1].in_port"),
        ({"matches": [{"in_node": "n1", "eth_type": 2048}]}, "matches[0].eth_type"),
        ({"matches": [{"type": "OFPMatch", "in_node": "n1"}]}, "matches[0].type"),
        ({"matches": [{"type": "OFPFlowMatch", "in_node": "n1", "vlan_pcp": 8}]}, None),
        ({"path": "link0012"}, "path"),
        ({"path": ["l1", 2]}, "path[1]"),
        ({"path": ["a/b"]}, "path[0]"),
        ({"edge_actions": []}, None),
        ({"edge_actions": {"node002": {}}}, "edge_actions.node002"),
        ({"edge_actions": {"node002": [{}]}}, "edge_actions.node002[0].output"),
        (
            {"edge_actions": {"node002": [{"type": "FlowActionSetField", "output": "p"}]}},
            "edge_actions.node002[0].type",
        ),
        ({"edge_actions": {"node002": [{"output": "p", "queue": 1}]}}, None),
        ({"attributes": "x"}, None),
    ],
)
async def test_bad_flow_bodies_are_bad_requests(
    net: Network, change: dict[str, Any], field: str | None
) -> None:
    await put_flow(net, "f0")
    before = (await call(net, "GET", "flows")).body
    for method, path in (("PUT", "flows/f1"), ("PUT", "flows/f0"), ("POST", "flows")):
        if method == "POST" and ("flow_id" in change or "version" in change):
            continue  # POST ignores the body's flow_id and version
        body = {**flow_body("f0" if path == "flows/f0" else "f1"), **change}
        with pytest.raises(BadRequest) as err:
            await call(net, method, path, body)
        if field is not None:
            assert err.value.details["field"] == field
    assert (await call(net, "GET", "flows")).body == before


@pytest.mark.parametrize("body", [None, "flow", [], 3])
async def test_non_object_flow_bodies_are_bad_requests(net: Network, body: Any) -> None:
    with pytest.raises(BadRequest):
        await call(net, "PUT", "flows/f1", body)
    with pytest.raises(BadRequest):
        await call(net, "POST", "flows", body)


async def test_flow_methods_not_allowed(net: Network) -> None:
    with pytest.raises(MethodNotAllowed):
        await call(net, "POST", "flows/f1", {})
    with pytest.raises(MethodNotAllowed):
        await call(net, "DELETE", "flows")
    with pytest.raises(MethodNotAllowed):
        await call(net, "GET", "flows/f1/attributes")


# --- packets ---------------------------------------------------------------------------------


def in_packet(port: str = "port0011", **fields: Any) -> dict[str, Any]:
    return {
        "type": "InPacket",
        "node": "node001",
        "port": port,
        "header": {"type": "BasicFlowMatch", "in_node": "node001", "in_port": port},
        "data": "AAECAw==",
        "attributes": {},
        **fields,
    }


def out_packet(**fields: Any) -> dict[str, Any]:
    return {"type": "OutPacket", "node": "node002", "data": "AAEC", **fields}


async def queued_ids(net: Network, queue: str) -> list[str]:
    ids: list[str] = (await call(net, "GET", f"packets/{queue}")).body[f"{queue}_packets"]
    return ids


async def test_in_packet_round_trip(net: Network) -> None:
    resp = await call(net, "POST", "packets/in", in_packet(packet_id="mine"))
    assert resp.status == 200
    assert resp.body == {
        "type": "InPacket",
        "packet_id": "0000000000",
        "node": "node001",
        "port": "port0011",
        "header": {"type": "BasicFlowMatch", "in_node": "node001", "in_port": "port0011"},
        "data": "AAECAw==",
        "attributes": {},
    }
    assert (await call(net, "GET", "packets/in/0000000000")).body == resp.body


async def test_queue_order_head_and_delete(net: Network) -> None:
    for port in ("p1", "p2", "p3", "p4"):
        await call(net, "POST", "packets/in", in_packet(port))
    assert await queued_ids(net, "in") == ["0000000000", "0000000001", "0000000002", "0000000003"]
    status = (await call(net, "GET", "packets/in")).body  # ODENOS's PacketStatus
    assert (status["in_packet_queue_count"], status["out_packets"]) == (4, None)
    # Peek leaves the packet; pop takes it.
    assert (await call(net, "GET", "packets/in/head")).body["port"] == "p1"
    assert (await call(net, "GET", "packets/in/head")).body["port"] == "p1"
    popped = await call(net, "DELETE", "packets/in/head")
    assert (popped.status, popped.body["port"]) == (200, "p1")
    assert (await call(net, "GET", "packets/in/head")).body["port"] == "p2"
    # Delete from the middle by id.
    removed = await call(net, "DELETE", "packets/in/0000000002")
    assert removed.body["port"] == "p3"
    with pytest.raises(NotFound):
        await call(net, "GET", "packets/in/0000000002")
    gone = await call(net, "DELETE", "packets/in/0000000002")  # ODENOS: 200, no body
    assert (gone.status, gone.body) == (200, None)
    assert await queued_ids(net, "in") == ["0000000001", "0000000003"]
    # Clear; ids are not reused.
    assert (await call(net, "DELETE", "packets/in")).status == 200
    assert await queued_ids(net, "in") == []
    assert (await call(net, "POST", "packets/in", in_packet())).body["packet_id"] == "0000000004"


async def test_packets_by_attributes_as_odenos_queries_them(net: Network) -> None:
    """``attributes=k=v`` is the queues' only query: the matching packets by packet_id."""
    await call(net, "POST", "packets/in", in_packet("p1"))
    tagged = await call(net, "POST", "packets/in", in_packet("p5", attributes={"tag": "a"}))
    found = await call(net, "GET", "packets/in", query={"attributes": "tag=a"})
    assert list(found.body) == [tagged.body["packet_id"]]
    assert found.body[tagged.body["packet_id"]]["port"] == "p5"
    with pytest.raises(BadRequest):
        await call(net, "GET", "packets/in", query={"in_node": "node001"})


async def test_empty_queue_head_is_204(net: Network) -> None:
    for method in ("GET", "DELETE"):
        for queue in ("in", "out"):
            reply = await call(net, method, f"packets/{queue}/head")
            assert (reply.status, reply.body) == (204, None)


async def test_queues_are_separate(net: Network) -> None:
    await call(net, "POST", "packets/in", in_packet())
    out = (await call(net, "POST", "packets/out", out_packet(port="port0021"))).body
    assert out["packet_id"] == "0000000000"
    assert await queued_ids(net, "in") == ["0000000000"]
    assert (await call(net, "DELETE", "packets/out/head")).body["type"] == "OutPacket"
    assert await queued_ids(net, "in") == ["0000000000"]
    assert await queued_ids(net, "out") == []


async def test_out_packet_port_forms(net: Network) -> None:
    """``port`` (an extension), ``ports`` or ``ports-except``; written as ODENOS writes
    it, both lists, a single port folded into ``ports``; what was written reads back."""
    one = (await call(net, "POST", "packets/out", out_packet(port="p1"))).body
    assert "port" not in one and (one["ports"], one["ports-except"]) == (["p1"], [])
    several = (await call(net, "POST", "packets/out", out_packet(ports=["p1", "p2"]))).body
    assert (several["ports"], several["ports-except"]) == (["p1", "p2"], [])
    flood = (await call(net, "POST", "packets/out", out_packet(**{"ports-except": []}))).body
    assert (flood["ports"], flood["ports-except"]) == ([], [])
    assert flood["header"] is None
    some = (await call(net, "POST", "packets/out", out_packet(**{"ports-except": ["p9"]}))).body
    assert (some["ports"], some["ports-except"]) == ([], ["p9"])
    for written in (one, several, flood, some):
        again = (await call(net, "POST", "packets/out", written)).body
        assert (again["ports"], again["ports-except"]) == (
            written["ports"],
            written["ports-except"],
        )


async def test_packet_status(net: Network) -> None:
    await call(net, "POST", "packets/in", in_packet(data="abcd"))
    await call(net, "POST", "packets/in", in_packet(data="é"))
    await call(net, "POST", "packets/out", out_packet(port="p", data=None))
    await call(net, "DELETE", "packets/in/head")
    status = (await call(net, "GET", "packets")).body
    assert status == {
        "type": "PacketStatus",
        "in_packet_count": 2,
        "in_packet_bytes": 6,
        "in_packet_queue_count": 1,
        "in_packets": ["0000000001"],
        "in_packet_dropped": 0,
        "out_packet_count": 1,
        "out_packet_bytes": 0,
        "out_packet_queue_count": 1,
        "out_packets": ["0000000000"],
        "out_packet_dropped": 0,
        "packet_queue_limit": 10_000,
    }


class SmallQueues(Network):
    PACKET_QUEUE_LIMIT: ClassVar[int] = 3


async def test_full_queue_drops_the_oldest_and_counts() -> None:
    net = SmallQueues("network0", "romgr1")
    for port in ("p0", "p1", "p2", "p3", "p4"):
        resp = await call(net, "POST", "packets/in", in_packet(port))
        assert resp.body["port"] == port
    assert await queued_ids(net, "in") == ["0000000002", "0000000003", "0000000004"]
    assert (await call(net, "GET", "packets/in/head")).body["port"] == "p2"
    with pytest.raises(NotFound):
        await call(net, "GET", "packets/in/0000000000")
    status = (await call(net, "GET", "packets")).body
    assert (status["in_packet_count"], status["in_packet_queue_count"]) == (5, 3)
    assert (status["in_packet_dropped"], status["out_packet_dropped"]) == (2, 0)
    assert status["packet_queue_limit"] == 3
    # Room made by taking a packet out is used before anything is dropped again.
    await call(net, "DELETE", "packets/in/head")
    await call(net, "POST", "packets/in", in_packet("p5"))
    assert (await call(net, "GET", "packets")).body["in_packet_dropped"] == 2


def test_a_queue_holds_a_bounded_number_of_bytes() -> None:
    """A few packets with megabyte-long ids or data must not take the manager's memory
    (found attacking the LearningSwitch: 10,000 packets of 600 KB ids were taken): the
    oldest go to make room, and a packet larger than the whole bound is a 413."""
    queue = PacketQueue(ChangeKind.IN_PACKET, parse_in_packet, limit=100, byte_limit=2100)
    big = {**in_packet("p0"), "data": "A" * 500}
    for port in ("p0", "p1", "p2", "p3", "p4", "p5"):
        queue.add({**big, "port": port})
    held = [p.port for p in queue.packets()]
    assert held == ["p3", "p4", "p5"] and queue.dropped == 3  # 3 x 687 bytes fit in 2100
    queue.remove(queue.packets()[0].packet_id)
    queue.pop_head()
    queue.add({**big, "port": "p6"})
    queue.add({**big, "port": "p7"})
    assert [p.port for p in queue.packets()] == ["p5", "p6", "p7"] and queue.dropped == 3
    with pytest.raises(PayloadTooLarge):
        queue.add({**big, "node": "n" * 3000})
    assert [p.port for p in queue.packets()] == ["p5", "p6", "p7"]
    queue.clear()
    queue.add({**big, "port": "p8"})
    assert len(queue) == 1 and queue.dropped == 3


@pytest.mark.parametrize(
    ("queue", "body", "field"),
    [
        ("in", None, None),
        ("in", [], None),
        ("in", in_packet(node=None), "node"),
        ("in", in_packet(port=None), "port"),
        ("in", in_packet(node=5), "node"),
        ("in", in_packet(type="OutPacket"), "type"),
        ("in", in_packet(data=5), "data"),
        ("in", in_packet(data=["x"]), "data"),
        ("in", in_packet(header="h"), None),
        ("in", in_packet(header={"in_port": "p"}), "header.in_node"),
        ("in", in_packet(header={"in_node": "n", "vlan": 1}), "header.vlan"),
        ("in", in_packet(attributes=[]), None),
        ("out", out_packet(), "port"),
        ("out", out_packet(port="p1", ports=["p2"]), "port"),
        ("out", out_packet(ports=[]), "ports"),
        ("out", out_packet(ports="p1"), "ports"),
        ("out", out_packet(**{"ports-except": [1]}), "ports-except[0]"),
        ("out", out_packet(port="p1", type="InPacket"), "type"),
        ("out", out_packet(port="p1", node=None), "node"),
    ],
)
async def test_bad_packet_bodies_are_bad_requests(
    net: Network, queue: str, body: Any, field: str | None
) -> None:
    with pytest.raises(BadRequest) as err:
        await call(net, "POST", f"packets/{queue}", body)
    if field is not None:
        assert err.value.details["field"] == field
    assert await queued_ids(net, queue) == []
    # A refused packet does not use up an id.
    good = in_packet() if queue == "in" else out_packet(port="p1")
    assert (await call(net, "POST", f"packets/{queue}", good)).body["packet_id"] == "0000000000"


async def test_unknown_queue_and_methods(net: Network) -> None:
    with pytest.raises(NotFound, match="up"):
        await call(net, "POST", "packets/up", in_packet())
    with pytest.raises(NotFound):
        await call(net, "GET", "packets/up/head")
    with pytest.raises(NotFound):
        await call(net, "GET", "packets/in/0000000009")
    with pytest.raises(MethodNotAllowed):
        await call(net, "PUT", "packets/in", in_packet())
    with pytest.raises(MethodNotAllowed):
        await call(net, "POST", "packets")
    with pytest.raises(MethodNotAllowed):
        await call(net, "POST", "packets/in/head", in_packet())


# --- the change hook -------------------------------------------------------------------------


class Recording(Network):
    """A Network that records what its change hook is told."""

    def __init__(self) -> None:
        super().__init__("network0", "romgr1")
        self.seen: list[tuple[str, str, dict[str, Any] | None, dict[str, Any] | None]] = []

    def _changed(self, kind: str, action: Any, prev: Any, curr: Any) -> None:
        self.seen.append((kind, str(action), prev, curr))

    def summary(self) -> list[tuple[str, str, str | None, str | None]]:
        """(kind, action, prev status or packet id, curr status or packet id) per call."""

        def short(obj: dict[str, Any] | None) -> str | None:
            if obj is None:
                return None
            return obj["status"] if obj["type"] == "BasicFlow" else obj["packet_id"]

        return [(kind, action, short(prev), short(curr)) for kind, action, prev, curr in self.seen]


async def test_flow_changes_reach_the_hook() -> None:
    net = Recording()
    await put_flow(net, "f1")
    await put_flow(net, "f1")  # no change: not reported
    await set_status(net, "f1", "establishing")
    await set_status(net, "f1", "established")
    await call(net, "PUT", "flows/f1/attributes", {"latency": "3"})
    await call(net, "DELETE", "flows/f1")
    await set_status(net, "f1", "none")
    await put_flow(net, "f2")
    await call(net, "DELETE", "flows/f2")
    assert net.summary() == [
        ("Flow", "add", None, "none"),
        ("Flow", "update", "none", "establishing"),
        ("Flow", "update", "establishing", "established"),
        ("Flow", "update", "established", "established"),
        ("Flow", "update", "established", "teardown"),
        ("Flow", "update", "teardown", "none"),
        ("Flow", "delete", "none", None),
        ("Flow", "add", None, "none"),
        ("Flow", "delete", "none", None),
    ]
    versions = [(p and p["version"], c and c["version"]) for _, _, p, c in net.seen[:7]]
    assert versions == [
        (None, "1"),
        ("1", "2"),
        ("2", "3"),
        ("3", "4"),
        ("4", "5"),
        ("5", "6"),
        ("6", None),
    ]
    # Each call carries the flow as it is after the change.
    assert net.seen[3][3] is not None
    assert net.seen[3][3]["attributes"]["latency"] == "3"


async def test_packets_added_reach_the_hook() -> None:
    net = Recording()
    posted_in = (await call(net, "POST", "packets/in", in_packet())).body
    posted_out = (await call(net, "POST", "packets/out", out_packet(port="p1"))).body
    await call(net, "DELETE", "packets/in/head")  # taking a packet out is not reported
    await call(net, "DELETE", "packets/out")
    with pytest.raises(BadRequest):
        await call(net, "POST", "packets/in", {"node": "n"})
    assert net.summary() == [
        ("InPacket", "add", None, "0000000000"),
        ("OutPacket", "add", None, "0000000000"),
    ]
    assert (net.seen[0][3], net.seen[1][3]) == (posted_in, posted_out)
