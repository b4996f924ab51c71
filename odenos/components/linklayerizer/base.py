"""What every part of the LinkLayerizer shares: its constants, its state and its calls
to the networks.

:class:`LinkLayerizerBase` holds the instance state the parts read and write (the held
networks, the boundaries, ``upper_link_sync``, the lower flow -> link map, what it made
in the networks, the durable bookkeeping and its :meth:`~LinkLayerizerBase._save`) and
the requests to a network (``PUT``; ``GET``/``DELETE`` and the following of flow statuses
are those of :class:`~odenos.components.logic.Logic`, a reply that is not what was
expected raising :class:`~odenos.components.logic.NetworkAnswer` with its status and
body as the problem).

The parts are mixins over it, put together by
:class:`~odenos.components.linklayerizer.component.LinkLayerizer`:
:class:`~.api.LinkLayerizerApi` (the REST API of boundaries, ``upper_link_sync`` and the
maps), :class:`~.topology.UpperTopologyMirror` (the upper topology, mirrored),
:class:`~.boundary_ports.BoundaryPorts` (the ``is_boundary`` marks),
:class:`~.links.LayerizedLinks` (lower flows -> layerized links),
:class:`~.flows.FlowCarrying` (layerized flows -> upper flows) and
:class:`~.packets.PacketRelay` (packets).  What one part calls in another is declared
here, for the type checker only.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from odenos.components.base import Response
from odenos.components.linklayerizer.translation import same_object
from odenos.components.logic import Logic, NetworkAnswer

log = logging.getLogger(__name__)

LOWER, UPPER, LAYERIZED = "lower", "upper", "layerized"
EVENTS = {
    LOWER: ["FlowChanged", "PortChanged"],
    UPPER: ["NodeChanged", "PortChanged", "LinkChanged", "FlowChanged", "InPacketAdded"],
    LAYERIZED: ["FlowChanged", "OutPacketAdded"],
}
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


class LinkLayerizerBase(Logic):
    """The LinkLayerizer's state and requests; not a component type of its own."""

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
        self.failed: set[str] = set()
        #: [network, node, port] it gave ``is_boundary``.
        self.marked: set[tuple[str, str, str]] = set()
        #: Layerized flow -> the links its path and its upper flow's path use.
        self.uses: dict[str, set[str]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    if TYPE_CHECKING:
        # Defined by the parts (see the module docstring); declared for those calling them.

        async def _mark_ports(self) -> None: ...

        async def _mark_port(self, network: str, node_id: str, port_id: str) -> None: ...

        async def _unmark(self, network: str | None) -> None: ...

        async def _rebuild_lower(self) -> None: ...

        def _wanted_link(self, ident: str) -> dict[str, Any] | None: ...

        async def _sync_link(self, ident: str) -> None: ...

        async def _resync(self, ident: str) -> None: ...

        async def _sync_flow_logged(self, flow_id: str) -> None: ...

        async def _sync_flow(self, flow_id: str) -> None: ...

    # --- durable state -----------------------------------------------------------------------

    def _save(self) -> None:
        self.state.write(
            {
                SYNC: self.sync,
                LINK_MAP: self.link_map,
                UPPER_LINKS: sorted(self.upper_links),
                CARRIED: sorted(self.carried),
                OWN_TEARDOWNS: sorted(self._own_teardowns),
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

    # --- requests ----------------------------------------------------------------------------

    def _pair(self) -> tuple[str, str]:
        upper, layer = self.networks[UPPER], self.networks[LAYERIZED]
        if upper is None or layer is None:
            raise NetworkAnswer(self.id, "no request", None)
        return upper, layer

    def _followed_network(self) -> str:
        return self._pair()[1]

    def _refused(self, network_id: str, what: str, reply: Response) -> NetworkAnswer:
        return NetworkAnswer(network_id, what, reply)

    async def _put_if(self, network: str, path: str, body: dict[str, Any], current: Any) -> None:
        if same_object(body, current):
            return
        reply = await self.request(network, "PUT", path, body)
        if reply.status not in (200, 201):
            log.warning("%s: PUT %s/%s: %s %s", self.id, network, path, reply.status, reply.body)


def _message(reply: Response) -> str:
    body = reply.body
    return str(body.get("message", body)) if isinstance(body, dict) else str(body)


def _mapping(body: Any, network_id: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise NetworkAnswer(network_id, "an answer that is not a JSON object", None)
    return body


def _flows(body: Any, network_id: str) -> dict[str, Any]:
    return _mapping(_mapping(body, network_id).get("flows"), network_id)
