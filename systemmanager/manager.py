"""The system manager object: its registration in ZooKeeper, property and settings.

Registration, under the global lock: load the desired state (the view's
caches), load the persisted settings, claim ``/system_manager/<id>``.  A lost
session takes the node with it: the manager turns ``unregistered`` (its API
answers 503, since its beliefs may be stale) and registers again, retrying
until it works.  If a twin took the id meanwhile, this one stops.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from typing import Any

from odenos.cluster import ClusterView
from odenos.errors import (
    ObjectUnavailable,
)
from odenos.http.client import InternalClient
from odenos.model.property import ObjectProperty, ObjectState
from odenos.object_settings import load_settings, store_settings, update_daemon_property
from odenos.zk import paths
from odenos.zk.cache import ChangeKind
from odenos.zk.client import Coordinator
from odenos.zk.ephemeral import (
    RegistrationKeeper,
    claim,
    process_identity,
    process_label,
    register_until_done,
)
from odenos.zk.gate import Registration
from odenos.zk.lock import GlobalLock

log = logging.getLogger(__name__)

LOCK_TIMEOUT = 60.0


class SystemManagerState(enum.StrEnum):
    STARTING = "starting"
    REGISTERING = "registering"
    RUNNING = "running"  # registered: component managers may register with it
    UNREGISTERED = "unregistered"  # session lost, registering again
    FINALIZING = "finalizing"


_TRANSITIONS = {
    SystemManagerState.STARTING: {SystemManagerState.REGISTERING, SystemManagerState.FINALIZING},
    SystemManagerState.REGISTERING: {
        SystemManagerState.RUNNING,
        SystemManagerState.UNREGISTERED,
        SystemManagerState.FINALIZING,
    },
    SystemManagerState.RUNNING: {SystemManagerState.UNREGISTERED, SystemManagerState.FINALIZING},
    SystemManagerState.UNREGISTERED: {
        SystemManagerState.REGISTERING,
        SystemManagerState.FINALIZING,
    },
    SystemManagerState.FINALIZING: set(),
}


class SystemManager:
    """Used on the core process's loop.  ``address`` gives the internal API's base URL."""

    def __init__(
        self,
        manager_id: str,
        zk: Coordinator,
        view: ClusterView,
        client: InternalClient,
        address: Callable[[], str],
    ) -> None:
        self.manager_id = manager_id
        self.zk = zk
        self.view = view
        self._client = client
        self._address = address
        self.state = SystemManagerState.STARTING
        self.property = ObjectProperty(
            id=manager_id,
            type="SystemManager",
            super_type="SystemManager",
            state=ObjectState.INITIALIZING,
            description="ODENOS system manager",
        )
        self.settings: dict[str, Any] = {}
        self._view_loaded = False
        self._keeper = RegistrationKeeper(
            zk,
            f"system manager {manager_id}",
            lost=self._session_lost,
            waiting=lambda: (
                self.state in (SystemManagerState.STARTING, SystemManagerState.UNREGISTERED)
            ),
            again=self._register_until_done,
        )

    # --- state ------------------------------------------------------------------------------

    def _set_state(self, new: SystemManagerState) -> None:
        if new == self.state:
            return
        if new not in _TRANSITIONS[self.state]:
            raise RuntimeError(f"system manager: {self.state} -> {new} not allowed")
        log.info("system manager %s: %s -> %s", self.manager_id, self.state.value, new.value)
        self.state = new
        self.property.state = {
            SystemManagerState.RUNNING: ObjectState.RUNNING,
            SystemManagerState.FINALIZING: ObjectState.FINALIZING,
        }.get(new, ObjectState.INITIALIZING)
        if new == SystemManagerState.RUNNING:
            self.zk.status.registered()
        elif new == SystemManagerState.FINALIZING:
            self.zk.status.set_registration(Registration.OFFLINE, "stopping")
        else:
            self.zk.status.unregistered(f"system manager is {new.value}")

    def property_json(self) -> dict[str, Any]:
        """``GET property``: the ObjectProperty, with the ZooKeeper gate and registration."""
        return {**self.property.to_json(), "zookeeper": self.zk.status.to_json()}

    def require_registered(self) -> None:
        """Raises a 503 unless registered: an unregistered manager acts on no stale belief."""
        if self.state != SystemManagerState.RUNNING:
            raise ObjectUnavailable(
                self.manager_id, f"the system manager is {self.state.value} in ZooKeeper"
            )

    # --- registration -----------------------------------------------------------------------

    async def start(self) -> None:
        """Register (retrying transient failures); :class:`DuplicateDaemon` propagates."""
        self.view.on_manager_change(self._log_manager_change)
        await self._keeper.first()

    async def register(self) -> None:
        async with GlobalLock(self.zk, process_label(self.manager_id), LOCK_TIMEOUT):
            if not self._view_loaded:
                await self.view.start()  # the desired state, loaded under the lock
                self._view_loaded = True
                log.info(
                    "loaded desired state: %d component(s), %d live component manager(s)",
                    len(self.view.desired_ids()),
                    len(self.view.manager_ids()),
                )
            self.settings = await load_settings(self.zk, self.manager_id)
            await self._collect_orphan_state()
            await claim(
                self.zk,
                paths.system_manager(self.manager_id),
                self._node_data(),
                self._client.answers,
                f"system manager {self.manager_id}",
            )
        self._set_state(SystemManagerState.RUNNING)
        log.info("system manager %s registered", self.manager_id)

    async def _collect_orphan_state(self) -> None:
        """Records of components deleted while their manager was away (it removes them
        itself otherwise).  Under the global lock: no manager is resuming meanwhile.

        Read from ZooKeeper, not the cache, records first: a component's records are
        created after its desired record, so any listed here whose component exists
        is found in the desired list read after."""
        roots = await self.zk.children(paths.STATE)
        desired = set(await self.zk.children(paths.DESIRED_COMPONENTS))
        for comp_id in roots:
            if comp_id not in desired:
                log.info("records of deleted component %s removed", comp_id)
                await self.zk.delete_tree(paths.state_root(comp_id))

    def _node_data(self) -> dict[str, Any]:
        return {
            "id": self.manager_id,
            "type": "SystemManager",
            "state": SystemManagerState.RUNNING.value,
            "address": self._address(),
            **process_identity(),
        }

    def _session_lost(self) -> bool:
        if self.state != SystemManagerState.RUNNING:
            return False
        self._set_state(SystemManagerState.UNREGISTERED)
        return True

    async def _register_until_done(self) -> None:
        self._set_state(SystemManagerState.REGISTERING)
        await register_until_done(
            self.register,
            what=f"system manager {self.manager_id}",
            wanted=lambda: self.state == SystemManagerState.REGISTERING,
            on_failure=lambda: None,
        )

    async def stop(self) -> None:
        self._keeper.cancel()
        self._set_state(SystemManagerState.FINALIZING)

    # --- property and settings ----------------------------------------------------------------

    def update_property(self, body: dict[str, Any]) -> dict[str, Any]:
        """``PUT property``: description and free keys; the state follows the registration."""
        update_daemon_property(
            self.property,
            body,
            "the system manager's state follows its registration in ZooKeeper; "
            "stop it with 'odenos stop'",
        )
        return self.property_json()

    async def put_settings(self, settings: dict[str, Any]) -> dict[str, Any]:
        """Persist first, then answer: a restart keeps what a 200 said."""
        await store_settings(self.zk, self.manager_id, settings)
        self.settings = dict(settings)
        return self.settings

    # --- alive monitoring ---------------------------------------------------------------------

    def _log_manager_change(self, kind: ChangeKind, cm_id: str, data: dict[str, Any]) -> None:
        if kind == ChangeKind.ADDED:
            log.info("component manager %s registered (state %s)", cm_id, data.get("state"))
            return
        if kind != ChangeKind.REMOVED:
            return
        owned = [
            cid
            for cid in self.view.desired_ids()
            if (self.view.desired_component(cid) or {}).get("cm_id") == cm_id
        ]
        suffix = (
            f"; its components {', '.join(owned)} are in state error until it returns"
            if owned
            else ""
        )
        if data.get("state") == ObjectState.FINALIZING.value:
            log.info("component manager %s stopped (graceful shutdown)%s", cm_id, suffix)
        else:
            log.warning(
                "component manager %s is gone: its ephemeral node disappeared without a "
                "shutdown (process crashed, or its ZooKeeper session expired)%s",
                cm_id,
                suffix,
            )
