"""One component manager process: config, ZooKeeper session, HTTP server, manager.

The HTTP server starts first so that the address published in ZooKeeper
answers from the moment it is published.  On a graceful stop the listening
socket closes first, so that requests are refused at once (the translator
answers 503) while the components finalize.
"""

from __future__ import annotations

import logging

from componentmanager.api import build_app
from componentmanager.manager import ComponentManager
from componentmanager.plugins import load_component_types
from odenos.cluster import ClusterView, connect, disconnect
from odenos.config import Config
from odenos.http.client import InternalClient
from odenos.http.server import HttpServer
from odenos.http.signing import Signer
from odenos.identity import follow_secret
from odenos.preferences import follow as follow_preferences
from odenos.zk.client import Coordinator

log = logging.getLogger(__name__)


class ComponentManagerDaemon:
    def __init__(self, config: Config, cm_id: str) -> None:
        self.config = config
        self.spec = config.process(cm_id)
        self.cm_id = cm_id
        self.zk: Coordinator | None = None
        self.view: ClusterView | None = None
        self.manager: ComponentManager | None = None
        self._server: HttpServer | None = None
        self._signer = Signer()
        self._client = InternalClient(config.forward_timeout, self._signer)

    async def start(self) -> None:
        types = load_component_types(self.spec.component_dirs)
        log.info("component manager %s offers %s", self.cm_id, ", ".join(sorted(types.types)))
        self.zk, self.view = await connect(self.config, self.cm_id)
        await follow_secret(self.zk, self._signer)
        await follow_preferences(self.zk)
        self.manager = ComponentManager(
            self.cm_id,
            self.zk,
            self.view,
            types.types,
            "",
            self._client,
            # Answer before the translator gives up on us: a 503 that says why, not its 504.
            durable_timeout=max(1.0, self.config.forward_timeout - 1.0),
            var_dir=self.config.var_dir,
        )
        self._server = HttpServer(
            build_app(self.manager, self._signer), self.config.process_host, 0, self.cm_id
        )
        await self._server.start()
        self.manager.address = self._server.address
        await self.manager.start()

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop_listening()
        if self.manager is not None:
            await self.manager.stop()
        if self._server is not None:
            await self._server.stop()
        await self._client.close()
        await disconnect(self.zk, self.view)
