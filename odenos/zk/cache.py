"""A watch-fed, in-memory copy of the children of one znode.

One persistent recursive watch on the parent (ZooKeeper 3.6+, see
:mod:`odenos.zk.persistent`): it names the child that was created, changed or
deleted, so a new or changed child costs one read of that child and a deleted
one none, whatever the number of its siblings; the parent is listed only at the
start and after a reconnect.  Reads that pile up while one is in flight are
done together, pipelined, in the next round.

On a server older than 3.6 (no ``addWatch``) the cache falls back to one-shot
watches: a child watch on the parent and a data watch per child; when the
children change, the parent is listed again (at most once per round) and only
the new children are read.

Everything happens on the loop (kazoo's threads only hand watch events over),
so the loop always reads a consistent ``dict`` without a round trip.  After a
reconnect or a new session the whole parent is read again and compared, so a
change made meanwhile is reported like any other.  Grandchildren are neither
read nor watched.

(kazoo's ``TreeCache`` did this before: it also listed every child's own
children and watched them, a third more requests and twice the watches, and it
copied the whole ``dict`` at every change, which grows with the square of the
number of components.)
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kazoo.exceptions import NoNodeError, UnimplementedError
from kazoo.protocol.states import EventType, WatchedEvent

from odenos.zk.client import ConnState, Coordinator, NodeStat, decode

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CachedNode:
    name: str
    data: Any  # decoded JSON, None if empty or not JSON
    stat: NodeStat


class Waiters:
    """Coroutines waiting for a condition on cached state, re-checked at each change.

    Used on the loop only; whoever changes the state calls :meth:`notify`.
    """

    def __init__(self) -> None:
        self._waiting: list[tuple[Callable[[], bool], asyncio.Future[None]]] = []

    async def wait_for(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """True once ``predicate()`` holds; False if it still does not after ``timeout`` s."""
        if predicate():
            return True
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiter = (predicate, fut)
        self._waiting.append(waiter)
        try:
            await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            return False
        finally:
            self._waiting.remove(waiter)
        return True

    def notify(self) -> None:
        for predicate, fut in self._waiting:
            if not fut.done() and predicate():
                fut.set_result(None)


class ChangeKind(enum.StrEnum):
    ADDED = "added"
    UPDATED = "updated"
    REMOVED = "removed"


#: ``listener(kind, name, node)``: ``node`` is the new value, or the last one on removal.
ChangeListener = Callable[[ChangeKind, str, CachedNode], None]


class ChildrenCache:
    """The children of ``path`` with their data, kept current by watches.

    All public methods are called on the loop.  ``nodes`` is updated in place:
    read it without awaiting in between (a listener sees each change as it is
    made).
    """

    def __init__(self, coordinator: Coordinator, path: str, *, recursive: bool = True) -> None:
        self.path = path
        #: A persistent recursive watch (True), or one-shot watches (False: asked for,
        #: or the server is older than 3.6).
        self.recursive = recursive
        self._zk = coordinator
        self._nodes: dict[str, CachedNode] = {}
        self._listeners: list[ChangeListener] = []
        self._initialized = asyncio.Event()
        self._waiters = Waiters()
        # What the next round has to do.
        self._list_again = False
        self._read_again: set[str] = set()
        # Children whose deletion was reported while a read of them was in flight: that
        # read's answer may predate the deletion (answers and watch events reach us on
        # different threads), so it is not applied; they are read once more instead.
        self._reading: frozenset[str] = frozenset()
        self._deleted_meanwhile: set[str] = set()
        self._worker: asyncio.Task[None] | None = None
        self._closed = False
        # A listing costs in proportion to the number of children (10,000 names are
        # 170 KB to decode): the next one waits twice as long as the last took, so that
        # under a burst listings take at most a third of the time and each brings in many
        # changes.  A deletion is not delayed (it arrives at the child's own watch).
        self._next_listing = 0.0
        coordinator.add_state_listener(self._on_state)

    @property
    def nodes(self) -> dict[str, CachedNode]:
        return self._nodes

    def get(self, name: str) -> CachedNode | None:
        return self._nodes.get(name)

    def add_listener(self, listener: ChangeListener) -> None:
        self._listeners.append(listener)

    async def start(self, timeout: float = 30.0) -> None:
        """Start watching and wait until the first full read is in."""
        await self._zk.ensure_path(self.path)
        self._schedule(list_again=True)
        await asyncio.wait_for(self._initialized.wait(), timeout)

    def close(self) -> None:
        self._closed = True
        self._zk.persistent.discard(self.path, self._recursive_watch)
        if self._worker is not None:
            self._worker.cancel()

    async def wait_for(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Wait until ``predicate()`` is true (checked after every change); False on timeout."""
        return await self._waiters.wait_for(predicate, timeout)

    # --- kazoo's threads: hand over, nothing else ----------------------------------------------

    def _children_watch(self, event: WatchedEvent) -> None:
        if event.type != EventType.NONE:  # NONE: the session ended; a resync follows
            self._zk.bridge.signal(self._schedule, True)

    def _data_watch(self, event: WatchedEvent) -> None:
        if event.type != EventType.NONE:
            self._zk.bridge.signal(self._data_event, event)

    def _recursive_watch(self, event: WatchedEvent) -> None:
        # Also called for the parent itself (its data) and for grandchildren: not ours.
        parent, _, name = event.path.rpartition("/")
        if parent == self.path and name:
            self._zk.bridge.signal(self._data_event, event)

    # --- the loop ------------------------------------------------------------------------------

    def _on_state(self, state: ConnState) -> None:
        # Back on the same session (watches re-set by kazoo) or on a new one (watches
        # gone): either way, read everything again and report what differs.
        if state == ConnState.CONNECTED and self._initialized.is_set():
            self._schedule(list_again=True, resync=True)

    def _data_event(self, event: WatchedEvent) -> None:
        name = event.path.rpartition("/")[2]
        if event.type == EventType.DELETED:
            if name in self._reading:
                self._deleted_meanwhile.add(name)
            self._remove(name)
            if not self.recursive:
                # A listing answered after the deletion may have been applied before
                # this event (they reach the loop on different threads) and shown the
                # child created anew as one we have: without a watch on it then, its
                # creation would go unseen.  One read says whether it is there again.
                self._schedule(read=name)
        elif event.type in (EventType.CHANGED, EventType.CREATED):
            self._schedule(read=name)

    def _schedule(
        self, list_again: bool = False, read: str | None = None, resync: bool = False
    ) -> None:
        if self._closed:
            return
        self._list_again |= list_again
        if resync:
            self._read_again.update(self._nodes)
        if read is not None:
            self._read_again.add(read)
        if self._worker is None or self._worker.done():
            self._worker = asyncio.get_running_loop().create_task(self._work())

    async def _work(self) -> None:
        """Rounds until nothing is left to do: list the parent if asked, then read every
        child that is new or changed, all at once."""
        while (self._list_again or self._read_again) and not self._closed:
            if self._zk.state != ConnState.CONNECTED:
                return  # the reconnect schedules a full round
            try:
                await self._round()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self._zk.state != ConnState.CONNECTED:
                    return  # a lost connection: the reconnect reads it all again
                log.warning("cache of %s: %r; trying again", self.path, exc)
                await asyncio.sleep(0.5)

    async def _round(self) -> None:
        if self._list_again:
            wait = self._next_listing - time.monotonic()
            if wait > 0 and not self._read_again:
                await asyncio.sleep(wait)  # nothing else to do meanwhile
        if self._list_again and time.monotonic() >= self._next_listing:
            self._list_again = False
            started = time.monotonic()
            try:
                listed = await self._list()
            except BaseException:
                self._list_again = True
                raise
            finished = time.monotonic()
            self._next_listing = finished + 2 * (finished - started)
            present = set(listed)
            for gone in [name for name in self._nodes if name not in present]:
                self._remove(gone)
            self._read_again.update(name for name in present if name not in self._nodes)
        if self._read_again:
            names = sorted(self._read_again)
            self._read_again.clear()
            self._reading = frozenset(names)
            kazoo = self._zk.kazoo
            try:
                watch = None if self.recursive else self._data_watch
                results = await self._zk.bridge.future_of_all(
                    [kazoo.get_async(f"{self.path}/{name}", watch=watch) for name in names]
                )
            finally:
                self._reading = frozenset()
            deleted, self._deleted_meanwhile = self._deleted_meanwhile, set()
            failed: BaseException | None = None
            for name, result in zip(names, results, strict=True):
                if name in deleted:
                    self._read_again.add(name)  # maybe created anew: the next round says
                elif isinstance(result, NoNodeError):
                    self._remove(name)
                elif isinstance(result, BaseException):
                    self._read_again.add(name)
                    failed = result
                else:
                    self._put(name, *result)
            if failed is not None:
                raise failed
        if not self._initialized.is_set() and not self._list_again:
            self._initialized.set()
            self._notify()

    async def _list(self) -> list[str]:
        """The children's names, with the watch that reports what changes next set first
        (again after a reconnect: the server forgets a connection's watches)."""
        bridge, kazoo = self._zk.bridge, self._zk.kazoo
        if self.recursive:
            try:
                await bridge.future_of(
                    self._zk.persistent.add_async(self.path, self._recursive_watch)
                )
            except UnimplementedError:
                log.warning(
                    "ZooKeeper before 3.6 (no persistent watches): the cache of %s lists "
                    "its children at every change",
                    self.path,
                )
                self._zk.persistent.discard(self.path, self._recursive_watch)
                self.recursive = False
                # Its children were read without a watch: read them again with one.
                self._read_again.update(self._nodes)
        if self.recursive:
            result: list[str] = await bridge.future_of(kazoo.get_children_async(self.path))
        else:
            result = await bridge.future_of(
                kazoo.get_children_async(self.path, watch=self._children_watch)
            )
        return result

    def _put(self, name: str, data: bytes | None, stat: Any) -> None:
        old = self._nodes.get(name)
        if old is not None and stat.mzxid <= old.stat.mzxid:
            return  # read again, unchanged (or an answer older than what we have)
        node = CachedNode(name, decode(data), NodeStat.of(stat))
        self._nodes[name] = node
        self._tell(ChangeKind.ADDED if old is None else ChangeKind.UPDATED, name, node)

    def _remove(self, name: str) -> None:
        node = self._nodes.pop(name, None)
        if node is not None:
            self._tell(ChangeKind.REMOVED, name, node)

    def _tell(self, kind: ChangeKind, name: str, node: CachedNode) -> None:
        for listener in list(self._listeners):
            try:
                listener(kind, name, node)
            except Exception:
                log.exception("listener of %s failed on %s %s", self.path, kind, name)
        self._notify()

    def _notify(self) -> None:
        self._waiters.notify()
