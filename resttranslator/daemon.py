"""A REST translator on its own (``python -m resttranslator``): several may run.

It keeps its own ZooKeeper session and watch-fed view, and forwards every
request, the system manager's included, over HTTP.
"""

from __future__ import annotations

from aiohttp import web

from odenos.cluster import ClusterView, connect, disconnect
from odenos.cluster_metrics import register_cluster_metrics
from odenos.config import Config
from odenos.http.client import InternalClient
from odenos.http.errors import error_middleware
from odenos.http.forward import Forwarder
from odenos.http.objectpath import strict_path_middleware
from odenos.http.rest_auth import tls_context
from odenos.http.server import HttpServer
from odenos.http.signing import Signer, signed_only
from odenos.identity import follow_secret
from odenos.preferences import follow as follow_preferences
from odenos.zk.client import Coordinator
from resttranslator.app import RestTranslator
from resttranslator.events import RestSubscriptions


class RestTranslatorDaemon:
    def __init__(self, config: Config, port: int | None = None) -> None:
        self.config = config
        self.port = config.rest_port if port is None else port
        self.zk: Coordinator | None = None
        self.view: ClusterView | None = None
        self._forwarder: Forwarder | None = None
        self._server: HttpServer | None = None
        self._intake: HttpServer | None = None
        self._events: RestSubscriptions | None = None
        self._signer = Signer()
        self._client = InternalClient(config.forward_timeout, self._signer)

    async def start(self) -> None:
        config = self.config
        self.zk, self.view = await connect(self.config, "resttranslator")
        await follow_secret(self.zk, self._signer)
        await follow_preferences(self.zk)
        self._forwarder = Forwarder(self.view, self._client, config.forward_timeout)
        register_cluster_metrics(self.view)
        # Where publishers' managers deliver the events of this translator's REST clients.
        intake = HttpServer(
            web.Application(
                middlewares=[strict_path_middleware, signed_only(self._signer), error_middleware]
            ),
            config.process_host,
            0,
            "REST event intake",
        )
        self._intake = intake
        self._events = RestSubscriptions(self.zk, self.view, self._client, lambda: intake.address)
        self._events.add_intake(intake.app)
        await intake.start()
        app = RestTranslator(
            self.view,
            self._forwarder,
            None,
            config.rest_root,
            frozenset(config.monitor) | frozenset(config.monitor_logging),
            self._events,
            config.rest_tokens,
            config.rest_tokens_path,
        ).build_app()
        tls = tls_context(*config.rest_tls) if config.rest_tls else None
        self._server = HttpServer(app, config.rest_host, self.port, "REST translator", tls)
        await self._server.start()
        self.zk.status.registered()  # its clients' subscriptions live on its session

    async def stop(self) -> None:
        for server in (self._server, self._intake):
            if server is not None:
                await server.stop()
        if self._events is not None:
            self._events.close()
        await self._client.close()
        await disconnect(self.zk, self.view)
