"""The system manager object: its election, registration in ZooKeeper, property, settings.

Several core processes may run against one ensemble; one system manager is
active, the others stand by.  Each registers as a standby
(``/system_manager/<id>~<host:pid>``, role ``standby``) and campaigns for the
leadership (kazoo's Lock recipe at ``/odenos/election``: the lowest contender
leads, each watches only its predecessor).  The elected one takes over, under
the global lock: it loads the desired state (the view's caches) and the
persisted settings, collects orphan records, and claims ``/system_manager/<id>``
(role ``active``; the reference's name, which component managers and
translators route to), replacing the node of a dead predecessor.  A standby's
API forwards to the active one.

A lost session takes the leadership and the nodes with it: the manager turns
``unregistered`` (its API answers 503, since its beliefs may be stale), then
registers again as a standby and campaigns again.  If a twin took its node
meanwhile, this one stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections.abc import Callable
from typing import Any

from odenos import preferences
from odenos.cluster import ClusterView
from odenos.errors import (
    DuplicateDaemon,
    NodeMissing,
    ObjectUnavailable,
    OdenosError,
)
from odenos.http.client import InternalClient
from odenos.model.property import ObjectProperty, ObjectState
from odenos.object_settings import (
    load_object,
    load_settings,
    store_object,
    store_settings,
    update_daemon_property,
)
from odenos.zk import paths
from odenos.zk.cache import ChangeKind
from odenos.zk.client import Coordinator
from odenos.zk.ephemeral import (
    RegistrationKeeper,
    claim,
    give_way,
    process_identity,
    process_label,
    register_until_done,
)
from odenos.zk.gate import Registration
from odenos.zk.lock import GlobalLock
from odenos.zk.lock import leadership as leadership_lock

log = logging.getLogger(__name__)

LOCK_TIMEOUT = 60.0


class SystemManagerState(enum.StrEnum):
    STARTING = "starting"
    STANDBY = "standby"  # registered as a standby, campaigning
    REGISTERING = "registering"  # elected, taking over
    RUNNING = "running"  # the active one: component managers register with it
    UNREGISTERED = "unregistered"  # session lost, registering again
    FINALIZING = "finalizing"


_TRANSITIONS = {
    SystemManagerState.STARTING: {SystemManagerState.STANDBY, SystemManagerState.FINALIZING},
    SystemManagerState.STANDBY: {
        SystemManagerState.REGISTERING,
        SystemManagerState.UNREGISTERED,
        SystemManagerState.FINALIZING,
    },
    SystemManagerState.REGISTERING: {
        SystemManagerState.RUNNING,
        SystemManagerState.UNREGISTERED,
        SystemManagerState.FINALIZING,
    },
    SystemManagerState.RUNNING: {SystemManagerState.UNREGISTERED, SystemManagerState.FINALIZING},
    SystemManagerState.UNREGISTERED: {
        SystemManagerState.STANDBY,
        SystemManagerState.FINALIZING,
    },
    SystemManagerState.FINALIZING: set(),
}

#: Roles shown in the nodes under ``/system_manager`` and in ``GET property``.
ACTIVE, STANDBY = "active", "standby"


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
        self.instance = process_label("").lstrip("@")  # host:pid
        self._view_loaded = False
        self._campaign: asyncio.Task[None] | None = None
        self._leadership: GlobalLock | None = None
        #: Called (on the loop) when this one becomes active, and when it stops being so.
        self.on_active: list[Callable[[bool], None]] = []
        self._keeper = RegistrationKeeper(
            zk,
            f"system manager {manager_id}",
            lost=self._session_lost,
            waiting=lambda: (
                self.state in (SystemManagerState.STARTING, SystemManagerState.UNREGISTERED)
            ),
            again=self._register_until_done,
        )

    @property
    def is_active(self) -> bool:
        return self.state == SystemManagerState.RUNNING

    # --- state ------------------------------------------------------------------------------

    def _set_state(self, new: SystemManagerState) -> None:
        if new == self.state:
            return
        if new not in _TRANSITIONS[self.state]:
            raise RuntimeError(f"system manager: {self.state} -> {new} not allowed")
        log.info("system manager %s: %s -> %s", self.manager_id, self.state.value, new.value)
        was_active = self.state == SystemManagerState.RUNNING
        self.state = new
        self.property.state = {
            SystemManagerState.RUNNING: ObjectState.RUNNING,
            SystemManagerState.FINALIZING: ObjectState.FINALIZING,
        }.get(new, ObjectState.INITIALIZING)
        if new in (SystemManagerState.RUNNING, SystemManagerState.STANDBY):
            self.zk.status.registered()
        elif new == SystemManagerState.FINALIZING:
            self.zk.status.set_registration(Registration.OFFLINE, "stopping")
        else:
            self.zk.status.unregistered(f"system manager is {new.value}")
        if was_active != (new == SystemManagerState.RUNNING):
            for listener in list(self.on_active):
                listener(not was_active)

    def property_json(self) -> dict[str, Any]:
        """``GET property``: the ObjectProperty, with the ZooKeeper gate and registration,
        this instance's role and every live instance."""
        instances = []
        for name, node in sorted(self.view.system_managers.nodes.items()):
            data = node.data if isinstance(node.data, dict) else {}
            instances.append(
                {
                    "instance": data.get("instance", name),
                    "role": data.get("role", ACTIVE if name == self.manager_id else STANDBY),
                    "host": data.get("host"),
                    "pid": data.get("pid"),
                    "address": data.get("address"),
                }
            )
        return {
            **self.property.to_json(),
            "role": ACTIVE if self.is_active else STANDBY,
            "instance": self.instance,
            "instances": instances,
            "zookeeper": self.zk.status.to_json(),
        }

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

    async def join(self) -> None:
        """Register as a standby and campaign for the leadership (in a task): returns
        once registered.  Raises :class:`CoordinationError` (retried by the caller)."""
        if not self._view_loaded:
            # A standby's translator routes from it too.
            await self.view.start()
            self._view_loaded = True
        await claim(
            self.zk,
            self._standby_path,
            self._node_data(STANDBY),
            self._client.answers,
            f"system manager {self.manager_id} (standby {self.instance})",
        )
        self._set_state(SystemManagerState.STANDBY)
        if self._campaign is None or self._campaign.done():
            self._campaign = asyncio.get_running_loop().create_task(self._lead())
            self._campaign.add_done_callback(self._campaign_ended)

    def _campaign_ended(self, task: asyncio.Task[None]) -> None:
        if task.cancelled() or task.exception() is None:
            return
        err = task.exception()
        if isinstance(err, DuplicateDaemon):
            give_way(f"system manager {self.manager_id}", err)
        else:
            log.error("system manager %s: campaign failed: %r", self.manager_id, err)

    async def _lead(self) -> None:
        """Wait to be elected, then take over (retrying what fails) until active."""
        leadership = leadership_lock(self.zk, process_label(self.manager_id))
        self._leadership = leadership
        await leadership.__aenter__()
        log.info("system manager %s (%s) elected", self.manager_id, self.instance)
        self._set_state(SystemManagerState.REGISTERING)
        await register_until_done(
            self._take_over,
            what=f"system manager {self.manager_id}",
            wanted=lambda: self.state == SystemManagerState.REGISTERING,
            on_failure=lambda: None,
        )

    async def _take_over(self) -> None:
        """The elected one becomes active, under the global lock (no manager resumes
        meanwhile): settings, orphan records, then ``/system_manager/<id>``."""
        async with GlobalLock(self.zk, process_label(self.manager_id), LOCK_TIMEOUT):
            log.info(
                "desired state: %d component(s), %d live component manager(s)",
                len(self.view.desired_ids()),
                len(self.view.manager_ids()),
            )
            self.settings = await load_settings(self.zk, self.manager_id)
            await self._collect_orphan_state()
            # A tree made before credentials were configured: closed to the world now.
            secured = await self.zk.secure((*paths.PUBLIC_PARENTS, paths.ROOT))
            if secured:
                log.warning("ZooKeeper ACLs set on %d node(s) created without them", secured)
            await claim(
                self.zk,
                paths.system_manager(self.manager_id),
                self._node_data(ACTIVE),
                self._client.answers,
                f"system manager {self.manager_id}",
            )
        with contextlib.suppress(NodeMissing):
            await self.zk.delete(self._standby_path)
        self._set_state(SystemManagerState.RUNNING)
        log.info("system manager %s registered, active (%s)", self.manager_id, self.instance)

    @property
    def _standby_path(self) -> str:
        return paths.system_manager_standby(self.manager_id, self.instance)

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

    def _node_data(self, role: str) -> dict[str, Any]:
        return {
            "id": self.manager_id,
            "type": "SystemManager",
            "state": SystemManagerState.RUNNING.value,
            "role": role,
            "instance": self.instance,
            "address": self._address(),
            **process_identity(),
        }

    def _session_lost(self) -> bool:
        if self.state not in (
            SystemManagerState.RUNNING,
            SystemManagerState.STANDBY,
            SystemManagerState.REGISTERING,
        ):
            return False
        # The leadership went with the session: stop acting on it, campaign again later.
        self._stop_campaign()
        self._set_state(SystemManagerState.UNREGISTERED)
        return True

    def _stop_campaign(self) -> None:
        if self._campaign is not None:
            self._campaign.cancel()
            self._campaign = None
        self._leadership = None

    async def _register_until_done(self) -> None:
        await register_until_done(
            self.join,
            what=f"system manager {self.manager_id}",
            wanted=lambda: (
                self.state in (SystemManagerState.STARTING, SystemManagerState.UNREGISTERED)
            ),
            on_failure=lambda: None,
        )

    async def stop(self) -> None:
        self._keeper.cancel()
        leadership = self._leadership
        self._stop_campaign()
        self._set_state(SystemManagerState.FINALIZING)
        if leadership is not None:
            # Hand over at once rather than at our session's end.
            with contextlib.suppress(OdenosError):
                await leadership.__aexit__(None, None, None)

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

    async def get_preferences(self) -> dict[str, Any]:
        return await load_object(self.zk, preferences.PATH)

    async def put_preferences(self, values: dict[str, Any]) -> dict[str, Any]:
        """Write the (checked) preferences: answered once ZooKeeper holds them."""
        await store_object(self.zk, preferences.PATH, values)
        log.info("cluster preferences set: %s", values or "defaults")
        return values

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
        owned = self.view.owned_by(cm_id)
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
