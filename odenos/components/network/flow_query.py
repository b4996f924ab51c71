"""The filters of ``GET flows?...``, as ODENOS's flow queries have them.

Reference: ``docs/reference/odenos-openflow.md`` section 5.  Every parameter
given must hold (and); a parameter this module does not know is ignored, as
ODENOS ignored it.  ODENOS's keys:

* ``type=BasicFlow|OFPFlow``: that type only.  ODENOS required ``type`` in every
  query; here a query without it selects flows of both types (an extension).
* ``enabled=true|false``, ``status=<status>``.
* ``attributes=k=v[,k=v...]``: every pair equal, compared as text.
* ``idle_timeout=<n>``, ``hard_timeout=<n>``: equal (a BasicFlow has neither).
* ``match=type=<BasicFlowMatch|OFPFlowMatch>,<key>=<value>...``: **every** match
  of the flow satisfies it (a flow without matches does, as in ODENOS).  A
  BasicFlowMatch query takes ``in_node`` and ``in_port`` and looks at matches of
  either type; an OFPFlowMatch query takes the OpenFlow fields too, and only an
  OFPFlowMatch with each field present and equal satisfies it.
* ``path=link_id=<id>`` (the path has that link), ``path=node_id=<id>``, or
  ``path=node_id=<id>,port_id=<id>`` (a link of the path starts or ends there).
* ``actions=type=<action type>[,edge_node=<node>][,<param>=<value>...]``:
  every action of that type (at ``edge_node``, which the flow must have
  actions at, or at any node) has the parameters given (a flow with no action
  of that type does).  ``FlowActionOutput`` (also ``BasicFlowActionOutput``)
  takes ``output``; the sixteen OpenFlow types take their parameters, those
  with one requiring it; a SetField query takes the OpenFlow fields to set.

Values are text (quotes around them dropped); a malformed or unknown value, an
integer that is not decimal, a key a sub-query does not take: 400 naming the
parameter (ODENOS's "Query is invalid.", but saying what).  ODENOS's bugs are
not kept: a PopVlan query matches PopVlan actions, and a SetField query on
``arp_tpa`` compares ``arp_tpa``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from odenos.components.network.basic_flow import (
    MATCH_TYPE,
    OUTPUT_ACTION_TYPE,
    BasicFlow,
    BasicFlowMatch,
    FlowActionOutput,
)
from odenos.components.network.flow_status import FlowStatus, parse_status
from odenos.components.network.objects import Link, attributes_match, parse_attribute_query
from odenos.components.network.ofp_flow import (
    ACTIONS,
    EXPERIMENTER,
    FLOW_TYPES,
    SET_FIELD,
    OFPFlow,
    OFPFlowAction,
)
from odenos.components.network.ofp_match import KEYS, OFP_MATCH_TYPE, OFPFlowMatch
from odenos.errors import BadRequest

_QUOTES = " \t\"'"


def parse_pairs(raw: str, what: str) -> dict[str, str]:
    """``k=v[,k=v...]`` (quotes and blanks around each part dropped) as a dict."""
    pairs: dict[str, str] = {}
    for item in raw.replace('"', "").split(","):
        key, sep, value = item.partition("=")
        key, value = key.strip(_QUOTES), value.strip(_QUOTES)
        if not sep or not key or "=" in value:
            raise BadRequest(f"query {what}={raw!r} must be key=value[,key=value...]", field=what)
        pairs[key] = value
    return pairs


def parse_decimal(raw: str, what: str) -> int:
    """A non-negative decimal integer, double quotes anywhere dropped (the OpenAPI
    schema ``DecimalQuery`` says the same)."""
    text = raw.replace('"', "")
    if not (text.isascii() and text.isdigit()):
        raise BadRequest(f"query {what}={raw!r} must be a decimal integer", field=what)
    return int(text)


def _field_value(key: str, raw: str, what: str) -> int | str:
    """A query's value for OpenFlow field ``key``: an int for integer fields."""
    return raw if KEYS[key] is str else parse_decimal(raw, f"{what}.{key}")


