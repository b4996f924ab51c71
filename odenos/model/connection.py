"""ComponentConnection (``LogicAndNetwork``) and its lifecycle (reference section 5).

Connect: the system manager stores the connection ``initializing``; the logic
component checks it and turns it ``running`` (or ``error`` with a reason).
Disconnect: ``finalizing``; the logic component lets go of it and turns it
``none``; then the record is removed.  :func:`check_transition` is the one
place that validates a transition.
"""

from __future__ import annotations

import enum
from typing import Any

from odenos.errors import BadRequest, InvalidStateTransition

CONNECTION_TYPE = "LogicAndNetwork"

#: Keys that name what is connected: they cannot change once the connection exists.
IDENTITY_KEYS = ("type", "connection_type", "logic_id", "network_id")


class ConnectionState(enum.StrEnum):
    INITIALIZING = "initializing"
    RUNNING = "running"
    FINALIZING = "finalizing"
    NONE = "none"
    ERROR = "error"


ALLOWED_TRANSITIONS: dict[ConnectionState, frozenset[ConnectionState]] = {
    ConnectionState.INITIALIZING: frozenset(
        {ConnectionState.RUNNING, ConnectionState.ERROR, ConnectionState.FINALIZING}
    ),
    ConnectionState.RUNNING: frozenset({ConnectionState.FINALIZING, ConnectionState.ERROR}),
    ConnectionState.ERROR: frozenset(
        {ConnectionState.RUNNING, ConnectionState.FINALIZING, ConnectionState.INITIALIZING}
    ),
    ConnectionState.FINALIZING: frozenset({ConnectionState.NONE, ConnectionState.ERROR}),
    ConnectionState.NONE: frozenset(),
}


def check_transition(conn_id: str, current: str, new: str) -> ConnectionState:
    """The new state, if the table allows ``current -> new``; else a 409."""
    try:
        old_state, new_state = ConnectionState(current), ConnectionState(new)
    except ValueError:
        raise BadRequest(f"unknown connection state {new!r}") from None
    if new_state != old_state and new_state not in ALLOWED_TRANSITIONS[old_state]:
        raise InvalidStateTransition(conn_id, old_state.value, new_state.value)
    return new_state


def new_connection(conn_id: str, body: Any) -> dict[str, Any]:
    """A connection record from a request body, ``initializing``; 400 for a bad body.

    Whether the components exist and accept it is the registry's business.
    """
    if not isinstance(body, dict):
        raise BadRequest(
            "a connection is a JSON object {type, connection_type, logic_id, network_id}"
        )
    if body.get("id", conn_id) != conn_id:
        raise BadRequest(f"body id {body.get('id')!r} differs from the path id {conn_id!r}")
    if body.get("type", CONNECTION_TYPE) != CONNECTION_TYPE:
        raise BadRequest(f"connection type must be {CONNECTION_TYPE!r}, got {body.get('type')!r}")
    for key in ("connection_type", "logic_id", "network_id"):
        if not isinstance(body.get(key), str) or not body[key]:
            raise BadRequest(f"{key!r} is required (a non-empty string)", field=key)
    record = {k: v for k, v in body.items() if k not in ("id", "state", "reason")}
    record.update(id=conn_id, type=CONNECTION_TYPE, state=ConnectionState.INITIALIZING.value)
    return record
