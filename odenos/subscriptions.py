"""Writing event subscriptions: ``/odenos/subscriptions/<subscriber_id>``.

Both a component (through its manager's event bus) and a REST client (through
the event manager's API) subscribe by writing this record; publishers read it
from their watch-fed view.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from odenos.cluster import ClusterView
from odenos.errors import NodeExists, NodeMissing, OdenosError
from odenos.http.client import InternalClient
from odenos.http.errors import json_response, read_json_object
from odenos.http.internal import SUBSCRIPTION_SEEN_PATH
from odenos.zk import paths
from odenos.zk.client import Coordinator


async def store_subscription(
    zk: Coordinator,
    view: ClusterView,
    subscriber_id: str,
    filters: dict[str, list[str]],
    *,
    deliver_to: str | None = None,
) -> None:
    """Replace ``subscriber_id``'s filters (none: the record goes).  Returns once the
    writer's own view shows it, so that a publish right after sees the subscription.

    ``deliver_to``: the base URL that takes this subscriber's events (a REST
    translator's, for its clients' streams); the record is then an ephemeral of the
    writer's session, so that it goes when the translator does.  Without it the
    subscriber is a component, found through the desired state, and the record lasts.
    """
    path = paths.subscription(subscriber_id)
    if deliver_to is None:
        # A REST client's subscription edited through the event manager stays the client's.
        kept = (view.subscription(subscriber_id) or {}).get("deliver_to")
        deliver_to = kept if isinstance(kept, str) else None
    if not filters:
        with contextlib.suppress(NodeMissing):
            await zk.delete(path)
    else:
        record: dict[str, object] = {"subscriber_id": subscriber_id, "event_filters": filters}
        if deliver_to is not None:
            record["deliver_to"] = deliver_to
        try:
            await zk.set(path, record)
        except NodeMissing:
            try:
                await zk.create(path, record, ephemeral=deliver_to is not None)
            except NodeExists:
                await zk.set(path, record)
    await view.wait_for(
        lambda: ((view.subscription(subscriber_id) or {}).get("event_filters") or {}) == filters,
        5.0,
    )


async def seen_by_publishers(
    client: InternalClient,
    view: ClusterView,
    subscriber_id: str,
    filters: dict[str, list[str]],
    timeout: float = 5.0,
) -> None:
    """Wait (bounded) until the managers of the publishers in ``filters`` see the
    subscription: from then on, what they publish reaches the subscriber.  Without
    this, an event published right after a 200 could miss it (each manager's view is
    fed by its own watch).  A manager that does not answer is passed over."""
    addresses = set()
    system_manager = view.system_manager() or {}
    for publisher_id in filters:
        if publisher_id == system_manager.get("id") or view.manager(publisher_id) is not None:
            # The system manager publishes the lifecycle events (a manager's
            # ComponentChanged included).
            publisher = system_manager
        else:
            record = view.desired_component(publisher_id) or {}
            publisher = view.manager(str(record.get("cm_id"))) or {}
        if isinstance(publisher.get("address"), str):
            addresses.add(publisher["address"])
    if not addresses:
        return
    body = {"subscriber_id": subscriber_id, "event_filters": filters}

    async def ask(address: str) -> None:
        with contextlib.suppress(OdenosError):
            await client.post_json(
                address, SUBSCRIPTION_SEEN_PATH, body, peer=address, timeout=timeout + 1
            )

    await asyncio.gather(*(ask(a) for a in sorted(addresses)))


async def wait_until_seen(
    view: ClusterView, subscriber_id: str, filters: Any, timeout: float = 5.0
) -> bool:
    """The publisher side of :func:`seen_by_publishers`."""
    return await view.wait_for(
        lambda: ((view.subscription(subscriber_id) or {}).get("event_filters") or {}) == filters,
        timeout,
    )


def subscription_seen_handler(
    view_of: Callable[[], ClusterView],
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """The route (``POST /_subscription_seen``, internal) a publisher's daemon answers
    once its view shows the subscription (bounded): after that, what it publishes
    reaches the subscriber."""

    async def subscription_seen(request: web.Request) -> web.Response:
        body = await read_json_object(request)
        seen = await wait_until_seen(
            view_of(), str(body.get("subscriber_id")), body.get("event_filters")
        )
        return json_response({"seen": seen})

    return subscription_seen
