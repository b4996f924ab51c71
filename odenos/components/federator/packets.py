"""Packets through the Federator: InPackets up, OutPackets down.

Pure functions over JSON packets and a :class:`~.model.Federation`; the
Federator takes each packet out of its queue and posts what these return:

* an **InPacket** of an original network at a port that is not a boundary port
  goes up to the federated network at the federated node (``<nw>_<node>``, same
  port), its ``header``'s ``in_node`` mapped too.  One at a boundary port (the
  traffic crossing between networks) is dropped, as in ODENOS, and so is one at
  a node the federated network does not show.
* an **OutPacket** of the federated network names one federated node, so its
  ``ports`` all lie in one original network: it goes there, at the original
  node.  A flood (``ports-except``) goes out of that node as it is (its
  boundary ports included: they lead to the next network), and, as in ODENOS,
  to every other original network too: one OutPacket per node there, excepting
  the node's boundary ports (the flood arrives there over them).  ODENOS posted
  those with a wrong node id; each leaves from its own node here.

The ``header``'s ``in_node``/``in_port`` go down where they name a port of the
target network, and are left out (any) elsewhere.  The packet's type, ``data``,
``attributes`` and ``time`` go with it; the network gives it a new id.
"""

from __future__ import annotations

import copy
from typing import Any

from odenos.components.federator.model import Federation


def _strings(raw: Any) -> list[str]:
    return [x for x in raw if isinstance(x, str)] if isinstance(raw, list) else []


def in_packet_up(
    packet: dict[str, Any], network_id: str, federation: Federation
) -> dict[str, Any] | None:
    """The federated network's InPacket for one of original ``network_id``; None when
    it is dropped (a boundary port, or a node not shown)."""
    node, port = packet.get("node"), packet.get("port")
    if not isinstance(node, str) or not isinstance(port, str):
        return None
    if (network_id, node, port) in federation.all_boundary_ports():
        return None
    name = federation.federated_node(network_id, node)
    if name is None:
        return None
    up = {k: copy.deepcopy(v) for k, v in packet.items() if k != "packet_id"}
    up["node"] = name
    header = up.get("header")
    if isinstance(header, dict) and isinstance(header.get("in_node"), str):
        mapped = federation.federated_node(network_id, header["in_node"])
        if mapped is not None:
            header["in_node"] = mapped
        else:
            header.pop("in_node", None)
            header.pop("in_port", None)
    return up


def _header_for(header: Any, network_id: str, federation: Federation) -> Any:
    if not isinstance(header, dict):
        return copy.deepcopy(header)
    down = copy.deepcopy(header)
    in_node = down.get("in_node")
    origin = federation.original_node(in_node) if isinstance(in_node, str) else None
    if origin is not None and origin[0] == network_id:
        down["in_node"] = origin[1]
    else:
        down.pop("in_node", None)
        down.pop("in_port", None)
    return down


def out_packets_down(
    packet: dict[str, Any], federation: Federation
) -> list[tuple[str, dict[str, Any]]]:
    """``(network, OutPacket)`` for each original network the federated OutPacket goes
    to; empty when its node is not one the Federator shows."""
    node = packet.get("node")
    origin = federation.original_node(node) if isinstance(node, str) else None
    if origin is None:
        return []
    network_id, node_id = origin
    base = {
        k: copy.deepcopy(v)
        for k, v in packet.items()
        if k not in ("packet_id", "node", "port", "ports", "ports-except", "header")
    }
    named = _strings(packet.get("ports"))
    if isinstance(packet.get("port"), str):
        named.append(packet["port"])
    header = packet.get("header")
    if named:
        return [
            (
                network_id,
                {
                    **base,
                    "node": node_id,
                    "ports": named,
                    "header": _header_for(header, network_id, federation),
                },
            )
        ]
    out = [
        (
            network_id,
            {
                **base,
                "node": node_id,
                "ports-except": _strings(packet.get("ports-except")),
                "header": _header_for(header, network_id, federation),
            },
        )
    ]
    boundary = federation.all_boundary_ports()
    for other in sorted(federation.originals):
        if other == network_id:
            continue
        for other_node in sorted(federation.originals[other].nodes):
            if federation.federated_node(other, other_node) is None:
                continue
            excepted = sorted(p for nw, n, p in boundary if nw == other and n == other_node)
            out.append(
                (
                    other,
                    {
                        **copy.deepcopy(base),
                        "node": other_node,
                        "ports-except": excepted,
                        "header": _header_for(header, other, federation),
                    },
                )
            )
    return out
