"""The global lock of the reference (section 3), on ZooKeeper's lock recipe.

kazoo's ``Lock`` is that recipe exactly: a sequential ephemeral
``<lock>/<uuid>__lock__<seq>`` (the uuid finds our node again if the create's
reply was lost), the lowest sequence holds the lock, every other contender
watches only its predecessor (no herd effect).  Its ``acquire`` blocks on
kazoo's events, so it runs in a worker thread; the loop only awaits it.

A session loss releases the lock on the server: whoever holds it must treat
``ConnState.LOST`` as "I no longer hold it" and start over.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from types import TracebackType

from kazoo.exceptions import KazooException
from kazoo.exceptions import LockTimeout as KazooLockTimeout
from kazoo.recipe.lock import Lock

from odenos.errors import LockTimeout
from odenos.metrics import LOCK_HOLD, LOCK_WAIT
from odenos.zk import paths
from odenos.zk.client import Coordinator, translate

log = logging.getLogger(__name__)


class GlobalLock:
    """``async with GlobalLock(coordinator, "romgr1@host:pid", timeout):`` holds the lock.

    ``identifier`` is stored in our lock node, so an operator can see who holds
    it (``get /odenos/lock/<node>``).  Raises :class:`LockTimeout` when the lock
    is not ours within ``timeout`` seconds (``None``: wait as long as it takes).
    The same recipe at another ``path`` elects the active system manager
    (:func:`leadership`): kazoo's own ``Election`` is this lock, held while leading.
    """

    def __init__(
        self,
        coordinator: Coordinator,
        identifier: str,
        timeout: float | None,
        path: str = paths.GLOBAL_LOCK,
        what: str = "the global lock",
    ) -> None:
        self._lock = Lock(coordinator.kazoo, path, identifier)
        self._identifier = identifier
        self._timeout = timeout
        self._path = path
        self._what = what
        self._label = "leadership" if path == paths.ELECTION else "global"
        self._acquired_at = 0.0

    async def contenders(self) -> list[str]:
        """The identifiers of the holder and of everyone waiting, in order."""
        try:
            found: list[str] = await asyncio.to_thread(self._lock.contenders)
        except KazooException as exc:
            raise translate(exc, self._path) from exc
        return found

    async def __aenter__(self) -> GlobalLock:
        started = time.monotonic()
        try:
            got = await asyncio.to_thread(self._lock.acquire, True, self._timeout)
        except asyncio.CancelledError:
            # The worker thread goes on waiting: tell the recipe to give up, and let go
            # of the lock should it be ours by then, or nobody else would ever get it.
            self._lock.cancel()
            await asyncio.to_thread(self._release_quietly)
            raise
        except KazooLockTimeout:
            got = False
        except KazooException as exc:
            raise translate(exc, self._path) from exc
        if not got:
            raise LockTimeout(self._path, self._timeout or 0.0)
        self._acquired_at = time.monotonic()
        LOCK_WAIT.labels(self._label).observe(self._acquired_at - started)
        log.info(
            "%s holds %s (waited %.3f s)",
            self._identifier,
            self._what,
            self._acquired_at - started,
        )
        return self

    def _release_quietly(self) -> None:
        with contextlib.suppress(KazooException):
            self._lock.release()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Said before the release, so that a log read in order shows the next holder
        # after it (the "released" line may come after the next holder's "holds").
        log.info("%s releasing %s", self._identifier, self._what)
        try:
            await asyncio.to_thread(self._lock.release)
        except KazooException as err:
            # The session is gone, and the lock node with it.
            log.warning("%s: releasing %s failed: %r", self._identifier, self._what, err)
        LOCK_HOLD.labels(self._label).observe(time.monotonic() - self._acquired_at)
        log.info(
            "%s released %s (held %.3f s)",
            self._identifier,
            self._what,
            time.monotonic() - self._acquired_at,
        )


def leadership(coordinator: Coordinator, identifier: str) -> GlobalLock:
    """The system managers' election: whoever holds it is the active one.  Wait for it
    with ``await lock.__aenter__()``; it is let go with the session, or ``__aexit__``."""
    return GlobalLock(
        coordinator, identifier, None, paths.ELECTION, what="the system manager leadership"
    )
