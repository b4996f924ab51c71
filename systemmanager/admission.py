"""Admission of component managers: only approved ones take components.

An approval is a persistent node ``/odenos/approvals/<cm_id>`` (``{"cm_id", "by",
"at"}``).  A manager that is not approved registers as ``pending`` and waits; the
system manager places nothing on a manager without an approval (new components,
reassignments), so revoking one stops new placements on it while what it runs
goes on.  Approvals come from an operator (``odenos approve <cm_id>``, or ``PUT
/systemmanager/component_managers/<cm_id>/approval``), or, with
``manager.auto_approve`` (on by default for the embedded single-host setup), from
the active system manager itself for every manager that shows up.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from typing import Any

from odenos.cluster import ClusterView
from odenos.errors import CoordinationError, NodeExists, NodeMissing
from odenos.model.ids import check_id
from odenos.zk import paths
from odenos.zk.cache import ChangeKind
from odenos.zk.client import Coordinator

log = logging.getLogger(__name__)


class Admission:
    """Used on the core process's loop."""

    def __init__(self, zk: Coordinator, view: ClusterView, *, auto: bool) -> None:
        self._zk = zk
        self._view = view
        self._auto = auto
        self._active = False
        view.on_manager_change(self._on_manager)

    def set_active(self, active: bool) -> None:
        """Auto-approval is the active system manager's job."""
        self._active = active
        if active and self._auto:
            for cm_id in self._view.manager_ids():
                self._approve_later(cm_id)

    def _on_manager(self, kind: ChangeKind, cm_id: str, data: dict[str, Any]) -> None:
        if self._active and self._auto and kind != ChangeKind.REMOVED:
            self._approve_later(cm_id)

    def _approve_later(self, cm_id: str) -> None:
        if self._view.approved(cm_id):
            return

        async def approve() -> None:
            try:
                await self.approve(cm_id, by="manager.auto_approve")
            except CoordinationError as err:
                log.warning("could not approve %s: %s", cm_id, err.message)

        asyncio.get_running_loop().create_task(approve())

    def get(self, cm_id: str) -> dict[str, Any]:
        node = self._view.approvals.get(check_id(cm_id, "component manager id"))
        data = node.data if node is not None and isinstance(node.data, dict) else {}
        return {"cm_id": cm_id, "approved": node is not None, **data}

    async def approve(self, cm_id: str, by: str = "operator") -> bool:
        """True if this approved it, False if it was approved already."""
        record = {
            "cm_id": check_id(cm_id, "component manager id"),
            "by": by,
            "at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        }
        try:
            await self._zk.create(paths.approval(cm_id), record)
        except NodeExists:
            return False
        log.info("component manager %s approved (%s)", cm_id, by)
        await self._view.wait_for(lambda: self._view.approved(cm_id), 5.0)
        return True

    async def revoke(self, cm_id: str) -> bool:
        """True if it was approved; from now on nothing new is placed on it."""
        try:
            await self._zk.delete(paths.approval(check_id(cm_id, "component manager id")))
        except NodeMissing:
            return False
        log.warning("component manager %s: approval revoked: no new components on it", cm_id)
        await self._view.wait_for(lambda: not self._view.approved(cm_id), 5.0)
        return True
