"""(m) A flow through ODENOS's logic components, and (n) what they cost at scale.

(m) Time from a client's ``PUT flows/<id>`` to that flow reading ``established``, on
the same line topology (node001 - node002 - node003) three ways, interleaved trial by
trial so that the machine's noise falls on all three alike:

* **direct**: in the network the DummyDriver drives;
* **1 layer**: on the node an Aggregator shows that network as (one original flow
  along the line);
* **2 layers**: in a sliver of a Slicer over that Aggregator's network (the flow is
  carried by the Slicer, then by the Aggregator).

Each layer adds its events, its ``GET``/``PUT`` requests and the status steps coming
back up.  The status is polled every 2 ms, so each figure carries up to 2 ms of
polling.  Each flow is deleted again (and gone at every layer) before the next trial.

(n) The Slicer copying an original's topology into two slivers, a line of ``N`` nodes
put node by node, port by port, link by link: time until both slivers show all of
it, against the same writes with no Slicer connected (and the rate of a
LearningSwitch taking InPackets from ``M`` new hosts, each learnt and flooded).

Networks run on ``romgr1``, the logic components on ``romgr2``.
"""

from __future__ import annotations

import itertools
import statistics
import time
from dataclasses import dataclass
from typing import Any

from bench.harness import MANAGER_ID, BenchError, HttpClient, OdenosSystem, wait_until
from bench.report import Report, Row

POLL_S = 0.002
SETTLE_S = 30.0


@dataclass(frozen=True)
class Settings:
    trials: int = 20  # (m) flows per way
    nodes: int = 100  # (n) line length
    hosts: int = 300  # (n) InPackets from new hosts


class _Client:
    def __init__(self, system: OdenosSystem) -> None:
        self.http = HttpClient("127.0.0.1", system.rest_port)

    def call(self, method: str, path: str, body: Any = None, ok: tuple[int, ...] = ()) -> Any:
        reply = self.http.request(method, path, body)
        if ok and reply.status not in ok:
            raise BenchError(f"{method} {path}: {reply.status} {reply.body[:300]!r}")
        return reply.json() if reply.body else None

    def status(self, network: str, flow_id: str) -> str | None:
        reply = self.http.get(f"/{network}/flows/{flow_id}")
        return str(reply.json().get("status")) if reply.status == 200 else None

    def flows(self, network: str) -> dict[str, Any]:
        return dict(self.call("GET", f"/{network}/flows", ok=(200,))["flows"])

    def component(self, comp_id: str, comp_type: str, cm_id: str) -> None:
        body = {"type": comp_type, "cm_id": cm_id}
        self.call("PUT", f"/{MANAGER_ID}/components/{comp_id}", body, ok=(200, 201))

    def connect(self, conn_id: str, kind: str, logic: str, network: str) -> None:
        body = {
            "id": conn_id,
            "type": "LogicAndNetwork",
            "connection_type": kind,
            "logic_id": logic,
            "network_id": network,
        }
        self.call("PUT", f"/{MANAGER_ID}/connections/{conn_id}", body, ok=(201,))
        wait_until(
            lambda: (
                self.call("GET", f"/{MANAGER_ID}/connections/{conn_id}").get("state") == "running"
            ),
            SETTLE_S,
            f"{conn_id} running",
        )


def _node(node_id: str) -> dict[str, Any]:
    return {"type": "Node", "node_id": node_id, "ports": {}, "attributes": {}}


def _port(node_id: str, port_id: str) -> dict[str, Any]:
    return {"type": "Port", "node_id": node_id, "port_id": port_id, "attributes": {}}


def _link(link_id: str, src: tuple[str, str], dst: tuple[str, str]) -> dict[str, Any]:
    return {
        "type": "Link",
        "link_id": link_id,
        "src_node": src[0],
        "src_port": src[1],
        "dst_node": dst[0],
        "dst_port": dst[1],
        "attributes": {},
    }


