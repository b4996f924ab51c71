"""Events (reference section 6): an envelope, and the body of change events.

Envelope: ``publisher_id``, ``event_type``, ``body``.  Change events carry in
their body ``action`` (``add`` | ``update`` | ``delete``), ``prev`` (absent on
add), ``curr`` (absent on delete), and for topology objects ``id`` and
``version``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from odenos.errors import BadRequest
from odenos.model.ids import ID_RULE, is_valid_id


@dataclass(frozen=True)
class Event:
    publisher_id: str
    event_type: str
    body: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "publisher_id": self.publisher_id,
            "event_type": self.event_type,
            "body": self.body,
        }

    @classmethod
    def from_json(cls, data: Any) -> Event:
        if not isinstance(data, dict):
            raise BadRequest("an event is a JSON object {publisher_id, event_type, body}")
        publisher, event_type, body = (
            data.get("publisher_id"),
            data.get("event_type"),
            data.get("body", {}),
        )
        if not isinstance(publisher, str) or not isinstance(event_type, str):
            raise BadRequest("an event needs string 'publisher_id' and 'event_type'")
        if not isinstance(body, dict):
            raise BadRequest("an event's 'body' is a JSON object")
        return cls(publisher, event_type, body)


def change_body(
    action: str,
    prev: dict[str, Any] | None,
    curr: dict[str, Any] | None,
    **extra: Any,
) -> dict[str, Any]:
    """The body of a ``...Changed`` event: ``prev`` absent on add, ``curr`` on delete."""
    body: dict[str, Any] = {"action": action, **extra}
    if prev is not None:
        body["prev"] = prev
    if curr is not None:
        body["curr"] = curr
    return body


EVENT_TYPE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")


def check_filters(value: Any) -> dict[str, list[str]]:
    """``{publisher_id: [event_type, ...]}``, as subscriptions carry them; 400 otherwise
    (publisher ids follow the object id rule, event types are identifiers such as
    ``NodeChanged``)."""
    if not isinstance(value, dict) or not all(
        is_valid_id(k)
        and isinstance(v, list)
        and all(isinstance(t, str) and EVENT_TYPE.fullmatch(t) for t in v)
        for k, v in value.items()
    ):
        raise BadRequest(
            'event filters are {"<publisher_id>": ["<event_type>", ...]}: publisher ids '
            f"are object ids ({ID_RULE}), event types identifiers such as NodeChanged",
            field="event_filters",
        )
    return {k: list(v) for k, v in value.items()}
