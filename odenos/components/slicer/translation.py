"""From a sliver's flow to its original flow, and which sliver a packet belongs to.

Pure functions over JSON bodies and slice conditions; the Slicer does the
requests.  Every sliver shows the original network's topology with the same
ids, so nothing is mapped: a flow is carried **as it is** (BasicFlow or
OFPFlow, every match field, every action in its order, path, timeouts,
attributes), under the name :mod:`~.naming` gives it.

**Within the slice.**  A sliver's flow is carried when *every* one of its
matches falls within a condition of that sliver's connection (ODENOS asked
only one of them, so that a flow could take traffic of another slice by its
other matches):

* a match with ``in_node`` and ``in_port`` falls within a condition with the
  same ``in_node`` whose ``in_port`` is the same or absent;
* a match with no ``in_port`` takes the traffic of *every* port of
  ``in_node``: only a condition with no ``in_port`` (the whole node) covers
  it;
* a match with no ``in_node`` (an OpenFlow match on the whole network), and a
  flow with no matches at all, is within no slice.

And its traffic must *leave* within the slice too: every ``FlowActionOutput``
of its ``edge_actions`` names a port of the slice (a condition's port, or any
port of a node a condition takes whole).  ODENOS looked only at where traffic
enters, so a slice's flow could deliver into another slice's hosts.

**Packets.**  An InPacket of the original network belongs to the connection of
the first condition (highest priority first) covering where it came in: its
``header``'s ``in_node``/``in_port``, or the packet's ``node``/``port`` when
the header has no ``in_node``.  An OutPacket of a sliver goes down only when
its header's ``in_node``/``in_port`` fall within a condition of that sliver's
own connection (ODENOS accepted a condition of any sliver), and only by the
slice's ports of its node: the ports it names outside the slice are left out,
and a flood (``ports-except``) becomes the list of the slice's ports there but
the excepted ones (ODENOS flooded every port, into the other slices' hosts).
"""

from __future__ import annotations

import copy
from typing import Any

from odenos.components.logic import REASON
from odenos.components.slicer.conditions import ConditionTable, SliceCondition

OUTPUT = "FlowActionOutput"
#: The keys of a flow that are the network's, not the flow's content.
_NOT_CONTENT = ("flow_id", "status", "version")


def _where(match: dict[str, Any]) -> tuple[str | None, str | None]:
    in_node, in_port = match.get("in_node"), match.get("in_port")
    return (
        in_node if isinstance(in_node, str) and in_node else None,
        in_port if isinstance(in_port, str) and in_port else None,
    )


def slice_problem(
    flow: dict[str, Any], conditions: list[SliceCondition], connection: str
) -> str | None:
    """Why ``flow`` is not within the slice ``conditions`` (those of sliver connection
    ``connection``) give; None when it is.  The text becomes the flow's ``reason``."""
    matches = flow.get("matches")
    if not isinstance(matches, list) or not matches:
        return "it has no matches: a sliver's flow must say where its traffic enters (in_node)"
    if not conditions:
        return f"connection {connection!r} has no slice condition: its slice is empty"
    # What SliceCondition.covers says, indexed: a flow's matches are the client's (no
    # limit on their number), and asking each of up to 4096 conditions for each match
    # held the manager's loop for seconds.
    whole_nodes = {c.in_node for c in conditions if c.in_port is None}
    ports = {(c.in_node, c.in_port) for c in conditions if c.in_port is not None}
    problem = _outputs_problem(flow, whole_nodes, ports, connection)
    for i, match in enumerate(matches):
        if not isinstance(match, dict):
            return f"matches[{i}] is not a match"
        in_node, in_port = _where(match)
        if in_node is None:
            return f"matches[{i}] has no in_node: it would take traffic of the whole network"
        if in_node not in whole_nodes and (in_node, in_port) not in ports:
            at = f"port {in_port!r} of node {in_node!r}" if in_port else f"any port of {in_node!r}"
            return (
                f"matches[{i}] ({at}) is outside the slice of connection {connection!r}: "
                "no slice condition of that connection covers it"
            )
    return problem


def _outputs_problem(
    flow: dict[str, Any],
    whole_nodes: set[str],
    ports: set[tuple[str, str]],
    connection: str,
) -> str | None:
    """Why the flow's outputs leave the slice; None when they do not."""
    actions = flow.get("edge_actions")
    for node_id, node_actions in (actions if isinstance(actions, dict) else {}).items():
        for i, action in enumerate(node_actions if isinstance(node_actions, list) else []):
            if not isinstance(action, dict) or action.get("type", OUTPUT) != OUTPUT:
                continue
            output = action.get("output")
            if node_id in whole_nodes or (node_id, str(output)) in ports:
                continue
            return (
                f"edge_actions.{node_id}[{i}] outputs to port {output!r} of node {node_id!r}, "
                f"outside the slice of connection {connection!r}"
            )
    return None


def original_body(flow: dict[str, Any], original_id: str) -> dict[str, Any]:
    """The original flow's body (no status, no version) carrying the sliver's ``flow``:
    the same flow under ``original_id``, without the Slicer's ``reason`` attribute."""
    body = {k: copy.deepcopy(v) for k, v in flow.items() if k not in _NOT_CONTENT}
    attributes = body.get("attributes")
    body["attributes"] = {
        k: v for k, v in (attributes if isinstance(attributes, dict) else {}).items() if k != REASON
    }
    body["flow_id"] = original_id
    return body


def packet_without_id(packet: dict[str, Any]) -> dict[str, Any]:
    """The packet to post elsewhere: the same, without its ``packet_id`` (the network
    gives a new one)."""
    return {k: copy.deepcopy(v) for k, v in packet.items() if k != "packet_id"}


def in_packet_connection(packet: dict[str, Any], table: ConditionTable) -> str | None:
    """The connection of the sliver an InPacket of the original network goes to; None
    when no condition covers it (it is dropped)."""
    header = packet.get("header")
    in_node, in_port = _where(header) if isinstance(header, dict) else (None, None)
    if in_node is None:
        in_node, in_port = _where({"in_node": packet.get("node"), "in_port": packet.get("port")})
    found = table.first_match(in_node, in_port)
    return None if found is None else found.connection


def out_packet_down(
    packet: dict[str, Any], table: ConditionTable, connection: str
) -> dict[str, Any] | None:
    """The OutPacket to queue in the original network for one of the sliver of
    ``connection``; None when it may not go (its header outside that connection's
    conditions, or no port of the slice left to send it by)."""
    header = packet.get("header")
    if not isinstance(header, dict):
        return None
    in_node, in_port = _where(header)
    conditions = table.of_connection(connection)
    if not any(c.covers(in_node, in_port) for c in conditions):
        return None
    down = packet_without_id(packet)
    node = packet.get("node")
    here = [c for c in conditions if c.in_node == node]
    if any(c.in_port is None for c in here):
        return down  # the slice takes the whole node: every port of it is the slice's
    slice_ports = list(dict.fromkeys(str(c.in_port) for c in here))
    named = _strings(packet.get("ports"))
    if named:
        kept = [p for p in named if p in slice_ports]
    else:  # a flood: the slice's ports of the node, but the excepted ones
        excepted = set(_strings(packet.get("ports-except")))
        kept = [p for p in slice_ports if p not in excepted]
    if not kept:
        return None
    down["ports"], down["ports-except"] = kept, []
    return down


def _strings(raw: Any) -> list[str]:
    return [x for x in raw if isinstance(x, str)] if isinstance(raw, list) else []
