"""The Slicer (research section 1): slices of one original network, each a sliver network.

Connections: ``original`` (at most one: the network sliced) and ``sliver``
(any number: one network per slice).  Once it holds the original it keeps:

* **Topology** (:mod:`~.topology`).  Every sliver shows the original's topology with the same node,
  port and link ids: after each ``NodeChanged``/``PortChanged``/``LinkChanged``
  of the original, the original's topology is read and put whole into every
  sliver (``PUT topology``, which changes only what differs; copies are paced,
  and every event that comes in a pause is served by the one copy after it).
  A sliver that is disconnected loses it.
* **Flows** (:mod:`~.flows`, :mod:`~.translation`).  A sliver's flow whose matches all fall
  within a slice condition of that sliver's connection is carried in the
  original network as the same flow, named as :mod:`~.naming` says; its
  status follows the original's back through the network's status machine.
  A flow outside its slice goes ``failed`` with a ``reason`` attribute (ODENOS
  ignored it; its document says it fails).  When conditions change, the flows
  of the connections concerned are looked at again: a carried flow that left
  its slice is taken down and failed, a failed one that now fits is carried.
* **Packets** (:mod:`~.packets`).  An InPacket queued in the original goes to the sliver of the
  first condition covering it (highest priority first), or is dropped; an
  OutPacket queued in a sliver goes to the original when a condition of that
  same sliver covers it, or is dropped.
* **Slice conditions** (:mod:`~.conditions`): ODENOS's REST routes under
  ``settings/slice_condition_table`` (:mod:`~.api`), kept in the durable state.

What becomes of a sliver flow and its original flow, case by case, is in
:mod:`~.flows`.  This module holds the :class:`Slicer` itself: its lifecycle,
its connections (building from the networks, and letting go of them) and its
events; it puts together the parts, each a base class over
:class:`~.core.SlicerCore` (the state and requests they share):
:class:`~.api.SliceConditionAPI`, :class:`~.flows.FlowSync`,
:class:`~.topology.TopologyCopy` and :class:`~.packets.PacketRelay`.

Level-triggered: an event only says *which* object to look at; the Slicer
reads its current state (``GET``) and acts on that.  All its work (hooks,
events, re-checks, topology copies, retries) runs one piece at a time under
one lock, on the manager's loop.

Restart: the networks are durable themselves; what is derived from them is
read again (:meth:`Slicer.on_connection_added`, also called for running
connections when the manager restarts), and names are deterministic, so the
Slicer finds the flows it made and changes nothing that is right.  What the
networks do not show is in the durable state, restored in ``on_initialize``:
the slice conditions, which teardowns were the Slicer's own, and the sliver
networks it serves (so that, while its connections are re-added one by one,
the original flows of a sliver not re-added yet are not taken for strays).
If a network does not answer, the build is retried with a growing delay.  Once
built, the packets queued while it was away (their events gone) are handled: the
slivers' OutPackets, and the original's InPackets once every sliver it served is back.

Deleting a connection removes what the Slicer made (research section 1.1):
a sliver loses its topology and its InPackets, its flows go ``failed`` and
their original flows are deleted (``DELETE``, so installed ones are torn down
by the driver); the original's going does that for every sliver.
"""

from __future__ import annotations

import logging
from typing import Any

from odenos.components.logic import (
    FAILED,
    NONE,
    TEARDOWN,
    NetworkAnswer,
    connection_ends,
    flow_set,
)
from odenos.components.slicer.api import SliceConditionAPI
from odenos.components.slicer.conditions import RECORD_PREFIX, ConditionTable
from odenos.components.slicer.core import OWN_TEARDOWNS, SLIVERS, FlowRef
from odenos.components.slicer.flows import FlowSync
from odenos.components.slicer.naming import sliver_flow
from odenos.components.slicer.packets import PacketRelay
from odenos.components.slicer.topology import TopologyCopy
from odenos.config import DEFAULT_MANAGER_ID
from odenos.model.event import Event

log = logging.getLogger(__name__)

ORIGINAL = "original"
SLIVER = "sliver"
ORIGINAL_EVENTS = ["NodeChanged", "PortChanged", "LinkChanged", "FlowChanged", "InPacketAdded"]
SLIVER_EVENTS = ["FlowChanged", "OutPacketAdded"]
TOPOLOGY_EVENTS = ("NodeChanged", "PortChanged", "LinkChanged")
SYSTEM_MANAGER = DEFAULT_MANAGER_ID  # the system manager's id

EMPTY_TOPOLOGY = {"type": "Topology", "nodes": {}, "links": {}}


