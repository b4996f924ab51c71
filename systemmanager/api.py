"""The system manager's REST API (reference section 4, ``/systemmanager/...``).

Built as an aiohttp sub-application mounted at ``/<manager_id>``: the core
process mounts it inside the REST translator's app (no extra hop), and a
system manager without an in-process translator serves it on its own
internal address for the translators that run elsewhere.  Handlers read the
watch-fed :class:`ClusterView` and write through :class:`ComponentRegistry`.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from odenos import preferences
from odenos.cluster import EVENT_MANAGER_ID, ClusterView, Target, type_entry
from odenos.errors import (
    BadRequest,
    ComponentManagerNotFound,
    Conflict,
    NotFound,
    ObjectNotFound,
    ObjectUnavailable,
)
from odenos.http.errors import Handler, json_response, read_json, read_json_object
from odenos.http.forward import Forwarder
from odenos.http.objectpath import ObjectPath
from odenos.http.routing import Route, addressed, resolve
from systemmanager.admission import Admission
from systemmanager.connections import ConnectionRegistry
from systemmanager.eventmanager import new_property as event_manager_property
from systemmanager.manager import SystemManager, SystemManagerState
from systemmanager.registry import ComponentRegistry


@dataclass(frozen=True)
class SystemManagerService:
    """What the handlers need; one per system manager."""

    manager: SystemManager
    registry: ComponentRegistry
    connections: ConnectionRegistry
    forwarder: Forwarder
    admission: Admission

    @property
    def view(self) -> ClusterView:
        return self.manager.view


SERVICE = web.AppKey("service", SystemManagerService)
routes = web.RouteTableDef()


def _service(request: web.Request) -> SystemManagerService:
    return request.app[SERVICE]


# --- the system manager object itself -------------------------------------------------------


@routes.get("/property")
async def get_property(request: web.Request) -> web.Response:
    return json_response(_service(request).manager.property_json())


@routes.put("/property")
async def put_property(request: web.Request) -> web.Response:
    manager = _service(request).manager
    return json_response(manager.update_property(await read_json_object(request)))


@routes.get("/settings")
async def get_settings(request: web.Request) -> web.Response:
    return json_response(_service(request).manager.settings)


@routes.put("/settings")
async def put_settings(request: web.Request) -> web.Response:
    manager = _service(request).manager
    return json_response(await manager.put_settings(await read_json_object(request)))


# --- cluster-wide preferences (odenos.preferences) --------------------------------------------


@routes.get("/preferences")
async def get_preferences(request: web.Request) -> web.Response:
    """The preferences as stored (keys left out have their defaults)."""
    return json_response(await _service(request).manager.get_preferences())


@routes.put("/preferences")
async def put_preferences(request: web.Request) -> web.Response:
    """Replace the preferences (validated; null or absent: the default); every daemon
    applies them from its watch.  Answers them as stored."""
    checked = preferences.check(await read_json_object(request))
    return json_response(await _service(request).manager.put_preferences(checked))


# --- component managers ---------------------------------------------------------------------


@routes.get("/component_managers")
async def list_managers(request: web.Request) -> web.Response:
    view = _service(request).view
    return json_response([view.manager_property(cm) for cm in view.manager_ids()])


@routes.get("/component_managers/{cm_id}")
async def get_manager(request: web.Request) -> web.Response:
    view = _service(request).view
    cm_id = request.match_info["cm_id"]
    if view.manager(cm_id) is None:
        raise ComponentManagerNotFound(cm_id)
    return json_response(view.manager_property(cm_id))


@routes.get("/component_managers/{cm_id}/component_types")
async def get_manager_types(request: web.Request) -> web.Response:
    view = _service(request).view
    cm_id = request.match_info["cm_id"]
    data = view.manager(cm_id)
    if data is None:
        raise ComponentManagerNotFound(cm_id)
    return json_response(
        {t["type"]: type_entry(t, [cm_id]) for t in data.get("component_types", [])}
    )


@routes.put("/component_managers/{cm_id}")
async def put_manager(request: web.Request) -> web.Response:
    """ODENOS's registration: here managers register themselves through ZooKeeper."""
    view = _service(request).view
    cm_id = request.match_info["cm_id"]
    if view.manager(cm_id) is not None:
        raise Conflict(f"component manager {cm_id!r} is already registered", cm_id=cm_id)
    raise BadRequest(
        "component managers register themselves through ZooKeeper: start "
        f"'python -m componentmanager -c <odenos.conf> --id {cm_id}' (or 'odenos start')",
        cm_id=cm_id,
    )


@routes.delete("/component_managers/{cm_id}")
async def delete_manager(request: web.Request) -> web.Response:
    await _service(request).registry.remove_manager(request.match_info["cm_id"])
    return json_response(None, 200)


# --- component types ------------------------------------------------------------------------


@routes.get("/component_types")
async def list_types(request: web.Request) -> web.Response:
    return json_response(_service(request).view.component_types())


@routes.get("/component_types/{type}")
async def get_type(request: web.Request) -> web.Response:
    view = _service(request).view
    name = request.match_info["type"]
    info = view.component_types().get(name)
    if info is None:
        raise NotFound(f"no running component manager offers type {name!r}", type=name)
    return json_response([view.manager_property(cm) for cm in info["cm_id"]])


