"""The Federator's REST API: its boundaries (``settings/boundaries``) and its maps.

Boundaries are durable (one record each, ``boundary/<id>``, in the component's
state).  Adding or deleting one is carried out on the networks at once (the
federated topology, the ``is_boundary`` marks, the flows it concerns) if the
Federator is built, else by the build; if a network does not answer, by the
build retried later.  The maps (``federated_network_*`` and
``original_network_*``) say which original object a federated one stands for
and back, from :meth:`~.model.Federation.maps` and the segment flows.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from odenos.components.base import Request, Response, route
from odenos.components.federator.base import FederatorBase
from odenos.components.federator.model import boundary_ports, parse_boundary
from odenos.components.logic import NetworkAnswer
from odenos.errors import BadRequest, Conflict, NotFound
from odenos.model.ids import check_id

log = logging.getLogger(__name__)

BOUNDARY_PREFIX = "boundary/"
MAX_BOUNDARIES = 10_000


class FederatorApi(FederatorBase):
    """The routes of boundaries and maps (collected into :class:`~.component.Federator`'s
    routes: :class:`~odenos.components.base.Component` gathers them over the MRO)."""

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
