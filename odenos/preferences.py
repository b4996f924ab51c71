"""Cluster-wide preferences: settings every daemon follows live, kept in ZooKeeper.

``/odenos/preferences`` holds ``{key: value}`` for the keys of :data:`PREFERENCES`;
a key that is absent has its default (for ``rest.forward_timeout``, the host's
``odenos.conf``).  Every daemon watches the node and applies a change at once; the
system manager's ``PUT /systemmanager/preferences`` (and ``odenos config set``)
validates and writes it.  ``odenos.conf`` keeps what a host needs to start (where
ZooKeeper is, its ports, its processes); what may change while the system runs is
here, set once for every host.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from odenos import errors
from odenos.errors import BadRequest
from odenos.zk.client import Coordinator

PATH = "/odenos/preferences"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


@dataclass(frozen=True)
class Preference:
    key: str
    description: str
    check: Callable[[Any], Any]  # the value as applied, or raises ValueError saying why
    default: Any


def _number(low: float, high: float) -> Callable[[Any], float]:
    def check(raw: Any) -> float:
        if isinstance(raw, bool) or not isinstance(raw, int | float) or not low <= raw <= high:
            raise ValueError(f"a number from {low:g} to {high:g}")
        return float(raw)

    return check


def _integer(low: int, high: int) -> Callable[[Any], int]:
    def check(raw: Any) -> int:
        if isinstance(raw, float) and raw.is_integer():
            raw = int(raw)
        if isinstance(raw, bool) or not isinstance(raw, int) or not low <= raw <= high:
            raise ValueError(f"an integer from {low} to {high}")
        return raw

    return check


def _log_level(raw: Any) -> str:
    if not isinstance(raw, str) or raw.upper() not in LOG_LEVELS:
        raise ValueError(f"one of {', '.join(LOG_LEVELS)}")
    return raw.upper()


PREFERENCES = {
    p.key: p
    for p in (
        Preference(
            "log.level",
            "the daemons' log level (their root logger); log.config sets the rest",
            _log_level,
            None,
        ),
        Preference(
            "rest.forward_timeout",
            "seconds a translator waits for the daemon that holds an object (504 after); "
            "default: odenos.conf's rest.forward_timeout",
            _number(0.1, 600),
            None,
        ),
        Preference(
            "rest.retry_after",
            "the Retry-After (seconds) of a 503 for an object that is not available",
            _integer(1, 300),
            1,
        ),
        Preference(
            "events.queue_limit",
            "events a manager holds for one destination (outbox) or subscriber (inbox), and a "
            "REST client's queue, before dropping the oldest (for queues made from then on)",
            _integer(100, 1_000_000),
            10_000,
        ),
    )
}


def check(body: Any) -> dict[str, Any]:
    """A whole preferences object, validated (400 naming the key at fault); ``null``
    for a key means its default (the key is left out)."""
    if not isinstance(body, dict):
        raise BadRequest("preferences are a JSON object {key: value}")
    checked: dict[str, Any] = {}
    for key, raw in body.items():
        pref = PREFERENCES.get(key)
        if pref is None:
            raise BadRequest(
                f"there is no preference {key!r} (there are {', '.join(PREFERENCES)})",
                field=key,
            )
        if raw is None:
            continue
        try:
            checked[key] = pref.check(raw)
        except ValueError as exc:
            raise BadRequest(f"preference {key} must be {exc}, got {raw!r}", field=key) from None
    return checked


class Preferences:
    """What a daemon follows: the current values, and who is told when they change."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self._listeners: list[Callable[[dict[str, Any]], None]] = []

    def get(self, key: str) -> Any:
        return self.values.get(key, PREFERENCES[key].default)

    def on_change(self, listener: Callable[[dict[str, Any]], None]) -> None:
        self._listeners.append(listener)
        listener(self.values)

    def update(self, data: Any) -> None:
        """The node's data (None while it does not exist): what is valid is taken."""
        try:
            values = check(data) if data is not None else {}
        except BadRequest as err:
            logging.getLogger(__name__).error("ignored preferences %r: %s", data, err.message)
            return
        if values == self.values:
            return
        self.values = values
        logging.getLogger(__name__).info("preferences: %s", values or "defaults")
        for listener in list(self._listeners):
            listener(values)


#: This process's preferences (one daemon per process).
CURRENT = Preferences()


_BASELINE: int | None = None


def apply_log_level(values: dict[str, Any]) -> None:
    """``log.level`` on the root logger; without it, the level the daemon started with."""
    global _BASELINE
    root = logging.getLogger()
    if _BASELINE is None:
        _BASELINE = root.level
    level = values.get("log.level")
    root.setLevel(level if level is not None else _BASELINE)


def apply_retry_after(values: dict[str, Any]) -> None:
    errors.RETRY_AFTER = values.get("rest.retry_after", PREFERENCES["rest.retry_after"].default)


async def follow(zk: Coordinator) -> None:
    """This daemon follows the cluster's preferences from now on (log level, Retry-After;
    the translator's timeout and the event queues read :data:`CURRENT` as they go)."""
    CURRENT.on_change(apply_log_level)
    CURRENT.on_change(apply_retry_after)
    await zk.watch_data(PATH, CURRENT.update)
