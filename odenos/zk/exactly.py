"""Creates and deletes whose outcome is known before the caller answers its client.

When the connection to ZooKeeper drops while a create or delete is in flight,
kazoo reports ``ConnectionLoss``, but the server may have carried it out before
the drop.  Answering "503, nothing done" then would be a lie that shows later
(a component nobody created, acknowledged by nobody, appears).  ZooKeeper
orders the requests of one session: a read sent after the write, answered on
the same session, sees the write if it happened and guarantees it will not
happen afterwards if it did not.  So after an uncertain write we read:

* :func:`create_exactly`: the node holds our value -> it happened, go on; it is
  absent -> it did not and will not, 503; the read fails too -> 503, and a
  background task removes the node if it ever shows up with our value (so the
  503 stays true).
* :func:`delete_exactly`: the node is gone -> it happened, go on; it is still
  the node we meant (same ``czxid``) -> 503, nothing done; unknown -> 503 that
  says so (the one case left open: ZooKeeper unreachable for the whole deadline
  right after the delete was sent).

Nothing is sent while the session is not connected: a request queued then
could be sent long after the caller answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from odenos.errors import (
    CoordinationError,
    CoordinationUnavailable,
    NodeExists,
    NodeMissing,
    NodeVersionMismatch,
)
from odenos.zk.client import ConnState, Coordinator, NodeStat

log = logging.getLogger(__name__)

#: How long a background undo keeps trying to reach ZooKeeper.
UNDO_FOR = 3600.0

_undoing: set[asyncio.Task[None]] = set()


def outcome_deadline(zk: Coordinator, limit: float) -> float:
    """How long to find out what became of a write whose connection was lost: the
    session timeout and a second (the session is back, or gone, by then), at most ``limit``."""
    return min(limit, zk.session_timeout + 1.0)


async def read_record(zk: Coordinator, path: str) -> tuple[dict[str, Any], NodeStat] | None:
    """A record (a JSON object) as ZooKeeper has it now, with its stat; None if absent.
    Read before writing it: a watch-fed cache may lag the caller's own last write."""
    try:
        data, stat = await zk.get(path)
    except NodeMissing:
        return None
    return (data if isinstance(data, dict) else {}), stat


def _require_connected(zk: Coordinator, what: str) -> None:
    if zk.state != ConnState.CONNECTED:
        raise CoordinationUnavailable(f"not connected to ZooKeeper: {what} was not attempted")


async def create_exactly(
    zk: Coordinator, path: str, value: dict[str, Any], deadline: float
) -> NodeStat:
    """Create ``path`` with ``value`` (which should be unique to this request, say with
    a request id in it); its stat.  Raises :class:`~odenos.errors.NodeExists` (another's
    node is there) or :class:`CoordinationUnavailable` (then it was not created, and will
    not be).  ``deadline``: seconds to find out after a lost connection."""
    _require_connected(zk, f"create {path}")
    try:
        return await zk.create_with_stat(path, value)
    except CoordinationUnavailable as exc:
        lost = exc
    try:
        data, stat = await _read_after(zk, path, deadline)
    except NodeMissing:
        raise CoordinationUnavailable(
            f"ZooKeeper connection lost while creating {path}; it was not created"
        ) from lost
    except CoordinationUnavailable:
        _undo_later(zk, path, value)
        raise CoordinationUnavailable(
            f"ZooKeeper connection lost while creating {path}; if the create reached "
            "ZooKeeper it is undone as soon as ZooKeeper answers"
        ) from lost
    if data == value:
        log.info("create of %s: answer lost with the connection, but it happened", path)
        return stat
    raise NodeExists(path)


async def delete_exactly(zk: Coordinator, path: str, czxid: int, deadline: float) -> bool:
    """Delete ``path`` if it is still the node created at ``czxid``.  True if this call
    deleted it; False if it was gone already or is another node now.  Raises
    :class:`CoordinationUnavailable` when it was not deleted (or, rarely, when
    ZooKeeper stays unreachable so long that nobody can tell: the message says so)."""
    _require_connected(zk, f"delete {path}")
    while True:
        try:
            _, stat = await zk.get(path)
        except NodeMissing:
            return False
        if stat.czxid != czxid:
            return False
        try:
            await zk.delete(path, stat.version)
            return True
        except NodeMissing:
            return False
        except NodeVersionMismatch:
            continue  # its data changed (not its identity): look again
        except CoordinationUnavailable as exc:
            lost = exc
            break
    try:
        _, stat = await _read_after(zk, path, deadline)
    except NodeMissing:
        log.info("delete of %s: answer lost with the connection, but it happened", path)
        return True
    except CoordinationUnavailable:
        raise CoordinationUnavailable(
            f"ZooKeeper connection lost while deleting {path}, and ZooKeeper did not answer "
            "since: whether it was deleted is not known yet (read it again later)"
        ) from lost
    if stat.czxid != czxid:
        return True  # deleted, and created anew by someone since
    raise CoordinationUnavailable(
        f"ZooKeeper connection lost while deleting {path}; it was not deleted"
    ) from lost


async def _read_after(zk: Coordinator, path: str, deadline: float) -> tuple[Any, NodeStat]:
    """Read ``path`` on the same session, once connected again, within ``deadline``."""
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline
    if not await zk.wait_connected(deadline):
        raise CoordinationUnavailable(f"ZooKeeper did not come back within {deadline:g} s")
    try:
        return await asyncio.wait_for(zk.get(path), max(0.1, end - loop.time()))
    except TimeoutError:
        raise CoordinationUnavailable(f"reading {path} took over {deadline:g} s") from None


def _undo_later(zk: Coordinator, path: str, value: dict[str, Any]) -> None:
    """Remove ``path`` if it ever shows up holding ``value`` (a create answered 503)."""

    def ours(data: Any, stat: NodeStat) -> bool:
        return bool(data == value)

    _in_background(zk, path, ours, "created after its client was told it was not")


def delete_when_reachable(zk: Coordinator, path: str, czxid: int) -> None:
    """Remove ``path`` if it is still the node ``czxid``, as soon as ZooKeeper answers
    (a create whose rollback could not be confirmed)."""

    def ours(data: Any, stat: NodeStat) -> bool:
        return stat.czxid == czxid

    _in_background(zk, path, ours, "rolled back once ZooKeeper answered")


def _in_background(
    zk: Coordinator, path: str, ours: Callable[[Any, NodeStat], bool], what: str
) -> None:
    async def undo() -> None:
        loop = asyncio.get_running_loop()
        end = loop.time() + UNDO_FOR
        while loop.time() < end:
            try:
                if not await zk.wait_connected(30.0):
                    continue
                data, stat = await zk.get(path)
                if ours(data, stat):
                    with contextlib.suppress(NodeMissing):
                        await zk.delete(path, stat.version)
                    log.warning("%s: %s: removed", path, what)
                return
            except NodeMissing:
                return  # not there, and no request of ours on this session is pending
            except NodeVersionMismatch:
                continue
            except CoordinationError:
                await asyncio.sleep(1.0)
        log.error("%s: could not reach ZooKeeper for %g s to undo a write", path, UNDO_FOR)

    task = asyncio.get_running_loop().create_task(undo())
    _undoing.add(task)
    task.add_done_callback(_undoing.discard)
