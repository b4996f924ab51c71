"""OpenFlow flows and packets in the Network component (issue 9, item 1), in ODENOS's
JSON shapes (``docs/reference/odenos-openflow.md``), driven through ``Component.dispatch``.
Over HTTP and through the Aggregator and the DummyDriver: ``tests/test_odenos_answers.py``."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from odenos.components.network import Network
from odenos.components.network.flows import FlowTable
from odenos.components.network.ofp_flow import ACTIONS
from odenos.components.network.ofp_match import FIELDS, KEYS, MASKED
from odenos.errors import BadRequest, Conflict
from tests.support import call

#: The OFPFlow of ODENOS's rest_flow.sample, as it sends it (no priority: the default).
SAMPLE_FLOW: dict[str, Any] = {
    "type": "OFPFlow",
    "version": "0",
    "flow_id": "flow01",
    "owner": "logic",
    "enabled": True,
    "status": "establishing",
    "attributes": {"bandwidth": "0", "req_bandwidth": "0", "latency": "0"},
    "idle_timeout": 60,
    "hard_timeout": 60,
    "matches": [
        {
            "type": "OFPFlowMatch",
            "in_node": "aggre",
            "in_port": "node001_port0011",
            "eth_src": "ff:aa:ff:aa:ff:aa",
            "eth_dst": "bb:ff:bb:ff:bb:ff",
            "vlan_vid": 0,
            "vlan_pcp": 0,
            "eth_type": 2048,
            "ip_proto": 6,
            "ipv4_src": "10.0.0.1",
            "ipv4_dst": "10.0.0.2",
            "tcp_src": 10000,
            "tcp_dst": 10001,
        }
    ],
    "path": ["link0012", "link0023"],
    "edge_actions": {
        "node1": [
            {
                "type": "OFPFlowActionSetField",
                "match": {"type": "OFPFlowMatch", "eth_src": "ab:ff:ab:ff:ab:ff"},
            },
            {"type": "FlowActionOutput", "output": "node003_port0033"},
        ]
    },
}

#: A value of the right kind for every OpenFlow match key.
ALL_FIELDS: dict[str, Any] = {
    key: ("00:00:00:00:00:01" if kind is str else kind) for key, kind in KEYS.items()
}

#: One action of every OpenFlow type, with valid parameters.
EVERY_ACTION: list[dict[str, Any]] = [
    {"type": "OFPFlowActionCopyTtlOut"},
    {"type": "OFPFlowActionCopyTtlIn"},
    {"type": "OFPFlowActionSetMplsTtl", "mpls_ttl": 64},
    {"type": "OFPFlowActionDecMplsTtl"},
    {"type": "OFPFlowActionPushVlan", "eth_type": 0x8100},
    {"type": "OFPFlowActionPopVlan"},
    {"type": "OFPFlowActionPushMpls", "eth_type": 0x8847},
    {"type": "OFPFlowActionPopMpls", "eth_type": 0x0800},
    {"type": "OFPFlowActionSetQueue", "queue_id": 3},
    {"type": "OFPFlowActionGroupAction", "group_id": 7},
    {"type": "OFPFlowActionSetIpTtl", "ip_ttl": 32},
    {"type": "OFPFlowActionDecIpTtl"},
    {"type": "OFPFlowActionSetField", "match": {"type": "OFPFlowMatch", "vlan_vid": 10}},
    {"type": "OFPFlowActionPushPbb", "eth_type": 0x88E7},
    {"type": "OFPFlowActionPopPbb"},
    {"type": "OFPFlowActionExperimenter", "experimenter_id": 0x2320, "body": "AAEC"},
    {"type": "FlowActionOutput", "output": "p2"},
]


def ofp_flow(flow_id: str, **fields: Any) -> dict[str, Any]:
    body = copy.deepcopy(SAMPLE_FLOW)
    body.pop("version")
    return {**body, "flow_id": flow_id, "status": "none", **fields}


def without_version(flow: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in flow.items() if k != "version"}


# --- the flow and its parts ------------------------------------------------------------------


async def test_odenos_sample_flow_is_stored_and_returned_as_sent(net: Network) -> None:
    resp = await call(net, "PUT", "flows/flow01", SAMPLE_FLOW)
    assert resp.status == 201
    expected = {**SAMPLE_FLOW, "version": "1", "priority": "32768"}
    assert resp.body == expected
    assert (await call(net, "GET", "flows/flow01")).body == expected
    # The actions keep their order (ODENOS moved outputs first).
    assert [a["type"] for a in resp.body["edge_actions"]["node1"]] == [
        "OFPFlowActionSetField",
        "FlowActionOutput",
    ]


async def test_every_match_field_and_mask_round_trips(net: Network) -> None:
    assert len(FIELDS) == 39 and len(MASKED) == 16 and len(KEYS) == 55
    match = {"type": "OFPFlowMatch", "in_node": "n1", "in_port": "p1", **ALL_FIELDS}
    flow = (await call(net, "PUT", "flows/f1", ofp_flow("f1", matches=[match]))).body
    assert flow["matches"] == [match]
    # Absent fields stay absent (wildcards); 0 is a value, not a wildcard.
    narrow = {"type": "OFPFlowMatch", "in_node": "n1", "vlan_vid": 0}
    flow = (await call(net, "PUT", "flows/f2", ofp_flow("f2", matches=[narrow]))).body
    assert flow["matches"] == [narrow]


async def test_every_action_type_round_trips_in_order(net: Network) -> None:
    assert {a["type"] for a in EVERY_ACTION} == {*ACTIONS, "FlowActionOutput"}
    body = ofp_flow("f1", edge_actions={"n2": EVERY_ACTION})
    flow = (await call(net, "PUT", "flows/f1", body)).body
    assert flow["edge_actions"] == {"n2": EVERY_ACTION}
    # An Experimenter without a body, and PushPbb's null ethertype (ODENOS's 0x88e7).
    actions = [
        {"type": "OFPFlowActionExperimenter", "experimenter_id": 1},
        {"type": "OFPFlowActionPushPbb", "eth_type": None},
    ]
    flow = (await call(net, "PUT", "flows/f2", ofp_flow("f2", edge_actions={"n": actions}))).body
    assert flow["edge_actions"]["n"] == [
        {"type": "OFPFlowActionExperimenter", "experimenter_id": 1},
        {"type": "OFPFlowActionPushPbb", "eth_type": 0x88E7},
    ]


async def test_ofp_flow_defaults(net: Network) -> None:
    flow = (
        await call(
            net,
            "PUT",
            "flows/f1",
            {"type": "OFPFlow", "matches": [{"type": "OFPFlowMatch", "in_node": "n1"}]},
        )
    ).body
    assert flow == {
        "type": "OFPFlow",
        "version": "1",
        "flow_id": "f1",
        "owner": "unknown",
        "enabled": True,
        "priority": "32768",
        "status": "none",
        "matches": [{"type": "OFPFlowMatch", "in_node": "n1"}],
        "path": [],
        "edge_actions": {},
        "attributes": {},
        "idle_timeout": 0,
        "hard_timeout": 0,
    }


async def test_post_of_an_ofp_flow_generates_its_id(net: Network) -> None:
    resp = await call(net, "POST", "flows", ofp_flow("ignored"))
    assert resp.status == 200 and resp.body["type"] == "OFPFlow"
    flow_id = resp.body["flow_id"]
    assert flow_id != "ignored"
    assert (await call(net, "GET", f"flows/{flow_id}")).body == resp.body


async def test_an_update_of_an_ofp_flow_keeps_its_type_and_follows_the_version(
    net: Network,
) -> None:
    await call(net, "PUT", "flows/f1", ofp_flow("f1"))
    stored = (await call(net, "GET", "flows/f1")).body
    updated = (await call(net, "PUT", "flows/f1", {**stored, "idle_timeout": 5})).body
    assert (updated["version"], updated["idle_timeout"], updated["type"]) == ("2", 5, "OFPFlow")
    same = (await call(net, "PUT", "flows/f1", updated)).body
    assert same["version"] == "2"
    # What a driver does: the status, on the flow as it read it.
    established = (await call(net, "PUT", "flows/f1", {**updated, "status": "establishing"})).body
    assert established["status"] == "establishing" and established["type"] == "OFPFlow"


async def test_a_put_cannot_change_a_flows_type(net: Network) -> None:
    await call(net, "PUT", "flows/f1", ofp_flow("f1"))
    basic = {
        "type": "BasicFlow",
        "matches": [{"type": "BasicFlowMatch", "in_node": "n1"}],
    }
    with pytest.raises(Conflict) as err:
        await call(net, "PUT", "flows/f1", basic)
    assert err.value.details["field"] == "type" and "OFPFlow" in str(err.value)
    await call(net, "PUT", "flows/f2", basic)
    with pytest.raises(Conflict):
        await call(net, "PUT", "flows/f2", ofp_flow("f2"))
    assert (await call(net, "GET", "flows/f1")).body["type"] == "OFPFlow"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"idle_timeout": "60"}, "idle_timeout"),
        ({"idle_timeout": 1.5}, "idle_timeout"),
        ({"idle_timeout": True}, "idle_timeout"),
        ({"hard_timeout": -1}, "hard_timeout"),
        ({"hard_timeout": 65536}, "hard_timeout"),
        ({"matches": [{"type": "OFPFlowMatch"}]}, "matches[0].in_node"),
        ({"matches": [{"type": "OFPFlowMatch", "in_node": ""}]}, "matches[0].in_node"),
        ({"matches": [{"type": "OFPFlowMatch", "in_node": "n", "in_port": ""}]}, None),
        ({"matches": [{"type": "OFPFlowMatch", "in_node": "n", "eth_type": "0x0800"}]}, None),
        ({"matches": [{"type": "OFPFlowMatch", "in_node": "n", "eth_type": 2048.5}]}, None),
        ({"matches": [{"type": "OFPFlowMatch", "in_node": "n", "vlan_vid": True}]}, None),
        ({"matches": [{"type": "OFPFlowMatch", "in_node": "n", "vlan_vid": 0x2000}]}, None),
        ({"matches": [{"type": "OFPFlowMatch", "in_node": "n", "tcp_dst": -1}]}, None),
        ({"matches": [{"type": "OFPFlowMatch", "in_node": "n", "ipv4_src": 167772161}]}, None),
        ({"matches": [{"type": "OFPFlowMatch", "in_node": "n", "eth_src": " "}]}, None),
        ({"matches": [{"type": "OFPFlowMatch", "in_node": "n", "metadata": 5}]}, None),
        ({"matches": [{"type": "OFPFlowMatch", "in_node": "n", "tcp_dst": None}]}, None),
        ({"matches": [{"type": "OFPFlowMatch", "in_node": "n", "tcp_dstport": 80}]}, None),
        ({"matches": [{"type": "OFPFlowMatch", "in_node": "n", "tcp_dst_mask": 1}]}, None),
        ({"edge_actions": {"n": [{"type": "OFPFlowActionOutput", "output": "p"}]}}, None),
        ({"edge_actions": {"n": [{"type": {}, "group_id": 1}]}}, "edge_actions.n[0].type"),
        ({"edge_actions": {"n": [{"type": ["x"], "group_id": 1}]}}, "edge_actions.n[0].type"),
        ({"edge_actions": {"n": [{"type": "OFPFlowActionPushVlan"}]}}, None),
        ({"edge_actions": {"n": [{"type": "OFPFlowActionPushVlan", "eth_type": 2048}]}}, None),
        ({"edge_actions": {"n": [{"type": "OFPFlowActionPushMpls", "eth_type": 0x8100}]}}, None),
        ({"edge_actions": {"n": [{"type": "OFPFlowActionSetIpTtl", "ip_ttl": "64"}]}}, None),
        ({"edge_actions": {"n": [{"type": "OFPFlowActionSetIpTtl", "ip_ttl": 256}]}}, None),
        ({"edge_actions": {"n": [{"type": "OFPFlowActionSetQueue", "queue_id": None}]}}, None),
        ({"edge_actions": {"n": [{"type": "OFPFlowActionDecIpTtl", "ip_ttl": 1}]}}, None),
        ({"edge_actions": {"n": [{"type": "OFPFlowActionSetField"}]}}, "edge_actions.n[0].match"),
        (
            {"edge_actions": {"n": [{"type": "OFPFlowActionSetField", "match": {"in_node": "n"}}]}},
            "edge_actions.n[0].match.type",
        ),
        (
            {
                "edge_actions": {
                    "n": [
                        {
                            "type": "OFPFlowActionSetField",
                            "match": {"type": "OFPFlowMatch", "in_node": "n"},
                        }
                    ]
                }
            },
            "edge_actions.n[0].match",
        ),
        (
            {
                "edge_actions": {
                    "n": [
                        {
                            "type": "OFPFlowActionSetField",
                            "match": {"type": "BasicFlowMatch", "in_port": "p"},
                        }
                    ]
                }
            },
            None,
        ),
        (
            {
                "edge_actions": {
                    "n": [{"type": "OFPFlowActionExperimenter", "experimenter_id": 1, "body": 5}]
                }
            },
            None,
        ),
    ],
)
async def test_bad_ofp_flows_are_400_naming_the_field(
    net: Network, change: dict[str, Any], field: str | None
) -> None:
    await call(net, "PUT", "flows/f0", ofp_flow("f0"))
    before = (await call(net, "GET", "flows")).body
    for method, path in (("PUT", "flows/f1"), ("PUT", "flows/f0"), ("POST", "flows")):
        with pytest.raises(BadRequest) as err:
            await call(net, method, path, ofp_flow(path.rpartition("/")[2], **change))
        named = err.value.details["field"]
        if field is not None:
            assert named == field
        else:
            # The field named is the one at fault, deep inside the body.
            leaf = _deepest_key(change)
            assert named.endswith(leaf) or named.endswith(".type"), (named, leaf)
    assert (await call(net, "GET", "flows")).body == before


def _deepest_key(change: dict[str, Any]) -> str:
    """The last key of the innermost object of a test change (the field at fault)."""
    value: Any = change
    key = ""
    while True:
        if isinstance(value, dict) and value:
            key, value = list(value.items())[-1]
        elif isinstance(value, list) and value:
            value = value[-1]
        else:
            return key


async def test_openflow_actions_need_an_ofp_flow(net: Network) -> None:
    body = {
        "type": "BasicFlow",
        "matches": [{"type": "OFPFlowMatch", "in_node": "n1", "eth_type": 2048}],
        "edge_actions": {"n1": [{"type": "OFPFlowActionPopVlan"}]},
    }
    with pytest.raises(BadRequest) as err:
        await call(net, "PUT", "flows/f1", body)
    assert err.value.details["field"] == "edge_actions.n1[0].type"
    assert "OFPFlow" in str(err.value)
    # An OFPFlowMatch in a BasicFlow is fine, as in ODENOS.
    body["edge_actions"] = {"n1": [{"type": "FlowActionOutput", "output": "p"}]}
    flow = (await call(net, "PUT", "flows/f1", body)).body
    assert flow["matches"][0] == {"type": "OFPFlowMatch", "in_node": "n1", "eth_type": 2048}


def test_stored_ofp_flows_load_back_as_they_were() -> None:
    """What a resuming Network does with its stored flows."""
    table = FlowTable()
    flow, _ = table.put("f1", ofp_flow("f1", edge_actions={"n2": EVERY_ACTION}))
    stored = flow.to_json()
    again = FlowTable()
    loaded = again.load(copy.deepcopy(stored))
    assert loaded.to_json() == stored and type(loaded).__name__ == "OFPFlow"


# --- queries ---------------------------------------------------------------------------------


async def _ids(net: Network, **query: str) -> set[str]:
    return set((await call(net, "GET", "flows", query=query)).body["flows"])


@pytest.fixture
async def flows(net: Network) -> Network:
    """Flows to query: two OFPFlows, a BasicFlow, and a topology for path queries."""
    for node in ("n1", "n2", "n3"):
        await call(net, "PUT", f"topology/nodes/{node}", {})
        for port in ("p1", "p2"):
            await call(net, "PUT", f"topology/nodes/{node}/ports/{port}", {})
    for link, (src, dst) in {"l12": ("n1", "n2"), "l23": ("n2", "n3")}.items():
        await call(
            net,
            "PUT",
            f"topology/links/{link}",
            {"src_node": src, "src_port": "p2", "dst_node": dst, "dst_port": "p1"},
        )
    web = {"type": "OFPFlowMatch", "in_node": "n1", "eth_type": 2048, "tcp_dst": 80}
    await call(
        net,
        "PUT",
        "flows/web",
        ofp_flow(
            "web",
            matches=[web],
            path=["l12"],
            idle_timeout=10,
            edge_actions={
                "n2": [
                    {
                        "type": "OFPFlowActionSetField",
                        "match": {"type": "OFPFlowMatch", "eth_dst": "00:00:00:00:00:02"},
                    },
                    {"type": "OFPFlowActionPushVlan", "eth_type": 0x8100},
                    {"type": "FlowActionOutput", "output": "p2"},
                ]
            },
        ),
    )
    ssh = {**web, "tcp_dst": 22}
    await call(
        net,
        "PUT",
        "flows/ssh",
        ofp_flow(
            "ssh",
            matches=[ssh],
            path=["l12", "l23"],
            hard_timeout=30,
            edge_actions={"n3": [{"type": "FlowActionOutput", "output": "p2"}]},
        ),
    )
    await call(
        net,
        "PUT",
        "flows/basic",
        {
            "type": "BasicFlow",
            "matches": [{"type": "BasicFlowMatch", "in_node": "n1", "in_port": "p1"}],
            "edge_actions": {"n1": [{"type": "FlowActionOutput", "output": "p2"}]},
        },
    )
    return net


async def test_flow_queries_of_odenos(flows: Network) -> None:
    net = flows
    assert await _ids(net, type="OFPFlow") == {"web", "ssh"}
    assert await _ids(net, type='"BasicFlow"') == {"basic"}
    assert await _ids(net, type="OFPFlow", idle_timeout="10") == {"web"}
    assert await _ids(net, hard_timeout="30") == {"ssh"}
    # match: every match of the flow satisfies it.
    assert await _ids(net, type="OFPFlow", match="type=OFPFlowMatch,tcp_dst=80") == {"web"}
    assert await _ids(net, match='"type=OFPFlowMatch,eth_type=2048,in_node=n1"') == {"web", "ssh"}
    assert await _ids(net, match="type=BasicFlowMatch,in_node=n1") == {"web", "ssh", "basic"}
    assert await _ids(net, match="type=BasicFlowMatch,in_port=p1") == {"basic"}
    assert await _ids(net, match="type=OFPFlowMatch,in_node=n1") == {"web", "ssh"}
    # path: a link, or a node (and port) a link of it touches.
    assert await _ids(net, path="link_id=l23") == {"ssh"}
    assert await _ids(net, path="node_id=n2") == {"web", "ssh"}
    assert await _ids(net, path="node_id=n3,port_id=p1") == {"ssh"}
    assert await _ids(net, path="node_id=n3,port_id=p2") == set()
    # actions: every action of that type (a flow without one passes, as in ODENOS).
    assert await _ids(net, actions="type=FlowActionOutput,output=p2") == {"web", "ssh", "basic"}
    assert await _ids(net, actions="type=FlowActionOutput,edge_node=n3") == {"ssh"}
    assert await _ids(net, type="OFPFlow", actions="type=OFPFlowActionPushVlan,eth_type=33024") == {
        "web",
        "ssh",
    }
    assert (
        await _ids(net, actions="type=OFPFlowActionPushVlan,eth_type=34984,edge_node=n2") == set()
    )
    assert await _ids(
        net, actions="type=OFPFlowActionSetField,edge_node=n2,eth_dst=00:00:00:00:00:02"
    ) == {"web"}
    assert await _ids(net, actions="type=OFPFlowActionPopVlan,edge_node=n2") == {"web"}
    # Parameters combine (and).
    assert await _ids(net, type="OFPFlow", path="link_id=l12", hard_timeout="30") == {"ssh"}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"type": "Flow"}, "type"),
        ({"idle_timeout": "ten"}, "idle_timeout"),
        ({"match": "in_node=n1"}, "match"),
        ({"match": "type=BasicFlowMatch,eth_type=2048"}, "match.eth_type"),
        ({"match": "type=OFPFlowMatch,eth_type=0x800"}, "match.eth_type"),
        ({"match": "type=OFPFlowMatch,eth_type"}, "match"),
        ({"match": "type=OFPFlowMatch,colour=red"}, "match.colour"),
        ({"path": "node_id=n1,link_id=l1"}, "path"),
        ({"path": "port_id=p1"}, "path"),
        ({"actions": "type=OFPFlowActionOutput"}, "actions"),
        ({"actions": "type=OFPFlowActionPushVlan"}, "actions.eth_type"),
        ({"actions": "type=OFPFlowActionPopVlan,eth_type=1"}, "actions.eth_type"),
        ({"actions": "type=OFPFlowActionSetQueue,queue_id=q"}, "actions.queue_id"),
    ],
)
async def test_bad_flow_queries_are_400_naming_the_parameter(
    flows: Network, query: dict[str, str], field: str
) -> None:
    with pytest.raises(BadRequest) as err:
        await call(flows, "GET", "flows", query=query)
    assert err.value.details["field"] == field


# --- packets ---------------------------------------------------------------------------------


async def test_ofp_packets_are_queued_and_returned(net: Network) -> None:
    header = {"type": "OFPFlowMatch", "in_node": "node001", "in_port": "port0012"}
    sent = {
        "type": "OFPInPacket",
        "node": "node001",
        "port": "port0012",
        "header": {**header, "eth_type": 2054},
        "data": "",
        "attributes": {},
        "time": 1700000000.25,
    }
    got = (await call(net, "POST", "packets/in", sent)).body
    assert got == {**sent, "packet_id": "0000000000"}
    # time may be an integer (ODENOS refused one) or absent (0.0).
    no_time = {k: v for k, v in sent.items() if k != "time"}
    assert (await call(net, "POST", "packets/in", no_time)).body["time"] == 0.0
    assert (await call(net, "POST", "packets/in", {**sent, "time": 5})).body["time"] == 5.0
    out = {
        "type": "OFPOutPacket",
        "node": "node001",
        "ports": ["port0011"],
        "ports-except": [],
        "header": {"type": "OFPFlowMatch", "eth_dst": "ff:ff:ff:ff:ff:ff"},
        "data": "AAEC",
    }
    posted = (await call(net, "POST", "packets/out", out)).body
    assert posted["type"] == "OFPOutPacket" and posted["header"] == out["header"]
    assert (await call(net, "GET", "packets/out/head")).body == posted
    # Both types in one queue, by attributes as any packet.
    basic = {"type": "InPacket", "node": "n", "port": "p", "attributes": {"k": "v"}}
    await call(net, "POST", "packets/in", basic)
    listing = (await call(net, "GET", "packets/in", query={"attributes": "k=v"})).body
    assert [p["type"] for p in listing.values()] == ["InPacket"]


@pytest.mark.parametrize(
    ("queue", "body", "field"),
    [
        ("out", {"type": "OFPInPacket", "node": "n", "ports": ["p"]}, "type"),
        ("in", {"type": "OFPOutPacket", "node": "n", "ports": ["p"]}, "type"),
        ("in", {"type": "OFPPacket", "node": "n", "port": "p"}, "type"),
        ("in", {"type": "OFPInPacket", "node": "n", "port": "p", "time": "now"}, "time"),
        ("in", {"type": "OFPInPacket", "node": "n", "port": "p", "time": -1}, "time"),
        (
            "in",
            {
                "type": "OFPInPacket",
                "node": "n",
                "port": "p",
                "header": {"type": "OFPFlowMatch", "vlan_vid": "1"},
            },
            "header.vlan_vid",
        ),
        ("out", {"type": "OFPOutPacket", "node": "n"}, "port"),
    ],
)
async def test_bad_ofp_packets_are_400(
    net: Network, queue: str, body: dict[str, Any], field: str
) -> None:
    with pytest.raises(BadRequest) as err:
        await call(net, "POST", f"packets/{queue}", body)
    assert err.value.details["field"] == field
    assert (await call(net, "GET", "packets")).body[f"{queue}_packet_count"] == 0
