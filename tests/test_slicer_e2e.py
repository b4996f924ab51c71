"""The Slicer end to end, modelled on ODENOS's ``apps/rest_sample/rest_slicer.sh``: real
processes, real ZooKeeper, networks in other managers.

``network00`` (the original, on romgr1) has a DummyDriver below it (romgr2);
``network01`` and ``network02`` (the slivers, on romgr2) show network00's topology, made by
``slicer`` (romgr3, a process of its own so that it can be restarted without losing the
networks, which keep their state in memory).  The slice conditions split network00's edge
ports between the slivers as the sample does: node001/port0011 and node003/port0032 for
``slicer_nw01``, node001/port0013 and node003/port0033 for ``slicer_nw02``.
"""

from __future__ import annotations

from typing import Any

from tests.support import Cluster, wait_until
from tests.topology import TIMEOUT, build_line, connect, flow_of, ok, port, status_of

SLICER = "slicer"
TABLE = f"{SLICER}/settings/slice_condition_table"
SLIVERS = ("network01", "network02")


def below(network: str, flow_id: str) -> str:
    """The id of the original flow carrying ``flow_id`` of sliver ``network``."""
    return f"{SLICER}_{network}_{flow_id}"


def basic_flow(flow_id: str, in_port: str, out_port: str) -> dict[str, Any]:
    return {
        "type": "BasicFlow",
        "flow_id": flow_id,
        "owner": "test",
        "enabled": True,
        "priority": 100,
        "matches": [{"type": "BasicFlowMatch", "in_node": "node001", "in_port": in_port}],
        "path": ["link0012", "link0023"],
        "edge_actions": {"node003": [{"type": "FlowActionOutput", "output": out_port}]},
        "attributes": {"bandwidth": "10"},
    }


def ofp_flow(flow_id: str, in_port: str, out_port: str) -> dict[str, Any]:
    return {
        "type": "OFPFlow",
        "flow_id": flow_id,
        "owner": "test",
        "enabled": True,
        "priority": 200,
        "idle_timeout": 60,
        "hard_timeout": 300,
        "attributes": {},
        "matches": [
            {
                "type": "OFPFlowMatch",
                "in_node": "node001",
                "in_port": in_port,
                "eth_type": 2048,
                "ipv4_dst": "10.0.0.2",
            }
        ],
        "path": ["link0012", "link0023"],
        "edge_actions": {
            "node003": [
                {"type": "OFPFlowActionPushVlan", "eth_type": 33024},
                {"type": "FlowActionOutput", "output": out_port},
            ]
        },
    }


def in_packet(node: str, port_id: str, tag: str) -> dict[str, Any]:
    return {
        "type": "OFPInPacket",
        "node": node,
        "port": port_id,
        "header": {"type": "OFPFlowMatch", "in_node": node, "in_port": port_id},
        "data": "ABCDEFGHIJKLMN",
        "attributes": {"tag": tag},
    }


def queued(cluster: Cluster, network: str, queue: str) -> list[dict[str, Any]]:
    listing = cluster.get(f"{network}/packets/{queue}?attributes=").body
    return list(listing.values()) if isinstance(listing, dict) else []


def topology_ids(cluster: Cluster, network: str) -> tuple[dict[str, set[str]], set[str]]:
    topology = cluster.get(f"{network}/topology").body
    nodes = {n: set(body["ports"]) for n, body in topology["nodes"].items()}
    return nodes, set(topology["links"])


def mirrored(cluster: Cluster, *slivers: str) -> bool:
    want = topology_ids(cluster, "network00")
    return all(topology_ids(cluster, s) == want for s in slivers)


def start(cluster: Cluster) -> None:
    cluster.write_config(processes=("romgr1", "romgr2", "romgr3"))
    cluster.start_core()
    for cm in ("romgr1", "romgr2", "romgr3"):
        cluster.start_cm(cm)
    cluster.create_network("network00", "romgr1")
    for network in SLIVERS:
        cluster.create_network(network, "romgr2")
    for comp_id, comp_type, cm in (
        ("driver0", "DummyDriver", "romgr2"),
        (SLICER, "Slicer", "romgr3"),
    ):
        body = {"type": comp_type, "cm_id": cm}
        ok(cluster.put(f"systemmanager/components/{comp_id}", body), 201)
    connect(cluster, "c-driver", "original", "driver0", "network00")
    connect(cluster, "slicer_nw00", "original", SLICER, "network00")
    connect(cluster, "slicer_nw01", "sliver", SLICER, "network01")
    connect(cluster, "slicer_nw02", "sliver", SLICER, "network02")
    build_line(cluster, "network00")
    for node_id, port_id in (("node001", "port0013"), ("node003", "port0033")):
        ok(
            cluster.put(
                f"network00/topology/nodes/{node_id}/ports/{port_id}", port(node_id, port_id)
            )
        )
    wait_until(lambda: mirrored(cluster, *SLIVERS), TIMEOUT, "network00 shown in both slivers")


