"""The LinkLayerizer's rules, as pure functions over JSON bodies: boundaries, the link a
lower flow makes, the mirror of an upper topology object, the upper flow of a layerized flow.

The component (:mod:`.component`) does the requests; these decide what to write.

* **Boundaries** (:func:`parse_boundary`): a ``LinkLayerizerBoundary`` pairs a port of
  the lower network with a port of the upper network.
* **Lower flow to layerized link** (:func:`link_of`, :func:`link_body`): a lower flow
  entering at one boundary's lower port (``matches[0]``'s ``in_node``/``in_port``) and
  leaving by another's (the ``FlowActionOutput`` of its ``edge_actions``) becomes the
  link ``<src boundary>_<dst boundary>`` between the two boundaries' upper ports, while
  it is enabled and ``establishing``, ``established`` or ``failed`` (ODENOS's
  ``LinkLayerizerOnFlow``).  Its attributes: ``cost`` 1, the flow's ``latency``,
  ``req_latency``, ``req_bandwidth``; its ``bandwidth`` as ``max_bandwidth`` and
  ``unreserved_bandwidth``; its other attributes as they are; ``establishment_status``
  the flow's status and ``oper_status`` UP when established, DOWN otherwise.
* **Upper topology to layerized** (:func:`mirror`): the same object without its
  version and link references (the layerized network keeps its own).
* **Layerized flow to upper flow** (:func:`upper_flow`): the same flow (same id, node
  and port ids: the layerized topology is the upper one), whose ``path`` names the
  upper network's links: a layerized link the upper network lacks (a link made from a
  lower flow while ``upper_link_sync`` is off) is replaced by the upper link with the
  same ends, as ODENOS's ``flowAddedLayerizedNwExistPath`` does.
"""

from __future__ import annotations

import copy
from typing import Any

from odenos.components.aggregator.translation import UntranslatableFlow
from odenos.components.logic import REASON
from odenos.components.network.objects import check_id as check_object_id
from odenos.errors import BadRequest

BOUNDARY_TYPE = "LinkLayerizer"
BOUNDARY_KEYS = (
    "lower_nw",
    "lower_nw_node",
    "lower_nw_port",
    "upper_nw",
    "upper_nw_node",
    "upper_nw_port",
)
#: The longest id (boundary, network, node, port) accepted in a boundary.
MAX_ID = 256
OUTPUT = "FlowActionOutput"
#: Lower flow statuses that make a layerized link (ODENOS ignores none, teardown, failed
#: for a new link but keeps and marks DOWN the link of a flow that failed).
LINK_STATUSES = ("establishing", "established", "failed")
UP, DOWN = "UP", "DOWN"


def check_id(value: Any, what: str) -> str:
    """``value`` as an id: a non-empty string of at most :data:`MAX_ID` characters
    without ``/`` or control characters, and not only dots (a Network's object id
    rule: these ids go into request paths, where ``..`` would name another object and
    be refused, which would stall every boundary after it); else :class:`BadRequest`."""
    if not isinstance(value, str) or not value or len(value) > MAX_ID or "/" in value:
        raise BadRequest(
            f"{what} must be a non-empty string of at most {MAX_ID} characters without '/', "
            f"not {value!r}",
            field=what,
        )
    return check_object_id(value, what)


