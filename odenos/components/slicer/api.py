"""The Slicer's REST API: the slice condition table and the flow maps.

ODENOS's routes under ``settings/slice_condition_table`` (the conditions:
:mod:`~.conditions`), kept in the durable state; a change re-checks the flows
of the connections whose conditions changed, hence the base
:class:`~.flows.FlowSync`.  ``original_network_flow`` and ``sliver_network_flow``
map the original flows the Slicer carries to their sliver flows and back.
"""

from __future__ import annotations

import uuid

from odenos.components.base import Request, Response, route
from odenos.components.slicer.conditions import (
    MAX_CONDITIONS,
    MAX_LIST,
    ConditionTable,
    SliceCondition,
    check_condition_id,
    parse_priority,
)
from odenos.components.slicer.core import FlowRef
from odenos.components.slicer.flows import FlowSync
from odenos.components.slicer.naming import flow_key
from odenos.errors import BadRequest, NotFound, PayloadTooLarge


class SliceConditionAPI(FlowSync):
    """The REST routes of the slice condition table and the flow maps."""

    def _commit(self, table: ConditionTable) -> None:
        """Store ``table`` (durably, before the answer) and make it current; re-check the
        flows of the connections whose conditions changed."""
        if len(table) > MAX_CONDITIONS:
            raise PayloadTooLarge(
                f"{self.id} would hold {len(table)} slice conditions, over the limit of "
                f"{MAX_CONDITIONS}",
                limit=MAX_CONDITIONS,
            )
        puts, deletes, touched = table.changes_from(self.table)
        self.state.write(puts, deletes)  # refused before anything changes
        self.table = table
        if touched:
            self._recheck_flows(touched)

    @route("PUT", "settings/slice_condition_table/<priority>")
    async def put_priority(self, request: Request, priority: str) -> Response:
        at = parse_priority(priority)
        if not isinstance(request.body, list):
            raise BadRequest(
                f"PUT settings/slice_condition_table/{priority} needs a JSON list of "
                "BasicSliceCondition"
            )
        if len(request.body) > MAX_LIST:  # the schema's maxItems: a bad body, not a bound
            raise BadRequest(
                f"at most {MAX_LIST} conditions in one list, got {len(request.body)}",
                limit=MAX_LIST,
            )
        conditions = [
            SliceCondition.from_json(raw, where=f"[{i}].") for i, raw in enumerate(request.body)
        ]
        table = self.table.copy()
        stored = table.set_priority(at, conditions)
        self._commit(table)
        return Response(200, [c.to_json() for c in stored])

    @route("POST", "settings/slice_condition_table/<priority>/conditions")
    async def post_condition(self, request: Request, priority: str) -> Response:
        at = parse_priority(priority)
        # A new id always, as ODENOS: the body's is not used.
        condition = SliceCondition.from_json(request.body, str(uuid.uuid4()))
        table = self.table.copy()
        table.put(at, condition)
        self._commit(table)
        return Response(200, condition.to_json())

    @route("PUT", "settings/slice_condition_table/<priority>/conditions/<condition_id>")
    async def put_condition(self, request: Request, priority: str, condition_id: str) -> Response:
        at = parse_priority(priority)
        condition = SliceCondition.from_json(request.body, check_condition_id(condition_id))
        table = self.table.copy()
        table.put(at, condition)
        self._commit(table)
        return Response(200, condition.to_json())

    @route("DELETE", "settings/slice_condition_table")
    async def delete_table(self, request: Request) -> Response:
        table = self.table.copy()
        table.clear()
        self._commit(table)
        return Response(200, None)

    @route("DELETE", "settings/slice_condition_table/<priority>")
    async def delete_priority(self, request: Request, priority: str) -> Response:
        table = self.table.copy()
        table.delete_priority(parse_priority(priority))
        self._commit(table)
        return Response(200, None)

    @route("DELETE", "settings/slice_condition_table/conditions/<condition_id>")
    async def delete_condition(self, request: Request, condition_id: str) -> Response:
        table = self.table.copy()
        table.delete(condition_id)
        self._commit(table)
        return Response(200, None)

    @route("GET", "settings/slice_condition_table")
    async def get_table(self, request: Request) -> Response:
        return Response(200, self.table.priorities())

    @route("GET", "settings/slice_condition_table/<priority>")
    async def get_priority(self, request: Request, priority: str) -> Response:
        ids = self.table.at(parse_priority(priority))
        if ids is None:
            raise NotFound(f"{self.id} has no slice condition at priority {priority}")
        return Response(200, ids)

    @route("GET", "settings/slice_condition_table/conditions/<condition_id>")
    async def get_condition(self, request: Request, condition_id: str) -> Response:
        condition = self.table.get(condition_id)
        if condition is None:
            raise NotFound(f"{self.id} has no slice condition {condition_id!r}")
        return Response(200, condition.to_json())

    @route("GET", "settings/slice_condition_table/connections/<connection_id>")
    async def get_connection(self, request: Request, connection_id: str) -> Response:
        return Response(200, [c.id for c in self.table.of_connection(connection_id)])

    @route("GET", "original_network_flow")
    async def get_original_flows(self, request: Request) -> Response:
        return Response(
            200, {o: flow_key(*ref) for ref, o in sorted(self._carried.items(), key=_by_key)}
        )

    @route("GET", "sliver_network_flow")
    async def get_sliver_flows(self, request: Request) -> Response:
        return Response(
            200, {flow_key(*ref): o for ref, o in sorted(self._carried.items(), key=_by_key)}
        )


def _by_key(item: tuple[FlowRef, str]) -> tuple[str, str]:
    return item[0]
