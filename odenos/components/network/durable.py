"""How a Network keeps itself in its durable state, and comes back from it.

Records (keys of :attr:`Network.state <odenos.components.base.Component.state>`):

==============================  ==========================================================
``node/<node_id>``              a node as ``GET`` shows it, without its ports
``port/<node_id>/<port_id>``    a port
``link/<link_id>``              a link
``flow/<flow_id>``              ``{"flow": <the flow>, "deleting": <its deletion waits>}``
``versions``                    ``{"topology": <version>, "flows": <version>}``
==============================  ==========================================================

One record per object, so a change writes only what changed.  Packet queues are
not kept: they are volatile, as a switch's buffers are.

A request's changes are turned into records all at once (:func:`records_of`)
and checked before anything is stored; if one cannot be stored (413), the
changes are undone in memory (:func:`undo`), so that the network stays what
ZooKeeper holds.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from odenos.components.network.changes import Change, ChangeKind
from odenos.components.network.flows import FlowTable
from odenos.components.network.topology import Topology
from odenos.components.state import ComponentState
from odenos.errors import OdenosError

VERSIONS = "versions"
_TOPOLOGY_KINDS = (ChangeKind.NODE, ChangeKind.PORT, ChangeKind.LINK)


def record_key(kind: str, obj: dict[str, Any]) -> str | None:
    """The record of a changed object; None for what is not kept (packets)."""
    if kind == ChangeKind.NODE:
        return f"node/{obj.get('node_id')}"
    if kind == ChangeKind.PORT:
        return f"port/{obj.get('node_id')}/{obj.get('port_id')}"
    if kind == ChangeKind.LINK:
        return f"link/{obj.get('link_id')}"
    if kind == ChangeKind.FLOW:
        return flow_key(str(obj.get("flow_id")))
    return None


def flow_key(flow_id: str) -> str:
    return f"flow/{flow_id}"


def flow_record(flows: FlowTable, flow_id: str) -> dict[str, Any] | None:
    flow = flows.flows.get(flow_id)
    if flow is None:
        return None
    return {"flow": flow.to_json(), "deleting": flows.deleting(flow_id)}


def records_of(
    changes: Iterable[Change], topology: Topology, flows: FlowTable, flows_touched: set[str]
) -> tuple[dict[str, Any], set[str]]:
    """``(puts, deletes)`` for ``changes`` (in order: a later change of an object wins)
    and for the flows whose deletion mark alone changed (``flows_touched``)."""
    puts: dict[str, Any] = {}
    deletes: set[str] = set()
    for change in changes:
        obj = change.curr if change.curr is not None else change.prev
        key = record_key(change.kind, obj or {})
        if key is None:
            continue
        if change.curr is None:
            puts.pop(key, None)
            deletes.add(key)
            continue
        deletes.discard(key)
        if change.kind == ChangeKind.NODE:
            puts[key] = {k: v for k, v in change.curr.items() if k != "ports"}
        elif change.kind == ChangeKind.FLOW:
            flows_touched.add(str(change.curr.get("flow_id")))
        else:
            puts[key] = change.curr
    for flow_id in flows_touched:
        record = flow_record(flows, flow_id)
        if record is not None:
            puts[flow_key(flow_id)] = record
            deletes.discard(flow_key(flow_id))
    if puts or deletes:
        puts[VERSIONS] = {"topology": topology.version, "flows": flows.version}
    return puts, deletes


def restore(state: ComponentState, topology: Topology, flows: FlowTable) -> list[str]:
    """Load the topology and flows from ``state``; returns what could not be loaded."""
    problems: list[str] = []
    for prefix, kind in (("node/", "Node"), ("port/", "Port"), ("link/", "Link")):
        for key, stored in state.items(prefix):
            try:
                topology.load(kind, stored)
            except OdenosError as exc:
                problems.append(f"{key}: {exc.message}")
    problems += topology.relink()
    for key, stored in state.items("flow/"):
        try:
            flows.load(stored["flow"], bool(stored.get("deleting")))
        except (OdenosError, KeyError, TypeError) as exc:
            problems.append(f"{key}: {exc}")
    versions = state.get(VERSIONS) or {}
    topology.version = int(versions.get("topology", 0))
    flows.version = int(versions.get("flows", 0))
    return problems


def undo(
    changes: list[Change],
    topology: Topology,
    flows: FlowTable,
    versions: tuple[int, int],
    deleting: set[str],
) -> None:
    """Put the models back as they were before ``changes`` (latest first), with the
    versions and pending deletions they had then."""
    for change in reversed(changes):
        if change.kind in _TOPOLOGY_KINDS:
            if change.prev is None:
                topology.unload(change.kind, change.curr or {})
            else:
                topology.load(change.kind, change.prev)
        elif change.kind == ChangeKind.FLOW:
            flow_id = str((change.prev or change.curr or {}).get("flow_id"))
            if change.prev is None:
                flows.unload(flow_id)
            else:
                flows.load(change.prev, flow_id in deleting)
    for flow_id in list(flows.flows):
        if flows.deleting(flow_id) != (flow_id in deleting):
            flows.load(flows.flows[flow_id].to_json(), flow_id in deleting)
    topology.version, flows.version = versions
