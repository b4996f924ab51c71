"""The layerized topology as a mirror of the upper one.

The layerized network shows the upper topology (same node, port and link ids and
attributes; :func:`~.translation.mirror`): built whole by
:meth:`UpperTopologyMirror._mirror_all`, then followed by every ``NodeChanged``/
``PortChanged``/``LinkChanged`` of the upper network.  The links made from lower flows
(:mod:`.links`) are left to their own part, but a port coming or going may place or
displace one of them.
"""

from __future__ import annotations

from odenos.components.linklayerizer.base import LinkLayerizerBase, _mapping
from odenos.components.linklayerizer.translation import mirror


class UpperTopologyMirror(LinkLayerizerBase):
    """The upper topology, mirrored in the layerized network."""

    async def _mirror_all(self, upper: str, layer: str) -> None:
        top = _mapping(await self._get(upper, "topology"), upper)
        have = _mapping(await self._get(layer, "topology"), layer)
        nodes, links = _mapping(top.get("nodes", {}), upper), _mapping(top.get("links", {}), upper)
        made = set(self.link_map.values()) | self.upper_links
        wanted_links = {k: v for k, v in links.items() if k not in made and isinstance(v, dict)}
        have_nodes = _mapping(have.get("nodes", {}), layer)
        have_links = _mapping(have.get("links", {}), layer)
        for ident in have_links:
            if ident not in wanted_links and ident not in made:
                await self._delete(layer, f"topology/links/{ident}")
        for node_id, node in have_nodes.items():
            upper_node = nodes.get(node_id)
            if not isinstance(upper_node, dict):
                await self._delete(layer, f"topology/nodes/{node_id}")
                continue
            upper_ports = _mapping(upper_node.get("ports", {}), upper)
            for port_id in _mapping(node.get("ports", {}) if isinstance(node, dict) else {}, layer):
                if port_id not in upper_ports:
                    await self._delete(layer, f"topology/nodes/{node_id}/ports/{port_id}")
        for node_id, node in nodes.items():
            if not isinstance(node, dict):
                continue
            current = have_nodes.get(node_id)
            await self._put_if(layer, f"topology/nodes/{node_id}", mirror(node, "Node"), current)
            have_ports = current.get("ports", {}) if isinstance(current, dict) else {}
            for port_id, port in _mapping(node.get("ports", {}), upper).items():
                if isinstance(port, dict):
                    await self._put_if(
                        layer,
                        f"topology/nodes/{node_id}/ports/{port_id}",
                        mirror(port, "Port"),
                        have_ports.get(port_id) if isinstance(have_ports, dict) else None,
                    )
        for ident, link in wanted_links.items():
            await self._put_if(
                layer, f"topology/links/{ident}", mirror(link, "Link"), have_links.get(ident)
            )

    async def _node_changed(self, node_id: str) -> None:
        upper, layer = self._pair()
        raw = await self._get(upper, f"topology/nodes/{node_id}", missing=True)
        if isinstance(raw, dict):
            current = await self._get(layer, f"topology/nodes/{node_id}", missing=True)
            await self._put_if(layer, f"topology/nodes/{node_id}", mirror(raw, "Node"), current)
            return
        await self._unlink(layer, node_id, None)
        await self._delete(layer, f"topology/nodes/{node_id}")

    async def _port_changed(self, node_id: str, port_id: str) -> None:
        upper, layer = self._pair()
        path = f"topology/nodes/{node_id}/ports/{port_id}"
        raw = await self._get(upper, path, missing=True)
        if isinstance(raw, dict):
            current = await self._get(layer, path, missing=True)
            await self._put_if(layer, path, mirror(raw, "Port"), current)
            await self._mark_port(upper, node_id, port_id)
        else:
            await self._unlink(layer, node_id, port_id)
            await self._delete(layer, path)
        # A link made from a lower flow may now be placed (or no longer be).
        for ident in sorted(set(self.link_map.values())):
            body = self._wanted_link(ident)
            if body is not None and (node_id, port_id) in (
                (body["src_node"], body["src_port"]),
                (body["dst_node"], body["dst_port"]),
            ):
                await self._sync_link(ident)

    async def _unlink(self, layer: str, node_id: str, port_id: str | None) -> None:
        """Delete the layerized links at a node (or one of its ports) about to go."""
        links = _mapping(await self._get(layer, "topology/links"), layer)
        for ident, link in links.items():
            if not isinstance(link, dict):
                continue
            for end in ("src", "dst"):
                if link.get(f"{end}_node") == node_id and (
                    port_id is None or link.get(f"{end}_port") == port_id
                ):
                    await self._delete(layer, f"topology/links/{ident}")
                    break

    async def _link_changed(self, ident: str) -> None:
        upper, layer = self._pair()
        if ident in self.upper_links or ident in self.link_map.values():
            await self._sync_link(ident)  # ours: put back as it should be
            return
        raw = await self._get(upper, f"topology/links/{ident}", missing=True)
        if isinstance(raw, dict):
            current = await self._get(layer, f"topology/links/{ident}", missing=True)
            await self._put_if(layer, f"topology/links/{ident}", mirror(raw, "Link"), current)
        else:
            await self._delete(layer, f"topology/links/{ident}")
        await self._resync(ident)