def parse_boundary(body: Any, boundary_id: str) -> dict[str, str]:
    """The stored form of a LinkLayerizerBoundary body, under ``boundary_id`` (the
    body's ``id``, if any, is overridden as ODENOS does).  Raises :class:`BadRequest`
    for anything but an object with the six ids and, if given, ``type``
    ``"LinkLayerizer"``.  Other keys are ignored (not stored)."""
    check_id(boundary_id, "id")
    if not isinstance(body, dict):
        raise BadRequest("a LinkLayerizerBoundary is a JSON object")
    kind = body.get("type", BOUNDARY_TYPE)
    if kind != BOUNDARY_TYPE:
        raise BadRequest(f"type must be {BOUNDARY_TYPE!r}, not {kind!r}", field="type")
    given = body.get("id")
    if given is not None and not isinstance(given, str):
        raise BadRequest(f"id must be a string, not {given!r}", field="id")
    boundary = {"id": boundary_id, "type": BOUNDARY_TYPE}
    missing = [key for key in BOUNDARY_KEYS if key not in body]
    if missing:
        raise BadRequest(f"a LinkLayerizerBoundary needs {', '.join(missing)}", missing=missing)
    for key in BOUNDARY_KEYS:
        boundary[key] = check_id(body[key], key)
    if boundary["lower_nw"] == boundary["upper_nw"]:
        raise BadRequest("lower_nw and upper_nw must be different networks")
    return boundary


def boundary_clash(boundary: dict[str, str], boundaries: dict[str, dict[str, str]]) -> str | None:
    """The id of another boundary using the same lower or upper port, or None."""
    for other in boundaries.values():
        if other["id"] == boundary["id"]:
            continue
        for side in ("lower", "upper"):
            keys = (f"{side}_nw", f"{side}_nw_node", f"{side}_nw_port")
            if all(other[k] == boundary[k] for k in keys):
                return other["id"]
    return None


def boundary_at(
    boundaries: dict[str, dict[str, str]], side: str, network: str, node: Any, port: Any
) -> dict[str, str] | None:
    """The boundary whose ``side`` (``lower``/``upper``) port is network/node/port."""
    for boundary in sorted(boundaries.values(), key=lambda b: b["id"]):
        if (
            boundary[f"{side}_nw"] == network
            and boundary[f"{side}_nw_node"] == node
            and boundary[f"{side}_nw_port"] == port
        ):
            return boundary
    return None


def link_id(src_boundary: str, dst_boundary: str) -> str:
    return f"{src_boundary}_{dst_boundary}"


def _ends(flow: dict[str, Any]) -> tuple[tuple[Any, Any], tuple[Any, Any]] | None:
    """(in node, in port) of ``matches[0]`` and (node, port) of the first output action."""
    matches = flow.get("matches")
    if not isinstance(matches, list) or not matches or not isinstance(matches[0], dict):
        return None
    entry = (matches[0].get("in_node"), matches[0].get("in_port"))
    actions = flow.get("edge_actions")
    if not isinstance(actions, dict):
        return None
    for node_id, node_actions in actions.items():
        for action in node_actions if isinstance(node_actions, list) else []:
            if isinstance(action, dict) and action.get("type", OUTPUT) == OUTPUT:
                return entry, (node_id, action.get("output"))
    return None


def link_of(
    flow: Any, boundaries: dict[str, dict[str, str]], lower: str
) -> tuple[str, dict[str, str], dict[str, str]] | None:
    """(link id, src boundary, dst boundary) of a lower flow of network ``lower`` that
    makes a layerized link now, or None (not between two boundaries, disabled, or at a
    status that carries nothing)."""
    if not isinstance(flow, dict) or flow.get("enabled", True) is not True:
        return None
    if flow.get("status") not in LINK_STATUSES:
        return None
    ends = _ends(flow)
    if ends is None:
        return None
    (in_node, in_port), (out_node, out_port) = ends
    src = boundary_at(boundaries, "lower", lower, in_node, in_port)
    dst = boundary_at(boundaries, "lower", lower, out_node, out_port)
    if src is None or dst is None or src is dst:
        return None
    return link_id(src["id"], dst["id"]), src, dst


