"""The Aggregator's picture of the original network: its ports and links, its edge
ports, and shortest paths between its nodes.

A pure model (no I/O): the Aggregator fills it from ``GET topology`` and keeps
it current with what it reads after each topology event.  The JSON it is given
comes from another process, so every reader here checks shapes and raises
:class:`BadTopologyData` (a ``ValueError``) naming what was wrong, never a
``KeyError`` or ``TypeError``.

An *edge port* is a port with neither ``in_link`` nor ``out_link``: the ports
the aggregated node shows.  Paths follow the links' direction
(``src_node`` -> ``dst_node``), skip links whose ``oper_status`` is
``"DOWN"``, and minimise the sum of the links' ``cost`` attribute (a positive
number, or a string of one; 1 when absent or unusable), so with no costs the
path with the fewest links wins.  Ties go to the lower node id, then the lower
link id, so the same topology always gives the same path.
"""

from __future__ import annotations

import copy
import heapq
from dataclasses import dataclass, field
from typing import Any

from odenos.components.aggregator.naming import port_name, port_origin

DEFAULT_COST = 1.0


class BadTopologyData(ValueError):
    """A node, port, link or topology body that does not have the reference's shape."""


def _text(obj: dict[str, Any], key: str, what: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise BadTopologyData(f"{what} has no usable {key!r}: {value!r}")
    return value


def _optional_text(obj: dict[str, Any], key: str, what: str) -> str | None:
    value = obj.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise BadTopologyData(f"{what} has a non-string {key!r}: {value!r}")
    return value


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadTopologyData(f"{what} is not a JSON object: {type(value).__name__}")
    return value


@dataclass(frozen=True)
class PortView:
    node_id: str
    port_id: str
    in_link: str | None = None
    out_link: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)

    @property
    def is_edge(self) -> bool:
        return self.in_link is None and self.out_link is None

    @classmethod
    def from_json(cls, raw: Any) -> PortView:
        obj = _object(raw, "a port")
        what = f"port {obj.get('port_id')!r}"
        attributes = obj.get("attributes")
        return cls(
            node_id=_text(obj, "node_id", what),
            port_id=_text(obj, "port_id", what),
            in_link=_optional_text(obj, "in_link", what),
            out_link=_optional_text(obj, "out_link", what),
            attributes=copy.deepcopy(attributes) if isinstance(attributes, dict) else {},
        )


@dataclass(frozen=True)
class LinkView:
    link_id: str
    src_node: str
    dst_node: str
    attributes: dict[str, Any] = field(default_factory=dict)

    @property
    def usable(self) -> bool:
        return self.attributes.get("oper_status") != "DOWN"

    @property
    def cost(self) -> float:
        raw = self.attributes.get("cost")
        try:
            value = float(raw) if isinstance(raw, int | float | str) else DEFAULT_COST
        except ValueError:
            return DEFAULT_COST
        return value if value > 0 else DEFAULT_COST

    @classmethod
    def from_json(cls, raw: Any) -> LinkView:
        obj = _object(raw, "a link")
        what = f"link {obj.get('link_id')!r}"
        attributes = obj.get("attributes")
        return cls(
            link_id=_text(obj, "link_id", what),
            src_node=_text(obj, "src_node", what),
            dst_node=_text(obj, "dst_node", what),
            attributes=copy.deepcopy(attributes) if isinstance(attributes, dict) else {},
        )


