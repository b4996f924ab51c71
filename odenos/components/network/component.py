"""The built-in ``Network`` component: topology, flows and packets over the reference's REST paths.

Handlers are thin: they read the path and query, call the model
(:class:`~odenos.components.network.topology.Topology`,
:class:`~odenos.components.network.flows.FlowTable`,
:class:`~odenos.components.network.packets.PacketQueues`), and shape the answer.
Every rule (consistency, versions, conflicts, the flow status machine) and
every error lives in the model.

Status codes, ODENOS's: PUT answers 201 when it created the object and 200
when it updated it (or found nothing to change); POST creates under a generated
id and answers 200; DELETE answers 200 with no body, also for a node, a port of
an existing node or a packet that is not there, and for a flow whose removal
waits for its teardown by the driver (it stays, marked, until then: see
:mod:`~odenos.components.network.flows`).  Taking a packet out of a queue
(``DELETE packets/<queue>/head`` or ``/<packet_id>``) answers 200 with the
packet; the head of an empty queue is 204 with no body.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, ClassVar

from odenos.components.base import Component, Request, Response, route
from odenos.components.network import durable
from odenos.components.network.changes import Change, ChangeAction, ChangeKind
from odenos.components.network.flow_query import FlowQuery
from odenos.components.network.flows import FlowTable
from odenos.components.network.objects import (
    Link,
    Node,
    Port,
    attributes_match,
    check_version,
    parse_attribute_query,
    requested_version,
)
from odenos.components.network.packets import DEFAULT_QUEUE_LIMIT, PacketQueues
from odenos.components.network.topology import Topology
from odenos.errors import BadRequest, OdenosError
from odenos.model.event import change_body

log = logging.getLogger(__name__)


def _attribute_query(query: Mapping[str, str]) -> dict[str, str]:
    """The ``attributes`` query parameter as ``{key: value}``; empty when absent."""
    raw = query.get("attributes")
    return parse_attribute_query(raw) if raw else {}


def _put_answer(obj: Node | Port | Link, created: bool) -> Response:
    return Response(201 if created else 200, obj.to_json())


_ID_KEYS = {
    ChangeKind.NODE: "node_id",
    ChangeKind.PORT: "port_id",
    ChangeKind.LINK: "link_id",
    ChangeKind.FLOW: "flow_id",
}


class Network(Component):
    """A network: nodes, ports and links, the flows through them, and packet queues.

    Requests run on the component manager's event loop, one at a time per
    handler call; the models are only touched from there.
    """

    TYPE: ClassVar[str] = "Network"
    SUPER_TYPE: ClassVar[str | None] = "Network"
    DESCRIPTION: ClassVar[str] = "Network component"
    CONNECTION_TYPES: ClassVar[dict[str, str]] = {}
    #: How many packets each of the in and out queues holds before dropping the oldest.
    PACKET_QUEUE_LIMIT: ClassVar[int] = DEFAULT_QUEUE_LIMIT

    def __init__(self, object_id: str, cm_id: str) -> None:
        super().__init__(object_id, cm_id)
        self.topology = Topology(listener=self._changed)
        self.flows = FlowTable(listener=self._changed)
        self.packets = PacketQueues(listener=self._changed, limit=self.PACKET_QUEUE_LIMIT)
        #: The changes of the request being handled, stored and published when it ends.
        self._changes: list[Change] = []
        self._flows_touched: set[str] = set()  # flows whose deletion mark alone changed
        self._events_after: list[tuple[str, dict[str, Any]]] = []
        self._depth = 0

    async def on_initialize(self) -> None:
        """Back from the durable records, if this network had any (its manager restarted)."""
        for problem in durable.restore(self.state, self.topology, self.flows):
            log.error("%s: stored record not restored: %s", self.id, problem)
        if self.topology.nodes or self.flows.flows:
            log.debug(
                "%s: restored %d node(s), %d link(s), %d flow(s)",
                self.id,
                len(self.topology.nodes),
                len(self.topology.links),
                len(self.flows.flows),
            )

    async def dispatch(self, request: Request) -> Response:
        """Handle ``request``, then store what it changed (all of it, or nothing and the
        change undone: 413) and publish its events."""
        before = (self.topology.version, self.flows.version)
        deleting = {f for f in self.flows.flows if self.flows.deleting(f)}
        self._depth += 1
        try:
            return await super().dispatch(request)
        finally:
            self._depth -= 1
            if self._depth == 0:
                self._settle((before, deleting))

    def _changed(
        self,
        kind: str,
        action: ChangeAction,
        prev: dict[str, Any] | None,
        curr: dict[str, Any] | None,
    ) -> None:
        """Called once per changed object, after the change: ``kind`` is a
        :class:`~odenos.components.network.changes.ChangeKind` value ("Node",
        "Port", "Link", "Flow", "InPacket", "OutPacket")."""
        self._changes.append(Change(kind, action, prev, curr))
        if self._depth == 0:
            self._settle(None)  # a change made outside a request (a unit test's set-up)

    def _settle(self, undo_to: tuple[tuple[int, int], set[str]] | None) -> None:
        changes, self._changes = self._changes, []
        touched, self._flows_touched = self._flows_touched, set()
        after, self._events_after = self._events_after, []
        puts, deletes = durable.records_of(changes, self.topology, self.flows, touched)
        try:
            self.state.write(puts, deletes)
        except OdenosError:
            if undo_to is None:
                raise
            durable.undo(changes, self.topology, self.flows, *undo_to)
            raise
        for change in changes:
            self._publish(change)
        for event_type, body in after:
            self.publish(event_type, body)

    def _publish(self, change: Change) -> None:
        """The one place where ``NodeChanged`` … ``FlowChanged`` (with ``action``,
        ``prev``, ``curr``, ``id``, ``version``), ``InPacketAdded`` and
        ``OutPacketAdded`` events are published."""
        kind, action, prev, curr = change.kind, change.action, change.prev, change.curr
        obj = curr if curr is not None else prev
        if kind in (ChangeKind.IN_PACKET, ChangeKind.OUT_PACKET):
            self.publish(f"{kind}Added", {"id": (obj or {}).get("packet_id"), "curr": curr})
            return
        ident = (obj or {}).get(_ID_KEYS.get(ChangeKind(kind), "id"))
        version = (curr or prev or {}).get("version")
        self.publish_change(f"{kind}Changed", action.value, prev, curr, id=ident, version=version)

    # --- topology ------------------------------------------------------------------------------

    @route("GET", "topology")
    async def get_topology(self, request: Request) -> Response:
        return Response(200, self.topology.to_json())

    @route("PUT", "topology")
    async def put_topology(self, request: Request) -> Response:
        prev = self.topology.to_json()
        self.topology.replace(request.body)
        curr = self.topology.to_json()
        if curr != prev:
            # After each changed object's event: this says the whole was replaced.
            body = change_body("update", prev, curr, version=curr.get("version"))
            self._events_after.append(("TopologyChanged", body))
        return Response(200, curr)

    # --- nodes ---------------------------------------------------------------------------------

    @route("POST", "topology/nodes")
    async def post_node(self, request: Request) -> Response:
        return Response(200, self.topology.add_node(request.body).to_json())

    @route("GET", "topology/nodes")
    async def get_nodes(self, request: Request) -> Response:
        nodes = self.topology.find_nodes(_attribute_query(request.query))
        return Response(200, {node_id: node.to_json() for node_id, node in nodes.items()})

    @route("GET", "topology/nodes/<node_id>")
    async def get_node(self, request: Request, node_id: str) -> Response:
        return Response(200, self.topology.node(node_id).to_json())

    @route("PUT", "topology/nodes/<node_id>")
    async def put_node(self, request: Request, node_id: str) -> Response:
        return _put_answer(*self.topology.put_node(node_id, request.body))

    @route("DELETE", "topology/nodes/<node_id>")
    async def delete_node(self, request: Request, node_id: str) -> Response:
        node = self.topology.nodes.get(node_id)
        if node is not None:
            _check_delete_version(request, f"node {node_id!r}", node.version)
            self.topology.delete_node(node_id)
        return Response(200)

    @route("PUT", "topology/nodes/<node_id>/attributes")
    async def put_node_attributes(self, request: Request, node_id: str) -> Response:
        return Response(200, self.topology.merge_node_attributes(node_id, request.body).to_json())

    @route("GET", "topology/physical_nodes/<physical_id>")
    async def get_physical_node(self, request: Request, physical_id: str) -> Response:
        return Response(200, self.topology.node_by_physical_id(physical_id).to_json())

    @route("PUT", "topology/physical_nodes/<physical_id>")
    async def put_physical_node(self, request: Request, physical_id: str) -> Response:
        return _put_answer(*self.topology.put_physical_node(physical_id, request.body))

    @route("DELETE", "topology/physical_nodes/<physical_id>")
    async def delete_physical_node(self, request: Request, physical_id: str) -> Response:
        node = self.topology.find_node_by_physical_id(physical_id)
        if node is not None:  # ODENOS: gone already is as good as deleted
            _check_delete_version(request, f"node {node.node_id!r}", node.version)
            self.topology.delete_node(node.node_id)
        return Response(200)

    @route("PUT", "topology/physical_nodes/<physical_id>/attributes")
    async def put_physical_node_attributes(self, request: Request, physical_id: str) -> Response:
        node_id = self.topology.node_by_physical_id(physical_id).node_id
        return Response(200, self.topology.merge_node_attributes(node_id, request.body).to_json())

    # --- ports ---------------------------------------------------------------------------------

    @route("POST", "topology/nodes/<node_id>/ports")
    async def post_port(self, request: Request, node_id: str) -> Response:
        return Response(200, self.topology.add_port(node_id, request.body).to_json())

    @route("GET", "topology/nodes/<node_id>/ports")
    async def get_ports(self, request: Request, node_id: str) -> Response:
        ports = self.topology.find_ports(node_id, _attribute_query(request.query))
        return Response(200, {port_id: port.to_json() for port_id, port in ports.items()})

    @route("GET", "topology/nodes/<node_id>/ports/<port_id>")
    async def get_port(self, request: Request, node_id: str, port_id: str) -> Response:
        return Response(200, self.topology.port(node_id, port_id).to_json())

    @route("PUT", "topology/nodes/<node_id>/ports/<port_id>")
    async def put_port(self, request: Request, node_id: str, port_id: str) -> Response:
        return _put_answer(*self.topology.put_port(node_id, port_id, request.body))

    @route("DELETE", "topology/nodes/<node_id>/ports/<port_id>")
    async def delete_port(self, request: Request, node_id: str, port_id: str) -> Response:
        port = self.topology.node(node_id).ports.get(port_id)  # an unknown node is a 404
        if port is not None:
            _check_delete_version(request, f"port {port_id!r}", port.version)
            self.topology.delete_port(node_id, port_id)
        return Response(200)

    @route("PUT", "topology/nodes/<node_id>/ports/<port_id>/attributes")
    async def put_port_attributes(self, request: Request, node_id: str, port_id: str) -> Response:
        port = self.topology.merge_port_attributes(node_id, port_id, request.body)
        return Response(200, port.to_json())

    @route("GET", "topology/physical_ports/<physical_id>")
    async def get_physical_port(self, request: Request, physical_id: str) -> Response:
        return Response(200, self.topology.port_by_physical_id(physical_id).to_json())

    @route("PUT", "topology/physical_ports/<physical_id>")
    async def put_physical_port(self, request: Request, physical_id: str) -> Response:
        return _put_answer(*self.topology.put_physical_port(physical_id, request.body))

    @route("DELETE", "topology/physical_ports/<physical_id>")
    async def delete_physical_port(self, request: Request, physical_id: str) -> Response:
        port = self.topology.find_port_by_physical_id(physical_id)
        if port is not None:  # ODENOS: gone already is as good as deleted
            _check_delete_version(request, f"port {port.port_id!r}", port.version)
            self.topology.delete_port(port.node_id, port.port_id)
        return Response(200)

    @route("PUT", "topology/physical_ports/<physical_id>/attributes")
    async def put_physical_port_attributes(self, request: Request, physical_id: str) -> Response:
        found = self.topology.port_by_physical_id(physical_id)
        port = self.topology.merge_port_attributes(found.node_id, found.port_id, request.body)
        return Response(200, port.to_json())

    # --- links ---------------------------------------------------------------------------------

    @route("POST", "topology/links")
    async def post_link(self, request: Request) -> Response:
        return Response(200, self.topology.add_link(request.body).to_json())

    @route("GET", "topology/links")
    async def get_links(self, request: Request) -> Response:
        links = self.topology.find_links(_attribute_query(request.query))
        return Response(200, {link_id: link.to_json() for link_id, link in links.items()})

    @route("GET", "topology/links/<link_id>")
    async def get_link(self, request: Request, link_id: str) -> Response:
        return Response(200, self.topology.link(link_id).to_json())

    @route("PUT", "topology/links/<link_id>")
    async def put_link(self, request: Request, link_id: str) -> Response:
        return _put_answer(*self.topology.put_link(link_id, request.body))

    @route("DELETE", "topology/links/<link_id>")
    async def delete_link(self, request: Request, link_id: str) -> Response:
        _check_delete_version(request, f"link {link_id!r}", self.topology.link(link_id).version)
        self.topology.delete_link(link_id)
        return Response(200)

    @route("PUT", "topology/links/<link_id>/attributes")
    async def put_link_attributes(self, request: Request, link_id: str) -> Response:
        return Response(200, self.topology.merge_link_attributes(link_id, request.body).to_json())

    # --- flows ---------------------------------------------------------------------------------

    @route("POST", "flows")
    async def post_flow(self, request: Request) -> Response:
        return Response(200, self.flows.add(request.body).to_json())

    @route("GET", "flows")
    async def get_flows(self, request: Request) -> Response:
        return Response(
            200, self.flows.to_json(FlowQuery.from_query(request.query, links=self.topology.links))
        )

    @route("GET", "flows/<flow_id>")
    async def get_flow(self, request: Request, flow_id: str) -> Response:
        return Response(200, self.flows.flow(flow_id).to_json())

    @route("PUT", "flows/<flow_id>")
    async def put_flow(self, request: Request, flow_id: str) -> Response:
        flow, created = self.flows.put(flow_id, request.body)
        return Response(201 if created else 200, flow.to_json())

    @route("DELETE", "flows/<flow_id>")
    async def delete_flow(self, request: Request, flow_id: str) -> Response:
        _check_delete_version(request, f"flow {flow_id!r}", self.flows.flow(flow_id).version)
        pending = self.flows.delete(flow_id)
        if pending is not None:
            self._flows_touched.add(flow_id)  # marked for deletion: kept with the mark
        return Response(200)

    @route("PUT", "flows/<flow_id>/attributes")
    async def put_flow_attributes(self, request: Request, flow_id: str) -> Response:
        return Response(200, self.flows.merge_attributes(flow_id, request.body).to_json())

    # --- packets: <queue> is "in" or "out" -----------------------------------------------------

    @route("GET", "packets")
    async def get_packets(self, request: Request) -> Response:
        return Response(200, self.packets.status())

    @route("POST", "packets/<queue>")
    async def post_packet(self, request: Request, queue: str) -> Response:
        return Response(200, self.packets.add(queue, request.body).to_json())

    @route("GET", "packets/<queue>")
    async def get_queued_packets(self, request: Request, queue: str) -> Response:
        """ODENOS's answers: without a query the queue's PacketStatus (its half of
        ``GET packets``); with ``attributes=k=v[,...]`` (its only query) the matching
        packets by packet_id."""
        packets = self.packets.queue(queue)
        unknown = sorted(set(request.query) - {"attributes"})
        if unknown:
            raise BadRequest(
                f"packets/{queue} takes only the attributes query, not {', '.join(unknown)}",
                query=unknown,
            )
        if "attributes" not in request.query:
            return Response(200, self.packets.queue_status(queue))
        query = _attribute_query(request.query)
        return Response(
            200,
            {
                p.packet_id: p.to_json()
                for p in packets.packets()
                if attributes_match(p.attributes, query)
            },
        )

    @route("DELETE", "packets/<queue>")
    async def clear_packets(self, request: Request, queue: str) -> Response:
        self.packets.queue(queue).clear()
        return Response(200)

    # Before packets/<queue>/<packet_id>, which "head" would match too.
    @route("GET", "packets/<queue>/head")
    async def get_head_packet(self, request: Request, queue: str) -> Response:
        packets = self.packets.queue(queue)
        return Response(200, packets.head().to_json()) if len(packets) else Response(204)

    @route("DELETE", "packets/<queue>/head")
    async def pop_head_packet(self, request: Request, queue: str) -> Response:
        packets = self.packets.queue(queue)
        return Response(200, packets.pop_head().to_json()) if len(packets) else Response(204)

    @route("GET", "packets/<queue>/<packet_id>")
    async def get_packet(self, request: Request, queue: str, packet_id: str) -> Response:
        return Response(200, self.packets.queue(queue).get(packet_id).to_json())

    @route("DELETE", "packets/<queue>/<packet_id>")
    async def delete_packet(self, request: Request, queue: str, packet_id: str) -> Response:
        packets = self.packets.queue(queue)
        if not packets.has(packet_id):
            return Response(200)  # ODENOS: gone already is as good as deleted
        return Response(200, packets.remove(packet_id).to_json())


def _check_delete_version(request: Request, what: str, stored: int) -> None:
    """A DELETE whose body names a version deletes only that version (409 otherwise), as
    in ODENOS; without a body, or a version in it, it deletes whatever is stored."""
    if isinstance(request.body, dict):
        check_version(what, requested_version(request.body, what), stored)
