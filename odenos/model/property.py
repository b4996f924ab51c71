"""ObjectProperty and the object lifecycle of the reference (section 5).

States: ``initializing`` -> ``running`` (init done) or ``error`` (init failed);
``running`` -> ``finalizing`` (delete requested) or ``error``; ``error`` -> any
state by ``PUT property``.  :class:`ObjectProperty.set_state` is the one place
that validates a transition.
"""

from __future__ import annotations

import enum
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from odenos.errors import BadRequest, InvalidStateTransition, PayloadTooLarge

log = logging.getLogger(__name__)


class ObjectState(enum.StrEnum):
    INITIALIZING = "initializing"
    RUNNING = "running"
    FINALIZING = "finalizing"
    ERROR = "error"


ALLOWED_TRANSITIONS: dict[ObjectState, frozenset[ObjectState]] = {
    ObjectState.INITIALIZING: frozenset({ObjectState.RUNNING, ObjectState.ERROR}),
    ObjectState.RUNNING: frozenset({ObjectState.FINALIZING, ObjectState.ERROR}),
    ObjectState.FINALIZING: frozenset({ObjectState.ERROR}),
    ObjectState.ERROR: frozenset(ObjectState),
}


def parse_state(value: Any) -> ObjectState:
    try:
        return ObjectState(value)
    except ValueError:
        allowed = ", ".join(s.value for s in ObjectState)
        raise BadRequest(f"unknown state {value!r} (one of: {allowed})") from None


#: The most a property's description and free keys may take, encoded.
MAX_PROPERTY_BYTES = 64 * 1024

#: Keys the system fills in when it answers ``GET property`` (why a component is not
#: running, a daemon's process and connection state, its role, a component's restart
#: policy).  A ``PUT property`` naming them (a GET's answer sent back with a new
#: description, say) leaves them to the system: they are not stored as free keys.
DERIVED_KEYS = frozenset(
    {
        "reason",
        "role",
        "instance",
        "instances",
        "zookeeper",
        "address",
        "host",
        "pid",
        "approved",
        "events",
        "state_store",
        "restart_policy",
        "reassign_after",
    }
)


@dataclass
class ObjectProperty:
    """The property every object answers on ``GET property``.

    Keys the reference names are attributes; anything else a client or a
    component puts is kept in ``extra`` and returned as is.
    """

    id: str
    type: str
    state: ObjectState = ObjectState.INITIALIZING
    description: str = ""
    super_type: str | None = None
    cm_id: str | None = None
    component_types: list[str] | None = None
    connection_types: dict[str, str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def set_state(self, new: ObjectState) -> None:
        """Move to ``new``; raises :class:`InvalidStateTransition` if the table forbids it."""
        if new == self.state:
            return
        if new not in ALLOWED_TRANSITIONS[self.state]:
            raise InvalidStateTransition(self.id, self.state.value, new.value)
        # The usual start (initializing -> running) is not worth a line per object: a
        # manager resuming a thousand components logs one line for each, not two.
        usual = self.state == ObjectState.INITIALIZING and new == ObjectState.RUNNING
        log.log(
            logging.DEBUG if usual else logging.INFO,
            "%s %s: %s -> %s",
            self.type,
            self.id,
            self.state.value,
            new.value,
        )
        self.state = new

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = dict(self.extra)
        body.update(
            {
                "id": self.id,
                "type": self.type,
                "state": self.state.value,
                "description": self.description,
            }
        )
        if self.super_type is not None:
            body["super_type"] = self.super_type
        if self.cm_id is not None:
            body["cm_id"] = self.cm_id
        if self.component_types is not None:
            body["component_types"] = ",".join(self.component_types)
        if self.connection_types is not None:
            body["connection_types"] = ",".join(
                f"{k}:{v}" for k, v in self.connection_types.items()
            )
        return body

    def update_from(self, body: dict[str, Any]) -> None:
        """Apply a ``PUT property`` body: ``state`` goes through the state machine,
        read-only keys (``id``, ``type``, ``super_type``, ``cm_id``) must not change,
        derived ones (:data:`DERIVED_KEYS`) are left to the system, other keys are
        stored."""
        for key in ("id", "type", "super_type", "cm_id"):
            if key in body and body[key] != getattr(self, key):
                raise BadRequest(f"property {key!r} is read-only", key=key)
        if "description" in body and not isinstance(body["description"], str):
            raise BadRequest("property 'description' must be a string")
        extra = dict(self.extra)
        for key, value in body.items():
            if key in DERIVED_KEYS:
                continue
            if key not in (
                "id",
                "type",
                "super_type",
                "cm_id",
                "state",
                "description",
                "component_types",
                "connection_types",
            ):
                extra[key] = value
        size = len(json.dumps([body.get("description", self.description), extra]))
        if size > MAX_PROPERTY_BYTES:
            raise PayloadTooLarge(
                f"a property of {size} bytes is over the limit of {MAX_PROPERTY_BYTES}",
                size=size,
                limit=MAX_PROPERTY_BYTES,
            )
        if "description" in body:
            self.description = body["description"]
        self.extra = extra
        if "state" in body:
            self.set_state(parse_state(body["state"]))
