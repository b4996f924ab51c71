"""What every part of the Slicer shares: its state, its durable record, and its
requests to the networks.

:class:`SlicerCore` is the base of the Slicer's parts (:mod:`~.flows`,
:mod:`~.topology`, :mod:`~.packets`, :mod:`~.api`), which
:class:`~odenos.components.slicer.component.Slicer` puts together.  It holds
the state the parts share (each part sets up its own beside it), keeps in the durable state what
the networks do not show (:meth:`SlicerCore._save`), and keys its own teardowns by
sliver flow (:data:`FlowRef`).  Its requests to the networks (``GET``, ``DELETE``,
answering :class:`NetworkAnswer` when one does not answer) are those of
:class:`~odenos.components.logic.Logic`.
"""

from __future__ import annotations

from collections.abc import Hashable

from odenos.components.logic import Logic, NetworkAnswer
from odenos.components.slicer.conditions import ConditionTable

#: Records of its durable state besides the conditions.
OWN_TEARDOWNS = "own_teardowns"
SLIVERS = "slivers"

FlowRef = tuple[str, str]  # (sliver network id, flow id)


class SlicerCore(Logic):
    """The Slicer's state and requests, shared by its parts (see the module docstring)."""

    def __init__(self, object_id: str, cm_id: str) -> None:
        super().__init__(object_id, cm_id)
        self.original: str | None = None
        #: Sliver connections held: connection id -> network id.
        self.slivers: dict[str, str] = {}
        self.table = ConditionTable()
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

    def _teardown_key(self, network_id: str, flow_id: str) -> Hashable:
        return (network_id, flow_id)
