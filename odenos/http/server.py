"""Starting and stopping an aiohttp application on a TCP address, guarded.

Every listening socket of the daemons is served with limits a hostile client
cannot wear out:

* **header-read timeout**: a request whose headers are not complete
  :data:`HEADER_TIMEOUT` seconds after its first byte (or after the connection
  opened) gets its connection closed (slowloris);
* **idle timeout**: a keep-alive connection with no request for
  :data:`IDLE_TIMEOUT` seconds is closed (aiohttp's own default is an hour);
* **connection cap**: past :data:`MAX_CONNECTIONS` open connections, new ones are
  closed at once (and logged, once a minute at most);
* **errors of the HTTP parser** (a malformed request line, a header too long) are
  answered with the same JSON error body as every other error, not text.

aiohttp offers no header timeout, no cap and no hook for the parser's errors:
:class:`GuardedHandler` adds them to its request handler, reading two of its
attributes (``_messages``, ``_request_in_progress``) to tell a complete request
from a partial one.  ``tests/test_hardening.py`` attacks each limit, so that a
change of aiohttp that breaks one shows.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import ssl
import time
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from odenos.errors import OdenosError

log = logging.getLogger(__name__)

HEADER_TIMEOUT = 10.0
IDLE_TIMEOUT = 30.0
MAX_CONNECTIONS = 1000


class ConnectionGuard:
    """The open connections of one listening socket, and its limits."""

    def __init__(self, name: str, max_connections: int, header_timeout: float) -> None:
        self.name = name
        self.max_connections = max_connections
        self.header_timeout = header_timeout
        self.open = 0
        self.refused = 0
        self.timed_out = 0
        self._last_warning = 0.0

    def admit(self) -> bool:
        if self.open >= self.max_connections:
            self.refused += 1
            now = time.monotonic()
            if now - self._last_warning > 60:
                self._last_warning = now
                log.warning(
                    "%s: %d connections open, the most it takes: refusing new ones "
                    "(%d refused so far)",
                    self.name,
                    self.open,
                    self.refused,
                )
            return False
        self.open += 1
        return True


class GuardedHandler(RequestHandler):  # type: ignore[misc]
    """aiohttp's request handler with the limits of this module."""

    _guard: ConnectionGuard
    _admitted = False
    _timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: Any) -> None:
        if not self._guard.admit():
            transport.abort()
            return
        self._admitted = True
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: BaseException | None) -> None:
        self._disarm()
        if self._admitted:
            self._admitted = False
            self._guard.open -= 1
            super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if getattr(self, "_messages", None) or getattr(self, "_request_in_progress", False):
            self._disarm()  # its headers are in
        elif self._timer is None:
            self._arm()  # the first bytes of a request: its headers have a deadline

    def _arm(self) -> None:
        self._disarm()
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self._guard.header_timeout, self._too_slow)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _too_slow(self) -> None:
        self._timer = None
        if self.transport is not None:
            self._guard.timed_out += 1
            log.info(
                "%s: closed a connection whose request headers took too long", self._guard.name
            )
            self.transport.close()

    def handle_error(
        self,
        request: Any,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """A request the HTTP parser refused (or a failure outside the handlers): the
        usual JSON error body, never a traceback.  A client's malformed request is one
        log line, not a traceback (a flood of them must not flood the log)."""
        self._client_fault = status < 500
        try:
            response = super().handle_error(request, status, exc, message)
        finally:
            self._client_fault = False
        code = {400: "BadRequest", 413: "PayloadTooLarge", 431: "HeadersTooLarge"}.get(
            status, "InternalError" if status >= 500 else "BadRequest"
        )
        text = str(getattr(exc, "message", None) or message or "malformed request")
        if status >= 500:
            text = "internal error, see the daemon's log"
        body = json.dumps({"error": code, "message": text.splitlines()[0][:500]}).encode()
        json_response = web.Response(status=status, body=body, content_type="application/json")
        json_response.force_close()
        del response
        return json_response

    _client_fault = False

    def log_exception(self, *args: Any, **kw: Any) -> None:
        if self._client_fault:
            exc = kw.get("exc_info")
            text = str(getattr(exc, "message", None) or exc or "malformed request")
            log.info("%s: refused a malformed request: %s", self._guard.name, text.splitlines()[0])
            return
        super().log_exception(*args, **kw)


class _GuardedServer(web.Server):  # type: ignore[misc]
    guard: ConnectionGuard

    def __call__(self) -> RequestHandler:
        handler = GuardedHandler(self, loop=self._loop, **self._kwargs)
        handler._guard = self.guard
        return handler


class _GuardedRunner(web.AppRunner):
    def __init__(self, app: web.Application, guard: ConnectionGuard) -> None:
        super().__init__(app, access_log=None, handle_signals=False, keepalive_timeout=IDLE_TIMEOUT)
        self._guard = guard

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        server.__class__ = _GuardedServer  # only its protocol factory differs
        server.guard = self._guard  # type: ignore[attr-defined]
        return server


class HttpServer:
    """An aiohttp app served on ``host:port`` (port 0: any free port).

    ``address`` is the base URL others use to reach it, once started.
    """

    def __init__(
        self,
        app: web.Application,
        host: str,
        port: int,
        name: str,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.app = app
        self._ssl = ssl_context
        self.guard = ConnectionGuard(name, MAX_CONNECTIONS, HEADER_TIMEOUT)
        self._runner = _GuardedRunner(app, self.guard)
        self._host = host
        self._port = port
        self._name = name
        self.port = 0

    @property
    def address(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"{'https' if self._ssl else 'http'}://{host}:{self.port}"

    async def start(self) -> None:
        await self._runner.setup()
        site = web.TCPSite(
            self._runner, self._host, self._port, reuse_address=True, ssl_context=self._ssl
        )
        try:
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            raise OdenosError(
                f"{self._name}: cannot listen on {self._host}:{self._port}: {exc.strerror}"
                + (" (is another instance running?)" if self._port else ""),
            ) from None
        server = site._server
        sockets: list[socket.socket] = list(getattr(server, "sockets", []) or [])
        self.port = sockets[0].getsockname()[1] if sockets else self._port
        log.info("%s listening on %s", self._name, self.address)

    async def stop_listening(self) -> None:
        """Close the listening socket: new connections are refused at once."""
        for site in list(self._runner.sites):
            await site.stop()

    async def stop(self) -> None:
        await self._runner.cleanup()