class MatchQuery:
    """``match=...``: what every match of a flow must satisfy."""

    def __init__(self, ofp: bool, values: Mapping[str, int | str]) -> None:
        self.ofp = ofp
        self.values = dict(values)

    @classmethod
    def parse(cls, raw: str) -> MatchQuery:
        pairs = parse_pairs(raw, "match")
        kind = pairs.pop("type", None)
        if kind not in (MATCH_TYPE, OFP_MATCH_TYPE):
            raise BadRequest(
                f"query match={raw!r} needs type={MATCH_TYPE} or type={OFP_MATCH_TYPE}",
                field="match",
            )
        ofp = kind == OFP_MATCH_TYPE
        values: dict[str, int | str] = {}
        for key, value in pairs.items():
            if key in ("in_node", "in_port"):
                values[key] = value
            elif ofp and key in KEYS:
                values[key] = _field_value(key, value, "match")
            else:
                raise BadRequest(
                    f"query match: a {kind} query has no key {key!r}", field=f"match.{key}"
                )
        return cls(ofp, values)

    def satisfied_by(self, match: BasicFlowMatch | OFPFlowMatch) -> bool:
        if self.ofp and not isinstance(match, OFPFlowMatch):
            return False
        for key, value in self.values.items():
            if key in ("in_node", "in_port"):
                got: Any = getattr(match, key)
            else:
                assert isinstance(match, OFPFlowMatch)
                got = match.fields.get(key)
            if got != value:
                return False
        return True


class PathQuery:
    """``path=...``: a link of the flow's path, or a node (and port) a link of it touches."""

    def __init__(self, pairs: Mapping[str, str]) -> None:
        self.link_id = pairs.get("link_id")
        self.node_id = pairs.get("node_id")
        self.port_id = pairs.get("port_id")

    @classmethod
    def parse(cls, raw: str) -> PathQuery:
        pairs = parse_pairs(raw, "path")
        if set(pairs) not in ({"link_id"}, {"node_id"}, {"node_id", "port_id"}):
            raise BadRequest(
                f"query path={raw!r} must be link_id=<id>, node_id=<id> or "
                "node_id=<id>,port_id=<id>",
                field="path",
            )
        return cls(pairs)

    def satisfied_by(self, flow: BasicFlow, links: Mapping[str, Link]) -> bool:
        if self.link_id is not None:
            return self.link_id in flow.path
        for link_id in flow.path:
            link = links.get(link_id)
            if link is None:
                continue
            for node, port in ((link.src_node, link.src_port), (link.dst_node, link.dst_port)):
                if node == self.node_id and self.port_id in (None, port):
                    return True
        return False


class ActionQuery:
    """``actions=...``: what every action of one type (at one node) must have."""

    def __init__(self, kind: str, edge_node: str | None, values: Mapping[str, Any]) -> None:
        self.kind = kind
        self.edge_node = edge_node
        self.values = dict(values)

    @classmethod
    def parse(cls, raw: str) -> ActionQuery:
        pairs = parse_pairs(raw, "actions")
        kind = pairs.pop("type", None)
        if kind == "BasicFlowActionOutput":
            kind = OUTPUT_ACTION_TYPE
        if kind != OUTPUT_ACTION_TYPE and kind not in ACTIONS:
            raise BadRequest(
                f"query actions={raw!r} needs the type of an action "
                f"({OUTPUT_ACTION_TYPE}, {', '.join(ACTIONS)})",
                field="actions",
            )
        edge_node = pairs.pop("edge_node", None)
        values: dict[str, Any] = {}
        if kind == OUTPUT_ACTION_TYPE:
            allowed: set[str] = {"output"}
        elif kind == SET_FIELD:
            allowed = {"in_port", *KEYS}
        elif kind == EXPERIMENTER:
            allowed = {"experimenter_id", "body"}
        else:
            allowed = set(ACTIONS[kind])
            missing = sorted(allowed - set(pairs))
            if missing:
                raise BadRequest(
                    f"query actions: a {kind} query needs {missing[0]}",
                    field=f"actions.{missing[0]}",
                )
        for key, value in pairs.items():
            if key not in allowed:
                raise BadRequest(
                    f"query actions: a {kind} query has no key {key!r}",
                    field=f"actions.{key}",
                )
            if kind == SET_FIELD and key in KEYS:
                values[key] = _field_value(key, value, "actions")
            elif key in ("output", "in_port", "body"):
                values[key] = value
            else:
                values[key] = parse_decimal(value, f"actions.{key}")
        return cls(kind, edge_node, values)

    def satisfied_by(self, flow: BasicFlow) -> bool:
        if self.edge_node is not None:
            if self.edge_node not in flow.edge_actions:
                return False
            lists = [flow.edge_actions[self.edge_node]]
        else:
            lists = list(flow.edge_actions.values())
        return all(
            self._action_ok(action)
            for actions in lists
            for action in actions
            if _action_type(action) == self.kind
        )

    def _action_ok(self, action: FlowActionOutput | OFPFlowAction) -> bool:
        if isinstance(action, FlowActionOutput):
            return bool(self.values.get("output", action.output) == action.output)
        if self.kind == SET_FIELD:
            match = action.params["match"]
            return all(
                (match.in_port if key == "in_port" else match.fields.get(key)) == value
                for key, value in self.values.items()
            )
        if (
            self.kind == EXPERIMENTER
            and "body" not in self.values
            and action.params.get("body") is not None
        ):
            return False
        return all(action.params.get(key) == value for key, value in self.values.items())


