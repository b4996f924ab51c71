"""Claiming, and re-claiming, the ephemeral node that says "this daemon is alive".

A daemon restarted after ``kill -9`` comes back before ZooKeeper has expired
its old session, so its node may still be there, owned by the dead session.
:func:`claim` tells such a stale node from a live twin (another process with
the same id) and takes the node over only in the first case.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from odenos.errors import DuplicateDaemon, NodeExists, NodeMissing, OdenosError
from odenos.metrics import ZK_EPHEMERAL_RECREATIONS
from odenos.zk.client import ConnState, Coordinator

log = logging.getLogger(__name__)

#: ``answers(address)``: True if a process answers HTTP at that base URL.
Prober = Callable[[str], Awaitable[bool]]


def process_identity() -> dict[str, Any]:
    """What we publish so that a successor can tell whether we are still alive."""
    return {"host": socket.gethostname(), "pid": os.getpid()}


def process_label(name: str) -> str:
    """``name@host:pid``: who holds a lock, in the lock node's data."""
    return f"{name}@{socket.gethostname()}:{os.getpid()}"


async def _is_stale(old: Any, our_address: str, answers: Prober) -> bool:
    if not isinstance(old, dict):
        return True
    if old.get("host") == socket.gethostname() and isinstance(old.get("pid"), int):
        if old["pid"] == os.getpid():
            return True
        try:
            os.kill(old["pid"], 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
    address = old.get("address")
    if not isinstance(address, str) or address == our_address:
        return True
    return not await answers(address)


async def claim(
    zk: Coordinator, path: str, data: dict[str, Any], answers: Prober, what: str
) -> None:
    """Create ephemeral ``path`` with ``data``, replacing a stale node of a dead process.

    Raises :class:`DuplicateDaemon` if a live process holds the node.
    """
    for _ in range(3):
        try:
            await zk.create(path, data, ephemeral=True)
            return
        except NodeExists:
            pass
        try:
            old, stat = await zk.get(path)
        except NodeMissing:
            continue
        if stat.ephemeral_owner == zk.session_id:
            await zk.set(path, data)
            return
        if not await _is_stale(old, str(data.get("address")), answers):
            raise DuplicateDaemon(
                f"{what} is already running (pid {old.get('pid')} on {old.get('host')}, "
                f"{old.get('address')}); stop it first or choose another id",
                path=path,
            )
        log.warning("%s: replacing the stale node %s of a dead process %s", what, path, old)
        with contextlib.suppress(NodeMissing):
            await zk.delete(path, stat.version)
    raise DuplicateDaemon(f"{what}: {path} keeps being re-created by someone else", path=path)


async def register_until_done(
    register: Callable[[], Awaitable[None]],
    *,
    what: str,
    wanted: Callable[[], bool],
    on_failure: Callable[[], None],
) -> None:
    """Call ``register()`` until it succeeds, with backoff (0.5 s doubling to 5 s), as
    long as ``wanted()``.  ``on_failure()`` runs after each failed attempt.

    :class:`DuplicateDaemon` is not retried: it propagates (a live twin holds the id).
    """
    delay = 0.5
    while wanted():
        try:
            await register()
            return
        except DuplicateDaemon:
            raise
        except OdenosError as err:
            log.error("%s: registration failed, retrying in %.1f s: %s", what, delay, err.message)
            on_failure()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


def give_way(what: str, err: DuplicateDaemon) -> None:
    """Another process took our id while we were away: it is the live one; we stop."""
    log.critical("%s: %s; stopping", what, err.message)
    os.kill(os.getpid(), signal.SIGTERM)


class RegistrationKeeper:
    """Keeps a daemon registered across session losses.

    On ``LOST`` it calls ``lost()``, which moves the daemon to its waiting state and
    says whether it was registered; on the next ``CONNECTED``, if ``waiting()``, it
    runs ``again()`` (the daemon's register-with-retries) in a task.  There is never
    more than one registration under way, the first one included (:meth:`first`).
    Listeners run on the loop (see :meth:`Coordinator.add_state_listener`).
    """

    def __init__(
        self,
        zk: Coordinator,
        what: str,
        *,
        lost: Callable[[], bool],
        waiting: Callable[[], bool],
        again: Callable[[], Coroutine[Any, Any, None]],
    ) -> None:
        self._what = what
        self._lost = lost
        self._waiting = waiting
        self._again = again
        self._task: asyncio.Task[None] | None = None
        zk.add_state_listener(self._on_state)

    async def first(self) -> None:
        """The first registration; :class:`DuplicateDaemon` propagates (refuse to start)."""
        self._task = asyncio.get_running_loop().create_task(self._again())
        await self._task

    def cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def _on_state(self, state: ConnState) -> None:
        if state == ConnState.LOST and self._lost():
            log.warning(
                "%s lost its ZooKeeper session: its nodes are gone, will register again "
                "on reconnect",
                self._what,
            )
        elif (
            state == ConnState.CONNECTED
            and self._waiting()
            and (self._task is None or self._task.done())
        ):
            self._task = asyncio.get_running_loop().create_task(self._after_loss())

    async def _after_loss(self) -> None:
        try:
            await self._again()
            ZK_EPHEMERAL_RECREATIONS.inc()
        except DuplicateDaemon as err:
            give_way(self._what, err)
