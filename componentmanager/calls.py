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
from urllib.parse import quote

import aiohttp

from odenos.cluster import ClusterView
from odenos.components.base import Component, Request, Response
from odenos.errors import OdenosError


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
            local = self._instances.get(object_id)
            if local is not None:
                return await local.dispatch(Request(method.upper(), path, dict(query or {}), body))
            return await self._remote(object_id, method, path, body, query)
        except OdenosError as err:
            return Response(err.status, err.to_json())

    async def _remote(
        self,
        object_id: str,
        method: str,
        path: str,
        body: Any,
        query: Mapping[str, str] | None,
    ) -> Response:
        target = self._view.route(object_id)
        url = f"{target.address}/{quote(object_id)}/{path.lstrip('/')}"
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self._timeout)
            )
        data = None if body is None else json.dumps(body).encode()
        try:
            async with self._session.request(
                method.upper(), url, data=data, params=dict(query or {})
            ) as resp:
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
