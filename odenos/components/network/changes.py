"""What a Network tells its one change hook: which object changed, how, and its before/after.

Every model of the network (:mod:`~odenos.components.network.topology`,
:mod:`~odenos.components.network.flows`, :mod:`~odenos.components.network.packets`)
reports each change through a :data:`ChangeListener`, after the change, so
that one place (the component's hook) can turn them into the reference's
events: ``kind`` + ``"Changed"`` for nodes, ports, links and flows
(``NodeChanged`` … ``FlowChanged``), ``kind`` + ``"Added"`` for packets
(``InPacketAdded``, ``OutPacketAdded``, always with action ``add``).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


class ChangeAction(enum.StrEnum):
    ADD = "add"
    UPDATE = "update"
    DELETE = "delete"


class ChangeKind(enum.StrEnum):
    """What changed; the value is the stem of the reference's event type."""

    NODE = "Node"
    PORT = "Port"
    LINK = "Link"
    FLOW = "Flow"
    IN_PACKET = "InPacket"
    OUT_PACKET = "OutPacket"


#: Called as ``listener(kind, action, prev, curr)`` for each object that changed;
#: ``kind`` is a :class:`ChangeKind` value, ``prev`` is ``None`` on add and
#: ``curr`` is ``None`` on delete (the reference's change-event shape).  Both
#: are fresh JSON copies the listener may keep.
ChangeListener = Callable[[str, ChangeAction, dict[str, Any] | None, dict[str, Any] | None], None]


@dataclass(frozen=True)
class Change:
    kind: str
    action: ChangeAction
    prev: dict[str, Any] | None
    curr: dict[str, Any] | None


class ChangeRecorder:
    """A versioned model's change bookkeeping: its ``version`` counts the operations that
    changed something, and every change is reported, after it, to the listener.  Models
    (topology, flows) derive from it so that :meth:`_commit` is the one place every
    change passes through."""

    def __init__(self, listener: ChangeListener | None = None) -> None:
        self.version = 0
        self._listener = listener

    def _commit(self, changes: list[Change]) -> None:
        """Record ``changes``, already applied."""
        if not changes:
            return
        self.version += 1
        if self._listener is not None:
            for change in changes:
                self._listener(change.kind, change.action, change.prev, change.curr)
