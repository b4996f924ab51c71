"""Node, Port and Link of a network topology (reference section 5) and their JSON form.

This module knows one object at a time: how to read it from a request body
(raising :class:`~odenos.errors.BadRequest` with a message that names the field
at fault, never a ``KeyError`` or ``TypeError``), how to write it back, and how
to match its attributes against a query.  The rules that tie objects together
(a link needs its ports, a port carries at most one link each way) live in
:mod:`odenos.components.network.topology`.

Versions are integers here and strings in JSON (``"1"``), as ODENOS writes them.
Parsing never reads a version into an object: the version a body carries is
the client's *expectation*, read with :func:`requested_version`, while the
stored version is assigned by the topology.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from odenos.errors import BadRequest, Conflict

DEFAULT_OPER_STATUS = "UP"
DOWN = "DOWN"


# --- field readers ----------------------------------------------------------------------------


def json_type(value: Any) -> str:
    """The JSON name of ``value``'s type, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def require_object(body: Any, what: str) -> dict[str, Any]:
    """``body`` if it is a JSON object, else :class:`BadRequest` naming ``what``."""
    if not isinstance(body, dict):
        raise BadRequest(f"{what} must be a JSON object, got {json_type(body)}")
    return body


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def check_id(value: Any, what: str) -> str:
    """``value`` if it is a usable object id.  An id is a URL path segment: a non-empty
    string without ``/`` or control characters, and not only dots (``.`` and ``..`` are
    resolved away in a path).  The OpenAPI schema ``Segment`` says the same."""
    if not isinstance(value, str) or not value:
        got = "an empty string" if value == "" else json_type(value)
        raise BadRequest(f"{what} must be a non-empty string, got {got}", field=what)
    if "/" in value:
        raise BadRequest(f"{what} {value!r} must not contain '/'", field=what)
    if _CONTROL.search(value):
        raise BadRequest(f"{what} {value!r} must not contain control characters", field=what)
    if not value.strip("."):
        raise BadRequest(f"{what} {value!r} must not be only dots", field=what)
    return value


def integer_value(raw: Any) -> int | None:
    """``raw`` as an int if it is a JSON integer (``3``, also ``3.0``: JSON does not tell
    them apart) or a string of ASCII digits; None otherwise."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float) and raw.is_integer():
        return int(raw)
    if isinstance(raw, str) and raw.isascii() and raw.isdigit():
        return int(raw)
    return None


def body_id(body: Mapping[str, Any], key: str, what: str) -> str | None:
    """The id ``body[key]`` if present and not null (checked with :func:`check_id`)."""
    value = body.get(key)
    if value is None:
        return None
    return check_id(value, f"{what} {key}")


def requested_version(body: Mapping[str, Any], what: str) -> int | None:
    """The version ``body`` expects the stored object to have, or ``None`` for "no check".

    An absent, null or empty version means no check; otherwise it must be a
    non-negative integer, as a string (ODENOS) or a number.
    """
    raw = body.get("version")
    if raw is None or raw == "":
        return None
    value = integer_value(raw)
    if value is not None and value >= 0:
        return value
    raise BadRequest(
        f'{what} version must be a non-negative integer string such as "1", got {raw!r}',
        field="version",
    )


def check_version(
    what: str, expected: int | None, stored: int | None, *, strict_create: bool = False
) -> None:
    """Optimistic concurrency: a body that names a version must name the stored one.

    ``expected`` None means no check.  A creation (``stored`` None) ignores it, as
    ODENOS does (its PUT compares versions only of an object that exists), unless
    ``strict_create``: then only 0 creates (a flow: a driver's late status update,
    which carries the version it read, must not bring back a flow deleted meanwhile).
    Raises :class:`Conflict` (409) carrying the stored and the requested version.
    """
    if expected is None or (stored is None and not strict_create):
        return
    if stored is None:
        if expected != 0:
            raise Conflict(
                f"{what} does not exist, so it is not at version {expected}",
                version=None,
                requested=str(expected),
            )
        return
    if expected != stored:
        raise Conflict(
            f"{what} is at version {stored}, not {expected}",
            version=str(stored),
            requested=str(expected),
        )


def check_type(body: Mapping[str, Any], expected: str) -> None:
    """A body's ``type``, when given, must name the object it describes."""
    value = body.get("type")
    if value is not None and value != expected:
        article = "an" if expected[:1] in "AEIOU" else "a"
        raise BadRequest(
            f"body has type {value!r} where {article} {expected} is expected",
            type=expected,
            field="type",
        )


#: The attributes ODENOS gives an object when its body has none of them (besides
#: ``oper_status``, "UP" for all); a port's ``physical_id`` is ``<port_id>@<node_id>``.
NODE_DEFAULTS: Mapping[str, str] = {"vendor": "unknown"}
PORT_DEFAULTS: Mapping[str, str] = {"vendor": "unknown", "is_boundary": "false"}
LINK_DEFAULTS: Mapping[str, str] = {"cost": "1"}


