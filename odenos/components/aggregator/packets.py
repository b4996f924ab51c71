"""Packets through the Aggregator: InPackets up, OutPackets down.

Pure functions over JSON packets and a
:class:`~odenos.components.aggregator.routing.TopologyMirror`; the Aggregator
takes each packet out of its queue and posts what these return, as ODENOS's
Aggregator did:

* an **InPacket** queued in the original network (``InPacketAdded``) that came
  in at an edge port is queued in the aggregated network as coming in at that
  port of the aggregated node (its ``header``'s ``in_node``/``in_port`` too).  One
  that came in at a port with a link (traffic inside the original network) is
  not the aggregated network's business and is dropped, as in ODENOS.
* an **OutPacket** queued in the aggregated network (``OutPacketAdded``) for the
  aggregated node becomes one OutPacket per original node it leaves from: by the
  original ports its ``ports`` name, or, for ``ports-except`` (a flood), by every
  edge port but those.  ODENOS sent all of them from the last port's node and
  flooded an original node's every port; here each leaves where it should.

The packet's type (basic or OpenFlow), ``data``, ``attributes`` and ``time`` go
with it; the network gives it a new ``packet_id``.
"""

from __future__ import annotations

import copy
from typing import Any

from odenos.components.aggregator.naming import port_name
from odenos.components.aggregator.routing import PortView, TopologyMirror


def _strings(raw: Any) -> list[str]:
    return [x for x in raw if isinstance(x, str)] if isinstance(raw, list) else []


def in_packet_up(
    packet: dict[str, Any], node_id: str, topology: TopologyMirror
) -> dict[str, Any] | None:
    """The aggregated network's InPacket for an original one (``node_id`` is the
    aggregated node); None when it did not come in at an edge port."""
    node, port = packet.get("node"), packet.get("port")
    view = topology.port(node, port) if isinstance(node, str) and isinstance(port, str) else None
    if view is None or not view.is_edge:
        return None
    up = {k: copy.deepcopy(v) for k, v in packet.items() if k != "packet_id"}
    up["node"], up["port"] = node_id, port_name(view.node_id, view.port_id)
    header = up.get("header")
    if isinstance(header, dict):
        in_node, in_port = header.get("in_node"), header.get("in_port")
        header_port = (
            topology.port(in_node, in_port)
            if isinstance(in_node, str) and isinstance(in_port, str)
            else None
        )
        if "in_node" in header:
            header["in_node"] = node_id
        if header_port is not None and header_port.is_edge:
            header["in_port"] = port_name(header_port.node_id, header_port.port_id)
        else:
            header.pop("in_port", None)
    return up


def out_packets_down(
    packet: dict[str, Any], node_id: str, topology: TopologyMirror
) -> list[dict[str, Any]]:
    """The original network's OutPackets for an aggregated one, one per original node
    it leaves from; none when it is not for the aggregated node or names no edge port."""
    if packet.get("node") != node_id:
        return []
    named = _strings(packet.get("ports"))
    if isinstance(packet.get("port"), str):
        named.append(packet["port"])
    targets: list[PortView] = []
    if named:
        for name in named:
            view = topology.edge_port(name)
            if view is not None and view not in targets:
                targets.append(view)
    else:  # a flood of the aggregated node: every edge port but the excepted ones
        excepted = set(_strings(packet.get("ports-except")))
        targets = [
            view for name, view in sorted(topology.edge_ports().items()) if name not in excepted
        ]
    by_node: dict[str, list[str]] = {}
    for view in targets:
        by_node.setdefault(view.node_id, []).append(view.port_id)
    header = packet.get("header")
    down_header = _header_down(header, node_id, topology) if isinstance(header, dict) else header
    base = {
        k: copy.deepcopy(v)
        for k, v in packet.items()
        if k not in ("packet_id", "node", "port", "ports", "ports-except", "header")
    }
    return [
        {**copy.deepcopy(base), "node": node, "ports": ports, "header": copy.deepcopy(down_header)}
        for node, ports in by_node.items()
    ]


def _header_down(header: dict[str, Any], node_id: str, topology: TopologyMirror) -> dict[str, Any]:
    down = copy.deepcopy(header)
    in_port = down.get("in_port")
    view = topology.edge_port(in_port) if isinstance(in_port, str) else None
    if view is not None:
        down["in_node"], down["in_port"] = view.node_id, view.port_id
    elif down.get("in_node") == node_id:
        # The aggregated node names no one original node: left as any.
        down.pop("in_port", None)
        if down.get("type") == "OFPFlowMatch":
            down.pop("in_node", None)
    return down
