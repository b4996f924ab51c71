"""What a daemon knows of the whole system: a watch-fed view of the ZooKeeper tree.

The system manager and the REST translator decide from this view, never from a
ZooKeeper round trip per request: who is alive (``/system_manager``,
``/component_managers``, ``/components``) and what should exist
(``/odenos/components``).  Every answer is computed from the caches at the
moment of the call; the caches replace their dicts on change, so a decision
sees one consistent state of each parent.

Node data (JSON) of the tree:

* ``/system_manager/<id>``: ``{id, type: "SystemManager", state, address, pid, host}``
* ``/component_managers/<cm_id>``: ``{id, type: "ComponentManager", state, address,
  component_types: [{type, super_type, connection_types, description}], pid, host}``
* ``/components/<cm_id>:<id>``: ``{id, type, cm_id, state, error?}``
* ``/odenos/components/<id>``: ``{id, type, cm_id}`` (desired state)
* ``/odenos/connections/<id>``: ``{id, type, connection_type, logic_id, network_id, state,
  reason?}`` (a connection and where its lifecycle stands)
* ``/odenos/subscriptions/<subscriber_id>``: ``{subscriber_id, event_filters: {publisher_id:
  [event_type, ...]}}``
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from odenos.config import Config
from odenos.errors import ObjectNotFound, ObjectUnavailable
from odenos.model.property import ObjectState
from odenos.zk import paths
from odenos.zk.acl import AclPolicy, ensure_credentials, load_credentials
from odenos.zk.cache import CachedNode, ChangeKind, ChildrenCache, Waiters
from odenos.zk.client import Coordinator

log = logging.getLogger(__name__)

RUNNING = ObjectState.RUNNING.value

#: The event manager's object id (reference section 1); served by the core process.
EVENT_MANAGER_ID = "eventmanager"


@dataclass(frozen=True)
class Target:
    """Where a request for an object goes."""

    object_id: str
    kind: str  # "system_manager" | "component_manager" | "component"
    address: str  # base URL of the process that hosts the object
    cm_id: str | None = None


def _data(node: CachedNode | None) -> dict[str, Any] | None:
    if node is None or not isinstance(node.data, dict):
        return None
    return node.data


class ClusterView:
    """Caches of the four parents, and the decisions derived from them.

    Must be created and used on the daemon's loop.
    """

    def __init__(self, coordinator: Coordinator, manager_id: str) -> None:
        self.manager_id = manager_id
        self.system_managers = ChildrenCache(coordinator, paths.SYSTEM_MANAGER)
        self.managers = ChildrenCache(coordinator, paths.COMPONENT_MANAGERS)
        self.live = ChildrenCache(coordinator, paths.COMPONENTS)
        self.desired = ChildrenCache(coordinator, paths.DESIRED_COMPONENTS)
        self.connections = ChildrenCache(coordinator, paths.CONNECTIONS)
        self.subscriptions = ChildrenCache(coordinator, paths.SUBSCRIPTIONS)
        self.approvals = ChildrenCache(coordinator, paths.APPROVALS)
        self._caches = (
            self.system_managers,
            self.managers,
            self.live,
            self.desired,
            self.connections,
            self.subscriptions,
            self.approvals,
        )
        # Which manager each desired component is on, both ways: kept at each change, so
        # that no request scans every component (placement, routing, reconciliation).
        self._owner: dict[str, str] = {}
        self._owned: dict[str, set[str]] = {}
        self.desired.add_listener(self._index_desired)  # before the waiters are told
        self._waiters = Waiters()
        for cache in self._caches:
            cache.add_listener(lambda *_: self._waiters.notify())

    def _index_desired(self, kind: ChangeKind, comp_id: str, node: CachedNode) -> None:
        old = self._owner.pop(comp_id, None)
        if old is not None:
            owned = self._owned[old]
            owned.discard(comp_id)
            if not owned:
                del self._owned[old]
        data = _data(node)
        if kind != ChangeKind.REMOVED and data is not None:
            cm_id = str(data.get("cm_id"))
            self._owner[comp_id] = cm_id
            self._owned.setdefault(cm_id, set()).add(comp_id)

    async def start(self) -> None:
        # Together: each first read is many requests, and ZooKeeper serves them pipelined.
        await asyncio.gather(*(cache.start() for cache in self._caches))

    def close(self) -> None:
        for cache in self._caches:
            cache.close()

    async def wait_for(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Wait until ``predicate()`` holds, re-checked after a change in any of the
        caches (so it may span several parents); False at the deadline."""
        return await self._waiters.wait_for(predicate, timeout)

    def on_manager_change(
        self, listener: Callable[[ChangeKind, str, dict[str, Any]], None]
    ) -> None:
        """``listener(kind, cm_id, data)`` on every change under ``/component_managers``."""
        self.managers.add_listener(lambda kind, name, node: listener(kind, name, node.data or {}))

    # --- plain lookups -----------------------------------------------------------------------

    def system_manager(self) -> dict[str, Any] | None:
        return _data(self.system_managers.get(self.manager_id))

    def manager(self, cm_id: str) -> dict[str, Any] | None:
        return _data(self.managers.get(cm_id))

    def manager_state(self, cm_id: str) -> str | None:
        """The state a live manager published, None if it is not alive."""
        data = self.manager(cm_id)
        return None if data is None else str(data.get("state"))

    def approved(self, cm_id: str) -> bool:
        """May this manager take components (``odenos approve``, or auto-approval)?"""
        return self.approvals.get(cm_id) is not None

    def manager_ids(self) -> list[str]:
        return sorted(self.managers.nodes)

    def desired_component(self, comp_id: str) -> dict[str, Any] | None:
        return _data(self.desired.get(comp_id))

    def desired_generation(self, comp_id: str) -> int | None:
        """The czxid of the desired record: a delete and a re-create give a new one."""
        node = self.desired.get(comp_id)
        return None if node is None else node.stat.czxid

    def desired_version(self, comp_id: str) -> int | None:
        """The data version of the desired record: a reassignment moves it on."""
        node = self.desired.get(comp_id)
        return None if node is None else node.stat.version

    def known_manager_ids(self) -> set[str]:
        """Managers alive now or named by a desired component (alive or not)."""
        return self.named_manager_ids() | set(self.managers.nodes)

    def named_manager_ids(self) -> set[str]:
        """Managers named by at least one desired component (alive or not)."""
        return set(self._owned)

    def owned_by(self, cm_id: str) -> list[str]:
        """Ids of the desired components placed on ``cm_id``, in id order."""
        return sorted(self._owned.get(cm_id, ()))

    def owner_of(self, comp_id: str) -> str | None:
        """The manager ``comp_id``'s desired record names (None if there is none)."""
        return self._owner.get(comp_id)

    def load_of(self, cm_id: str) -> int:
        """How many desired components are placed on ``cm_id``."""
        return len(self._owned.get(cm_id, ()))

    def desired_ids(self) -> list[str]:
        """Ids of the desired components (nodes whose data is not a JSON object, written
        by hand with zkCli, say, are not components and are left out)."""
        return sorted(name for name, node in self.desired.nodes.items() if _data(node))

    def connection(self, conn_id: str) -> dict[str, Any] | None:
        return _data(self.connections.get(conn_id))

    def connection_ids(self) -> list[str]:
        return sorted(name for name, node in self.connections.nodes.items() if _data(node))

    def connections_of(self, comp_id: str) -> dict[str, dict[str, Any]]:
        """The connections in which ``comp_id`` is the logic or the network."""
        found = {}
        for conn_id in self.connection_ids():
            conn = self.connection(conn_id) or {}
            if comp_id in (conn.get("logic_id"), conn.get("network_id")):
                found[conn_id] = conn
        return found

    def subscription(self, subscriber_id: str) -> dict[str, Any] | None:
        return _data(self.subscriptions.get(subscriber_id))

    def subscription_ids(self) -> list[str]:
        return sorted(name for name, node in self.subscriptions.nodes.items() if _data(node))

    def subscribers(self, publisher_id: str, event_type: str) -> list[str]:
        """Who subscribed to ``publisher_id``'s ``event_type`` events, in id order."""
        found = []
        for sid in self.subscription_ids():
            filters = (self.subscription(sid) or {}).get("event_filters", {})
            types = filters.get(publisher_id) if isinstance(filters, dict) else None
            if isinstance(types, list) and event_type in types:
                found.append(sid)
        return found

    def live_component(self, cm_id: str, comp_id: str) -> dict[str, Any] | None:
        return _data(self.live.get(paths.live_component_name(cm_id, comp_id)))

    def component_types(self) -> dict[str, dict[str, Any]]:
        """``{type: {type, super_type, connection_types, description, cm_id: [ids]}}``
        over the live, running managers (reference: ``GET component_types``)."""
        types: dict[str, dict[str, Any]] = {}
        for cm_id in self.manager_ids():
            data = self.manager(cm_id) or {}
            if data.get("state") != RUNNING or not self.approved(cm_id):
                continue  # registering, stopping, or not approved: it takes no new component
            for info in data.get("component_types", []):
                entry = types.setdefault(info["type"], type_entry(info, []))
                entry["cm_id"].append(cm_id)
        return types

    # --- derived state -----------------------------------------------------------------------

    def component_status(self, comp_id: str) -> tuple[str, str | None]:
        """(state, reason) of a desired component, from the liveness of its manager
        and of its ephemeral.  ``reason`` is None when it is running."""
        desired = self.desired_component(comp_id)
        if desired is None:
            raise ObjectNotFound(comp_id)
        cm_id = str(desired.get("cm_id"))
        manager = self.manager(cm_id)
        if manager is None:
            return ObjectState.ERROR.value, f"component manager {cm_id!r} is not alive"
        live = self.live_component(cm_id, comp_id)
        if manager.get("state") != RUNNING:
            state = live.get("state", "initializing") if live else "initializing"
            return str(state), manager_away(cm_id, manager.get("state"))
        if live is None:
            return ObjectState.INITIALIZING.value, "not yet created by its component manager"
        state = str(live.get("state"))
        if state != RUNNING:
            return state, str(live.get("error") or f"component is {state}")
        return state, None

    def component_property(
        self, comp_id: str, types: dict[str, dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        """The component's ObjectProperty as the system manager reports it.  ``types``:
        :meth:`component_types`, if the caller has it already (a list of every component)."""
        desired = self.desired_component(comp_id)
        if desired is None:
            raise ObjectNotFound(comp_id)
        state, reason = self.component_status(comp_id)
        if types is None:
            types = self.component_types()
        info = types.get(str(desired.get("type")), {})
        body: dict[str, Any] = {
            "id": comp_id,
            "type": desired.get("type"),
            "super_type": info.get("super_type", desired.get("type")),
            "description": info.get("description", ""),
            "connection_types": ",".join(
                f"{k}:{v}" for k, v in info.get("connection_types", {}).items()
            ),
            "cm_id": desired.get("cm_id"),
            "state": state,
            "restart_policy": desired.get("restart_policy", "stay"),
        }
        if "reassign_after" in desired:
            body["reassign_after"] = desired["reassign_after"]
        if reason is not None:
            body["reason"] = reason
        return body

    def manager_property(self, cm_id: str) -> dict[str, Any]:
        data = self.manager(cm_id)
        if data is None:
            raise ObjectNotFound(cm_id)
        return {
            "id": cm_id,
            "type": "ComponentManager",
            "super_type": "ComponentManager",
            "state": data.get("state"),
            "description": data.get("description", ""),
            "component_types": ",".join(t["type"] for t in data.get("component_types", [])),
            "address": data.get("address"),
            "host": data.get("host"),
            "pid": data.get("pid"),
            "approved": self.approved(cm_id),
        }

    # --- routing -----------------------------------------------------------------------------

    def route(self, object_id: str, *, allow_failed: bool = False) -> Target:
        """Where a request for ``object_id`` goes, decided from the caches alone.

        Raises :class:`ObjectNotFound` for an id nobody knows and
        :class:`ObjectUnavailable` (503) for a known object that cannot answer now.
        ``allow_failed`` lets a request through to a component that is in
        ``error`` or ``finalizing`` while its manager runs (``PUT property`` is how
        such a component is repaired).
        """
        if object_id in (self.manager_id, EVENT_MANAGER_ID):
            # The event manager lives in the core process, beside the system manager.
            sm = self.system_manager()
            if sm is None:
                raise ObjectUnavailable(object_id, "the system manager is not running")
            return Target(object_id, "system_manager", _address(object_id, sm))
        manager = self.manager(object_id)
        if manager is not None:
            if manager.get("state") != RUNNING:
                raise ObjectUnavailable(object_id, manager_away(object_id, manager.get("state")))
            return Target(object_id, "component_manager", _address(object_id, manager), object_id)
        desired = self.desired_component(object_id)
        if desired is None:
            if object_id in self._owned:
                raise ObjectUnavailable(object_id, "component manager is not alive")
            raise ObjectNotFound(object_id)
        state, reason = self.component_status(object_id)
        cm_id = str(desired["cm_id"])
        manager = self.manager(cm_id)
        manager_runs = manager is not None and manager.get("state") == RUNNING
        live = self.live_component(cm_id, object_id)
        if reason is not None and allow_failed and manager_runs and live is not None:
            reason = None
        if reason is not None:
            # A manager that is away may be back soon; a component that failed will not.
            failed = manager_runs and state == "error"
            raise ObjectUnavailable(object_id, reason, retry_after=5 if failed else None)
        return Target(object_id, "component", _address(object_id, manager), cm_id)


async def connect(config: Config, name: str) -> tuple[Coordinator, ClusterView]:
    """A session on the configured ZooKeeper, and a view on it with its caches loaded."""
    zk = Coordinator(
        config.zookeeper.connect_string,
        config.zookeeper.session_timeout_ms,
        name=name,
        status_file=status_file(config, name),
        acl=acl_policy(config),
    )
    view = ClusterView(zk, config.manager_id)
    try:
        await zk.start()
        await view.start()
    except BaseException:
        await disconnect(zk, view)
        raise
    return zk, view


async def disconnect(zk: Coordinator | None, view: ClusterView | None) -> None:
    """Close the view's watches, then the session (our ephemerals go with it)."""
    if view is not None:
        view.close()
    if zk is not None:
        await zk.stop()
        zk.status.remove_file()


def manager_away(cm_id: str, state: Any) -> str:
    """Why a live manager's objects are refused: it is not ``running``."""
    if state == ObjectState.INITIALIZING.value:
        # Registering under the global lock: on a restart, resuming its components' state.
        return f"component manager {cm_id!r} is restarting: resuming its components' state"
    return f"component manager {cm_id!r} is {state}"


def acl_policy(config: Config) -> AclPolicy:
    """The ZooKeeper credentials and ACLs of ``config`` (generated on first use for the
    embedded server, see :mod:`odenos.zk.acl`)."""
    zk = config.zookeeper
    if zk.auth_file is None:
        return AclPolicy(None)
    make = ensure_credentials if zk.generate_auth else load_credentials
    return AclPolicy(make(zk.auth_file), zk.world_read)


def status_file(config: Config, name: str) -> Path:
    """Where daemon ``name`` keeps its ZooKeeper gate and registration for ``odenos status``."""
    return config.var_dir / "tmp" / f"{name}.zk.json"


def type_entry(info: dict[str, Any], cm_ids: list[str]) -> dict[str, Any]:
    """One entry of ``GET component_types``: a type's info and the managers offering it."""
    return {**info, "cm_id": cm_ids}


def _address(object_id: str, data: dict[str, Any] | None) -> str:
    address = (data or {}).get("address")
    if not isinstance(address, str) or not address:
        raise ObjectUnavailable(object_id, "its process published no address in ZooKeeper")
    return address
