"""Packets through the Federator: taken out of one network's queue, posted to another's.

:class:`PacketRelay` moves an InPacket of an original network up to the
federated network and an OutPacket of the federated network down to the
original networks; what goes where is :mod:`.packets`'s (pure) rule.
"""

from __future__ import annotations

import logging
from typing import Any

from odenos.components.federator.base import FederatorBase
from odenos.components.federator.packets import in_packet_up, out_packets_down
from odenos.components.logic import NetworkAnswer

log = logging.getLogger(__name__)


class PacketRelay(FederatorBase):
    """InPackets up, OutPackets down."""

    async def _take(self, network_id: str, queue: str, packet_id: str) -> dict[str, Any] | None:
        reply = await self.request(network_id, "DELETE", f"packets/{queue}/{packet_id}")
        if reply.status == 404:
            return None
        if reply.status != 200:
            raise NetworkAnswer(network_id, f"DELETE packets/{queue}/{packet_id}", reply, "")
        return reply.body if isinstance(reply.body, dict) else None

    async def _packet_up(self, network_id: str, packet_id: str) -> None:
        packet = await self._take(network_id, "in", packet_id)
        if packet is None:
            return
        up = in_packet_up(packet, network_id, self.model)
        if up is None:
            log.info(
                "%s: in-packet %s of %s dropped (boundary port)", self.id, packet_id, network_id
            )
            return
        await self._post(self._fed(), "in", up)

    async def _packet_down(self, packet_id: str) -> None:
        fed = self._fed()
        packet = await self._take(fed, "out", packet_id)
        if packet is None:
            return
        down = out_packets_down(packet, self.model)
        if not down:
            log.info(
                "%s: out-packet %s of %s names no node of ours: dropped", self.id, packet_id, fed
            )
        for network_id, each in down:
            await self._post(network_id, "out", each)