def port_defaults(node_id: str, port_id: str) -> dict[str, str]:
    return {**PORT_DEFAULTS, "physical_id": f"{port_id}@{node_id}"}


def parse_attributes(
    raw: Any, what: str, defaults: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """A copy of an ``attributes`` object with its defaults filled in (``oper_status``
    and ``defaults``, where absent or null).

    Unknown keys are kept as they are.  ``physical_id``, when set, must be a
    string because objects are addressed by it in URLs.
    """
    if raw is None:
        return with_defaults({}, defaults)
    attributes = copy.deepcopy(require_object(raw, f"{what} attributes"))
    check_string_attributes(attributes, what)
    return with_defaults(attributes, defaults)


STRING_ATTRIBUTES = ("oper_status", "vendor")


def check_string_attributes(attributes: Mapping[str, Any], what: str) -> None:
    """The attributes ODENOS defines as strings are strings (or null) when present;
    ``physical_id`` is an id, since objects are addressed by it in URLs."""
    for key in STRING_ATTRIBUTES:
        value = attributes.get(key)
        if value is not None and not isinstance(value, str):
            raise BadRequest(
                f"{what} attributes.{key} must be a string, got {json_type(value)}",
                field=f"attributes.{key}",
            )
    physical_id = attributes.get("physical_id")
    if physical_id is not None:
        check_id(physical_id, f"{what} attributes.physical_id")


def with_defaults(
    attributes: dict[str, Any], defaults: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """``attributes`` with ``oper_status`` ``"UP"`` and each of ``defaults`` where absent
    or null (in place)."""
    for key, value in {"oper_status": DEFAULT_OPER_STATUS, **(defaults or {})}.items():
        if attributes.get(key) is None:
            attributes[key] = value
    return attributes


def physical_id_of(attributes: Mapping[str, Any]) -> str | None:
    """The object's ``physical_id``, or ``None`` when it has none (absent, null or empty)."""
    value = attributes.get("physical_id")
    return value if isinstance(value, str) and value else None


# --- attribute queries ------------------------------------------------------------------------


_QUERY_PAIR = r"""[^,=]*[^,= \t"'][^,=]*=[^,]*"""
ATTRIBUTE_QUERY = re.compile(rf"(?:{_QUERY_PAIR}(?:,{_QUERY_PAIR})*)?")
"""``k=v[,k=v...]``: every pair has a ``=`` and a key with something other than blanks
and quotes (the OpenAPI schema's ``AttributesQuery`` pattern is this one)."""


def parse_attribute_query(raw: str) -> dict[str, str]:
    """Parse the ``attributes`` query parameter: ``k=v[,k=v...]``, optionally quoted.

    Blanks and quotes around a pair, a key or a value are dropped, so
    ``"oper_status=UP"``, ``oper_status=UP,vendor=x`` and ``"a=1","b=2"`` all parse.
    """
    if not ATTRIBUTE_QUERY.fullmatch(raw):
        raise BadRequest(
            f"attributes query {raw!r} is not of the form key=value[,key=value...]",
            query=raw,
        )
    query: dict[str, str] = {}
    for pair in raw.split(","):
        key, _, value = pair.partition("=")
        query[key.strip(_WRAPPING)] = value.strip(_WRAPPING)
    return query


_WRAPPING = " \t\"'"


def attributes_match(attributes: Mapping[str, Any], query: Mapping[str, str]) -> bool:
    """Whether every ``key=value`` of ``query`` holds in ``attributes``, compared as text.

    Non-string attribute values are compared in their JSON spelling
    (``true``, ``100``), which is how a client writes them in a URL.
    """
    for key, expected in query.items():
        if key not in attributes or _as_text(attributes[key]) != expected:
            return False
    return True


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


# --- the objects ------------------------------------------------------------------------------


@dataclass
class Port:
    """A port of a node.  ``out_link``/``in_link`` are owned by the topology:
    they name the link leaving/entering this port and are never read from a body."""

    port_id: str
    node_id: str
    attributes: dict[str, Any] = field(default_factory=lambda: with_defaults({}))
    version: int = 0
    out_link: str | None = None
    in_link: str | None = None

    @property
    def physical_id(self) -> str | None:
        return physical_id_of(self.attributes)

    @property
    def links(self) -> list[str]:
        """The ids of the links this port carries."""
        return [link for link in (self.out_link, self.in_link) if link is not None]

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "Port",
            "version": str(self.version),
            "port_id": self.port_id,
            "node_id": self.node_id,
            "out_link": self.out_link,
            "in_link": self.in_link,
            "attributes": copy.deepcopy(self.attributes),
        }

    @classmethod
    def from_json(cls, body: Any, node_id: str, port_id: str) -> Port:
        """Read a Port body for the port ``port_id`` of node ``node_id``.

        The body's ``node_id`` and ``port_id``, when present, must equal them
        (:class:`BadRequest` otherwise).  ``out_link``, ``in_link`` and
        ``version`` are not read; the result has version 0 and no links.
        """
        obj = require_object(body, "a Port")
        check_type(obj, "Port")
        requested_version(obj, f"port {port_id!r}")
        given_port = body_id(obj, "port_id", "port")
        if given_port is not None and given_port != port_id:
            raise BadRequest(
                f"body port_id {given_port!r} does not match port {port_id!r}",
                port_id=port_id,
            )
        given_node = body_id(obj, "node_id", "port")
        if given_node is not None and given_node != node_id:
            raise BadRequest(
                f"port {port_id!r} belongs to node {node_id!r}, but its body says "
                f"node_id {given_node!r}",
                node_id=node_id,
                port_id=port_id,
            )
        attributes = parse_attributes(
            obj.get("attributes"), f"port {port_id!r}", port_defaults(node_id, port_id)
        )
        return cls(port_id, node_id, attributes)

    def same_content(self, other: Port) -> bool:
        """Equal apart from the version."""
        return (self.out_link, self.in_link, self.attributes) == (
            other.out_link,
            other.in_link,
            other.attributes,
        )


@dataclass
class Node:
    """A node and its ports (``ports`` maps port_id to the port)."""

    node_id: str
    attributes: dict[str, Any] = field(default_factory=lambda: with_defaults({}))
    ports: dict[str, Port] = field(default_factory=dict)
    version: int = 0

    @property
    def physical_id(self) -> str | None:
        return physical_id_of(self.attributes)

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "Node",
            "version": str(self.version),
            "node_id": self.node_id,
            "ports": {port_id: port.to_json() for port_id, port in self.ports.items()},
            "attributes": copy.deepcopy(self.attributes),
        }

    @classmethod
    def from_json(cls, body: Any, node_id: str) -> Node:
        """Read a Node body for the node ``node_id``, with the ports it lists.

        The body's ``node_id``, when present, must equal ``node_id``
        (:class:`BadRequest` otherwise).  The result and its ports have version 0.
        """
        obj = require_object(body, "a Node")
        check_type(obj, "Node")
        requested_version(obj, f"node {node_id!r}")
        given = body_id(obj, "node_id", "node")
        if given is not None and given != node_id:
            raise BadRequest(
                f"body node_id {given!r} does not match node {node_id!r}", node_id=node_id
            )
        raw_ports = obj.get("ports")
        ports: dict[str, Port] = {}
        if raw_ports is not None:
            for port_id, port_body in require_object(raw_ports, f"node {node_id!r} ports").items():
                check_id(port_id, f"node {node_id!r} port id")
                ports[port_id] = Port.from_json(port_body, node_id, port_id)
        attributes = parse_attributes(obj.get("attributes"), f"node {node_id!r}", NODE_DEFAULTS)
        return cls(node_id, attributes, ports)


