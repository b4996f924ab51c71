"""The Federator's picture: boundaries, the original networks' topologies, and the
federated topology they make.

Pure (no I/O).  The Federator fills :class:`Federation` from ``GET topology`` of
each original network and keeps it current with what it reads after each
topology event; :meth:`Federation.federated` then says what the federated
network should hold (nodes, ports, links, boundary links), and the maps answer
which original object a federated name stands for.  JSON from another process
is checked here: a malformed object is skipped and named in the problems
returned, never a ``KeyError``.

Names (see :mod:`.naming`) go through a real map: when two original objects
would take one federated name, the first by ``(network, id)`` gets it and the
other is skipped (reported in :attr:`Federation.collisions`).  A boundary link
whose name an original link already took is skipped likewise.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from odenos.components.federator.naming import (
    boundary_link_ids,
    federated_link_id,
    federated_node_id,
)
from odenos.components.network.objects import check_id as check_object_id
from odenos.errors import BadRequest
from odenos.model.ids import check_id as check_network_id

BOUNDARY_TYPE = "Federator"
BOUNDARY_KEYS = ("network1", "node1", "port1", "network2", "node2", "port2")
MAX_NAME_LENGTH = 256
IS_BOUNDARY = "is_boundary"
PHYSICAL_ID = "physical_id"


# --- boundaries ------------------------------------------------------------------------------


def parse_boundary(body: Any, boundary_id: str) -> dict[str, str]:
    """A FederatorBoundary (``DataClass.md``) checked in full, with ``id`` set to
    ``boundary_id``.  Raises :class:`BadRequest`."""
    if not isinstance(body, dict):
        raise BadRequest("a FederatorBoundary is a JSON object")
    unknown = sorted(str(k) for k in body if k not in ("id", "type", *BOUNDARY_KEYS))
    if unknown:
        raise BadRequest(f"a FederatorBoundary has no {', '.join(unknown)}", fields=unknown)
    given = body.get("id")
    if given is not None and given != boundary_id:
        raise BadRequest(f"the boundary's id {given!r} is not {boundary_id!r}", field="id")
    kind = body.get("type", BOUNDARY_TYPE)
    if kind != BOUNDARY_TYPE:
        raise BadRequest(f"a boundary's type is {BOUNDARY_TYPE!r}, not {kind!r}", field="type")
    out = {"id": boundary_id, "type": BOUNDARY_TYPE}
    for key in BOUNDARY_KEYS:
        value = body.get(key)
        if value is None:
            raise BadRequest(f"a FederatorBoundary needs {key}", field=key)
        if key.startswith("network"):
            out[key] = check_network_id(value, key)
        else:
            out[key] = check_object_id(value, key)
            if len(value) > MAX_NAME_LENGTH:
                raise BadRequest(f"{key} is longer than {MAX_NAME_LENGTH}", field=key)
    if out["network1"] == out["network2"]:
        raise BadRequest("a boundary joins two different networks", field="network2")
    return out


def boundary_ports(boundary: dict[str, str]) -> tuple[tuple[str, str, str], tuple[str, str, str]]:
    return (
        (boundary["network1"], boundary["node1"], boundary["port1"]),
        (boundary["network2"], boundary["node2"], boundary["port2"]),
    )


# --- the originals ---------------------------------------------------------------------------


@dataclass
class Original:
    """One original network's topology, as read: nodes and ports by id, links by id
    (each as its JSON, checked for the keys used)."""

    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    ports: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    links: dict[str, dict[str, Any]] = field(default_factory=dict)


def _text(obj: Any, key: str) -> str | None:
    value = obj.get(key) if isinstance(obj, dict) else None
    return value if isinstance(value, str) and value else None


def _attributes(obj: dict[str, Any]) -> dict[str, Any]:
    raw = obj.get("attributes")
    return copy.deepcopy(raw) if isinstance(raw, dict) else {}


@dataclass(frozen=True)
class Picture:
    """What the federated network should hold: nodes (attributes), ports
    (``(node, port)`` -> attributes) and links (id -> body without version)."""

    nodes: dict[str, dict[str, Any]]
    ports: dict[tuple[str, str], dict[str, Any]]
    links: dict[str, dict[str, Any]]


class Federation:
    """The original networks' topologies and the boundaries, and the federated
    topology and name maps they make."""

    def __init__(self) -> None:
        self.originals: dict[str, Original] = {}
        self.boundaries: dict[str, dict[str, str]] = {}
        #: Collisions found by the last :meth:`federated`, as sentences.
        self.collisions: list[str] = []
        self._picture: Picture | None = None
        self.node_owner: dict[str, tuple[str, str]] = {}
        self.link_owner: dict[str, tuple[str, str]] = {}
        #: Boundary link -> (boundary id, "1" for port1 -> port2, "2" for the reverse).
        self.boundary_link_owner: dict[str, tuple[str, str]] = {}

    # --- reading the originals ----------------------------------------------------------------

    def _changed(self) -> None:
        self._picture = None

    def replace(self, network_id: str, topology: Any) -> list[str]:
        """Take ``GET topology`` of an original network; the problems (objects skipped)."""
        self.originals[network_id] = Original()
        self._changed()
        problems: list[str] = []
        if not isinstance(topology, dict):
            return [f"{network_id}: the topology is not a JSON object"]
        nodes, links = topology.get("nodes"), topology.get("links")
        for node_id, node in (nodes if isinstance(nodes, dict) else {}).items():
            problems += self.set_node(network_id, str(node_id), node)
        for link_id, raw in (links if isinstance(links, dict) else {}).items():
            problems += self.set_link(network_id, str(link_id), raw)
        return problems

    def forget(self, network_id: str) -> None:
        self.originals.pop(network_id, None)
        self._changed()

    def set_node(self, network_id: str, node_id: str, raw: Any) -> list[str]:
        """Node ``node_id`` as read (None: it is gone), with its ports."""
        original = self.originals.setdefault(network_id, Original())
        self._changed()
        for key in [k for k in original.ports if k[0] == node_id]:
            del original.ports[key]
        if raw is None:
            original.nodes.pop(node_id, None)
            return []
        if not isinstance(raw, dict):
            original.nodes.pop(node_id, None)
            return [f"{network_id}: node {node_id!r} is not a JSON object"]
        original.nodes[node_id] = {"attributes": _attributes(raw)}
        problems: list[str] = []
        ports = raw.get("ports")
        for port_id, port in (ports if isinstance(ports, dict) else {}).items():
            problems += self.set_port(network_id, node_id, str(port_id), port)
        return problems

    def set_port(self, network_id: str, node_id: str, port_id: str, raw: Any) -> list[str]:
        """Port ``node_id``/``port_id`` as read (None: it is gone)."""
        original = self.originals.setdefault(network_id, Original())
        self._changed()
        if raw is None:
            original.ports.pop((node_id, port_id), None)
            return []
        if not isinstance(raw, dict):
            return [f"{network_id}: port {node_id}/{port_id} is not a JSON object"]
        if node_id not in original.nodes:
            return [f"{network_id}: port {node_id}/{port_id} of an unknown node"]
        original.ports[(node_id, port_id)] = {"attributes": _attributes(raw)}
        return []

    def set_link(self, network_id: str, link_id: str, raw: Any) -> list[str]:
        """Link ``link_id`` as read (None: it is gone)."""
        original = self.originals.setdefault(network_id, Original())
        self._changed()
        if raw is None:
            original.links.pop(link_id, None)
            return []
        ends = [_text(raw, k) for k in ("src_node", "src_port", "dst_node", "dst_port")]
        if not isinstance(raw, dict) or None in ends:
            original.links.pop(link_id, None)
            return [f"{network_id}: link {link_id!r} lacks a src or dst node or port"]
        src_node, src_port, dst_node, dst_port = (str(x) for x in ends)
        original.links[link_id] = {
            "src_node": src_node,
            "src_port": src_port,
            "dst_node": dst_node,
            "dst_port": dst_port,
            "attributes": _attributes(raw),
        }
        return []

    def set_boundaries(self, boundaries: dict[str, dict[str, str]]) -> None:
        self.boundaries = {k: dict(v) for k, v in boundaries.items()}
        self._changed()

    def has_port(self, network_id: str, node_id: str, port_id: str) -> bool:
        original = self.originals.get(network_id)
        return original is not None and (node_id, port_id) in original.ports

    # --- the federated picture ----------------------------------------------------------------

    def federated(self) -> Picture:
        """What the federated network should hold now (cached until the next change)."""
        if self._picture is None:
            self._picture = self._compute()
        return self._picture

    def _compute(self) -> Picture:
        collisions: list[str] = []
        node_owner: dict[str, tuple[str, str]] = {}
        nodes: dict[str, dict[str, Any]] = {}
        physical_owner: dict[str, str] = {}
        ports: dict[tuple[str, str], dict[str, Any]] = {}
        for network_id in sorted(self.originals):
            original = self.originals[network_id]
            for node_id in sorted(original.nodes):
                name = federated_node_id(network_id, node_id)
                if name in node_owner:
                    collisions.append(
                        f"node {node_id!r} of {network_id!r} would be federated node "
                        f"{name!r}, which is already node {node_owner[name][1]!r} of "
                        f"{node_owner[name][0]!r}: not shown"
                    )
                    continue
                node_owner[name] = (network_id, node_id)
                attributes = original.nodes[node_id]["attributes"]
                physical_id = attributes.get(PHYSICAL_ID)
                if isinstance(physical_id, str) and physical_id:
                    # A Network refuses a second node with one physical_id (409), and
                    # two originals may well use the same ones: the first by (network,
                    # node) keeps it, the others are shown without it.
                    if physical_id in physical_owner:
                        collisions.append(
                            f"node {node_id!r} of {network_id!r} has physical_id "
                            f"{physical_id!r}, which federated node "
                            f"{physical_owner[physical_id]!r} already has: shown without it"
                        )
                        attributes = {k: v for k, v in attributes.items() if k != PHYSICAL_ID}
                    else:
                        physical_owner[physical_id] = name
                nodes[name] = attributes
            for (node_id, port_id), port in sorted(original.ports.items()):
                name = federated_node_id(network_id, node_id)
                if node_owner.get(name) == (network_id, node_id):
                    ports[(name, port_id)] = port["attributes"]
        link_owner: dict[str, tuple[str, str]] = {}
        links: dict[str, dict[str, Any]] = {}
        for network_id in sorted(self.originals):
            original = self.originals[network_id]
            for link_id in sorted(original.links):
                raw = original.links[link_id]
                name = federated_link_id(network_id, link_id)
                src = federated_node_id(network_id, raw["src_node"])
                dst = federated_node_id(network_id, raw["dst_node"])
                if name in link_owner:
                    collisions.append(
                        f"link {link_id!r} of {network_id!r} would be federated link "
                        f"{name!r}, which is already taken: not shown"
                    )
                    continue
                if (src, raw["src_port"]) not in ports or (dst, raw["dst_port"]) not in ports:
                    continue  # an end not shown (yet): the link waits
                if node_owner.get(src) != (network_id, raw["src_node"]) or node_owner.get(dst) != (
                    network_id,
                    raw["dst_node"],
                ):
                    continue
                link_owner[name] = (network_id, link_id)
                links[name] = {
                    "type": "Link",
                    "link_id": name,
                    "src_node": src,
                    "src_port": raw["src_port"],
                    "dst_node": dst,
                    "dst_port": raw["dst_port"],
                    "attributes": copy.deepcopy(raw["attributes"]),
                }
        boundary_owner: dict[str, tuple[str, str]] = {}
        for boundary_id in sorted(self.boundaries):
            boundary = self.boundaries[boundary_id]
            ends = []
            for network_id, node_id, port_id in boundary_ports(boundary):
                name = federated_node_id(network_id, node_id)
                if node_owner.get(name) != (network_id, node_id) or (name, port_id) not in ports:
                    break
                ends.append((name, port_id))
            if len(ends) != 2:
                continue  # a port missing: the links come when it does
            for which, link_id, (head, tail) in (
                ("1", boundary_link_ids(boundary_id)[0], (ends[0], ends[1])),
                ("2", boundary_link_ids(boundary_id)[1], (ends[1], ends[0])),
            ):
                if link_id in links:
                    collisions.append(
                        f"boundary {boundary_id!r}'s link {link_id!r} is already an "
                        "original link's name: not shown"
                    )
                    continue
                boundary_owner[link_id] = (boundary_id, which)
                links[link_id] = {
                    "type": "Link",
                    "link_id": link_id,
                    "src_node": head[0],
                    "src_port": head[1],
                    "dst_node": tail[0],
                    "dst_port": tail[1],
                    "attributes": _boundary_link_attributes(ports[head]),
                }
        self.node_owner, self.link_owner = node_owner, link_owner
        self.boundary_link_owner = boundary_owner
        self.collisions = collisions
        return Picture(nodes, ports, links)

    def boundary_ports_shown(self) -> set[tuple[str, str, str]]:
        """The original ports ``(network, node, port)`` of the boundaries whose links are
        shown: those that carry ``is_boundary: "true"``."""
        self.federated()
        out: set[tuple[str, str, str]] = set()
        for boundary_id, _ in self.boundary_link_owner.values():
            out.update(boundary_ports(self.boundaries[boundary_id]))
        return out

    def all_boundary_ports(self) -> set[tuple[str, str, str]]:
        """Every port a boundary names, shown or not."""
        out: set[tuple[str, str, str]] = set()
        for boundary in self.boundaries.values():
            out.update(boundary_ports(boundary))
        return out

    # --- the maps (GET federated_network_node and the like) -----------------------------------

    def federated_node(self, network_id: str, node_id: str) -> str | None:
        self.federated()
        name = federated_node_id(network_id, node_id)
        return name if self.node_owner.get(name) == (network_id, node_id) else None

    def original_node(self, name: str) -> tuple[str, str] | None:
        self.federated()
        return self.node_owner.get(name)

    def maps(self) -> dict[str, dict[str, Any]]:
        """ODENOS's conversion tables, by route name."""
        picture = self.federated()
        nodes = {f"{nw}::{n}": name for name, (nw, n) in sorted(self.node_owner.items())}
        ports: dict[str, Any] = {}
        back_ports: dict[str, Any] = {}
        for name, port_id in sorted(picture.ports):
            nw, node_id = self.node_owner[name]
            ports[f"{nw}::{node_id}::{port_id}"] = [name, port_id]
            back_ports[f"{name}::{port_id}"] = [nw, node_id, port_id]
        return {
            "federated_network_node": nodes,
            "original_network_node": {
                name: [nw, n] for name, (nw, n) in sorted(self.node_owner.items())
            },
            "federated_network_port": ports,
            "original_network_port": back_ports,
            "federated_network_link": {
                f"{nw}::{link}": name for name, (nw, link) in sorted(self.link_owner.items())
            },
            "original_network_link": {
                name: [nw, link] for name, (nw, link) in sorted(self.link_owner.items())
            },
        }


def _boundary_link_attributes(src_port: dict[str, Any]) -> dict[str, Any]:
    """A boundary link's attributes, from its source port's, as ODENOS (cost 1)."""
    out: dict[str, Any] = {"cost": "1"}
    for key in ("oper_status", "max_bandwidth", "unreserved_bandwidth"):
        if key in src_port:
            out[key] = copy.deepcopy(src_port[key])
    return out
