"""ODENOS's logic components chained, as its sample sessions stack them: a LearningSwitch on
a sliver of a Slicer over an Aggregator over a DummyDriver's network, across three managers.

* ``network0`` (romgr1): the line node001 - node002 - node003 (``build_line``) with two more
  edge ports, node001/port0013 and node003/port0033; ``driver0`` (romgr1) below it.
* ``network1`` (romgr1): ``aggregator0`` (romgr3) shows network0 there as one node,
  ``aggregator0``, whose four ports are network0's edge ports.
* ``network2`` and ``network3`` (romgr2): ``slicer0`` (romgr3) slices network1; slice A
  (network2) is the traffic entering at network0's node001/port0011 and node003/port0032,
  slice B (network3) at the other two.
* ``lsw0`` (romgr2) runs slice A as a learning switch (connected ``sliver``, as ODENOS's
  ``rest_slicer.sh`` connects its LearningSwitches).

A packet of host A (node001/port0011) climbs the three layers to the LearningSwitch; the flow
it installs for host B's answer goes down them to the driver, and its status comes back up.
"""

from __future__ import annotations

from typing import Any

from tests.support import Cluster, wait_until
from tests.topology import (
    TIMEOUT,
    OutPackets,
    build_line,
    connect,
    in_packet,
    ok,
    port,
    status_of,
)

AGG, SLICER, LSW = "aggregator0", "slicer0", "lsw0"
A, B = "00:00:00:00:00:0a", "00:00:00:00:00:0b"
#: The aggregated node's ports (``<node>_<port>`` of network0's edge ports), by slice.
SLICE_A = ("node001_port0011", "node003_port0032")
SLICE_B = ("node001_port0013", "node003_port0033")


def condition(cond_id: str, connection: str, in_port: str) -> dict[str, Any]:
    return {
        "id": cond_id,
        "type": "BasicSliceCondition",
        "connection": connection,
        "in_node": AGG,
        "in_port": in_port,
    }


def flows(cluster: Cluster, network: str) -> dict[str, Any]:
    return dict(ok(cluster.get(f"{network}/flows"))["flows"])


def shown_ports(cluster: Cluster, network: str) -> set[str]:
    reply = cluster.get(f"{network}/topology/nodes/{AGG}")
    return set(reply.body["ports"]) if reply.status == 200 else set()


def start(cluster: Cluster) -> None:
    cluster.write_config(processes=("romgr1", "romgr2", "romgr3"))
    cluster.start_core()
    for cm in ("romgr1", "romgr2", "romgr3"):
        cluster.start_cm(cm)
    for network, cm in (
        ("network0", "romgr1"),
        ("network1", "romgr1"),
        ("network2", "romgr2"),
        ("network3", "romgr2"),
    ):
        cluster.create_network(network, cm)
    for comp_id, comp_type, cm in (
        ("driver0", "DummyDriver", "romgr1"),
        (AGG, "Aggregator", "romgr3"),
        (SLICER, "Slicer", "romgr3"),
        (LSW, "LearningSwitch", "romgr2"),
    ):
        ok(
            cluster.put(f"systemmanager/components/{comp_id}", {"type": comp_type, "cm_id": cm}),
            201,
        )
    connect(cluster, "c-driver", "original", "driver0", "network0")
    build_line(cluster)
    for node_id, port_id in (("node001", "port0013"), ("node003", "port0033")):
        ok(
            cluster.put(
                f"network0/topology/nodes/{node_id}/ports/{port_id}", port(node_id, port_id)
            )
        )
    connect(cluster, "c-agg-original", "original", AGG, "network0")
    connect(cluster, "c-agg-aggregated", "aggregated", AGG, "network1")
    connect(cluster, "c-slicer-original", "original", SLICER, "network1")
    connect(cluster, "c-slice-a", "sliver", SLICER, "network2")
    connect(cluster, "c-slice-b", "sliver", SLICER, "network3")
    slices = {"c-slice-a": (10, SLICE_A), "c-slice-b": (20, SLICE_B)}
    for connection, (priority, ports) in slices.items():
        body = [condition(f"{connection}-{i}", connection, p) for i, p in enumerate(ports)]
        ok(cluster.put(f"{SLICER}/settings/slice_condition_table/{priority}", body))
    everything = set(SLICE_A) | set(SLICE_B)
    for network in ("network1", "network2", "network3"):
        wait_until(
            lambda network=network: shown_ports(cluster, network) == everything,
            TIMEOUT,
            f"{network} shows the aggregated node with its four ports",
        )
    connect(cluster, "c-lsw", "sliver", LSW, "network2")


def established_everywhere(cluster: Cluster, lsw_flow: str) -> list[str]:
    """Wait until the LearningSwitch's flow is established in slice A; the ids of what
    carries it in network1 and network0, checked established too."""
    wait_until(
        lambda: status_of(cluster, "network2", lsw_flow) == "established",
        TIMEOUT,
        f"{lsw_flow} established in slice A",
    )
    in_1 = [k for k in flows(cluster, "network1") if k.endswith(f"_{lsw_flow}")]
    in_0 = [k for k in flows(cluster, "network0") if k.endswith(f"_{lsw_flow}")]
    assert len(in_1) == 1 and len(in_0) == 1, (in_1, in_0)
    assert status_of(cluster, "network1", in_1[0]) == "established"
    assert status_of(cluster, "network0", in_0[0]) == "established"
    return [in_1[0], in_0[0]]


