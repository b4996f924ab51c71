"""Moving ``reassign`` components off a manager that stays dead.

A component's ``restart_policy`` is ``stay`` (the default, ODENOS's behaviour:
it waits for its own manager to come back) or ``reassign``: once its manager has
been dead for ``reassign_after`` seconds, the active system manager gives it to
the least loaded live manager that offers its type.  Its desired record keeps
its czxid (only ``cm_id`` changes), so the new manager opens the same durable
records and resumes it as a restart would; its connections name components,
not managers, and follow by themselves.

Exactly once: only the active system manager runs this, each move is a
version-checked write of the record as it was read, and the clock of a dead
manager starts when *this* system manager saw it dead (a standby that takes
over starts it afresh: later, never earlier).

:func:`due` is the decision, a pure function of the cluster view.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from odenos.cluster import ClusterView
from odenos.errors import OdenosError

log = logging.getLogger(__name__)

STAY, REASSIGN = "stay", "reassign"
POLICIES = (STAY, REASSIGN)
#: Seconds a manager must have been dead before its ``reassign`` components move, by default.
DEFAULT_REASSIGN_AFTER = 30.0
#: How often the active system manager looks (and at every change of the managers).
PERIOD = 0.5


@dataclass(frozen=True)
class Move:
    comp_id: str
    from_cm: str
    to_cm: str


def due(view: ClusterView, dead_since: dict[str, float], now: float) -> list[Move]:
    """The moves to make now: ``reassign`` components whose manager is not alive and has
    been dead (per ``dead_since``) at least their ``reassign_after``, each to the least
    loaded running manager that offers its type (ties by id; loads count the moves made
    in this round)."""
    types = view.component_types()
    load: dict[str, int] = {cm: view.load_of(cm) for cm in view.manager_ids()}
    moves = []
    # Only the components of managers that are away (not every component, every look).
    away = sorted(cm for cm in dead_since if view.manager(cm) is None)
    for comp_id in sorted(c for cm in away for c in view.owned_by(cm)):
        record = view.desired_component(comp_id) or {}
        if record.get("restart_policy") != REASSIGN:
            continue
        owner = str(record.get("cm_id"))
        if now - dead_since[owner] < float(record.get("reassign_after", DEFAULT_REASSIGN_AFTER)):
            continue
        offering = [
            cm
            for cm in types.get(str(record.get("type")), {}).get("cm_id", [])
            if cm != owner and cm in load
        ]
        if not offering:
            continue  # nowhere to go yet: tried again at the next look
        target = min(offering, key=lambda cm: (load[cm], cm))
        load[target] += 1
        moves.append(Move(comp_id, owner, target))
    return moves


class Reassigner:
    """Runs while this system manager is active.  ``move`` carries out one move (the
    registry's version-checked rewrite); its errors are logged and the move is tried
    again at the next look."""

    def __init__(self, view: ClusterView, move: Callable[[Move], Awaitable[bool]]) -> None:
        self._view = view
        self._move = move
        self._dead_since: dict[str, float] = {}
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        view.managers.add_listener(lambda *_: self._wake.set())

    def set_active(self, active: bool) -> None:
        if active and self._task is None:
            self._dead_since.clear()
            self._task = asyncio.get_running_loop().create_task(self._run())
        elif not active and self._task is not None:
            self._task.cancel()
            self._task = None

    def _observe(self, now: float) -> None:
        named = self._view.named_manager_ids()
        for cm_id in named:
            if self._view.manager(cm_id) is None:
                self._dead_since.setdefault(cm_id, now)
            else:
                self._dead_since.pop(cm_id, None)

    async def _run(self) -> None:
        while True:
            now = time.monotonic()
            self._observe(now)
            for move in due(self._view, self._dead_since, now):
                try:
                    if await self._move(move):
                        log.warning(
                            "component %s reassigned from %s (dead %.1f s) to %s",
                            move.comp_id,
                            move.from_cm,
                            now - self._dead_since[move.from_cm],
                            move.to_cm,
                        )
                except OdenosError as err:
                    log.warning("reassigning %s: %s; trying again", move.comp_id, err.message)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), PERIOD)
