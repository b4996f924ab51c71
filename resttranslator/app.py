"""The REST translator: the HTTP front door, ``/<object_id>/<path>`` to the object.

Routing and refusal are decided from the watch-fed :class:`ClusterView`
(no ZooKeeper round trip per request): an unknown id is a 404, a known
object that is not alive (manager crashed, restarting, component failed) a
503 at once with ``Retry-After`` and a body naming it and the reason.

In the core process the system manager's API is mounted in this app (no
hop); a translator on its own forwards ``/<manager_id>/...`` to the system
manager's internal address, and sends ``/<manager_id>/components/<id>/<path>``
straight to the component.
"""

from __future__ import annotations

import logging
import mimetypes
import time
from collections.abc import Mapping
from importlib.resources import files
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from odenos.cluster import ClusterView
from odenos.errors import MethodNotAllowed, ObjectNotFound, OdenosError
from odenos.http.errors import Handler, error_middleware
from odenos.http.forward import Forwarder
from odenos.http.objectpath import ObjectPath, canonical_path_middleware
from odenos.http.openapi import serve_openapi, serve_openapi_yaml
from odenos.http.rest_auth import Token, TokenSource, bearer_auth
from odenos.http.routing import resolve
from odenos.metrics import REST_FORWARD, REST_REFUSALS, REST_REQUESTS
from resttranslator.events import RestSubscriptions
from resttranslator.telemetry import RouteTemplates, refusal_reason

log = logging.getLogger(__name__)


