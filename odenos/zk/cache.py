"""A watch-fed, in-memory copy of the children of one znode.

Built on kazoo's ``TreeCache`` (a port of Curator's): it sets the watches,
re-reads after a reconnect and tells us what was added, changed or removed.
Its events arrive on its own thread; they are handed to the loop and applied
there in order, so that the loop always reads a consistent ``dict`` without
a ZooKeeper round trip.  Only the direct children of the watched node are
kept; deeper nodes (the tree cache watches them too) are ignored.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kazoo.recipe.cache import TreeCache, TreeEvent

from odenos.zk.client import Coordinator, NodeStat, decode

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

    All public methods are called on the loop.  ``nodes`` is replaced, never
    mutated, so a caller may keep a reference as a snapshot.
    """

    def __init__(self, coordinator: Coordinator, path: str) -> None:
        self.path = path
        self._coordinator = coordinator
        self._tree = TreeCache(coordinator.kazoo, path)
        self._tree.listen(self._on_tree_event)
        self._tree.listen_fault(self._on_tree_fault)
        self._nodes: dict[str, CachedNode] = {}
        self._listeners: list[ChangeListener] = []
        self._initialized = asyncio.Event()
        self._waiters = Waiters()

    @property
    def nodes(self) -> dict[str, CachedNode]:
        return self._nodes

    def get(self, name: str) -> CachedNode | None:
        return self._nodes.get(name)

    def add_listener(self, listener: ChangeListener) -> None:
        self._listeners.append(listener)

    async def start(self, timeout: float = 30.0) -> None:
        """Start watching and wait until the first full read is in."""
        # TreeCache.start() does a blocking ensure_path.
        await asyncio.to_thread(self._tree.start)
        await asyncio.wait_for(self._initialized.wait(), timeout)

    def close(self) -> None:
        self._tree.close()

    async def wait_for(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Wait until ``predicate()`` is true (checked after every change); False on timeout."""
        return await self._waiters.wait_for(predicate, timeout)

    # --- kazoo's thread ----------------------------------------------------------------------

    def _on_tree_event(self, event: TreeEvent) -> None:
        self._coordinator.bridge.signal(self._apply, event.event_type, event.event_data)

    def _on_tree_fault(self, exc: BaseException) -> None:
        log.error("cache of %s: %r", self.path, exc)

    # --- the loop ----------------------------------------------------------------------------

    def _apply(self, event_type: int, node_data: Any) -> None:
        if event_type == TreeEvent.INITIALIZED:
            self._initialized.set()
            self._notify()
            return
        if node_data is None:
            return  # connection events: the tree re-reads by itself on reconnect
        path: str = node_data.path
        parent, _, name = path.rpartition("/")
        if parent != self.path:
            return  # the root itself, or a grandchild
        node = CachedNode(name, decode(node_data.data), NodeStat.of(node_data.stat))
        nodes = dict(self._nodes)
        if event_type == TreeEvent.NODE_REMOVED:
            nodes.pop(name, None)
            kind = ChangeKind.REMOVED
        else:
            nodes[name] = node
            kind = ChangeKind.ADDED if event_type == TreeEvent.NODE_ADDED else ChangeKind.UPDATED
        self._nodes = nodes
        for listener in list(self._listeners):
            try:
                listener(kind, name, node)
            except Exception:
                log.exception("listener of %s failed on %s %s", self.path, kind, name)
        self._notify()

    def _notify(self) -> None:
        self._waiters.notify()
