"""Starting and stopping an aiohttp application on a TCP address."""

from __future__ import annotations

import logging
import socket
import ssl

from aiohttp import web

from odenos.errors import OdenosError

log = logging.getLogger(__name__)


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
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
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
