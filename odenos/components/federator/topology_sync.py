"""The federated topology: kept as the wanted picture of the original networks.

:class:`TopologySync` reads a changed original object after its event into the
:class:`~.model.Federation`, compares the wanted federated picture with what the
federated network was last given (or read, after a restart) and sends only the
difference, then sets the original boundary ports' ``is_boundary`` mark.  Only
names the Federator gives are touched in the federated network.
"""

from __future__ import annotations

import logging
from typing import Any

from odenos.components.federator.base import FederatorBase
from odenos.components.federator.model import IS_BOUNDARY
from odenos.components.federator.naming import SEPARATOR, boundary_link_ids
from odenos.components.logic import json_object

log = logging.getLogger(__name__)


class TopologySync(FederatorBase):
    """The federated topology and the ``is_boundary`` marks."""

    def _ours(self, name: str) -> bool:
        """Whether a federated node or link name is one the Federator gives."""
        if any(name.startswith(nw + SEPARATOR) for nw in self.originals):
            return True
        return any(name in boundary_link_ids(b) for b in self.model.boundaries)

    def _read_shown(self, topology: Any) -> None:
        fed = self._fed()
        body = json_object(topology, fed, "topology")
        nodes, links = body.get("nodes"), body.get("links")
        for name, node in (nodes if isinstance(nodes, dict) else {}).items():
            if not isinstance(node, dict) or not self._ours(str(name)):
                continue
            self._shown_nodes[str(name)] = _attrs(node)
            ports = node.get("ports")
            for port_id, port in (ports if isinstance(ports, dict) else {}).items():
                self._shown_ports[(str(name), str(port_id))] = _attrs(port)
        for name, raw in (links if isinstance(links, dict) else {}).items():
            if not isinstance(raw, dict):
                continue
            # A boundary link of a boundary deleted while the federated network did not
            # answer: a ``_link01``/``_link02`` between two of its nodes.
            stale_boundary = str(name).endswith(("_link01", "_link02")) and all(
                self._ours(str(raw.get(end))) for end in ("src_node", "dst_node")
            )
            if self._ours(str(name)) or stale_boundary:
                self._shown_links[str(name)] = _link_view(raw)

    async def _unmark(self, network_id: str, only: set[tuple[str, str, str]] | None = None) -> None:
        """Take ``is_boundary`` off the boundary ports of ``network_id`` (or ``only``)."""
        ports = only if only is not None else self.model.all_boundary_ports()
        for nw, node_id, port_id in sorted(ports):
            if nw == network_id and nw in self.originals:
                await self._mark(nw, node_id, port_id, False)

    async def _topology_changed(
        self, network_id: str, kind: str, ident: str, body: dict[str, Any]
    ) -> None:
        if kind == "NodeChanged":
            raw = await self._get(network_id, f"topology/nodes/{ident}", missing=True)
            problems = self.model.set_node(network_id, ident, raw)
        elif kind == "PortChanged":
            obj = body.get("curr") or body.get("prev")
            node_id = obj.get("node_id") if isinstance(obj, dict) else None
            if not isinstance(node_id, str) or not node_id:
                return
            raw = await self._get(
                network_id, f"topology/nodes/{node_id}/ports/{ident}", missing=True
            )
            problems = self.model.set_port(network_id, node_id, ident, raw)
        else:
            raw = await self._get(network_id, f"topology/links/{ident}", missing=True)
            problems = self.model.set_link(network_id, ident, raw)
        for problem in problems:
            log.warning("%s: skipped: %s", self.id, problem)
        await self._sync_topology()
        await self._resync(set())

    async def _sync_topology(self) -> None:
        """Make the federated topology the wanted picture (only the difference is sent),
        then the ``is_boundary`` marks."""
        fed = self._fed()
        picture = self.model.federated()
        for problem in self.model.collisions:
            if problem not in self._reported:
                log.warning("%s: name collision: %s", self.id, problem)
        self._reported = set(self.model.collisions)
        for name in sorted(set(self._shown_links) - set(picture.links)):
            if await self._delete(fed, f"topology/links/{name}"):
                self._shown_links.pop(name, None)
        for key in sorted(set(self._shown_ports) - set(picture.ports)):
            if key[0] in picture.nodes and await self._delete(
                fed, f"topology/nodes/{key[0]}/ports/{key[1]}"
            ):
                self._shown_ports.pop(key, None)
        for name in sorted(set(self._shown_nodes) - set(picture.nodes)):
            if await self._delete(fed, f"topology/nodes/{name}"):
                self._shown_nodes.pop(name, None)
                for key in [k for k in self._shown_ports if k[0] == name]:
                    del self._shown_ports[key]
                for link_id in [
                    k
                    for k, v in self._shown_links.items()
                    if name in (v.get("src_node"), v.get("dst_node"))
                ]:
                    del self._shown_links[link_id]
        for name, attributes in sorted(picture.nodes.items()):
            if self._shown_nodes.get(name) != attributes:
                node = {"type": "Node", "node_id": name, "ports": {}, "attributes": attributes}
                if await self._put(fed, f"topology/nodes/{name}", node):
                    self._shown_nodes[name] = attributes
        for (name, port_id), attributes in sorted(picture.ports.items()):
            if self._shown_ports.get((name, port_id)) != attributes:
                port = {
                    "type": "Port",
                    "node_id": name,
                    "port_id": port_id,
                    "attributes": attributes,
                }
                if await self._put(fed, f"topology/nodes/{name}/ports/{port_id}", port):
                    self._shown_ports[(name, port_id)] = attributes
        for name, link in sorted(picture.links.items()):
            if self._shown_links.get(name) != _link_view(link) and await self._put(
                fed, f"topology/links/{name}", link
            ):
                self._shown_links[name] = _link_view(link)
        wanted = self.model.boundary_ports_shown()
        for nw, node_id, port_id in sorted(wanted):
            await self._mark(nw, node_id, port_id, True)

    async def _mark(self, network_id: str, node_id: str, port_id: str, on: bool) -> None:
        """Set an original port's ``is_boundary`` to ``"true"`` (``on``) or back to the
        network's default ``"false"``, if it needs it."""
        original = self.model.originals.get(network_id)
        port = original.ports.get((node_id, port_id)) if original is not None else None
        if port is None or (port["attributes"].get(IS_BOUNDARY) == "true") == on:
            return
        path = f"topology/nodes/{node_id}/ports/{port_id}"
        raw = await self._get(network_id, path, missing=True)
        if not isinstance(raw, dict):
            return
        attributes = _attrs(raw)
        attributes[IS_BOUNDARY] = "true" if on else "false"  # the network's default
        if await self._put(network_id, path, {**raw, "attributes": attributes}):
            port["attributes"] = attributes


def _attrs(obj: Any) -> dict[str, Any]:
    raw = obj.get("attributes") if isinstance(obj, dict) else None
    return dict(raw) if isinstance(raw, dict) else {}


def _link_view(link: dict[str, Any]) -> dict[str, Any]:
    return {
        key: link.get(key) if key != "attributes" else _attrs(link)
        for key in ("src_node", "src_port", "dst_node", "dst_port", "attributes")
    }