def put_conditions(cluster: Cluster) -> None:
    """As rest_slicer.sh: two conditions one by one at 40, a list of two at 50."""
    for cid, node_id, port_id in (
        ("sliceconditon1", "node001", "port0011"),
        ("sliceconditon2", "node003", "port0032"),
    ):
        body = {
            "id": cid,
            "type": "BasicSliceCondition",
            "connection": "slicer_nw01",
            "in_node": node_id,
            "in_port": port_id,
        }
        assert ok(cluster.put(f"{TABLE}/40/conditions/{cid}", body), 200) == body
    listed = [
        {
            "id": "sliceconditon3",
            "type": "BasicSliceCondition",
            "connection": "slicer_nw02",
            "in_node": "node001",
            "in_port": "port0013",
        },
        {
            "id": "sliceconditon4",
            "type": "BasicSliceCondition",
            "connection": "slicer_nw02",
            "in_node": "node003",
            "in_port": "port0033",
        },
    ]
    assert ok(cluster.put(f"{TABLE}/50", listed), 200) == listed


EXPECTED_TABLE = {
    "50": ["sliceconditon3", "sliceconditon4"],
    "40": ["sliceconditon1", "sliceconditon2"],
}


def established(cluster: Cluster, network: str, flow_id: str) -> None:
    wait_until(
        lambda: (
            status_of(cluster, network, flow_id) == "established"
            and status_of(cluster, "network00", below(network, flow_id)) == "established"
        ),
        TIMEOUT,
        f"{network}/{flow_id} established above and below",
    )


def gone(cluster: Cluster, network: str, flow_id: str) -> None:
    wait_until(
        lambda: (
            flow_of(cluster, network, flow_id) is None
            and flow_of(cluster, "network00", below(network, flow_id)) is None
        ),
        TIMEOUT,
        f"{network}/{flow_id} gone above and below",
    )


# --- tests -----------------------------------------------------------------------------------


