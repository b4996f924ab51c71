"""Requests from one component to another object: the component's ``request``.

A target hosted by this manager is dispatched in-process; any other goes over
HTTP to its manager's (or the core's) address, routed by the same watch-fed
view and with the same refusals as the REST translator: an object that is not
alive is a 503 at once.  Errors come back as a :class:`Response` with the
error's status and JSON body, never as an exception.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import aiohttp

from odenos.cluster import ClusterView
from odenos.components.base import Component, Request, Response
from odenos.errors import OdenosError
from odenos.http.objectpath import ObjectPath
from odenos.http.routing import Route, addressed, resolve


class ObjectClient:
    """One per component manager; the ``CallPort`` of its components.  Used on its loop."""

    def __init__(
        self, view: ClusterView, instances: Mapping[str, Component], timeout: float
    ) -> None:
        self._view = view
        self._instances = instances
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

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
                return await local.dispatch(
                    Request(method.upper(), called.subpath, dict(query or {}), body)
                )
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
        object_id = route.target.object_id
        url = route.path.url(route.target.address, urlencode(dict(query or {})))
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self._timeout)
            )
        data = None if body is None else json.dumps(body).encode()
        try:
            async with self._session.request(method.upper(), url, data=data) as resp:
                raw = await resp.read()
                return Response(resp.status, json.loads(raw) if raw else None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            return Response(
                503,
                {
                    "error": "ObjectUnavailable",
                    "message": f"{object_id!r} did not answer: {exc!r}",
                    "object_id": object_id,
                },
            )
