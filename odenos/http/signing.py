"""Daemon-to-daemon authentication: every internal request is signed with the cluster secret.

The cluster secret is created by the first system manager and kept in ZooKeeper
(``/odenos/secret``, readable by the system's identity only: see
:mod:`odenos.zk.acl`); every daemon follows it with a watch.  Each request a
daemon sends to another (:class:`~odenos.http.client.InternalClient`) carries::

    X-Odenos-Signature: <unix time>.<hex HMAC-SHA256(secret, method \\n path?query \\n
                                                      sha256(body) \\n unix time)>

and every internal port (a component manager's, the core's internal address, a
translator's event intake) answers a request without a valid one, or more than
:data:`WINDOW` seconds old or early, with 401 and a log line.  A process that
reaches a manager's port directly can therefore not stop it, forge events, or act
as the translator.  The REST translator's public port is not concerned: clients
authenticate there with tokens, if configured.

Rotation: the record holds the ``current`` secret and the ``previous`` one;
daemons sign with the current one and accept both, so ``odenos rotate-secret``
never interrupts anything.  What this does not stop: a replay, within the window,
of a request captured on the wire (the daemons' traffic should stay on a network
of their own, or behind TLS, which this project does not add between daemons).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from typing import Any

from aiohttp import web

from odenos.errors import OdenosError
from odenos.http.errors import Handler, error_response

log = logging.getLogger(__name__)

HEADER = "X-Odenos-Signature"
#: Seconds a signature stays good (either way: clocks of hosts differ a little).
WINDOW = 60.0


class Unauthenticated(OdenosError):
    status = 401
    code = "Unauthenticated"


def new_secret() -> str:
    return secrets.token_hex(32)


def _digest(key: bytes, method: str, target: str, body: bytes, stamp: str) -> str:
    message = "\n".join((method.upper(), target, hashlib.sha256(body).hexdigest(), stamp))
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


class Signer:
    """The cluster secret as this daemon knows it.  Updated from its ZooKeeper watch; used
    on the daemon's loop."""

    def __init__(self) -> None:
        self._keys: list[bytes] = []  # current first

    def set_record(self, record: Any) -> None:
        """``{"current": hex, "previous": hex | None}`` (None: not known yet)."""
        keys = []
        if isinstance(record, dict):
            for name in ("current", "previous"):
                value = record.get(name)
                if isinstance(value, str) and value:
                    keys.append(value.encode())
        if keys and keys != self._keys:
            log.info("cluster secret %s", "loaded" if not self._keys else "rotated")
        self._keys = keys

    @property
    def ready(self) -> bool:
        return bool(self._keys)

    def sign(self, method: str, target: str, body: bytes, now: float | None = None) -> str | None:
        """The header value for a request of ``method`` to ``target`` (path?query, as
        sent) with ``body``; None while the secret is not known."""
        if not self._keys:
            return None
        stamp = str(int(time.time() if now is None else now))
        return f"{stamp}.{_digest(self._keys[0], method, target, body, stamp)}"

    def check(
        self, method: str, target: str, body: bytes, header: str | None, now: float | None = None
    ) -> str | None:
        """None if ``header`` signs this request; else why not (for the log, not the client)."""
        if not self._keys:
            return "this daemon does not know the cluster secret yet"
        if not header:
            return f"no {HEADER} header"
        stamp, _, given = header.partition(".")
        if not stamp.isdigit() or not given:
            return "a malformed signature"
        age = (time.time() if now is None else now) - int(stamp)
        if abs(age) > WINDOW:
            return f"a signature {age:+.0f} s old (accepted: {WINDOW:g} s)"
        for key in self._keys:
            if hmac.compare_digest(_digest(key, method, target, body, stamp), given):
                return None
        return "a wrong signature"


def signed_only(signer: Signer) -> Any:
    """The middleware of an internal port: 401 for a request that is not signed."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        body = await request.read()
        why = signer.check(
            request.method, request.rel_url.raw_path_qs, body, request.headers.get(HEADER)
        )
        if why is not None:
            log.warning(
                "refused %s %s from %s: %s", request.method, request.path, request.remote, why
            )
            return error_response(
                Unauthenticated("internal requests must be signed with the cluster secret")
            )
        return await handler(request)

    return middleware
