"""The one place where kazoo's threads meet the asyncio loop.

kazoo calls watches, listeners and async-result callbacks on its own threads.
Those callbacks must neither block nor touch loop state: they hand the event to
the loop with ``call_soon_threadsafe`` and return.  Everything that reacts to
ZooKeeper then runs on the loop, in the order the events arrived.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


class LoopBridge:
    """Delivers calls from any thread onto one asyncio loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def signal(self, fn: Callable[..., Any], *args: Any) -> None:
        """Schedule ``fn(*args)`` on the loop; safe from any thread, never blocks.

        A call that arrives after the loop closed is dropped: the daemon is
        shutting down and nobody is left to act on it.
        """
        try:
            self._loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:
            log.debug("loop closed, dropped %r", fn)

    def future_of(self, async_result: Any) -> asyncio.Future[Any]:
        """An asyncio future settled when kazoo's ``IAsyncResult`` completes.

        Must be called on the loop.  The future carries kazoo's value or its
        exception untranslated; :mod:`odenos.zk.client` translates.
        """
        fut: asyncio.Future[Any] = self._loop.create_future()

        def settle(result: Any) -> None:
            if fut.done():
                return
            if result.successful():
                fut.set_result(result.value)
            else:
                fut.set_exception(result.exception)

        async_result.rawlink(lambda result: self.signal(settle, result))
        return fut
