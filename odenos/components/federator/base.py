"""What every part of the Federator shares: its state and its calls to the networks.

:class:`FederatorBase` holds the instance state the parts read and write (the
held networks, the :class:`~.model.Federation`, what the federated network was
last shown, the segment flows, the durable bookkeeping) and the requests to a
network (``GET``/``PUT``/``DELETE``, a reply that is not what was expected
raising :class:`~odenos.components.aggregator.component.NetworkAnswer`).

The parts are mixins over it, put together by
:class:`~.component.Federator`: :class:`~.api.FederatorApi` (the REST API of
boundaries and maps), :class:`~.topology_sync.TopologySync` (the federated
topology), :class:`~.flow_sync.FlowSync` (the federated flows and their
segments) and :class:`~.packet_relay.PacketRelay` (packets).  What one part
calls in another is declared here, for the type checker only.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from odenos.components.aggregator.component import NetworkAnswer
from odenos.components.base import Component, Response
from odenos.components.federator.model import Federation

log = logging.getLogger(__name__)

Split = dict[str, tuple[str, dict[str, Any]]]


class FederatorBase(Component):
    """The Federator's state and requests; not a component type of its own."""

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

    if TYPE_CHECKING:
        # Defined by the parts (see the module docstring); declared for those calling them.

        def _save(self) -> None: ...

        def _repair_later(self) -> None: ...

        async def _sync_topology(self) -> None: ...

        async def _unmark(
            self, network_id: str, only: set[tuple[str, str, str]] | None = None
        ) -> None: ...

        async def _resync(self, concerned: set[str]) -> None: ...

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


def _error_code(reply: Response) -> str | None:
    return reply.body.get("error") if isinstance(reply.body, dict) else None


def _mapping(body: Any, network_id: str, what: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise NetworkAnswer(network_id, f"GET {what}", None, "not a JSON object")
    return body
