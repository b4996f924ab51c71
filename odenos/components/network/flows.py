"""The flows of a Network component: a table of flows with versions and a status machine.

A pure data model (no HTTP, no asyncio), raising the HTTP-facing errors of
:mod:`odenos.errors`.  Each operation checks everything before it changes
anything, then reports each change, after it, through :meth:`FlowTable._commit`
to the listener (kind ``"Flow"``), where ``FlowChanged`` will be published.

A flow is a BasicFlow or an OFPFlow (:mod:`~odenos.components.network.ofp_flow`);
a PUT may not turn one into the other (409: delete it first), since a driver
that installed it as one type would not know to reinstall it.  The filters of
``GET flows`` are in :mod:`~odenos.components.network.flow_query`.

Versions work as for the topology objects: the table assigns them (1 on
create, +1 on each change), a body naming another version than the stored
one is a 409, and a PUT that changes nothing keeps the version.  The table's
own version (shown by ``GET flows``) counts its changes.

Status: a new flow starts ``none``; a body's ``status`` asks for a transition
from the stored status (from ``none`` on create), and every status change goes
through :meth:`FlowTable._set_status`, which applies the table of
:mod:`~odenos.components.network.flow_status` (409 ``InvalidStateTransition``
otherwise).  The driver below the network makes the transitions; the network
makes one itself, for a deletion (below).  Disabling a flow (``enabled``
false) does not touch its status: the driver takes it
``established → teardown → none``.

Deletion follows the reference's ``established → teardown → none (deleted or
disabled)``: the network must not forget a flow that is still installed below
it, so ``DELETE`` is a request that completes when the driver says the flow
is gone:

* a flow at ``none`` or ``failed`` (nothing installed as far as the network
  knows) is removed at once;
* an ``established`` flow is moved to ``teardown`` (reported as an update:
  that is the driver's cue), and removed when the driver sets it to ``none``
  (or ``failed``);
* an ``establishing`` flow cannot go to ``teardown`` (not in the table): it is
  marked, moved to ``teardown`` as soon as the driver reports ``established``,
  and removed as above (or at once if the driver reports ``failed``);
* a flow already at ``teardown`` (being disabled) is marked and removed at ``none``;
* a second ``DELETE`` of a flow whose deletion is pending removes it at once:
  the way out when no driver is there to finish the teardown.

While its deletion is pending the flow stays visible (in its current status)
and may still be updated; the deletion stays requested.  Its removal is
reported as a delete after the status change that allowed it.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from odenos.components.network.basic_flow import (
    BasicFlow,
    parse_flow_attributes,
    requested_status,
)
from odenos.components.network.changes import (
    Change,
    ChangeAction,
    ChangeKind,
    ChangeListener,
    ChangeRecorder,
)
from odenos.components.network.flow_query import FlowQuery
from odenos.components.network.flow_status import (
    RESTING,
    FlowStatus,
    InvalidFlowTransition,
    allowed,
    parse_status,
)
from odenos.components.network.objects import (
    check_version,
    requested_version,
    require_object,
)
from odenos.components.network.ofp_flow import parse_flow
from odenos.errors import BadRequest, Conflict, NotFound

log = logging.getLogger(__name__)


class FlowTable(ChangeRecorder):
    """The flows of one network, keyed by flow_id.

    Not thread-safe: it belongs to one component, used from its event loop.
    """

    def __init__(self, listener: ChangeListener | None = None) -> None:
        super().__init__(listener)
        self.flows: dict[str, BasicFlow] = {}
        #: Flows whose deletion was requested and waits for the driver's teardown.
        self._deleting: set[str] = set()

    def to_json(self, query: FlowQuery | None = None) -> dict[str, Any]:
        """The flows (those ``query`` selects) as ODENOS's FlowSet.

        ``priority`` maps each priority (a string) to the ids of its flows.
        """
        flows = {k: f for k, f in self.flows.items() if query is None or query.matches(f)}
        priority: dict[str, list[str]] = {}
        for flow_id, flow in flows.items():
            priority.setdefault(str(flow.priority), []).append(flow_id)
        return {
            "type": "FlowSet",
            "version": str(self.version),
            "priority": priority,
            "flows": {flow_id: flow.to_json() for flow_id, flow in flows.items()},
        }

    def flow(self, flow_id: str) -> BasicFlow:
        flow = self.flows.get(flow_id)
        if flow is None:
            raise NotFound(f"flow {flow_id!r} does not exist", flow_id=flow_id)
        return flow

    def _set_status(self, flow: BasicFlow, status: FlowStatus) -> None:
        """Move ``flow`` to ``status``, or raise :class:`InvalidFlowTransition` (409).

        The one place a flow's status changes; it does not version or report
        the change (the caller commits it with the rest of the flow).
        """
        if not allowed(flow.status, status):
            raise InvalidFlowTransition(flow.flow_id, flow.status, status)
        if status != flow.status:
            log.info("flow %s: %s -> %s", flow.flow_id, flow.status.value, status.value)
            flow.status = status

    def deleting(self, flow_id: str) -> bool:
        """Is the flow's deletion requested, waiting for the driver's teardown?"""
        return flow_id in self._deleting

    # --- loading stored flows (resume, undo): no change reported -------------------------------

    def load(self, stored: dict[str, Any], deleting: bool = False) -> BasicFlow:
        """Put a flow back as it was stored (status and version included), without
        reporting a change.  Raises BadRequest for a record that is not a flow."""
        flow_id = str(stored.get("flow_id"))
        flow = parse_flow(stored, flow_id)
        flow.status = parse_status(stored.get("status", FlowStatus.NONE.value))
        try:
            flow.version = int(stored.get("version", 0))
        except (TypeError, ValueError):
            raise BadRequest(f"stored flow {flow_id!r} has no numeric version") from None
        self.flows[flow_id] = flow
        if deleting:
            self._deleting.add(flow_id)
        else:
            self._deleting.discard(flow_id)
        return flow

    def unload(self, flow_id: str) -> None:
        self.flows.pop(flow_id, None)
        self._deleting.discard(flow_id)

    # --- create, update ------------------------------------------------------------------------

    def add(self, body: Any) -> BasicFlow:
        """Create a flow from ``body`` under a generated id (its flow_id and version ignored)."""
        obj = require_object(body, "a flow")
        requested_version(obj, "a new flow")  # ignored, but a malformed one is a 400
        flow_id = self._new_id()
        flow, _ = self.put(
            flow_id, {k: v for k, v in obj.items() if k not in ("flow_id", "version")}
        )
        return flow

    def put(self, flow_id: str, body: Any) -> tuple[BasicFlow, bool]:
        """Create or replace the flow ``flow_id``; returns it and whether it was created.

        The body replaces every field but the status, which moves only as the
        body's ``status`` asks and the table allows (absent: unchanged).
        Raises BadRequest (400) for a malformed body, Conflict (409) for a
        version mismatch, InvalidFlowTransition (409) for a refused status.
        """
        new = parse_flow(body, flow_id)
        expected = requested_version(body, f"flow {flow_id!r}")
        status = requested_status(body)
        old = self.flows.get(flow_id)
        if old is not None and old.TYPE != new.TYPE:
            raise Conflict(
                f"flow {flow_id!r} is of type {old.TYPE}, not {new.TYPE}: delete it, then "
                "create it anew",
                flow_id=flow_id,
                field="type",
            )
        check_version(
            f"flow {flow_id!r}", expected, old.version if old else None, strict_create=True
        )
        if old is None:
            # Created in whatever status the body says (ODENOS takes any: a driver
            # may report a flow it found established).
            new.status = FlowStatus.NONE if status is None else status
            new.version = 1
            self.flows[flow_id] = new
            self._commit([Change(ChangeKind.FLOW, ChangeAction.ADD, None, new.to_json())])
            return new, True
        new.status = old.status
        if status is not None:
            self._set_status(new, status)
        if new.same_content(old):
            return old, False
        new.version = old.version + 1
        self.flows[flow_id] = new
        self._commit([Change(ChangeKind.FLOW, ChangeAction.UPDATE, old.to_json(), new.to_json())])
        self._settle(new)
        return new, False

    def merge_attributes(self, flow_id: str, body: Any) -> BasicFlow:
        """Merge ``body`` into the flow's attributes (no version check); 404 if unknown."""
        flow = self.flow(flow_id)
        merged = dict(flow.attributes)
        merged.update(
            parse_flow_attributes(require_object(body, "attributes"), f"flow {flow_id!r}")
        )
        if merged == flow.attributes:
            return flow
        prev = flow.to_json()
        flow.attributes = merged
        flow.version += 1
        self._commit([Change(ChangeKind.FLOW, ChangeAction.UPDATE, prev, flow.to_json())])
        return flow

    # --- delete --------------------------------------------------------------------------------

    def delete(self, flow_id: str) -> BasicFlow | None:
        """Delete the flow, or start its teardown (see the module docstring); 404 if unknown.

        Returns ``None`` when the flow is gone, or the flow when its removal
        waits for the driver.
        """
        flow = self.flow(flow_id)
        if flow.status in RESTING or flow_id in self._deleting:
            self._remove(flow)
            return None
        self._deleting.add(flow_id)
        log.info("flow %s: deletion requested at status %s", flow_id, flow.status.value)
        self._settle(flow)
        return flow

    def _settle(self, flow: BasicFlow) -> None:
        """Take a flow whose deletion is pending one step further, if its status allows."""
        if flow.flow_id not in self._deleting:
            return
        if flow.status == FlowStatus.ESTABLISHED:
            prev = flow.to_json()
            self._set_status(flow, FlowStatus.TEARDOWN)
            flow.version += 1
            self._commit([Change(ChangeKind.FLOW, ChangeAction.UPDATE, prev, flow.to_json())])
        elif flow.status in RESTING:
            self._remove(flow)

    def _remove(self, flow: BasicFlow) -> None:
        del self.flows[flow.flow_id]
        self._deleting.discard(flow.flow_id)
        self._commit([Change(ChangeKind.FLOW, ChangeAction.DELETE, flow.to_json(), None)])

    def _new_id(self) -> str:
        while True:
            new_id = str(uuid.uuid4())
            if new_id not in self.flows:
                return new_id
