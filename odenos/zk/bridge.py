"""The one place where kazoo's threads meet the asyncio loop.

kazoo calls watches, listeners and async-result callbacks on its own threads.
Those callbacks must neither block nor touch loop state: they hand the event to
the loop with ``call_soon_threadsafe`` and return.  Everything that reacts to
ZooKeeper then runs on the loop, in the order the events arrived.
"""

from __future__ import annotations

import asyncio
import logging
import threading
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

    def future_of_all(self, async_results: list[Any]) -> asyncio.Future[list[Any]]:
        """One future for many kazoo results: each a value or an exception, in order.

        The loop is woken once, when the last one completes (not once per result:
        a bulk read of thousands of nodes would otherwise wake it thousands of
        times).  Must be called on the loop.
        """
        fut: asyncio.Future[list[Any]] = self._loop.create_future()
        if not async_results:
            fut.set_result([])
            return fut
        values: list[Any] = [None] * len(async_results)
        remaining = [len(async_results)]
        lock = threading.Lock()

        def settle() -> None:
            if not fut.done():
                fut.set_result(values)

        def done(index: int, result: Any) -> None:
            # kazoo's thread: record, and wake the loop for the last one only.
            values[index] = result.value if result.successful() else result.exception
            with lock:
                remaining[0] -= 1
                last = remaining[0] == 0
            if last:
                self.signal(settle)

        for index, async_result in enumerate(async_results):
            async_result.rawlink(lambda result, index=index: done(index, result))
        return fut
