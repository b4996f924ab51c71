"""Forwarding a request to the process that hosts its object.

The target comes from :meth:`ClusterView.route` (a cache lookup).  The answer
is never a hang: a refused connection is a 503 at once (the process is gone,
even if ZooKeeper has not noticed yet); no answer within ``timeout`` is a 504
(both mapped by :class:`~odenos.http.client.InternalClient`); and a request in
flight to a component manager whose ephemeral node disappears (crash detected
by ZooKeeper, session expiry) is answered 503 at that moment rather than when
the timeout runs out.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web
from yarl import URL

from odenos import preferences
from odenos.cluster import ClusterView, Target
from odenos.errors import ObjectUnavailable
from odenos.http.client import InternalClient
from odenos.http.routing import Route
from odenos.zk.cache import ChangeKind

log = logging.getLogger(__name__)

#: Seconds the system manager gets beyond the forward timeout (see :meth:`Forwarder.forward`).
SYSTEM_MANAGER_MARGIN = 5.0

#: Answer headers relayed to the client (the rest is the hop's own business).
_RELAY_HEADERS = ("Retry-After", "Allow")

#: Request headers passed on; hop-by-hop and length headers are aiohttp's business.
_PASS_HEADERS = ("Content-Type", "Accept", "X-Request-Id")


class Forwarder:
    """Forwards requests over the daemon's :class:`InternalClient`.  Use on the loop."""

    def __init__(self, view: ClusterView, client: InternalClient, timeout: float) -> None:
        self._view = view
        self._client = client
        self._timeout = timeout
        self._in_flight: dict[str, set[asyncio.Future[web.Response]]] = {}
        #: Hops cancelled because their manager went away (not because their client did).
        self._gone: set[asyncio.Future[web.Response]] = set()
        view.on_manager_change(self._on_manager_change)

    def _on_manager_change(self, kind: ChangeKind, cm_id: str, data: dict[str, Any]) -> None:
        # Only a manager that is gone: one that is stopping still answers what it received.
        if kind != ChangeKind.REMOVED:
            return
        for call in self._in_flight.pop(cm_id, set()):
            if not call.done():
                self._gone.add(call)
                call.cancel()

    async def forward(
        self, request: web.Request, route: Route, timeout: float | None = None
    ) -> web.Response:
        """Send ``request`` to its route: exactly ``route.path`` at the target's address
        (query kept as it came), and relay the answer.

        The system manager, whose own deadline for a creation is the forward
        timeout, gets a few seconds more, so that its answer, not ours, comes back.
        Raises :class:`ObjectUnavailable` (refused, broken, or the manager went away
        meanwhile) or :class:`GatewayTimeout` (no answer within the timeout).
        """
        target = route.target
        if timeout is None:
            timeout = preferences.CURRENT.values.get("rest.forward_timeout", self._timeout)
            if target.kind == "system_manager":
                timeout += SYSTEM_MANAGER_MARGIN
        url = route.path.url(target.address, request.rel_url.raw_query_string)
        body = await request.read()
        headers = {h: request.headers[h] for h in _PASS_HEADERS if h in request.headers}
        owner = target.cm_id or target.object_id
        # The hop runs as a task of its own, so that the manager's departure can cancel
        # it (and only it: the handler then answers 503).
        call = asyncio.ensure_future(
            self._send(request.method, url, body, headers, target, timeout)
        )
        waiting = self._in_flight.setdefault(owner, set())
        waiting.add(call)
        try:
            return await call
        except asyncio.CancelledError:
            if call not in self._gone:
                raise  # the client went away: our own task is being cancelled
            raise ObjectUnavailable(
                target.object_id,
                f"component manager {owner!r} went away while the request was in flight",
            ) from None
        finally:
            self._gone.discard(call)
            waiting.discard(call)
            if not waiting and self._in_flight.get(owner) is waiting:
                del self._in_flight[owner]

    async def _send(
        self,
        method: str,
        url: URL,
        body: bytes,
        headers: dict[str, str],
        target: Target,
        timeout: float,
    ) -> web.Response:
        reply = await self._client.send(
            method, url, body=body, headers=headers, timeout=timeout, peer=target.object_id
        )
        out_headers = {h: reply.headers[h] for h in _RELAY_HEADERS if h in reply.headers}
        return web.Response(
            status=reply.status,
            body=reply.body,
            content_type=reply.content_type if reply.body else None,
            headers=out_headers,
        )
