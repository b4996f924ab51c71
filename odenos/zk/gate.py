"""What a daemon's ZooKeeper connection and registration look like, for people.

Two things an operator asks about a daemon:

* its **gate**, the connection: ``UP`` (connected), ``RECOVERING`` (the
  connection dropped, the session may still live: nothing is acted on until it is
  back), ``DOWN`` (no session: its ephemeral nodes and locks are gone);
* its **registration**: ``ONLINE`` (its node is published on a live session),
  ``INTERRUPTED`` (it was online and lost its session: it registers again as soon
  as it can), ``OFFLINE`` (not registered yet, waiting, or stopped).

Each change is logged with its reason, shown in the daemon's ``property`` and, if
the daemon has a status file (``var/tmp/<name>.zk.json``), written there for
``odenos status`` (which must work when ZooKeeper and the REST API do not).
"""

from __future__ import annotations

import contextlib
import datetime
import enum
import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from odenos.metrics import ZK_GATE, ZK_RECOVERING

log = logging.getLogger(__name__)


class Gate(enum.StrEnum):
    UP = "UP"
    RECOVERING = "RECOVERING"
    DOWN = "DOWN"


class Registration(enum.StrEnum):
    ONLINE = "ONLINE"
    INTERRUPTED = "INTERRUPTED"
    OFFLINE = "OFFLINE"


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds")


class ConnectionStatus:
    """The gate and registration of one daemon.  Set on its loop."""

    def __init__(self, name: str, status_file: Path | None = None) -> None:
        self.name = name
        self.gate = Gate.DOWN
        self.registration = Registration.OFFLINE
        self.reason = "not connected yet"
        self.since = _now()
        self.changes = 0
        #: The ZooKeeper session (hex), written to the status file: ``odenos tree`` names
        #: the daemon that owns an ephemeral node by it.
        self.session: str | None = None
        self._recovering_since = 0.0
        _show_gate(self.gate)
        self._status_file = status_file
        self._listeners: list[Callable[[ConnectionStatus], None]] = []

    def on_change(self, listener: Callable[[ConnectionStatus], None]) -> None:
        self._listeners.append(listener)

    def set_gate(self, gate: Gate, reason: str, *, expected: bool = False) -> None:
        """``expected``: we closed it ourselves (logged as information, not a warning)."""
        if gate != self.gate:
            self._change(gate, self.registration, reason, expected)

    def set_registration(self, registration: Registration, reason: str) -> None:
        if registration != self.registration:
            self._change(self.gate, registration, reason, registration != Registration.INTERRUPTED)

    def registered(self) -> None:
        self.set_registration(Registration.ONLINE, "registered")

    def unregistered(self, reason: str) -> None:
        """Not registered any more: INTERRUPTED if it was online (it will come back),
        else it stays as it was."""
        if self.registration == Registration.ONLINE:
            self.set_registration(Registration.INTERRUPTED, reason)

    def _change(self, gate: Gate, registration: Registration, reason: str, expected: bool) -> None:
        level = logging.INFO if gate == Gate.UP or expected else logging.WARNING
        log.log(
            level,
            "%s: zookeeper gate %s -> %s, registration %s -> %s: %s",
            self.name,
            self.gate.value,
            gate.value,
            self.registration.value,
            registration.value,
            reason,
        )
        if self.gate == Gate.RECOVERING and gate != Gate.RECOVERING:
            ZK_RECOVERING.inc(time.monotonic() - self._recovering_since)
        elif gate == Gate.RECOVERING and self.gate != Gate.RECOVERING:
            self._recovering_since = time.monotonic()
        _show_gate(gate)
        self.gate, self.registration, self.reason = gate, registration, reason
        self.since = _now()
        self.changes += 1
        self._write()
        for listener in list(self._listeners):
            listener(self)

    def to_json(self) -> dict[str, Any]:
        return {
            "gate": self.gate.value,
            "registration": self.registration.value,
            "reason": self.reason,
            "since": self.since,
        }

    def _write(self) -> None:
        if self._status_file is None:
            return
        body = {**self.to_json(), "name": self.name, "pid": os.getpid(), "session": self.session}
        temporary = self._status_file.with_suffix(".tmp")
        with contextlib.suppress(OSError):
            self._status_file.parent.mkdir(parents=True, exist_ok=True)
            temporary.write_text(json.dumps(body) + "\n")
            os.replace(temporary, self._status_file)

    def remove_file(self) -> None:
        if self._status_file is not None:
            self._status_file.unlink(missing_ok=True)


def _show_gate(gate: Gate) -> None:
    """The metric: 1 for the gate's state, 0 for the others."""
    for state in Gate:
        ZK_GATE.labels(state.value).set(1 if state == gate else 0)


def read_status_file(path: Path) -> dict[str, Any] | None:
    """What a daemon last wrote in its status file; None if there is none."""
    try:
        body = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return body if isinstance(body, dict) else None
