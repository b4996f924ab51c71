"""From a federated flow to its segment flows in the original networks, and the
federated flow's status from theirs.

Pure functions over JSON bodies and a :class:`~.model.Federation`.

A federated flow enters at its matches' ``in_node`` (all in one original
network), follows its ``path`` (federated link ids) and leaves by its
``edge_actions``.  Its path is cut at each boundary link:

* the links of an original network go, under their original ids, into the
  current segment's path;
* a boundary link closes the current segment, which then leaves by the
  boundary's near port (``output``), and starts the next one in the far
  port's network, whose matches are the flow's matches with ``in_node``/
  ``in_port`` set to the far port (the other OpenFlow fields kept);
* the last segment takes the federated edge actions, mapped to the original
  nodes (ports keep their ids; OpenFlow actions kept in their order).

A flow with an empty path is one segment when its entry and exit lie in one
original network.  Segment ``k`` is ``<federator_id>_<flow_id>_<k>`` (see
:mod:`.naming`).  ``owner``, ``enabled``, ``priority``, ``attributes`` (but the
Federator's ``reason``) and an OFPFlow's timeouts are copied to every segment.
What cannot be carried raises :class:`UntranslatableFlow`.
"""

from __future__ import annotations

import copy
from typing import Any

from odenos.components.aggregator.translation import (
    OFP_FLOW,
    OFP_MATCH,
    OUTPUT,
    UntranslatableFlow,
)
from odenos.components.federator.model import Federation, boundary_ports
from odenos.components.federator.naming import segment_id
from odenos.components.logic import REASON
from odenos.components.network.flow_status import FlowStatus

NONE, ESTABLISHING, ESTABLISHED, TEARDOWN, FAILED = (s.value for s in FlowStatus)
#: Segment flows per federated flow, at most.  Every segment's change makes the
#: Federator read all the flow's segments again, so a path looping across a boundary a
#: thousand times (one PUT) kept its manager busy for minutes and every object it hosts
#: unanswered; no real path crosses networks this often.
MAX_SEGMENTS = 64
_DONE = frozenset({ESTABLISHING, ESTABLISHED})


def _match_at(match: dict[str, Any], node_id: str, port_id: str | None) -> dict[str, Any]:
    out = copy.deepcopy(match) if match.get("type") == OFP_MATCH else {"type": "BasicFlowMatch"}
    out["in_node"] = node_id
    if port_id is not None:
        out["in_port"] = port_id
    else:
        out.pop("in_port", None)
    return out


