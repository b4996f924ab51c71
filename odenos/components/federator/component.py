"""The Federator (research section 2): several original networks shown as one.

Connections: ``original`` (any number of member networks) and ``federated`` (the
one network it presents).  Once it holds the federated network it keeps:

* **The topology**: every original node, port and link shown in the federated
  network under ODENOS's names (:mod:`.naming`: node ``<nw>_<node>``, ports
  keep their ids, link ``<nw>_<link>``) through a real map
  (:class:`~.model.Federation`; a name two originals would share is shown for
  one and skipped, with a warning, for the other), with their attributes;
  added, updated and removed as the originals change.
* **Boundaries** (``settings/boundaries``, durable): each joins a port of one
  original network to a port of another.  While both ports exist it is shown
  as two federated links, ``<id>_link01`` (port1 to port2) and ``<id>_link02``,
  and both original ports carry the attribute ``is_boundary: "true"``.
* **Flows** (:mod:`.translation`): each federated flow is carried by one
  segment flow per stretch of its path inside one original network, and its
  status follows theirs through the network's status machine.  A flow it
  cannot carry goes ``failed`` with a ``reason`` attribute and is tried again
  when the topology or the boundaries change.
* **Packets** (:mod:`.packets`).

Level-triggered, as the Aggregator: an event says which object to read, and
all the work runs one piece at a time under one lock.  The federated topology
is kept as a whole: after each change the wanted picture is compared with
what the federated network was last given, and only the difference is sent.

Restart: the topologies and the segment flows are read again from the networks
(:meth:`Federator.on_connection_added`, also called for running connections
when the manager restarts), names being deterministic; the boundaries, which
teardowns were its own and which flows it failed are in its durable state.
If a network does not answer, the rebuild is retried with a growing delay.

Deleting a connection removes what the Federator made from that network (or,
for the federated network, everything it made: segment flows, the federated
topology, the federated flows' statuses back to ``none``).

The parts (all mixins over :class:`~.base.FederatorBase`, its shared state and
requests): :mod:`.api` (boundaries and maps), :mod:`.topology_sync`,
:mod:`.flow_sync` and :mod:`.packet_relay`; this module holds the lifecycle,
the connections, the build after a restart and the events.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from odenos.components.federator.api import BOUNDARY_PREFIX, FederatorApi
from odenos.components.federator.flow_sync import FlowSync
from odenos.components.federator.model import Federation, parse_boundary
from odenos.components.federator.packet_relay import PacketRelay
from odenos.components.federator.topology_sync import TopologySync
from odenos.components.logic import FAILED, NONE, NetworkAnswer, connection_ends, flow_set
from odenos.errors import BadRequest
from odenos.model.event import Event

log = logging.getLogger(__name__)

ORIGINAL = "original"
FEDERATED = "federated"
ORIGINAL_EVENTS = ["NodeChanged", "PortChanged", "LinkChanged", "FlowChanged", "InPacketAdded"]
FEDERATED_EVENTS = ["FlowChanged", "OutPacketAdded"]
BOOKKEEPING = "bookkeeping"
NETWORKS = "networks"


class Federator(FederatorApi, TopologySync, FlowSync, PacketRelay):
    TYPE = "Federator"
    DESCRIPTION = "Several original networks joined into one federated network through boundaries"
    CONNECTION_TYPES = {ORIGINAL: "*", FEDERATED: "1"}
    #: An event not acted on has everything built again (:meth:`_repair_later`).
    REPAIRS_LATER = True
    #: After a restart, how long to wait for the networks it held to be connected again
    #: before building without the missing ones (seconds).
    WAIT_CAP = 5.0

    # --- lifecycle ----------------------------------------------------------------------------

    async def on_initialize(self) -> None:
        boundaries = {}
        for key, value in self.state.items(BOUNDARY_PREFIX):
            try:
                boundary = parse_boundary(value, key[len(BOUNDARY_PREFIX) :])
            except BadRequest as exc:
                log.warning("%s: stored boundary %s skipped: %s", self.id, key, exc)
                continue
            boundaries[boundary["id"]] = boundary
        self.model.set_boundaries(boundaries)
        kept = self.state.get(BOOKKEEPING)
        kept = kept if isinstance(kept, dict) else {}
        self._own_teardowns = {str(x) for x in kept.get("own_teardowns") or []}
        self._failed = {str(x) for x in kept.get("failed") or []}
        held = self.state.get(NETWORKS)
        self._expected = {str(x) for x in held} if isinstance(held, list) else set()

    async def on_finalize(self) -> None:
        self._stop_retry()

    def _held(self) -> set[str]:
        return self.originals | ({self.federated} if self.federated is not None else set())

    def _save(self) -> None:
        self.state.write(
            {
                BOOKKEEPING: {
                    "own_teardowns": sorted(self._own_teardowns),
                    "failed": sorted(self._failed),
                },
                NETWORKS: sorted(self._held() | self._expected),
            }
        )

    # --- connections --------------------------------------------------------------------------

    async def on_connection_added(self, connection: dict[str, Any]) -> None:
        kind, network_id = _ends(connection)
        if kind == FEDERATED:
            if self.federated is not None and self.federated != network_id:
                raise ValueError(f"{self.id} already has {self.federated!r} as federated network")
            if network_id in self.originals:
                raise ValueError(f"{network_id!r} is already an original network of {self.id}")
        elif network_id == self.federated:
            raise ValueError(f"{network_id!r} is the federated network of {self.id}")
        async with self._lock:
            if kind == FEDERATED:
                self.federated = network_id
            else:
                self.originals.add(network_id)
            await self.subscribe(
                network_id, FEDERATED_EVENTS if kind == FEDERATED else ORIGINAL_EVENTS
            )
            self._save()
        log.info("%s: %s network %s", self.id, kind, network_id)
        if self.federated is not None:
            # Built in the background: after a restart the connections come back one by
            # one, and a build before all of them would fail the flows crossing the
            # networks still missing.
            self._stop_retry()
            self._retry = asyncio.get_running_loop().create_task(self._build())

    async def on_connection_deleted(self, connection: dict[str, Any]) -> None:
        kind, network_id = _ends(connection)
        self._stop_retry()
        self._expected.discard(network_id)
        async with self._lock:
            await self.unsubscribe(network_id)
            try:
                if kind == FEDERATED and network_id == self.federated:
                    await self._clean_up_federated()
                    self.federated = None
                    self._forget()
                elif kind == ORIGINAL and network_id in self.originals:
                    await self._clean_up_original(network_id)
            finally:
                self._save()
        log.info("%s: let go of %s network %s", self.id, kind, network_id)
        if self.federated is not None and not self.ready:
            self._retry = asyncio.get_running_loop().create_task(self._build())  # cut short

    def _repair_later(self) -> None:
        """A network did not answer: build again from the networks (as after a restart,
        retried with a growing delay), so that what was acknowledged meanwhile (a
        boundary, an event's change) is carried out once they answer.  Without it
        nothing came back to it until the next change."""
        if self.federated is not None and (self._retry is None or self._retry.done()):
            self._retry = asyncio.get_running_loop().create_task(self._build())

    def _forget(self) -> None:
        self.ready = False
        boundaries = self.model.boundaries
        self.model = Federation()
        self.model.set_boundaries(boundaries)
        self._shown_nodes.clear()
        self._shown_ports.clear()
        self._shown_links.clear()
        self._segments.clear()
        self._splits.clear()

    async def _build(self) -> None:
        """Wait (up to :attr:`WAIT_CAP`) for the networks held before a restart, then
        build, retrying with a growing delay while a network does not answer."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.WAIT_CAP
        while not self._expected <= self._held() and loop.time() < deadline:
            await asyncio.sleep(0.1)
        if not self._expected <= self._held():
            log.warning(
                "%s: building without %s (not connected again)",
                self.id,
                ", ".join(sorted(self._expected - self._held())),
            )
        self._expected = set()
        delay = self.RETRY_FIRST
        while self.federated is not None:
            if await self._try_rebuild():
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.RETRY_CAP)

    async def _rebuild(self) -> None:
        fed = self._fed()
        self._forget()
        for network_id in sorted(self.originals):
            topology = await self._get(network_id, "topology")
            for problem in self.model.replace(network_id, topology):
                log.warning("%s: skipped: %s", self.id, problem)
        current = await self._get(fed, "topology")
        self._read_shown(current)
        await self._sync_topology()
        for network_id in sorted(self.originals):
            for original_id in flow_set(await self._get(network_id, "flows"), network_id):
                self._note_segment(network_id, str(original_id))
        flow_ids = set(flow_set(await self._get(fed, "flows"), fed)) | set(self._segments)
        self.ready = True
        for flow_id in sorted(flow_ids):
            await self._sync_flow_logged(str(flow_id))
        log.info(
            "%s: federates %s into %s: %d nodes, %d links",
            self.id,
            ", ".join(sorted(self.originals)) or "nothing",
            fed,
            len(self._shown_nodes),
            len(self._shown_links),
        )

    async def _clean_up_original(self, network_id: str) -> None:
        """Forget ``network_id``: its segment flows, its part of the federated topology and
        the ``is_boundary`` marks go; the flows crossing it are looked at again."""
        concerned = set()
        for flow_id, segments in self._segments.items():
            for nw, original_id in sorted(segments):
                if nw == network_id:
                    concerned.add(flow_id)
                    await self._delete(network_id, f"flows/{original_id}")
        for flow_id in concerned:
            self._segments[flow_id] = {s for s in self._segments[flow_id] if s[0] != network_id}
        await self._unmark(network_id)
        self.originals.discard(network_id)
        self.model.forget(network_id)
        if self.federated is not None and self.ready:
            try:
                await self._sync_topology()
                await self._resync(concerned)
            except NetworkAnswer as exc:
                log.warning("%s: after dropping %s: %s", self.id, network_id, exc)

    async def _clean_up_federated(self) -> None:
        """Remove everything the Federator made (whatever fails is logged and left)."""
        self.ready = False
        fed = self._fed()
        for segments in list(self._segments.values()):
            for network_id, original_id in sorted(segments):
                await self._delete(network_id, f"flows/{original_id}")
        try:
            flows = flow_set(await self._get(fed, "flows"), fed)
            for flow in flows.values():
                if isinstance(flow, dict) and flow.get("status") not in (NONE, FAILED):
                    await self._follow(flow, NONE, None)
        except NetworkAnswer as exc:
            log.warning("%s: federated flow statuses left as they were: %s", self.id, exc)
        for name in sorted(self._shown_links):
            await self._delete(fed, f"topology/links/{name}")
        for name in sorted(self._shown_nodes):
            await self._delete(fed, f"topology/nodes/{name}")
        for network_id in sorted(self.originals):
            await self._unmark(network_id)
        self._own_teardowns.clear()
        self._failed.clear()

    # --- events -------------------------------------------------------------------------------

    async def _handle(self, event: Event) -> None:
        body = event.body
        ident = body.get("id")
        if not isinstance(ident, str) or not ident:
            log.warning("%s: %s without an id: %r", self.id, event.event_type, body)
            return
        publisher = event.publisher_id
        if publisher == self.federated:
            if event.event_type == "FlowChanged":
                await self._sync_flow(ident)
            elif event.event_type == "OutPacketAdded":
                await self._packet_down(ident)
            return
        if publisher not in self.originals:
            return
        if event.event_type == "FlowChanged":
            origin = self._note_segment(publisher, ident)
            if origin is not None:
                await self._sync_flow(origin)
        elif event.event_type == "InPacketAdded":
            await self._packet_up(publisher, ident)
        elif event.event_type in ("NodeChanged", "PortChanged", "LinkChanged"):
            await self._topology_changed(publisher, event.event_type, ident, body)


def _ends(connection: dict[str, Any]) -> tuple[str, str]:
    return connection_ends(connection, (ORIGINAL, FEDERATED), "a Federator")
