r"""BasicFlow and its parts (reference section 5), read from and written to JSON.

One flow at a time, like :mod:`~odenos.components.network.objects` for the
topology: parsing raises :class:`~odenos.errors.BadRequest` naming the field at
fault (``matches[0].in_node``, ``edge_actions.n1[2].output``); the rules that
involve the stored flows (versions, status transitions) live in
:mod:`~odenos.components.network.flows`.

Shapes only: the nodes, ports and links a flow names are *not* looked up in
the topology.  ODENOS accepted flows independently of the topology, and this
keeps it so: a logic component may push a flow before the driver has reported
the ports it uses, and a port that goes away must not make the flows through
it unreadable or undeletable.  Whether a flow can be installed is the
driver's call, which it reports with the ``failed`` status.

Match and action objects are read strictly: a key they do not know (say an
``eth_type`` in a BasicFlowMatch) is a 400, because ignoring it would turn a
narrow match into one that matches everything.

Priority is an integer 0..65535 here and a string in JSON (``"32768"``), as
ODENOS writes it; a body may give it as either.

A flow's matches may be BasicFlowMatches or OFPFlowMatches (as in ODENOS,
either type in either flow); its actions are ``FlowActionOutput``\ s only, the
OpenFlow actions belonging to an ``OFPFlow``
(:mod:`~odenos.components.network.ofp_flow`, which extends this class).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from odenos.components.network.flow_status import FlowStatus, parse_status
from odenos.components.network.objects import (
    body_id,
    check_id,
    check_type,
    integer_value,
    json_type,
    requested_version,
    require_object,
)
from odenos.components.network.ofp_match import OFP_MATCH_TYPE, OFPFlowMatch
from odenos.errors import BadRequest

FLOW_TYPE = "BasicFlow"
MATCH_TYPE = "BasicFlowMatch"
OUTPUT_ACTION_TYPE = "FlowActionOutput"
DEFAULT_PRIORITY = 32768
#: A flow's owner when the body names none (ODENOS's default).
DEFAULT_OWNER = "unknown"
MAX_PRIORITY = 65535


def _require_list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise BadRequest(f"{what} must be a JSON array, got {json_type(value)}", field=what)
    return value


def _reject_unknown_keys(obj: Mapping[str, Any], known: frozenset[str], what: str) -> None:
    unknown = sorted(set(obj) - known)
    if unknown:
        raise BadRequest(
            f"{what} has no field {unknown[0]!r} (it has {', '.join(sorted(known))})",
            field=f"{what}.{unknown[0]}",
        )


def _check_typed(obj: Mapping[str, Any], expected: str, what: str) -> None:
    value = obj.get("type")
    if value is not None and value != expected:
        raise BadRequest(
            f"{what}.type {value!r} is not supported: only {expected}", field=f"{what}.type"
        )


@dataclass(frozen=True)
class BasicFlowMatch:
    """Traffic entering ``in_node`` (at ``in_port``, or at any port when ``None``)."""

    in_node: str
    in_port: str | None = None

    KEYS = frozenset({"type", "in_node", "in_port"})

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"type": MATCH_TYPE, "in_node": self.in_node}
        if self.in_port is not None:
            body["in_port"] = self.in_port
        return body

    @classmethod
    def from_json(cls, raw: Any, what: str) -> BasicFlowMatch:
        """Read a match; ``what`` names it in errors (``"matches[0]"``, ``"header"``)."""
        obj = require_object(raw, what)
        _check_typed(obj, MATCH_TYPE, what)
        _reject_unknown_keys(obj, cls.KEYS, what)
        if obj.get("in_node") is None:
            raise BadRequest(f"{what} needs in_node", field=f"{what}.in_node")
        in_node = check_id(obj["in_node"], f"{what}.in_node")
        in_port = obj.get("in_port")
        return cls(in_node, None if in_port is None else check_id(in_port, f"{what}.in_port"))


FlowMatch = BasicFlowMatch | OFPFlowMatch


def parse_match(raw: Any, what: str, *, need_node: bool = True) -> FlowMatch:
    """A BasicFlowMatch or an OFPFlowMatch, by its ``type`` (absent: basic).
    ``need_node=False``: an OFPFlowMatch may leave ``in_node`` out (a packet header)."""
    if isinstance(raw, dict) and raw.get("type") == OFP_MATCH_TYPE:
        return OFPFlowMatch.from_json(raw, what, need_node=need_node)
    if isinstance(raw, dict) and raw.get("type") not in (None, MATCH_TYPE):
        raise BadRequest(
            f"{what}.type {raw.get('type')!r} is not a match type ({MATCH_TYPE}, {OFP_MATCH_TYPE})",
            field=f"{what}.type",
        )
    return BasicFlowMatch.from_json(raw, what)


@dataclass(frozen=True)
class FlowActionOutput:
    """Send the traffic out of port ``output`` of the node the action is listed under."""

    output: str

    KEYS = frozenset({"type", "output"})

    def to_json(self) -> dict[str, Any]:
        return {"type": OUTPUT_ACTION_TYPE, "output": self.output}

    @classmethod
    def from_json(cls, raw: Any, what: str) -> FlowActionOutput:
        obj = require_object(raw, what)
        _check_typed(obj, OUTPUT_ACTION_TYPE, what)
        _reject_unknown_keys(obj, cls.KEYS, what)
        if obj.get("output") is None:
            raise BadRequest(f"{what} needs output", field=f"{what}.output")
        return cls(check_id(obj["output"], f"{what}.output"))


def parse_priority(raw: Any) -> int:
    """A priority 0..65535, from a number or a digit string; absent or null is the default."""
    if raw is None or raw == "":
        return DEFAULT_PRIORITY
    value = integer_value(raw)
    if value is None or not 0 <= value <= MAX_PRIORITY:
        raise BadRequest(
            f"flow priority must be an integer from 0 to {MAX_PRIORITY}, got {raw!r}",
            field="priority",
        )
    return value


def requested_status(body: Mapping[str, Any]) -> FlowStatus | None:
    """The status a flow body asks for, or ``None`` when it names none (keep the status)."""
    raw = body.get("status")
    return None if raw is None or raw == "" else parse_status(raw)


@dataclass
class BasicFlow:
    """A flow: traffic matching ``matches`` follows ``path`` and leaves by ``edge_actions``.

    ``version`` and ``status`` belong to the flow table: parsing never reads
    them into the object (see :func:`requested_version`, :func:`requested_status`).
    """

    flow_id: str
    owner: str = DEFAULT_OWNER
    enabled: bool = True
    priority: int = DEFAULT_PRIORITY
    matches: list[FlowMatch] = field(default_factory=list)
    path: list[str] = field(default_factory=list)
    edge_actions: dict[str, list[Any]] = field(default_factory=dict)
    attributes: dict[str, Any] = field(default_factory=dict)
    status: FlowStatus = FlowStatus.NONE
    version: int = 0

    TYPE: ClassVar[str] = FLOW_TYPE

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.TYPE,
            "version": str(self.version),
            "flow_id": self.flow_id,
            "owner": self.owner,
            "enabled": self.enabled,
            "priority": str(self.priority),
            "status": self.status.value,
            "matches": [match.to_json() for match in self.matches],
            "path": list(self.path),
            "edge_actions": {
                node_id: [action.to_json() for action in actions]
                for node_id, actions in self.edge_actions.items()
            },
            "attributes": copy.deepcopy(self.attributes),
        }

    def same_content(self, other: BasicFlow) -> bool:
        """Equal apart from the version."""
        return self.to_json() | {"version": ""} == other.to_json() | {"version": ""}

    @classmethod
    def from_json(cls, body: Any, flow_id: str) -> BasicFlow:
        """Read a BasicFlow body for the flow ``flow_id`` (status ``none``, version 0).

        The body's ``flow_id``, when present, must equal ``flow_id``; its
        ``version`` and ``status`` are checked for form only.  Keys a BasicFlow
        does not have are ignored, as for the topology objects.
        """
        obj = require_object(body, f"a {cls.TYPE}")
        check_type(obj, cls.TYPE)
        return cls(flow_id, **cls._fields_from_json(obj, flow_id))

    @classmethod
    def _fields_from_json(cls, obj: Mapping[str, Any], flow_id: str) -> dict[str, Any]:
        """The constructor's keyword arguments but ``flow_id``, read from ``obj``."""
        requested_version(obj, f"flow {flow_id!r}")
        requested_status(obj)
        given = body_id(obj, "flow_id", "flow")
        if given is not None and given != flow_id:
            raise BadRequest(
                f"body flow_id {given!r} does not match flow {flow_id!r}", flow_id=flow_id
            )
        owner = obj.get("owner")
        if owner is not None and not isinstance(owner, str):
            raise BadRequest(f"flow owner must be a string, got {json_type(owner)}", field="owner")
        enabled = obj.get("enabled")
        if enabled is not None and not isinstance(enabled, bool):
            raise BadRequest(
                f"flow enabled must be true or false, got {json_type(enabled)}", field="enabled"
            )
        attributes = obj.get("attributes")
        return {
            "owner": DEFAULT_OWNER if owner is None else owner,
            "enabled": True if enabled is None else enabled,
            "priority": parse_priority(obj.get("priority")),
            "matches": _parse_matches(obj.get("matches")),
            "path": _parse_path(obj.get("path")),
            "edge_actions": _parse_edge_actions(obj.get("edge_actions"), cls.action_from_json),
            "attributes": parse_flow_attributes(attributes, f"flow {flow_id!r}"),
        }

    @classmethod
    def action_from_json(cls, raw: Any, what: str) -> Any:
        """One of this flow type's edge actions (a BasicFlow has only outputs)."""
        if isinstance(raw, dict) and str(raw.get("type", "")).startswith("OFPFlowAction"):
            raise BadRequest(
                f"{what} is an OpenFlow action ({raw['type']}): it needs an OFPFlow, and a "
                f"{cls.TYPE} has only {OUTPUT_ACTION_TYPE}",
                field=f"{what}.type",
            )
        return FlowActionOutput.from_json(raw, what)


def parse_flow_attributes(raw: Any, what: str) -> dict[str, Any]:
    """A copy of an ``attributes`` object (absent or null is empty); values are free."""
    if raw is None:
        return {}
    return copy.deepcopy(require_object(raw, f"{what} attributes"))


def _parse_matches(raw: Any) -> list[FlowMatch]:
    if raw is None:
        return []
    items = _require_list(raw, "matches")
    return [parse_match(item, f"matches[{i}]") for i, item in enumerate(items)]


def _parse_path(raw: Any) -> list[str]:
    if raw is None:
        return []
    items = _require_list(raw, "path")
    return [check_id(item, f"path[{i}]") for i, item in enumerate(items)]


def _parse_edge_actions(raw: Any, parse: Callable[[Any, str], Any]) -> dict[str, list[Any]]:
    if raw is None:
        return {}
    actions: dict[str, list[Any]] = {}
    for node_id, node_actions in require_object(raw, "edge_actions").items():
        check_id(node_id, "edge_actions node id")
        where = f"edge_actions.{node_id}"
        items = _require_list(node_actions, where)
        actions[node_id] = [parse(item, f"{where}[{i}]") for i, item in enumerate(items)]
    return actions
