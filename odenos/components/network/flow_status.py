"""The status machine of a flow (reference section 5).

::

    none ──> establishing ──> established ──> teardown ──> none
      any ──> failed ──> none | teardown

The reference's path is ``none → establishing → established``, then
``established → teardown → none`` when the flow is deleted or disabled, and
``any → failed``.  Its exits from ``failed`` are not spelled out; this
table lets a failed flow be cleaned up (``teardown``) or reset (``none``, from
where it may be established again), and nothing else, so that a flow never
jumps to ``established`` without passing ``establishing``.

Staying in the same status is not a transition and is always allowed.
:class:`~odenos.components.network.flows.FlowTable` applies the table, in its
one ``_set_status``.
"""

from __future__ import annotations

import enum
from typing import Any

from odenos.errors import BadRequest, InvalidStateTransition


class FlowStatus(enum.StrEnum):
    NONE = "none"
    ESTABLISHING = "establishing"
    ESTABLISHED = "established"
    TEARDOWN = "teardown"
    FAILED = "failed"


ALLOWED_TRANSITIONS: dict[FlowStatus, frozenset[FlowStatus]] = {
    FlowStatus.NONE: frozenset({FlowStatus.ESTABLISHING, FlowStatus.FAILED}),
    FlowStatus.ESTABLISHING: frozenset({FlowStatus.ESTABLISHED, FlowStatus.FAILED}),
    FlowStatus.ESTABLISHED: frozenset({FlowStatus.TEARDOWN, FlowStatus.FAILED}),
    FlowStatus.TEARDOWN: frozenset({FlowStatus.NONE, FlowStatus.FAILED}),
    FlowStatus.FAILED: frozenset({FlowStatus.NONE, FlowStatus.TEARDOWN}),
}

#: Where a flow has nothing installed below the network, as far as the network
#: knows, so that it can be forgotten at once.
RESTING = frozenset({FlowStatus.NONE, FlowStatus.FAILED})


def parse_status(value: Any, what: str = "flow status") -> FlowStatus:
    """``value`` as a :class:`FlowStatus`, or :class:`BadRequest` listing the statuses."""
    try:
        return FlowStatus(value)
    except ValueError:
        allowed = [s.value for s in FlowStatus]
        raise BadRequest(
            f"{what} {value!r} is not one of: {', '.join(allowed)}",
            field="status",
            allowed=allowed,
        ) from None


def allowed(current: FlowStatus, new: FlowStatus) -> bool:
    return new == current or new in ALLOWED_TRANSITIONS[current]


class InvalidFlowTransition(InvalidStateTransition):
    """409: the table does not allow ``current → requested`` for this flow.

    Carries ``flow_id``, ``current``, ``requested`` and ``allowed`` (the
    statuses the flow may go to from ``current``).
    """

    def __init__(self, flow_id: str, current: FlowStatus, requested: FlowStatus) -> None:
        super().__init__(flow_id, current.value, requested.value)
        choices = sorted(s.value for s in ALLOWED_TRANSITIONS[current])
        self.message = (
            f"flow {flow_id!r} cannot go from status {current.value!r} to {requested.value!r}; "
            f"from {current.value!r} it may go to {', '.join(map(repr, choices))}"
        )
        self.args = (self.message,)
        self.details.update(flow_id=flow_id, allowed=choices)
