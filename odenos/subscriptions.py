"""Writing event subscriptions: ``/odenos/subscriptions/<subscriber_id>``.

Both a component (through its manager's event bus) and a REST client (through
the event manager's API) subscribe by writing this record; publishers read it
from their watch-fed view.
"""

from __future__ import annotations

import contextlib

from odenos.cluster import ClusterView
from odenos.errors import NodeExists, NodeMissing
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
