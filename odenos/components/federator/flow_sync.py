"""The federated flows: each carried by one segment flow per original network it crosses.

:class:`FlowSync` brings a federated flow and its segments in line from their
current state (:mod:`.translation` splits the flow), has the federated flow's
status follow its segments' through the network's status machine, fails a flow
it cannot carry (with a ``reason``), and looks again at the flows a topology or
boundary change may concern.
"""

from __future__ import annotations

import logging
from typing import Any

from odenos.components.aggregator.translation import UntranslatableFlow, same_content
from odenos.components.federator.base import FederatorBase
from odenos.components.federator.naming import segment_origin
from odenos.components.federator.translation import split_flow, target_status
from odenos.components.logic import (
    ESTABLISHING,
    FAILED,
    NONE,
    TEARDOWN,
    NetworkAnswer,
    failed_reason,
)

log = logging.getLogger(__name__)


class FlowSync(FederatorBase):
    """The federated flows, their segment flows and their statuses."""

    async def _resync(self, concerned: set[str]) -> None:
        """Look again at the flows a topology or boundary change may concern: the failed
        ones, those whose split would now differ, and ``concerned``."""
        concerned = set(concerned) | self._failed
        for flow_id, (flow, split) in list(self._splits.items()):
            try:
                again = split_flow(flow, self.id, self.model)
            except UntranslatableFlow:
                concerned.add(flow_id)
                continue
            if again != split:
                concerned.add(flow_id)
        for flow_id in sorted(concerned):
            await self._sync_flow_logged(flow_id)

    def _note_segment(self, network_id: str, original_id: str) -> str | None:
        origin = segment_origin(self.id, original_id)
        if origin is None:
            return None
        self._segments.setdefault(origin[0], set()).add((network_id, original_id))
        return origin[0]

    async def _sync_flow_logged(self, flow_id: str) -> None:
        try:
            await self._sync_flow(flow_id)
        except NetworkAnswer as exc:
            log.warning("%s: flow %s not brought in line: %s", self.id, flow_id, exc)

    async def _sync_flow(self, flow_id: str) -> None:
        """Bring federated flow ``flow_id`` and its segments in line, from their current
        state (see the Aggregator's, whose rules these follow for several segments)."""
        fed = self._fed()
        flow = await self._get(fed, f"flows/{flow_id}", missing=True)
        if flow is not None and not isinstance(flow, dict):
            raise NetworkAnswer(fed, f"GET flows/{flow_id}", None, "not a flow")
        existing: dict[str, tuple[str, dict[str, Any]]] = {}
        for network_id, original_id in sorted(self._segments.get(flow_id, set())):
            below = None
            if network_id in self.originals:
                below = await self._get(network_id, f"flows/{original_id}", missing=True)
            if isinstance(below, dict):
                existing[original_id] = (network_id, below)
            else:
                self._segments[flow_id].discard((network_id, original_id))
        if not self._segments.get(flow_id):
            self._segments.pop(flow_id, None)
        if flow is None:
            self._own_teardowns.discard(flow_id)
            self._failed.discard(flow_id)
            self._splits.pop(flow_id, None)
            for original_id, (network_id, below) in sorted(existing.items()):
                await self._delete_segment(network_id, original_id, below)
            return
        status = flow.get("status")
        if status == TEARDOWN and flow_id not in self._own_teardowns:
            # The federated network's DELETE of an installed flow: take the segments
            # down, then report none (the federated network then forgets it).
            self._splits.pop(flow_id, None)
            if not existing:
                await self._set_status(flow, NONE)
            for original_id, (network_id, below) in sorted(existing.items()):
                await self._delete_segment(network_id, original_id, below)
            return
        try:
            wanted = split_flow(flow, self.id, self.model)
        except UntranslatableFlow as exc:
            self._splits.pop(flow_id, None)
            await self._fail(flow, existing, exc.reason)
            return
        self._failed.discard(flow_id)
        self._splits[flow_id] = (flow, wanted)
        for original_id, (network_id, below) in sorted(existing.items()):
            if (
                original_id not in wanted
                or wanted[original_id][0] != network_id
                or below.get("type", "BasicFlow") != wanted[original_id][1]["type"]
            ):
                # Not wanted there (any more), or of the other type (a flow cannot change
                # type in place): it goes first; its deletion's event brings the new one.
                await self._delete_segment(network_id, original_id, below)
                del existing[original_id]
                if original_id in wanted:
                    return
        if not existing and status != NONE:
            current = await self._follow(flow, NONE, None)
            if current is None:
                return
            flow = current
        statuses: list[str] = []
        reason = None
        for original_id, (network_id, body) in sorted(wanted.items()):
            if original_id not in existing:
                reply = await self.request(
                    network_id, "PUT", f"flows/{original_id}", {**body, "version": "0"}
                )
                if reply.status == 201:
                    self._note_segment(network_id, original_id)
                    log.info(
                        "%s: flow %s: segment %s in %s", self.id, flow_id, original_id, network_id
                    )
                elif reply.status != 409:
                    log.warning(
                        "%s: PUT %s/flows/%s: %s", self.id, network_id, original_id, reply.body
                    )
                statuses.append(NONE)
                continue
            below = existing[original_id][1]
            if below.get("status") != TEARDOWN and not same_content(body, below):
                reply = await self.request(
                    network_id,
                    "PUT",
                    f"flows/{original_id}",
                    {**body, "version": below.get("version")},
                )
                if reply.status == 200 and isinstance(reply.body, dict):
                    below = reply.body
                    log.info("%s: segment %s of %s updated", self.id, original_id, network_id)
                elif reply.status != 409:
                    log.warning(
                        "%s: PUT %s/flows/%s: %s", self.id, network_id, original_id, reply.body
                    )
            seg_status = str(below.get("status"))
            statuses.append(seg_status)
            if seg_status == FAILED and reason is None:
                reason = failed_reason(below, original_id, network_id)
        target = target_status(str(flow.get("status")), statuses)
        await self._follow(flow, target, reason)

    async def _fail(
        self,
        flow: dict[str, Any],
        existing: dict[str, tuple[str, dict[str, Any]]],
        reason: str,
    ) -> None:
        flow_id = str(flow.get("flow_id"))
        self._failed.add(flow_id)
        for original_id, (network_id, below) in sorted(existing.items()):
            await self._delete_segment(network_id, original_id, below)
        await self._set_failed(flow, reason)

    async def _delete_segment(
        self, network_id: str, original_id: str, below: dict[str, Any]
    ) -> None:
        """Delete a segment once at rest or installed (never while it moves: a second
        DELETE of a flow tearing down removes it at once)."""
        if below.get("status") in (ESTABLISHING, TEARDOWN):
            return
        if await self._delete(network_id, f"flows/{original_id}"):
            log.info("%s: segment %s of %s deleted", self.id, original_id, network_id)
