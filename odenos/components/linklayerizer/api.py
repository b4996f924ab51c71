"""The LinkLayerizer's REST API: its boundaries (``settings/boundaries``), its
``settings/upper_link_sync`` and its maps (``lower_flows``, ``layerized_links``).

Settings are durable (one record per boundary, ``boundary/<id>``, and one for the sync
setting, in the component's state); a change is answered at once and carried out on the
networks afterwards, in the background (:meth:`LinkLayerizerApi._later`) if the
LinkLayerizer is built, and otherwise by the build that comes once it holds its networks.
"""

from __future__ import annotations

import asyncio
import logging
import uuid

from odenos.components.base import Request, Response, route
from odenos.components.linklayerizer.base import BOUNDARY, SYNC, LinkLayerizerBase
from odenos.components.linklayerizer.translation import boundary_clash, check_id, parse_boundary
from odenos.components.logic import NetworkAnswer
from odenos.errors import BadRequest, Conflict, NotFound

log = logging.getLogger(__name__)


class LinkLayerizerApi(LinkLayerizerBase):
    """The routes of settings and maps (collected into
    :class:`~odenos.components.linklayerizer.component.LinkLayerizer`'s routes:
    :class:`~odenos.components.base.Component` gathers them over the MRO)."""

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
