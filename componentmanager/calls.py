"""Requests from one component to another object: the component's ``request``.

A target hosted by this manager is dispatched in-process; any other goes over
HTTP to its manager's (or the core's) address, routed by the same watch-fed
view and with the same refusals as the REST translator: an object that is not
alive is a 503 at once.  Errors come back as a :class:`Response` with the
error's status and JSON body, never as an exception.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import urlencode

from odenos.cluster import ClusterView
from odenos.components.base import Component, Request, Response
from odenos.errors import BadGateway, OdenosError
from odenos.http.client import InternalClient
from odenos.http.objectpath import ObjectPath
from odenos.http.routing import Route, addressed, resolve

#: How an object of this manager is called in-process (the manager's ``dispatch``, which
#: answers once what the call wrote is durable).
LocalDispatch = Callable[[Component, Request], Awaitable[Response]]


class ObjectClient:
    """One per component manager; the ``CallPort`` of its components.  Used on its loop."""

    def __init__(
        self,
        view: ClusterView,
        instances: Mapping[str, Component],
        client: InternalClient,
        timeout: float,
        dispatch: LocalDispatch = lambda component, request: component.dispatch(request),
        fence: Callable[[], None] = lambda: None,
    ) -> None:
        self._view = view
        self._instances = instances
        self._client = client
        self._timeout = timeout
        self._dispatch = dispatch
        self._fence = fence

    async def request(
        self,
        object_id: str,
        method: str,
        path: str,
        body: Any = None,
        query: Mapping[str, str] | None = None,
    ) -> Response:
        try:
            called = addressed(ObjectPath.of(object_id, path), self._view.manager_id)
            local = self._instances.get(called.object_id or "")
            if local is not None:
                return await self._dispatch(
                    local, Request(method.upper(), called.subpath, dict(query or {}), body)
                )
            # Nothing leaves a manager that is cut off from ZooKeeper: its components may
            # be running elsewhere by now, and act on what that instance knows.
            self._fence()
            return await self._remote(resolve(self._view, called), method, body, query)
        except OdenosError as err:
            return Response(err.status, err.to_json())

    async def _remote(
        self,
        route: Route,
        method: str,
        body: Any,
        query: Mapping[str, str] | None,
    ) -> Response:
        target = route.target
        reply = await self._client.send(
            method.upper(),
            route.path.url(target.address, urlencode(dict(query or {}))),
            body=None if body is None else json.dumps(body).encode(),
            timeout=self._timeout,
            peer=target.object_id,
        )
        try:
            return Response(reply.status, reply.json())
        except ValueError:
            raise BadGateway(
                f"{target.object_id!r} answered {reply.status} with a body that is not JSON",
                object_id=target.object_id,
            ) from None