@dataclass
class Link:
    """A directed link from ``src_node``/``src_port`` to ``dst_node``/``dst_port``."""

    link_id: str
    src_node: str
    src_port: str
    dst_node: str
    dst_port: str
    attributes: dict[str, Any] = field(default_factory=lambda: with_defaults({}))
    version: int = 0

    ENDS: ClassVar[tuple[str, ...]] = ("src_node", "src_port", "dst_node", "dst_port")

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "Link",
            "version": str(self.version),
            "link_id": self.link_id,
            "src_node": self.src_node,
            "src_port": self.src_port,
            "dst_node": self.dst_node,
            "dst_port": self.dst_port,
            "attributes": copy.deepcopy(self.attributes),
        }

    @classmethod
    def from_json(cls, body: Any, link_id: str) -> Link:
        """Read a Link body for the link ``link_id``.

        ``src_node``, ``src_port``, ``dst_node`` and ``dst_port`` are required
        ids; the body's ``link_id``, when present, must equal ``link_id``.
        Whether the ends exist is the topology's business.
        """
        obj = require_object(body, "a Link")
        check_type(obj, "Link")
        requested_version(obj, f"link {link_id!r}")
        given = body_id(obj, "link_id", "link")
        if given is not None and given != link_id:
            raise BadRequest(
                f"body link_id {given!r} does not match link {link_id!r}", link_id=link_id
            )
        ends: dict[str, str] = {}
        for key in cls.ENDS:
            if obj.get(key) is None:
                raise BadRequest(f"link {link_id!r} needs {key}", link_id=link_id, field=key)
            ends[key] = check_id(obj[key], f"link {key}")
        return cls(
            link_id,
            src_node=ends["src_node"],
            src_port=ends["src_port"],
            dst_node=ends["dst_node"],
            dst_port=ends["dst_port"],
            attributes=parse_attributes(obj.get("attributes"), f"link {link_id!r}", LINK_DEFAULTS),
        )

    def same_content(self, other: Link) -> bool:
        """Equal apart from the version."""
        return self.ends() == other.ends() and self.attributes == other.attributes

    def ends(self) -> tuple[str, str, str, str]:
        return (self.src_node, self.src_port, self.dst_node, self.dst_port)
