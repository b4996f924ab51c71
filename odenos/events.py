"""Event delivery between components, within a manager and across managers.

Subscriptions are persistent records (``/odenos/subscriptions/<subscriber_id>``,
``{subscriber_id, event_filters: {publisher_id: [event_type, ...]}}``), read
from the watch-fed view.  A publish looks up the subscribers and queues the
event in one :class:`Outbox` per destination manager (this one included); each
outbox sends its events in order, one numbered batch at a time, to
``<manager address>/_events`` (or straight to the local components), and only
sends the next batch once the previous one was taken.  The receiving manager
queues each event in the subscriber's :class:`Inbox` and answers at once; the
inbox hands the events to ``on_event`` one at a time.  A batch sent again
(its answer was lost) is recognised by its sender and number and not taken
twice.  So the events of one publisher reach each subscriber once, in the
order they were published, and a slow ``on_event`` never holds up a sender.

What is guaranteed when a subscriber's manager is down: its outbox keeps
retrying (backoff up to 2 s) for ``give_up_after`` seconds (by default the
session timeout plus 10 s: time for a restart), holding at most ``limit``
events; past that, events are dropped and counted (``events.dropped`` in the
manager's property, ``odenos_events_dropped_total`` in its ``/metrics``) with
the reason: ``overflow`` (the oldest event made room for a new one),
``unreachable`` (gave up on a batch), ``unknown_subscriber`` (no such component),
``not_here`` (the component is not in the receiving manager).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Generic, TypeVar

from odenos import preferences
from odenos.cluster import ClusterView
from odenos.components.base import Component
from odenos.errors import CoordinationError, NodeMissing
from odenos.http.client import InternalClient
from odenos.http.internal import EVENTS_PATH
from odenos.metrics import EVENTS_DELIVERED, EVENTS_DROPPED, EVENTS_PUBLISHED, EVENTS_QUEUED
from odenos.model.event import Event
from odenos.subscriptions import seen_by_publishers, store_subscription
from odenos.zk import paths
from odenos.zk.client import Coordinator

log = logging.getLogger(__name__)

DROPPED = EVENTS_DROPPED
DELIVERED = EVENTS_DELIVERED

BATCH = 100
#: Seconds one batch may take to be taken by its destination before it is sent again.
SEND_TIMEOUT = 10.0


class EventStats:
    def __init__(self) -> None:
        self.published = 0
        self.sent = 0
        self.delivered = 0
        self.handler_errors = 0
        self.dropped: collections.Counter[str] = collections.Counter()

    def drop(self, reason: str, count: int = 1) -> None:
        self.dropped[reason] += count
        DROPPED.labels(reason).inc(count)

    def to_json(self, queued: int) -> dict[str, Any]:
        return {
            "published": self.published,
            "sent": self.sent,
            "delivered": self.delivered,
            "handler_errors": self.handler_errors,
            "dropped": dict(self.dropped),
            "queued": queued,
        }


#: ``send(batch)`` with ``batch = {"sender", "seq", "events": [{subscribers, event}, ...]}``.
Sender = Callable[[dict[str, Any]], Awaitable[None]]


T = TypeVar("T")


class BoundedQueue(Generic[T]):
    """A FIFO of at most ``limit`` items: the oldest is dropped (and counted) for a new one."""

    def __init__(self, limit: int, stats: EventStats) -> None:
        self._items: collections.deque[T] = collections.deque()
        self._ready = asyncio.Event()
        self._limit = limit
        self._stats = stats

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: T) -> None:
        if len(self._items) >= self._limit:
            self._items.popleft()
            self._stats.drop("overflow")
        self._items.append(item)
        self._ready.set()

    async def take(self, most: int) -> list[T]:
        """Wait for items; take up to ``most`` of them, oldest first."""
        while not self._items:
            self._ready.clear()
            await self._ready.wait()
        return [self._items.popleft() for _ in range(min(most, len(self._items)))]


class Outbox:
    """The events bound for one manager, sent in order by one task."""

    def __init__(
        self,
        destination: str,
        send: Sender,
        stats: EventStats,
        limit: int,
        give_up_after: float,
        sender_id: str,
    ) -> None:
        self.destination = destination
        self._sender_id = sender_id
        self._seq = 0
        self._send = send
        self._stats = stats
        self._give_up_after = give_up_after
        self._queue: BoundedQueue[dict[str, Any]] = BoundedQueue(limit, stats)
        self._task = asyncio.get_running_loop().create_task(self._run())

    def __len__(self) -> int:
        return len(self._queue)

    def put(self, item: dict[str, Any]) -> None:
        self._queue.put(item)

    def close(self) -> None:
        self._task.cancel()

    async def _run(self) -> None:
        while True:
            # Out of the queue before sending: the overflow only ever drops what waits.
            items = await self._queue.take(BATCH)
            self._seq += 1
            batch = {"sender": self._sender_id, "seq": self._seq, "events": items}
            if await self._send_with_retries(batch):
                self._stats.sent += sum(len(i["subscribers"]) for i in items)
            else:
                self._stats.drop("unreachable", len(items))

    async def _send_with_retries(self, batch: dict[str, Any]) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._give_up_after
        delay = 0.1
        while True:
            try:
                await self._send(batch)
                return True
            except Exception as exc:
                if loop.time() + delay > deadline:
                    log.warning(
                        "events for %s: giving up on %d after %g s: %r",
                        self.destination,
                        len(batch["events"]),
                        self._give_up_after,
                        exc,
                    )
                    return False
                log.debug("events for %s: %r; retrying in %.1f s", self.destination, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)


class Inbox:
    """The events for one subscriber here, handed to its ``on_event`` one at a time."""

    def __init__(
        self,
        subscriber_id: str,
        instances: Mapping[str, Component],
        stats: EventStats,
        limit: int,
    ) -> None:
        self._sid = subscriber_id
        self._instances = instances
        self._stats = stats
        self._queue: BoundedQueue[Event] = BoundedQueue(limit, stats)
        self._task = asyncio.get_running_loop().create_task(self._run())

    def __len__(self) -> int:
        return len(self._queue)

    def put(self, event: Event) -> None:
        self._queue.put(event)

    def close(self) -> None:
        self._task.cancel()

    async def _run(self) -> None:
        while True:
            (event,) = await self._queue.take(1)
            component = self._instances.get(self._sid)
            if component is None:
                self._stats.drop("not_here")
                continue
            try:
                await component.on_event(event)
                self._stats.delivered += 1
                DELIVERED.inc()
            except Exception:
                self._stats.handler_errors += 1
                log.exception(
                    "%s failed on %s from %s", self._sid, event.event_type, event.publisher_id
                )


class EventBus:
    """One per component manager; the :class:`~odenos.components.base.EventPort` of
    its components.  Used on the manager's loop."""

    def __init__(
        self,
        cm_id: str,
        zk: Coordinator,
        view: ClusterView,
        instances: dict[str, Component],
        client: InternalClient,
        *,
        limit: int = 10000,
        give_up_after: float = 30.0,
    ) -> None:
        self._cm_id = cm_id
        self._zk = zk
        self._view = view
        self._instances = instances
        self._limit = limit
        self._give_up_after = give_up_after
        self._outboxes: dict[str, Outbox] = {}
        self._inboxes: dict[str, Inbox] = {}
        self._taken: dict[str, int] = {}  # sender -> the last batch number taken from it
        self._sender_id = uuid.uuid4().hex
        self._client = client
        self.stats = EventStats()
        EVENTS_QUEUED.set_function(self.queued)

    async def close(self) -> None:
        for outbox in self._outboxes.values():
            outbox.close()
        for inbox in self._inboxes.values():
            inbox.close()

    def _queue_limit(self) -> int:
        """The bound of a queue made now: the cluster's preference, or this bus's."""
        limit: int = preferences.CURRENT.values.get("events.queue_limit", self._limit)
        return limit

    def queued(self) -> int:
        """Events waiting in the outboxes and inboxes."""
        return sum(len(o) for o in self._outboxes.values()) + sum(
            len(i) for i in self._inboxes.values()
        )

    def to_json(self) -> dict[str, Any]:
        return self.stats.to_json(self.queued())

    # --- EventPort ---------------------------------------------------------------------------

    def publish(self, event: Event) -> None:
        self.stats.published += 1
        EVENTS_PUBLISHED.inc()
        by_destination: dict[str, list[str]] = {}
        for sid in self._view.subscribers(event.publisher_id, event.event_type):
            destination = self._destination(sid)
            if destination is None:
                self.stats.drop("unknown_subscriber")
                continue
            by_destination.setdefault(destination, []).append(sid)
        for destination, subscribers in by_destination.items():
            self._outbox(destination).put({"subscribers": subscribers, "event": event.to_json()})

    def _destination(self, subscriber_id: str) -> str | None:
        """A component's manager id, or the URL a REST translator takes its clients'
        events at; None for a subscriber nobody can receive for."""
        deliver_to = (self._view.subscription(subscriber_id) or {}).get("deliver_to")
        if isinstance(deliver_to, str) and deliver_to.startswith("http"):
            return deliver_to
        record = self._view.desired_component(subscriber_id)
        return None if record is None else str(record.get("cm_id"))

    async def set_filters(self, subscriber_id: str, filters: dict[str, list[str]]) -> None:
        await store_subscription(self._zk, self._view, subscriber_id, filters)
        await seen_by_publishers(self._client, self._view, subscriber_id, filters)

    async def forget(self, subscriber_id: str) -> None:
        """A component that is deleted subscribes to nothing any more."""
        inbox = self._inboxes.pop(subscriber_id, None)
        if inbox is not None:
            inbox.close()
        try:
            await self._zk.delete(paths.subscription(subscriber_id))
        except NodeMissing:
            pass
        except CoordinationError as err:
            log.warning("subscriptions of %s not removed: %s", subscriber_id, err.message)

    # --- receiving ---------------------------------------------------------------------------

    def accept(self, batch: dict[str, Any]) -> None:
        """Take a batch (from another manager's outbox, or ours): queue each event for its
        subscribers here and return at once.  A batch already taken is ignored."""
        sender, seq = str(batch.get("sender")), batch.get("seq")
        if isinstance(seq, int):
            if seq <= self._taken.get(sender, 0):
                return  # sent again because our answer was lost: taken already
            self._taken[sender] = seq
        for item in batch.get("events", []):
            event = Event.from_json(item.get("event"))
            for sid in item.get("subscribers", []):
                inbox = self._inboxes.get(sid)
                if inbox is None:
                    if sid not in self._instances:
                        self.stats.drop("not_here")
                        continue
                    inbox = Inbox(sid, self._instances, self.stats, self._queue_limit())
                    self._inboxes[sid] = inbox
                inbox.put(event)

    # --- sending -----------------------------------------------------------------------------

    def _outbox(self, cm_id: str) -> Outbox:
        outbox = self._outboxes.get(cm_id)
        if outbox is None:
            send: Sender = self._take_local if cm_id == self._cm_id else self._sender(cm_id)
            outbox = Outbox(
                cm_id, send, self.stats, self._queue_limit(), self._give_up_after, self._sender_id
            )
            self._outboxes[cm_id] = outbox
        return outbox

    async def _take_local(self, batch: dict[str, Any]) -> None:
        self.accept(batch)

    def _sender(self, destination: str) -> Sender:
        async def send(batch: dict[str, Any]) -> None:
            if destination.startswith("http"):
                address = destination
            else:
                manager = self._view.manager(destination)
                if manager is None or manager.get("state") != "running":
                    raise ConnectionError(f"component manager {destination} is not running")
                address = str(manager["address"])
            reply = await self._client.post_json(
                address, EVENTS_PATH, batch, peer=destination, timeout=SEND_TIMEOUT
            )
            if reply.status != 200:
                raise ConnectionError(f"{destination} answered {reply.status}")

        return send