class RestTranslator:
    """Builds the front-door app.

    ``local_apps`` are the in-process APIs (system manager, event manager) by
    object id, if this translator runs in the core process; ``static_root`` is
    ``rest.root``; requests for the objects in ``monitored`` (``monitor.logging``)
    are logged with their outcome.
    """

    def __init__(
        self,
        view: ClusterView,
        forwarder: Forwarder,
        local_apps: Mapping[str, web.Application] | None = None,
        static_root: Path | None = None,
        monitored: frozenset[str] = frozenset(),
        events: RestSubscriptions | None = None,
        tokens: tuple[Token, ...] | None = None,
        tokens_path: Path | None = None,
    ) -> None:
        self._view = view
        self._tokens = tokens
        self._tokens_path = tokens_path
        self._monitored = monitored
        self._events = events
        self._forwarder = forwarder
        self._local_apps = dict(local_apps or {})
        self._static_root = static_root.resolve() if static_root else None
        self._templates = RouteTemplates.from_openapi()
        self._request_counters: dict[tuple[str, str, int], Any] = {}
        self._forward_histograms: dict[str, Any] = {}

    def build_app(self) -> web.Application:
        middlewares: list[Middleware] = [self._count, canonical_path_middleware]
        if self._tokens is not None:
            middlewares.append(bearer_auth(TokenSource(self._tokens, self._tokens_path)))
        if self._monitored:
            middlewares.append(self._monitor)
        middlewares.append(error_middleware)
        app = web.Application(middlewares=middlewares, client_max_size=16 * 1024**2)
        app.router.add_get("/metrics", metrics)
        app.router.add_get("/openapi.json", serve_openapi)
        app.router.add_get("/openapi.yaml", serve_openapi_yaml)
        # The live cluster page: a path no object id can take (ids begin with a letter or
        # a digit).
        app.router.add_get("/_cluster", cluster_page)
        app.router.add_get("/_cluster/", cluster_page)
        app.router.add_get("/_cluster/app.js", cluster_page_script)
        if self._events is not None:
            self._events.add_routes(app)
        for object_id, local in self._local_apps.items():
            app.add_subapp(f"/{object_id}", local)
        app.router.add_route("*", "/{object_id}", self.handle)
        app.router.add_route("*", "/{object_id}/{tail:.*}", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.StreamResponse:
        path = ObjectPath.parse(request.rel_url.raw_path)
        own = _own_resource_methods(path)
        if own is not None:
            # The translator's own resource, asked with another method: not an object id.
            raise MethodNotAllowed(
                f"{request.method} is not allowed on {path.encoded}", allowed=list(own)
            )
        try:
            route = resolve(self._view, path)
        except ObjectNotFound:
            static = self._static_file(request)
            if static is not None:
                return static
            REST_REFUSALS.labels("not_found").inc()
            raise
        except OdenosError:
            REST_REFUSALS.labels(refusal_reason(self._view, str(path.object_id))).inc()
            raise
        started = time.monotonic()
        try:
            return await self._forwarder.forward(request, route)
        except OdenosError as err:
            if err.code == "ObjectUnavailable":
                # Its process did not answer: the view may not know why yet.
                reason = refusal_reason(self._view, str(path.object_id))
                REST_REFUSALS.labels("unreachable" if reason.endswith("running") else reason).inc()
            raise
        finally:
            histogram = self._forward_histograms.get(route.target.kind)
            if histogram is None:
                histogram = REST_FORWARD.labels(route.target.kind)
                self._forward_histograms[route.target.kind] = histogram
            histogram.observe(time.monotonic() - started)

    @web.middleware
    async def _count(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Every request, by route template, method and status (errors included)."""
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            self._counted(request, exc.status)
            raise
        self._counted(request, response.status)
        return response

    def _counted(self, request: web.Request, status: int) -> None:
        # On every request, the translator's hop included: the template from the decoded
        # path's segments (no second parse), and prometheus' label children kept.
        template = self._templates.match([s for s in request.path.split("/") if s])
        key = (template, request.method, status)
        counter = self._request_counters.get(key)
        if counter is None:
            counter = REST_REQUESTS.labels(template, request.method, str(status))
            if len(self._request_counters) < 10_000:
                self._request_counters[key] = counter
        counter.inc()

    @web.middleware
    async def _monitor(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """``monitor.logging``: the message log ODENOS kept for the objects it names, here
        every request to them with its answer, refusals and the system manager's included."""
        parts = request.rel_url.raw_path.split("/")
        ids = {parts[1]} if len(parts) > 1 else set()
        if len(parts) > 3 and parts[2] == "components":
            ids.add(parts[3])
        if not ids & self._monitored:
            return await handler(request)
        started = time.monotonic()
        response = await handler(request)  # the error middleware inside: never raises
        log.info(
            "monitor: %s %s -> %d (%.1f ms)",
            request.method,
            request.rel_url,
            response.status,
            (time.monotonic() - started) * 1000,
        )
        return response

    def _static_file(self, request: web.Request) -> web.StreamResponse | None:
        """``rest.root``: a GET for a file under it that no object claims."""
        if self._static_root is None or request.method != "GET":
            return None
        candidate = (self._static_root / request.path.lstrip("/")).resolve()
        if not candidate.is_relative_to(self._static_root) or not candidate.is_file():
            return None
        content_type = mimetypes.guess_type(candidate.name)[0] or "application/octet-stream"
        return web.FileResponse(candidate, headers={"Content-Type": content_type})


def _own_resource_methods(path: ObjectPath) -> tuple[str, ...] | None:
    """The methods of a resource the translator serves itself, if ``path`` is one (the
    catch-all route sees the others' methods); None otherwise."""
    seg = path.segments
    if len(seg) == 1 and seg[0] in ("metrics", "openapi.json", "openapi.yaml", "_cluster"):
        return ("GET", "HEAD")
    if seg == ("_cluster", "app.js"):
        return ("GET", "HEAD")
    if seg == ("event", "stream"):
        return ("GET", "HEAD")
    if len(seg) == 3 and seg[:2] == ("event", "subscriptions"):
        return ("DELETE", "GET", "HEAD", "PUT")
    return None


#: The page may load only its own script and styles (nothing from elsewhere).
PAGE_POLICY = "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:"


def _ui_file(name: str) -> bytes:
    return files("odenos.http").joinpath("ui", name).read_bytes()


async def cluster_page(request: web.Request) -> web.Response:
    return web.Response(
        body=_ui_file("index.html"),
        content_type="text/html",
        charset="utf-8",
        headers={"Content-Security-Policy": PAGE_POLICY, "Cache-Control": "no-cache"},
    )


async def cluster_page_script(request: web.Request) -> web.Response:
    return web.Response(
        body=_ui_file("app.js"),
        content_type="application/javascript",
        charset="utf-8",
        headers={"Cache-Control": "no-cache"},
    )


async def metrics(request: web.Request) -> web.Response:
    return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})
