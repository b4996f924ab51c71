"""The Slicer (research section 1): slices of one original network, each a sliver network.

Connections: ``original`` (at most one: the network sliced) and ``sliver``
(any number: one network per slice).  Once it holds the original it keeps:

* **Topology.**  Every sliver shows the original's topology with the same node,
  port and link ids: after each ``NodeChanged``/``PortChanged``/``LinkChanged``
  of the original, the original's topology is read and put whole into every
  sliver (``PUT topology``, which changes only what differs; copies are paced,
  and every event that comes in a pause is served by the one copy after it).
  A sliver that is disconnected loses it.
* **Flows** (:mod:`~.translation`).  A sliver's flow whose matches all fall
  within a slice condition of that sliver's connection is carried in the
  original network as the same flow, named as :mod:`~.naming` says; its
  status follows the original's back through the network's status machine.
  A flow outside its slice goes ``failed`` with a ``reason`` attribute (ODENOS
  ignored it; its document says it fails).  When conditions change, the flows
  of the connections concerned are looked at again: a carried flow that left
  its slice is taken down and failed, a failed one that now fits is carried.
* **Packets.**  An InPacket queued in the original goes to the sliver of the
  first condition covering it (highest priority first), or is dropped; an
  OutPacket queued in a sliver goes to the original when a condition of that
  same sliver covers it, or is dropped.
* **Slice conditions** (:mod:`~.conditions`): ODENOS's REST routes under
  ``settings/slice_condition_table``, kept in the durable state.

Flows, for a sliver flow ``F`` and its original flow ``O`` (as the
Aggregator's):

* ``F`` absent: ``O`` is deleted (once at rest or installed: never a second
  ``DELETE`` while ``O`` tears down, which the network takes as "remove at once").
* ``F`` at ``teardown`` that the Slicer did not set: the sliver's ``DELETE``
  of an installed flow.  ``O`` is deleted; once it is gone ``F`` is set
  ``none`` and the sliver forgets it.
* ``F`` outside its slice: ``O`` is deleted and ``F`` set ``failed`` with a reason.
* otherwise ``O`` is created (``F`` first brought to ``none`` if it was not)
  or updated to match ``F``, and ``F``'s status follows ``O``'s.

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

import asyncio
import logging
import uuid
from typing import Any

from odenos.components.aggregator.component import NetworkAnswer
from odenos.components.aggregator.translation import REASON, same_content, status_steps
from odenos.components.base import Component, Request, Response, route
from odenos.components.slicer.conditions import (
    MAX_CONDITIONS,
    MAX_LIST,
    RECORD_PREFIX,
    ConditionTable,
    SliceCondition,
    check_condition_id,
    parse_priority,
)
from odenos.components.slicer.naming import flow_key, original_flow_id, sliver_flow
from odenos.components.slicer.translation import (
    in_packet_connection,
    original_body,
    out_packet_down,
    packet_without_id,
    slice_problem,
)
from odenos.config import DEFAULT_MANAGER_ID
from odenos.errors import BadRequest, NotFound, PayloadTooLarge
from odenos.model.event import Event

log = logging.getLogger(__name__)

ORIGINAL = "original"
SLIVER = "sliver"
ORIGINAL_EVENTS = ["NodeChanged", "PortChanged", "LinkChanged", "FlowChanged", "InPacketAdded"]
SLIVER_EVENTS = ["FlowChanged", "OutPacketAdded"]
TOPOLOGY_EVENTS = ("NodeChanged", "PortChanged", "LinkChanged")
#: Records of its durable state besides the conditions.
OWN_TEARDOWNS = "own_teardowns"
SLIVERS = "slivers"
SYSTEM_MANAGER = DEFAULT_MANAGER_ID  # the system manager's id

NONE, ESTABLISHING, ESTABLISHED, TEARDOWN, FAILED = (
    "none",
    "establishing",
    "established",
    "teardown",
    "failed",
)
EMPTY_TOPOLOGY = {"type": "Topology", "nodes": {}, "links": {}}

FlowRef = tuple[str, str]  # (sliver network id, flow id)


class Slicer(Component):
    TYPE = "Slicer"
    DESCRIPTION = "Slices of an original network, each a sliver network, by slice conditions"
    CONNECTION_TYPES = {ORIGINAL: "1", SLIVER: "*"}

    #: Seconds between attempts to build when a network does not answer: first, cap.
    RETRY_FIRST, RETRY_CAP = 0.5, 10.0
    #: Topology copies: the pause before a copy is at least COPY_PAUSE_MIN seconds and
    #: COPY_PAUSE_FACTOR times the last copy's duration (at most COPY_PAUSE_CAP), so that
    #: copying takes a bounded share of the time however fast the original changes.
    COPY_PAUSE_MIN, COPY_PAUSE_FACTOR, COPY_PAUSE_CAP = 0.05, 2.0, 5.0

    def __init__(self, object_id: str, cm_id: str) -> None:
        super().__init__(object_id, cm_id)
        self.original: str | None = None
        #: Sliver connections held: connection id -> network id.
        self.slivers: dict[str, str] = {}
        self.table = ConditionTable()
        #: True once built from the original; events are ignored before.
        self.ready = False
        self._lock = asyncio.Lock()
        self._retry: asyncio.Task[None] | None = None
        self._topology_task: asyncio.Task[None] | None = None
        self._topology_dirty = False
        self._copy_pause = self.COPY_PAUSE_MIN
        self._recheck_task: asyncio.Task[None] | None = None
        self._recheck: set[str] = set()
        #: Sliver flows whose teardown the Slicer set itself (following the original).
        self._own_teardowns: set[FlowRef] = set()
        #: Sliver networks served, durable: connection id -> network id.
        self._known: dict[str, str] = {}
        #: Sliver flows carried (their original flow exists) -> original flow id.
        self._carried: dict[FlowRef, str] = {}

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

    def _save(self) -> None:
        """Keep what the networks do not show (written only when it changed)."""
        self.state.write(
            {
                OWN_TEARDOWNS: sorted([n, f] for n, f in self._own_teardowns),
                SLIVERS: dict(sorted(self._known.items())),
            }
        )

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
        self._stop_retry()
        if not await self._try_build():
            self._retry = asyncio.get_running_loop().create_task(self._retry_build())

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

    def _stop_retry(self) -> None:
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None

    async def _try_build(self) -> bool:
        async with self._lock:
            try:
                await self._build(sorted(self.slivers.values()), strays=True)
            except NetworkAnswer as exc:
                log.warning("%s: cannot build from the networks yet: %s", self.id, exc)
                return False
            finally:
                self._save()
        return True

    async def _retry_build(self) -> None:
        delay = self.RETRY_FIRST
        while self.original is not None and not self.ready:
            await asyncio.sleep(delay)
            if await self._try_build():
                return
            delay = min(delay * 2, self.RETRY_CAP)

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
        for original_id, below in _flows(await self._get(orig, "flows"), orig).items():
            ref = sliver_flow(self.id, str(original_id))
            if ref is None:
                continue
            if ref[0] in slivers:
                refs.add(ref)
            elif strays and ref[0] not in known and isinstance(below, dict):
                await self._delete_original(str(original_id), below)
        for network_id in slivers:
            for flow_id in _flows(await self._get(network_id, "flows"), network_id):
                refs.add((network_id, str(flow_id)))
        for ref in sorted(refs):
            await self._sync_flow_logged(ref)
        self.ready = True  # only now: a failure above leaves it to the retry
        log.info(
            "%s: %s shown in %s; %d flows looked at", self.id, orig, ", ".join(slivers), len(refs)
        )
        await self._drain_queues(slivers)

    async def _drain_queues(self, slivers: list[str]) -> None:
        """Handle the packets queued while the Slicer was not there to see their events
        (its manager down, a network not answering): the OutPackets of ``slivers``, and
        the original's InPackets once every sliver it served is back (one not re-added
        yet would have its packets dropped).  Their events are gone, so without this
        they would stay queued for ever.  A failure is logged: ready all the same."""
        queues = [(network_id, "out") for network_id in slivers]
        if not set(self._known) - set(self.slivers):
            queues.insert(0, (self._original(), "in"))
        for network_id, queue in queues:
            try:
                status = _mapping(
                    await self._get(network_id, f"packets/{queue}"), network_id, queue
                )
                ids = status.get(f"{queue}_packets")
                for packet_id in ids if isinstance(ids, list) else []:
                    if not isinstance(packet_id, str):
                        continue
                    if queue == "in":
                        await self._packet_in(packet_id)
                        continue
                    conn_id = self._connection_of(network_id)
                    if conn_id is not None:
                        await self._packet_out(conn_id, network_id, packet_id)
            except NetworkAnswer as exc:
                log.warning("%s: packets queued in %s left: %s", self.id, network_id, exc)

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
            for original_id in _flows(await self._get(orig, "flows"), orig):
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
                for original_id in _flows(await self._get(orig, "flows"), orig):
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
            flows = _flows(await self._get(network_id, "flows"), network_id)
            for flow in flows.values():
                if not isinstance(flow, dict):
                    continue
                status = flow.get("status")
                if status == TEARDOWN:
                    await self._set_status(network_id, flow, NONE)
                elif status != FAILED:
                    await self._set_status(network_id, flow, FAILED, reason)
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

    async def on_event(self, event: Event) -> None:
        async with self._lock:
            if not self.ready:
                return
            try:
                await self._handle(event)
            except NetworkAnswer as exc:
                # The next event about the same object, or a rebuild, puts it right.
                log.warning(
                    "%s: %s from %s not acted on: %s",
                    self.id,
                    event.event_type,
                    event.publisher_id,
                    exc,
                )
            finally:
                self._save()

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

    def _connection_of(self, network_id: str) -> str | None:
        for conn_id, held in self.slivers.items():
            if held == network_id:
                return conn_id
        return None

    # --- topology -----------------------------------------------------------------------------

    def _topology_changed(self) -> None:
        """Copy the original's topology to the slivers soon: one copy serves every event
        that comes before it starts."""
        self._topology_dirty = True
        if self._topology_task is None:
            self._topology_task = asyncio.get_running_loop().create_task(self._copy_topology())

    async def _copy_topology(self) -> None:
        """Copy while changes come, pausing before each copy.  A copy is whole (it reads
        and puts the entire topology), so one per event would make a topology built
        object by object cost the square of its size (200 nodes and 400 links put one
        by one: each of ~1,000 events copying up to 1,000 objects into every sliver).
        The pause grows with the copy's duration: every event in it is served by one
        copy, and copies take at most about a third of the time."""
        loop = asyncio.get_running_loop()
        try:
            while self._topology_dirty:
                await self._pause_before_copy()
                async with self._lock:
                    self._topology_dirty = False
                    if not self.ready:
                        return  # the build copies it
                    started = loop.time()
                    await self._push_topology(sorted(self.slivers.values()), strict=False)
                    took = loop.time() - started
                self._copy_pause = self.copy_pause_after(took)
        finally:
            self._topology_task = None

    async def _pause_before_copy(self) -> None:
        await asyncio.sleep(self._copy_pause)

    @classmethod
    def copy_pause_after(cls, took: float) -> float:
        """The pause before the next topology copy when the last one took ``took`` s."""
        return min(cls.COPY_PAUSE_CAP, max(cls.COPY_PAUSE_MIN, cls.COPY_PAUSE_FACTOR * took))

    async def _push_topology(self, slivers: list[str], strict: bool) -> None:
        """Put the original's topology into ``slivers``.  A failure raises NetworkAnswer
        when ``strict``, and is logged otherwise (the next change or build puts it right)."""
        orig = self._original()
        try:
            topology = _mapping(await self._get(orig, "topology"), orig, "topology")
        except NetworkAnswer as exc:
            if strict:
                raise
            log.warning("%s: topology not copied: %s", self.id, exc)
            return
        body = {
            "type": "Topology",
            "nodes": topology.get("nodes") or {},
            "links": topology.get("links") or {},
        }
        for network_id in slivers:
            reply = await self.request(network_id, "PUT", "topology", body)
            if reply.status == 200:
                continue
            if strict:
                raise NetworkAnswer(network_id, "PUT topology", reply, str(reply.body))
            log.warning("%s: topology of %s not copied: %s", self.id, network_id, reply.body)

    # --- packets ------------------------------------------------------------------------------

    async def _take(self, network_id: str, queue: str, packet_id: str) -> dict[str, Any] | None:
        """Take a packet out of a network's queue: the packet, or None if it is gone."""
        reply = await self.request(network_id, "DELETE", f"packets/{queue}/{packet_id}")
        if reply.status == 404 and _error_code(reply) == "NotFound":
            return None
        if reply.status != 200:
            raise NetworkAnswer(network_id, f"DELETE packets/{queue}/{packet_id}", reply, "")
        return reply.body if isinstance(reply.body, dict) else None

    async def _post(self, network_id: str, queue: str, packet: dict[str, Any]) -> None:
        reply = await self.request(network_id, "POST", f"packets/{queue}", packet)
        if reply.status != 200:
            log.warning("%s: POST %s/packets/%s: %s", self.id, network_id, queue, reply.body)

    async def _packet_in(self, packet_id: str) -> None:
        orig = self._original()
        packet = await self._take(orig, "in", packet_id)
        if packet is None:
            return  # taken by someone else
        conn_id = in_packet_connection(packet, self.table)
        network_id = None if conn_id is None else self.slivers.get(conn_id)
        if network_id is None:
            log.info(
                "%s: in-packet %s of %s is in no connected slice (%s): dropped",
                self.id,
                packet_id,
                orig,
                conn_id or "no condition covers it",
            )
            return
        await self._post(network_id, "in", packet_without_id(packet))

    async def _packet_out(self, conn_id: str, network_id: str, packet_id: str) -> None:
        orig = self._original()
        packet = await self._take(network_id, "out", packet_id)
        if packet is None:
            return
        down = out_packet_down(packet, self.table, conn_id)
        if down is None:
            log.info(
                "%s: out-packet %s of %s is outside its slice: dropped",
                self.id,
                packet_id,
                network_id,
            )
            return
        await self._post(orig, "out", down)

    # --- flows --------------------------------------------------------------------------------

    def _recheck_flows(self, connections: set[str]) -> None:
        """Look again, soon, at the flows of the slivers of ``connections`` (their
        conditions changed)."""
        self._recheck |= connections
        if self._recheck_task is None and self._recheck:
            self._recheck_task = asyncio.get_running_loop().create_task(self._recheck_loop())

    async def _recheck_loop(self) -> None:
        try:
            while self._recheck:
                async with self._lock:
                    connections, self._recheck = self._recheck, set()
                    if not self.ready:
                        return  # the build looks at every flow
                    for conn_id in sorted(connections):
                        network_id = self.slivers.get(conn_id)
                        if network_id is None:
                            continue
                        try:
                            flows = _flows(await self._get(network_id, "flows"), network_id)
                        except NetworkAnswer as exc:
                            log.warning(
                                "%s: flows of %s not re-checked: %s", self.id, network_id, exc
                            )
                            continue
                        for flow_id in sorted(flows):
                            await self._sync_flow_logged((network_id, str(flow_id)))
                    self._save()
        finally:
            self._recheck_task = None

    async def _sync_flow_logged(self, ref: FlowRef) -> None:
        try:
            await self._sync_flow(ref)
        except NetworkAnswer as exc:
            log.warning("%s: flow %s not brought in line: %s", self.id, flow_key(*ref), exc)

    async def _sync_flow(self, ref: FlowRef) -> None:
        """Bring sliver flow ``ref`` and its original flow in line (see the module
        docstring), from their current state."""
        orig = self._original()
        network_id, flow_id = ref
        conn_id = self._connection_of(network_id)
        original_id = original_flow_id(self.id, network_id, flow_id)
        flow = await self._get(network_id, f"flows/{flow_id}", missing=True)
        below = await self._get(orig, f"flows/{original_id}", missing=True)
        if flow is not None and not isinstance(flow, dict):
            raise NetworkAnswer(network_id, f"GET flows/{flow_id}", None, "not a flow")
        if below is not None and not isinstance(below, dict):
            raise NetworkAnswer(orig, f"GET flows/{original_id}", None, "not a flow")
        self._note(ref, original_id, below)
        if flow is None or conn_id is None:
            self._own_teardowns.discard(ref)
            if below is not None:
                await self._delete_original(original_id, below)
            return
        status = flow.get("status")
        if status == TEARDOWN and ref not in self._own_teardowns:
            # The sliver's DELETE of an installed flow: take it down below, then report
            # none (the sliver then forgets it).
            if below is None:
                await self._set_status(network_id, flow, NONE)
            else:
                await self._delete_original(original_id, below)
            return
        problem = slice_problem(flow, self.table.of_connection(conn_id), conn_id)
        if problem is not None:
            if below is not None:
                await self._delete_original(original_id, below)
            await self._fail(network_id, flow, problem)
            return
        wanted = original_body(flow, original_id)
        if below is None:
            current: dict[str, Any] | None = flow
            if status != NONE:
                current = await self._follow(network_id, flow, NONE, None)
            if current is None:
                return
            body = {**wanted, "version": "0"}  # version 0: create, never overwrite
            reply = await self.request(orig, "PUT", f"flows/{original_id}", body)
            if reply.status == 201:
                self._note(ref, original_id, reply.body)
                log.info("%s: flow %s carried by %s/%s", self.id, flow_key(*ref), orig, original_id)
            elif reply.status == 400:
                await self._fail(network_id, current, _refusal(orig, reply))
            elif reply.status != 409:  # 409: it was just created: its event comes
                log.warning("%s: PUT %s/flows/%s: %s", self.id, orig, original_id, reply.body)
            return
        if below.get("type", "BasicFlow") != wanted.get("type", "BasicFlow"):
            # A flow cannot change type in place: the original goes first (its
            # deletion's event brings the new one).
            await self._delete_original(original_id, below)
            return
        if below.get("status") != TEARDOWN and not same_content(wanted, below):
            reply = await self.request(
                orig, "PUT", f"flows/{original_id}", {**wanted, "version": below.get("version")}
            )
            if reply.status == 400:
                await self._delete_original(original_id, below)
                await self._fail(network_id, flow, _refusal(orig, reply))
                return
            if reply.status != 200 or not isinstance(reply.body, dict):
                if reply.status != 409:  # 409: changed meanwhile: its event comes
                    log.warning("%s: PUT %s/flows/%s: %s", self.id, orig, original_id, reply.body)
                return
            below = reply.body
            log.info("%s: flow %s updated in %s/%s", self.id, flow_key(*ref), orig, original_id)
        target = str(below.get("status"))
        reason = None
        if target == FAILED:
            attributes = below.get("attributes")
            given = attributes.get(REASON) if isinstance(attributes, dict) else None
            reason = str(given) if given else f"flow {original_id!r} of {orig!r} failed"
        await self._follow(network_id, flow, target, reason)

    def _note(self, ref: FlowRef, original_id: str, below: Any) -> None:
        if isinstance(below, dict):
            self._carried[ref] = original_id
        else:
            self._carried.pop(ref, None)

    async def _fail(self, network_id: str, flow: dict[str, Any], reason: str) -> None:
        attributes = flow.get("attributes")
        current = attributes.get(REASON) if isinstance(attributes, dict) else None
        if flow.get("status") == FAILED and current == reason:
            return
        if await self._set_status(network_id, flow, FAILED, reason) is not None:
            log.info("%s: flow %s failed: %s", self.id, flow.get("flow_id"), reason)

    async def _follow(
        self, network_id: str, flow: dict[str, Any], target: str, reason: str | None
    ) -> dict[str, Any] | None:
        """Take sliver ``flow`` to status ``target`` step by step; the flow as stored
        after the last step, or None if a step was refused (the flow changed or went
        away meanwhile: the event of that change brings the Slicer back)."""
        current: dict[str, Any] | None = flow
        for step in status_steps(str(flow.get("status")), target):
            if current is None:
                return None
            current = await self._set_status(network_id, current, step, reason)
        return current

    async def _set_status(
        self, network_id: str, flow: dict[str, Any], status: str, reason: str | None = None
    ) -> dict[str, Any] | None:
        """PUT sliver ``flow`` with ``status`` (and, for ``failed``, the ``reason``
        attribute; any other status drops it), at the version seen.  The flow as
        stored, or None when it changed meanwhile (409) or is gone."""
        flow_id = str(flow.get("flow_id"))
        raw = flow.get("attributes")
        attributes = {k: v for k, v in (raw if isinstance(raw, dict) else {}).items()}
        attributes.pop(REASON, None)
        if status == FAILED and reason is not None:
            attributes[REASON] = reason
        body = {**flow, "status": status, "attributes": attributes}
        reply = await self.request(network_id, "PUT", f"flows/{flow_id}", body)
        if reply.status in (200, 201) and isinstance(reply.body, dict):
            if status == TEARDOWN:
                self._own_teardowns.add((network_id, flow_id))
            else:
                self._own_teardowns.discard((network_id, flow_id))
            log.info("%s: flow %s of %s is %s", self.id, flow_id, network_id, status)
            return reply.body
        if reply.status not in (404, 409):
            log.warning("%s: setting flow %s to %s: %s", self.id, flow_id, status, reply.body)
        return None

    async def _delete_original(self, original_id: str, below: dict[str, Any]) -> None:
        """Delete the original flow once it is at rest or installed.  While it moves
        (``establishing``, ``teardown``) a DELETE would be early or, for a removal
        already requested, remove it at once; its next change brings the Slicer back."""
        if below.get("status") in (ESTABLISHING, TEARDOWN):
            return
        orig = self._original()
        if await self._delete(orig, f"flows/{original_id}"):
            log.info("%s: flow %s of %s deleted", self.id, original_id, orig)

    # --- REST: slice conditions ---------------------------------------------------------------

    def _commit(self, table: ConditionTable) -> None:
        """Store ``table`` (durably, before the answer) and make it current; re-check the
        flows of the connections whose conditions changed."""
        if len(table) > MAX_CONDITIONS:
            raise PayloadTooLarge(
                f"{self.id} would hold {len(table)} slice conditions, over the limit of "
                f"{MAX_CONDITIONS}",
                limit=MAX_CONDITIONS,
            )
        puts, deletes, touched = table.changes_from(self.table)
        self.state.write(puts, deletes)  # refused before anything changes
        self.table = table
        if touched:
            self._recheck_flows(touched)

    @route("PUT", "settings/slice_condition_table/<priority>")
    async def put_priority(self, request: Request, priority: str) -> Response:
        at = parse_priority(priority)
        if not isinstance(request.body, list):
            raise BadRequest(
                f"PUT settings/slice_condition_table/{priority} needs a JSON list of "
                "BasicSliceCondition"
            )
        if len(request.body) > MAX_LIST:
            raise PayloadTooLarge(
                f"at most {MAX_LIST} conditions in one list, got {len(request.body)}",
                limit=MAX_LIST,
            )
        conditions = [
            SliceCondition.from_json(raw, where=f"[{i}].") for i, raw in enumerate(request.body)
        ]
        table = self.table.copy()
        stored = table.set_priority(at, conditions)
        self._commit(table)
        return Response(200, [c.to_json() for c in stored])

    @route("POST", "settings/slice_condition_table/<priority>/conditions")
    async def post_condition(self, request: Request, priority: str) -> Response:
        at = parse_priority(priority)
        # A new id always, as ODENOS: the body's is not used.
        condition = SliceCondition.from_json(request.body, str(uuid.uuid4()))
        table = self.table.copy()
        table.put(at, condition)
        self._commit(table)
        return Response(200, condition.to_json())

    @route("PUT", "settings/slice_condition_table/<priority>/conditions/<condition_id>")
    async def put_condition(self, request: Request, priority: str, condition_id: str) -> Response:
        at = parse_priority(priority)
        condition = SliceCondition.from_json(request.body, check_condition_id(condition_id))
        table = self.table.copy()
        table.put(at, condition)
        self._commit(table)
        return Response(200, condition.to_json())

    @route("DELETE", "settings/slice_condition_table")
    async def delete_table(self, request: Request) -> Response:
        table = self.table.copy()
        table.clear()
        self._commit(table)
        return Response(200, None)

    @route("DELETE", "settings/slice_condition_table/<priority>")
    async def delete_priority(self, request: Request, priority: str) -> Response:
        table = self.table.copy()
        table.delete_priority(parse_priority(priority))
        self._commit(table)
        return Response(200, None)

    @route("DELETE", "settings/slice_condition_table/conditions/<condition_id>")
    async def delete_condition(self, request: Request, condition_id: str) -> Response:
        table = self.table.copy()
        table.delete(condition_id)
        self._commit(table)
        return Response(200, None)

    @route("GET", "settings/slice_condition_table")
    async def get_table(self, request: Request) -> Response:
        return Response(200, self.table.priorities())

    @route("GET", "settings/slice_condition_table/<priority>")
    async def get_priority(self, request: Request, priority: str) -> Response:
        ids = self.table.at(parse_priority(priority))
        if ids is None:
            raise NotFound(f"{self.id} has no slice condition at priority {priority}")
        return Response(200, ids)

    @route("GET", "settings/slice_condition_table/conditions/<condition_id>")
    async def get_condition(self, request: Request, condition_id: str) -> Response:
        condition = self.table.get(condition_id)
        if condition is None:
            raise NotFound(f"{self.id} has no slice condition {condition_id!r}")
        return Response(200, condition.to_json())

    @route("GET", "settings/slice_condition_table/connections/<connection_id>")
    async def get_connection(self, request: Request, connection_id: str) -> Response:
        return Response(200, [c.id for c in self.table.of_connection(connection_id)])

    @route("GET", "original_network_flow")
    async def get_original_flows(self, request: Request) -> Response:
        return Response(
            200, {o: flow_key(*ref) for ref, o in sorted(self._carried.items(), key=_by_key)}
        )

    @route("GET", "sliver_network_flow")
    async def get_sliver_flows(self, request: Request) -> Response:
        return Response(
            200, {flow_key(*ref): o for ref, o in sorted(self._carried.items(), key=_by_key)}
        )

    # --- requests -----------------------------------------------------------------------------

    def _original(self) -> str:
        if self.original is None:
            raise NetworkAnswer(self.id, "no request", None, "no original network connected")
        return self.original

    async def _get(self, network_id: str, path: str, missing: bool = False) -> Any:
        """``GET path`` of the network: the body; None for a 404 of the network's own when
        ``missing`` (the object does not exist).  Raises NetworkAnswer otherwise."""
        reply = await self.request(network_id, "GET", path)
        if reply.status == 200:
            return reply.body
        if missing and reply.status == 404 and _error_code(reply) == "NotFound":
            return None
        raise NetworkAnswer(network_id, f"GET {path}", reply, str(reply.body))

    async def _delete(self, network_id: str, path: str) -> bool:
        """``DELETE path``: True when it is gone or going (200, 202, 404); other answers
        are logged."""
        reply = await self.request(network_id, "DELETE", path)
        if reply.status in (200, 202) or (reply.status == 404 and _error_code(reply) == "NotFound"):
            return True
        log.warning("%s: DELETE %s/%s: %s %s", self.id, network_id, path, reply.status, reply.body)
        return False


