"""From a flow on the aggregated node to a flow in the original network, and the
aggregated flow's status from the original's.

Pure functions over JSON bodies and a
:class:`~odenos.components.aggregator.routing.TopologyMirror`; the Aggregator
does the requests.

An aggregated flow the Aggregator can carry enters the aggregated node at
named ports and leaves it by output actions, all on that one node::

    matches: [{in_node: <agg node>, in_port: <agg port A>}, ...]
    edge_actions: {<agg node>: [{type: FlowActionOutput, output: <agg port B>}, ...]}

Its original flow enters at A's original port, follows the links of a
cheapest path from A's original node to B's, and leaves by B's original port.
One flow has one path, so every ``in_port`` must be on one original node and
every output on one original node; a match without ``in_port`` (any port of
the aggregated node) has no single entrance.  What cannot be carried is
:class:`UntranslatableFlow`, whose message becomes the aggregated flow's
``reason`` attribute when the Aggregator sets it ``failed``.

``owner``, ``enabled``, ``priority`` and ``attributes`` are copied (but the
``reason`` attribute, which is the Aggregator's own); the aggregated flow's
``path`` is ignored (the aggregated network has no links inside one node).

An OFPFlow is carried as an OFPFlow: its timeouts are copied, its
OFPFlowMatches keep their OpenFlow fields (``in_node`` and ``in_port`` become
the original's), and its OpenFlow actions are kept in their order around the
outputs, at the original node the traffic leaves by.  It needs at least one
``FlowActionOutput`` (which says where the traffic leaves).
"""

from __future__ import annotations

import copy
from typing import Any

from odenos.components.aggregator.routing import TopologyMirror
from odenos.components.logic import REASON
from odenos.errors import OdenosError

#: The fields of a flow the original copy must agree on (status and version apart).
CONTENT_KEYS = (
    "type",
    "owner",
    "enabled",
    "priority",
    "matches",
    "path",
    "edge_actions",
    "attributes",
    "idle_timeout",
    "hard_timeout",
)
OUTPUT = "FlowActionOutput"
OFP_MATCH = "OFPFlowMatch"
OFP_FLOW = "OFPFlow"


class UntranslatableFlow(OdenosError):
    """The aggregated flow cannot be carried by the original network; ``reason`` says why."""

    code = "UntranslatableFlow"
    status = 400

    def __init__(self, flow_id: str, reason: str) -> None:
        super().__init__(f"flow {flow_id!r}: {reason}", flow_id=flow_id, reason=reason)
        self.reason = reason


def refers_to(flow: dict[str, Any], node_id: str) -> bool:
    """Whether an aggregated flow names the aggregated node: the flows the Aggregator
    carries (or fails).  Flows about other nodes of the aggregated network are not its
    business."""
    matches = flow.get("matches")
    if isinstance(matches, list) and any(
        isinstance(m, dict) and m.get("in_node") == node_id for m in matches
    ):
        return True
    actions = flow.get("edge_actions")
    return isinstance(actions, dict) and node_id in actions


