"""An example logic component: it keeps a log of what happened to it.

Put this folder on a PROCESS line (``PROCESS romgr1,python,examples/components``) and
the component manager offers the type ``Recorder`` beside the built-in ``Network``.

Its log is durable: each entry is a record of ``self.state`` (``entry/000000``,
``entry/000001``, ...), so a Recorder whose manager crashed comes back with its
log, and says so (``resumed``).  A note is answered only once it is stored.
"""

from __future__ import annotations

import time
from typing import Any

from odenos.components.base import Component, Request, Response, route
from odenos.errors import BadRequest, NotFound


class Recorder(Component):
    TYPE = "Recorder"
    DESCRIPTION = "Records its lifecycle and connections; notes can be added over REST"
    # One original network at most, any number of 'watched' ones.
    CONNECTION_TYPES = {"original": "1", "watched": "*"}

    def __init__(self, object_id: str, cm_id: str) -> None:
        super().__init__(object_id, cm_id)
        self.entries: list[dict[str, Any]] = []

    def _record(self, what: str, **details: Any) -> None:
        entry = {"at": time.time(), "what": what, **details}
        # Stored first: if the record cannot be kept (413), the log does not change.
        self.state.put(f"entry/{len(self.entries):06d}", entry)
        self.entries.append(entry)

    # --- lifecycle -------------------------------------------------------------------------

    async def on_initialize(self) -> None:
        # The records of an earlier life, if the manager restarted: keys sort in order.
        self.entries = [entry for _, entry in self.state.items("entry/")]
        self._record("resumed" if self.entries else "initialized")

    async def on_finalize(self) -> None:
        self._record("finalized")

    async def on_connection_added(self, connection: dict[str, Any]) -> None:
        # The pre-check: refuse what we cannot serve; the connection goes to error.
        if connection.get("network_id") == self.id:
            raise ValueError("a recorder cannot record itself")
        self._record("connected", connection=connection["id"], network=connection["network_id"])

    async def on_connection_deleted(self, connection: dict[str, Any]) -> None:
        self._record("disconnected", connection=connection["id"])

    # --- REST ------------------------------------------------------------------------------

    @route("GET", "entries")
    async def get_entries(self, request: Request) -> Response:
        what = request.query.get("what")
        return Response(200, [e for e in self.entries if what in (None, e["what"])])

    @route("POST", "entries")
    async def add_note(self, request: Request) -> Response:
        note = request.json_object().get("note")
        if not isinstance(note, str) or not note:
            raise BadRequest("'note' must be a non-empty string")
        self._record("note", note=note)
        return Response(200, self.entries[-1])

    @route("GET", "entries/<index>")
    async def get_entry(self, request: Request, index: str) -> Response:
        if not index.isdigit() or int(index) >= len(self.entries):
            raise NotFound(f"{self.id} has no entry {index!r}")
        return Response(200, self.entries[int(index)])
