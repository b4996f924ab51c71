"""The topology of a Network component: nodes with their ports, and links between ports.

A pure data model: no HTTP, no asyncio; it raises the HTTP-facing errors of
:mod:`odenos.errors` (``BadRequest`` 400, ``NotFound`` 404, ``Conflict`` 409)
so that a handler can pass them through.

Invariants kept by every operation:

* a link's four ends exist;
* a port's ``out_link`` names the one link whose source it is, its ``in_link``
  the one link whose destination it is, and nothing else sets them;
* a ``physical_id`` names at most one node, and at most one port;
* every stored object has a version >= 1, bumped by each change to it.

Each operation checks everything before it changes anything, so an operation
that raises leaves the topology as it was.  Then it hands what changed to
:meth:`Topology._commit`, the one place every change passes through: it bumps
the topology's own version and tells the listener, which is where change
events (``NodeChanged``, ``PortChanged``, ``LinkChanged``) will be published.

A node's version counts changes to the node itself (its attributes); adding,
changing or removing one of its ports changes the port's version, not the
node's, in the same way as each object has its own change event.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import Any

# ChangeAction and ChangeListener are re-exported: they were first defined here.
from odenos.components.network.changes import Change, ChangeRecorder
from odenos.components.network.changes import ChangeAction as ChangeAction
from odenos.components.network.changes import ChangeListener as ChangeListener
from odenos.components.network.objects import (
    DEFAULT_OPER_STATUS,
    DOWN,
    LINK_DEFAULTS,
    NODE_DEFAULTS,
    Link,
    Node,
    Port,
    attributes_match,
    body_id,
    check_id,
    check_type,
    check_version,
    parse_attributes,
    physical_id_of,
    port_defaults,
    requested_version,
    require_object,
)
from odenos.errors import BadRequest, Conflict, NotFound


def _added(obj: Node | Port | Link) -> Change:
    return Change(type(obj).__name__, ChangeAction.ADD, None, obj.to_json())


def _deleted(obj: Node | Port | Link) -> Change:
    return Change(type(obj).__name__, ChangeAction.DELETE, obj.to_json(), None)


def _check_physical_id(
    attributes: dict[str, Any], body: Mapping[str, Any], physical_id: str, what: str
) -> None:
    """Give ``attributes`` the ``physical_id`` of the URL; a ``body`` naming another is a
    400 (a default the parsed attributes got does not count)."""
    given_attributes = body.get("attributes")
    given = physical_id_of(given_attributes) if isinstance(given_attributes, dict) else None
    if given is not None and given != physical_id:
        raise BadRequest(
            f"{what} body has physical_id {given!r}, but the path names {physical_id!r}",
            physical_id=physical_id,
        )
    attributes["physical_id"] = physical_id


def _gives_oper_status(body: Any) -> bool:
    """Whether a body's attributes set ``oper_status`` (not absent, not null)."""
    attributes = body.get("attributes") if isinstance(body, dict) else None
    return isinstance(attributes, dict) and attributes.get("oper_status") is not None


def _merge_attributes(
    attributes: dict[str, Any], body: Any, what: str, defaults: Mapping[str, str]
) -> dict[str, Any]:
    """``attributes`` updated with the keys of ``body`` (a new dict, validated; a key
    set to null gets its default back)."""
    merged = dict(attributes)
    merged.update(require_object(body, f"{what} attributes"))
    return parse_attributes(merged, what, defaults)


def _link_end(nodes: Mapping[str, Node], link: Link, side: str) -> Port:
    """The port at the ``side`` (``"src"`` or ``"dst"``) end of ``link``, or a 400 naming it."""
    node_id, port_id = (
        (link.src_node, link.src_port) if side == "src" else (link.dst_node, link.dst_port)
    )
    node = nodes.get(node_id)
    if node is None:
        raise BadRequest(
            f"link {link.link_id!r}: {side}_node {node_id!r} does not exist",
            link_id=link.link_id,
            field=f"{side}_node",
        )
    port = node.ports.get(port_id)
    if port is None:
        raise BadRequest(
            f"link {link.link_id!r}: {side}_port {port_id!r} does not exist on node {node_id!r}",
            link_id=link.link_id,
            field=f"{side}_port",
        )
    return port


