"""The layerized flows carried by the upper network.

Each layerized flow is put in the upper network under the same id
(:func:`~.translation.upper_flow`), and its status follows the upper flow's through the
network's status machine, as the Aggregator does (a layerized ``DELETE`` tears the upper
flow down first; a flow that cannot be carried goes ``failed`` with a ``reason``).  An
upper flow of that id that the LinkLayerizer did not make is never touched: the
layerized flow fails instead.  Durable: the flows it carries, which teardowns were its
own and which flows it failed.
"""

from __future__ import annotations

import logging
from typing import Any

from odenos.components.aggregator.translation import UntranslatableFlow, same_content
from odenos.components.linklayerizer.base import LinkLayerizerBase, _mapping, _message
from odenos.components.linklayerizer.translation import upper_flow
from odenos.components.logic import (
    ESTABLISHING,
    FAILED,
    NONE,
    TEARDOWN,
    NetworkAnswer,
    failed_reason,
)

log = logging.getLogger(__name__)


class FlowCarrying(LinkLayerizerBase):
    """Layerized flows -> upper flows, and the upper flows' status back."""

    async def _sync_flow_logged(self, flow_id: str) -> None:
        try:
            await self._sync_flow(flow_id)
        except NetworkAnswer as exc:
            log.warning("%s: flow %s not brought in line: %s", self.id, flow_id, exc)

    async def _sync_flow(self, flow_id: str) -> None:
        """Bring layerized flow ``flow_id`` and its upper flow in line (see the module
        docstring and the Aggregator's ``_sync_flow``, whose rules these are)."""
        upper, layer = self._pair()
        flow = await self._get(layer, f"flows/{flow_id}", missing=True)
        above = await self._get(upper, f"flows/{flow_id}", missing=True)
        if flow is not None and not isinstance(flow, dict):
            raise NetworkAnswer(layer, f"GET flows/{flow_id}", None)
        if above is not None and not isinstance(above, dict):
            raise NetworkAnswer(upper, f"GET flows/{flow_id}", None)
        if above is None:
            self.carried.discard(flow_id)  # gone (or its creation never happened)
        ours = flow_id in self.carried
        if flow is None:
            self._own_teardowns.discard(flow_id)
            self.failed.discard(flow_id)
            self.uses.pop(flow_id, None)
            if above is not None and ours:
                await self._delete_upper(flow_id, above)
            return
        if above is not None and not ours:
            await self._fail(flow, None, f"the upper network has a flow {flow_id!r} of its own")
            return
        status = flow.get("status")
        if status == TEARDOWN and flow_id not in self._own_teardowns:
            if above is None:
                await self._set_status(flow, NONE)
            else:
                await self._delete_upper(flow_id, above)
            return
        try:
            wanted = await self._translate(flow, upper, layer)
        except UntranslatableFlow as exc:
            await self._fail(flow, above, exc.reason)
            return
        self.failed.discard(flow_id)
        if above is None:
            if status != NONE and await self._follow(flow, NONE, None) is None:
                return
            self.carried.add(flow_id)
            self._save()
            await self.state.flush()
            reply = await self.request(upper, "PUT", f"flows/{flow_id}", {**wanted, "version": "0"})
            if reply.status == 201:
                log.info("%s: flow %s carried by %s", self.id, flow_id, upper)
            elif reply.status == 400:
                self.carried.discard(flow_id)
                await self._fail(flow, None, f"the upper network refused it: {_message(reply)}")
            elif reply.status != 409:
                log.warning("%s: PUT %s/flows/%s: %s", self.id, upper, flow_id, reply.body)
            return
        if above.get("type", "BasicFlow") != wanted.get("type", "BasicFlow"):
            await self._delete_upper(flow_id, above)
            return
        if above.get("status") != TEARDOWN and not same_content(wanted, above):
            reply = await self.request(
                upper, "PUT", f"flows/{flow_id}", {**wanted, "version": above.get("version")}
            )
            if reply.status != 200 or not isinstance(reply.body, dict):
                if reply.status == 400:
                    await self._fail(
                        flow, above, f"the upper network refused it: {_message(reply)}"
                    )
                elif reply.status != 409:
                    log.warning("%s: PUT %s/flows/%s: %s", self.id, upper, flow_id, reply.body)
                return
            above = reply.body
        target = str(above.get("status"))
        reason = failed_reason(above, flow_id, upper) if target == FAILED else None
        await self._follow(flow, target, reason)

    async def _translate(self, flow: dict[str, Any], upper: str, layer: str) -> dict[str, Any]:
        path = flow.get("path")
        flow_id = str(flow.get("flow_id"))
        if isinstance(path, list) and path:
            layer_links = _mapping(await self._get(layer, "topology/links"), layer)
            upper_links = _mapping(await self._get(upper, "topology/links"), upper)
        else:
            layer_links, upper_links = {}, {}
        used = {x for x in path if isinstance(x, str)} if isinstance(path, list) else set()
        self.uses[flow_id] = used
        wanted = upper_flow(flow, layer_links, upper_links, set(self.link_map.values()))
        self.uses[flow_id] = used | set(wanted["path"])
        return wanted

    async def _fail(self, flow: dict[str, Any], above: dict[str, Any] | None, reason: str) -> None:
        flow_id = str(flow.get("flow_id"))
        self.failed.add(flow_id)
        if above is not None and flow_id in self.carried:
            await self._delete_upper(flow_id, above)
        await self._set_failed(flow, reason)

    async def _delete_upper(self, flow_id: str, above: dict[str, Any]) -> None:
        """Delete the upper flow once at rest or installed (never while it moves)."""
        if above.get("status") in (ESTABLISHING, TEARDOWN):
            return
        upper, _ = self._pair()
        if await self._delete(upper, f"flows/{flow_id}"):
            log.info("%s: flow %s of %s deleted", self.id, flow_id, upper)
