"""The core process: (embedded ZooKeeper) + system manager (+ REST translator).

Start order: the embedded ZooKeeper server if ``zookeeper.embed``; the
session; the caches (the desired state is loaded from ZooKeeper here); the
internal HTTP server; then, under the global lock, the ephemeral
``/system_manager/<id>`` that lets component managers register; last the REST
translator on ``rest.host:rest.port``.  Stop runs the other way round.

After a session loss the ephemeral is re-created as soon as a new session is
up; nothing else is lost, since all state lives in ZooKeeper.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web

from odenos.cluster import ClusterView, connect, describe_manager_loss, disconnect
from odenos.config import Config
from odenos.http.errors import error_middleware
from odenos.http.forward import Forwarder
from odenos.http.probe import answers
from odenos.http.server import HttpServer
from odenos.metrics import register_cluster_metrics
from odenos.runtime import log_dir
from odenos.zk import paths
from odenos.zk.client import ConnState, Coordinator
from odenos.zk.embedded import EmbeddedZooKeeper
from odenos.zk.ephemeral import claim, process_identity, process_label
from odenos.zk.lock import GlobalLock
from resttranslator.app import RestTranslator
from systemmanager.api import SystemManagerService, build_app, new_property
from systemmanager.registry import ComponentRegistry

log = logging.getLogger(__name__)

LOCK_TIMEOUT = 60.0


class SystemManagerDaemon:
    def __init__(self, config: Config, *, with_rest: bool = True) -> None:
        self.config = config
        self.manager_id = config.manager_id
        self._with_rest = with_rest
        self.embedded: EmbeddedZooKeeper | None = None
        self.zk: Coordinator | None = None
        self.view: ClusterView | None = None
        self._forwarder: Forwarder | None = None
        self._internal: HttpServer | None = None
        self._rest: HttpServer | None = None
        self._lost = False
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        config = self.config
        if config.zookeeper.embed:
            self.embedded = EmbeddedZooKeeper(
                config.zookeeper.port,
                config.var_dir / "zookeeper",
                classpath=config.zookeeper.classpath,
                log_file=log_dir(config) / "zookeeper.log",
                # Sessions expire on tick boundaries: a short tick makes crash detection
                # follow zookeeper.session_timeout closely.
                tick_ms=200,
            )
            await self.embedded.start()
        self.zk, self.view = await connect(self.config, self.manager_id)
        self.view.on_manager_change(self._log_manager_change)
        register_cluster_metrics(self.view)
        log.info(
            "loaded desired state: %d component(s), %d live component manager(s)",
            len(self.view.desired_ids()),
            len(self.view.manager_ids()),
        )
        self._forwarder = Forwarder(self.view, config.forward_timeout)
        await self._forwarder.start()
        service = SystemManagerService(
            view=self.view,
            registry=ComponentRegistry(self.zk, self.view, config.forward_timeout),
            forwarder=self._forwarder,
            property=new_property(self.manager_id),
        )
        internal_app = web.Application(middlewares=[error_middleware])
        internal_app.add_subapp(f"/{self.manager_id}", build_app(service))
        self._internal = HttpServer(internal_app, config.process_host, 0, "system manager")
        await self._internal.start()
        await self._register()
        self.zk.add_state_listener(self._on_session_state)
        if self._with_rest:
            translator = RestTranslator(
                self.view,
                self._forwarder,
                build_app(service),
                config.rest_root,
                frozenset(config.monitor) | frozenset(config.monitor_logging),
            )
            self._rest = HttpServer(
                translator.build_app(), config.rest_host, config.rest_port, "REST translator"
            )
            await self._rest.start()

    def _ephemeral_data(self) -> dict[str, Any]:
        assert self._internal is not None
        return {
            "id": self.manager_id,
            "type": "SystemManager",
            "state": "running",
            "address": self._internal.address,
            **process_identity(),
        }

    async def _register(self) -> None:
        assert self.zk is not None
        async with GlobalLock(self.zk, process_label(self.manager_id), LOCK_TIMEOUT):
            await claim(
                self.zk,
                paths.system_manager(self.manager_id),
                self._ephemeral_data(),
                answers,
                f"system manager {self.manager_id}",
            )
        log.info("system manager %s registered", self.manager_id)

    def _on_session_state(self, state: ConnState) -> None:
        if state == ConnState.LOST:
            self._lost = True
        elif state == ConnState.CONNECTED and self._lost:
            self._lost = False
            task = asyncio.get_running_loop().create_task(self._reregister())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _reregister(self) -> None:
        log.warning("system manager %s: session was lost, registering again", self.manager_id)
        try:
            await self._register()
        except Exception:
            log.exception("re-registration failed")

    def _log_manager_change(self, kind: str, cm_id: str, data: dict[str, Any]) -> None:
        line = describe_manager_loss(kind, cm_id, data)
        if line is None:
            return
        assert self.view is not None
        owned = [
            cid
            for cid in self.view.desired_ids()
            if (self.view.desired_component(cid) or {}).get("cm_id") == cm_id
        ]
        if kind == "removed" and owned:
            line += f"; its components {', '.join(owned)} are in state error until it returns"
        crashed = kind == "removed" and data.get("state") != "finalizing"
        log.log(logging.WARNING if crashed else logging.INFO, "%s", line)

    async def stop(self) -> None:
        for server in (self._rest, self._internal):
            if server is not None:
                await server.stop()
        if self._forwarder is not None:
            await self._forwarder.close()
        await disconnect(self.zk, self.view)
        if self.embedded is not None:
            await self.embedded.stop()
