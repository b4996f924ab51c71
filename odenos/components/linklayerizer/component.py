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
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

from odenos.components.aggregator.translation import (
    REASON,
    UntranslatableFlow,
    same_content,
    status_steps,
)
from odenos.components.base import Component, Request, Response, route
from odenos.components.linklayerizer.translation import (
    best_flow,
    boundary_clash,
    check_id,
    link_body,
    link_of,
    mirror,
    parse_boundary,
    same_object,
    upper_flow,
)
from odenos.errors import BadRequest, Conflict, NotFound, OdenosError
from odenos.model.event import Event

log = logging.getLogger(__name__)

LOWER, UPPER, LAYERIZED = "lower", "upper", "layerized"
EVENTS = {
    LOWER: ["FlowChanged", "PortChanged"],
    UPPER: ["NodeChanged", "PortChanged", "LinkChanged", "FlowChanged", "InPacketAdded"],
    LAYERIZED: ["FlowChanged", "OutPacketAdded"],
}
NONE, ESTABLISHING, TEARDOWN, FAILED = "none", "establishing", "teardown", "failed"
IS_BOUNDARY = "is_boundary"

# Durable records.
BOUNDARY, SYNC, LINK_MAP = "boundary/", "upper_link_sync", "layerized_links"
UPPER_LINKS, CARRIED, OWN_TEARDOWNS, FAILED_FLOWS, MARKED = (
    "upper_links",
    "carried",
    "own_teardowns",
    "failed",
    "marked_ports",
)


class NetworkAnswer(OdenosError):
    """A network did not answer as expected (unreachable, refused, malformed body)."""

    code = "NetworkAnswer"
    status = 502

    def __init__(self, network_id: str, what: str, reply: Response | None) -> None:
        status = None if reply is None else reply.status
        body = None if reply is None else reply.body
        super().__init__(f"{network_id}: {what}: {status} {body}", network_id=network_id)


