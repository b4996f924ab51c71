"""The layerized links: one per pair of boundaries joined by a lower flow.

A lower flow between two boundaries (:func:`~.translation.link_of`) makes the link
``<src boundary>_<dst boundary>`` between the boundaries' upper ports, with the (best)
lower flow's state as attributes (:func:`~.translation.best_flow`,
:func:`~.translation.link_body`); it is changed or removed as the lower flows change.
With ``upper_link_sync`` on the same link is put in the upper network too, and removed
from it when the setting goes off.  The map lower flow -> link is ``link_map``; a link
changing makes the layerized flows using it (and the failed ones) be looked at again.
"""

from __future__ import annotations

from typing import Any

from odenos.components.linklayerizer.base import LOWER, LinkLayerizerBase, _flows
from odenos.components.linklayerizer.translation import best_flow, link_body, link_of


class LayerizedLinks(LinkLayerizerBase):
    """Lower flows -> layerized links (and their upper copies)."""

    async def _rebuild_lower(self) -> None:
        """Recompute the links made from lower flows.  Without a lower network (yet: after
        a restart its connection may come back last) the links made are left as they are;
        a lower disconnect removes them (:meth:`_drop_lower`)."""
        lower = self.networks[LOWER]
        if lower is None:
            return
        flows = _flows(await self._get(lower, "flows"), lower)
        old = set(self.link_map.values()) | self.upper_links
        self.link_map.clear()
        self.lower_bodies.clear()
        for flow_id, flow in flows.items():
            made = link_of(flow, self.boundaries, lower)
            if made is not None:
                self.link_map[str(flow_id)] = made[0]
                self.lower_bodies[str(flow_id)] = flow
        for ident in sorted(old | set(self.link_map.values())):
            await self._sync_link(ident)

    async def _drop_lower(self) -> None:
        old = set(self.link_map.values()) | self.upper_links
        self.link_map.clear()
        self.lower_bodies.clear()
        if self.ready:
            for ident in sorted(old):
                await self._sync_link(ident)
        await self._unmark(self.networks[LOWER])

    async def _lower_flow_changed(self, flow_id: str) -> None:
        lower = self.networks[LOWER]
        if lower is None:
            return
        flow = await self._get(lower, f"flows/{flow_id}", missing=True)
        made = link_of(flow, self.boundaries, lower)
        old = self.link_map.pop(flow_id, None)
        self.lower_bodies.pop(flow_id, None)
        if made is not None and isinstance(flow, dict):
            self.link_map[flow_id] = made[0]
            self.lower_bodies[flow_id] = flow
        for ident in sorted({x for x in (old, made[0] if made else None) if x is not None}):
            await self._sync_link(ident)

    def _wanted_link(self, ident: str) -> dict[str, Any] | None:
        """The layerized link ``ident`` as its lower flows make it now, or None."""
        lower = self.networks[LOWER]
        flows = [self.lower_bodies[f] for f, x in self.link_map.items() if x == ident]
        flows = [f for f in flows if f is not None]
        best = best_flow(flows)
        if best is None or lower is None:
            return None
        made = link_of(best, self.boundaries, lower)
        if made is None:
            return None
        return link_body(ident, made[1], made[2], best)

    async def _sync_link(self, ident: str) -> None:
        """Bring layerized link ``ident`` (and its upper copy) in line with its lower flows."""
        upper, layer = self._pair()
        if self.networks[LOWER] is None:
            return  # not known yet (see _rebuild_lower)
        body = self._wanted_link(ident)
        path = f"topology/links/{ident}"
        if body is None:
            await self._delete(layer, path)
            if ident in self.upper_links and await self._delete(upper, path):
                self.upper_links.discard(ident)
        else:
            current = await self._get(layer, path, missing=True)
            await self._put_if(layer, path, body, current)
            if self.sync:
                self.upper_links.add(ident)
                self._save()
                await self.state.flush()
                current = await self._get(upper, path, missing=True)
                await self._put_if(upper, path, body, current)
            elif ident in self.upper_links and await self._delete(upper, path):
                self.upper_links.discard(ident)
        await self._resync(ident)

    async def _resync(self, ident: str) -> None:
        """Look again at the layerized flows using link ``ident``, and the failed ones."""
        concerned = set(self.failed) | {f for f, used in self.uses.items() if ident in used}
        for flow_id in sorted(concerned):
            await self._sync_flow_logged(flow_id)