def link_body(
    ident: str, src: dict[str, str], dst: dict[str, str], flow: dict[str, Any]
) -> dict[str, Any]:
    """The layerized link ``ident`` made from lower ``flow`` (see the module docstring)."""
    attributes: dict[str, Any] = {"cost": "1"}
    raw = flow.get("attributes")
    for key, value in (raw if isinstance(raw, dict) else {}).items():
        if key == REASON:
            continue
        if key == "bandwidth":
            attributes["max_bandwidth"] = value
            attributes["unreserved_bandwidth"] = value
        else:
            attributes[key] = copy.deepcopy(value)
    status = str(flow.get("status"))
    attributes["establishment_status"] = status
    attributes["oper_status"] = UP if status == "established" else DOWN
    return {
        "type": "Link",
        "link_id": ident,
        "src_node": src["upper_nw_node"],
        "src_port": src["upper_nw_port"],
        "dst_node": dst["upper_nw_node"],
        "dst_port": dst["upper_nw_port"],
        "attributes": attributes,
    }


def best_flow(flows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Of the lower flows making one link, the one whose state the link shows: an
    established one first, then an establishing one, then by flow id."""
    rank = {"established": 0, "establishing": 1, "failed": 2}
    usable = [f for f in flows if f.get("status") in rank]
    if not usable:
        return None
    return min(usable, key=lambda f: (rank[str(f.get("status"))], str(f.get("flow_id"))))


def mirror(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    """The layerized copy of an upper node, port or link (``kind``): its ids and
    attributes (the network assigns versions and keeps its own link references)."""
    keys = {
        "Node": ("node_id",),
        "Port": ("node_id", "port_id"),
        "Link": ("link_id", "src_node", "src_port", "dst_node", "dst_port"),
    }[kind]
    body: dict[str, Any] = {"type": kind}
    for key in keys:
        body[key] = obj.get(key)
    attributes = obj.get("attributes")
    body["attributes"] = copy.deepcopy(attributes) if isinstance(attributes, dict) else {}
    return body


def same_object(wanted: dict[str, Any], stored: Any) -> bool:
    """Whether a stored topology object already is ``wanted`` (version apart)."""
    if not isinstance(stored, dict):
        return False
    return all(stored.get(k) == v for k, v in wanted.items() if k != "type")


def _link_ends(link: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(link.get(k) for k in ("src_node", "src_port", "dst_node", "dst_port"))


def upper_flow(
    flow: dict[str, Any],
    layerized_links: dict[str, Any],
    upper_links: dict[str, Any],
    made_links: set[str],
) -> dict[str, Any]:
    """The upper network's flow (no status, no version) carrying layerized ``flow``.

    ``layerized_links``/``upper_links`` are the two networks' links by id;
    ``made_links`` the layerized links the LinkLayerizer made from lower flows.
    Raises :class:`UntranslatableFlow` when a link of the path has no upper
    counterpart, or is made from a lower flow that failed.
    """
    flow_id = str(flow.get("flow_id"))
    path = flow.get("path", [])
    if not isinstance(path, list) or not all(isinstance(x, str) for x in path):
        raise UntranslatableFlow(flow_id, "its path is not a list of link ids")
    upper_path: list[str] = []
    for ident in path:
        layer = layerized_links.get(ident)
        if ident in made_links and isinstance(layer, dict):
            attributes = layer.get("attributes")
            if isinstance(attributes, dict) and attributes.get("establishment_status") == "failed":
                raise UntranslatableFlow(
                    flow_id, f"link {ident!r} is down: the lower flow making it failed"
                )
        if ident in upper_links:
            upper_path.append(ident)
            continue
        if not isinstance(layer, dict):
            raise UntranslatableFlow(flow_id, f"link {ident!r} is in neither network")
        ends = _link_ends(layer)
        match = sorted(
            k for k, v in upper_links.items() if isinstance(v, dict) and _link_ends(v) == ends
        )
        if not match:
            raise UntranslatableFlow(
                flow_id, f"the upper network has no link with the ends of link {ident!r}"
            )
        upper_path.append(match[0])
    body = {
        k: copy.deepcopy(v)
        for k, v in flow.items()
        if k not in ("status", "version", "path", "attributes")
    }
    attributes = flow.get("attributes")
    body["attributes"] = {
        k: copy.deepcopy(v)
        for k, v in (attributes if isinstance(attributes, dict) else {}).items()
        if k != REASON
    }
    body["path"] = upper_path
    return body
