"""The LearningSwitch (ODENOS's ``component/learningswitch``): its network run as one
MAC-learning layer 2 switch.

Connection: one network, taken under any of the connection types ODENOS's own clients
give it (:data:`CONNECTION_KINDS`).  ODENOS declares ``original:1`` but looks only at
the connection's ``logic_id``: its samples connect it as ``original``
(``rest_aggregator.sh``), ``lsw_conn`` (``rest_federator.sh``), ``sliver``
(``rest_slicer.sh``), ``layerized`` (``rest_linklayerizer.sh``) and, in its example
applications, ``learning_sw_conn``, ``learning_sw_nw`` and ``LearningSwitch``.  A second
connection, of whatever type, is refused (``error``), as ODENOS does.

On each ``InPacketAdded`` of its network it takes the packet out of the ``in`` queue
and (:mod:`~.forwarding`): learns where its ``eth_src`` is (the FDB; flows that the
move contradicts are deleted), then floods it when ``eth_dst`` is unknown, or installs
an ``OFPFlow`` for the pair along a cheapest path (unless a live one is there) and
sends the packet out of the destination's port.  A packet that is not OpenFlow, came
in at a port the network does not have (nothing is learnt there: a rebuild would forget
it), or at a port that carries a link (traffic inside the network, not from a host), is
dropped with a log line.

Its flows (owner: its id; ids ``<id>_<n>``, ``n`` from a durable counter) are the only
ones it touches.  Level-triggered: an event says which object changed; the switch
reads it (``GET``) and acts on what it finds:

* a flow of its own ``failed``, or disabled and ``none``: deleted (ODENOS); at
  ``teardown`` that the switch did not ask for (the switch dropped it, e.g. timed
  out): disabled, as ODENOS does, so that the driver brings it to ``none``, where it
  is deleted; a flow that :func:`~.forwarding.why_broken` finds wrong is deleted once
  at rest or installed (never a second DELETE while it moves, which the network
  would take as "remove at once");
* a link changed (added, down, deleted): every flow of its own is looked at again (a
  broken path or a cheaper one: deleted); a port or node deleted: the FDB entries
  there go, and the flows that enter or leave there.

What the network does not show is durable (``self.state``, written only when it
changes): the FDB (one record per MAC, ``fdb/<mac>``), the timers (``timers``) and the
flow counter (``next_flow``, stored before the flow it numbers is created).  The rest
(topology, its flows) is read again from the network when the connection is added,
also after the manager restarted, with a retry at growing intervals if the network
does not answer; then the FDB entries and flows at ports the network no longer has
are removed, and the InPackets still queued are handled.

Disconnecting deletes its flows (only its own: ODENOS deleted every flow of the
network) and empties the FDB, as ODENOS does; the timers and the counter stay.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from odenos.components.aggregator.routing import BadTopologyData, TopologyMirror
from odenos.components.base import Request, Response, route
from odenos.components.learningswitch.fdb import (
    BROADCAST,
    FDB_LIMIT,
    HARD,
    IDLE,
    Location,
    check_timer,
    mac_from_path,
    timers_from_record,
)
from odenos.components.learningswitch.forwarding import (
    Arrival,
    LearnedFlow,
    PathCosts,
    UnusablePacket,
    flood_packets,
    flow_body,
    flow_id_of,
    flow_key,
    flow_number,
    read_in_packet,
    unicast_packet,
    why_broken,
)
from odenos.components.logic import Logic, NetworkAnswer
from odenos.errors import OdenosError
from odenos.model.event import Event

log = logging.getLogger(__name__)

#: The connection types ODENOS's clients connect a LearningSwitch with (see the module
#: docstring); at most one connection of any of them.
CONNECTION_KINDS = (
    "original",
    "lsw_conn",
    "sliver",
    "layerized",
    "learning_sw_conn",
    "learning_sw_nw",
    "LearningSwitch",
)
EVENTS = ["NodeChanged", "PortChanged", "LinkChanged", "FlowChanged", "InPacketAdded"]
#: Durable records.
FDB_PREFIX = "fdb/"
TIMERS = "timers"
NEXT_FLOW = "next_flow"
#: Statuses in which a flow moves: a DELETE then would be a second one, or early.
MOVING = frozenset({"establishing", "teardown"})
#: Statuses in which the network removes a flow at once on DELETE.
RESTING = frozenset({"none", "failed"})


class LearningSwitch(Logic):
    TYPE = "LearningSwitch"
    DESCRIPTION = "Learning Switch: floods, learns MACs, installs OpenFlow flows"
    CONNECTION_TYPES = {kind: "1" for kind in CONNECTION_KINDS}
    RETRIED_ERRORS = (NetworkAnswer, BadTopologyData)
    NOT_BUILT = "cannot read the network yet"

    def __init__(self, object_id: str, cm_id: str) -> None:
        super().__init__(object_id, cm_id)
        self.network: str | None = None
        self.connection_id: str | None = None
        self.topology = TopologyMirror()
        #: Its flows in the network, as last read.
        self.flows: dict[str, LearnedFlow] = {}
        #: MAC -> where it was learnt.
        self.fdb: dict[str, Location] = {}
        self.timers = timers_from_record(None)
        self.next_flow = 0
        #: Flows it asked the network to delete (not to be disabled on their teardown).
        self._deleting: set[str] = set()
        self._full_logged = False

    # --- lifecycle ----------------------------------------------------------------------------

    async def on_initialize(self) -> None:
        for key, raw in self.state.items(FDB_PREFIX):
            location = Location.from_json(raw)
            if location is None:
                log.warning("%s: stored FDB record %s unusable: dropped", self.id, key)
                self.state.delete(key)
            else:
                self.fdb[key.removeprefix(FDB_PREFIX)] = location
        self.timers = timers_from_record(self.state.get(TIMERS))
        stored = self.state.get(NEXT_FLOW)
        self.next_flow = stored if isinstance(stored, int) and stored > 0 else 0

    async def on_finalize(self) -> None:
        self._stop_retry()

    # --- connections --------------------------------------------------------------------------

    async def on_connection_added(self, connection: dict[str, Any]) -> None:
        conn_id, network_id = _ends(connection)
        if self.connection_id is not None and self.connection_id != conn_id:
            raise ValueError(
                f"{self.id} already drives network {self.network!r} (connection "
                f"{self.connection_id!r}); a LearningSwitch takes one network"
            )
        async with self._lock:
            self.network, self.connection_id = network_id, conn_id
            await self.subscribe(network_id, EVENTS)
        log.info("%s: drives network %s (connection %s)", self.id, network_id, conn_id)
        await self._build_or_retry()

    async def on_connection_deleted(self, connection: dict[str, Any]) -> None:
        conn_id, network_id = _ends(connection)
        if conn_id != self.connection_id:
            return
        self._stop_retry()
        async with self._lock:
            await self.unsubscribe(network_id)
            await self._clean_up(network_id)
            self.network = self.connection_id = None
            self.ready = False
            self.topology = TopologyMirror()
            self.flows.clear()
            self._deleting.clear()
            self._forget_fdb(list(self.fdb))
            await self._flush()
        log.info("%s: let go of network %s", self.id, network_id)

    def _retrying(self) -> bool:
        return self.network is not None and not self.ready

    async def _settle(self) -> None:
        await self._flush()

    async def _rebuild(self) -> None:
        """Read the topology and its flows from the network, drop what no longer fits,
        and handle the InPackets still queued."""
        network = self._network()
        self.ready = False
        topology = await self._get(network, "topology")
        for problem in self.topology.replace(topology):
            log.warning("%s: %s: skipped: %s", self.id, network, problem)
        flows = await self._get(network, "flows")
        raw_flows = flows.get("flows") if isinstance(flows, dict) else None
        if not isinstance(raw_flows, dict):
            raise NetworkAnswer(network, "GET flows", None, "no FlowSet")
        self.flows.clear()
        for flow_id, raw in raw_flows.items():
            number = flow_number(self.id, flow_id)
            if number is not None and number >= self.next_flow:
                self._count_from(number + 1)
            flow = LearnedFlow.from_json(raw, self.id)
            if flow is not None:
                self.flows[flow.flow_id] = flow
        gone = [
            mac
            for mac, at in self.fdb.items()
            if self.topology.port(at.node_id, at.port_id) is None
        ]
        if gone:
            log.info("%s: FDB entries at ports %s no longer has: %s", self.id, network, gone)
            self._forget_fdb(gone)
        self.ready = True
        log.info(
            "%s: %s read: %d node(s), %d link(s), %d flow(s) of its own, %d MAC(s) known",
            self.id,
            network,
            len(self.topology.nodes),
            len(self.topology.links),
            len(self.flows),
            len(self.fdb),
        )
        try:
            await self._check_flows(check_ports=True)
            queued = await self._get(network, "packets/in")
            ids = queued.get("in_packets") if isinstance(queued, dict) else None
            for packet_id in ids if isinstance(ids, list) else []:
                if isinstance(packet_id, str):
                    await self._in_packet(packet_id)
        except NetworkAnswer as exc:
            # Ready all the same: the next events bring the switch back to what is left.
            log.warning("%s: after reading %s: %s", self.id, network, exc)

    async def _clean_up(self, network: str) -> None:
        """Delete its own flows in the network; whatever fails is logged and left."""
        try:
            flows = await self._get(network, "flows")
        except NetworkAnswer as exc:
            log.warning("%s: its flows left in %s: %s", self.id, network, exc)
            return
        raw_flows = flows.get("flows") if isinstance(flows, dict) else None
        for flow_id, raw in (raw_flows if isinstance(raw_flows, dict) else {}).items():
            if not isinstance(raw, dict) or raw.get("owner") != self.id:
                continue
            if flow_number(self.id, flow_id) is None:
                continue
            if flow_id in self._deleting and raw.get("status") in MOVING:
                continue  # its deletion is under way: a second DELETE would cut it short
            await self._delete(network, f"flows/{flow_id}")

    # --- events -------------------------------------------------------------------------------

    def _takes(self, event: Event) -> bool:
        return self.ready and event.publisher_id == self.network

    async def _handle(self, event: Event) -> None:
        body = event.body
        ident = body.get("id")
        if not isinstance(ident, str) or not ident:
            log.warning("%s: %s without an id: %r", self.id, event.event_type, body)
            return
        kind = event.event_type
        if kind == "InPacketAdded":
            await self._in_packet(ident)
        elif kind == "FlowChanged":
            await self._flow_changed(ident)
        elif kind == "LinkChanged":
            await self._link_changed(ident)
        elif kind == "PortChanged":
            obj = body.get("curr") or body.get("prev")
            node_id = obj.get("node_id") if isinstance(obj, dict) else None
            if isinstance(node_id, str) and node_id:
                await self._port_changed(node_id, ident)
        elif kind == "NodeChanged":
            await self._node_changed(ident)

    # --- packets ------------------------------------------------------------------------------

    async def _in_packet(self, packet_id: str) -> None:
        network = self._network()
        reply = await self.request(network, "DELETE", f"packets/in/{packet_id}")
        if reply.status != 200:
            raise NetworkAnswer(network, f"DELETE packets/in/{packet_id}", reply, "")
        if not isinstance(reply.body, dict):
            return  # taken by someone else
        try:
            arrival = read_in_packet(reply.body)
            extra = self.extra_match(arrival)
        except UnusablePacket as exc:
            log.info("%s: in-packet %s of %s dropped: %s", self.id, packet_id, network, exc)
            return
        port = self.topology.port(arrival.in_node, arrival.in_port)
        if port is None:
            # Not learnt: an entry there would be dropped by the next rebuild anyway, and
            # ids no port has would let a client fill the durable FDB with whatever
            # strings it likes (the FDB_LIMIT counts MACs, not bytes).
            log.info(
                "%s: in-packet %s came in at %s/%s, a port %s does not have: dropped",
                self.id,
                packet_id,
                _shown(arrival.in_node),
                _shown(arrival.in_port),
                network,
            )
            return
        if not port.is_edge:
            log.info(
                "%s: in-packet %s came in at %s/%s, a port with a link: dropped",
                self.id,
                packet_id,
                arrival.in_node,
                arrival.in_port,
            )
            return
        await self._learn(arrival.eth_src, arrival.source)
        # A broadcast is always flooded, even if an older record learnt the address.
        destination = None if arrival.eth_dst == BROADCAST else self.fdb.get(arrival.eth_dst)
        if destination is None:
            for packet in flood_packets(arrival, self.topology):
                await self._post_out(packet)
            return
        if destination == arrival.source:
            log.debug("%s: %s is where the packet came from: dropped", self.id, arrival.eth_dst)
            return
        await self._install(arrival, destination, extra)
        await self._post_out(unicast_packet(arrival, destination))

    async def _learn(self, mac: str, location: Location) -> None:
        if self.fdb.get(mac) == location:
            return
        if mac not in self.fdb and len(self.fdb) >= FDB_LIMIT:
            if not self._full_logged:
                log.warning("%s: the FDB is full (%d MACs): %s not learnt", self.id, FDB_LIMIT, mac)
                self._full_logged = True
            return
        moved = mac in self.fdb
        self.fdb[mac] = location
        self.state.write({FDB_PREFIX + mac: location.to_json()})
        log.info(
            "%s: %s %s at %s/%s",
            self.id,
            mac,
            "moved" if moved else "learnt",
            location.node_id,
            location.port_id,
        )
        # Flows that put it elsewhere go (ODENOS: the flows of a MAC that moved).
        await self._check_flows(lambda f: mac in (f.eth_src, f.eth_dst))

    def extra_match(self, arrival: Arrival) -> dict[str, Any]:
        """The match fields its flow for ``arrival`` has beyond ``in_node``, ``in_port``,
        ``eth_src`` and ``eth_dst``: none here; a subclass's hook (the LearningSwitchVlan
        adds the header's ``vlan_vid``).  May raise :class:`UnusablePacket`."""
        return {}

    async def _install(
        self, arrival: Arrival, destination: Location, extra: dict[str, Any]
    ) -> None:
        """Put the flow for ``arrival`` to ``destination`` (with the ``extra`` match
        fields) unless a live one with the same match and destination is there."""
        key = flow_key(arrival.source, arrival.eth_src, arrival.eth_dst, destination, extra)
        for flow in self.flows.values():
            if flow.live and flow.flow_id not in self._deleting and flow.key == key:
                return
        if arrival.in_node == destination.node_id:
            path: list[str] | None = []
        else:
            path = self.topology.shortest_path(arrival.in_node, destination.node_id)
        if path is None:
            log.info(
                "%s: no path from %s to %s: no flow for %s -> %s",
                self.id,
                arrival.in_node,
                destination.node_id,
                arrival.eth_src,
                arrival.eth_dst,
            )
            return
        network = self._network()
        flow_id = flow_id_of(self.id, self.next_flow)
        self._count_from(self.next_flow + 1)
        await self._flush()  # the id is spent before the flow exists: never given twice
        body = flow_body(flow_id, self.id, arrival, destination, path, self.timers, extra)
        reply = await self.request(network, "PUT", f"flows/{flow_id}", body)
        if reply.status == 201:
            made = LearnedFlow.from_json(reply.body, self.id)
            if made is not None:
                self.flows[flow_id] = made
            log.info(
                "%s: flow %s: %s -> %s%s along %s",
                self.id,
                flow_id,
                arrival.eth_src,
                arrival.eth_dst,
                "".join(f" {k}={v}" for k, v in sorted(extra.items())),
                path,
            )
        else:
            log.warning(
                "%s: PUT %s/flows/%s: %s %s", self.id, network, flow_id, reply.status, reply.body
            )

    async def _post_out(self, packet: dict[str, Any]) -> None:
        network = self._network()
        reply = await self.request(network, "POST", "packets/out", packet)
        if reply.status != 200:
            log.warning(
                "%s: POST %s/packets/out: %s %s", self.id, network, reply.status, reply.body
            )

    # --- flows --------------------------------------------------------------------------------

    async def _flow_changed(self, flow_id: str) -> None:
        if flow_number(self.id, flow_id) is None:
            return  # not one of its own
        network = self._network()
        raw = await self._get(network, f"flows/{flow_id}", missing=True)
        flow = LearnedFlow.from_json(raw, self.id)
        if flow is None:
            self.flows.pop(flow_id, None)
            self._deleting.discard(flow_id)
            return
        self.flows[flow_id] = flow
        await self._check_flow(flow, PathCosts(self.topology), check_ports=False)

    async def _check_flows(
        self,
        concerned: Callable[[LearnedFlow], bool] | None = None,
        *,
        check_ports: bool = False,
    ) -> None:
        """Look again at its flows (those ``concerned(flow)`` selects, when given)."""
        costs = PathCosts(self.topology)
        for flow in list(self.flows.values()):
            if concerned is None or concerned(flow):
                await self._check_flow(flow, costs, check_ports=check_ports)

    async def _check_flow(self, flow: LearnedFlow, costs: PathCosts, *, check_ports: bool) -> None:
        if flow.status == "failed" or (not flow.enabled and flow.status == "none"):
            # ODENOS's onFlowUpdate: a flow that failed, or was disabled and is down, goes.
            await self._delete_flow(flow, f"it is {flow.status}")
            return
        if flow.status == "teardown":
            if flow.enabled and flow.flow_id not in self._deleting:
                await self._disable(flow)
            return
        reason = why_broken(flow, self.topology, self.fdb, costs, check_ports=check_ports)
        if reason is not None:
            await self._delete_flow(flow, reason)

    async def _delete_flow(self, flow: LearnedFlow, reason: str) -> None:
        """DELETE a flow of its own, once at rest or installed; while it moves, its next
        status change brings the switch back."""
        if flow.status in MOVING:
            return
        network = self._network()
        if await self._delete(network, f"flows/{flow.flow_id}"):
            if flow.status in RESTING:
                self.flows.pop(flow.flow_id, None)  # removed at once: forgotten
            else:
                self._deleting.add(flow.flow_id)  # torn down first; forgotten when gone
            log.info("%s: flow %s deleted: %s", self.id, flow.flow_id, reason)

    async def _disable(self, flow: LearnedFlow) -> None:
        """ODENOS's answer to a teardown it did not ask for: disable the flow, so that the
        driver takes it to ``none``, where it is deleted."""
        network = self._network()
        raw = await self._get(network, f"flows/{flow.flow_id}", missing=True)
        if not isinstance(raw, dict) or raw.get("version") != flow.version:
            return  # changed meanwhile: its event comes
        body = {k: v for k, v in raw.items() if k != "status"} | {"enabled": False}
        reply = await self.request(network, "PUT", f"flows/{flow.flow_id}", body)
        if reply.status == 200:
            log.info("%s: flow %s torn down below: disabled", self.id, flow.flow_id)
        elif reply.status not in (404, 409):
            log.warning(
                "%s: disabling flow %s: %s %s", self.id, flow.flow_id, reply.status, reply.body
            )

    # --- topology -----------------------------------------------------------------------------

    async def _link_changed(self, link_id: str) -> None:
        raw = await self._get(self._network(), f"topology/links/{link_id}", missing=True)
        if raw is None:
            self.topology.remove_link(link_id)
        else:
            self.topology.set_link(raw)
        await self._check_flows()

    async def _port_changed(self, node_id: str, port_id: str) -> None:
        raw = await self._get(
            self._network(), f"topology/nodes/{node_id}/ports/{port_id}", missing=True
        )
        if raw is not None:
            self.topology.set_port(raw)
            return
        self.topology.remove_port(node_id, port_id)
        await self._gone(node_id, port_id)

    async def _node_changed(self, node_id: str) -> None:
        raw = await self._get(self._network(), f"topology/nodes/{node_id}", missing=True)
        if raw is not None:
            for problem in self.topology.set_node(raw):
                log.warning("%s: %s: skipped: %s", self.id, self.network, problem)
            return
        self.topology.remove_node(node_id)
        await self._gone(node_id, None)

    async def _gone(self, node_id: str, port_id: str | None) -> None:
        """A port (any port of the node when None) is gone: the FDB entries there and the
        flows entering or leaving there go too."""
        where = node_id if port_id is None else f"{node_id}/{port_id}"
        self._forget_fdb(
            [
                mac
                for mac, at in self.fdb.items()
                if at.node_id == node_id and (port_id is None or at.port_id == port_id)
            ],
            f"{where} is gone",
        )
        for flow in list(self.flows.values()):
            if flow.uses_port(node_id, port_id):
                await self._delete_flow(flow, f"{where} is gone")

    def _forget_fdb(self, macs: list[str], why: str | None = None) -> None:
        for mac in macs:
            self.fdb.pop(mac, None)
            self.state.delete(FDB_PREFIX + mac)
        if macs:
            self._full_logged = False  # room again: the next time it is full is news
        if macs and why is not None:
            log.info("%s: forgot %s: %s", self.id, ", ".join(sorted(macs)), why)

    def _count_from(self, number: int) -> None:
        self.next_flow = number
        self.state.write({NEXT_FLOW: number})

    async def _flush(self) -> None:
        """Until what the switch wrote is in ZooKeeper (outside a request); a failure is
        logged: the records stay queued and are written when ZooKeeper answers."""
        try:
            await self.state.flush()
        except OdenosError as exc:
            log.warning("%s: state not confirmed stored yet: %s", self.id, exc)

    # --- REST ---------------------------------------------------------------------------------

    @route("GET", "fdb")
    async def get_fdb(self, request: Request) -> Response:
        return Response(200, {mac: self.fdb[mac].to_json() for mac in sorted(self.fdb)})

    @route("DELETE", "fdb")
    async def delete_fdb(self, request: Request) -> Response:
        self._forget_fdb(list(self.fdb), "DELETE fdb")
        return Response(200)

    @route("DELETE", "fdb/<mac>")
    async def delete_fdb_entry(self, request: Request, mac: str) -> Response:
        self._forget_fdb([m for m in [mac_from_path(mac)] if m in self.fdb], "DELETE fdb/<mac>")
        return Response(200)

    @route("GET", "settings/default_idle_timer")
    async def get_idle_timer(self, request: Request) -> Response:
        return Response(200, self.timers[IDLE])

    @route("PUT", "settings/default_idle_timer")
    async def put_idle_timer(self, request: Request) -> Response:
        return self._put_timer(IDLE, request.body)

    @route("GET", "settings/default_hard_timer")
    async def get_hard_timer(self, request: Request) -> Response:
        return Response(200, self.timers[HARD])

    @route("PUT", "settings/default_hard_timer")
    async def put_hard_timer(self, request: Request) -> Response:
        return self._put_timer(HARD, request.body)

    def _put_timer(self, name: str, body: Any) -> Response:
        value = check_timer(body, name)
        timers = {**self.timers, name: value}
        self.state.write({TIMERS: timers})  # before the answer, and only if it changed
        self.timers = timers
        return Response(200, value)

    # --- requests -----------------------------------------------------------------------------

    def _network(self) -> str:
        if self.network is None:
            raise NetworkAnswer(self.id, "no request", None, "not connected to a network")
        return self.network


def _ends(connection: dict[str, Any]) -> tuple[str, str]:
    """A connection's id and ``network_id``, checked."""
    kind, network_id = connection.get("connection_type"), connection.get("network_id")
    if kind not in CONNECTION_KINDS:
        raise ValueError(
            f"a LearningSwitch takes one of the connection types {', '.join(CONNECTION_KINDS)}, "
            f"not {kind!r}"
        )
    if not isinstance(network_id, str) or not network_id:
        raise ValueError(f"connection {connection.get('id')!r} names no network")
    return str(connection.get("id")), network_id


def _shown(text: str) -> str:
    """An id from a client's packet, cut short for a log line."""
    return text if len(text) <= 80 else text[:77] + "..."