def _by_key(item: tuple[FlowRef, str]) -> tuple[str, str]:
    return item[0]


def _ends(connection: dict[str, Any]) -> tuple[str, str, str]:
    """A connection's ``connection_type``, ``network_id`` and ``id``, checked."""
    kind, network_id = connection.get("connection_type"), connection.get("network_id")
    conn_id = connection.get("id")
    if kind not in (ORIGINAL, SLIVER):
        raise ValueError(f"a Slicer takes {ORIGINAL!r} and {SLIVER!r} connections, not {kind!r}")
    if not isinstance(network_id, str) or not network_id:
        raise ValueError(f"connection {conn_id!r} names no network")
    if not isinstance(conn_id, str) or not conn_id:
        raise ValueError("the connection has no id")
    return str(kind), network_id, conn_id


def _refusal(network_id: str, reply: Response) -> str:
    """The reason of a sliver flow whose original flow the original network refused."""
    message = reply.body.get("message") if isinstance(reply.body, dict) else None
    return f"the original network {network_id!r} refused it: {message or reply.body!r}"


def _error_code(reply: Response) -> str | None:
    return reply.body.get("error") if isinstance(reply.body, dict) else None


def _mapping(body: Any, network_id: str, what: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise NetworkAnswer(network_id, f"GET {what}", None, "not a JSON object")
    return body


def _flows(body: Any, network_id: str) -> dict[str, Any]:
    """The ``flows`` of a ``GET flows`` answer (a FlowSet)."""
    return _mapping(_mapping(body, network_id, "flows").get("flows"), network_id, "flows")