def test_slices_of_network00_carry_flows_and_packets(cluster: Cluster) -> None:
    start(cluster)
    types = cluster.get("systemmanager/component_types").body
    assert types["Slicer"]["connection_types"] == {"original": "1", "sliver": "*"}

    # The topology follows network00: a new port shows in both slivers, and goes again.
    ok(cluster.put("network00/topology/nodes/node002/ports/port0029", port("node002", "port0029")))
    wait_until(
        lambda: all("port0029" in topology_ids(cluster, s)[0]["node002"] for s in SLIVERS),
        TIMEOUT,
        "the new port in both slivers",
    )
    ok(cluster.delete("network00/topology/nodes/node002/ports/port0029"), 200)
    wait_until(lambda: mirrored(cluster, *SLIVERS), TIMEOUT, "the deleted port gone")

    # The slice conditions, read back as rest_slicer.sh does.
    put_conditions(cluster)
    assert ok(cluster.get(TABLE), 200) == EXPECTED_TABLE
    assert ok(cluster.get(f"{TABLE}/40"), 200) == EXPECTED_TABLE["40"]
    assert cluster.get(f"{TABLE}/10").status == 404
    assert ok(cluster.get(f"{TABLE}/conditions/sliceconditon2"), 200)["in_port"] == "port0032"
    assert ok(cluster.get(f"{TABLE}/connections/slicer_nw01"), 200) == EXPECTED_TABLE["40"]
    assert ok(cluster.get(f"{TABLE}/connections/slicer_nw02"), 200) == EXPECTED_TABLE["50"]

    # One flow id in each sliver (ODENOS overwrote one with the other): each is carried
    # by its own original flow and established by the driver.
    ok(cluster.put("network01/flows/flow1", basic_flow("flow1", "port0011", "port0032")), 201)
    ok(cluster.put("network02/flows/flow1", ofp_flow("flow1", "port0013", "port0033")), 201)
    established(cluster, "network01", "flow1")
    established(cluster, "network02", "flow1")
    carried = flow_of(cluster, "network00", below("network01", "flow1"))
    assert carried is not None
    assert carried["matches"] == basic_flow("", "port0011", "")["matches"]
    assert carried["edge_actions"] == basic_flow("", "", "port0032")["edge_actions"]
    assert (carried["priority"], carried["owner"], carried["path"]) == (
        "100",
        "test",
        ["link0012", "link0023"],
    )
    ofp = flow_of(cluster, "network00", below("network02", "flow1"))
    assert ofp is not None and ofp["type"] == "OFPFlow" and ofp["idle_timeout"] == 60
    assert ofp["matches"] == ofp_flow("", "port0013", "")["matches"]
    assert ofp["edge_actions"] == ofp_flow("", "", "port0033")["edge_actions"]
    assert ok(cluster.get(f"{SLICER}/original_network_flow"), 200) == {
        below("network01", "flow1"): "network01::flow1",
        below("network02", "flow1"): "network02::flow1",
    }
    assert ok(cluster.get(f"{SLICER}/sliver_network_flow"), 200) == {
        "network01::flow1": below("network01", "flow1"),
        "network02::flow1": below("network02", "flow1"),
    }

    # A flow entering at the other slice's port fails, with a reason; nothing below.
    ok(cluster.put("network01/flows/stray", basic_flow("stray", "port0013", "port0032")), 201)
    wait_until(lambda: status_of(cluster, "network01", "stray") == "failed", TIMEOUT, "failed")
    stray = flow_of(cluster, "network01", "stray")
    assert stray is not None and "outside the slice" in stray["attributes"]["reason"]
    assert flow_of(cluster, "network00", below("network01", "stray")) is None

    # InPackets go to the slice of where they came in; one in no slice is dropped.
    for node_id, port_id, tag in (
        ("node001", "port0011", "one"),
        ("node003", "port0033", "two"),
        ("node002", "port0021", "none"),
    ):
        ok(cluster.post("network00/packets/in", in_packet(node_id, port_id, tag)), 200)
    wait_until(lambda: queued(cluster, "network01", "in"), TIMEOUT, "a packet in network01")
    wait_until(lambda: queued(cluster, "network02", "in"), TIMEOUT, "a packet in network02")
    wait_until(lambda: not queued(cluster, "network00", "in"), TIMEOUT, "all taken from network00")
    ((one,), (two,)) = queued(cluster, "network01", "in"), queued(cluster, "network02", "in")
    assert (one["attributes"], one["port"], one["data"]) == (
        {"tag": "one"},
        "port0011",
        "ABCDEFGHIJKLMN",
    )
    assert (two["attributes"], two["node"]) == ({"tag": "two"}, "node003")

    # OutPackets go down from their own slice only (the driver sends them from network00).
    out = {"type": "OutPacket", "node": "node003", "ports": ["port0032"], "data": "AAEC"}
    mine = {
        **out,
        "header": {"type": "BasicFlowMatch", "in_node": "node001", "in_port": "port0011"},
    }
    theirs = {
        **out,
        "header": {"type": "BasicFlowMatch", "in_node": "node001", "in_port": "port0013"},
    }
    ok(cluster.post("network01/packets/out", theirs), 200)
    ok(cluster.post("network01/packets/out", mine), 200)
    wait_until(
        lambda: cluster.get("network00/packets").body["out_packet_count"] == 1,
        TIMEOUT,
        "the out-packet down",
    )
    wait_until(lambda: not queued(cluster, "network01", "out"), TIMEOUT, "both taken")
    assert cluster.get("network00/packets").body["out_packet_count"] == 1

    # Conditions change: network02's slice is emptied, its flow is taken down below and
    # fails; the stray of network01 now fits a new condition and is carried.
    ok(cluster.delete(f"{TABLE}/50"), 200)
    wait_until(lambda: status_of(cluster, "network02", "flow1") == "failed", TIMEOUT, "failed")
    wait_until(
        lambda: flow_of(cluster, "network00", below("network02", "flow1")) is None,
        TIMEOUT,
        "taken down below",
    )
    whole_node = {"type": "BasicSliceCondition", "connection": "slicer_nw01", "in_node": "node001"}
    posted = ok(cluster.post(f"{TABLE}/7/conditions", whole_node), 200)
    assert posted["id"] and ok(cluster.get(TABLE), 200) == {
        **{"40": EXPECTED_TABLE["40"]},
        "7": [posted["id"]],
    }
    established(cluster, "network01", "stray")
    ok(
        cluster.put(
            f"{TABLE}/50",
            [
                {
                    "id": "back",
                    "connection": "slicer_nw02",
                    "in_node": "node001",
                    "in_port": "port0013",
                },
                {
                    "id": "back-out",
                    "connection": "slicer_nw02",
                    "in_node": "node003",
                    "in_port": "port0033",
                },
            ],
        ),
        200,
    )
    established(cluster, "network02", "flow1")

    # Disabled in a sliver: torn down below, and none on both sides; enabled: back.
    current = flow_of(cluster, "network01", "flow1")
    ok(cluster.put("network01/flows/flow1", {**current, "enabled": False}), 200)
    wait_until(
        lambda: (
            status_of(cluster, "network00", below("network01", "flow1")) == "none"
            and status_of(cluster, "network01", "flow1") == "none"
        ),
        TIMEOUT,
        "flow1 torn down below and above",
    )
    current = flow_of(cluster, "network01", "flow1")
    ok(cluster.put("network01/flows/flow1", {**current, "enabled": True}), 200)
    established(cluster, "network01", "flow1")

    # Deleted in a sliver: torn down below, then gone.
    ok(cluster.delete("network01/flows/flow1"), 200)
    gone(cluster, "network01", "flow1")

    # Bad input: JSON 4xx, and the table as it was.
    table = ok(cluster.get(TABLE), 200)
    for method, path, body in (
        ("PUT", f"{TABLE}/40/conditions/x", {"connection": "slicer_nw01"}),
        ("PUT", f"{TABLE}/40/conditions/x", {"connection": 5, "in_node": "node001"}),
        ("PUT", f"{TABLE}/40/conditions/x", ["not", "an object"]),
        ("PUT", f"{TABLE}/99999/conditions/x", {"connection": "c", "in_node": "n"}),
        ("PUT", f"{TABLE}/forty", [{"connection": "c", "in_node": "n"}]),
        ("PUT", f"{TABLE}/40", {"connection": "c", "in_node": "n"}),
        ("POST", f"{TABLE}/40/conditions", {"connection": "c", "in_node": "n", "type": "Other"}),
        ("DELETE", f"{TABLE}/-1", None),
    ):
        reply = cluster.request(method, path, body)
        assert reply.status == 400 and reply.body["error"] == "BadRequest", (path, reply)
    assert cluster.get(f"{TABLE}/conditions/nosuch").status == 404
    assert ok(cluster.get(TABLE), 200) == table

    # network02 disconnected: it loses network00's topology, its flow fails, the
    # original flow goes; network01 is untouched.
    ok(cluster.delete("systemmanager/connections/slicer_nw02"), 200)
    wait_until(lambda: topology_ids(cluster, "network02") == ({}, set()), TIMEOUT, "topology gone")
    wait_until(
        lambda: flow_of(cluster, "network00", below("network02", "flow1")) is None,
        TIMEOUT,
        "network02's original flow gone",
    )
    assert status_of(cluster, "network02", "flow1") == "failed"
    assert mirrored(cluster, "network01")
    assert status_of(cluster, "network01", "stray") == "established"


