"""OFPFlow and the OpenFlow actions, in ODENOS's JSON names.

Reference: ``docs/reference/odenos-openflow.md`` sections 1 and 3.  An
``OFPFlow`` is a :class:`~odenos.components.network.basic_flow.BasicFlow` with
``idle_timeout`` and ``hard_timeout`` (seconds, 0 = none, always written) whose
``edge_actions`` may hold, besides ``FlowActionOutput`` (the output action of
both flow types: there is no ``OFPFlowActionOutput``), the sixteen
``OFPFlowAction*`` types below, kept in the order given: set-field before output
is not output before set-field (ODENOS moved every output first; not here).

Each action is read strictly: a missing or null parameter, a parameter of the
wrong JSON type or outside what OpenFlow carries, an unknown key or an unknown
action type is a 400 naming the field (ODENOS dropped unknown actions without a
word, so a flow lost what it was asked to do).  The ethertypes of PushVlan
(0x8100, 0x88a8) and PushMpls (0x8847, 0x8848) are checked as ODENOS checked
them; PopMpls takes any ethertype (OpenFlow's is the payload's, typically
0x0800, which ODENOS refused).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from odenos.components.network.basic_flow import (
    OUTPUT_ACTION_TYPE,
    BasicFlow,
    FlowActionOutput,
)
from odenos.components.network.objects import json_type, require_object
from odenos.components.network.ofp_match import OFPFlowMatch, check_integer
from odenos.errors import BadRequest

OFP_FLOW_TYPE = "OFPFlow"
#: An OpenFlow timeout is 16 bits of seconds.
MAX_TIMEOUT = 0xFFFF

_U8, _U16, _U32 = 0xFF, 0xFFFF, 0xFFFF_FFFF
ETH_VLAN = frozenset({0x8100, 0x88A8})
ETH_MPLS = frozenset({0x8847, 0x8848})
ETH_PBB = 0x88E7

#: Each OpenFlow action type and its parameters: the largest integer it takes, or the
#: set of values it may have.  SetField (a match) and Experimenter are apart.
ACTIONS: dict[str, dict[str, int | frozenset[int]]] = {
    "OFPFlowActionCopyTtlOut": {},
    "OFPFlowActionCopyTtlIn": {},
    "OFPFlowActionSetMplsTtl": {"mpls_ttl": _U8},
    "OFPFlowActionDecMplsTtl": {},
    "OFPFlowActionPushVlan": {"eth_type": ETH_VLAN},
    "OFPFlowActionPopVlan": {},
    "OFPFlowActionPushMpls": {"eth_type": ETH_MPLS},
    "OFPFlowActionPopMpls": {"eth_type": _U16},
    "OFPFlowActionSetQueue": {"queue_id": _U32},
    "OFPFlowActionGroupAction": {"group_id": _U32},
    "OFPFlowActionSetIpTtl": {"ip_ttl": _U8},
    "OFPFlowActionDecIpTtl": {},
    "OFPFlowActionSetField": {},  # "match": an OFPFlowMatch of the fields to set
    "OFPFlowActionPushPbb": {"eth_type": _U16},  # null: 0x88e7, as ODENOS
    "OFPFlowActionPopPbb": {},
    "OFPFlowActionExperimenter": {"experimenter_id": _U32},  # and "body", a string or null
}
SET_FIELD = "OFPFlowActionSetField"
EXPERIMENTER = "OFPFlowActionExperimenter"
PUSH_PBB = "OFPFlowActionPushPbb"
#: Every action type an OFPFlow takes.
ACTION_TYPES = (OUTPUT_ACTION_TYPE, *ACTIONS)


def _integer(raw: Any, allowed: int | frozenset[int], what: str) -> int:
    if isinstance(allowed, int):
        return check_integer(raw, allowed, what)
    value = check_integer(raw, max(allowed), what)
    if value not in allowed:
        names = ", ".join(f"{v} (0x{v:04x})" for v in sorted(allowed))
        raise BadRequest(f"{what} must be one of {names}, got {raw}", field=what)
    return value


@dataclass(frozen=True)
class OFPFlowAction:
    """One OpenFlow action: its ``type`` and parameters, as JSON values, but a SetField's
    ``match``, which is an :class:`OFPFlowMatch`."""

    type: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"type": self.type}
        for key, value in self.params.items():
            body[key] = value.to_json() if isinstance(value, OFPFlowMatch) else value
        return body

    def __hash__(self) -> int:
        return hash((self.type, tuple(self.params)))

    @classmethod
    def from_json(cls, obj: Mapping[str, Any], what: str) -> OFPFlowAction:
        kind = str(obj["type"])
        spec = ACTIONS[kind]
        known = {"type", *spec}
        if kind == SET_FIELD:
            known.add("match")
        elif kind == EXPERIMENTER:
            known.add("body")
        unknown = sorted(set(obj) - known)
        if unknown:
            has = ", ".join(sorted(known - {"type"})) or "no parameter"
            raise BadRequest(
                f"{what} ({kind}) has no field {unknown[0]!r} (it has {has})",
                field=f"{what}.{unknown[0]}",
            )
        params: dict[str, Any] = {}
        for key, allowed in spec.items():
            raw = obj.get(key)
            if raw is None and kind == PUSH_PBB:
                raw = ETH_PBB
            if raw is None:
                raise BadRequest(f"{what} ({kind}) needs {key}", field=f"{what}.{key}")
            params[key] = _integer(raw, allowed, f"{what}.{key}")
        if kind == SET_FIELD:
            if obj.get("match") is None:
                raise BadRequest(
                    f"{what} ({kind}) needs match, an OFPFlowMatch of the fields to set",
                    field=f"{what}.match",
                )
            match = OFPFlowMatch.from_json(obj["match"], f"{what}.match", need_node=False)
            if not match.fields and match.in_port is None:
                raise BadRequest(
                    f"{what}.match sets no field: give the fields to set",
                    field=f"{what}.match",
                )
            params["match"] = match
        elif kind == EXPERIMENTER and obj.get("body") is not None:
            if not isinstance(obj["body"], str):
                raise BadRequest(
                    f"{what}.body must be a string, got {json_type(obj['body'])}",
                    field=f"{what}.body",
                )
            params["body"] = obj["body"]
        return cls(kind, params)


FlowAction = FlowActionOutput | OFPFlowAction


@dataclass
class OFPFlow(BasicFlow):
    """A BasicFlow with OpenFlow's timeouts, whose actions may be OpenFlow actions."""

    idle_timeout: int = 0
    hard_timeout: int = 0

    TYPE: ClassVar[str] = OFP_FLOW_TYPE

    def to_json(self) -> dict[str, Any]:
        return {
            **super().to_json(),
            "idle_timeout": self.idle_timeout,
            "hard_timeout": self.hard_timeout,
        }

    @classmethod
    def _fields_from_json(cls, obj: Mapping[str, Any], flow_id: str) -> dict[str, Any]:
        fields = super()._fields_from_json(obj, flow_id)
        for key in ("idle_timeout", "hard_timeout"):
            raw = obj.get(key)
            fields[key] = 0 if raw is None else _integer(raw, MAX_TIMEOUT, key)
        return fields

    @classmethod
    def action_from_json(cls, raw: Any, what: str) -> FlowAction:
        obj = require_object(raw, what)
        kind = obj.get("type")
        if kind is None or kind == OUTPUT_ACTION_TYPE:
            return FlowActionOutput.from_json(obj, what)
        if not isinstance(kind, str) or kind not in ACTIONS:
            raise BadRequest(
                f"{what}.type {kind!r} is not an action of an OFPFlow "
                f"(it takes {', '.join(ACTION_TYPES)})",
                field=f"{what}.type",
            )
        return OFPFlowAction.from_json(obj, what)


#: The flow types by their JSON ``type``.
FLOW_TYPES: dict[str, type[BasicFlow]] = {BasicFlow.TYPE: BasicFlow, OFPFlow.TYPE: OFPFlow}


def flow_class(body: Any) -> type[BasicFlow]:
    """The class a flow body's ``type`` names (absent: BasicFlow); 400 for another type."""
    kind = body.get("type") if isinstance(body, dict) else None
    if kind is None:
        return BasicFlow
    cls = FLOW_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise BadRequest(
            f"body has type {kind!r} where a flow ({', '.join(FLOW_TYPES)}) is expected",
            field="type",
        )
    return cls


def parse_flow(body: Any, flow_id: str) -> BasicFlow:
    """A BasicFlow or an OFPFlow, by the body's ``type``."""
    return flow_class(body).from_json(body, flow_id)
