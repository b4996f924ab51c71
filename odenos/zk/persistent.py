"""ZooKeeper 3.6's persistent recursive watches, which kazoo (2.11) does not speak.

A one-shot child watch says only "the children changed": the cache then lists the
whole parent again, which costs in proportion to the number of children (10,000
names are 170 KB for the server to write and for kazoo to decode), in every daemon,
for every round of changes.  A persistent recursive watch (``addWatch``, opcode 106,
mode ``PERSISTENT_RECURSIVE``) stays set and reports every creation, change and
deletion below its path with the path of the node concerned: a new child costs one
read of that child, whatever the number of its siblings.

Two small pieces of the wire protocol, kept here and nowhere else:

- :class:`AddWatch`, a request kazoo sends like any other (its ``_call`` takes any
  object with ``type``, ``serialize`` and ``deserialize``);
- a hook on kazoo's reader of watch events (``ConnectionHandler._read_watch_event``):
  each event is also handed to the persistent watchers whose path covers it, then to
  kazoo's own one-shot watchers as before.

The server drops a connection's watches when the connection goes; kazoo re-sets its
own one-shot watches after a reconnect, not these: whoever adds one adds it again on
every ``CONNECTED`` (:class:`odenos.zk.cache.ChildrenCache` does, and reads its
children again then).  A server older than 3.6 answers ``UnimplementedError``;
the caller then falls back to one-shot watches.
"""

from __future__ import annotations

import logging
import threading
from collections import namedtuple
from collections.abc import Callable
from typing import Any

from kazoo.client import KazooClient
from kazoo.protocol.paths import _prefix_root
from kazoo.protocol.serialization import Watch, int_struct, write_string
from kazoo.protocol.states import EVENT_TYPE_MAP, WatchedEvent

log = logging.getLogger(__name__)

#: ``AddWatchMode`` of ZooKeeper's protocol.
PERSISTENT = 0
PERSISTENT_RECURSIVE = 1

#: ``watcher(event)``, called on kazoo's reader thread: hand over and return at once.
Watcher = Callable[[WatchedEvent], None]


class AddWatch(namedtuple("AddWatch", "path mode")):
    """``addWatch``: set a persistent watch on ``path`` (the answer is an empty body)."""

    type = 106

    def serialize(self) -> bytearray:
        body = bytearray()
        body.extend(write_string(self.path))
        body.extend(int_struct.pack(self.mode))
        return body

    @classmethod
    def deserialize(cls, buffer: bytes, offset: int) -> bool:
        return True


class PersistentWatches:
    """The persistent recursive watches of one kazoo client, by path."""

    def __init__(self, client: KazooClient) -> None:
        self._client = client
        self._lock = threading.Lock()
        self._watchers: dict[str, list[Watcher]] = {}
        connection = client._connection
        original = connection._read_watch_event

        def read_watch_event(buffer: bytes, offset: int) -> Any:
            self._dispatch(buffer, offset)
            return original(buffer, offset)

        connection._read_watch_event = read_watch_event

    def add_async(self, path: str, watcher: Watcher) -> Any:
        """Set (or set again, after a reconnect) a recursive watch on ``path`` and call
        ``watcher`` for every event at or below it; kazoo's async result of the request."""
        with self._lock:
            watchers = self._watchers.setdefault(path, [])
            if watcher not in watchers:
                watchers.append(watcher)
        result = self._client.handler.async_result()
        request = AddWatch(_prefix_root(self._client.chroot, path), PERSISTENT_RECURSIVE)
        self._client._call(request, result)
        return result

    def discard(self, path: str, watcher: Watcher) -> None:
        """Stop calling ``watcher`` (the server's watch ends with the connection)."""
        with self._lock:
            watchers = self._watchers.get(path, [])
            if watcher in watchers:
                watchers.remove(watcher)
            if not watchers:
                self._watchers.pop(path, None)

    def _dispatch(self, buffer: bytes, offset: int) -> None:
        # kazoo's reader thread.
        if not self._watchers:
            return
        try:
            watch, _ = Watch.deserialize(buffer, offset)
            kind = EVENT_TYPE_MAP[watch.type]
        except Exception:  # kazoo's own reader reports what it cannot read
            return
        path = self._client.unchroot(watch.path)
        with self._lock:
            called = [
                watcher
                for root, watchers in self._watchers.items()
                if path == root or path.startswith(root.rstrip("/") + "/")
                for watcher in watchers
            ]
        if not called:
            return
        event = WatchedEvent(kind, self._client._state, path)
        for watcher in called:
            try:
                watcher(event)
            except Exception:
                log.exception("persistent watcher of %s failed", path)
