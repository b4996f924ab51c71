"""What every part of the Federator shares: its state and its calls to the networks.

:class:`FederatorBase` holds the instance state the parts read and write (the
held networks, the :class:`~.model.Federation`, what the federated network was
last shown, the segment flows, the durable bookkeeping) and the requests to a
network (``PUT``; ``GET``/``DELETE`` and the following of flow statuses are those of
:class:`~odenos.components.logic.Logic`, a reply that is not what was expected
raising :class:`~odenos.components.logic.NetworkAnswer`).

The parts are mixins over it, put together by
:class:`~.component.Federator`: :class:`~.api.FederatorApi` (the REST API of
boundaries and maps), :class:`~.topology_sync.TopologySync` (the federated
topology), :class:`~.flow_sync.FlowSync` (the federated flows and their
segments) and :class:`~.packet_relay.PacketRelay` (packets).  What one part
calls in another is declared here, for the type checker only.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from odenos.components.federator.model import Federation
from odenos.components.logic import Logic, NetworkAnswer

log = logging.getLogger(__name__)

Split = dict[str, tuple[str, dict[str, Any]]]


class FederatorBase(Logic):
    """The Federator's state and requests; not a component type of its own."""

    def __init__(self, object_id: str, cm_id: str) -> None:
        super().__init__(object_id, cm_id)
        self.originals: set[str] = set()
        self.federated: str | None = None
        self.model = Federation()
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
        self._failed: set[str] = set()
        self._reported: set[str] = set()
        #: The networks held before a restart (durable): the build waits for them.
        self._expected: set[str] = set()

    if TYPE_CHECKING:
        # Defined by the parts (see the module docstring); declared for those calling them.

        async def _sync_topology(self) -> None: ...

        async def _unmark(
            self, network_id: str, only: set[tuple[str, str, str]] | None = None
        ) -> None: ...

        async def _resync(self, concerned: set[str]) -> None: ...

    def _fed(self) -> str:
        if self.federated is None:
            raise NetworkAnswer(self.id, "no request", None, "no federated network")
        return self.federated

    def _followed_network(self) -> str:
        return self._fed()

    async def _put(self, network_id: str, path: str, body: dict[str, Any]) -> bool:
        reply = await self.request(network_id, "PUT", path, body)
        if reply.status in (200, 201):
            return True
        log.warning("%s: PUT %s/%s: %s %s", self.id, network_id, path, reply.status, reply.body)
        return False