def translate(
    flow: dict[str, Any],
    node_id: str,
    original_id: str,
    topology: TopologyMirror,
    current_path: list[str] | None = None,
) -> dict[str, Any]:
    """The original flow body (no status, no version) carrying the aggregated ``flow``.

    ``node_id`` is the aggregated node, ``original_id`` the original flow's id.
    ``current_path``, the path the original flow has now, is kept while it is
    still a usable path between the same nodes, so that a topology change
    elsewhere does not move a flow.  Raises :class:`UntranslatableFlow`.
    """
    flow_id = str(flow.get("flow_id"))

    def refuse(reason: str) -> UntranslatableFlow:
        return UntranslatableFlow(flow_id, reason)

    matches = flow.get("matches")
    if not isinstance(matches, list) or not matches:
        raise refuse("it has no matches: the Aggregator needs in_node and in_port")
    original_matches: list[dict[str, Any]] = []
    ingress: set[str] = set()
    for i, match in enumerate(matches):
        if not isinstance(match, dict) or match.get("in_node") != node_id:
            raise refuse(f"matches[{i}] does not enter the aggregated node {node_id!r}")
        in_port = match.get("in_port")
        if not isinstance(in_port, str) or not in_port:
            raise refuse(f"matches[{i}] needs an in_port of node {node_id!r}")
        port = topology.edge_port(in_port)
        if port is None:
            raise refuse(f"matches[{i}].in_port {in_port!r} is not a port of node {node_id!r}")
        ingress.add(port.node_id)
        if match.get("type") == OFP_MATCH:  # its OpenFlow fields too
            original = copy.deepcopy(match)
            original.update(in_node=port.node_id, in_port=port.port_id)
        else:
            original = {"type": "BasicFlowMatch", "in_node": port.node_id, "in_port": port.port_id}
        original_matches.append(original)

    actions = flow.get("edge_actions")
    if not isinstance(actions, dict) or not actions:
        raise refuse(f"it has no edge_actions on node {node_id!r}")
    # The aggregated network has one node, so every action is the aggregated node's,
    # whatever node id the flow lists it under (ODENOS's samples use others).
    listed: list[tuple[str, Any]] = []
    for key, node_actions in actions.items():
        if not isinstance(node_actions, list):
            raise refuse(f"edge_actions.{key} is not a list of actions")
        listed.extend((f"edge_actions.{key}[{i}]", a) for i, a in enumerate(node_actions))
    if not listed:
        raise refuse(f"edge_actions has no output action for node {node_id!r}")
    original_actions: list[dict[str, Any]] = []
    egress: set[str] = set()
    for what, action in listed:
        if not isinstance(action, dict):
            raise refuse(f"{what} is not an action")
        if action.get("type", OUTPUT) != OUTPUT:
            original_actions.append(copy.deepcopy(action))  # an OpenFlow action: as it is
            continue
        output = action.get("output")
        port = topology.edge_port(output) if isinstance(output, str) else None
        if port is None:
            raise refuse(f"{what}.output {output!r} is not a port of node {node_id!r}")
        egress.add(port.node_id)
        original_actions.append({"type": OUTPUT, "output": port.port_id})
    if not egress:
        raise refuse(f"edge_actions has no {OUTPUT}: where does the traffic leave?")

    if len(ingress) > 1 or len(egress) > 1:
        raise refuse(
            "its ports lie on several original nodes "
            f"(in: {', '.join(sorted(ingress))}; out: {', '.join(sorted(egress))}); "
            "one flow follows one path"
        )
    (src,), (dst,) = ingress, egress
    if current_path is not None and topology.path_ok(current_path, src, dst):
        path = list(current_path)
    else:
        found = topology.shortest_path(src, dst)
        if found is None:
            raise refuse(f"no path from node {src!r} to node {dst!r} in the original network")
        path = found

    attributes = flow.get("attributes")
    owner, enabled = flow.get("owner"), flow.get("enabled")
    kind = OFP_FLOW if flow.get("type") == OFP_FLOW else "BasicFlow"
    timeouts = (
        {key: flow.get(key, 0) for key in ("idle_timeout", "hard_timeout")}
        if kind == OFP_FLOW
        else {}
    )
    return {
        "type": kind,
        "flow_id": original_id,
        "owner": owner if isinstance(owner, str) else "",
        "enabled": enabled if isinstance(enabled, bool) else True,
        "priority": str(flow.get("priority", "32768")),
        "matches": original_matches,
        "path": path,
        "edge_actions": {dst: original_actions},
        "attributes": {
            k: copy.deepcopy(v)
            for k, v in (attributes if isinstance(attributes, dict) else {}).items()
            if k != REASON
        },
        **timeouts,
    }


def same_content(wanted: dict[str, Any], stored: dict[str, Any]) -> bool:
    """Whether the stored original flow already is ``wanted`` (status, version apart)."""
    for key in CONTENT_KEYS:
        a, b = wanted.get(key), stored.get(key)
        if key == "priority":
            a, b = str(a), str(b)
        if a != b:
            return False
    return True
