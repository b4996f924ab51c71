"""The component manager's side of connections: telling logic components about them.

Connections live in ``/odenos/connections`` (see :mod:`systemmanager.connections`).
For every connection whose logic component lives here, the manager calls the
component's hooks and writes the outcome into the record: ``initializing`` ->
``running`` (or ``error`` with the reason) after ``on_connection_added``;
``finalizing`` -> ``none`` after ``on_connection_deleted``.  Runs inside the
manager's reconciliation, so never concurrently with itself.
"""

from __future__ import annotations

import logging
from typing import Any

from odenos.cluster import ClusterView
from odenos.components.base import Component
from odenos.errors import CoordinationError, NodeMissing, NodeVersionMismatch
from odenos.model.connection import ConnectionState, check_transition
from odenos.zk import paths
from odenos.zk.client import Coordinator

log = logging.getLogger(__name__)


class ConnectionKeeper:
    def __init__(self, zk: Coordinator, view: ClusterView) -> None:
        self._zk = zk
        self._view = view

    async def reconcile(
        self,
        instances: dict[str, Component],
        failed: dict[str, str],
        only: set[str] | None = None,
    ) -> bool:
        """Bring the hooks and the records in line; False if a record changed under us
        (the caller runs again on the next change).  ``failed``: the components here that
        could not be created, by id, with why: their connections go to ``error``.
        ``only``: no connection changed, only these components may have (created,
        dropped): just their connections are looked at."""
        settled = True
        for conn_id in self._view.connection_ids():
            conn = self._view.connection(conn_id) or {}
            logic_id = str(conn.get("logic_id"))
            if only is not None and logic_id not in only:
                continue
            logic = instances.get(logic_id)
            if logic is not None:
                settled &= await self._one(logic, conn_id, conn)
            elif logic_id in failed and conn.get("state") == ConnectionState.INITIALIZING:
                reason = f"logic component {logic_id!r} failed: {failed[logic_id]}"
                settled &= await self._write_state(conn_id, ConnectionState.ERROR, reason)
            elif logic_id in failed and conn.get("state") == ConnectionState.FINALIZING:
                settled &= await self._write_state(conn_id, ConnectionState.NONE, None)
        if only is not None:
            return settled
        # Records removed while the manager was away (or by hand): let go quietly.
        for component in instances.values():
            for conn_id in [c for c in component.connections if self._view.connection(c) is None]:
                await self._release(component, conn_id, component.connections[conn_id])
        return settled

    async def _one(self, logic: Component, conn_id: str, conn: dict[str, Any]) -> bool:
        state = conn.get("state")
        held = logic.connections.get(conn_id)
        if state == ConnectionState.FINALIZING:
            if held is not None:
                await self._release(logic, conn_id, conn)
            return await self._write_state(conn_id, ConnectionState.NONE, None)
        if state == ConnectionState.INITIALIZING and held is not None:
            # Taken already; only the state write was lost (a concurrent change): write it.
            return await self._write_state(conn_id, ConnectionState.RUNNING, None)
        new = state == ConnectionState.INITIALIZING
        resumed = state == ConnectionState.RUNNING and held is None  # our manager restarted
        if new or resumed:
            try:
                await logic.on_connection_added(conn)
            except Exception as exc:
                log.warning("component %s refused connection %s: %s", logic.id, conn_id, exc)
                reason = str(exc) or repr(exc)
                return await self._write_state(conn_id, ConnectionState.ERROR, reason)
            logic.connections[conn_id] = conn
            log.info("component %s holds connection %s", logic.id, conn_id)
            if new:
                return await self._write_state(conn_id, ConnectionState.RUNNING, None)
            return True
        if held is not None and _attributes(held) != _attributes(conn):
            try:
                await logic.on_connection_updated(conn)
            except Exception:
                log.exception("component %s failed on the update of %s", logic.id, conn_id)
            logic.connections[conn_id] = conn
        return True

    async def _release(self, logic: Component, conn_id: str, conn: dict[str, Any]) -> None:
        try:
            await logic.on_connection_deleted(conn)
        except Exception:
            log.exception("component %s failed to let go of connection %s", logic.id, conn_id)
        logic.connections.pop(conn_id, None)
        log.info("component %s released connection %s", logic.id, conn_id)

    async def _write_state(self, conn_id: str, state: ConnectionState, reason: str | None) -> bool:
        """Write ``state`` if the record (read fresh) may go there; version-checked, so a
        concurrent change wins and we look again."""
        path = paths.connection(conn_id)
        try:
            current, stat = await self._zk.get(path)
            if not isinstance(current, dict) or current.get("state") == state:
                return True
            check_transition(conn_id, str(current.get("state")), state.value)
            updated = {k: v for k, v in current.items() if k != "reason"}
            updated["state"] = state.value
            if reason is not None:
                updated["reason"] = reason
            await self._zk.set(path, updated, stat.version)
        except NodeMissing:
            return True
        except NodeVersionMismatch:
            return False
        except CoordinationError as err:
            log.warning("connection %s: state %s not written: %s", conn_id, state, err.message)
            return False
        return True


def _attributes(conn: dict[str, Any]) -> dict[str, Any]:
    """What a client can change: the lifecycle keys are ours, not an update."""
    return {k: v for k, v in conn.items() if k not in ("state", "reason")}
