"""The component manager's HTTP API: its own object, and its components' requests.

``/<cm_id>/property``, ``/<cm_id>/component_types``, ``/<cm_id>/components[/<id>]``
describe the manager; ``/<comp_id>/<path>`` is turned into a
:class:`~odenos.components.base.Request` and dispatched to the instance.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from componentmanager.manager import ComponentManager, ManagerState
from odenos.cluster import type_entry
from odenos.components.base import Request
from odenos.errors import BadRequest, ComponentNotFound, ObjectUnavailable
from odenos.http.errors import error_middleware, json_response, parse_json, read_json_object
from odenos.http.internal import EVENTS_PATH, SHUTDOWN_PATH, SUBSCRIPTION_SEEN_PATH
from odenos.http.objectpath import strict_path_middleware
from odenos.http.signing import Signer, signed_only
from odenos.subscriptions import subscription_seen_handler

MANAGER = web.AppKey("manager", ComponentManager)

log = logging.getLogger(__name__)


def _manager(request: web.Request) -> ComponentManager:
    return request.app[MANAGER]


async def get_property(request: web.Request) -> web.Response:
    return json_response(_manager(request).property())


async def put_property(request: web.Request) -> web.Response:
    return json_response(_manager(request).update_property(await read_json_object(request)))


async def get_settings(request: web.Request) -> web.Response:
    return json_response(_manager(request).settings)


async def put_settings(request: web.Request) -> web.Response:
    manager = _manager(request)
    return json_response(await manager.put_settings(await read_json_object(request)))


async def get_component_types(request: web.Request) -> web.Response:
    manager = _manager(request)
    return json_response(
        {name: type_entry(cls.type_info(), [manager.cm_id]) for name, cls in manager.types.items()}
    )


async def list_components(request: web.Request) -> web.Response:
    manager = _manager(request)
    return json_response({cid: c.property.to_json() for cid, c in manager.instances.items()})


async def get_component(request: web.Request) -> web.Response:
    manager = _manager(request)
    comp_id = request.match_info["comp_id"]
    component = manager.instances.get(comp_id)
    if component is None:
        raise ComponentNotFound(comp_id)
    return json_response(component.property.to_json())


async def component_request(request: web.Request) -> web.Response:
    manager = _manager(request)
    comp_id = request.match_info["comp_id"]
    component = manager.instances.get(comp_id)
    if component is None:
        raise ComponentNotFound(comp_id)
    if manager.state != ManagerState.RUNNING:
        raise ObjectUnavailable(comp_id, f"component manager {manager.cm_id} is {manager.state}")
    body = parse_json(await request.read())
    # A key given twice: the last value, as ODENOS's query parsing kept it.
    query = {key: value for key, value in request.query.items()}
    response = await manager.dispatch(
        component, Request(request.method, request.match_info["tail"], query, body)
    )
    if log.isEnabledFor(logging.DEBUG):
        log.debug("%s %s of %s -> %d", request.method, request.path, comp_id, response.status)
    return json_response(response.body, response.status)


async def receive_events(request: web.Request) -> web.Response:
    """A batch from a manager's outbox: queued for the subscribers here, answered at once
    (``on_event`` runs later, in the subscriber's inbox)."""
    body = await read_json_object(request)
    items = body.get("events")
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise BadRequest("POST /_events needs {sender, seq, events: [{subscribers, event}]}")
    _manager(request).events.accept(body)
    return json_response(None, 200)


async def shutdown(request: web.Request) -> web.Response:
    """``DELETE /systemmanager/component_managers/<id>`` ends here: stop gracefully, after
    answering.  Internal (the translator routes no ``/_...`` path)."""
    asyncio.get_running_loop().call_later(0.05, os.kill, os.getpid(), signal.SIGTERM)
    return json_response(None, 200)


async def metrics(request: web.Request) -> web.Response:
    return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})


async def root(request: web.Request) -> web.Response:
    """Answers liveness probes (a successor checking whether we still run)."""
    manager = _manager(request)
    return json_response({"id": manager.cm_id, "state": manager.state.value})


def build_app(manager: ComponentManager, signer: Signer) -> web.Application:
    """Every route of a manager is for the other daemons only: signed requests (see
    :mod:`odenos.http.signing`); clients come through the REST translator."""
    app = web.Application(
        middlewares=[strict_path_middleware, signed_only(signer), error_middleware],
        client_max_size=16 * 1024**2,
    )
    app[MANAGER] = manager
    prefix = f"/{manager.cm_id}"
    app.router.add_get("/", root)
    app.router.add_post(EVENTS_PATH, receive_events)
    app.router.add_get("/metrics", metrics)
    app.router.add_post(SHUTDOWN_PATH, shutdown)
    app.router.add_post(SUBSCRIPTION_SEEN_PATH, subscription_seen_handler(lambda: manager.view))
    app.router.add_get(f"{prefix}/property", get_property)
    app.router.add_put(f"{prefix}/property", put_property)
    app.router.add_get(f"{prefix}/settings", get_settings)
    app.router.add_put(f"{prefix}/settings", put_settings)
    app.router.add_get(f"{prefix}/component_types", get_component_types)
    # Its Prometheus metrics, scraped through a translator (this port wants signatures).
    app.router.add_get(f"{prefix}/metrics", metrics)
    app.router.add_get(f"{prefix}/components", list_components)
    app.router.add_get(f"{prefix}/components/{{comp_id}}", get_component)
    app.router.add_route("*", "/{comp_id}/{tail:.*}", component_request)
    return app
