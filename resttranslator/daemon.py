"""A REST translator on its own (``python -m resttranslator``): several may run.

It keeps its own ZooKeeper session and watch-fed view, and forwards every
request, the system manager's included, over HTTP.
"""

from __future__ import annotations

from odenos.cluster import ClusterView, connect, disconnect
from odenos.config import Config
from odenos.http.forward import Forwarder
from odenos.http.server import HttpServer
from odenos.metrics import register_cluster_metrics
from odenos.zk.client import Coordinator
from resttranslator.app import RestTranslator


class RestTranslatorDaemon:
    def __init__(self, config: Config, port: int | None = None) -> None:
        self.config = config
        self.port = config.rest_port if port is None else port
        self.zk: Coordinator | None = None
        self.view: ClusterView | None = None
        self._forwarder: Forwarder | None = None
        self._server: HttpServer | None = None

    async def start(self) -> None:
        config = self.config
        self.zk, self.view = await connect(self.config, "resttranslator")
        self._forwarder = Forwarder(self.view, config.forward_timeout)
        await self._forwarder.start()
        register_cluster_metrics(self.view)
        app = RestTranslator(
            self.view,
            self._forwarder,
            None,
            config.rest_root,
            frozenset(config.monitor) | frozenset(config.monitor_logging),
        ).build_app()
        self._server = HttpServer(app, config.rest_host, self.port, "REST translator")
        await self._server.start()

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop()
        if self._forwarder is not None:
            await self._forwarder.close()
        await disconnect(self.zk, self.view)