def _action_type(action: Any) -> str:
    return OUTPUT_ACTION_TYPE if isinstance(action, FlowActionOutput) else str(action.type)


class FlowQuery:
    """The filters of ``GET flows`` (see the module docstring).

    Built from the query parameters (:meth:`from_query`, 400 on a malformed
    value).  ``links`` is the network's topology, which ``path=node_id=`` needs.
    """

    def __init__(
        self,
        flow_type: str | None = None,
        enabled: bool | None = None,
        status: FlowStatus | None = None,
        attributes: Mapping[str, str] | None = None,
        timeouts: Mapping[str, int] | None = None,
        match: MatchQuery | None = None,
        path: PathQuery | None = None,
        actions: ActionQuery | None = None,
        links: Mapping[str, Link] | None = None,
    ) -> None:
        self.flow_type = flow_type
        self.enabled = enabled
        self.status = status
        self.attributes = dict(attributes or {})
        self.timeouts = dict(timeouts or {})
        self.match = match
        self.path = path
        self.actions = actions
        self.links: Mapping[str, Link] = links if links is not None else {}

    @classmethod
    def from_query(
        cls, query: Mapping[str, str], links: Mapping[str, Link] | None = None
    ) -> FlowQuery:
        flow_type = query.get("type")
        if flow_type is not None:
            flow_type = flow_type.strip(_QUOTES)
            if flow_type not in FLOW_TYPES:
                raise BadRequest(
                    f"query type={flow_type!r} must be {' or '.join(FLOW_TYPES)}", field="type"
                )
        enabled: bool | None = None
        raw_enabled = query.get("enabled")
        if raw_enabled is not None:
            text = raw_enabled.strip(_QUOTES).lower()
            if text not in ("true", "false"):
                raise BadRequest(
                    f"query enabled={raw_enabled!r} must be true or false", field="enabled"
                )
            enabled = text == "true"
        raw_status = query.get("status")
        status = None if raw_status is None else parse_status(raw_status.strip(_QUOTES))
        raw_attributes = query.get("attributes")
        timeouts = {
            key: parse_decimal(query[key], key)
            for key in ("idle_timeout", "hard_timeout")
            if key in query
        }
        return cls(
            flow_type=flow_type,
            enabled=enabled,
            status=status,
            attributes=parse_attribute_query(raw_attributes) if raw_attributes else None,
            timeouts=timeouts,
            match=MatchQuery.parse(query["match"]) if "match" in query else None,
            path=PathQuery.parse(query["path"]) if "path" in query else None,
            actions=ActionQuery.parse(query["actions"]) if "actions" in query else None,
            links=links,
        )

    def matches(self, flow: BasicFlow) -> bool:
        if self.flow_type is not None and self.flow_type != flow.TYPE:
            return False
        if self.enabled is not None and flow.enabled != self.enabled:
            return False
        if self.status is not None and flow.status != self.status:
            return False
        if not attributes_match(flow.attributes, self.attributes):
            return False
        for key, value in self.timeouts.items():
            if not isinstance(flow, OFPFlow) or getattr(flow, key) != value:
                return False
        if self.match is not None and not all(self.match.satisfied_by(m) for m in flow.matches):
            return False
        if self.path is not None and not self.path.satisfied_by(flow, self.links):
            return False
        return self.actions is None or self.actions.satisfied_by(flow)
