"""Events for REST clients: ODENOS's long-poll, and a Server-Sent Events stream.

ODENOS's way, bound to the HTTP session as its servlets did: the first
``GET /event/stream`` opens a session (cookie ``JSESSIONID``, Jetty's name) whose
id is the subscription id, and the client's next requests carry the cookie::

    GET /event/stream                         -> {"subscription_id": "<sid>"}
                                                 Set-Cookie: JSESSIONID=<sid>; Path=/
    PUT /event/subscriptions/<sid>  (cookie)  {"network0": ["NodeChanged", ...]}
    GET /event/stream   (cookie)              long-polls until an event arrives:
                                              [publisher_id, event_type, txid, body]

Requests made the ODENOS way (with the cookie) get ODENOS's answers: a long
poll answers one event, as ODENOS's translator wrote its Event message (an
array; ``txid`` is null), the next one waiting for the next poll (ODENOS dropped
the events that came while no poll waited; they are queued here), and 204 when
none came within ``timeout``; ``GET /event/subscriptions/<sid>`` answers the
filters; and a cookie naming one subscription makes the paths of another 404.
A cookie naming no subscription (forgotten, or another translator's) opens a
new one, as a servlet opens a new session.

Extensions: ``?subscription_id=<sid>`` instead of the cookie (the subscription's
own requests then need no cookie: its id is an unguessable token), whose long
poll answers every queued event, ``[event, ...]`` (``[]`` if none came), and
whose ``GET /event/subscriptions/<sid>`` also says how many events are queued
and were dropped; ``DELETE /event/subscriptions/<sid>``; and for browsers and
``curl -N`` the same ``GET`` with ``Accept: text/event-stream`` streaming each
event as ``event: <type>`` / ``data: <json>``.

A client's subscription is an ephemeral record of this translator's session
(``/odenos/subscriptions/rest-<sid>``, with ``deliver_to`` this translator's
internal address): publishers' managers send the events here (``POST
/_events``), and the record goes with the translator.  Each client has a queue
of at most ``limit`` events; past that the oldest are dropped and counted
(``GET /event/subscriptions/<sid>`` shows ``queued`` and ``dropped``).  A client
that has not asked for ``idle_timeout`` seconds is forgotten.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import math
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from odenos import preferences
from odenos.cluster import ClusterView
from odenos.errors import BadRequest, NotFound, TooManyRequests, Unavailable
from odenos.http.client import InternalClient
from odenos.http.errors import json_response, read_json_object
from odenos.http.internal import EVENTS_PATH
from odenos.metrics import REST_EVENTS_DROPPED, REST_EVENTS_QUEUED, REST_SUBSCRIPTIONS
from odenos.model.event import check_filters
from odenos.subscriptions import seen_by_publishers, store_subscription
from odenos.zk.client import Coordinator

log = logging.getLogger(__name__)

PREFIX = "rest-"
MAX_POLL = 60.0
#: The session cookie of ODENOS's REST translator (Jetty's default name).
SESSION_COOKIE = "JSESSIONID"


class SubscriptionNotFound(NotFound):
    code = "SubscriptionNotFound"

    def __init__(self, sid: str) -> None:
        super().__init__(
            f"no event subscription {sid!r} (ask GET /event/stream for one)", subscription_id=sid
        )


@dataclass
class RestSubscriber:
    sid: str
    limit: int
    owner: str = ""  # the client's address
    used: bool = False  # polled or subscribed since it was opened
    queue: collections.deque[dict[str, Any]] = field(default_factory=collections.deque)
    filters: dict[str, list[str]] = field(default_factory=dict)
    dropped: int = 0
    last_seen: float = field(default_factory=time.monotonic)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def put(self, event: dict[str, Any]) -> None:
        if len(self.queue) >= self.limit:
            self.queue.popleft()
            self.dropped += 1
            REST_EVENTS_DROPPED.inc()
        self.queue.append(event)
        self.arrived.set()

    def take_all(self) -> list[dict[str, Any]]:
        events = list(self.queue)
        self.queue.clear()
        self.arrived.clear()
        return events

    def take_one(self) -> dict[str, Any] | None:
        event = self.queue.popleft() if self.queue else None
        if not self.queue:
            self.arrived.clear()
        return event


class RestSubscriptions:
    """The REST clients' subscriptions of one translator.  Used on its loop."""

    def __init__(
        self,
        zk: Coordinator,
        view: ClusterView,
        client: InternalClient,
        address: Callable[[], str],
        *,
        limit: int = 10000,
        idle_timeout: float = 600.0,
        max_subscribers: int = 1000,
        per_client: int = 16,
        unused_timeout: float = 30.0,
    ) -> None:
        self._max_subscribers = max_subscribers
        self._per_client = per_client
        self._unused_timeout = unused_timeout
        self._zk = zk
        self._view = view
        self._client = client
        self._address = address
        self._limit = limit
        self._idle_timeout = idle_timeout
        self._subscribers: dict[str, RestSubscriber] = {}
        self._reaper: asyncio.Task[None] | None = None  # started with the first client
        REST_SUBSCRIPTIONS.set_function(lambda: len(self._subscribers))
        REST_EVENTS_QUEUED.set_function(
            lambda: sum(len(s.queue) for s in self._subscribers.values())
        )

    def close(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()

    def _get(self, sid: str) -> RestSubscriber:
        subscriber = self._subscribers.get(sid)
        if subscriber is None:
            raise SubscriptionNotFound(sid)
        subscriber.last_seen = time.monotonic()
        subscriber.used = True
        return subscriber

    # --- receiving from publishers -----------------------------------------------------------

    def deliver(self, items: list[dict[str, Any]]) -> None:
        for item in items:
            for subscriber_id in item.get("subscribers", []):
                subscriber = self._subscribers.get(str(subscriber_id).removeprefix(PREFIX))
                if subscriber is not None:
                    subscriber.put(item.get("event", {}))

    # --- HTTP ----------------------------------------------------------------------------------

    async def stream(self, request: web.Request) -> web.StreamResponse:
        timeout = _poll_timeout(request)  # checked whatever else the request asks
        sid = request.query.get("subscription_id")
        by_cookie = False
        if sid is None and request.cookies.get(SESSION_COOKIE) in self._subscribers:
            sid, by_cookie = request.cookies[SESSION_COOKIE], True
        if sid is None:
            owner = str(request.remote)
            mine = sum(1 for s in self._subscribers.values() if s.owner == owner)
            if mine >= self._per_client:
                raise TooManyRequests(
                    f"{owner} holds {mine} event subscriptions on this translator, the most "
                    "one client may: use one of them, or close one (DELETE "
                    "/event/subscriptions/<sid>)",
                    retry_after=int(self._unused_timeout),
                )
            if len(self._subscribers) >= self._max_subscribers:
                raise Unavailable(
                    f"this translator holds {self._max_subscribers} event subscriptions "
                    "already; close one (DELETE /event/subscriptions/<sid>) or try later",
                    retry_after=10,
                )
            sid = uuid.uuid4().hex
            limit = preferences.CURRENT.values.get("events.queue_limit", self._limit)
            self._subscribers[sid] = RestSubscriber(sid, limit, owner)
            if self._reaper is None:
                self._reaper = asyncio.get_running_loop().create_task(self._reap())
            log.info("REST event subscription %s opened", sid)
            response = json_response({"subscription_id": sid})
            response.set_cookie(
                SESSION_COOKIE, sid, path="/", httponly=True, secure=request.secure or None
            )
            return response
        subscriber = self._get(sid)
        if "text/event-stream" in request.headers.get("Accept", ""):
            return await self._sse(request, subscriber)
        if not subscriber.queue:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(subscriber.arrived.wait(), timeout)
        subscriber.last_seen = time.monotonic()
        if request.transport is None or request.transport.is_closing():
            return json_response([])  # the client left: keep the events for its next poll
        if by_cookie:
            event = subscriber.take_one()
            if event is None:
                return web.Response(status=204)
            return json_response(odenos_event(event))
        return json_response(subscriber.take_all())

    async def _sse(self, request: web.Request, subscriber: RestSubscriber) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        while True:
            try:
                await asyncio.wait_for(subscriber.arrived.wait(), 15.0)
            except TimeoutError:
                try:
                    await response.write(b": keep-alive\n\n")
                except (ConnectionError, aiohttp.ClientConnectionResetError):
                    return response
                continue
            finally:
                subscriber.last_seen = time.monotonic()
            # Written first, taken after: a client that left loses nothing it did not get.
            while subscriber.queue:
                event = subscriber.queue[0]
                data = json.dumps(event)
                try:
                    await response.write(
                        f"event: {event.get('event_type')}\ndata: {data}\n\n".encode()
                    )
                except (ConnectionError, aiohttp.ClientConnectionResetError):
                    return response
                subscriber.queue.popleft()
            subscriber.arrived.clear()

    def _of_session(self, request: web.Request) -> tuple[RestSubscriber, bool]:
        """The subscription a ``/event/subscriptions/<sid>`` path names, and whether the
        request came with its session cookie.  A cookie naming another live subscription
        is a 404, as ODENOS's servlet answered for another session's id."""
        sid = request.match_info["sid"]
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie is not None and cookie != sid and cookie in self._subscribers:
            raise SubscriptionNotFound(sid)
        return self._get(sid), cookie == sid

    async def put_subscription(self, request: web.Request) -> web.Response:
        subscriber, _ = self._of_session(request)
        filters = check_filters(await read_json_object(request))
        await store_subscription(
            self._zk, self._view, PREFIX + subscriber.sid, filters, deliver_to=self._address()
        )
        await seen_by_publishers(self._client, self._view, PREFIX + subscriber.sid, filters)
        subscriber.filters = filters
        return json_response(filters)

    async def get_subscription(self, request: web.Request) -> web.Response:
        subscriber, by_cookie = self._of_session(request)
        if by_cookie:
            return json_response(subscriber.filters)  # ODENOS's answer: the filters
        return json_response(
            {
                "subscription_id": subscriber.sid,
                "event_filters": subscriber.filters,
                "queued": len(subscriber.queue),
                "dropped": subscriber.dropped,
            }
        )

    async def delete_subscription(self, request: web.Request) -> web.Response:
        subscriber, _ = self._of_session(request)
        await self._forget(subscriber.sid)
        return json_response(None, 200)

    async def receive(self, request: web.Request) -> web.Response:
        body = await read_json_object(request)
        items = body.get("events")
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise BadRequest('POST /_events needs {"events": [{subscribers, event}, ...]}')
        self.deliver(items)
        return json_response(None, 200)

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/event/stream", self.stream)
        app.router.add_get("/event/subscriptions/{sid}", self.get_subscription)
        app.router.add_put("/event/subscriptions/{sid}", self.put_subscription)
        app.router.add_delete("/event/subscriptions/{sid}", self.delete_subscription)

    def add_intake(self, app: web.Application) -> None:
        """On the internal server: where publishers' managers deliver."""
        app.router.add_post(EVENTS_PATH, self.receive)

    # --- expiry --------------------------------------------------------------------------------

    async def _forget(self, sid: str) -> None:
        self._subscribers.pop(sid, None)
        await store_subscription(self._zk, self._view, PREFIX + sid, {})
        log.info("REST event subscription %s closed", sid)

    async def _reap(self) -> None:
        """Forget clients that stopped asking: after ``idle_timeout``, or, for a subscription
        opened and never used (polled or subscribed), after ``unused_timeout``."""
        while True:
            await asyncio.sleep(min(60.0, self._idle_timeout / 2, self._unused_timeout / 2))
            now = time.monotonic()
            for sid, subscriber in list(self._subscribers.items()):
                limit = self._idle_timeout if subscriber.used else self._unused_timeout
                if now - subscriber.last_seen > limit:
                    try:
                        await self._forget(sid)
                    except Exception:
                        log.exception("could not close idle subscription %s", sid)


def odenos_event(event: dict[str, Any]) -> list[Any]:
    """An event as ODENOS's translator answered a long poll: its Event message,
    ``[publisher_id, event_type, txid, body]`` (no transaction id here: null)."""
    return [event.get("publisher_id"), event.get("event_type"), None, event.get("body")]


def _poll_timeout(request: web.Request) -> float:
    """The ``timeout`` query parameter of a long poll: seconds, 0 to MAX_POLL (larger
    values are capped); 30 when absent."""
    raw = request.query.get("timeout", "30")
    try:
        timeout = float(raw)
    except ValueError:
        timeout = math.nan
    if not 0 <= timeout < math.inf:
        raise BadRequest(f"timeout must be a number of seconds (0 or more), not {raw!r}")
    return min(timeout, MAX_POLL)