def _line(client: _Client, network: str, n: int) -> None:
    """``n`` nodes in a line, links both ways; edge ports ``e`` on the first and last."""
    names = [f"node{i:04d}" for i in range(1, n + 1)]
    for i, name in enumerate(names):
        client.call("PUT", f"/{network}/topology/nodes/{name}", _node(name), ok=(200, 201))
        ports = ["l", "r"] + (["e"] if i in (0, n - 1) else [])
        for port_id in ports:
            client.call(
                "PUT",
                f"/{network}/topology/nodes/{name}/ports/{port_id}",
                _port(name, port_id),
                ok=(200, 201),
            )
    for left, right in itertools.pairwise(names):
        for link_id, src, dst in (
            (f"{left}-{right}", (left, "r"), (right, "l")),
            (f"{right}-{left}", (right, "l"), (left, "r")),
        ):
            client.call(
                "PUT", f"/{network}/topology/links/{link_id}", _link(link_id, src, dst), ok=(201,)
            )


def _flow(flow_id: str, node: str, in_port: str, out_node: str, out_port: str) -> dict[str, Any]:
    return {
        "type": "BasicFlow",
        "flow_id": flow_id,
        "owner": "bench",
        "enabled": True,
        "priority": "100",
        "matches": [{"type": "BasicFlowMatch", "in_node": node, "in_port": in_port}],
        "path": [],
        "edge_actions": {out_node: [{"type": "FlowActionOutput", "output": out_port}]},
        "attributes": {},
    }


# --- (m) ------------------------------------------------------------------------------------------


def measure_layers(system: OdenosSystem, settings: Settings, report: Report) -> None:
    client = _Client(system)
    rows = {
        "direct": report.add(Row("m", "flow PUT to established, direct", "ms")),
        "aggregator": report.add(Row("m", "... through an Aggregator (1 layer)", "ms")),
        "slicer": report.add(Row("m", "... through a Slicer over it (2 layers)", "ms")),
    }
    for network in ("bm-net0", "bm-net1", "bm-net2"):
        client.component(network, "Network", "romgr1")
    client.component("bm-driver", "DummyDriver", "romgr1")
    client.component("bm-agg", "Aggregator", "romgr2")
    client.component("bm-slicer", "Slicer", "romgr2")
    client.connect("bm-c-driver", "original", "bm-driver", "bm-net0")
    _line(client, "bm-net0", 3)
    client.connect("bm-c-agg0", "original", "bm-agg", "bm-net0")
    client.connect("bm-c-agg1", "aggregated", "bm-agg", "bm-net1")
    client.connect("bm-c-sl0", "original", "bm-slicer", "bm-net1")
    client.connect("bm-c-sl1", "sliver", "bm-slicer", "bm-net2")
    edge_in, edge_out = "node0001_e", "node0003_e"
    rule = [
        {"connection": "bm-c-sl1", "in_node": "bm-agg", "in_port": edge_in},
        {"connection": "bm-c-sl1", "in_node": "bm-agg", "in_port": edge_out},
    ]
    client.call("PUT", "/bm-slicer/settings/slice_condition_table/1", rule, ok=(200,))
    wait_until(
        lambda: client.http.get(f"/bm-net2/topology/nodes/bm-agg/ports/{edge_out}").status == 200,
        SETTLE_S,
        "the sliver showing the aggregated node",
    )
    ways = {
        "direct": ("bm-net0", _flow("f", "node0001", "e", "node0003", "e")),
        "aggregator": ("bm-net1", _flow("f", "bm-agg", edge_in, "bm-agg", edge_out)),
        "slicer": ("bm-net2", _flow("f", "bm-agg", edge_in, "bm-agg", edge_out)),
    }
    for trial in range(settings.trials):
        for way, (network, body) in ways.items():
            flow_id = f"t{trial}"
            start = time.perf_counter()
            client.call("PUT", f"/{network}/flows/{flow_id}", {**body, "flow_id": flow_id})
            wait_until(
                lambda network=network, flow_id=flow_id: (
                    client.status(network, flow_id) == "established"
                ),
                SETTLE_S,
                f"{way} flow {flow_id} established",
                interval=POLL_S,
            )
            rows[way].samples.append((time.perf_counter() - start) * 1000)
            client.call("DELETE", f"/{network}/flows/{flow_id}", ok=(200, 202))
            wait_until(
                lambda: all(not client.flows(n) for n in ("bm-net0", "bm-net1", "bm-net2")),
                SETTLE_S,
                f"{way} flow {flow_id} gone at every layer",
            )
    direct = statistics.median(rows["direct"].samples)
    for way in ("aggregator", "slicer"):
        added = statistics.median(rows[way].samples) - direct
        report.note(f"(m) {way}: {added:+.1f} ms over direct (medians, {settings.trials} each)")