def test_slicer_resumes_after_its_manager_is_killed(cluster: Cluster) -> None:
    start(cluster)
    put_conditions(cluster)
    for flow_id in ("keep", "drop"):
        ok(
            cluster.put(f"network01/flows/{flow_id}", basic_flow(flow_id, "port0011", "port0032")),
            201,
        )
        established(cluster, "network01", flow_id)

    cluster.kill("romgr3")
    # While the Slicer is away: a new port, and a flow deleted in its sliver (which asks
    # for teardown, which nobody answers yet).
    ok(cluster.put("network00/topology/nodes/node002/ports/port0029", port("node002", "port0029")))
    ok(cluster.delete("network01/flows/drop"), 200)
    assert status_of(cluster, "network01", "drop") == "teardown"

    cluster.start_cm("romgr3")
    wait_until(lambda: mirrored(cluster, *SLIVERS), TIMEOUT, "the new port shown after the restart")
    gone(cluster, "network01", "drop")
    # The conditions a client put are all there, and still slice.
    assert ok(cluster.get(TABLE), 200) == EXPECTED_TABLE
    assert status_of(cluster, "network01", "keep") == "established"
    assert status_of(cluster, "network00", below("network01", "keep")) == "established"
    ok(cluster.put("network02/flows/new", ofp_flow("new", "port0013", "port0033")), 201)
    established(cluster, "network02", "new")
    ok(cluster.put("network02/flows/out", ofp_flow("out", "port0011", "port0033")), 201)
    wait_until(lambda: status_of(cluster, "network02", "out") == "failed", TIMEOUT, "out failed")
    ok(cluster.post("network00/packets/in", in_packet("node003", "port0032", "after")), 200)
    wait_until(lambda: queued(cluster, "network01", "in"), TIMEOUT, "the packet in network01")

    # The original disconnected: the slivers lose the topology, their flows fail, and
    # the original flows go.
    ok(cluster.delete("systemmanager/connections/slicer_nw00"), 200)
    wait_until(
        lambda: all(topology_ids(cluster, s) == ({}, set()) for s in SLIVERS),
        TIMEOUT,
        "both slivers emptied",
    )
    wait_until(
        lambda: not cluster.get("network00/flows").body["flows"], TIMEOUT, "original flows gone"
    )
    assert status_of(cluster, "network01", "keep") == "failed"
    assert status_of(cluster, "network02", "new") == "failed"
