"""The one outbound HTTP client of a daemon: every request to another daemon goes here.

The translator's forwarding, component-to-component calls, event batches,
subscription barriers, a manager's shutdown request and liveness probes all use
one :class:`InternalClient` per process: one pool of keep-alive connections,
one place that sends a path exactly as given (no re-resolution of dot segments),
and one mapping of transport failures to the errors clients see:

* the connection is refused (nothing listens: the process is gone, even if
  ZooKeeper has not noticed yet) or breaks: :class:`PeerUnavailable` (503);
* no answer within the timeout: :class:`~odenos.errors.GatewayTimeout` (504).

Use on the daemon's loop; :meth:`close` when the daemon stops.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from yarl import URL

from odenos.errors import GatewayTimeout, ObjectUnavailable
from odenos.http.signing import HEADER, Signer
from odenos.http.wire import Refused, WireClient, WireError

#: Connections kept per process (all peers together).
POOL_LIMIT = 256


class PeerUnavailable(ObjectUnavailable):
    """The peer refused the connection or the connection broke: a 503 for ``object_id``."""


@dataclass(frozen=True)
class Reply:
    """A peer's answer, read in full."""

    status: int
    body: bytes
    content_type: str
    headers: Mapping[str, str]

    def json(self) -> Any:
        """The body as JSON, None if it is empty.  Raises ``ValueError`` if it is not JSON."""
        return json.loads(self.body) if self.body else None


class InternalClient:
    """Pooled HTTP to the other daemons.  ``timeout``: seconds for a whole request, unless
    a call says otherwise."""

    def __init__(self, timeout: float, signer: Signer | None = None) -> None:
        self.timeout = timeout
        self._signer = signer
        self._wire: WireClient | None = None

    async def close(self) -> None:
        if self._wire is not None:
            self._wire.close()
            self._wire = None

    async def send(
        self,
        method: str,
        url: URL,
        *,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        peer: str,
    ) -> Reply:
        """Send ``method url`` (``url`` as built by :meth:`ObjectPath.url` or
        :func:`internal_url`, sent byte for byte) and read the whole answer.

        ``peer`` names the object the request is for, in errors.  Raises
        :class:`PeerUnavailable` or :class:`GatewayTimeout`; an HTTP error status is
        a :class:`Reply`, not an exception.
        """
        seconds = self.timeout if timeout is None else timeout
        where = f"{url.scheme}://{url.raw_authority}"
        if self._signer is not None:
            signature = self._signer.sign(method, url.raw_path_qs, body or b"")
            if signature is not None:
                headers = {**(headers or {}), HEADER: signature}
        if self._wire is None:
            self._wire = WireClient(POOL_LIMIT)
        try:
            answer = await self._wire.request(
                method,
                url.raw_host or "",
                url.port or 80,
                url.raw_path_qs,
                dict(headers or {}),
                body or b"",
                seconds,
            )
        except Refused as exc:
            raise PeerUnavailable(
                peer, f"its process at {where} refused the connection (not running): {exc}"
            ) from None
        except TimeoutError:
            raise GatewayTimeout(
                f"{peer!r} did not answer within {seconds:g} s "
                f"(its process at {where} is stalled or overloaded)",
                object_id=peer,
            ) from None
        except WireError as exc:
            raise PeerUnavailable(
                peer, f"connection to its process at {where} broke: {exc}"
            ) from None
        return Reply(answer.status, answer.body, answer.content_type, answer.headers)

    async def post_json(
        self, address: str, path: str, body: Any, *, peer: str, timeout: float | None = None
    ) -> Reply:
        """POST ``body`` as JSON to one of a daemon's internal endpoints (``/_events``...)."""
        return await self.send(
            "POST",
            internal_url(address, path),
            body=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            timeout=timeout,
            peer=peer,
        )

    async def answers(self, address: str, timeout: float = 2.0) -> bool:
        """Does a process answer HTTP at ``address``?  (Tells a stale ephemeral from a
        live twin.)"""
        try:
            await self.send("GET", internal_url(address, "/"), timeout=timeout, peer=address)
        except (PeerUnavailable, GatewayTimeout):
            return False
        return True


def internal_url(address: str, path: str) -> URL:
    """``address`` (a daemon's base URL) + an internal ``path`` such as ``/_events``."""
    return URL(address + path, encoded=True)
