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
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

from odenos.components.aggregator.component import NetworkAnswer
from odenos.components.aggregator.translation import (
    REASON,
    UntranslatableFlow,
    same_content,
    status_steps,
)
from odenos.components.base import Component, Request, Response, route
from odenos.components.federator.model import (
    IS_BOUNDARY,
    Federation,
    boundary_ports,
    parse_boundary,
)
from odenos.components.federator.naming import (
    SEPARATOR,
    boundary_link_ids,
    segment_origin,
)
from odenos.components.federator.packets import in_packet_up, out_packets_down
from odenos.components.federator.translation import split_flow, target_status
from odenos.errors import BadRequest, Conflict, NotFound
from odenos.model.event import Event
from odenos.model.ids import check_id

log = logging.getLogger(__name__)

ORIGINAL = "original"
FEDERATED = "federated"
ORIGINAL_EVENTS = ["NodeChanged", "PortChanged", "LinkChanged", "FlowChanged", "InPacketAdded"]
FEDERATED_EVENTS = ["FlowChanged", "OutPacketAdded"]
BOUNDARY_PREFIX = "boundary/"
BOOKKEEPING = "bookkeeping"
NETWORKS = "networks"
MAX_BOUNDARIES = 10_000

NONE, ESTABLISHING, ESTABLISHED, TEARDOWN, FAILED = (
    "none",
    "establishing",
    "established",
    "teardown",
    "failed",
)

Split = dict[str, tuple[str, dict[str, Any]]]


