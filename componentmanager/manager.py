"""A component manager: hosts component instances and keeps them equal to the desired state.

Start: wait (on a watch, no polling) until a system manager is alive; then,
holding the global lock, publish ``/component_managers/<cm_id>`` as
``initializing``, re-create the components assigned to it, publish one
ephemeral per component, turn itself ``running``, release.  After that a
reconciler, woken by the watch on ``/odenos/components``, creates what is
newly desired and finalizes what is no longer.

A lost session (``LOST``) takes all our ephemerals: on the next
``CONNECTED`` the same registration runs again with the instances still in
memory, which is how their state survives a session expiry.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
from pathlib import Path
from typing import Any

from componentmanager.calls import ObjectClient
from componentmanager.connections import ConnectionKeeper
from componentmanager.state_store import StateStore
from odenos.cluster import ClusterView
from odenos.components.base import Component, Request, Response
from odenos.components.state import LAST_WRITE
from odenos.errors import (
    CoordinationError,
    CoordinationUnavailable,
    NodeExists,
    NodeMissing,
    ObjectUnavailable,
    OdenosError,
)
from odenos.events import EventBus
from odenos.http.client import InternalClient, internal_url
from odenos.identity import check_member
from odenos.model.property import ObjectProperty, ObjectState
from odenos.object_settings import load_settings, store_settings, update_daemon_property
from odenos.zk import paths
from odenos.zk.cache import CachedNode, ChangeKind
from odenos.zk.client import ConnState, Coordinator, Op, chunked, encode
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

LOCK_TIMEOUT = 120.0


class ManagerState(enum.StrEnum):
    WAITING = "waiting"  # for the system manager
    PENDING = "pending"  # registered, waiting to be approved (admission)
    INITIALIZING = "initializing"  # registering / resuming under the global lock
    RUNNING = "running"
    FINALIZING = "finalizing"


_TRANSITIONS = {
    ManagerState.WAITING: {
        ManagerState.PENDING,
        ManagerState.INITIALIZING,
        ManagerState.FINALIZING,
    },
    ManagerState.PENDING: {
        ManagerState.INITIALIZING,
        ManagerState.WAITING,
        ManagerState.FINALIZING,
    },
    ManagerState.INITIALIZING: {
        ManagerState.RUNNING,
        ManagerState.WAITING,
        ManagerState.FINALIZING,
    },
    ManagerState.RUNNING: {
        ManagerState.INITIALIZING,
        ManagerState.WAITING,
        ManagerState.FINALIZING,
    },
    ManagerState.FINALIZING: set(),
}


class ComponentManager:
    """Instances and their publication in ZooKeeper.  Used on the manager's loop."""

    def __init__(
        self,
        cm_id: str,
        zk: Coordinator,
        view: ClusterView,
        types: dict[str, type[Component]],
        address: str,
        client: InternalClient,
        *,
        durable_timeout: float = 10.0,
        var_dir: Path | None = None,
    ) -> None:
        self._var_dir = var_dir
        self.cm_id = cm_id
        self.zk = zk
        self.view = view
        self.types = types
        self.address = address
        self.instances: dict[str, Component] = {}
        self.state = ManagerState.WAITING
        #: Description and free keys a client put (``PUT property``); the rest is derived.
        self._property = ObjectProperty(
            id=cm_id, type="ComponentManager", super_type="ComponentManager"
        )
        self.settings: dict[str, Any] = {}
        self._errors: dict[str, str] = {}  # comp_id -> why its creation failed
        self._generations: dict[str, int | None] = {}  # comp_id -> czxid of its desired record
        # Components whose live node this session wrote, not reported removed since: not
        # published again while our own cache has yet to show the node (a burst of
        # creations reconciles faster than the cache reads the nodes back).
        self._written: set[str] = set()
        self._wake = asyncio.Event()
        # What the next pass looks at: the components whose records changed (None: all
        # of ours, after a registration or a failed pass), and whether any connection did.
        self._dirty: set[str] | None = None
        self._connections_dirty = True
        self._busy = asyncio.Lock()  # registration and reconciliation never overlap
        self._tasks: set[asyncio.Task[None]] = set()
        self._reconciler: asyncio.Task[None] | None = None
        self._connections = ConnectionKeeper(zk, view)
        self.client = client
        self.store = StateStore(zk, durable_timeout=durable_timeout, cm_id=cm_id)
        self.events = EventBus(
            cm_id, zk, view, self.instances, client, give_up_after=zk.session_timeout + 10.0
        )
        self.calls = ObjectClient(
            view, self.instances, client, 10.0, self.dispatch, self._require_connected
        )
        self._keeper = RegistrationKeeper(
            zk,
            f"component manager {cm_id}",
            lost=self._session_lost,
            waiting=lambda: self.state == ManagerState.WAITING,
            again=self._register_until_done,
        )

    # --- state ------------------------------------------------------------------------------

    def _set_state(self, new: ManagerState) -> None:
        if new == self.state:
            return
        if new not in _TRANSITIONS[self.state]:
            raise RuntimeError(f"component manager {self.cm_id}: {self.state} -> {new} not allowed")
        log.info("component manager %s: %s -> %s", self.cm_id, self.state.value, new.value)
        self.state = new
        if new == ManagerState.RUNNING:
            self.zk.status.registered()
        elif new == ManagerState.FINALIZING:
            self.zk.status.set_registration(Registration.OFFLINE, "stopping")
        else:
            self.zk.status.unregistered(f"component manager is {new.value}")

    def _manager_data(self) -> dict[str, Any]:
        return {
            "id": self.cm_id,
            "type": "ComponentManager",
            "state": self.state.value,
            "address": self.address,
            "component_types": [cls.type_info() for cls in self.types.values()],
            **process_identity(),
        }

    def property(self) -> dict[str, Any]:
        data = {**self._property.extra, "description": self._property.description}
        data.update(self._manager_data())
        data["component_types"] = ",".join(self.types)
        data["super_type"] = "ComponentManager"
        data["events"] = self.events.to_json()
        data["zookeeper"] = self.zk.status.to_json()
        data["state_store"] = {"backlog": self.store.backlog, "batches": self.store.batches}
        return data

    def update_property(self, body: dict[str, Any]) -> dict[str, Any]:
        self._property.state = {
            ManagerState.RUNNING: ObjectState.RUNNING,
            ManagerState.FINALIZING: ObjectState.FINALIZING,
        }.get(self.state, ObjectState.INITIALIZING)
        update_daemon_property(
            self._property,
            body,
            "a component manager's state follows its process; stop it with "
            "DELETE /systemmanager/component_managers/<id> or 'odenos stop'",
        )
        return self.property()

    async def put_settings(self, settings: dict[str, Any]) -> dict[str, Any]:
        await store_settings(self.zk, self.cm_id, settings)
        self.settings = dict(settings)
        return self.settings

    # --- start, resume, stop ----------------------------------------------------------------

    async def start(self) -> None:
        """Register (waiting for the system manager, retrying transient failures), then
        reconcile for ever.  :class:`DuplicateDaemon` propagates: a live twin has our id."""
        self.view.desired.add_listener(lambda _kind, comp_id, _node: self._touch(comp_id))
        self.view.live.add_listener(self._live_changed)
        self.view.connections.add_listener(lambda *_: self._touch_connections())
        await self._keeper.first()
        self._reconciler = asyncio.get_running_loop().create_task(self._reconcile_forever())

    async def _register_until_done(self) -> None:
        async def attempt() -> None:
            await self._wait_for_system_manager()
            await self.register()

        def failed() -> None:
            if self.state in (ManagerState.INITIALIZING, ManagerState.PENDING):
                self._set_state(ManagerState.WAITING)

        await register_until_done(
            attempt,
            what=f"component manager {self.cm_id}",
            wanted=lambda: self.state == ManagerState.WAITING,
            on_failure=failed,
        )

    async def _pending(self) -> None:
        """Not approved: show ourselves as ``pending`` (in GET component_managers and
        ``odenos status``) and take nothing until an operator approves us (or the system
        manager does, with ``manager.auto_approve``)."""
        self._set_state(ManagerState.PENDING)
        log.info("component manager %s registered as pending, waiting for approval", self.cm_id)
        warned = False
        while True:
            # Claimed again each time round: a session lost meanwhile took the node with it.
            await self._claim_node()
            # Approved at once where the system manager approves by itself
            # (manager.auto_approve); said loudly only when an operator is needed.
            if await self.view.wait_for(
                lambda: self.view.approved(self.cm_id), 10.0 if warned else 3.0
            ):
                break
            if not warned:
                warned = True
                log.warning(
                    "component manager %s is not approved: registered as pending; "
                    "approve it with 'odenos approve %s'",
                    self.cm_id,
                    self.cm_id,
                )
        log.info("component manager %s approved", self.cm_id)

    async def _claim_node(self) -> None:
        """Our ``/component_managers/<id>`` node, as ours (a live twin is refused)."""
        await claim(
            self.zk,
            paths.component_manager(self.cm_id),
            self._manager_data(),
            self.client.answers,
            f"component manager {self.cm_id}",
        )

    async def _wait_for_system_manager(self) -> None:
        while not await self.view.wait_for(lambda: self.view.system_manager() is not None, 10.0):
            log.info("component manager %s: waiting for the system manager", self.cm_id)

    async def register(self) -> None:
        """Register or resume, holding the global lock: claim our node as ``initializing``,
        drop our previous session's component nodes, create and publish the components
        assigned to us, turn ``running``.  Raises :class:`CoordinationError` (the caller
        retries) or :class:`DuplicateDaemon`."""
        if self._var_dir is not None:
            # Never resume (and drop what is not desired) on a ZooKeeper that lost the cluster.
            await check_member(self.zk, self._var_dir, self.zk.connect_string)
        if not self.view.approved(self.cm_id):
            await self._pending()
        session = self.zk.session_id
        async with self._busy, GlobalLock(self.zk, process_label(self.cm_id), LOCK_TIMEOUT):
            self._set_state(ManagerState.INITIALIZING)
            self._written.clear()  # a new session, or nodes to check again: publish all
            await self._claim_node()
            await self._remove_stale_ephemerals()
            self.settings = await load_settings(self.zk, self.cm_id)
            resumed = await self._reconcile_once()
            if self.zk.session_id != session:
                # The session (and with it the lock and our nodes) was lost meanwhile.
                raise CoordinationUnavailable("ZooKeeper session lost during registration")
            self._set_state(ManagerState.RUNNING)
            await self.zk.set(paths.component_manager(self.cm_id), self._manager_data())
            self.store.resume(set(self.instances))
        # What changed while we were registering was seen by a reconciler that could not
        # act on it: one more pass, over everything.
        self._dirty = None
        self._touch_connections()
        log.info(
            "component manager %s running with %d component(s) (%s resumed/created)",
            self.cm_id,
            len(self.instances),
            resumed,
        )

    async def stop(self) -> None:
        """Graceful stop: say ``finalizing``, finalize every component, drop our nodes."""
        self._keeper.cancel()
        if self._reconciler is not None:
            self._reconciler.cancel()
        previous = self.state
        self._set_state(ManagerState.FINALIZING)
        path = paths.component_manager(self.cm_id)
        # Cut off from ZooKeeper (its server stopped first, say): nothing to tell it,
        # and nothing to wait for; the session's nodes go when it expires.
        connected = self.zk.state == ConnState.CONNECTED
        if not connected:
            log.warning(
                "stopping while cut off from ZooKeeper: its nodes go when the session expires"
            )
        elif previous in (ManagerState.RUNNING, ManagerState.INITIALIZING):
            try:
                # Only our own node: a twin refused at start must not touch the live one's.
                if await self.zk.owns(path):
                    await self.zk.set(path, self._manager_data())
                    # Let the watchers read "finalizing" before the node goes, so that
                    # the system manager logs a shutdown, not a crash.
                    await self.view.wait_for(
                        lambda: (
                            (self.view.manager(self.cm_id) or {}).get("state")
                            == ManagerState.FINALIZING.value
                        ),
                        1.0,
                    )
                    await self._seen_stopping_by_system_manager(1.0)
            except CoordinationError as err:
                log.warning("could not publish finalizing: %s", err.message)
        for comp_id in list(self.instances):
            await self._drop(comp_id, delete_node=False)
        try:
            if connected:
                await self.store.flush_all()
        except CoordinationError as err:
            log.warning("records not yet in ZooKeeper are lost: %s", err.message)
        self.store.close()
        await self.events.close()

    async def _seen_stopping_by_system_manager(self, timeout: float) -> None:
        """Until the system manager's own view shows us ``finalizing`` (bounded): its
        cache reads a change after the event that announces it, and our node's deletion
        must not overtake that read, or it logs our graceful stop as a crash."""
        sm = self.view.system_manager() or {}
        address, sm_id = sm.get("address"), sm.get("id")
        if not isinstance(address, str) or not isinstance(sm_id, str):
            return
        url = internal_url(address, f"/{sm_id}/component_managers/{self.cm_id}")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                reply = await self.client.send("GET", url, peer=sm_id, timeout=timeout)
                seen = reply.status == 200 and (reply.json() or {}).get("state")
            except (OdenosError, ValueError):
                return
            if seen == ManagerState.FINALIZING.value:
                return
            await asyncio.sleep(0.02)

    async def dispatch(self, component: Component, request: Request) -> Response:
        """A request to one of our components, answered once every record its handler
        wrote is in ZooKeeper.  Raises what the handler raises, or
        :class:`CoordinationUnavailable` if the records are not confirmed in time.

        Fencing: a component whose record names another manager now (it was moved
        while we were cut off) answers nothing here; and while we are cut off from
        ZooKeeper no write is taken (another instance may be taking them by then)."""
        self._check_ours(component.id, request.method)
        outer = LAST_WRITE.get()
        LAST_WRITE.set(0)
        try:
            response = await component.dispatch(request)
            written = LAST_WRITE.get()
        finally:
            LAST_WRITE.set(max(outer, LAST_WRITE.get()))
        if written:
            await self.store.wait_durable(written, component.id)
        return response

    def _require_connected(self) -> None:
        if self.zk.state != ConnState.CONNECTED:
            raise ObjectUnavailable(
                self.cm_id, f"{self.cm_id} is cut off from ZooKeeper: its components call nobody"
            )

    def _check_ours(self, comp_id: str, method: str) -> None:
        record = self.view.desired_component(comp_id) or {}
        owner = record.get("cm_id")
        if owner != self.cm_id:
            raise ObjectUnavailable(
                comp_id, f"it is not on {self.cm_id} any more (its record names {owner!r})"
            )
        if method not in ("GET", "HEAD") and self.zk.state != ConnState.CONNECTED:
            raise ObjectUnavailable(
                comp_id,
                f"{self.cm_id} is cut off from ZooKeeper: writes are refused until it is back",
            )

    def _session_lost(self) -> bool:
        if self.state == ManagerState.FINALIZING:
            return False  # our own close at a graceful stop
        self.store.hold()
        if self.state != ManagerState.RUNNING:
            return False
        self._set_state(ManagerState.WAITING)
        return True

    # --- reconciliation ---------------------------------------------------------------------

    def _touch(self, comp_id: str) -> None:
        if self._dirty is not None:
            self._dirty.add(comp_id)
        self._wake.set()

    def _touch_connections(self) -> None:
        self._connections_dirty = True
        self._wake.set()

    def _mine(self, ids: set[str] | None) -> dict[str, dict[str, Any]]:
        """Our desired records: all of them, or those among ``ids``."""
        mine = {}
        if ids is None:
            ours: list[str] | set[str] = self.view.owned_by(self.cm_id)
        else:
            ours = {c for c in ids if self.view.owner_of(c) == self.cm_id}
        for comp_id in ours:
            record = self.view.desired_component(comp_id)
            if record is not None:
                mine[comp_id] = record
        return mine

    async def _reconcile_forever(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self.state != ManagerState.RUNNING:
                continue
            ids, self._dirty = self._dirty, set()
            connections, self._connections_dirty = self._connections_dirty, False
            try:
                async with self._busy:
                    await self._reconcile_once(ids, connections)
            except Exception:
                # Whatever it was, the desired state still has to be met: retry, all of it.
                log.exception("reconciliation failed, retrying in 1 s")
                await asyncio.sleep(1.0)
                self._dirty = None
                self._touch_connections()

    async def _reconcile_once(self, ids: set[str] | None = None, connections: bool = True) -> int:
        """Make instances and their ephemerals match the desired state: for every component
        of ours, or (``ids``) for those whose records changed; the connections' hooks too,
        for all of them if ``connections`` changed, else for those of ``ids``.  Returns how
        many components were created or re-published."""
        mine = self._mine(ids)
        held = list(self.instances) if ids is None else [c for c in ids if c in self.instances]
        failed = list(self._errors) if ids is None else [c for c in ids if c in self._errors]
        for comp_id in [c for c in held if c not in mine or self._replaced(c)]:
            # Gone from the desired state, or deleted and created anew: a fresh instance.
            await self._drop(comp_id, delete_node=True)
        for comp_id in [c for c in failed if c not in mine or self._replaced(c)]:
            # Gone, or created anew (it may succeed this time): forget the failure.
            self._errors.pop(comp_id)
            self._generations.pop(comp_id, None)
            await self._delete_live_node(comp_id)
        todo = [(cid, rec) for cid, rec in mine.items() if not self._published(cid)]
        # The records of every component to create, read at once (a resume reads a thousand
        # components' records in a few pipelined rounds, not a few round trips each).
        new = {
            cid: self.view.desired_generation(cid)
            for cid, _ in todo
            if cid not in self.instances and cid not in self._errors
        }
        records = await self.store.open_many(new) if new else {}
        # A TaskGroup: if one fails, the others are cancelled, not left running unawaited.
        async with asyncio.TaskGroup() as group:
            tasks = [
                group.create_task(self._ensure(cid, rec, records.get(cid))) for cid, rec in todo
            ]
        await self._publish_many([task.result() for task in tasks])
        only = None if ids is None or connections else ids
        if not await self._connections.reconcile(self.instances, self._errors, only):
            self._touch_connections()  # a record changed under us: look again
        return len(todo)

    def _replaced(self, comp_id: str) -> bool:
        return self._generations.get(comp_id) != self.view.desired_generation(comp_id)

    def _published(self, comp_id: str) -> bool:
        if comp_id not in self.instances and comp_id not in self._errors:
            return False
        if comp_id in self._written:
            return True
        # Only a node of this session counts: a previous session's is replaced.
        node = self.view.live.get(paths.live_component_name(self.cm_id, comp_id))
        return node is not None and node.stat.ephemeral_owner == self.zk.session_id

    def _live_changed(self, kind: ChangeKind, name: str, node: CachedNode) -> None:
        if kind == ChangeKind.REMOVED and paths.is_live_component_of(name, self.cm_id):
            # Gone (deleted by hand, or our session's end): the next pass publishes it.
            comp_id = paths.split_live_component_name(name)[1]
            self._written.discard(comp_id)
            if comp_id in self.instances or comp_id in self._errors:
                self._touch(comp_id)

    async def _ensure(
        self, comp_id: str, record: dict[str, Any], records: dict[str, Any] | None
    ) -> tuple[str, str, str | None]:
        """Create the instance if needed (with ``records``, its stored state, if read
        already); what its ephemeral is to say: ``(comp_id, state, error)``."""
        component = self.instances.get(comp_id)
        if component is None and comp_id not in self._errors:
            component = await self._create(comp_id, str(record.get("type")), records)
        if component is not None:
            return comp_id, component.property.state.value, None
        return comp_id, ObjectState.ERROR.value, self._errors.get(comp_id)

    async def _publish_many(self, items: list[tuple[str, str, str | None]]) -> None:
        """Publish many ephemerals at once (a resume publishes a thousand): in
        transactions that replace a previous session's node and create or update ours,
        one write to ZooKeeper's log for hundreds of them.  A transaction that fails (a
        node changed meanwhile) is done again the careful way, one by one."""
        session = self.zk.session_id
        names = [paths.live_component_name(self.cm_id, cid) for cid, _, _ in items]
        owners = {
            index: node.stat.ephemeral_owner
            for index, name in enumerate(names)
            if (node := self.view.live.get(name)) is not None
        }
        # The cache says which nodes exist and whose they are; only a node it shows as
        # another session's is read first (it may be gone by now).  A cache behind the
        # server only makes a transaction fail, which is then done the careful way.
        doubtful = [index for index, owner in owners.items() if owner != session]
        found = await self.zk.get_many([paths.live_component_path(names[i]) for i in doubtful])
        for index, got in zip(doubtful, found, strict=True):
            owners[index] = got[1].ephemeral_owner if got is not None else 0
        ops: list[tuple[Op, int]] = []
        for index, (cid, state, error) in enumerate(items):
            path = paths.live_component_path(names[index])
            data = encode(self._live_data(cid, state, error))
            owner = owners.get(index, 0)
            if owner == session:
                ops.append((Op("set", path, data), index))
                continue
            if owner:
                ops.append((Op("delete", path), index))  # a previous session's
            ops.append((Op("create", path, data, ephemeral=True), index))
        by_op = {id(op): index for op, index in ops}
        for chunk in chunked([op for op, _ in ops]):
            indexes = sorted({by_op[id(op)] for op in chunk})
            if any(await self.zk.transaction(chunk)):
                for index in indexes:
                    await self._publish(*items[index])
            else:
                self._written.update(items[index][0] for index in indexes)

    async def _create(
        self, comp_id: str, comp_type: str, records: dict[str, Any] | None = None
    ) -> Component | None:
        self._generations[comp_id] = self.view.desired_generation(comp_id)
        cls = self.types.get(comp_type)
        if cls is None:
            self._errors[comp_id] = f"component manager {self.cm_id} has no type {comp_type!r}"
            return None
        component = cls(comp_id, self.cm_id)
        # Its records, read while we hold the global lock when this is a resume.
        if records is None:
            records = await self.store.open(comp_id, self.view.desired_generation(comp_id))
        # Its writes are fenced by the version of its record: moved elsewhere, they stop.
        self.store.set_epoch(comp_id, self.view.desired_version(comp_id))
        component.state.attach(self.store, records)
        component.events = self.events  # before initialize: it may subscribe there
        component.calls = self.calls
        try:
            await component.initialize()
        except Exception as exc:
            log.exception("component %s (%s) failed to initialize", comp_id, comp_type)
            self._errors[comp_id] = f"initialization failed: {type(exc).__name__}: {exc}"
            return None
        component.state_listener = lambda state, cid=comp_id: self._state_changed(cid, state)
        self.instances[comp_id] = component
        restored = f", {len(records)} record(s) restored" if records else ""
        log.info("component %s (%s) created%s", comp_id, comp_type, restored)
        return component

    def _state_changed(self, comp_id: str, state: ObjectState) -> None:
        if self.state != ManagerState.RUNNING:
            return  # registration publishes every instance's state itself
        if state == ObjectState.FINALIZING:
            # PUT property {"state": "finalizing"}: the reference's way to delete it.
            coro = self._withdraw(comp_id)
        else:
            coro = self._publish_state(comp_id, state)
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _withdraw(self, comp_id: str) -> None:
        """Remove the component from the desired state; reconciliation then finalizes it."""
        log.info("component %s asked to finalize: removing it from the desired state", comp_id)
        try:
            await self.zk.delete(paths.desired_component(comp_id))
        except NodeMissing:
            pass
        except CoordinationError as err:
            log.warning("component %s: could not withdraw it: %s", comp_id, err.message)

    async def _publish_state(self, comp_id: str, state: ObjectState) -> None:
        try:
            async with self._busy:
                if comp_id in self.instances:
                    await self._publish(comp_id, state.value, None)
        except CoordinationError as err:
            # The next registration publishes every instance's state anyway.
            log.warning("component %s: state %s not published: %s", comp_id, state, err.message)

    def _live_data(self, comp_id: str, state: str, error: str | None) -> dict[str, Any]:
        instance = self.instances.get(comp_id)
        data: dict[str, Any] = {
            "id": comp_id,
            # Which component of that id this is (the czxid of its desired record).
            "generation": self._generations.get(comp_id, self.view.desired_generation(comp_id)),
            "type": instance.TYPE
            if instance
            else (self.view.desired_component(comp_id) or {}).get("type"),
            "cm_id": self.cm_id,
            "state": state,
            "address": self.address,
        }
        if error:
            data["error"] = error
        return data

    async def _publish(self, comp_id: str, state: str, error: str | None) -> None:
        data = self._live_data(comp_id, state, error)
        path = paths.live_component(self.cm_id, comp_id)
        try:
            await self.zk.create(path, data, ephemeral=True)
        except NodeExists:
            # Ours: update it.  A dead session's: it goes, ours replaces it.
            if await self.zk.owns(path):
                await self.zk.set(path, data)
            else:
                await self._delete_live_node(comp_id)
                await self.zk.create(path, data, ephemeral=True)
        self._written.add(comp_id)

    async def _remove_stale_ephemerals(self) -> None:
        """Our previous session's component nodes: drop them now rather than at its expiry
        (all at once: a manager may have held a thousand).  Found in the cache, which was
        read in full before we registered: only a dead session of ours can have made them,
        and one the cache missed makes the publication's transaction fail and be done the
        careful way, which replaces it."""
        session = self.zk.session_id
        stale = [
            paths.live_component_path(name)
            for name, node in self.view.live.nodes.items()
            if paths.is_live_component_of(name, self.cm_id) and node.stat.ephemeral_owner != session
        ]
        await self.zk.delete_many(stale)

    async def _delete_live_node(self, comp_id: str) -> None:
        self._written.discard(comp_id)
        with contextlib.suppress(NodeMissing):
            await self.zk.delete(paths.live_component(self.cm_id, comp_id))

    async def _drop(self, comp_id: str, *, delete_node: bool) -> None:
        component = self.instances.pop(comp_id, None)
        self._generations.pop(comp_id, None)
        if component is None:
            return
        # Its node is about to go: a state publication now would re-create it.
        component.state_listener = None
        try:
            await component.finalize()
        except Exception:
            log.exception("component %s failed to finalize", comp_id)
        if delete_node:
            await self._delete_live_node(comp_id)
            await self.events.forget(comp_id)
            if self.view.desired_component(comp_id) is None:
                # Deleted (not moved to another manager): its records go too.
                await self.store.drop(comp_id)
        log.info("component %s finalized", comp_id)
