"""The Aggregator (reference section 7): the whole original network shown as one node.

Connections: ``original`` (the network below) and ``aggregated`` (the network
it presents above), at most one each.  Once it holds both it keeps:

* **One node** in the aggregated network, with the Aggregator's id, whose
  ports are the original network's edge ports (neither ``in_link`` nor
  ``out_link``), named and mapped back as :mod:`~.naming` says, with the
  original ports' attributes.  Every ``NodeChanged``/``PortChanged``/
  ``LinkChanged`` of the original adds, updates or removes the ports it
  concerns.
* **Packets** (:mod:`~.packets`): each InPacket queued in the original network
  at an edge port is moved to the aggregated network's ``in`` queue, each
  OutPacket queued in the aggregated network to the original's ``out`` queue,
  one per original node it leaves from.
* **One original flow per aggregated flow** on that node, along a shortest
  path (:mod:`~.translation`, :mod:`~.routing`); the aggregated flow's status
  follows the original's, through the network's status machine.  A flow the
  original network cannot carry (no path, a port that is no edge port) goes
  ``failed`` with a ``reason`` attribute, and is tried again when the topology
  changes.

Level-triggered: an event only says *which* object to look at.  The
Aggregator then reads the object's current state (``GET``) and acts on that,
so that an event arriving late, twice, or before the snapshot it was taken
in cannot mislead it.  All its work (hooks, events, retries) runs one piece at
a time under one lock, on the manager's loop.

Flows, for an aggregated flow ``F`` and its original flow ``O``:

* ``F`` absent, or naming another node: ``O`` is deleted (once at rest or
  installed: never a second ``DELETE`` while ``O`` tears down, which the
  network would take as "remove at once").
* ``F`` at ``teardown`` that the Aggregator did not set: the aggregated
  network's ``DELETE`` of an installed flow.  ``O`` is deleted; when it is
  gone, ``F`` is set ``none`` and the aggregated network forgets it.
* otherwise ``O`` is created (``F`` first brought to ``none`` if it was
  not) or updated to match ``F`` (``enabled``, ``priority``, ports...), and
  ``F``'s status follows ``O``'s.  A teardown the Aggregator sets while
  following is remembered as its own, so as not to be read as a deletion.

Restart: what is derived from the two networks (which are durable themselves) is
read again: :meth:`Aggregator.on_connection_added` (also called for running
connections when the manager restarts) rebuilds it from ``GET`` answers; names
are deterministic, so it finds the node, ports and flows it made before and
changes nothing that is right.  What cannot be read from the networks is kept
in the Aggregator's durable state and restored before that: which teardowns
were its own (else a flow caught half-way through being disabled would be
read as deleted below) and which flows it failed.  If a network does not
answer, the rebuild is retried in the background with a growing delay.

The Aggregator watches only the flows of the aggregated network, not its
topology: a port of the aggregated node deleted there by hand comes back when
its original port changes, or at the next rebuild.

Deleting either connection removes what the Aggregator made: the original
flows (``DELETE``, so installed ones are torn down by the driver), the
aggregated flows' statuses (back to ``none``, since nothing carries them;
``failed`` ones stay failed), and the aggregated node.
"""

from __future__ import annotations

import logging
from typing import Any

from odenos.components.aggregator.naming import (
    aggregated_flow_id,
    original_flow_id,
    port_name,
    port_origin,
)
from odenos.components.aggregator.packets import in_packet_up, out_packets_down
from odenos.components.aggregator.routing import BadTopologyData, TopologyMirror
from odenos.components.aggregator.translation import (
    UntranslatableFlow,
    refers_to,
    same_content,
    translate,
)
from odenos.components.logic import (
    ESTABLISHING,
    FAILED,
    NONE,
    TEARDOWN,
    Logic,
    NetworkAnswer,
    connection_ends,
    failed_reason,
    flow_set,
    json_object,
)
from odenos.model.event import Event

log = logging.getLogger(__name__)

ORIGINAL = "original"
AGGREGATED = "aggregated"
ORIGINAL_EVENTS = ["NodeChanged", "PortChanged", "LinkChanged", "FlowChanged", "InPacketAdded"]
AGGREGATED_EVENTS = ["FlowChanged", "OutPacketAdded"]
#: Records of its durable state (what the networks do not show).
OWN_TEARDOWNS = "own_teardowns"
FAILED_FLOWS = "failed"