class Federator(Component):
    TYPE = "Federator"
    DESCRIPTION = "Several original networks joined into one federated network through boundaries"
    CONNECTION_TYPES = {ORIGINAL: "*", FEDERATED: "1"}

    RETRY_FIRST, RETRY_CAP = 0.5, 10.0
    #: After a restart, how long to wait for the networks it held to be connected again
    #: before building without the missing ones (seconds).
    WAIT_CAP = 5.0

    def __init__(self, object_id: str, cm_id: str) -> None:
        super().__init__(object_id, cm_id)
        self.originals: set[str] = set()
        self.federated: str | None = None
        self.model = Federation()
        self.ready = False
        self._lock = asyncio.Lock()
        self._retry: asyncio.Task[None] | None = None
        #: What the federated network was last given (or read): node -> attributes,
        #: (node, port) -> attributes, link -> body.
        self._shown_nodes: dict[str, dict[str, Any]] = {}
        self._shown_ports: dict[tuple[str, str], dict[str, Any]] = {}
        self._shown_links: dict[str, dict[str, Any]] = {}
        #: Federated flow -> its segment flows known to exist: {(network, segment id)}.
        self._segments: dict[str, set[tuple[str, str]]] = {}
        #: Federated flow -> the split last made for it (to see which topology changes
        #: concern it).
        self._splits: dict[str, tuple[dict[str, Any], Split]] = {}
        self._own_teardowns: set[str] = set()
        self._failed: set[str] = set()
        self._reported: set[str] = set()
        #: The networks held before a restart (durable): the build waits for them.
        self._expected: set[str] = set()

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

    def _stop_retry(self) -> None:
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None

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
            for original_id in _flows(await self._get(network_id, "flows"), network_id):
                self._note_segment(network_id, str(original_id))
        flow_ids = set(_flows(await self._get(fed, "flows"), fed)) | set(self._segments)
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

    def _ours(self, name: str) -> bool:
        """Whether a federated node or link name is one the Federator gives."""
        if any(name.startswith(nw + SEPARATOR) for nw in self.originals):
            return True
        return any(name in boundary_link_ids(b) for b in self.model.boundaries)

    def _read_shown(self, topology: Any) -> None:
        fed = self._fed()
        body = _mapping(topology, fed, "topology")
        nodes, links = body.get("nodes"), body.get("links")
        for name, node in (nodes if isinstance(nodes, dict) else {}).items():
            if not isinstance(node, dict) or not self._ours(str(name)):
                continue
            self._shown_nodes[str(name)] = _attrs(node)
            ports = node.get("ports")
            for port_id, port in (ports if isinstance(ports, dict) else {}).items():
                self._shown_ports[(str(name), str(port_id))] = _attrs(port)
        for name, raw in (links if isinstance(links, dict) else {}).items():
            if not isinstance(raw, dict):
                continue
            # A boundary link of a boundary deleted while the federated network did not
            # answer: a ``_link01``/``_link02`` between two of its nodes.
            stale_boundary = str(name).endswith(("_link01", "_link02")) and all(
                self._ours(str(raw.get(end))) for end in ("src_node", "dst_node")
            )
            if self._ours(str(name)) or stale_boundary:
                self._shown_links[str(name)] = _link_view(raw)

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
            flows = _flows(await self._get(fed, "flows"), fed)
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

    async def _unmark(self, network_id: str, only: set[tuple[str, str, str]] | None = None) -> None:
        """Take ``is_boundary`` off the boundary ports of ``network_id`` (or ``only``)."""
        ports = only if only is not None else self.model.all_boundary_ports()
        for nw, node_id, port_id in sorted(ports):
            if nw == network_id and nw in self.originals:
                await self._mark(nw, node_id, port_id, False)

    # --- REST: boundaries and maps ------------------------------------------------------------

    @route("GET", "settings/boundaries")
    async def get_boundaries(self, request: Request) -> Response:
        return Response(200, {k: dict(v) for k, v in sorted(self.model.boundaries.items())})

    @route("GET", "settings/boundaries/<boundary_id>")
    async def get_boundary(self, request: Request, boundary_id: str) -> Response:
        """One boundary (ODENOS's Federator had no such route; its LinkLayerizer has)."""
        boundary = self.model.boundaries.get(boundary_id)
        if boundary is None:
            raise NotFound(f"{self.id} has no boundary {boundary_id!r}", boundary_id=boundary_id)
        return Response(200, dict(boundary))

    @route("POST", "settings/boundaries")
    async def post_boundary(self, request: Request) -> Response:
        boundary_id = str(uuid.uuid4())
        while boundary_id in self.model.boundaries:
            boundary_id = str(uuid.uuid4())
        body = request.body
        if isinstance(body, dict) and "id" in body:
            body = {k: v for k, v in body.items() if k != "id"}  # the id is assigned
        return await self._add_boundary(boundary_id, body)

    @route("PUT", "settings/boundaries/<boundary_id>")
    async def put_boundary(self, request: Request, boundary_id: str) -> Response:
        if not boundary_id.strip():
            raise BadRequest("boundary_id is empty.")
        check_id(boundary_id, "boundary_id")
        return await self._add_boundary(boundary_id, request.body)

    async def _add_boundary(self, boundary_id: str, body: Any) -> Response:
        boundary = parse_boundary(body, boundary_id)
        async with self._lock:
            existing = self.model.boundaries.get(boundary_id)
            if existing is not None:
                if existing == boundary:
                    return Response(200, dict(boundary))  # the same again: nothing to do
                raise Conflict("boundary already exist", boundary_id=boundary_id)
            taken = self.model.all_boundary_ports()
            for end in boundary_ports(boundary):
                if end in taken:
                    raise Conflict(
                        "boundary already exist: port "
                        f"{end[0]}/{end[1]}/{end[2]} is in another boundary",
                        boundary_id=boundary_id,
                    )
            if len(self.model.boundaries) >= MAX_BOUNDARIES:
                raise Conflict(f"{self.id} holds {MAX_BOUNDARIES} boundaries already")
            self.state.put(BOUNDARY_PREFIX + boundary_id, boundary)
            self.model.set_boundaries({**self.model.boundaries, boundary_id: boundary})
            log.info("%s: boundary %s: %s", self.id, boundary_id, boundary)
            await self._after_boundary_change()
        return Response(200, dict(boundary))

    @route("DELETE", "settings/boundaries/<boundary_id>")
    async def delete_boundary(self, request: Request, boundary_id: str) -> Response:
        async with self._lock:
            boundary = self.model.boundaries.get(boundary_id)
            if boundary is None:
                raise NotFound(
                    f"{self.id} has no boundary {boundary_id!r}", boundary_id=boundary_id
                )
            self.state.delete(BOUNDARY_PREFIX + boundary_id)
            rest = {k: v for k, v in self.model.boundaries.items() if k != boundary_id}
            self.model.set_boundaries(rest)
            log.info("%s: boundary %s deleted", self.id, boundary_id)
            try:
                for nw in sorted({end[0] for end in boundary_ports(boundary)}):
                    await self._unmark(nw, set(boundary_ports(boundary)))
            except NetworkAnswer as exc:
                log.warning("%s: is_boundary left: %s", self.id, exc)
            await self._after_boundary_change()
        return Response(200, None)

    async def _after_boundary_change(self) -> None:
        if not self.ready:
            return  # made when the federated network is there
        try:
            await self._sync_topology()
            await self._resync(set())
        except NetworkAnswer as exc:
            log.warning(
                "%s: boundary change not carried out yet (built again later): %s", self.id, exc
            )
            self._repair_later()
        finally:
            self._save()

    @route("GET", "federated_network_node")
    async def get_federated_network_node(self, request: Request) -> Response:
        return Response(200, self.model.maps()["federated_network_node"])

    @route("GET", "original_network_node")
    async def get_original_network_node(self, request: Request) -> Response:
        return Response(200, self.model.maps()["original_network_node"])

    @route("GET", "federated_network_port")
    async def get_federated_network_port(self, request: Request) -> Response:
        return Response(200, self.model.maps()["federated_network_port"])

    @route("GET", "original_network_port")
    async def get_original_network_port(self, request: Request) -> Response:
        return Response(200, self.model.maps()["original_network_port"])

    @route("GET", "federated_network_link")
    async def get_federated_network_link(self, request: Request) -> Response:
        return Response(200, self.model.maps()["federated_network_link"])

    @route("GET", "original_network_link")
    async def get_original_network_link(self, request: Request) -> Response:
        return Response(200, self.model.maps()["original_network_link"])

    @route("GET", "federated_network_flow")
    async def get_federated_network_flow(self, request: Request) -> Response:
        out = {
            f"{nw}::{original_id}": flow_id
            for flow_id, segments in sorted(self._segments.items())
            for nw, original_id in sorted(segments)
        }
        return Response(200, out)

    @route("GET", "original_network_flow")
    async def get_original_network_flow(self, request: Request) -> Response:
        out = {
            flow_id: [[nw, original_id] for nw, original_id in sorted(segments)]
            for flow_id, segments in sorted(self._segments.items())
            if segments
        }
        return Response(200, out)

    # --- events -------------------------------------------------------------------------------

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

    def _note_segment(self, network_id: str, original_id: str) -> str | None:
        origin = segment_origin(self.id, original_id)
        if origin is None:
            return None
        self._segments.setdefault(origin[0], set()).add((network_id, original_id))
        return origin[0]

    # --- topology -----------------------------------------------------------------------------

    async def _topology_changed(
        self, network_id: str, kind: str, ident: str, body: dict[str, Any]
    ) -> None:
        if kind == "NodeChanged":
            raw = await self._get(network_id, f"topology/nodes/{ident}", missing=True)
            problems = self.model.set_node(network_id, ident, raw)
        elif kind == "PortChanged":
            obj = body.get("curr") or body.get("prev")
            node_id = obj.get("node_id") if isinstance(obj, dict) else None
            if not isinstance(node_id, str) or not node_id:
                return
            raw = await self._get(
                network_id, f"topology/nodes/{node_id}/ports/{ident}", missing=True
            )
            problems = self.model.set_port(network_id, node_id, ident, raw)
        else:
            raw = await self._get(network_id, f"topology/links/{ident}", missing=True)
            problems = self.model.set_link(network_id, ident, raw)
        for problem in problems:
            log.warning("%s: skipped: %s", self.id, problem)
        await self._sync_topology()
        await self._resync(set())

    async def _sync_topology(self) -> None:
        """Make the federated topology the wanted picture (only the difference is sent),
        then the ``is_boundary`` marks."""
        fed = self._fed()
        picture = self.model.federated()
        for problem in self.model.collisions:
            if problem not in self._reported:
                log.warning("%s: name collision: %s", self.id, problem)
        self._reported = set(self.model.collisions)
        for name in sorted(set(self._shown_links) - set(picture.links)):
            if await self._delete(fed, f"topology/links/{name}"):
                self._shown_links.pop(name, None)
        for key in sorted(set(self._shown_ports) - set(picture.ports)):
            if key[0] in picture.nodes and await self._delete(
                fed, f"topology/nodes/{key[0]}/ports/{key[1]}"
            ):
                self._shown_ports.pop(key, None)
        for name in sorted(set(self._shown_nodes) - set(picture.nodes)):
            if await self._delete(fed, f"topology/nodes/{name}"):
                self._shown_nodes.pop(name, None)
                for key in [k for k in self._shown_ports if k[0] == name]:
                    del self._shown_ports[key]
                for link_id in [
                    k
                    for k, v in self._shown_links.items()
                    if name in (v.get("src_node"), v.get("dst_node"))
                ]:
                    del self._shown_links[link_id]
        for name, attributes in sorted(picture.nodes.items()):
            if self._shown_nodes.get(name) != attributes:
                node = {"type": "Node", "node_id": name, "ports": {}, "attributes": attributes}
                if await self._put(fed, f"topology/nodes/{name}", node):
                    self._shown_nodes[name] = attributes
        for (name, port_id), attributes in sorted(picture.ports.items()):
            if self._shown_ports.get((name, port_id)) != attributes:
                port = {
                    "type": "Port",
                    "node_id": name,
                    "port_id": port_id,
                    "attributes": attributes,
                }
                if await self._put(fed, f"topology/nodes/{name}/ports/{port_id}", port):
                    self._shown_ports[(name, port_id)] = attributes
        for name, link in sorted(picture.links.items()):
            if self._shown_links.get(name) != _link_view(link) and await self._put(
                fed, f"topology/links/{name}", link
            ):
                self._shown_links[name] = _link_view(link)
        wanted = self.model.boundary_ports_shown()
        for nw, node_id, port_id in sorted(wanted):
            await self._mark(nw, node_id, port_id, True)

    async def _mark(self, network_id: str, node_id: str, port_id: str, on: bool) -> None:
        """Set an original port's ``is_boundary`` to ``"true"`` (``on``) or back to the
        network's default ``"false"``, if it needs it."""
        original = self.model.originals.get(network_id)
        port = original.ports.get((node_id, port_id)) if original is not None else None
        if port is None or (port["attributes"].get(IS_BOUNDARY) == "true") == on:
            return
        path = f"topology/nodes/{node_id}/ports/{port_id}"
        raw = await self._get(network_id, path, missing=True)
        if not isinstance(raw, dict):
            return
        attributes = _attrs(raw)
        attributes[IS_BOUNDARY] = "true" if on else "false"  # the network's default
        if await self._put(network_id, path, {**raw, "attributes": attributes}):
            port["attributes"] = attributes

    async def _resync(self, concerned: set[str]) -> None:
        """Look again at the flows a topology or boundary change may concern: the failed
        ones, those whose split would now differ, and ``concerned``."""
        concerned = set(concerned) | self._failed
        for flow_id, (flow, split) in list(self._splits.items()):
            try:
                again = split_flow(flow, self.id, self.model)
            except UntranslatableFlow:
                concerned.add(flow_id)
                continue
            if again != split:
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
        """Bring federated flow ``flow_id`` and its segments in line, from their current
        state (see the Aggregator's, whose rules these follow for several segments)."""
        fed = self._fed()
        flow = await self._get(fed, f"flows/{flow_id}", missing=True)
        if flow is not None and not isinstance(flow, dict):
            raise NetworkAnswer(fed, f"GET flows/{flow_id}", None, "not a flow")
        existing: dict[str, tuple[str, dict[str, Any]]] = {}
        for network_id, original_id in sorted(self._segments.get(flow_id, set())):
            below = None
            if network_id in self.originals:
                below = await self._get(network_id, f"flows/{original_id}", missing=True)
            if isinstance(below, dict):
                existing[original_id] = (network_id, below)
            else:
                self._segments[flow_id].discard((network_id, original_id))
        if not self._segments.get(flow_id):
            self._segments.pop(flow_id, None)
        if flow is None:
            self._own_teardowns.discard(flow_id)
            self._failed.discard(flow_id)
            self._splits.pop(flow_id, None)
            for original_id, (network_id, below) in sorted(existing.items()):
                await self._delete_segment(network_id, original_id, below)
            return
        status = flow.get("status")
        if status == TEARDOWN and flow_id not in self._own_teardowns:
            # The federated network's DELETE of an installed flow: take the segments
            # down, then report none (the federated network then forgets it).
            self._splits.pop(flow_id, None)
            if not existing:
                await self._set_status(flow, NONE)
            for original_id, (network_id, below) in sorted(existing.items()):
                await self._delete_segment(network_id, original_id, below)
            return
        try:
            wanted = split_flow(flow, self.id, self.model)
        except UntranslatableFlow as exc:
            self._splits.pop(flow_id, None)
            await self._fail(flow, existing, exc.reason)
            return
        self._failed.discard(flow_id)
        self._splits[flow_id] = (flow, wanted)
        for original_id, (network_id, below) in sorted(existing.items()):
            if (
                original_id not in wanted
                or wanted[original_id][0] != network_id
                or below.get("type", "BasicFlow") != wanted[original_id][1]["type"]
            ):
                # Not wanted there (any more), or of the other type (a flow cannot change
                # type in place): it goes first; its deletion's event brings the new one.
                await self._delete_segment(network_id, original_id, below)
                del existing[original_id]
                if original_id in wanted:
                    return
        if not existing and status != NONE:
            current = await self._follow(flow, NONE, None)
            if current is None:
                return
            flow = current
        statuses: list[str] = []
        reason = None
        for original_id, (network_id, body) in sorted(wanted.items()):
            if original_id not in existing:
                reply = await self.request(
                    network_id, "PUT", f"flows/{original_id}", {**body, "version": "0"}
                )
                if reply.status == 201:
                    self._note_segment(network_id, original_id)
                    log.info(
                        "%s: flow %s: segment %s in %s", self.id, flow_id, original_id, network_id
                    )
                elif reply.status != 409:
                    log.warning(
                        "%s: PUT %s/flows/%s: %s", self.id, network_id, original_id, reply.body
                    )
                statuses.append(NONE)
                continue
            below = existing[original_id][1]
            if below.get("status") != TEARDOWN and not same_content(body, below):
                reply = await self.request(
                    network_id,
                    "PUT",
                    f"flows/{original_id}",
                    {**body, "version": below.get("version")},
                )
                if reply.status == 200 and isinstance(reply.body, dict):
                    below = reply.body
                    log.info("%s: segment %s of %s updated", self.id, original_id, network_id)
                elif reply.status != 409:
                    log.warning(
                        "%s: PUT %s/flows/%s: %s", self.id, network_id, original_id, reply.body
                    )
            seg_status = str(below.get("status"))
            statuses.append(seg_status)
            if seg_status == FAILED and reason is None:
                attributes = below.get("attributes")
                given = attributes.get(REASON) if isinstance(attributes, dict) else None
                reason = str(given) if given else f"flow {original_id!r} of {network_id!r} failed"
        target = target_status(str(flow.get("status")), statuses)
        await self._follow(flow, target, reason)

    async def _fail(
        self,
        flow: dict[str, Any],
        existing: dict[str, tuple[str, dict[str, Any]]],
        reason: str,
    ) -> None:
        flow_id = str(flow.get("flow_id"))
        self._failed.add(flow_id)
        for original_id, (network_id, below) in sorted(existing.items()):
            await self._delete_segment(network_id, original_id, below)
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
        fed = self._fed()
        flow_id = str(flow.get("flow_id"))
        raw = flow.get("attributes")
        attributes = dict(raw) if isinstance(raw, dict) else {}
        attributes.pop(REASON, None)
        if status == FAILED and reason is not None:
            attributes[REASON] = reason
        reply = await self.request(
            fed, "PUT", f"flows/{flow_id}", {**flow, "status": status, "attributes": attributes}
        )
        if reply.status in (200, 201) and isinstance(reply.body, dict):
            if status == TEARDOWN:
                self._own_teardowns.add(flow_id)
            else:
                self._own_teardowns.discard(flow_id)
            log.info("%s: flow %s of %s is %s", self.id, flow_id, fed, status)
            return reply.body
        if reply.status not in (404, 409):
            log.warning("%s: setting flow %s to %s: %s", self.id, flow_id, status, reply.body)
        return None

    async def _delete_segment(
        self, network_id: str, original_id: str, below: dict[str, Any]
    ) -> None:
        """Delete a segment once at rest or installed (never while it moves: a second
        DELETE of a flow tearing down removes it at once)."""
        if below.get("status") in (ESTABLISHING, TEARDOWN):
            return
        if await self._delete(network_id, f"flows/{original_id}"):
            log.info("%s: segment %s of %s deleted", self.id, original_id, network_id)

    # --- packets ------------------------------------------------------------------------------

    async def _take(self, network_id: str, queue: str, packet_id: str) -> dict[str, Any] | None:
        reply = await self.request(network_id, "DELETE", f"packets/{queue}/{packet_id}")
        if reply.status == 404:
            return None
        if reply.status != 200:
            raise NetworkAnswer(network_id, f"DELETE packets/{queue}/{packet_id}", reply, "")
        return reply.body if isinstance(reply.body, dict) else None

    async def _post(self, network_id: str, queue: str, packet: dict[str, Any]) -> None:
        reply = await self.request(network_id, "POST", f"packets/{queue}", packet)
        if reply.status != 200:
            log.warning("%s: POST %s/packets/%s: %s", self.id, network_id, queue, reply.body)

    async def _packet_up(self, network_id: str, packet_id: str) -> None:
        packet = await self._take(network_id, "in", packet_id)
        if packet is None:
            return
        up = in_packet_up(packet, network_id, self.model)
        if up is None:
            log.info(
                "%s: in-packet %s of %s dropped (boundary port)", self.id, packet_id, network_id
            )
            return
        await self._post(self._fed(), "in", up)

    async def _packet_down(self, packet_id: str) -> None:
        fed = self._fed()
        packet = await self._take(fed, "out", packet_id)
        if packet is None:
            return
        down = out_packets_down(packet, self.model)
        if not down:
            log.info(
                "%s: out-packet %s of %s names no node of ours: dropped", self.id, packet_id, fed
            )
        for network_id, each in down:
            await self._post(network_id, "out", each)

    # --- requests -----------------------------------------------------------------------------

    def _fed(self) -> str:
        if self.federated is None:
            raise NetworkAnswer(self.id, "no request", None, "no federated network")
        return self.federated

    async def _get(self, network_id: str, path: str, missing: bool = False) -> Any:
        reply = await self.request(network_id, "GET", path)
        if reply.status == 200:
            return reply.body
        if missing and reply.status == 404 and _error_code(reply) == "NotFound":
            return None
        raise NetworkAnswer(network_id, f"GET {path}", reply, str(reply.body))

    async def _put(self, network_id: str, path: str, body: dict[str, Any]) -> bool:
        reply = await self.request(network_id, "PUT", path, body)
        if reply.status in (200, 201):
            return True
        log.warning("%s: PUT %s/%s: %s %s", self.id, network_id, path, reply.status, reply.body)
        return False

    async def _delete(self, network_id: str, path: str) -> bool:
        reply = await self.request(network_id, "DELETE", path)
        if reply.status in (200, 202) or (reply.status == 404 and _error_code(reply) == "NotFound"):
            return True
        log.warning("%s: DELETE %s/%s: %s %s", self.id, network_id, path, reply.status, reply.body)
        return False