def _member_map(body: Mapping[str, Any], key: str) -> dict[str, Any]:
    """``body[key]`` as a JSON object; absent or null is empty."""
    value = body.get(key)
    return {} if value is None else require_object(value, f"topology {key}")


def _without(body: Any, key: str) -> Any:
    """``body`` without ``key`` if it is a JSON object, else ``body`` unchanged."""
    if not isinstance(body, dict):
        return body
    return {k: v for k, v in body.items() if k != key}


def _stored_version(stored: Mapping[str, Any]) -> int:
    try:
        return int(stored.get("version", 0))
    except (TypeError, ValueError):
        raise BadRequest(f"stored version {stored.get('version')!r} is not a number") from None


def _next_version(old: int | None, changed: bool) -> int:
    if old is None:
        return 1
    return old + 1 if changed else old


class Topology(ChangeRecorder):
    """Nodes (with their ports) and links, with the rules that tie them together.

    Not thread-safe: it belongs to one component, used from its event loop.
    """

    def __init__(self, listener: ChangeListener | None = None) -> None:
        super().__init__(listener)
        self.nodes: dict[str, Node] = {}
        self.links: dict[str, Link] = {}

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "Topology",
            "version": str(self.version),
            "nodes": {node_id: node.to_json() for node_id, node in self.nodes.items()},
            "links": {link_id: link.to_json() for link_id, link in self.links.items()},
        }

    # --- lookups: NotFound when absent ---------------------------------------------------------

    def node(self, node_id: str) -> Node:
        node = self.nodes.get(node_id)
        if node is None:
            raise NotFound(f"node {node_id!r} does not exist", node_id=node_id)
        return node

    def node_by_physical_id(self, physical_id: str) -> Node:
        node = self.find_node_by_physical_id(physical_id)
        if node is None:
            raise NotFound(f"no node has physical_id {physical_id!r}", physical_id=physical_id)
        return node

    def port(self, node_id: str, port_id: str) -> Port:
        port = self.node(node_id).ports.get(port_id)
        if port is None:
            raise NotFound(
                f"port {port_id!r} does not exist on node {node_id!r}",
                node_id=node_id,
                port_id=port_id,
            )
        return port

    def port_by_physical_id(self, physical_id: str) -> Port:
        port = self.find_port_by_physical_id(physical_id)
        if port is None:
            raise NotFound(f"no port has physical_id {physical_id!r}", physical_id=physical_id)
        return port

    def link(self, link_id: str) -> Link:
        link = self.links.get(link_id)
        if link is None:
            raise NotFound(f"link {link_id!r} does not exist", link_id=link_id)
        return link

    def find_nodes(self, query: Mapping[str, str]) -> dict[str, Node]:
        """The nodes whose attributes match every ``key=value`` of ``query``."""
        return {k: n for k, n in self.nodes.items() if attributes_match(n.attributes, query)}

    def find_ports(self, node_id: str, query: Mapping[str, str]) -> dict[str, Port]:
        """The ports of ``node_id`` (404 if unknown) whose attributes match ``query``."""
        ports = self.node(node_id).ports
        return {k: p for k, p in ports.items() if attributes_match(p.attributes, query)}

    def find_links(self, query: Mapping[str, str]) -> dict[str, Link]:
        """The links whose attributes match every ``key=value`` of ``query``."""
        return {k: lk for k, lk in self.links.items() if attributes_match(lk.attributes, query)}

    def find_node_by_physical_id(self, physical_id: str) -> Node | None:
        return next((n for n in self.nodes.values() if n.physical_id == physical_id), None)

    def find_port_by_physical_id(self, physical_id: str) -> Port | None:
        ports = (p for n in self.nodes.values() for p in n.ports.values())
        return next((p for p in ports if p.physical_id == physical_id), None)

    @staticmethod
    def _new_id(taken: Mapping[str, Any]) -> str:
        while True:
            new_id = str(uuid.uuid4())
            if new_id not in taken:
                return new_id

    # --- loading stored objects (resume, undo): no checks across objects, no changes -----------

    def load(self, kind: str, stored: dict[str, Any]) -> None:
        """Put an object back as it was stored (its JSON, version and links included),
        without reporting a change.  ``kind``: "Node" (its ports are left as they
        are), "Port" (its node must be there) or "Link".  Raises BadRequest for
        a record that is not such an object."""
        if kind == "Node":
            node_id = check_id(stored.get("node_id"), "stored node id")
            loaded = Node.from_json(_without(stored, "ports"), node_id)
            loaded.version = _stored_version(stored)
            old = self.nodes.get(node_id)
            if old is not None:
                loaded.ports = old.ports
            self.nodes[node_id] = loaded
        elif kind == "Port":
            node_id = check_id(stored.get("node_id"), "stored port node_id")
            port_id = check_id(stored.get("port_id"), "stored port id")
            port = Port.from_json(stored, node_id, port_id)
            port.version = _stored_version(stored)
            port.out_link, port.in_link = stored.get("out_link"), stored.get("in_link")
            self.node(node_id).ports[port_id] = port
        elif kind == "Link":
            link_id = check_id(stored.get("link_id"), "stored link id")
            link = Link.from_json(stored, link_id)
            link.version = _stored_version(stored)
            self.links[link_id] = link
        else:
            raise BadRequest(f"not a topology object kind: {kind!r}")

    def unload(self, kind: str, stored: dict[str, Any]) -> None:
        """Remove an object (named by its stored JSON) without reporting a change."""
        if kind == "Node":
            self.nodes.pop(str(stored.get("node_id")), None)
        elif kind == "Port":
            node = self.nodes.get(str(stored.get("node_id")))
            if node is not None:
                node.ports.pop(str(stored.get("port_id")), None)
        elif kind == "Link":
            self.links.pop(str(stored.get("link_id")), None)

    def relink(self) -> list[str]:
        """Set every port's ``out_link``/``in_link`` from the links (after loading);
        links whose ends are missing are dropped.  Returns what was dropped, to log."""
        dropped = []
        for node in self.nodes.values():
            for port in node.ports.values():
                port.out_link = port.in_link = None
        for link_id, link in list(self.links.items()):
            try:
                src, dst = _link_end(self.nodes, link, "src"), _link_end(self.nodes, link, "dst")
            except BadRequest as exc:
                del self.links[link_id]
                dropped.append(f"link {link_id!r}: {exc.message}")
                continue
            src.out_link, dst.in_link = link_id, link_id
        return dropped

    # --- whole topology ------------------------------------------------------------------------

    def replace(self, body: Any) -> None:
        """Replace everything with the Topology ``body`` (``{"nodes": {}, "links": {}}``).

        Ports' ``out_link``/``in_link`` are derived from the links, never read.
        Objects that stay keep their version unless their content changes; the
        versions inside the body are not checked, the topology's own is (409).
        Raises BadRequest for anything inconsistent; nothing changes then.
        """
        obj = require_object(body, "a Topology")
        check_type(obj, "Topology")
        check_version("the topology", requested_version(obj, "topology"), self.version)
        nodes: dict[str, Node] = {}
        for node_id, node_body in _member_map(obj, "nodes").items():
            nodes[node_id] = Node.from_json(node_body, check_id(node_id, "topology node id"))
        links: dict[str, Link] = {}
        for link_id, link_body in _member_map(obj, "links").items():
            links[link_id] = Link.from_json(link_body, check_id(link_id, "topology link id"))
        # Ports may share a physical_id, as in ODENOS (physical_ports/<id> is the first).
        self._check_distinct_physical_ids(nodes.values(), "nodes")
        for link in links.values():
            src, dst = _link_end(nodes, link, "src"), _link_end(nodes, link, "dst")
            for port, attr in ((src, "out_link"), (dst, "in_link")):
                other = getattr(port, attr)
                if other is not None:
                    raise BadRequest(
                        f"links {other!r} and {link.link_id!r} both use port "
                        f"{port.port_id!r} of node {port.node_id!r} as {attr}",
                        link_id=link.link_id,
                    )
                setattr(port, attr, link.link_id)
        changes = self._replacement_changes(nodes, links)
        self.nodes, self.links = nodes, links
        self._commit(changes)

    @staticmethod
    def _check_distinct_physical_ids(objects: Iterable[Node | Port], what: str) -> None:
        seen: set[str] = set()
        for obj in objects:
            physical_id = obj.physical_id
            if physical_id is None:
                continue
            if physical_id in seen:
                raise BadRequest(
                    f"two {what} have physical_id {physical_id!r}", physical_id=physical_id
                )
            seen.add(physical_id)

    def _replacement_changes(self, nodes: dict[str, Node], links: dict[str, Link]) -> list[Change]:
        """Version the new objects against the current ones; the changes between them."""
        # Versions first: a node's JSON shows its ports' versions.
        for node_id, node in nodes.items():
            old_node = self.nodes.get(node_id)
            node.version = _next_version(
                old_node.version if old_node else None,
                old_node is not None and old_node.attributes != node.attributes,
            )
            for port_id, port in node.ports.items():
                old_port = old_node.ports.get(port_id) if old_node else None
                port.version = _next_version(
                    old_port.version if old_port else None,
                    old_port is not None and not old_port.same_content(port),
                )
        for link_id, link in links.items():
            old_link = self.links.get(link_id)
            link.version = _next_version(
                old_link.version if old_link else None,
                old_link is not None and not old_link.same_content(link),
            )

        changes = [_deleted(old) for link_id, old in self.links.items() if link_id not in links]
        for node_id, old_node in self.nodes.items():
            kept = nodes[node_id].ports if node_id in nodes else {}
            changes += [_deleted(p) for port_id, p in old_node.ports.items() if port_id not in kept]
            if node_id not in nodes:
                changes.append(_deleted(old_node))
        for node_id, node in nodes.items():
            changes += self._upsert_changes(self.nodes.get(node_id), node)
            old_ports = self.nodes[node_id].ports if node_id in self.nodes else {}
            for port_id, port in node.ports.items():
                changes += self._upsert_changes(old_ports.get(port_id), port)
        for link_id, link in links.items():
            changes += self._upsert_changes(self.links.get(link_id), link)
        return changes

    @staticmethod
    def _upsert_changes(old: Node | Port | Link | None, new: Node | Port | Link) -> list[Change]:
        if old is None:
            return [_added(new)]
        if old.version != new.version:
            return [Change(type(new).__name__, ChangeAction.UPDATE, old.to_json(), new.to_json())]
        return []

    # --- nodes ---------------------------------------------------------------------------------

    def add_node(self, body: Any) -> Node:
        """Create a node from ``body`` under a generated id (the body's node_id is ignored)."""
        obj = require_object(body, "a Node")
        node_id = self._new_id(self.nodes)
        stripped = _without(obj, "node_id")
        if isinstance(obj.get("ports"), dict):
            # The ports listed go to the new node, whatever node_id they were written for.
            stripped["ports"] = {k: _without(p, "node_id") for k, p in obj["ports"].items()}
        new = Node.from_json(stripped, node_id)
        node, _ = self._put_node(new, None)
        return node

    def put_node(self, node_id: str, body: Any) -> tuple[Node, bool]:
        """Create or update the node ``node_id``; returns it and whether it was created.

        On update only the attributes are replaced: the node keeps its ports
        (they change through the port operations), since replacing them here
        could silently cut links.  An update that changes nothing keeps the version.
        """
        new = Node.from_json(body, node_id)
        return self._put_node(new, requested_version(body, f"node {node_id!r}"))

    def put_physical_node(self, physical_id: str, body: Any) -> tuple[Node, bool]:
        """:meth:`put_node` addressing the node by its ``physical_id``.

        When no node has it, one is created with the body's node_id, or a
        generated one; a body node_id that names another existing node is a 409.
        """
        obj = require_object(body, "a Node")
        existing = self.find_node_by_physical_id(physical_id)
        if existing is not None:
            node_id = existing.node_id
            given = body_id(obj, "node_id", "node")
            if given is not None and given != node_id:
                raise Conflict(
                    f"physical_id {physical_id!r} is node {node_id!r}'s, not {given!r}'s",
                    node_id=node_id,
                    physical_id=physical_id,
                )
        else:
            node_id = body_id(obj, "node_id", "node") or self._new_id(self.nodes)
            other = self.nodes.get(node_id)
            if other is not None:
                raise Conflict(
                    f"node {node_id!r} already exists with physical_id "
                    f"{other.physical_id!r}, not {physical_id!r}",
                    node_id=node_id,
                    physical_id=physical_id,
                )
        new = Node.from_json(obj, node_id)
        _check_physical_id(new.attributes, obj, physical_id, f"node {node_id!r}")
        return self._put_node(new, requested_version(obj, f"node {node_id!r}"))

    def _put_node(self, new: Node, expected: int | None) -> tuple[Node, bool]:
        node_id = new.node_id
        old = self.nodes.get(node_id)
        check_version(f"node {node_id!r}", expected, old.version if old else None)
        self._check_node_physical_id(new.physical_id, node_id)
        if old is None:
            new.version = 1
            for port in new.ports.values():
                port.version = 1
            self.nodes[node_id] = new
            self._commit([_added(new), *(_added(port) for port in new.ports.values())])
            return new, True
        if old.attributes == new.attributes:
            return old, False
        self._update_attributes(old, new.attributes)
        return old, False

    def merge_node_attributes(self, node_id: str, body: Any) -> Node:
        """Merge ``body`` into the node's attributes (no version check); 404 if unknown."""
        node = self.node(node_id)
        merged = _merge_attributes(node.attributes, body, f"node {node_id!r}", NODE_DEFAULTS)
        self._check_node_physical_id(physical_id_of(merged), node_id)
        self._update_attributes(node, merged)
        return node

    def delete_node(self, node_id: str) -> None:
        """Delete the node and its ports; 409 while any of its ports carries a link."""
        node = self.node(node_id)
        links = sorted(link for port in node.ports.values() for link in port.links)
        if links:
            raise Conflict(
                f"node {node_id!r} cannot be deleted while its ports carry links "
                f"{', '.join(map(repr, links))}; delete those links first",
                node_id=node_id,
                links=links,
            )
        del self.nodes[node_id]
        self._commit([*(_deleted(port) for port in node.ports.values()), _deleted(node)])

    def _check_node_physical_id(self, physical_id: str | None, node_id: str) -> None:
        if physical_id is None:
            return
        other = self.find_node_by_physical_id(physical_id)
        if other is not None and other.node_id != node_id:
            raise Conflict(
                f"physical_id {physical_id!r} already belongs to node {other.node_id!r}",
                physical_id=physical_id,
                node_id=other.node_id,
            )

    # --- ports ---------------------------------------------------------------------------------

    def add_port(self, node_id: str, body: Any) -> Port:
        """Create a port of ``node_id`` (404 if unknown) under a generated id."""
        node = self.node(node_id)
        obj = require_object(body, "a Port")
        port_id = self._new_id(node.ports)
        new = Port.from_json(_without(obj, "port_id"), node_id, port_id)
        port, _ = self._put_port(node, new, None)
        return port

    def put_port(self, node_id: str, port_id: str, body: Any) -> tuple[Port, bool]:
        """Create or update a port of ``node_id`` (404 if unknown); returns it and
        whether it was created.  The body's out_link/in_link are ignored."""
        node = self.node(node_id)
        new = Port.from_json(body, node_id, port_id)
        return self._put_port(node, new, requested_version(body, f"port {port_id!r}"))

    def put_physical_port(self, physical_id: str, body: Any) -> tuple[Port, bool]:
        """:meth:`put_port` addressing the port by its ``physical_id``.

        When no port has it, the body's node_id says which node gets the new
        port (400 if absent, 404 if unknown), under the body's port_id or a
        generated one.
        """
        obj = require_object(body, "a Port")
        existing = self.find_port_by_physical_id(physical_id)
        if existing is not None:
            node, port_id = self.nodes[existing.node_id], existing.port_id
            for key, value in (("node_id", node.node_id), ("port_id", port_id)):
                given = body_id(obj, key, "port")
                if given is not None and given != value:
                    raise Conflict(
                        f"physical_id {physical_id!r} is port {port_id!r} of node "
                        f"{node.node_id!r}: the body's {key} {given!r} names another",
                        node_id=node.node_id,
                        port_id=port_id,
                        physical_id=physical_id,
                    )
        else:
            node_id = body_id(obj, "node_id", "port")
            if node_id is None:
                raise BadRequest(
                    f"no port has physical_id {physical_id!r} yet: the body needs a node_id "
                    "to say which node the new port belongs to",
                    physical_id=physical_id,
                )
            node = self.node(node_id)
            port_id = body_id(obj, "port_id", "port") or self._new_id(node.ports)
            other = node.ports.get(port_id)
            if other is not None:
                raise Conflict(
                    f"port {port_id!r} of node {node_id!r} already exists with physical_id "
                    f"{other.physical_id!r}, not {physical_id!r}",
                    node_id=node_id,
                    port_id=port_id,
                    physical_id=physical_id,
                )
        new = Port.from_json(obj, node.node_id, port_id)
        _check_physical_id(new.attributes, obj, physical_id, f"port {port_id!r}")
        return self._put_port(node, new, requested_version(obj, f"port {port_id!r}"))

    def _put_port(self, node: Node, new: Port, expected: int | None) -> tuple[Port, bool]:
        old = node.ports.get(new.port_id)
        what = f"port {new.port_id!r} of node {node.node_id!r}"
        check_version(what, expected, old.version if old else None)
        if old is None:
            new.version = 1
            node.ports[new.port_id] = new
            self._commit([_added(new)])
            return new, True
        if old.attributes == new.attributes:
            return old, False
        self._update_attributes(old, new.attributes)
        return old, False

    def merge_port_attributes(self, node_id: str, port_id: str, body: Any) -> Port:
        """Merge ``body`` into the port's attributes (no version check); 404 if unknown."""
        port = self.port(node_id, port_id)
        merged = _merge_attributes(
            port.attributes, body, f"port {port_id!r}", port_defaults(node_id, port_id)
        )
        self._update_attributes(port, merged)
        return port

    def delete_port(self, node_id: str, port_id: str) -> None:
        """Delete the port; 409 while it carries a link."""
        port = self.port(node_id, port_id)
        if port.links:
            raise Conflict(
                f"port {port_id!r} of node {node_id!r} cannot be deleted while it carries "
                f"links {', '.join(map(repr, port.links))}; delete those links first",
                node_id=node_id,
                port_id=port_id,
                links=port.links,
            )
        del self.nodes[node_id].ports[port_id]
        self._commit([_deleted(port)])

    # --- links ---------------------------------------------------------------------------------

    def add_link(self, body: Any) -> Link:
        """Create a link from ``body`` under a generated id (the body's link_id is ignored)."""
        obj = require_object(body, "a Link")
        link_id = self._new_id(self.links)
        new = Link.from_json(_without(obj, "link_id"), link_id)
        link, _ = self._put_link(new, None, _gives_oper_status(obj))
        return link

    def put_link(self, link_id: str, body: Any) -> tuple[Link, bool]:
        """Create or update a link; returns it and whether it was created.

        Its ends must exist (400 naming the missing one); its source port's
        out_link and destination port's in_link must be free or already this
        link (409).  The ports' references move with the link's ends.  Without an
        ``oper_status`` of its own, a link is ``DOWN`` when a port at its ends is, as
        in ODENOS (``UP`` otherwise).
        """
        new = Link.from_json(body, link_id)
        return self._put_link(
            new, requested_version(body, f"link {link_id!r}"), _gives_oper_status(body)
        )

    def _put_link(
        self, new: Link, expected: int | None, status_given: bool = True
    ) -> tuple[Link, bool]:
        link_id = new.link_id
        old = self.links.get(link_id)
        check_version(f"link {link_id!r}", expected, old.version if old else None)
        src, dst = _link_end(self.nodes, new, "src"), _link_end(self.nodes, new, "dst")
        if not status_given:
            ends_down = DOWN in (
                src.attributes.get("oper_status"),
                dst.attributes.get("oper_status"),
            )
            new.attributes["oper_status"] = DOWN if ends_down else DEFAULT_OPER_STATUS
        for port, attr in ((src, "out_link"), (dst, "in_link")):
            other = getattr(port, attr)
            if other is not None and other != link_id:
                raise Conflict(
                    f"port {port.port_id!r} of node {port.node_id!r} already has {attr} {other!r}",
                    node_id=port.node_id,
                    port_id=port.port_id,
                    link_id=other,
                )
        if old is None:
            new.version = 1
            self.links[link_id] = new
            self._commit([_added(new), *self._move_link_ends(link_id, None, new)])
            return new, True
        if old.same_content(new):
            return old, False
        prev = old.to_json()
        new.version = old.version + 1
        self.links[link_id] = new
        port_changes = self._move_link_ends(link_id, old, new)
        self._commit([Change("Link", ChangeAction.UPDATE, prev, new.to_json()), *port_changes])
        return new, False

    def merge_link_attributes(self, link_id: str, body: Any) -> Link:
        """Merge ``body`` into the link's attributes (no version check); 404 if unknown."""
        link = self.link(link_id)
        self._update_attributes(
            link, _merge_attributes(link.attributes, body, f"link {link_id!r}", LINK_DEFAULTS)
        )
        return link

    def delete_link(self, link_id: str) -> None:
        """Delete the link and clear its ports' out_link/in_link."""
        link = self.link(link_id)
        port_changes = self._move_link_ends(link_id, link, None)
        del self.links[link_id]
        self._commit([*port_changes, _deleted(link)])

    def _move_link_ends(self, link_id: str, old: Link | None, new: Link | None) -> list[Change]:
        """Point the ports of ``new``'s ends at ``link_id`` instead of ``old``'s.

        The ends were checked to exist and be free; returns the port updates.
        """
        touched: dict[tuple[str, str], tuple[Port, dict[str, Any]]] = {}

        def touch(node_id: str, port_id: str) -> Port:
            port = self.nodes[node_id].ports[port_id]
            touched.setdefault((node_id, port_id), (port, port.to_json()))
            return port

        if old is not None:
            touch(old.src_node, old.src_port).out_link = None
            touch(old.dst_node, old.dst_port).in_link = None
        if new is not None:
            touch(new.src_node, new.src_port).out_link = link_id
            touch(new.dst_node, new.dst_port).in_link = link_id
        changes: list[Change] = []
        for port, prev in touched.values():
            if (port.out_link, port.in_link) != (prev["out_link"], prev["in_link"]):
                port.version += 1
                changes.append(Change("Port", ChangeAction.UPDATE, prev, port.to_json()))
        return changes

    # --- shared --------------------------------------------------------------------------------

    def _update_attributes(self, obj: Node | Port | Link, attributes: dict[str, Any]) -> None:
        """Give ``obj`` new attributes, with a new version, unless they are the same."""
        if obj.attributes == attributes:
            return
        prev = obj.to_json()
        obj.attributes = attributes
        obj.version += 1
        self._commit([Change(type(obj).__name__, ChangeAction.UPDATE, prev, obj.to_json())])
