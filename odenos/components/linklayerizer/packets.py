"""Packets between the upper and the layerized network.

An InPacket queued in the upper network goes to the layerized network's ``in`` queue,
unless it came in at a port with a layerized link (traffic inside the network:
dropped); an OutPacket queued in the layerized network goes to the upper network's
``out`` queue.  Node and port ids are the same in both.
"""

from __future__ import annotations

import logging
from typing import Any

from odenos.components.linklayerizer.base import LinkLayerizerBase, _mapping
from odenos.components.logic import NetworkAnswer

log = logging.getLogger(__name__)


class PacketRelay(LinkLayerizerBase):
    """InPackets up, OutPackets down."""

    async def _packet_up(self, packet_id: str) -> None:
        upper, layer = self._pair()
        packet = await self._take(upper, "in", packet_id)
        if packet is None:
            return
        at = (packet.get("node"), packet.get("port"))
        for link in _mapping(await self._get(layer, "topology/links"), layer).values():
            if isinstance(link, dict) and at in (
                (link.get("src_node"), link.get("src_port")),
                (link.get("dst_node"), link.get("dst_port")),
            ):
                log.info("%s: in-packet %s came in at a linked port: dropped", self.id, packet_id)
                return
        await self._post(layer, "in", packet)

    async def _packet_down(self, packet_id: str) -> None:
        upper, layer = self._pair()
        packet = await self._take(layer, "out", packet_id)
        if packet is not None:
            await self._post(upper, "out", packet)

    async def _take(self, network: str, queue: str, packet_id: str) -> dict[str, Any] | None:
        reply = await self.request(network, "DELETE", f"packets/{queue}/{packet_id}")
        if reply.status == 404:
            return None
        if reply.status != 200:
            raise NetworkAnswer(network, f"DELETE packets/{queue}/{packet_id}", reply)
        return reply.body if isinstance(reply.body, dict) else None

    async def _post(self, network: str, queue: str, packet: dict[str, Any]) -> None:
        body = {k: v for k, v in packet.items() if k != "packet_id"}
        reply = await self.request(network, "POST", f"packets/{queue}", body)
        if reply.status not in (200, 201):
            log.warning("%s: POST %s/packets/%s: %s", self.id, network, queue, reply.body)