class Slicer(SliceConditionAPI, FlowSync, TopologyCopy, PacketRelay):
    TYPE = "Slicer"
    DESCRIPTION = "Slices of an original network, each a sliver network, by slice conditions"
    CONNECTION_TYPES = {ORIGINAL: "1", SLIVER: "*"}

    # --- lifecycle ----------------------------------------------------------------------------

    async def on_initialize(self) -> None:
        # Restored before the connections are re-added (and the networks read again).
        self.table, problems = ConditionTable.from_records(self.state.items(RECORD_PREFIX))
        for problem in problems:
            log.warning("%s: stored slice condition skipped: %s", self.id, problem)
        pairs = self.state.get(OWN_TEARDOWNS) or []
        self._own_teardowns = {
            (str(p[0]), str(p[1])) for p in pairs if isinstance(p, list) and len(p) == 2
        }
        known = self.state.get(SLIVERS)
        self._known = {str(k): str(v) for k, v in known.items()} if isinstance(known, dict) else {}

    async def on_finalize(self) -> None:
        for task in (self._retry, self._topology_task, self._recheck_task):
            if task is not None:
                task.cancel()
        self._retry = self._topology_task = self._recheck_task = None

    # --- connections --------------------------------------------------------------------------

    async def on_connection_added(self, connection: dict[str, Any]) -> None:
        kind, network_id, conn_id = _ends(connection)
        if network_id == self.original or (
            network_id in self.slivers.values() and self.slivers.get(conn_id) != network_id
        ):
            raise ValueError(f"{network_id!r} is already connected to {self.id}")
        if kind == ORIGINAL and self.original is not None:
            raise ValueError(f"{self.id} already has {self.original!r} as its original network")
        async with self._lock:
            if kind == ORIGINAL:
                self.original = network_id
            else:
                self.slivers[conn_id] = network_id
                self._known[conn_id] = network_id
                self._save()
            await self.subscribe(network_id, ORIGINAL_EVENTS if kind == ORIGINAL else SLIVER_EVENTS)
        log.info("%s: %s network %s (connection %s)", self.id, kind, network_id, conn_id)
        if self.original is None:
            return  # nothing to show or carry yet
        if kind == SLIVER and self.ready:
            async with self._lock:
                try:
                    await self._build([network_id], strays=False)
                    return
                except NetworkAnswer as exc:
                    log.warning("%s: cannot build sliver %s yet: %s", self.id, network_id, exc)
                    self.ready = False  # the retry builds everything
                finally:
                    self._save()
        await self._build_or_retry()

    async def on_connection_deleted(self, connection: dict[str, Any]) -> None:
        kind, network_id, conn_id = _ends(connection)
        if kind == ORIGINAL:
            self._stop_retry()
        async with self._lock:
            await self.unsubscribe(network_id)
            if kind == ORIGINAL and self.original == network_id:
                await self._let_go_original(network_id)
            elif kind == SLIVER and self.slivers.get(conn_id) == network_id:
                del self.slivers[conn_id]
                self._known.pop(conn_id, None)
                await self._let_go_sliver(network_id)
            self._save()
        log.info("%s: let go of %s network %s", self.id, kind, network_id)

    async def _rebuild(self) -> None:
        await self._build(sorted(self.slivers.values()), strays=True)

    def _retrying(self) -> bool:
        return self.original is not None and not self.ready

    async def _build(self, slivers: list[str], strays: bool) -> None:
        """Show the original's topology in ``slivers`` and bring their flows in line;
        with ``strays``, also delete the original flows of slivers no longer served.
        Raises NetworkAnswer if the original or a sliver does not answer."""
        orig = self._original()
        if strays:
            self.ready = False
            self._carried.clear()
        await self._push_topology(slivers, strict=True)
        if strays:
            await self._prune_known()
        refs: set[FlowRef] = set()
        known = set(self._known.values())
        for original_id, below in flow_set(await self._get(orig, "flows"), orig).items():
            ref = sliver_flow(self.id, str(original_id))
            if ref is None:
                continue
            if ref[0] in slivers:
                refs.add(ref)
            elif strays and ref[0] not in known and isinstance(below, dict):
                await self._delete_original(str(original_id), below)
        for network_id in slivers:
            for flow_id in flow_set(await self._get(network_id, "flows"), network_id):
                refs.add((network_id, str(flow_id)))
        for ref in sorted(refs):
            await self._sync_flow_logged(ref)
        self.ready = True  # only now: a failure above leaves it to the retry
        log.info(
            "%s: %s shown in %s; %d flows looked at", self.id, orig, ", ".join(slivers), len(refs)
        )
        await self._drain_queues(slivers)

    async def _prune_known(self) -> None:
        """Forget the slivers served before whose connection is gone from the system
        (deleted while this Slicer's manager was away), so that their original flows
        count as strays.  A connection still there is kept: it is being re-added."""
        gone = [conn_id for conn_id in self._known if conn_id not in self.slivers]
        if not gone:
            return
        reply = await self.request(SYSTEM_MANAGER, "GET", "connections")
        if reply.status != 200 or not isinstance(reply.body, dict):
            return  # not known now: kept, as if still there
        for conn_id in gone:
            held = reply.body.get(conn_id)
            if not isinstance(held, dict) or held.get("logic_id") != self.id:
                log.info("%s: connection %s went while it was away", self.id, conn_id)
                del self._known[conn_id]

    async def _let_go_original(self, orig: str) -> None:
        """The original is disconnected: every sliver loses what came from it, and the
        original flows the Slicer made are deleted."""
        self.ready = False
        for network_id in sorted(self.slivers.values()):
            await self._clear_sliver(network_id, f"the slicer {self.id} lost its original network")
        try:
            for original_id in flow_set(await self._get(orig, "flows"), orig):
                if sliver_flow(self.id, str(original_id)) is not None:
                    await self._delete(orig, f"flows/{original_id}")
        except NetworkAnswer as exc:
            log.warning("%s: original flows left in place: %s", self.id, exc)
        self.original = None
        self._carried.clear()

    async def _let_go_sliver(self, network_id: str) -> None:
        """A sliver is disconnected: it loses what came from the original, and the
        original flows of its flows are deleted."""
        if self.original is not None:
            orig = self.original
            try:
                for original_id in flow_set(await self._get(orig, "flows"), orig):
                    ref = sliver_flow(self.id, str(original_id))
                    if ref is not None and ref[0] == network_id:
                        await self._delete(orig, f"flows/{original_id}")
            except NetworkAnswer as exc:
                log.warning("%s: original flows of %s left in place: %s", self.id, network_id, exc)
        await self._clear_sliver(network_id, f"{network_id} is no longer a sliver of {self.id}")
        for ref in [r for r in self._carried if r[0] == network_id]:
            del self._carried[ref]

    async def _clear_sliver(self, network_id: str, reason: str) -> None:
        """Fail a sliver's flows (a deletion pending is finished instead), and take away
        its topology and its InPackets; whatever fails is logged and left."""
        try:
            flows = flow_set(await self._get(network_id, "flows"), network_id)
            for flow in flows.values():
                if not isinstance(flow, dict):
                    continue
                status = flow.get("status")
                if status == TEARDOWN:
                    await self._set_status(flow, NONE, network_id=network_id)
                elif status != FAILED:
                    await self._set_status(flow, FAILED, reason, network_id)
        except NetworkAnswer as exc:
            log.warning("%s: flows of %s left as they were: %s", self.id, network_id, exc)
        self._own_teardowns = {r for r in self._own_teardowns if r[0] != network_id}
        for what, method, path, body in (
            ("topology", "PUT", "topology", EMPTY_TOPOLOGY),
            ("in-packets", "DELETE", "packets/in", None),
        ):
            reply = await self.request(network_id, method, path, body)
            if reply.status != 200:
                log.warning("%s: %s of %s left: %s", self.id, what, network_id, reply.body)

    # --- events -------------------------------------------------------------------------------

    async def _handle(self, event: Event) -> None:
        if event.publisher_id == self.original and event.event_type in TOPOLOGY_EVENTS:
            self._topology_changed()
            return
        ident = event.body.get("id")
        if not isinstance(ident, str) or not ident:
            log.warning("%s: %s without an id: %r", self.id, event.event_type, event.body)
            return
        if event.publisher_id == self.original:
            if event.event_type == "FlowChanged":
                await self._original_flow_changed(ident)
            elif event.event_type == "InPacketAdded":
                await self._packet_in(ident)
            return
        conn_id = self._connection_of(event.publisher_id)
        if conn_id is None:
            return
        if event.event_type == "FlowChanged":
            await self._sync_flow((event.publisher_id, ident))
        elif event.event_type == "OutPacketAdded":
            await self._packet_out(conn_id, event.publisher_id, ident)

    async def _original_flow_changed(self, original_id: str) -> None:
        ref = sliver_flow(self.id, original_id)
        if ref is None:
            return  # not the Slicer's
        if ref[0] in self.slivers.values():
            await self._sync_flow(ref)
        elif ref[0] not in self._known.values():
            # A stray: its sliver is no longer served.
            orig = self._original()
            below = await self._get(orig, f"flows/{original_id}", missing=True)
            if isinstance(below, dict):
                await self._delete_original(original_id, below)


def _ends(connection: dict[str, Any]) -> tuple[str, str, str]:
    """A connection's ``connection_type``, ``network_id`` and ``id``, checked."""
    kind, network_id = connection_ends(connection, (ORIGINAL, SLIVER), "a Slicer")
    conn_id = connection.get("id")
    if not isinstance(conn_id, str) or not conn_id:
        raise ValueError("the connection has no id")
    return kind, network_id, conn_id
