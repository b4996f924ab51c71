"""The system manager's registry of connections: persistent records in ZooKeeper.

A connection is stored ``initializing`` in ``/odenos/connections/<id>``; the
manager of its logic component sees it on its watch, asks the component, and
writes ``running`` or ``error`` (with the reason) into the record.  A delete
marks it ``finalizing``, waits (bounded) until the logic component has let go
(``none``), then removes the record.  Like components, connections survive a
restart of any daemon.  Reads come from :class:`ClusterView`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from typing import Any

from odenos.cluster import ClusterView
from odenos.errors import (
    BadRequest,
    Conflict,
    NodeExists,
    NodeMissing,
    NodeVersionMismatch,
    NotFound,
)
from odenos.model.connection import IDENTITY_KEYS, ConnectionState, new_connection
from odenos.model.ids import check_id
from odenos.zk import paths
from odenos.zk.client import Coordinator, NodeStat
from odenos.zk.exactly import create_exactly, delete_exactly, outcome_deadline, read_record
from systemmanager.per_id import PerIdLocks

log = logging.getLogger(__name__)


class ConnectionNotFound(NotFound):
    code = "ConnectionNotFound"

    def __init__(self, conn_id: str) -> None:
        super().__init__(f"connection {conn_id!r} does not exist", connection_id=conn_id)


class ConnectionRegistry:
    """Create, read, update and delete connections.  Called on the system manager's loop."""

    def __init__(self, coordinator: Coordinator, view: ClusterView, timeout: float) -> None:
        self._zk = coordinator
        self._view = view
        self._timeout = timeout
        # Creations one at a time: the connection-type limits are checked on the view, which
        # must show the previous creation before the next is checked.
        self._creating = asyncio.Lock()
        self._serial = PerIdLocks()

    def list(self) -> dict[str, dict[str, Any]]:
        return {cid: self.get(cid) for cid in self._view.connection_ids()}

    def get(self, conn_id: str) -> dict[str, Any]:
        conn = self._view.connection(conn_id)
        if conn is None:
            raise ConnectionNotFound(conn_id)
        return conn

    async def post(self, body: Any) -> dict[str, Any]:
        """``POST connections``: under a generated UUID, as ODENOS does (an id in the body
        is ignored; ``PUT connections/<id>`` chooses one), used by no connection nor
        component."""
        conn_id = str(uuid.uuid4())
        while self._view.connection(conn_id) or self._view.desired_component(conn_id):
            conn_id = str(uuid.uuid4())
        if isinstance(body, dict):
            body = {**body, "id": conn_id}
        async with self._serial(conn_id):
            if await self._read(conn_id) is not None:
                raise Conflict(f"connection {conn_id!r} exists", connection_id=conn_id)
            return await self._create(conn_id, body)

    async def put(self, conn_id: str, body: Any) -> tuple[int, dict[str, Any]]:
        """``PUT connections/<id>``: 201 created, 200 updated.  An update may change
        anything but what is connected (type, connection_type, logic_id, network_id)."""
        check_id(conn_id, "connection id")
        async with self._serial(conn_id):
            current = await self._read(conn_id)
            if current is None:
                return 201, await self._create(conn_id, body)
            return 200, await self._put_existing(conn_id, current[0], body)

    async def _put_existing(
        self, conn_id: str, existing: dict[str, Any], body: Any
    ) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise BadRequest("a connection is a JSON object")
        for key in IDENTITY_KEYS:
            if key in body and body[key] != existing.get(key):
                raise BadRequest(
                    f"{key!r} of connection {conn_id!r} cannot change: delete it and "
                    "create a new one",
                    field=key,
                )
        changes = {k: v for k, v in body.items() if k not in ("id", "state", "reason")}
        updated = await self._update(conn_id, changes)
        if updated != existing:
            await self._caught_up(
                lambda: all(
                    (self._view.connection(conn_id) or {}).get(k) == v
                    for k, v in updated.items()
                    if k not in ("state", "reason")
                )
            )
        return updated

    async def delete(self, conn_id: str) -> None:
        """``finalizing``, then (bounded) wait for the logic component to let go, then
        remove.  With the logic's manager away the record goes at once: its manager
        drops what it held of it when it resumes."""
        async with self._serial(conn_id):
            await self._delete(conn_id)

    async def _delete(self, conn_id: str) -> None:
        current = await self._read(conn_id)
        if current is None:
            raise ConnectionNotFound(conn_id)
        conn, stat = current
        path = paths.connection(conn_id)
        if self._logic_manager_runs(conn) and conn.get("state") != ConnectionState.NONE.value:
            with contextlib.suppress(NodeMissing):
                await self._zk.set(path, {**conn, "state": ConnectionState.FINALIZING.value})
            released = await self._view.wait_for(
                lambda: (
                    (self._view.connection(conn_id) or {}).get("state")
                    in (ConnectionState.NONE.value, None)
                ),
                self._timeout,
            )
            if not released:
                log.warning(
                    "connection %s: %s did not release it within %g s; removing it anyway",
                    conn_id,
                    conn.get("logic_id"),
                    self._timeout,
                )
        await delete_exactly(self._zk, path, stat.czxid, self._deadline)
        await self._caught_up(lambda: self._view.connection(conn_id) is None)
        log.info("connection %s deleted", conn_id)

    # --- helpers ----------------------------------------------------------------------------

    @property
    def _deadline(self) -> float:
        return outcome_deadline(self._zk, self._timeout)

    async def _read(self, conn_id: str) -> tuple[dict[str, Any], NodeStat] | None:
        return await read_record(self._zk, paths.connection(conn_id))

    async def _update(self, conn_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Apply a client's changes to the record as it is in ZooKeeper now (version-checked),
        so that a state the logic's manager just wrote is never put back."""
        path = paths.connection(conn_id)
        while True:
            try:
                current, stat = await self._zk.get(path)
            except NodeMissing:
                raise ConnectionNotFound(conn_id) from None
            updated = {**(current if isinstance(current, dict) else {}), **changes}
            if updated == current:
                return updated
            try:
                await self._zk.set(path, updated, stat.version)
                return updated
            except NodeVersionMismatch:
                continue

    async def _create(self, conn_id: str, body: Any) -> dict[str, Any]:
        record = new_connection(conn_id, body)
        async with self._creating:
            self._check_components(record)
            try:
                await create_exactly(self._zk, paths.connection(conn_id), record, self._deadline)
            except NodeExists:
                raise Conflict(f"connection {conn_id!r} exists", connection_id=conn_id) from None
            await self._caught_up(lambda: self._view.connection(conn_id) is not None)
        log.info(
            "connection %s: %s (%s) to network %s",
            conn_id,
            record["logic_id"],
            record["connection_type"],
            record["network_id"],
        )
        return record

    def _check_components(self, record: dict[str, Any]) -> None:
        """Both ends exist, the network is a Network, and the logic component's type
        offers the connection type with room for one more (``"1"`` or ``"*"``)."""
        logic_id, network_id = record["logic_id"], record["network_id"]
        logic = self._view.desired_component(logic_id)
        network = self._view.desired_component(network_id)
        if logic is None:
            raise BadRequest(f"logic component {logic_id!r} does not exist", field="logic_id")
        if network is None:
            raise BadRequest(f"network {network_id!r} does not exist", field="network_id")
        types = self._view.component_types()
        network_info = types.get(str(network.get("type")), {})
        if network_info.get("super_type", network.get("type")) != "Network":
            raise BadRequest(
                f"{network_id!r} is a {network.get('type')}, not a Network", field="network_id"
            )
        logic_info = types.get(str(logic.get("type")))
        if logic_info is None:
            raise BadRequest(
                f"the type {logic.get('type')!r} of {logic_id!r} is offered by no running "
                "component manager: its connection types are unknown",
                field="logic_id",
            )
        offered: dict[str, str] = logic_info.get("connection_types", {})
        kind = record["connection_type"]
        if kind not in offered:
            raise BadRequest(
                f"{logic_id!r} ({logic.get('type')}) takes no {kind!r} connection "
                f"(it takes: {', '.join(offered) or 'none'})",
                field="connection_type",
            )
        if offered[kind] != "*":
            taken = [
                cid
                for cid, conn in self._view.connections_of(logic_id).items()
                if conn.get("logic_id") == logic_id and conn.get("connection_type") == kind
            ]
            if len(taken) >= int(offered[kind]):
                raise BadRequest(
                    f"{logic_id!r} takes at most {offered[kind]} {kind!r} connection(s); "
                    f"it has {', '.join(taken)}",
                    field="connection_type",
                )

    async def _caught_up(self, predicate: Callable[[], bool]) -> None:
        """Answer only once our own view shows the write: a client that reads right
        after a 200 must see what it wrote (the view is fed by watches, so it lags)."""
        if not await self._view.wait_for(predicate, self._timeout):
            log.warning("the view did not show a connection write within %g s", self._timeout)

    def _logic_manager_runs(self, conn: dict[str, Any]) -> bool:
        logic = self._view.desired_component(str(conn.get("logic_id"))) or {}
        return self._view.manager_state(str(logic.get("cm_id"))) == "running"
