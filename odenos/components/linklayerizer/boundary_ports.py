"""The boundary ports' marks: ``is_boundary: "true"`` on the ports of both networks a
boundary names.

Only ports it marked are ever unmarked (the set ``marked``, durable), and a port is
written with the version it was read at, so that what someone else set meanwhile is
not lost.
"""

from __future__ import annotations

import logging

from odenos.components.linklayerizer.base import IS_BOUNDARY, LOWER, UPPER, LinkLayerizerBase
from odenos.components.logic import NetworkAnswer

log = logging.getLogger(__name__)


class BoundaryPorts(LinkLayerizerBase):
    """Marking and unmarking the boundary ports of the lower and upper networks."""

    def _boundary_ports(self) -> set[tuple[str, str, str]]:
        ports = set()
        for b in self.boundaries.values():
            for side in ("lower", "upper"):
                ports.add((b[f"{side}_nw"], b[f"{side}_nw_node"], b[f"{side}_nw_port"]))
        return ports

    async def _mark_ports(self) -> None:
        """Mark (and unmark) every port; one port a network does not answer for does not
        keep the others waiting: the first such answer is raised once all were tried."""
        wanted = self._boundary_ports()
        first: NetworkAnswer | None = None
        for key in sorted(wanted | self.marked):
            try:
                await self._mark_port(*key)
            except NetworkAnswer as exc:
                first = first or exc
        if first is not None:
            raise first

    async def _unmark(self, network: str | None) -> None:
        for key in sorted(self.marked):
            if key[0] == network:
                await self._set_is_boundary(key, False)

    async def _mark_port(self, network: str, node_id: str, port_id: str) -> None:
        """Give a boundary port ``is_boundary: "true"``; take it from a port that is no
        longer one (only from ports it marked)."""
        key = (network, node_id, port_id)
        if network not in (self.networks[LOWER], self.networks[UPPER]):
            return
        if key in self._boundary_ports():
            await self._set_is_boundary(key, True)
        elif key in self.marked:
            await self._set_is_boundary(key, False)

    async def _set_is_boundary(self, key: tuple[str, str, str], on: bool) -> None:
        network, node_id, port_id = key
        path = f"topology/nodes/{node_id}/ports/{port_id}"
        port = await self._get(network, path, missing=True)
        if not isinstance(port, dict):
            if not on:
                self.marked.discard(key)
            return
        raw = port.get("attributes")
        attributes = dict(raw) if isinstance(raw, dict) else {}
        if on:
            self.marked.add(key)
            if attributes.get(IS_BOUNDARY) == "true":
                return
            attributes[IS_BOUNDARY] = "true"
        else:
            self.marked.discard(key)
            if attributes.get(IS_BOUNDARY, "false") == "false":
                return
            attributes[IS_BOUNDARY] = "false"  # the network's default
        body = {"type": "Port", "node_id": node_id, "port_id": port_id, "attributes": attributes}
        if isinstance(port.get("version"), str):
            # The port as read, or a 409: without it, an attribute someone else (the
            # Federator marking the same port, a driver) set since the read would be
            # lost; after a 409 the PortChanged of that change brings it here again.
            body["version"] = port["version"]
        reply = await self.request(network, "PUT", path, body)
        if reply.status not in (200, 201):
            log.warning("%s: PUT %s/%s: %s %s", self.id, network, path, reply.status, reply.body)