def _ends(connection: dict[str, Any]) -> tuple[str, str]:
    kind, network_id = connection.get("connection_type"), connection.get("network_id")
    if kind not in (ORIGINAL, FEDERATED):
        raise ValueError(
            f"a Federator takes {ORIGINAL!r} and {FEDERATED!r} connections, not {kind!r}"
        )
    if not isinstance(network_id, str) or not network_id:
        raise ValueError(f"connection {connection.get('id')!r} names no network")
    return str(kind), network_id


def _error_code(reply: Response) -> str | None:
    return reply.body.get("error") if isinstance(reply.body, dict) else None


def _mapping(body: Any, network_id: str, what: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise NetworkAnswer(network_id, f"GET {what}", None, "not a JSON object")
    return body


def _flows(body: Any, network_id: str) -> dict[str, Any]:
    return _mapping(_mapping(body, network_id, "flows").get("flows"), network_id, "flows")


def _attrs(obj: Any) -> dict[str, Any]:
    raw = obj.get("attributes") if isinstance(obj, dict) else None
    return dict(raw) if isinstance(raw, dict) else {}


def _link_view(link: dict[str, Any]) -> dict[str, Any]:
    return {
        key: link.get(key) if key != "attributes" else _attrs(link)
        for key in ("src_node", "src_port", "dst_node", "dst_port", "attributes")
    }
