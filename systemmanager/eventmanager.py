"""The event manager (``/eventmanager/...``): the subscriptions, over REST.

It lives in the core process beside the system manager.  Its
``settings/event_subscriptions`` are the records every publisher reads
(``/odenos/subscriptions/<subscriber_id>``), so a subscription made here is one
a component could have made itself, and the other way round.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from odenos.cluster import EVENT_MANAGER_ID, ClusterView
from odenos.errors import BadRequest, NotFound
from odenos.http.client import InternalClient
from odenos.http.errors import json_response, read_json_object
from odenos.model.event import check_filters
from odenos.model.ids import check_id
from odenos.model.property import ObjectProperty, ObjectState
from odenos.object_settings import load_settings, store_settings, update_daemon_property
from odenos.subscriptions import seen_by_publishers, store_subscription
from odenos.zk.client import Coordinator

__all__ = ["EVENT_MANAGER_ID", "EventManager", "build_app"]


@dataclass
class EventManager:
    zk: Coordinator
    view: ClusterView
    client: InternalClient
    property: ObjectProperty

    @classmethod
    def create(cls, zk: Coordinator, view: ClusterView, client: InternalClient) -> EventManager:
        return cls(zk, view, client, new_property())


def new_property() -> ObjectProperty:
    return ObjectProperty(
        id=EVENT_MANAGER_ID,
        type="EventManager",
        super_type="EventManager",
        state=ObjectState.RUNNING,
        description="ODENOS event manager: event subscriptions",
    )


EVENT_MANAGER = web.AppKey("event_manager", EventManager)
routes = web.RouteTableDef()


def _em(request: web.Request) -> EventManager:
    return request.app[EVENT_MANAGER]


@routes.get("/property")
async def get_property(request: web.Request) -> web.Response:
    return json_response(_em(request).property.to_json())


@routes.put("/property")
async def put_property(request: web.Request) -> web.Response:
    return json_response(
        update_daemon_property(
            _em(request).property,
            await read_json_object(request),
            "the event manager runs with the core process; its state follows it",
        )
    )


@routes.put("/settings")
async def put_settings(request: web.Request) -> web.Response:
    """The event manager's settings: free keys, as any ODENOS object's, persisted;
    and, when the body has ``event_subscriptions`` (``{subscriber_id:
    {event_filters}}``), every subscription replaced (those not named are removed).
    A body without that key leaves the subscriptions alone."""
    em = _em(request)
    body = await read_json_object(request)
    free = {k: v for k, v in body.items() if k != "event_subscriptions"}
    if "event_subscriptions" not in body:
        await store_settings(em.zk, EVENT_MANAGER_ID, free)
        return json_response({**free, "event_subscriptions": _subscriptions(em)})
    wanted = body["event_subscriptions"]
    if not isinstance(wanted, dict):
        raise BadRequest("'event_subscriptions' is {subscriber_id: {event_filters}}")
    checked = {}
    for sid, sub in wanted.items():
        check_id(sid, "subscriber id")
        if not isinstance(sub, dict):
            raise BadRequest(f"subscription {sid!r} is not an object")
        checked[sid] = check_filters(sub.get("event_filters", {}))
    for sid in em.view.subscription_ids():
        # REST clients' subscriptions belong to them (and their translator), not to settings.
        if sid not in checked and not (em.view.subscription(sid) or {}).get("deliver_to"):
            await store_subscription(em.zk, em.view, sid, {})
    for sid, filters in checked.items():
        await store_subscription(em.zk, em.view, sid, filters)
    await store_settings(em.zk, EVENT_MANAGER_ID, free)
    return json_response({**free, "event_subscriptions": _subscriptions(em)})


@routes.get("/settings")
async def get_settings(request: web.Request) -> web.Response:
    em = _em(request)
    free = await load_settings(em.zk, EVENT_MANAGER_ID)
    return json_response({**free, "event_subscriptions": _subscriptions(em)})


@routes.get("/settings/event_subscriptions")
async def list_subscriptions(request: web.Request) -> web.Response:
    return json_response(_subscriptions(_em(request)))


@routes.get("/settings/event_subscriptions/{subscriber_id}")
async def get_subscription(request: web.Request) -> web.Response:
    sid = request.match_info["subscriber_id"]
    record = _em(request).view.subscription(sid)
    if record is None:
        raise NotFound(f"{sid!r} subscribes to nothing", subscriber_id=sid)
    return json_response(record)


@routes.put("/settings/event_subscriptions/{subscriber_id}")
async def put_subscription(request: web.Request) -> web.Response:
    """``{"subscriber_id", "event_filters": {publisher_id: [event_type, ...]}}``: replaces
    what the subscriber had; empty filters unsubscribe it from everything."""
    em = _em(request)
    sid = check_id(request.match_info["subscriber_id"], "subscriber id")
    body = await read_json_object(request)
    if body.get("subscriber_id", sid) != sid:
        raise BadRequest(f"body subscriber_id {body.get('subscriber_id')!r} differs from {sid!r}")
    filters = check_filters(body.get("event_filters", {}))
    await store_subscription(em.zk, em.view, sid, filters)
    await seen_by_publishers(em.client, em.view, sid, filters)
    return json_response({"subscriber_id": sid, "event_filters": filters})


@routes.delete("/settings/event_subscriptions/{subscriber_id}")
async def delete_subscription(request: web.Request) -> web.Response:
    em = _em(request)
    sid = request.match_info["subscriber_id"]
    if em.view.subscription(sid) is None:
        raise NotFound(f"{sid!r} subscribes to nothing", subscriber_id=sid)
    await store_subscription(em.zk, em.view, sid, {})
    return json_response(None, 200)


def _subscriptions(em: EventManager) -> dict[str, object]:
    return {sid: em.view.subscription(sid) for sid in em.view.subscription_ids()}


def build_app(event_manager: EventManager) -> web.Application:
    """Mount with ``parent.add_subapp("/eventmanager", app)``."""
    app = web.Application()
    app[EVENT_MANAGER] = event_manager
    app.add_routes(routes)
    return app
