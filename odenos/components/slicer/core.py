"""What every part of the Slicer shares: its state, its durable record, and its
requests to the networks.

:class:`SlicerCore` is the base of the Slicer's parts (:mod:`~.flows`,
:mod:`~.topology`, :mod:`~.packets`, :mod:`~.api`), which
:class:`~odenos.components.slicer.component.Slicer` puts together.  It holds
the state the parts share (each part sets up its own beside it), keeps in the durable state what
the networks do not show (:meth:`SlicerCore._save`), and talks to the networks
(``GET``, ``DELETE``, answering :class:`NetworkAnswer` when one does not answer).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from odenos.components.aggregator.component import NetworkAnswer
from odenos.components.base import Component, Response
from odenos.components.slicer.conditions import ConditionTable

log = logging.getLogger(__name__)

#: Records of its durable state besides the conditions.
OWN_TEARDOWNS = "own_teardowns"
SLIVERS = "slivers"

NONE, ESTABLISHING, ESTABLISHED, TEARDOWN, FAILED = (
    "none",
    "establishing",
    "established",
    "teardown",
    "failed",
)

FlowRef = tuple[str, str]  # (sliver network id, flow id)


class SlicerCore(Component):
    """The Slicer's state and requests, shared by its parts (see the module docstring)."""

    def __init__(self, object_id: str, cm_id: str) -> None:
        super().__init__(object_id, cm_id)
        self.original: str | None = None
        #: Sliver connections held: connection id -> network id.
        self.slivers: dict[str, str] = {}
        self.table = ConditionTable()
        #: True once built from the original; events are ignored before.
        self.ready = False
        self._lock = asyncio.Lock()
        #: Sliver flows whose teardown the Slicer set itself (following the original).
        self._own_teardowns: set[FlowRef] = set()
        #: Sliver networks served, durable: connection id -> network id.
        self._known: dict[str, str] = {}
        #: Sliver flows carried (their original flow exists) -> original flow id.
        self._carried: dict[FlowRef, str] = {}

    def _save(self) -> None:
        """Keep what the networks do not show (written only when it changed)."""
        self.state.write(
            {
                OWN_TEARDOWNS: sorted([n, f] for n, f in self._own_teardowns),
                SLIVERS: dict(sorted(self._known.items())),
            }
        )

    def _connection_of(self, network_id: str) -> str | None:
        for conn_id, held in self.slivers.items():
            if held == network_id:
                return conn_id
        return None

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


def _error_code(reply: Response) -> str | None:
    return reply.body.get("error") if isinstance(reply.body, dict) else None


def _mapping(body: Any, network_id: str, what: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise NetworkAnswer(network_id, f"GET {what}", None, "not a JSON object")
    return body


def _flows(body: Any, network_id: str) -> dict[str, Any]:
    """The ``flows`` of a ``GET flows`` answer (a FlowSet)."""
    return _mapping(_mapping(body, network_id, "flows").get("flows"), network_id, "flows")
