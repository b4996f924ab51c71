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

Only where traffic *enters* decides, as in ODENOS: a flow may send its
traffic out by any port (the sliver is the original's topology).

**Packets.**  An InPacket of the original network belongs to the connection of
the first condition (highest priority first) covering where it came in: its
``header``'s ``in_node``/``in_port``, or the packet's ``node``/``port`` when
the header has no ``in_node``.  An OutPacket of a sliver goes down only when
its header's ``in_node``/``in_port`` fall within a condition of that sliver's
own connection (ODENOS accepted a condition of any sliver).
"""

from __future__ import annotations

import copy
from typing import Any

from odenos.components.aggregator.translation import REASON
from odenos.components.slicer.conditions import ConditionTable, SliceCondition

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


def out_packet_allowed(packet: dict[str, Any], table: ConditionTable, connection: str) -> bool:
    """Whether an OutPacket of the sliver of ``connection`` may go to the original
    network: its header lies within one of that connection's conditions."""
    header = packet.get("header")
    if not isinstance(header, dict):
        return False
    in_node, in_port = _where(header)
    return any(c.covers(in_node, in_port) for c in table.of_connection(connection))
