"""The Slicer's packets: InPackets up to a sliver, OutPackets down to the original.

An InPacket queued in the original goes to the sliver of the first condition
covering it (highest priority first), or is dropped; an OutPacket queued in a
sliver goes to the original when a condition of that same sliver covers it, or
is dropped (what covers what: :mod:`~.translation`).  The packets queued while
the Slicer was not there to see their events are handled once it is built.
"""

from __future__ import annotations

import logging
from typing import Any

from odenos.components.logic import NetworkAnswer, error_code, json_object
from odenos.components.slicer.core import SlicerCore
from odenos.components.slicer.translation import (
    in_packet_connection,
    out_packet_down,
    packet_without_id,
)

log = logging.getLogger(__name__)


class PacketRelay(SlicerCore):
    """Packets between the original and the slivers (see the module docstring)."""

    async def _drain_queues(self, slivers: list[str]) -> None:
        """Handle the packets queued while the Slicer was not there to see their events
        (its manager down, a network not answering): the OutPackets of ``slivers``, and
        the original's InPackets once every sliver it served is back (one not re-added
        yet would have its packets dropped).  Their events are gone, so without this
        they would stay queued for ever.  A failure is logged: ready all the same."""
        queues = [(network_id, "out") for network_id in slivers]
        if not set(self._known) - set(self.slivers):
            queues.insert(0, (self._original(), "in"))
        for network_id, queue in queues:
            try:
                status = json_object(
                    await self._get(network_id, f"packets/{queue}"), network_id, queue
                )
                ids = status.get(f"{queue}_packets")
                for packet_id in ids if isinstance(ids, list) else []:
                    if not isinstance(packet_id, str):
                        continue
                    if queue == "in":
                        await self._packet_in(packet_id)
                        continue
                    conn_id = self._connection_of(network_id)
                    if conn_id is not None:
                        await self._packet_out(conn_id, network_id, packet_id)
            except NetworkAnswer as exc:
                log.warning("%s: packets queued in %s left: %s", self.id, network_id, exc)

    async def _take(self, network_id: str, queue: str, packet_id: str) -> dict[str, Any] | None:
        """Take a packet out of a network's queue: the packet, or None if it is gone."""
        reply = await self.request(network_id, "DELETE", f"packets/{queue}/{packet_id}")
        if reply.status == 404 and error_code(reply) == "NotFound":
            return None
        if reply.status != 200:
            raise NetworkAnswer(network_id, f"DELETE packets/{queue}/{packet_id}", reply, "")
        return reply.body if isinstance(reply.body, dict) else None

    async def _packet_in(self, packet_id: str) -> None:
        orig = self._original()
        packet = await self._take(orig, "in", packet_id)
        if packet is None:
            return  # taken by someone else
        conn_id = in_packet_connection(packet, self.table)
        network_id = None if conn_id is None else self.slivers.get(conn_id)
        if network_id is None:
            log.info(
                "%s: in-packet %s of %s is in no connected slice (%s): dropped",
                self.id,
                packet_id,
                orig,
                conn_id or "no condition covers it",
            )
            return
        await self._post(network_id, "in", packet_without_id(packet))

    async def _packet_out(self, conn_id: str, network_id: str, packet_id: str) -> None:
        orig = self._original()
        packet = await self._take(network_id, "out", packet_id)
        if packet is None:
            return
        down = out_packet_down(packet, self.table, conn_id)
        if down is None:
            log.info(
                "%s: out-packet %s of %s is outside its slice: dropped",
                self.id,
                packet_id,
                network_id,
            )
            return
        await self._post(orig, "out", down)