def split_flow(
    flow: dict[str, Any], federator_id: str, federation: Federation
) -> dict[str, tuple[str, dict[str, Any]]]:
    """The segment flows (``segment id -> (network, body)``, no status or version)
    carrying federated ``flow``.  Raises :class:`UntranslatableFlow`."""
    flow_id = str(flow.get("flow_id"))

    def refuse(reason: str) -> UntranslatableFlow:
        return UntranslatableFlow(flow_id, reason)

    matches = flow.get("matches")
    if not isinstance(matches, list) or not matches:
        raise refuse("it has no matches: the Federator needs in_node")
    entry: list[tuple[dict[str, Any], str, str | None]] = []
    networks: set[str] = set()
    for i, match in enumerate(matches):
        if not isinstance(match, dict):
            raise refuse(f"matches[{i}] is not a match")
        in_node, in_port = match.get("in_node"), match.get("in_port")
        origin = federation.original_node(in_node) if isinstance(in_node, str) else None
        if origin is None:
            raise refuse(f"matches[{i}].in_node {in_node!r} is no node of the federated network")
        if in_port is not None and (not isinstance(in_port, str) or not in_port):
            raise refuse(f"matches[{i}].in_port {in_port!r} is not a port id")
        networks.add(origin[0])
        entry.append((match, origin[1], in_port))
    if len(networks) > 1:
        raise refuse(f"its matches enter several original networks ({', '.join(sorted(networks))})")
    (current,) = networks
    current_matches = [_match_at(m, node, port) for m, node, port in entry]

    path = flow.get("path")
    if path is None:
        path = []
    if not isinstance(path, list):
        raise refuse("its path is not a list of link ids")
    federation.federated()
    segments: list[tuple[str, list[dict[str, Any]], list[str], dict[str, list[Any]]]] = []
    stretch: list[str] = []
    for i, link_id in enumerate(path):
        if not isinstance(link_id, str):
            raise refuse(f"path[{i}] is not a link id")
        if link_id in federation.link_owner:
            network_id, original_link = federation.link_owner[link_id]
            if network_id != current:
                raise refuse(
                    f"path[{i}] {link_id!r} is in {network_id!r}, but the flow is in "
                    f"{current!r} there"
                )
            stretch.append(original_link)
            continue
        if link_id not in federation.boundary_link_owner:
            raise refuse(f"path[{i}] {link_id!r} is no link of the federated network")
        boundary_id, which = federation.boundary_link_owner[link_id]
        near, far = boundary_ports(federation.boundaries[boundary_id])
        if which == "2":
            near, far = far, near
        if near[0] != current:
            raise refuse(
                f"path[{i}] {link_id!r} leaves {near[0]!r}, but the flow is in {current!r} there"
            )
        if len(segments) + 1 >= MAX_SEGMENTS:
            raise refuse(
                f"path[{i}] {link_id!r} would make segment {MAX_SEGMENTS}: a flow is carried "
                f"by at most {MAX_SEGMENTS} segment flows"
            )
        segments.append(
            (
                current,
                current_matches,
                stretch,
                {near[1]: [{"type": OUTPUT, "output": near[2]}]},
            )
        )
        current, stretch = far[0], []
        current_matches = [_match_at(m, far[1], far[2]) for m, _, _ in entry]

    actions = flow.get("edge_actions")
    if not isinstance(actions, dict) or not actions:
        raise refuse("it has no edge_actions")
    last_actions: dict[str, list[Any]] = {}
    outputs = 0
    for key, node_actions in actions.items():
        origin = federation.original_node(key)
        if origin is None:
            raise refuse(f"edge_actions names {key!r}, no node of the federated network")
        if origin[0] != current:
            raise refuse(
                f"edge_actions at {key!r} are in {origin[0]!r}, but the path ends in {current!r}"
            )
        if not isinstance(node_actions, list):
            raise refuse(f"edge_actions.{key} is not a list of actions")
        mapped = last_actions.setdefault(origin[1], [])
        for j, action in enumerate(node_actions):
            if not isinstance(action, dict):
                raise refuse(f"edge_actions.{key}[{j}] is not an action")
            if action.get("type", OUTPUT) == OUTPUT:
                output = action.get("output")
                if not isinstance(output, str) or not output:
                    raise refuse(f"edge_actions.{key}[{j}].output {output!r} is not a port id")
                outputs += 1
            mapped.append(copy.deepcopy(action))
    if not outputs:
        raise refuse(f"edge_actions has no {OUTPUT}: where does the traffic leave?")
    segments.append((current, current_matches, stretch, last_actions))

    kind = OFP_FLOW if flow.get("type") == OFP_FLOW else "BasicFlow"
    owner, enabled = flow.get("owner"), flow.get("enabled")
    attributes = flow.get("attributes")
    common: dict[str, Any] = {
        "type": kind,
        "owner": owner if isinstance(owner, str) else "",
        "enabled": enabled if isinstance(enabled, bool) else True,
        "priority": str(flow.get("priority", "32768")),
        "attributes": {
            k: v for k, v in (attributes if isinstance(attributes, dict) else {}).items()
        },
    }
    common["attributes"].pop(REASON, None)
    if kind == OFP_FLOW:
        common.update({key: flow.get(key, 0) for key in ("idle_timeout", "hard_timeout")})
    out: dict[str, tuple[str, dict[str, Any]]] = {}
    for index, (network_id, seg_matches, seg_path, seg_actions) in enumerate(segments):
        ident = segment_id(federator_id, flow_id, index)
        body = {
            **copy.deepcopy(common),
            "flow_id": ident,
            "matches": seg_matches,
            "path": seg_path,
            "edge_actions": seg_actions,
        }
        out[ident] = (network_id, body)
    return out


def target_status(current: str, segments: list[str]) -> str:
    """The status the federated flow (now ``current``) should take, from its segments'
    (``none`` for one not made yet).

    ``failed`` as soon as one is; ``established`` when all are; ``none`` when all are;
    between: ``teardown`` while an installed flow comes down, ``establishing`` while a
    flow at rest goes up; otherwise it stays (an established flow being re-split stays
    established while its new segments come up)."""
    if not segments:
        return current
    if FAILED in segments:
        return FAILED
    if all(s == ESTABLISHED for s in segments):
        return ESTABLISHED
    if all(s == NONE for s in segments):
        return NONE
    if TEARDOWN in segments and current in (ESTABLISHED, TEARDOWN):
        return TEARDOWN
    if any(s in _DONE for s in segments) and current in (NONE, ESTABLISHING):
        return ESTABLISHING
    return current