class Aggregator(Logic):
    TYPE = "Aggregator"
    DESCRIPTION = "Shows the whole original network as one node; carries its flows"
    CONNECTION_TYPES = {ORIGINAL: "1", AGGREGATED: "1"}
    RETRIED_ERRORS = (NetworkAnswer, BadTopologyData)

    def __init__(self, object_id: str, cm_id: str) -> None:
        super().__init__(object_id, cm_id)
        self.original: str | None = None
        self.aggregated: str | None = None
        self.topology = TopologyMirror()
        #: The aggregated node's ports as last written or read: name -> attributes.
        self.shown: dict[str, dict[str, Any]] = {}
        #: Aggregated flows the Aggregator failed as untranslatable: tried again on changes.
        self._failed: set[str] = set()
        #: Aggregated flow -> the links and (node, port)s its original flow uses.
        self._uses: dict[str, tuple[frozenset[str], frozenset[tuple[str, str]]]] = {}

    @property
    def node_id(self) -> str:
        """The aggregated node's id: the Aggregator's own."""
        return self.id

    # --- connections --------------------------------------------------------------------------

    async def on_connection_added(self, connection: dict[str, Any]) -> None:
        kind, network_id = _ends(connection)
        held = self.original if kind == ORIGINAL else self.aggregated
        other = self.aggregated if kind == ORIGINAL else self.original
        if held is not None and held != network_id:
            raise ValueError(f"{self.id} already has {held!r} as its {kind} network")
        if other == network_id:
            raise ValueError(f"{network_id!r} cannot be both original and aggregated network")
        async with self._lock:
            if kind == ORIGINAL:
                self.original = network_id
            else:
                self.aggregated = network_id
            await self.subscribe(
                network_id, ORIGINAL_EVENTS if kind == ORIGINAL else AGGREGATED_EVENTS
            )
        log.info("%s: %s network is %s", self.id, kind, network_id)
        if self.original is not None and self.aggregated is not None:
            await self._build_or_retry()

    async def on_connection_deleted(self, connection: dict[str, Any]) -> None:
        kind, network_id = _ends(connection)
        self._stop_retry()
        async with self._lock:
            await self.unsubscribe(network_id)
            if self.original is not None and self.aggregated is not None:
                await self._clean_up(self.original, self.aggregated)
            if kind == ORIGINAL and self.original == network_id:
                self.original = None
            elif kind == AGGREGATED and self.aggregated == network_id:
                self.aggregated = None
            self._forget()
        log.info("%s: let go of %s network %s", self.id, kind, network_id)

    async def on_initialize(self) -> None:
        # Restored before the connections are re-added (and the networks read again).
        self._own_teardowns = set(self.state.get(OWN_TEARDOWNS) or [])
        self._failed = set(self.state.get(FAILED_FLOWS) or [])

    async def on_finalize(self) -> None:
        self._stop_retry()

    def _save(self) -> None:
        """Keep what the networks do not show (written only when it changed)."""
        self.state.write(
            {OWN_TEARDOWNS: sorted(self._own_teardowns), FAILED_FLOWS: sorted(self._failed)}
        )

    def _forget(self, *, bookkeeping: bool = True) -> None:
        """Drop what is derived from the networks; with ``bookkeeping``, also which
        teardowns were ours and which flows we failed (a disconnect)."""
        self.ready = False
        self.topology = TopologyMirror()
        self.shown.clear()
        self._uses.clear()
        if bookkeeping:
            self._own_teardowns.clear()
            self._failed.clear()
            self._save()

    def _retrying(self) -> bool:
        return self.original is not None and self.aggregated is not None and not self.ready

    async def _rebuild(self) -> None:
        """Build everything from the networks' current state.  Raises NetworkAnswer or
        BadTopologyData if the topology or the aggregated node cannot be had."""
        orig, agg = self._networks()
        self._forget(bookkeeping=False)
        topology = await self._get(orig, "topology")
        for problem in self.topology.replace(topology):
            log.warning("%s: %s: skipped: %s", self.id, orig, problem)
        node = {"type": "Node", "node_id": self.node_id, "ports": {}, "attributes": {}}
        reply = await self.request(agg, "PUT", f"topology/nodes/{self.node_id}", node)
        if reply.status not in (200, 201):
            raise NetworkAnswer(agg, f"PUT node {self.node_id}", reply, str(reply.body))
        current = await self._get(agg, f"topology/nodes/{self.node_id}/ports")
        for name, port in json_object(current, agg, "ports").items():
            attributes = port.get("attributes") if isinstance(port, dict) else None
            self.shown[name] = attributes if isinstance(attributes, dict) else {}
        wanted = self.topology.edge_ports()
        for name in sorted(set(self.shown) - set(wanted)):
            await self._unshow(name)
        for port in wanted.values():
            await self._show(port.node_id, port.port_id)
        self.ready = True
        log.info(
            "%s: shows %s as node %s of %s with %d ports",
            self.id,
            orig,
            self.node_id,
            agg,
            len(self.shown),
        )
        flow_ids = {
            flow_id
            for flow_id, flow in flow_set(await self._get(agg, "flows"), agg).items()
            if isinstance(flow, dict) and refers_to(flow, self.node_id)
        }
        for original_id in flow_set(await self._get(orig, "flows"), orig):
            flow_id = aggregated_flow_id(self.id, str(original_id))
            if flow_id is not None:
                flow_ids.add(flow_id)
        for flow_id in sorted(flow_ids):
            await self._sync_flow_logged(flow_id)

    async def _clean_up(self, orig: str, agg: str) -> None:
        """Remove what the Aggregator made; whatever fails is logged and left."""
        self.ready = False
        try:
            flows = flow_set(await self._get(orig, "flows"), orig)
            for original_id in flows:
                if aggregated_flow_id(self.id, str(original_id)) is not None:
                    await self._delete(orig, f"flows/{original_id}")
        except NetworkAnswer as exc:
            log.warning("%s: original flows left in place: %s", self.id, exc)
        try:
            flows = flow_set(await self._get(agg, "flows"), agg)
            for flow in flows.values():
                if (
                    isinstance(flow, dict)
                    and refers_to(flow, self.node_id)
                    and flow.get("status") != FAILED
                ):
                    await self._follow(flow, NONE, None)
        except NetworkAnswer as exc:
            log.warning("%s: aggregated flow statuses left as they were: %s", self.id, exc)
        await self._delete(agg, f"topology/nodes/{self.node_id}")

    # --- events -------------------------------------------------------------------------------

    async def _handle(self, event: Event) -> None:
        body = event.body
        ident = body.get("id")
        if not isinstance(ident, str) or not ident:
            log.warning("%s: %s without an id: %r", self.id, event.event_type, body)
            return
        if event.publisher_id == self.aggregated:
            if event.event_type == "FlowChanged":
                await self._sync_flow(ident)
            elif event.event_type == "OutPacketAdded":
                await self._packet_down(ident)
            return
        if event.publisher_id != self.original:
            return
        if event.event_type == "FlowChanged":
            flow_id = aggregated_flow_id(self.id, ident)
            if flow_id is not None:
                await self._sync_flow(flow_id)
        elif event.event_type == "PortChanged":
            obj = body.get("curr") or body.get("prev")
            node_id = obj.get("node_id") if isinstance(obj, dict) else None
            if isinstance(node_id, str) and node_id:
                await self._port_changed(node_id, ident)
        elif event.event_type == "LinkChanged":
            await self._link_changed(ident)
        elif event.event_type == "NodeChanged" and body.get("action") in ("add", "delete"):
            await self._node_changed(ident)
        elif event.event_type == "InPacketAdded":
            await self._packet_up(ident)

    # --- packets (see :mod:`.packets`) ------------------------------------------------------------

    async def _take(self, network_id: str, queue: str, packet_id: str) -> dict[str, Any] | None:
        """Take a packet out of a network's queue: the packet, or None if it is gone."""
        reply = await self.request(network_id, "DELETE", f"packets/{queue}/{packet_id}")
        if reply.status != 200:
            raise NetworkAnswer(network_id, f"DELETE packets/{queue}/{packet_id}", reply, "")
        return reply.body if isinstance(reply.body, dict) else None

    async def _packet_up(self, packet_id: str) -> None:
        orig, agg = self._networks()
        packet = await self._take(orig, "in", packet_id)
        if packet is None:
            return  # taken by someone else
        up = in_packet_up(packet, self.node_id, self.topology)
        if up is None:
            log.info(
                "%s: in-packet %s of %s came in inside the network: dropped",
                self.id,
                packet_id,
                orig,
            )
            return
        await self._post(agg, "in", up)

    async def _packet_down(self, packet_id: str) -> None:
        orig, agg = self._networks()
        packet = await self._take(agg, "out", packet_id)
        if packet is None:
            return
        down = out_packets_down(packet, self.node_id, self.topology)
        if not down:
            log.info(
                "%s: out-packet %s of %s leaves by no edge port: dropped", self.id, packet_id, agg
            )
        for each in down:
            await self._post(orig, "out", each)

    # --- topology -----------------------------------------------------------------------------

    async def _port_changed(self, node_id: str, port_id: str) -> None:
        orig, _ = self._networks()
        raw = await self._get(orig, f"topology/nodes/{node_id}/ports/{port_id}", missing=True)
        if raw is None:
            self.topology.remove_port(node_id, port_id)
        else:
            self.topology.set_port(raw)
        await self._show(node_id, port_id)
        await self._resync(ports={(node_id, port_id)})

    async def _node_changed(self, node_id: str) -> None:
        orig, _ = self._networks()
        before = set(self.topology.nodes.get(node_id, {}))
        raw = await self._get(orig, f"topology/nodes/{node_id}", missing=True)
        if raw is None:
            self.topology.remove_node(node_id)
        else:
            for problem in self.topology.set_node(raw):
                log.warning("%s: %s: skipped: %s", self.id, orig, problem)
        ports = before | set(self.topology.nodes.get(node_id, {}))
        for port_id in sorted(ports):
            await self._show(node_id, port_id)
        await self._resync(ports={(node_id, port_id) for port_id in ports})

    async def _link_changed(self, link_id: str) -> None:
        orig, _ = self._networks()
        raw = await self._get(orig, f"topology/links/{link_id}", missing=True)
        if raw is None:
            self.topology.remove_link(link_id)
        else:
            self.topology.set_link(raw)
        await self._resync(links={link_id})

    async def _show(self, node_id: str, port_id: str) -> None:
        """Make the aggregated port of original port ``node_id``/``port_id`` match it:
        present with its attributes while it is an edge port, absent otherwise."""
        _, agg = self._networks()
        name = port_name(node_id, port_id)
        port = self.topology.port(node_id, port_id)
        if port is None or not port.is_edge:
            if name in self.shown:
                await self._unshow(name)
            return
        if name in self.shown and self.shown[name] == port.attributes:
            return
        body = {
            "type": "Port",
            "node_id": self.node_id,
            "port_id": name,
            "attributes": port.attributes,
        }
        reply = await self.request(agg, "PUT", f"topology/nodes/{self.node_id}/ports/{name}", body)
        if reply.status in (200, 201) and isinstance(reply.body, dict):
            attributes = reply.body.get("attributes")
            self.shown[name] = attributes if isinstance(attributes, dict) else {}
            if reply.status == 201:
                log.info("%s: port %s shows %s/%s", self.id, name, node_id, port_id)
        else:
            log.warning("%s: %s: PUT port %s: %s %s", self.id, agg, name, reply.status, reply.body)

    async def _unshow(self, name: str) -> None:
        _, agg = self._networks()
        if await self._delete(agg, f"topology/nodes/{self.node_id}/ports/{name}"):
            self.shown.pop(name, None)
            log.info("%s: port %s removed (%s)", self.id, name, port_origin(name))

    async def _resync(
        self,
        links: set[str] | frozenset[str] = frozenset(),
        ports: set[tuple[str, str]] | frozenset[tuple[str, str]] = frozenset(),
    ) -> None:
        """Look again at the flows a topology change may concern: those whose original
        flow uses one of ``links`` or ``ports``, and those failed for want of a path."""
        concerned = set(self._failed)
        for flow_id, (used_links, used_ports) in self._uses.items():
            if used_links & links or used_ports & ports:
                concerned.add(flow_id)
        for flow_id in sorted(concerned):
            await self._sync_flow_logged(flow_id)

    # --- flows --------------------------------------------------------------------------------

    async def _sync_flow_logged(self, flow_id: str) -> None:
        try:
            await self._sync_flow(flow_id)
        except NetworkAnswer as exc:
            log.warning("%s: flow %s not brought in line: %s", self.id, flow_id, exc)

    async def _sync_flow(self, flow_id: str) -> None:
        """Bring aggregated flow ``flow_id`` and its original flow in line (see the module
        docstring), from their current state."""
        orig, agg = self._networks()
        original_id = original_flow_id(self.id, flow_id)
        flow = await self._get(agg, f"flows/{flow_id}", missing=True)
        below = await self._get(orig, f"flows/{original_id}", missing=True)
        if flow is not None and not isinstance(flow, dict):
            raise NetworkAnswer(agg, f"GET flows/{flow_id}", None, "not a flow")
        if below is not None and not isinstance(below, dict):
            raise NetworkAnswer(orig, f"GET flows/{original_id}", None, "not a flow")
        self._note_uses(flow_id, below)
        if flow is None or not refers_to(flow, self.node_id):
            self._own_teardowns.discard(flow_id)
            self._failed.discard(flow_id)
            if below is not None:
                await self._delete_original(original_id, below)
            return
        status = flow.get("status")
        if status == TEARDOWN and flow_id not in self._own_teardowns:
            # The aggregated network's DELETE of an installed flow: take it down below,
            # then report none (the aggregated network then forgets it).
            if below is None:
                await self._set_status(flow, NONE)
            else:
                await self._delete_original(original_id, below)
            return
        path = below.get("path") if below is not None else None
        try:
            wanted = translate(
                flow,
                self.node_id,
                original_id,
                self.topology,
                path if isinstance(path, list) else None,
            )
        except UntranslatableFlow as exc:
            await self._fail(flow, original_id, below, exc.reason)
            return
        self._failed.discard(flow_id)
        if below is None:
            if status != NONE and await self._follow(flow, NONE, None) is None:
                return
            body = {**wanted, "version": "0"}  # version 0: create, never overwrite
            reply = await self.request(orig, "PUT", f"flows/{original_id}", body)
            if reply.status == 201:
                self._note_uses(flow_id, reply.body)
                log.info(
                    "%s: flow %s carried by %s/%s along %s",
                    self.id,
                    flow_id,
                    orig,
                    original_id,
                    wanted["path"],
                )
            elif reply.status != 409:  # 409: it was just created: its event comes
                log.warning("%s: PUT %s/flows/%s: %s", self.id, orig, original_id, reply.body)
            return
        if below.get("type", "BasicFlow") != wanted["type"]:
            # Recreated as the other flow type: a flow cannot change type in place, so
            # the original goes first (its deletion's event brings the new one).
            await self._delete_original(original_id, below)
            return
        if below.get("status") != TEARDOWN and not same_content(wanted, below):
            reply = await self.request(
                orig, "PUT", f"flows/{original_id}", {**wanted, "version": below.get("version")}
            )
            if reply.status != 200 or not isinstance(reply.body, dict):
                if reply.status != 409:  # 409: changed meanwhile: its event comes
                    log.warning("%s: PUT %s/flows/%s: %s", self.id, orig, original_id, reply.body)
                return
            below = reply.body
            self._note_uses(flow_id, below)
            log.info("%s: flow %s updated in %s/%s", self.id, flow_id, orig, original_id)
        target = str(below.get("status"))
        reason = failed_reason(below, original_id, orig) if target == FAILED else None
        await self._follow(flow, target, reason)

    def _note_uses(self, flow_id: str, below: Any) -> None:
        """Remember which links and ports the original flow uses, to know which topology
        changes concern it."""
        if not isinstance(below, dict):
            self._uses.pop(flow_id, None)
            return
        path = below.get("path")
        links = {x for x in path if isinstance(x, str)} if isinstance(path, list) else set()
        ports: set[tuple[str, str]] = set()
        matches = below.get("matches")
        for match in matches if isinstance(matches, list) else []:
            if isinstance(match, dict):
                ports.add((str(match.get("in_node")), str(match.get("in_port"))))
        actions = below.get("edge_actions")
        for node_id, node_actions in (actions if isinstance(actions, dict) else {}).items():
            for action in node_actions if isinstance(node_actions, list) else []:
                if isinstance(action, dict):
                    ports.add((str(node_id), str(action.get("output"))))
        self._uses[flow_id] = (frozenset(links), frozenset(ports))

    async def _fail(
        self, flow: dict[str, Any], original_id: str, below: dict[str, Any] | None, reason: str
    ) -> None:
        flow_id = str(flow.get("flow_id"))
        self._failed.add(flow_id)
        if below is not None:
            await self._delete_original(original_id, below)
        await self._set_failed(flow, reason)

    async def _delete_original(self, original_id: str, below: dict[str, Any]) -> None:
        """Delete the original flow once it is at rest or installed.  While it moves
        (``establishing``, ``teardown``) a DELETE would be early or, for a removal already
        requested, remove it at once; its next status change brings the Aggregator back."""
        if below.get("status") in (ESTABLISHING, TEARDOWN):
            return
        orig, _ = self._networks()
        if await self._delete(orig, f"flows/{original_id}"):
            log.info("%s: flow %s of %s deleted", self.id, original_id, orig)

    # --- requests -----------------------------------------------------------------------------

    def _networks(self) -> tuple[str, str]:
        if self.original is None or self.aggregated is None:
            raise NetworkAnswer(self.id, "no request", None, "not connected to both networks")
        return self.original, self.aggregated

    def _followed_network(self) -> str:
        return self._networks()[1]


def _ends(connection: dict[str, Any]) -> tuple[str, str]:
    return connection_ends(connection, (ORIGINAL, AGGREGATED), "an Aggregator")
