"""The core process: (embedded ZooKeeper) + system manager (+ REST translator).

Start order: the embedded ZooKeeper server if ``zookeeper.embed``; the
session; the internal HTTP server; the system manager's registration (under
the global lock it loads the desired state and claims
``/system_manager/<id>``); last the REST translator on
``rest.host:rest.port``.  Stop runs the other way round.
"""

from __future__ import annotations

import logging

from aiohttp import web

from odenos.cluster import ClusterView, acl_policy, disconnect, status_file
from odenos.cluster_metrics import register_cluster_metrics
from odenos.config import Config
from odenos.events import EventBus
from odenos.http.client import InternalClient
from odenos.http.errors import error_middleware
from odenos.http.forward import Forwarder
from odenos.http.internal import SUBSCRIPTION_SEEN_PATH
from odenos.http.objectpath import strict_path_middleware
from odenos.http.rest_auth import tls_context
from odenos.http.server import HttpServer
from odenos.http.signing import Signer, signed_only
from odenos.identity import ensure_secret, follow_secret, stamp_or_check
from odenos.preferences import follow as follow_preferences
from odenos.runtime import log_dir
from odenos.subscriptions import subscription_seen_handler
from odenos.zk.client import Coordinator
from odenos.zk.embedded import EmbeddedZooKeeper
from resttranslator.app import RestTranslator
from resttranslator.events import RestSubscriptions
from systemmanager.admission import Admission
from systemmanager.api import SystemManagerService, build_app
from systemmanager.connections import ConnectionRegistry
from systemmanager.eventmanager import EVENT_MANAGER_ID, EventManager
from systemmanager.eventmanager import build_app as build_event_manager_app
from systemmanager.lifecycle import LifecycleEvents
from systemmanager.manager import SystemManager
from systemmanager.reassign import Reassigner
from systemmanager.registry import ComponentRegistry

log = logging.getLogger(__name__)

#: The embedded server's tick.  Sessions expire on tick boundaries: a short tick makes
#: crash detection follow zookeeper.session_timeout closely.
EMBEDDED_TICK_MS = 200


class SystemManagerDaemon:
    def __init__(
        self, config: Config, *, with_rest: bool = True, reinitialize: bool = False
    ) -> None:
        self.config = config
        self._reinitialize = reinitialize
        self.manager_id = config.manager_id
        self._with_rest = with_rest
        self.embedded: EmbeddedZooKeeper | None = None
        self.zk: Coordinator | None = None
        self.view: ClusterView | None = None
        self.manager: SystemManager | None = None
        self._forwarder: Forwarder | None = None
        self._internal: HttpServer | None = None
        self._rest: HttpServer | None = None
        self._rest_events: RestSubscriptions | None = None
        self._reassigner: Reassigner | None = None
        self._bus: EventBus | None = None
        self._signer = Signer()
        self._client = InternalClient(config.forward_timeout, self._signer)

    async def start(self) -> None:
        config = self.config
        if config.zookeeper.embed:
            self.embedded = EmbeddedZooKeeper(
                config.zookeeper.port,
                config.var_dir / "zookeeper",
                classpath=config.zookeeper.classpath,
                log_file=log_dir(config) / "zookeeper.log",
                tick_ms=EMBEDDED_TICK_MS,
                max_session_timeout_ms=max(60000, config.zookeeper.session_timeout_ms),
            )
            await self.embedded.start()
        self.zk = Coordinator(
            config.zookeeper.connect_string,
            config.zookeeper.session_timeout_ms,
            name=self.manager_id,
            status_file=status_file(config, self.manager_id),
            acl=acl_policy(config),
        )
        await self.zk.start()
        # Not on a ZooKeeper that lost this cluster (a deleted data folder): refuse.
        await stamp_or_check(
            self.zk,
            config.var_dir,
            config.zookeeper.connect_string,
            reinitialize=self._reinitialize,
        )
        await ensure_secret(self.zk)
        await follow_secret(self.zk, self._signer)
        await follow_preferences(self.zk)
        # Its caches are loaded by the manager's registration, under the global lock.
        self.view = ClusterView(self.zk, self.manager_id)
        self._forwarder = Forwarder(self.view, self._client, config.forward_timeout)
        self._internal = HttpServer(
            web.Application(
                middlewares=[strict_path_middleware, signed_only(self._signer), error_middleware]
            ),
            config.process_host,
            0,
            "system manager",
        )
        internal = self._internal
        self.manager = SystemManager(
            self.manager_id, self.zk, self.view, self._client, lambda: internal.address
        )
        registry = ComponentRegistry(self.zk, self.view, self._client, config.forward_timeout)
        # While this one is active: components of managers that stay dead move elsewhere.
        self._reassigner = Reassigner(self.view, registry.reassign)
        self.manager.on_active.append(self._reassigner.set_active)
        admission = Admission(self.zk, self.view, auto=config.auto_approve)
        self.manager.on_active.append(admission.set_active)
        # Its lifecycle events (ComponentChanged, ...), published while it is active.
        self._bus = EventBus(self.manager_id, self.zk, self.view, {}, self._client)
        lifecycle = LifecycleEvents(self.manager_id, self.view, self._bus)
        self.manager.on_active.append(lifecycle.set_active)
        service = SystemManagerService(
            manager=self.manager,
            registry=registry,
            connections=ConnectionRegistry(self.zk, self.view, config.forward_timeout),
            forwarder=self._forwarder,
            admission=admission,
        )
        events = EventManager.create(self.zk, self.view, self._client)
        self._rest_events = RestSubscriptions(
            self.zk, self.view, self._client, lambda: internal.address
        )
        self._rest_events.add_intake(internal.app)
        view = self.view
        internal.app.router.add_post(
            SUBSCRIPTION_SEEN_PATH, subscription_seen_handler(lambda: view)
        )
        internal.app.add_subapp(f"/{self.manager_id}", build_app(service))
        internal.app.add_subapp(f"/{EVENT_MANAGER_ID}", build_event_manager_app(events))
        await internal.start()
        await self.manager.start()
        register_cluster_metrics(self.view)
        if self._with_rest:
            translator = RestTranslator(
                self.view,
                self._forwarder,
                {
                    self.manager_id: build_app(service),
                    EVENT_MANAGER_ID: build_event_manager_app(events),
                },
                config.rest_root,
                frozenset(config.monitor) | frozenset(config.monitor_logging),
                self._rest_events,
                config.rest_tokens,
                config.rest_tokens_path,
            )
            self._rest = HttpServer(
                translator.build_app(),
                config.rest_host,
                config.rest_port,
                "REST translator",
                tls_context(*config.rest_tls) if config.rest_tls else None,
            )
            await self._rest.start()

    async def stop(self) -> None:
        if self._reassigner is not None:
            self._reassigner.set_active(False)
        if self.manager is not None:
            await self.manager.stop()
        for server in (self._rest, self._internal):
            if server is not None:
                await server.stop()
        if self._bus is not None:
            await self._bus.close()
        await self._client.close()
        if self._rest_events is not None:
            self._rest_events.close()
        await disconnect(self.zk, self.view)
        if self.embedded is not None:
            await self.embedded.stop()