class LinkLayerizer(Component):
    TYPE = "LinkLayerizer"
    DESCRIPTION = "A lower network's flows shown as links of the upper network's topology"
    CONNECTION_TYPES = {LOWER: "1", UPPER: "1", LAYERIZED: "1"}

    RETRY_FIRST, RETRY_CAP = 0.5, 10.0

    def __init__(self, object_id: str, cm_id: str) -> None:
        super().__init__(object_id, cm_id)
        self.networks: dict[str, str | None] = {LOWER: None, UPPER: None, LAYERIZED: None}
        self.boundaries: dict[str, dict[str, str]] = {}
        self.sync = True
        #: Lower flow -> the layerized link it makes (ODENOS's ``layerized_links``).
        self.link_map: dict[str, str] = {}
        #: Lower flows as last read (those in ``link_map``).
        self.lower_bodies: dict[str, dict[str, Any]] = {}
        #: Links it put in the upper network (with ``upper_link_sync``).
        self.upper_links: set[str] = set()
        #: Layerized flows it put in the upper network (same ids).
        self.carried: set[str] = set()
        self.own_teardowns: set[str] = set()
        self.failed: set[str] = set()
        #: [network, node, port] it gave ``is_boundary``.
        self.marked: set[tuple[str, str, str]] = set()
        #: Layerized flow -> the links its path and its upper flow's path use.
        self.uses: dict[str, set[str]] = {}
        self.ready = False
        self._lock = asyncio.Lock()
        self._retry: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

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
        self.own_teardowns = set(self.state.get(OWN_TEARDOWNS) or [])
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

    def _save(self) -> None:
        self.state.write(
            {
                SYNC: self.sync,
                LINK_MAP: self.link_map,
                UPPER_LINKS: sorted(self.upper_links),
                CARRIED: sorted(self.carried),
                OWN_TEARDOWNS: sorted(self.own_teardowns),
                FAILED_FLOWS: sorted(self.failed),
                MARKED: sorted(list(x) for x in self.marked),
            }
        )

    def lower_flows(self) -> dict[str, list[str]]:
        """ODENOS's ``lower_flows``: layerized link -> the lower flows making it."""
        flows: dict[str, list[str]] = {}
        for flow_id, ident in sorted(self.link_map.items()):
            flows.setdefault(ident, []).append(flow_id)
        return flows

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
        self._stop_retry()
        if not await self._try_rebuild():
            self._retry = asyncio.get_running_loop().create_task(self._retry_rebuild())

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

    def _stop_retry(self) -> None:
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None

    async def _try_rebuild(self) -> bool:
        async with self._lock:
            try:
                await self._rebuild()
            except NetworkAnswer as exc:
                log.warning("%s: cannot build from the networks yet: %s", self.id, exc)
                return False
            finally:
                self._save()
        return True

    def _repair_later(self) -> None:
        """A network did not answer: build everything again from the networks (with the
        growing delay of :meth:`_retry_rebuild`), so that what was acknowledged meanwhile
        (a boundary, the sync setting, an event's change) is carried out once they answer.
        Without it nothing came back to it until the next event of that kind."""
        if self._retry is None or self._retry.done():
            self._retry = asyncio.get_running_loop().create_task(self._retry_rebuild())

    async def _retry_rebuild(self) -> None:
        delay = self.RETRY_FIRST
        while True:
            await asyncio.sleep(delay)
            if await self._try_rebuild():
                return
            delay = min(delay * 2, self.RETRY_CAP)

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
        self.own_teardowns.clear()
        self.failed.clear()
        self.uses.clear()

    # --- events ------------------------------------------------------------------------------

    async def on_event(self, event: Event) -> None:
        async with self._lock:
            if not self.ready:
                return
            try:
                await self._handle(event)
            except NetworkAnswer as exc:
                log.warning(
                    "%s: %s from %s not acted on (built again later): %s",
                    self.id,
                    event.event_type,
                    event.publisher_id,
                    exc,
                )
                self._repair_later()
            finally:
                self._save()

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

    # --- the upper topology, mirrored ---------------------------------------------------------

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

    # --- boundary ports ----------------------------------------------------------------------

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

    # --- lower flows -> layerized links ----------------------------------------------------------

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

    # --- layerized flows -> upper flows ----------------------------------------------------------

    async def _sync_flow_logged(self, flow_id: str) -> None:
        try:
            await self._sync_flow(flow_id)
        except NetworkAnswer as exc:
            log.warning("%s: flow %s not brought in line: %s", self.id, flow_id, exc)

    async def _sync_flow(self, flow_id: str) -> None:
        """Bring layerized flow ``flow_id`` and its upper flow in line (see the module
        docstring and the Aggregator's ``_sync_flow``, whose rules these are)."""
        upper, layer = self._pair()
        flow = await self._get(layer, f"flows/{flow_id}", missing=True)
        above = await self._get(upper, f"flows/{flow_id}", missing=True)
        if flow is not None and not isinstance(flow, dict):
            raise NetworkAnswer(layer, f"GET flows/{flow_id}", None)
        if above is not None and not isinstance(above, dict):
            raise NetworkAnswer(upper, f"GET flows/{flow_id}", None)
        if above is None:
            self.carried.discard(flow_id)  # gone (or its creation never happened)
        ours = flow_id in self.carried
        if flow is None:
            self.own_teardowns.discard(flow_id)
            self.failed.discard(flow_id)
            self.uses.pop(flow_id, None)
            if above is not None and ours:
                await self._delete_upper(flow_id, above)
            return
        if above is not None and not ours:
            await self._fail(flow, None, f"the upper network has a flow {flow_id!r} of its own")
            return
        status = flow.get("status")
        if status == TEARDOWN and flow_id not in self.own_teardowns:
            if above is None:
                await self._set_status(flow, NONE)
            else:
                await self._delete_upper(flow_id, above)
            return
        try:
            wanted = await self._translate(flow, upper, layer)
        except UntranslatableFlow as exc:
            await self._fail(flow, above, exc.reason)
            return
        self.failed.discard(flow_id)
        if above is None:
            if status != NONE and await self._follow(flow, NONE, None) is None:
                return
            self.carried.add(flow_id)
            self._save()
            await self.state.flush()
            reply = await self.request(upper, "PUT", f"flows/{flow_id}", {**wanted, "version": "0"})
            if reply.status == 201:
                log.info("%s: flow %s carried by %s", self.id, flow_id, upper)
            elif reply.status == 400:
                self.carried.discard(flow_id)
                await self._fail(flow, None, f"the upper network refused it: {_message(reply)}")
            elif reply.status != 409:
                log.warning("%s: PUT %s/flows/%s: %s", self.id, upper, flow_id, reply.body)
            return
        if above.get("type", "BasicFlow") != wanted.get("type", "BasicFlow"):
            await self._delete_upper(flow_id, above)
            return
        if above.get("status") != TEARDOWN and not same_content(wanted, above):
            reply = await self.request(
                upper, "PUT", f"flows/{flow_id}", {**wanted, "version": above.get("version")}
            )
            if reply.status != 200 or not isinstance(reply.body, dict):
                if reply.status == 400:
                    await self._fail(
                        flow, above, f"the upper network refused it: {_message(reply)}"
                    )
                elif reply.status != 409:
                    log.warning("%s: PUT %s/flows/%s: %s", self.id, upper, flow_id, reply.body)
                return
            above = reply.body
        target = str(above.get("status"))
        reason = None
        if target == FAILED:
            attributes = above.get("attributes")
            given = attributes.get(REASON) if isinstance(attributes, dict) else None
            reason = str(given) if given else f"flow {flow_id!r} of {upper!r} failed"
        await self._follow(flow, target, reason)

    async def _translate(self, flow: dict[str, Any], upper: str, layer: str) -> dict[str, Any]:
        path = flow.get("path")
        flow_id = str(flow.get("flow_id"))
        if isinstance(path, list) and path:
            layer_links = _mapping(await self._get(layer, "topology/links"), layer)
            upper_links = _mapping(await self._get(upper, "topology/links"), upper)
        else:
            layer_links, upper_links = {}, {}
        used = {x for x in path if isinstance(x, str)} if isinstance(path, list) else set()
        self.uses[flow_id] = used
        wanted = upper_flow(flow, layer_links, upper_links, set(self.link_map.values()))
        self.uses[flow_id] = used | set(wanted["path"])
        return wanted

    async def _fail(self, flow: dict[str, Any], above: dict[str, Any] | None, reason: str) -> None:
        flow_id = str(flow.get("flow_id"))
        self.failed.add(flow_id)
        if above is not None and flow_id in self.carried:
            await self._delete_upper(flow_id, above)
        attributes = flow.get("attributes")
        current = attributes.get(REASON) if isinstance(attributes, dict) else None
        if flow.get("status") == FAILED and current == reason:
            return
        if await self._set_status(flow, FAILED, reason) is not None:
            log.info("%s: flow %s failed: %s", self.id, flow_id, reason)

    async def _follow(
        self, flow: dict[str, Any], target: str, reason: str | None
    ) -> dict[str, Any] | None:
        current: dict[str, Any] | None = flow
        for step in status_steps(str(flow.get("status")), target):
            if current is None:
                return None
            current = await self._set_status(current, step, reason)
        return current

    async def _set_status(
        self, flow: dict[str, Any], status: str, reason: str | None = None
    ) -> dict[str, Any] | None:
        _, layer = self._pair()
        flow_id = str(flow.get("flow_id"))
        raw = flow.get("attributes")
        attributes = dict(raw) if isinstance(raw, dict) else {}
        attributes.pop(REASON, None)
        if status == FAILED and reason is not None:
            attributes[REASON] = reason
        body = {**flow, "status": status, "attributes": attributes}
        reply = await self.request(layer, "PUT", f"flows/{flow_id}", body)
        if reply.status in (200, 201) and isinstance(reply.body, dict):
            if status == TEARDOWN:
                self.own_teardowns.add(flow_id)
            else:
                self.own_teardowns.discard(flow_id)
            log.info("%s: flow %s of %s is %s", self.id, flow_id, layer, status)
            return reply.body
        if reply.status not in (404, 409):
            log.warning("%s: setting flow %s to %s: %s", self.id, flow_id, status, reply.body)
        return None

    async def _delete_upper(self, flow_id: str, above: dict[str, Any]) -> None:
        """Delete the upper flow once at rest or installed (never while it moves)."""
        if above.get("status") in (ESTABLISHING, TEARDOWN):
            return
        upper, _ = self._pair()
        if await self._delete(upper, f"flows/{flow_id}"):
            log.info("%s: flow %s of %s deleted", self.id, flow_id, upper)

    # --- packets -----------------------------------------------------------------------------

    async def _packet_up(self, packet_id: str) -> None:
        upper, layer = self._pair()
        packet = await self._take(upper, "in", packet_id)
        if packet is None:
            return
        at = (packet.get("node"), packet.get("port"))
        for link in _mapping(await self._get(layer, "topology/links"), layer).values():
            if isinstance(link, dict) and at in (
                (link.get("src_node"), link.get("src_port")),
                (link.get("dst_node"), link.get("dst_port")),
            ):
                log.info("%s: in-packet %s came in at a linked port: dropped", self.id, packet_id)
                return
        await self._post(layer, "in", packet)

    async def _packet_down(self, packet_id: str) -> None:
        upper, layer = self._pair()
        packet = await self._take(layer, "out", packet_id)
        if packet is not None:
            await self._post(upper, "out", packet)

    async def _take(self, network: str, queue: str, packet_id: str) -> dict[str, Any] | None:
        reply = await self.request(network, "DELETE", f"packets/{queue}/{packet_id}")
        if reply.status == 404:
            return None
        if reply.status != 200:
            raise NetworkAnswer(network, f"DELETE packets/{queue}/{packet_id}", reply)
        return reply.body if isinstance(reply.body, dict) else None

    async def _post(self, network: str, queue: str, packet: dict[str, Any]) -> None:
        body = {k: v for k, v in packet.items() if k != "packet_id"}
        reply = await self.request(network, "POST", f"packets/{queue}", body)
        if reply.status not in (200, 201):
            log.warning("%s: POST %s/packets/%s: %s", self.id, network, queue, reply.body)

    # --- requests ----------------------------------------------------------------------------

    def _pair(self) -> tuple[str, str]:
        upper, layer = self.networks[UPPER], self.networks[LAYERIZED]
        if upper is None or layer is None:
            raise NetworkAnswer(self.id, "no request", None)
        return upper, layer

    async def _get(self, network: str, path: str, missing: bool = False) -> Any:
        reply = await self.request(network, "GET", path)
        if reply.status == 200:
            return reply.body
        if missing and reply.status == 404 and _error_code(reply) == "NotFound":
            return None
        raise NetworkAnswer(network, f"GET {path}", reply)

    async def _put_if(self, network: str, path: str, body: dict[str, Any], current: Any) -> None:
        if same_object(body, current):
            return
        reply = await self.request(network, "PUT", path, body)
        if reply.status not in (200, 201):
            log.warning("%s: PUT %s/%s: %s %s", self.id, network, path, reply.status, reply.body)

    async def _delete(self, network: str, path: str) -> bool:
        reply = await self.request(network, "DELETE", path)
        if reply.status in (200, 202) or (reply.status == 404 and _error_code(reply) == "NotFound"):
            return True
        log.warning("%s: DELETE %s/%s: %s %s", self.id, network, path, reply.status, reply.body)
        return False

    # --- REST --------------------------------------------------------------------------------

    def _later(self, work: str) -> None:
        """Bring the networks in line with changed settings, in the background (under the
        lock, after the answer)."""

        async def run() -> None:
            async with self._lock:
                if not self.ready:
                    return
                try:
                    try:
                        await self._mark_ports()
                    finally:
                        await self._rebuild_lower()
                except NetworkAnswer as exc:
                    log.warning(
                        "%s: %s not applied yet (built again later): %s", self.id, work, exc
                    )
                    self._repair_later()
                finally:
                    self._save()

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @route("GET", "settings/upper_link_sync")
    async def get_upper_link_sync(self, request: Request) -> Response:
        return Response(200, {"sync": self.sync})

    @route("PUT", "settings/upper_link_sync")
    async def put_upper_link_sync(self, request: Request) -> Response:
        body = request.json_object()
        sync = body.get("sync")
        if not isinstance(sync, bool):
            raise BadRequest(f"sync must be true or false, not {sync!r}", field="sync")
        self.state.put(SYNC, sync)
        if sync != self.sync:
            self.sync = sync
            self._later("upper_link_sync")
        return Response(200, {"sync": self.sync})

    def _store_boundary(self, boundary: dict[str, str]) -> None:
        clash = boundary_clash(boundary, self.boundaries)
        if clash is not None:
            raise Conflict(f"boundary {clash!r} already uses one of these ports", boundary_id=clash)
        self.state.put(BOUNDARY + boundary["id"], boundary)
        self.boundaries = {**self.boundaries, boundary["id"]: boundary}
        self._later(f"boundary {boundary['id']}")

    @route("POST", "settings/boundaries")
    async def post_boundary(self, request: Request) -> Response:
        boundary = parse_boundary(request.body, str(uuid.uuid4()))
        self._store_boundary(boundary)
        return Response(200, boundary)

    @route("GET", "settings/boundaries")
    async def get_boundaries(self, request: Request) -> Response:
        return Response(200, dict(self.boundaries))

    @route("GET", "settings/boundaries/<boundary_id>")
    async def get_boundary(self, request: Request, boundary_id: str) -> Response:
        return Response(200, self._boundary(boundary_id))

    @route("PUT", "settings/boundaries/<boundary_id>")
    async def put_boundary(self, request: Request, boundary_id: str) -> Response:
        boundary = parse_boundary(request.body, boundary_id)
        self._store_boundary(boundary)
        return Response(200, boundary)

    @route("DELETE", "settings/boundaries/<boundary_id>")
    async def delete_boundary(self, request: Request, boundary_id: str) -> Response:
        self._boundary(boundary_id)
        self.state.delete(BOUNDARY + boundary_id)
        self.boundaries = {k: v for k, v in self.boundaries.items() if k != boundary_id}
        self._later(f"deletion of boundary {boundary_id}")
        return Response(200)

    def _boundary(self, boundary_id: str) -> dict[str, str]:
        check_id(boundary_id, "boundary_id")
        boundary = self.boundaries.get(boundary_id)
        if boundary is None:
            raise NotFound(f"{self.id} has no boundary {boundary_id!r}", boundary_id=boundary_id)
        return boundary

    @route("GET", "lower_flows")
    async def get_lower_flows(self, request: Request) -> Response:
        return Response(200, self.lower_flows())

    @route("GET", "lower_flows/<link_id>")
    async def get_lower_flows_of(self, request: Request, link_id: str) -> Response:
        flows = self.lower_flows().get(link_id)
        if flows is None:
            raise NotFound(f"no lower flow makes link {link_id!r}", link_id=link_id)
        return Response(200, flows)

    @route("GET", "layerized_links")
    async def get_layerized_links(self, request: Request) -> Response:
        return Response(200, dict(sorted(self.link_map.items())))

    @route("GET", "layerized_links/<flow_id>")
    async def get_layerized_link(self, request: Request, flow_id: str) -> Response:
        ident = self.link_map.get(flow_id)
        if ident is None:
            raise NotFound(f"lower flow {flow_id!r} makes no link", flow_id=flow_id)
        return Response(200, ident)


def _ends(connection: dict[str, Any]) -> tuple[str, str]:
    kind, network_id = connection.get("connection_type"), connection.get("network_id")
    if kind not in (LOWER, UPPER, LAYERIZED):
        raise ValueError(
            f"a LinkLayerizer takes {LOWER!r}, {UPPER!r} and {LAYERIZED!r} connections, "
            f"not {kind!r}"
        )
    if not isinstance(network_id, str) or not network_id:
        raise ValueError(f"connection {connection.get('id')!r} names no network")
    return str(kind), network_id


def _error_code(reply: Response) -> str | None:
    return reply.body.get("error") if isinstance(reply.body, dict) else None


def _message(reply: Response) -> str:
    body = reply.body
    return str(body.get("message", body)) if isinstance(body, dict) else str(body)


def _mapping(body: Any, network_id: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise NetworkAnswer(network_id, "an answer that is not a JSON object", None)
    return body


def _flows(body: Any, network_id: str) -> dict[str, Any]:
    return _mapping(_mapping(body, network_id).get("flows"), network_id)
