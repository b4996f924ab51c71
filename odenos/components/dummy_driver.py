"""DummyDriver: pretends to be the switches below a network (reference section 7).

Connected to a network (``original:1``), it subscribes to the network's
``FlowChanged`` and drives each flow as a switch would acknowledge it:

* an enabled flow at ``none`` (added, or enabled again): ``establishing``, then
  ``established``;
* a flow at ``teardown`` (the network asks so when an established flow is
  deleted) or an ``established`` flow that was disabled: ``teardown``, then
  ``none`` (the network then forgets a deleted flow).

Every status change is a ``PUT flows/<id>`` on the network carrying the version
the driver saw, so a concurrent client change wins (409) and the driver acts on
the next event instead.  When connected it also drives the flows the network
already had.  A change the network could not take (its manager down: 503, 504)
is tried again, from the flow as then read, with a growing delay: no event would
come to finish a flow left ``establishing``, which it also takes on to
``established``.

It also "sends" each packet queued in the network's ``out`` queue
(``OutPacketAdded``): it takes it out of the queue, as ODENOS's DummyDriver did.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from odenos.components.base import Component
from odenos.model.event import Event

log = logging.getLogger(__name__)


class DummyDriver(Component):
    TYPE = "DummyDriver"
    SUPER_TYPE = "Driver"  # as ODENOS's drivers
    DESCRIPTION = "Pretends to be the switches: drives flows to established and back to none"
    CONNECTION_TYPES = {"original": "1"}

    #: Seconds before a change the network could not take is tried again: first, cap.
    RETRY_FIRST, RETRY_CAP = 0.5, 10.0

    def __init__(self, object_id: str, cm_id: str) -> None:
        super().__init__(object_id, cm_id)
        self.network_id: str | None = None
        #: Flows whose change the network could not take, each tried again by a task.
        self._retries: dict[str, asyncio.Task[None]] = {}

    async def on_connection_added(self, connection: dict[str, Any]) -> None:
        self.network_id = str(connection["network_id"])
        await self.subscribe(self.network_id, ["FlowChanged", "OutPacketAdded"])
        flows = await self.request(self.network_id, "GET", "flows")
        if flows.status == 200 and isinstance(flows.body, dict):
            for flow in flows.body.get("flows", {}).values():
                await self._drive(flow)

    async def on_connection_deleted(self, connection: dict[str, Any]) -> None:
        await self.unsubscribe(str(connection["network_id"]))
        self.network_id = None
        self._stop_retries()

    async def on_finalize(self) -> None:
        self._stop_retries()

    def _stop_retries(self) -> None:
        for task in self._retries.values():
            task.cancel()
        self._retries.clear()

    async def on_event(self, event: Event) -> None:
        if event.publisher_id != self.network_id:
            return
        if event.event_type == "OutPacketAdded":
            packet_id = event.body.get("id")
            if isinstance(packet_id, str) and packet_id:
                reply = await self.request(self.network_id, "DELETE", f"packets/out/{packet_id}")
                if reply.status == 200 and reply.body is not None:
                    log.info("%s: packet %s of %s sent", self.id, packet_id, self.network_id)
            return
        if event.event_type != "FlowChanged":
            return
        curr = event.body.get("curr")
        if event.body.get("action") in ("add", "update") and isinstance(curr, dict):
            await self._drive(curr)

    async def _drive(self, flow: dict[str, Any]) -> None:
        status, enabled = flow.get("status"), flow.get("enabled", True)
        if status == "none" and enabled:
            steps = ["establishing", "established"]
        elif status == "establishing" and enabled:
            steps = ["established"]  # left half-way (a step the network could not take)
        elif status == "teardown" or (status == "established" and not enabled):
            steps = ["teardown", "none"] if status == "established" else ["none"]
        else:
            return
        current: dict[str, Any] | None = flow
        for step in steps:
            if current is None:
                return
            current = await self._set_status(current, step)

    async def _set_status(self, flow: dict[str, Any], status: str) -> dict[str, Any] | None:
        """PUT the flow with ``status``; the flow as stored, or None if someone else changed
        it first (409) or it is gone: the next event tells what to do then."""
        assert self.network_id is not None
        flow_id = str(flow["flow_id"])
        reply = await self.request(
            self.network_id, "PUT", f"flows/{flow_id}", {**flow, "status": status}
        )
        if reply.status in (200, 201) and isinstance(reply.body, dict):
            log.info("%s: flow %s of %s is %s", self.id, flow_id, self.network_id, status)
            return reply.body
        if reply.status not in (404, 409):
            log.warning("%s: setting flow %s to %s: %s", self.id, flow_id, status, reply.body)
            if reply.status >= 500 and flow_id not in self._retries:
                task = asyncio.get_running_loop().create_task(self._retry(flow_id))
                self._retries[flow_id] = task
        return None

    async def _retry(self, flow_id: str) -> None:
        """Read flow ``flow_id`` again until the network answers, then drive it from there."""
        delay = self.RETRY_FIRST
        try:
            while self.network_id is not None:
                await asyncio.sleep(delay)
                reply = await self.request(self.network_id, "GET", f"flows/{flow_id}")
                if reply.status == 200 and isinstance(reply.body, dict):
                    del self._retries[flow_id]  # a failure while driving starts a new one
                    await self._drive(reply.body)
                    return
                if reply.status == 404:
                    break  # gone: nothing to drive
                delay = min(delay * 2, self.RETRY_CAP)
        except asyncio.CancelledError:
            raise
        self._retries.pop(flow_id, None)