# --- components -----------------------------------------------------------------------------


@routes.get("/components")
async def list_components(request: web.Request) -> web.Response:
    return json_response(_service(request).registry.list())


@routes.post("/components")
async def post_component(request: web.Request) -> web.Response:
    prop = await _service(request).registry.create_generated(await read_json(request))
    return json_response(prop, 200)


@routes.get("/components/{comp_id}")
async def get_component(request: web.Request) -> web.Response:
    return json_response(_service(request).registry.get(request.match_info["comp_id"]))


@routes.put("/components/{comp_id}")
async def put_component(request: web.Request) -> web.Response:
    status, prop = await _service(request).registry.put(
        request.match_info["comp_id"], await read_json(request)
    )
    return json_response(prop, status)


@routes.delete("/components/{comp_id}")
async def delete_component(request: web.Request) -> web.Response:
    await _service(request).registry.delete(request.match_info["comp_id"])
    return json_response(None, 200)


@routes.route("*", "/components/{comp_id}/{tail:.+}")
async def forward_to_component(request: web.Request) -> web.Response:
    service = _service(request)
    route = resolve(service.view, ObjectPath.parse(request.rel_url.raw_path))
    return await service.forwarder.forward(request, route)


# --- connections ----------------------------------------------------------------------------


@routes.get("/connections")
async def list_connections(request: web.Request) -> web.Response:
    return json_response(_service(request).connections.list())


@routes.post("/connections")
async def post_connection(request: web.Request) -> web.Response:
    conn = await _service(request).connections.post(await read_json(request))
    return json_response(conn, 200)


@routes.get("/connections/{conn_id}")
async def get_connection(request: web.Request) -> web.Response:
    return json_response(_service(request).connections.get(request.match_info["conn_id"]))


@routes.put("/connections/{conn_id}")
async def put_connection(request: web.Request) -> web.Response:
    status, conn = await _service(request).connections.put(
        request.match_info["conn_id"], await read_json(request)
    )
    return json_response(conn, status)


@routes.delete("/connections/{conn_id}")
async def delete_connection(request: web.Request) -> web.Response:
    await _service(request).connections.delete(request.match_info["conn_id"])
    return json_response(None, 200)


@routes.get("/event_manager")
async def get_event_manager(request: web.Request) -> web.Response:
    return json_response(event_manager_property().to_json())


# --- admission of component managers --------------------------------------------------------


@routes.get("/component_managers/{cm_id}/approval")
async def get_approval(request: web.Request) -> web.Response:
    return json_response(_service(request).admission.get(request.match_info["cm_id"]))


@routes.put("/component_managers/{cm_id}/approval")
async def put_approval(request: web.Request) -> web.Response:
    """Approve a component manager (before it registers, too): 201, or 200 if it was."""
    admission = _service(request).admission
    created = await admission.approve(request.match_info["cm_id"])
    return json_response(admission.get(request.match_info["cm_id"]), 201 if created else 200)


@routes.delete("/component_managers/{cm_id}/approval")
async def delete_approval(request: web.Request) -> web.Response:
    """Revoke: nothing new is placed on it (what it runs goes on); 404 if not approved."""
    cm_id = request.match_info["cm_id"]
    if not await _service(request).admission.revoke(cm_id):
        raise NotFound(f"component manager {cm_id!r} is not approved", cm_id=cm_id)
    return json_response(None, 200)


# --- any object -----------------------------------------------------------------------------


@routes.get("/objects/{object_id}")
async def get_object(request: web.Request) -> web.Response:
    service = _service(request)
    object_id = request.match_info["object_id"]
    view = service.view
    if object_id == view.manager_id:
        return json_response(service.manager.property_json())
    if object_id == EVENT_MANAGER_ID:
        return json_response(event_manager_property().to_json())
    if view.manager(object_id) is not None:
        return json_response(view.manager_property(object_id))
    if view.desired_component(object_id) is not None:
        return json_response(view.component_property(object_id))
    raise ObjectNotFound(object_id)


@web.middleware
async def active_or_forward(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every answer comes from the active system manager: a standby sends the request
    on to it (a 503 while none is active); one that is not registered answers 503.
    ``components/<id>/<path>`` goes to the component from any of them."""
    service = request.app[SERVICE]
    manager = service.manager
    if manager.is_active:
        return await handler(request)
    path = ObjectPath.parse(request.rel_url.raw_path)
    if addressed(path, manager.manager_id) is not path:
        return await handler(request)
    if manager.state in (SystemManagerState.STANDBY, SystemManagerState.REGISTERING):
        active = service.view.system_manager()
        if active is not None and active.get("instance") != manager.instance:
            target = Target(manager.manager_id, "system_manager", str(active.get("address")))
            return await service.forwarder.forward(request, Route(target, path))
        raise ObjectUnavailable(
            manager.manager_id, "no system manager is active yet: one is being elected"
        )
    manager.require_registered()
    return await handler(request)


def build_app(service: SystemManagerService) -> web.Application:
    """The sub-application; mount it with ``parent.add_subapp("/" + manager_id, app)``."""
    app = web.Application(middlewares=[active_or_forward])
    app[SERVICE] = service
    app.add_routes(routes)
    return app
