"""The LinkLayerizer (ODENOS's ``C/linklayerizer/``): a lower network's flows shown as
links of the upper network's topology.

Connections: ``lower`` (e.g. an optical network), ``upper`` (e.g. a packet network)
and ``layerized`` (what clients use), at most one each.  Once it holds the upper and
the layerized network it keeps:

* **The layerized topology** = the upper topology (same node, port and link ids and
  attributes; :func:`~.translation.mirror`), followed by every ``NodeChanged``/
  ``PortChanged``/``LinkChanged`` of the upper network, plus
* **one link per pair of boundaries** joined by a lower flow (:func:`~.translation.link_of`):
  ``<src boundary>_<dst boundary>`` between the boundaries' upper ports, with the lower
  flow's state as attributes, changed or removed as the lower flow changes.  With
  ``upper_link_sync`` on (the default) the same link is put in the upper network too
  (and removed from it when the setting goes off).  The maps ``lower_flows`` (link ->
  lower flows) and ``layerized_links`` (lower flow -> link) are served over REST.
* **The layerized flows carried by the upper network** under the same ids
  (:func:`~.translation.upper_flow`), their status following the upper flows' through
  the network's status machine, as the Aggregator does (a layerized ``DELETE`` tears the
  upper flow down first; a flow that cannot be carried goes ``failed`` with a ``reason``).
  An upper flow of that id that the LinkLayerizer did not make is never touched: the
  layerized flow fails instead.
* **Packets**: an InPacket queued in the upper network goes to the layerized network's
  ``in`` queue, unless it came in at a port with a layerized link (traffic inside the
  network: dropped); an OutPacket queued in the layerized network goes to the upper
  network's ``out`` queue.  Node and port ids are the same in both.
* **Boundary ports** of both networks carry the attribute ``is_boundary: "true"``.

Level-triggered, one piece at a time under one lock, as the Aggregator: an event says
which object changed, its current state is read (``GET``) and acted on.  Durable
(``self.state``): the boundaries, ``upper_link_sync``, the lower flow -> link map, the
upper links and flows it made, which teardowns were its own, which flows it failed and
which ports it marked.  The rest is read again from the networks when a connection is
(re-)added, retried with a growing delay while a network does not answer.

This module puts the parts together (see :mod:`.base`) and holds what is the whole
component's: the durable state read back, the connections, the build from the networks
(and its retries), the clean-up on a disconnect, and the events handed to the parts.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from odenos.components.linklayerizer.api import LinkLayerizerApi
from odenos.components.linklayerizer.base import (
    BOUNDARY,
    CARRIED,
    EVENTS,
    FAILED_FLOWS,
    LAYERIZED,
    LINK_MAP,
    LOWER,
    MARKED,
    OWN_TEARDOWNS,
    SYNC,
    UPPER,
    UPPER_LINKS,
    _flows,
    _mapping,
)
from odenos.components.linklayerizer.boundary_ports import BoundaryPorts
from odenos.components.linklayerizer.flows import FlowCarrying
from odenos.components.linklayerizer.links import LayerizedLinks
from odenos.components.linklayerizer.packets import PacketRelay
from odenos.components.linklayerizer.topology import UpperTopologyMirror
from odenos.components.linklayerizer.translation import parse_boundary
from odenos.components.logic import FAILED, NetworkAnswer, connection_ends
from odenos.errors import BadRequest
from odenos.model.event import Event

log = logging.getLogger(__name__)

__all__ = ["LinkLayerizer", "NetworkAnswer"]


class LinkLayerizer(
    LinkLayerizerApi, UpperTopologyMirror, BoundaryPorts, LayerizedLinks, FlowCarrying, PacketRelay
):
    TYPE = "LinkLayerizer"
    DESCRIPTION = "A lower network's flows shown as links of the upper network's topology"
    CONNECTION_TYPES = {LOWER: "1", UPPER: "1", LAYERIZED: "1"}
    #: An event not acted on has everything built again (:meth:`_repair_later`).
    REPAIRS_LATER = True

    # --- durable state -----------------------------------------------------------------------

    async def on_initialize(self) -> None:
        self.boundaries = {}
        for key, value in self.state.items(BOUNDARY):
            # Checked again: a record written under older, looser rules would otherwise
            # stall every boundary after it (or fail on a missing key).
            try:
                boundary = parse_boundary(value, key[len(BOUNDARY) :])
            except BadRequest as exc:
                log.warning("%s: stored boundary %s skipped: %s", self.id, key, exc)
                continue
            self.boundaries[boundary["id"]] = boundary
        self.sync = self.state.get(SYNC, True) is not False
        stored = self.state.get(LINK_MAP)
        self.link_map = dict(stored) if isinstance(stored, dict) else {}
        self.upper_links = set(self.state.get(UPPER_LINKS) or [])
        self.carried = set(self.state.get(CARRIED) or [])
        self._own_teardowns = set(self.state.get(OWN_TEARDOWNS) or [])
        self.failed = set(self.state.get(FAILED_FLOWS) or [])
        self.marked = {
            (str(x[0]), str(x[1]), str(x[2]))
            for x in self.state.get(MARKED) or []
            if isinstance(x, list) and len(x) == 3
        }

    async def on_finalize(self) -> None:
        self._stop_retry()
        for task in list(self._tasks):
            task.cancel()

    # --- connections -------------------------------------------------------------------------

    async def on_connection_added(self, connection: dict[str, Any]) -> None:
        kind, network_id = _ends(connection)
        held = self.networks[kind]
        if held is not None and held != network_id:
            raise ValueError(f"{self.id} already has {held!r} as its {kind} network")
        for other, net in self.networks.items():
            if other != kind and net == network_id:
                raise ValueError(f"{network_id!r} is already the {other} network of {self.id}")
        async with self._lock:
            self.networks[kind] = network_id
            await self.subscribe(network_id, EVENTS[kind])
        log.info("%s: %s network is %s", self.id, kind, network_id)
        await self._build_or_retry()

    async def on_connection_deleted(self, connection: dict[str, Any]) -> None:
        kind, network_id = _ends(connection)
        self._stop_retry()
        async with self._lock:
            await self.unsubscribe(network_id)
            if self.networks[kind] != network_id:
                return
            try:
                if kind == LOWER:
                    await self._drop_lower()
                else:
                    await self._clean_up()
            except NetworkAnswer as exc:
                log.warning("%s: clean-up of %s incomplete: %s", self.id, network_id, exc)
            self.networks[kind] = None
            self._save()
        log.info("%s: let go of %s network %s", self.id, kind, network_id)

    def _repair_later(self) -> None:
        """A network did not answer: build everything again from the networks (with the
        growing delay of :meth:`_retry_rebuild`), so that what was acknowledged meanwhile
        (a boundary, the sync setting, an event's change) is carried out once they answer.
        Without it nothing came back to it until the next event of that kind."""
        if self._retry is None or self._retry.done():
            self._retry = asyncio.get_running_loop().create_task(self._retry_rebuild())

    def _retrying(self) -> bool:
        return True  # even once ready: a repair builds everything again

    async def _rebuild(self) -> None:
        """Build everything from the networks (what is connected of them)."""
        upper, layer = self.networks[UPPER], self.networks[LAYERIZED]
        self.ready = False
        if upper is None or layer is None:
            return
        await self._mirror_all(upper, layer)
        await self._mark_ports()
        await self._rebuild_lower()
        self.ready = True
        flow_ids = set(self.carried) | set(_flows(await self._get(layer, "flows"), layer))
        for flow_id in sorted(flow_ids):
            await self._sync_flow_logged(flow_id)
        log.info(
            "%s: built: %d boundaries, links %s", self.id, len(self.boundaries), self.lower_flows()
        )

    async def _clean_up(self) -> None:
        """Remove what it made in the upper and layerized networks (a disconnect)."""
        upper, layer = self.networks[UPPER], self.networks[LAYERIZED]
        self.ready = False
        if upper is not None:
            for flow_id in sorted(self.carried):
                await self._delete(upper, f"flows/{flow_id}")
            for ident in sorted(self.upper_links):
                await self._delete(upper, f"topology/links/{ident}")
        if layer is not None and upper is not None:
            flows = _flows(await self._get(layer, "flows"), layer)
            for flow_id in sorted(self.carried):
                flow = flows.get(flow_id)
                if isinstance(flow, dict) and flow.get("status") != FAILED:
                    await self._set_status(flow, FAILED, "the LinkLayerizer let go of its networks")
            have = _mapping(await self._get(layer, "topology"), layer)
            for ident in _mapping(have.get("links", {}), layer):
                await self._delete(layer, f"topology/links/{ident}")
            for node_id in _mapping(have.get("nodes", {}), layer):
                await self._delete(layer, f"topology/nodes/{node_id}")
        await self._unmark(upper)
        self.link_map.clear()
        self.lower_bodies.clear()
        self.upper_links.clear()
        self.carried.clear()
        self._own_teardowns.clear()
        self.failed.clear()
        self.uses.clear()

    # --- events ------------------------------------------------------------------------------

    async def _handle(self, event: Event) -> None:
        body = event.body
        ident = body.get("id")
        if not isinstance(ident, str) or not ident:
            return
        kind = next((k for k, v in self.networks.items() if v == event.publisher_id), None)
        obj = body.get("curr") or body.get("prev")
        node_id = obj.get("node_id") if isinstance(obj, dict) else None
        etype = event.event_type
        if kind == LOWER:
            if etype == "FlowChanged":
                await self._lower_flow_changed(ident)
            elif etype == "PortChanged" and isinstance(node_id, str):
                await self._mark_port(event.publisher_id, node_id, ident)
        elif kind == UPPER:
            if etype == "FlowChanged":
                if ident in self.carried or ident in self.failed:
                    await self._sync_flow(ident)
            elif etype == "NodeChanged":
                await self._node_changed(ident)
            elif etype == "PortChanged" and isinstance(node_id, str):
                await self._port_changed(node_id, ident)
            elif etype == "LinkChanged":
                await self._link_changed(ident)
            elif etype == "InPacketAdded":
                await self._packet_up(ident)
        elif kind == LAYERIZED:
            if etype == "FlowChanged":
                await self._sync_flow(ident)
            elif etype == "OutPacketAdded":
                await self._packet_down(ident)


def _ends(connection: dict[str, Any]) -> tuple[str, str]:
    return connection_ends(connection, (LOWER, UPPER, LAYERIZED), "a LinkLayerizer")
