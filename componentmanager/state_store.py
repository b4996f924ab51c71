"""A component manager's store of its components' durable records (``/odenos/state``).

Layout: ``/odenos/state/<comp_id>`` with one child per record, named by its
percent-encoded key (:func:`odenos.zk.paths.state_record`): a resume lists a
root and reads its records, two pipelined rounds for all components at once.  A
root is created after its component's desired record, so a root older than the
record (a lower czxid) holds what an earlier component of the same id left
behind (a crash between a delete and the removal of its records): it is wiped
when the new one opens its records.  (The root's data names the record's czxid
for people reading the tree.)

Each write goes in a transaction that first checks the component's desired
record is at the version its instance was made at (its epoch): once the
component is moved to another manager, ZooKeeper refuses the old instance's
writes (fencing).

Writing is a group commit.  :meth:`StateStore.submit` only queues the new bytes
of a record (coalescing: only the latest value of a record is kept) and returns
a sequence number.  One writer task takes everything queued, sends it as
pipelined requests (one round trip for the whole batch, not one per record),
and then advances the *durable* mark; requests that wait in
:meth:`wait_durable` for their sequence number are answered then.  While a
batch is in flight, new writes queue for the next one.  A batch that meets a
lost connection is queued again (unless newer values replaced its records) and
retried until ZooKeeper is back: memory is the truth while the manager runs, and
the durable mark only moves once ZooKeeper holds everything up to it.

Used on the manager's loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from odenos.components.state import decode_record
from odenos.errors import CoordinationUnavailable, NodeExists, NodeMissing, ObjectUnavailable
from odenos.zk import paths
from odenos.zk.client import TRANSACTION_BYTES, Coordinator, Op, RolledBack, chunked, encode

log = logging.getLogger(__name__)

Record = tuple[str, str]  # (component id, key)

#: Retry delays for a batch that met a lost connection: first, cap (seconds).
RETRY_FIRST, RETRY_CAP = 0.05, 1.0


class StateStore:
    """Durable records of the components of one manager.

    ``durable_timeout``: how long :meth:`wait_durable` waits before it answers
    :class:`CoordinationUnavailable` (a request then answers 503).
    """

    def __init__(self, zk: Coordinator, *, durable_timeout: float, cm_id: str = "") -> None:
        self._zk = zk
        self._cm_id = cm_id
        self._epochs: dict[str, int] = {}  # comp_id -> version of its desired record
        self._fenced: set[str] = set()  # components whose writes ZooKeeper refused
        self._durable_timeout = durable_timeout
        self._pending: dict[Record, bytes | None] = {}
        self._seq = 0  # the last write submitted
        self._durable = 0  # every write up to this one is in ZooKeeper
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._known: set[Record] = set()  # records whose znode exists
        self._closed: set[str] = set()  # components whose records were dropped
        self._wake = asyncio.Event()
        self._writing = asyncio.Lock()
        self._released = asyncio.Event()  # cleared while held
        self._released.set()
        self._task: asyncio.Task[None] | None = None
        #: Batches written, records written, batches that had to be retried (for metrics).
        self.batches = 0
        self.writes = 0
        self.retries = 0

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        for _, fut in self._waiters:
            if not fut.done():
                fut.set_exception(CoordinationUnavailable("the component manager is stopping"))
        self._waiters.clear()

    @property
    def backlog(self) -> int:
        """Records not yet confirmed by ZooKeeper."""
        return len(self._pending) + (self._seq > self._durable)

    # --- StateSink ---------------------------------------------------------------------------

    def submit(self, component_id: str, key: str, data: bytes | None) -> int:
        if component_id in self._closed:
            return self._durable  # a finalized component's late write: its records are gone
        self._pending[(component_id, key)] = data
        self._seq += 1
        self._wake.set()
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())
        return self._seq

    async def wait_durable(self, seq: int, component_id: str | None = None) -> None:
        await self._wait(seq)
        if component_id is not None and component_id in self._fenced:
            raise ObjectUnavailable(
                component_id,
                "its records are another manager's now (it was moved): the write was refused",
                retry_after=1,
            )

    async def _wait(self, seq: int) -> None:
        if seq <= self._durable:
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((seq, fut))
        try:
            await asyncio.wait_for(asyncio.shield(fut), self._durable_timeout)
        except TimeoutError:
            raise CoordinationUnavailable(
                f"the write was not confirmed by ZooKeeper within {self._durable_timeout:g} s "
                "(it is kept in memory and written once ZooKeeper answers)"
            ) from None
        finally:
            if not fut.done():
                fut.cancel()
            with contextlib.suppress(ValueError):
                self._waiters.remove((seq, fut))

    async def flush_all(self) -> None:
        """Until everything submitted so far is durable (a graceful stop)."""
        await self._wait(self._seq)

    def hold(self) -> None:
        """Stop writing (our session was lost: until we are registered again, a component
        may have moved to another manager, whose records ours must not overwrite)."""
        if self._released.is_set():
            log.warning("state writes held until the manager is registered again")
        self._released.clear()

    def resume(self, ours: set[str]) -> None:
        """Write again, only for the components in ``ours``: what waited for the others
        (moved away meanwhile, never acknowledged) is dropped."""
        dropped = [r for r in self._pending if r[0] not in ours]
        for record in dropped:
            del self._pending[record]
        if dropped:
            log.warning(
                "%d unacknowledged record write(s) of components no longer here dropped",
                len(dropped),
            )
        if not self._released.is_set():
            self._released.set()
            self._wake.set()

    # --- the writer --------------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            delay = RETRY_FIRST
            while self._pending:
                await self._released.wait()
                batch, self._pending = self._pending, {}
                upto = self._seq
                async with self._writing:
                    again = await self._write(batch)
                if again:
                    self.retries += 1
                    for record, data in again.items():
                        self._pending.setdefault(record, data)  # a newer value wins
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, RETRY_CAP)
                    continue
                delay = RETRY_FIRST
                self._advance(upto)

    def _advance(self, upto: int) -> None:
        self._durable = max(self._durable, upto)
        for seq, fut in self._waiters:
            if seq <= self._durable and not fut.done():
                fut.set_result(None)

    async def _write(self, batch: dict[Record, bytes | None]) -> dict[Record, bytes | None]:
        """Send ``batch``, one transaction per component (pipelined across components);
        returns what must be sent again."""
        by_component: dict[str, dict[str, bytes | None]] = {}
        for (comp_id, key), data in batch.items():
            if comp_id not in self._closed:
                by_component.setdefault(comp_id, {})[key] = data
        results = await asyncio.gather(
            *(self._write_component(c, items) for c, items in by_component.items())
        )
        self.batches += 1
        self.writes += sum(len(items) for items in by_component.values())
        again: dict[Record, bytes | None] = {}
        for comp_id, failed in zip(by_component, results, strict=True):
            again.update({(comp_id, key): data for key, data in failed.items()})
        return again

    async def _write_component(
        self, comp_id: str, items: dict[str, bytes | None]
    ) -> dict[str, bytes | None]:
        """Write one component's records as transactions that first check its desired
        record is at the version we hold it at (its epoch): once another manager has it
        (a reassignment bumps the version), ZooKeeper refuses our writes.  Returns the
        records to send again."""
        pending = dict(items)
        for key in [k for k, d in items.items() if d is None and (comp_id, k) not in self._known]:
            del pending[key]  # deleting what was never written: nothing to do
        for chunk in self._chunks(comp_id, pending):
            try:
                errors = await self._zk.transaction([op for op, _ in chunk])
            except CoordinationUnavailable:
                return pending
            failed = next(
                (
                    (op, err)
                    for (op, _), err in zip(chunk, errors, strict=True)
                    if err is not None and not isinstance(err, RolledBack)
                ),
                None,
            )
            if failed is None:
                for applied, record_key in chunk:
                    self._applied(comp_id, applied, record_key)
                    if record_key is not None:
                        pending.pop(record_key, None)
                continue
            op, err = failed
            if op.kind == "check":
                if not await self._still_ours(comp_id):
                    return {}  # fenced: the component is another manager's now
            elif isinstance(err, NodeExists):
                self._mark_existing(comp_id, op.path)
            elif isinstance(err, NodeMissing):
                await self._mark_missing(comp_id, op.path)
            else:
                log.error("state of %s: %s; retrying", comp_id, err.message)
            return pending
        return pending

    def _chunks(
        self, comp_id: str, items: dict[str, bytes | None]
    ) -> list[list[tuple[Op, str | None]]]:
        """The ops for ``items``, cut into transactions below ZooKeeper's request limit,
        each beginning with the epoch check.  (op, record key or None for the check)."""
        check: list[tuple[Op, str | None]] = []
        epoch = self._epochs.get(comp_id)
        if epoch is not None:
            check.append((Op("check", paths.desired_component(comp_id), version=epoch), None))
        chunks: list[list[tuple[Op, str | None]]] = []
        current, size = list(check), 0
        for key, data in items.items():
            ops: list[tuple[Op, str | None]] = []
            path = paths.state_record(comp_id, key)
            if data is None:
                ops.append((Op("delete", path), key))
            elif (comp_id, key) in self._known:
                ops.append((Op("set", path, data), key))
            else:
                ops.append((Op("create", path, data), key))
            weight = sum(len(op.data) + len(op.path) + 64 for op, _ in ops)
            if size + weight > TRANSACTION_BYTES and len(current) > len(check):
                chunks.append(current)
                current, size = list(check), 0
            current += ops
            size += weight
        if len(current) > len(check):
            chunks.append(current)
        return chunks

    def _applied(self, comp_id: str, op: Op, key: str | None) -> None:
        if key is None:
            return
        if op.kind in ("create", "set"):
            self._known.add((comp_id, key))
        elif op.kind == "delete":
            self._known.discard((comp_id, key))

    def _mark_existing(self, comp_id: str, path: str) -> None:
        """A create met an existing record (a retried create whose answer was lost): it
        is set next time."""
        self._known.add((comp_id, paths.state_key_of(paths.basename(path))))

    async def _mark_missing(self, comp_id: str, path: str) -> None:
        """A set or delete met no record, or a create no root (someone removed it by
        hand): the record is created next time, under a root made again."""
        self._known.discard((comp_id, paths.state_key_of(paths.basename(path))))
        if paths.basename(path.rpartition("/")[0]) == comp_id:
            with contextlib.suppress(NodeExists):
                await self._zk.create(paths.state_root(comp_id), None, makepath=True)

    async def _still_ours(self, comp_id: str) -> bool:
        """The epoch check failed: is the record still ours (its version moved for another
        reason, a new restart policy, say)?  Then take the new version; else stop writing."""
        try:
            data, stat = await self._zk.get(paths.desired_component(comp_id))
        except NodeMissing:
            data, stat = None, None
        if isinstance(data, dict) and data.get("cm_id") == self._cm_id and stat is not None:
            self._epochs[comp_id] = stat.version
            return True
        log.warning(
            "state of %s: fenced (its record names %r now): its unwritten records are dropped",
            comp_id,
            data.get("cm_id") if isinstance(data, dict) else None,
        )
        self._closed.add(comp_id)
        self._fenced.add(comp_id)
        for record in [r for r in self._pending if r[0] == comp_id]:
            del self._pending[record]
        return False

    def set_epoch(self, comp_id: str, version: int | None) -> None:
        """The version of ``comp_id``'s desired record its instance here was made at."""
        if version is None:
            self._epochs.pop(comp_id, None)
        else:
            self._epochs[comp_id] = version

    # --- a component's records ---------------------------------------------------------------

    async def open(self, comp_id: str, generation: int | None) -> dict[str, Any]:
        """The records of component ``comp_id`` of this ``generation`` (the czxid of its
        desired record), read from ZooKeeper; records of an earlier component of that id
        are wiped first.  Raises :class:`CoordinationError`."""
        return (await self.open_many({comp_id: generation}))[comp_id]

    async def open_many(self, generations: dict[str, int | None]) -> dict[str, dict[str, Any]]:
        """:meth:`open` for many components at once, in a few pipelined rounds whatever
        their number (a manager resuming a thousand components).

        Which records are this component's: its root was created after its desired
        record (the first manager to open it creates it), so a root whose czxid is
        lower than the record's is an earlier component's (deleted, then created anew
        under the same id) and is wiped.  A reassignment keeps the record's czxid."""
        ids = sorted(generations)
        for comp_id in ids:
            self._closed.discard(comp_id)
            self._fenced.discard(comp_id)
        found: dict[str, dict[str, Any]] = {c: {} for c in ids}
        # Most opens are of new components, with no root yet: their roots are created at
        # once, in transactions (one request for hundreds).  A transaction that meets a
        # root (a resume, a move, an earlier component of that id) creates nothing, and
        # its components are read the careful way.
        creates = [
            Op("create", paths.state_root(c), encode({"generation": generations[c]})) for c in ids
        ]
        careful: list[str] = []
        for chunk in chunked(creates):
            if any(await self._zk.transaction(chunk)):
                careful += [paths.basename(op.path) for op in chunk]
        if careful:
            await self._open_existing(careful, generations, found)
        return found

    async def _open_existing(
        self,
        ids: list[str],
        generations: dict[str, int | None],
        found: dict[str, dict[str, Any]],
    ) -> None:
        roots = await self._zk.children_with_stat_many([paths.state_root(c) for c in ids])
        loading: list[tuple[str, list[str]]] = []
        fresh: list[str] = []
        for comp_id, root in zip(ids, roots, strict=True):
            generation = generations[comp_id]
            if root is not None and (generation is None or root[1].czxid > generation):
                loading.append((comp_id, root[0]))
                continue
            if root is not None:
                log.info("state of %s: records of an earlier component of that id wiped", comp_id)
                await self._wipe(comp_id)
            fresh.append(comp_id)
        await asyncio.gather(*(self._create_root(c, {"generation": generations[c]}) for c in fresh))
        record_paths = [
            (c, paths.state_record(c, paths.state_key_of(name)))
            for c, names in loading
            for name in names
        ]
        raw = await self._zk.get_many([p for _, p in record_paths])
        for (comp_id, path), got in zip(record_paths, raw, strict=True):
            if got is None:
                continue
            key = paths.state_key_of(paths.basename(path))
            try:
                found[comp_id][key] = decode_record(got[0])
            except ValueError as exc:
                log.error("state of %s: record %r unreadable, left out: %s", comp_id, key, exc)
                continue
            self._known.add((comp_id, key))

    async def _create_root(self, comp_id: str, meta: dict[str, Any]) -> None:
        with contextlib.suppress(NodeExists):
            await self._zk.create(paths.state_root(comp_id), meta)

    async def drop(self, comp_id: str) -> None:
        """Delete every record of ``comp_id`` (the component was deleted).  Writes still
        queued for it are discarded; later ones are ignored until it is opened again."""
        self._closed.add(comp_id)
        for record in [r for r in self._pending if r[0] == comp_id]:
            del self._pending[record]
        async with self._writing:
            await self._wipe(comp_id)

    async def _wipe(self, comp_id: str) -> None:
        self._known = {r for r in self._known if r[0] != comp_id}
        await self._zk.delete_tree(paths.state_root(comp_id))
