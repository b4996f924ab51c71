"""The Slicer's flow synchronisation: each sliver flow carried in the original network.

A sliver's flow whose matches all fall within a slice condition of that
sliver's connection is carried in the original network as the same flow, named
as :mod:`~.naming` says (its body: :mod:`~.translation`); its status follows
the original's back through the network's status machine.  A flow outside its
slice goes ``failed`` with a ``reason`` attribute.  When conditions change, the
flows of the connections concerned are looked at again.

Flows, for a sliver flow ``F`` and its original flow ``O`` (as the
Aggregator's):

* ``F`` absent: ``O`` is deleted (once at rest or installed: never a second
  ``DELETE`` while ``O`` tears down, which the network takes as "remove at once").
* ``F`` at ``teardown`` that the Slicer did not set: the sliver's ``DELETE``
  of an installed flow.  ``O`` is deleted; once it is gone ``F`` is set
  ``none`` and the sliver forgets it.
* ``F`` outside its slice: ``O`` is deleted and ``F`` set ``failed`` with a reason.
* otherwise ``O`` is created (``F`` first brought to ``none`` if it was not)
  or updated to match ``F``, and ``F``'s status follows ``O``'s.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from odenos.components.aggregator.translation import same_content
from odenos.components.base import Response
from odenos.components.logic import (
    ESTABLISHING,
    FAILED,
    NONE,
    TEARDOWN,
    NetworkAnswer,
    failed_reason,
    flow_set,
)
from odenos.components.slicer.core import FlowRef, SlicerCore
from odenos.components.slicer.naming import flow_key, original_flow_id
from odenos.components.slicer.translation import original_body, slice_problem

log = logging.getLogger(__name__)


class FlowSync(SlicerCore):
    """Sliver flows and their original flows brought in line (see the module docstring)."""

    def __init__(self, object_id: str, cm_id: str) -> None:
        super().__init__(object_id, cm_id)
        self._recheck_task: asyncio.Task[None] | None = None
        self._recheck: set[str] = set()

    def _recheck_flows(self, connections: set[str]) -> None:
        """Look again, soon, at the flows of the slivers of ``connections`` (their
        conditions changed)."""
        self._recheck |= connections
        if self._recheck_task is None and self._recheck:
            self._recheck_task = asyncio.get_running_loop().create_task(self._recheck_loop())

    async def _recheck_loop(self) -> None:
        try:
            while self._recheck:
                async with self._lock:
                    connections, self._recheck = self._recheck, set()
                    if not self.ready:
                        return  # the build looks at every flow
                    for conn_id in sorted(connections):
                        network_id = self.slivers.get(conn_id)
                        if network_id is None:
                            continue
                        try:
                            flows = flow_set(await self._get(network_id, "flows"), network_id)
                        except NetworkAnswer as exc:
                            log.warning(
                                "%s: flows of %s not re-checked: %s", self.id, network_id, exc
                            )
                            continue
                        for flow_id in sorted(flows):
                            await self._sync_flow_logged((network_id, str(flow_id)))
                    self._save()
        finally:
            self._recheck_task = None

    async def _sync_flow_logged(self, ref: FlowRef) -> None:
        try:
            await self._sync_flow(ref)
        except NetworkAnswer as exc:
            log.warning("%s: flow %s not brought in line: %s", self.id, flow_key(*ref), exc)

    async def _sync_flow(self, ref: FlowRef) -> None:
        """Bring sliver flow ``ref`` and its original flow in line (see the module
        docstring), from their current state."""
        orig = self._original()
        network_id, flow_id = ref
        conn_id = self._connection_of(network_id)
        original_id = original_flow_id(self.id, network_id, flow_id)
        flow = await self._get(network_id, f"flows/{flow_id}", missing=True)
        below = await self._get(orig, f"flows/{original_id}", missing=True)
        if flow is not None and not isinstance(flow, dict):
            raise NetworkAnswer(network_id, f"GET flows/{flow_id}", None, "not a flow")
        if below is not None and not isinstance(below, dict):
            raise NetworkAnswer(orig, f"GET flows/{original_id}", None, "not a flow")
        self._note(ref, original_id, below)
        if flow is None or conn_id is None:
            self._own_teardowns.discard(ref)
            if below is not None:
                await self._delete_original(original_id, below)
            return
        status = flow.get("status")
        if status == TEARDOWN and ref not in self._own_teardowns:
            # The sliver's DELETE of an installed flow: take it down below, then report
            # none (the sliver then forgets it).
            if below is None:
                await self._set_status(flow, NONE, network_id=network_id)
            else:
                await self._delete_original(original_id, below)
            return
        problem = slice_problem(flow, self.table.of_connection(conn_id), conn_id)
        if problem is not None:
            if below is not None:
                await self._delete_original(original_id, below)
            await self._fail(network_id, flow, problem)
            return
        wanted = original_body(flow, original_id)
        if below is None:
            current: dict[str, Any] | None = flow
            if status != NONE:
                current = await self._follow(flow, NONE, None, network_id)
            if current is None:
                return
            body = {**wanted, "version": "0"}  # version 0: create, never overwrite
            reply = await self.request(orig, "PUT", f"flows/{original_id}", body)
            if reply.status == 201:
                self._note(ref, original_id, reply.body)
                log.info("%s: flow %s carried by %s/%s", self.id, flow_key(*ref), orig, original_id)
            elif reply.status == 400:
                await self._fail(network_id, current, _refusal(orig, reply))
            elif reply.status != 409:  # 409: it was just created: its event comes
                log.warning("%s: PUT %s/flows/%s: %s", self.id, orig, original_id, reply.body)
            return
        if below.get("type", "BasicFlow") != wanted.get("type", "BasicFlow"):
            # A flow cannot change type in place: the original goes first (its
            # deletion's event brings the new one).
            await self._delete_original(original_id, below)
            return
        if below.get("status") != TEARDOWN and not same_content(wanted, below):
            reply = await self.request(
                orig, "PUT", f"flows/{original_id}", {**wanted, "version": below.get("version")}
            )
            if reply.status == 400:
                await self._delete_original(original_id, below)
                await self._fail(network_id, flow, _refusal(orig, reply))
                return
            if reply.status != 200 or not isinstance(reply.body, dict):
                if reply.status != 409:  # 409: changed meanwhile: its event comes
                    log.warning("%s: PUT %s/flows/%s: %s", self.id, orig, original_id, reply.body)
                return
            below = reply.body
            log.info("%s: flow %s updated in %s/%s", self.id, flow_key(*ref), orig, original_id)
        target = str(below.get("status"))
        reason = failed_reason(below, original_id, orig) if target == FAILED else None
        await self._follow(flow, target, reason, network_id)

    def _note(self, ref: FlowRef, original_id: str, below: Any) -> None:
        if isinstance(below, dict):
            self._carried[ref] = original_id
        else:
            self._carried.pop(ref, None)

    async def _fail(self, network_id: str, flow: dict[str, Any], reason: str) -> None:
        await self._set_failed(flow, reason, network_id)

    async def _delete_original(self, original_id: str, below: dict[str, Any]) -> None:
        """Delete the original flow once it is at rest or installed.  While it moves
        (``establishing``, ``teardown``) a DELETE would be early or, for a removal
        already requested, remove it at once; its next change brings the Slicer back."""
        if below.get("status") in (ESTABLISHING, TEARDOWN):
            return
        orig = self._original()
        if await self._delete(orig, f"flows/{original_id}"):
            log.info("%s: flow %s of %s deleted", self.id, original_id, orig)


def _refusal(network_id: str, reply: Response) -> str:
    """The reason of a sliver flow whose original flow the original network refused."""
    message = reply.body.get("message") if isinstance(reply.body, dict) else None
    return f"the original network {network_id!r} refused it: {message or reply.body!r}"