# --- (n) ------------------------------------------------------------------------------------------


def measure_scale(system: OdenosSystem, settings: Settings, report: Report) -> None:
    client = _Client(system)
    n = settings.nodes
    plain = report.add(Row("n", f"{n}-node line written, no Slicer", "s"))
    mirrored = report.add(Row("n", "... written and mirrored into 2 slivers", "s"))
    learnt = report.add(
        Row("n", f"LearningSwitch, InPackets of {settings.hosts} new hosts", "pkt/s", rate=True)
    )

    client.component("bn-plain", "Network", "romgr1")
    start = time.perf_counter()
    _line(client, "bn-plain", n)
    plain.samples.append(time.perf_counter() - start)

    for network in ("bn-orig", "bn-s1", "bn-s2"):
        client.component(network, "Network", "romgr1")
    client.component("bn-slicer", "Slicer", "romgr2")
    client.connect("bn-c0", "original", "bn-slicer", "bn-orig")
    client.connect("bn-c1", "sliver", "bn-slicer", "bn-s1")
    client.connect("bn-c2", "sliver", "bn-slicer", "bn-s2")
    start = time.perf_counter()
    _line(client, "bn-orig", n)
    want = 2 * (n - 1)

    def complete(network: str) -> bool:
        topology = client.call("GET", f"/{network}/topology", ok=(200,))
        return len(topology["nodes"]) == n and len(topology["links"]) == want

    wait_until(
        lambda: complete("bn-s1") and complete("bn-s2"), 10 * SETTLE_S, "both slivers complete"
    )
    mirrored.samples.append(time.perf_counter() - start)

    client.component("bn-lsw-net", "Network", "romgr1")
    client.component("bn-lsw-driver", "DummyDriver", "romgr1")
    client.component("bn-lsw", "LearningSwitch", "romgr2")
    client.connect("bn-c-lsw-driver", "original", "bn-lsw-driver", "bn-lsw-net")
    _line(client, "bn-lsw-net", 3)
    client.connect("bn-c-lsw", "original", "bn-lsw", "bn-lsw-net")
    start = time.perf_counter()
    for i in range(settings.hosts):
        node = "node0001" if i % 2 == 0 else "node0003"
        packet = {
            "type": "OFPInPacket",
            "node": node,
            "port": "e",
            "header": {
                "type": "OFPFlowMatch",
                "in_node": node,
                "in_port": "e",
                "eth_src": f"02:00:00:00:{i // 256:02x}:{i % 256:02x}",
                "eth_dst": "02:ff:00:00:00:01",
            },
            "data": "AA==",
            "attributes": {},
        }
        client.call("POST", "/bn-lsw-net/packets/in", packet, ok=(200,))
    wait_until(
        lambda: len(client.call("GET", "/bn-lsw/fdb", ok=(200,))) >= settings.hosts,
        10 * SETTLE_S,
        "every host learnt",
    )
    learnt.samples.append(settings.hosts / (time.perf_counter() - start))