def test_learning_switch_on_a_slice_of_an_aggregate_down_to_the_driver(cluster: Cluster) -> None:
    start(cluster)
    out = OutPackets(cluster, "network0")

    # A to B, unknown: the packet climbs network0 -> network1 -> slice A, the switch learns A
    # and floods; the flood goes down again, out of slice A's other port only.
    ok(cluster.post("network0/packets/in", in_packet(A, B, "node001", "port0011")))
    wait_until(lambda: A in ok(cluster.get(f"{LSW}/fdb")), TIMEOUT, "A learnt")
    assert ok(cluster.get(f"{LSW}/fdb"))[A] == {"node_id": AGG, "port_id": "node001_port0011"}
    (flood,) = out.wait(1, "the flood in network0")
    assert (flood["node"], flood["ports"]) == ("node003", ["port0032"]), flood
    assert flood["header"]["eth_src"] == A

    # B answers: a flow in slice A, carried by the Slicer into network1 and by the Aggregator
    # along network0's line; the driver establishes it, and each layer follows.
    ok(cluster.post("network0/packets/in", in_packet(B, A, "node003", "port0032")))
    (sent,) = out.wait(1, "the packet to A")
    assert (sent["node"], sent["ports"]) == ("node001", ["port0011"])
    (lsw_flow,) = flows(cluster, "network2")
    in_1, in_0 = established_everywhere(cluster, lsw_flow)
    below = flows(cluster, "network0")[in_0]
    assert below["type"] == "OFPFlow" and below["path"] == ["link0032", "link0021"]
    assert below["matches"][0]["in_node"] == "node003"
    assert below["matches"][0]["in_port"] == "port0032"
    assert below["matches"][0]["eth_src"] == B and below["matches"][0]["eth_dst"] == A
    assert below["edge_actions"] == {
        "node001": [{"type": "FlowActionOutput", "output": "port0011"}]
    }
    assert ok(cluster.get(f"{SLICER}/original_network_flow")) == {in_1: f"network2::{lsw_flow}"}

    # Slice B cannot take slice A's traffic: its flow entering at A's port fails, nothing below.
    intruder = {
        "type": "BasicFlow",
        "flow_id": "intruder",
        "owner": "test",
        "enabled": True,
        "priority": "100",
        "matches": [{"type": "BasicFlowMatch", "in_node": AGG, "in_port": SLICE_A[0]}],
        "path": [],
        "edge_actions": {AGG: [{"type": "FlowActionOutput", "output": SLICE_B[1]}]},
        "attributes": {},
    }
    ok(cluster.put("network3/flows/intruder", intruder))
    wait_until(lambda: status_of(cluster, "network3", "intruder") == "failed", TIMEOUT, "failed")
    assert len(flows(cluster, "network1")) == 1 and len(flows(cluster, "network0")) == 1

    # The Aggregator's and the Slicer's manager killed and restarted: they resume; the flow
    # stays established, nothing is made twice, and the next flow (A to B) goes all the way.
    cluster.kill("romgr3")
    cluster.start_cm("romgr3")
    ok(cluster.post("network0/packets/in", in_packet(A, B, "node001", "port0011")))
    (sent,) = out.wait(1, "the packet to B")
    assert (sent["node"], sent["ports"]) == ("node003", ["port0032"])
    wait_until(lambda: len(flows(cluster, "network2")) == 2, TIMEOUT, "a second flow")
    (second,) = set(flows(cluster, "network2")) - {lsw_flow}
    established_everywhere(cluster, second)
    assert established_everywhere(cluster, lsw_flow) == [in_1, in_0]
    assert len(flows(cluster, "network1")) == 2 and len(flows(cluster, "network0")) == 2

    # Taken apart from the top: the switch's flows go, and with them everything below.
    ok(cluster.delete("systemmanager/connections/c-lsw"))
    for network in ("network2", "network1", "network0"):
        wait_until(
            lambda network=network: flows(cluster, network) == {},
            TIMEOUT,
            f"{network} without flows",
        )
    for conn in ("c-slice-a", "c-slice-b", "c-slicer-original", "c-agg-aggregated"):
        ok(cluster.delete(f"systemmanager/connections/{conn}"))
    wait_until(lambda: shown_ports(cluster, "network2") == set(), TIMEOUT, "slice A emptied")
    wait_until(
        lambda: cluster.get(f"network1/topology/nodes/{AGG}").status == 404,
        TIMEOUT,
        "the aggregated node removed",
    )
    ok(cluster.delete("systemmanager/connections/c-agg-original"))
    for comp_id in (LSW, SLICER, AGG):
        ok(cluster.delete(f"systemmanager/components/{comp_id}"))
    assert status_of(cluster, "network3", "intruder") == "failed"
