"""The Slicer's topology copy: the original's topology, put whole into every sliver.

After each ``NodeChanged``/``PortChanged``/``LinkChanged`` of the original, the
original's topology is read and put whole into every sliver (``PUT topology``,
which changes only what differs), so that every sliver shows the same node,
port and link ids.  Copies are paced, and every event that comes in a pause is
served by the one copy after it.
"""

from __future__ import annotations

import asyncio
import logging

from odenos.components.logic import NetworkAnswer, json_object
from odenos.components.slicer.core import SlicerCore

log = logging.getLogger(__name__)


class TopologyCopy(SlicerCore):
    """Copies of the original's topology into the slivers (see the module docstring)."""

    #: Topology copies: the pause before a copy is at least COPY_PAUSE_MIN seconds and
    #: COPY_PAUSE_FACTOR times the last copy's duration (at most COPY_PAUSE_CAP), so that
    #: copying takes a bounded share of the time however fast the original changes.
    COPY_PAUSE_MIN, COPY_PAUSE_FACTOR, COPY_PAUSE_CAP = 0.05, 2.0, 5.0

    def __init__(self, object_id: str, cm_id: str) -> None:
        super().__init__(object_id, cm_id)
        self._topology_task: asyncio.Task[None] | None = None
        self._topology_dirty = False
        self._copy_pause = self.COPY_PAUSE_MIN

    def _topology_changed(self) -> None:
        """Copy the original's topology to the slivers soon: one copy serves every event
        that comes before it starts."""
        self._topology_dirty = True
        if self._topology_task is None:
            self._topology_task = asyncio.get_running_loop().create_task(self._copy_topology())

    async def _copy_topology(self) -> None:
        """Copy while changes come, pausing before each copy.  A copy is whole (it reads
        and puts the entire topology), so one per event would make a topology built
        object by object cost the square of its size (200 nodes and 400 links put one
        by one: each of ~1,000 events copying up to 1,000 objects into every sliver).
        The pause grows with the copy's duration: every event in it is served by one
        copy, and copies take at most about a third of the time."""
        loop = asyncio.get_running_loop()
        try:
            while self._topology_dirty:
                await self._pause_before_copy()
                async with self._lock:
                    self._topology_dirty = False
                    if not self.ready:
                        return  # the build copies it
                    started = loop.time()
                    await self._push_topology(sorted(self.slivers.values()), strict=False)
                    took = loop.time() - started
                self._copy_pause = self.copy_pause_after(took)
        finally:
            self._topology_task = None

    async def _pause_before_copy(self) -> None:
        await asyncio.sleep(self._copy_pause)

    @classmethod
    def copy_pause_after(cls, took: float) -> float:
        """The pause before the next topology copy when the last one took ``took`` s."""
        return min(cls.COPY_PAUSE_CAP, max(cls.COPY_PAUSE_MIN, cls.COPY_PAUSE_FACTOR * took))

    async def _push_topology(self, slivers: list[str], strict: bool) -> None:
        """Put the original's topology into ``slivers``.  A failure raises NetworkAnswer
        when ``strict``, and is logged otherwise (the next change or build puts it right)."""
        orig = self._original()
        try:
            topology = json_object(await self._get(orig, "topology"), orig, "topology")
        except NetworkAnswer as exc:
            if strict:
                raise
            log.warning("%s: topology not copied: %s", self.id, exc)
            return
        body = {
            "type": "Topology",
            "nodes": topology.get("nodes") or {},
            "links": topology.get("links") or {},
        }
        for network_id in slivers:
            reply = await self.request(network_id, "PUT", "topology", body)
            if reply.status == 200:
                continue
            if strict:
                raise NetworkAnswer(network_id, "PUT topology", reply, str(reply.body))
            log.warning("%s: topology of %s not copied: %s", self.id, network_id, reply.body)