class TopologyMirror:
    """The original network's nodes (by their ports) and links, as last read.

    Used from the Aggregator's loop only.
    """

    def __init__(self) -> None:
        #: ``{node_id: {port_id: PortView}}``; a node without ports has an empty dict.
        self.nodes: dict[str, dict[str, PortView]] = {}
        self.links: dict[str, LinkView] = {}

    # --- filling it ---------------------------------------------------------------------------

    def replace(self, topology: Any) -> list[str]:
        """Take a whole ``GET topology`` answer; returns what was skipped as malformed
        (the rest is kept).  Raises :class:`BadTopologyData` if it is no topology at all."""
        obj = _object(topology, "the topology")
        nodes = _object(obj.get("nodes") or {}, "the topology's nodes")
        links = _object(obj.get("links") or {}, "the topology's links")
        self.nodes.clear()
        self.links.clear()
        problems: list[str] = []
        for node in nodes.values():
            try:
                problems.extend(self.set_node(node))
            except BadTopologyData as exc:
                problems.append(str(exc))
        for link in links.values():
            try:
                self.set_link(link)
            except BadTopologyData as exc:
                problems.append(str(exc))
        return problems

    def set_node(self, raw: Any) -> list[str]:
        """Record a node and the ports its body lists (they replace what was known);
        returns the ports skipped as malformed."""
        obj = _object(raw, "a node")
        node_id = _text(obj, "node_id", "a node")
        ports: dict[str, PortView] = {}
        problems: list[str] = []
        for raw_port in _object(obj.get("ports") or {}, f"node {node_id!r} ports").values():
            try:
                port = PortView.from_json(raw_port)
            except BadTopologyData as exc:
                problems.append(str(exc))
                continue
            if port.node_id != node_id:
                problems.append(f"port {port.port_id!r} listed under node {node_id!r}")
                continue
            ports[port.port_id] = port
        self.nodes[node_id] = ports
        return problems

    def remove_node(self, node_id: str) -> list[PortView]:
        """Forget a node; returns the ports it had."""
        return list(self.nodes.pop(node_id, {}).values())

    def set_port(self, raw: Any) -> PortView:
        port = PortView.from_json(raw)
        self.nodes.setdefault(port.node_id, {})[port.port_id] = port
        return port

    def remove_port(self, node_id: str, port_id: str) -> PortView | None:
        return self.nodes.get(node_id, {}).pop(port_id, None)

    def set_link(self, raw: Any) -> LinkView:
        link = LinkView.from_json(raw)
        self.links[link.link_id] = link
        return link

    def remove_link(self, link_id: str) -> LinkView | None:
        return self.links.pop(link_id, None)

    # --- reading it ---------------------------------------------------------------------------

    def port(self, node_id: str, port_id: str) -> PortView | None:
        return self.nodes.get(node_id, {}).get(port_id)

    def edge_ports(self) -> dict[str, PortView]:
        """The ports the aggregated node shows, by their aggregated name."""
        return {
            port_name(port.node_id, port.port_id): port
            for ports in self.nodes.values()
            for port in ports.values()
            if port.is_edge
        }

    def edge_port(self, name: str) -> PortView | None:
        """The original edge port an aggregated port name stands for; None when the
        name is not one the Aggregator gives or the port is not an edge port now."""
        origin = port_origin(name)
        if origin is None:
            return None
        port = self.port(*origin)
        return port if port is not None and port.is_edge else None

    def path_ok(self, path: list[str], src_node: str, dst_node: str) -> bool:
        """Whether ``path`` is a chain of usable links from ``src_node`` to ``dst_node``."""
        at = src_node
        for link_id in path:
            link = self.links.get(link_id)
            if link is None or not link.usable or link.src_node != at:
                return False
            at = link.dst_node
        return at == dst_node

    def shortest_path(self, src_node: str, dst_node: str) -> list[str] | None:
        """The link ids of a cheapest path from ``src_node`` to ``dst_node`` (``[]``
        when they are the same node), or None when there is none."""
        if src_node not in self.nodes or dst_node not in self.nodes:
            return None
        if src_node == dst_node:
            return []
        outgoing: dict[str, list[LinkView]] = {}
        for link_id in sorted(self.links):
            link = self.links[link_id]
            if link.usable:
                outgoing.setdefault(link.src_node, []).append(link)
        best: dict[str, float] = {src_node: 0.0}
        via: dict[str, LinkView] = {}
        queue: list[tuple[float, str]] = [(0.0, src_node)]
        done: set[str] = set()
        while queue:
            cost, node = heapq.heappop(queue)
            if node in done:
                continue
            if node == dst_node:
                break
            done.add(node)
            for link in outgoing.get(node, []):
                total = cost + link.cost
                if link.dst_node not in best or total < best[link.dst_node]:
                    best[link.dst_node] = total
                    via[link.dst_node] = link
                    heapq.heappush(queue, (total, link.dst_node))
        if dst_node not in via:
            return None
        path: list[str] = []
        at = dst_node
        while at != src_node:
            link = via[at]
            path.append(link.link_id)
            at = link.src_node
        path.reverse()
        return path
