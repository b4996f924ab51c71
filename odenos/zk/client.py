"""The ZooKeeper session of one daemon, as the rest of the project sees it.

Only the modules of :mod:`odenos.zk` import kazoo.  Everything here is called
on the daemon's asyncio loop and never blocks it: reads and writes use kazoo's
``*_async`` calls, settled on the loop through :class:`LoopBridge`; the few
kazoo calls that only exist as blocking ones (connect, the lock recipe) run in
a worker thread.

What is atomic: each single-node operation; nothing spans several nodes.
What happens when ZooKeeper is unreachable: an operation waits at most
``op_timeout`` seconds and then raises :class:`CoordinationUnavailable`; a
session that expires (``LOST``) takes every ephemeral node and lock of ours
with it, and the listeners registered with :meth:`add_state_listener` are told
so that they re-create what they own once the state is ``CONNECTED`` again.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import logging
import selectors
import time
import types
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kazoo.client import KazooClient
from kazoo.exceptions import (
    AuthFailedError,
    BadVersionError,
    ConnectionClosedError,
    ConnectionLoss,
    KazooException,
    NoAuthError,
    NodeExistsError,
    NoNodeError,
    NotEmptyError,
    OperationTimeoutError,
    RolledBackError,
    SessionExpiredError,
)
from kazoo.handlers.threading import KazooTimeoutError, SequentialThreadingHandler
from kazoo.handlers.utils import selector_select
from kazoo.protocol.states import KazooState
from kazoo.recipe.watchers import DataWatch

from odenos.errors import (
    CoordinationError,
    CoordinationUnavailable,
    NodeExists,
    NodeMissing,
    NodeVersionMismatch,
    PayloadTooLarge,
)
from odenos.metrics import ZK_OPERATION, ZK_SESSION_EVENTS
from odenos.zk import paths
from odenos.zk.acl import NO_ACL, AclPolicy
from odenos.zk.bridge import LoopBridge
from odenos.zk.gate import ConnectionStatus, Gate
from odenos.zk.persistent import PersistentWatches

log = logging.getLogger(__name__)


class ConnState(enum.Enum):
    """kazoo's connection states, reduced to the three a daemon reacts to."""

    CONNECTED = "connected"
    SUSPENDED = "suspended"  # connection lost, session may still live: act on no stale belief
    LOST = "lost"  # session expired or closed: our ephemerals and locks are gone


_STATES = {
    KazooState.CONNECTED: ConnState.CONNECTED,
    KazooState.SUSPENDED: ConnState.SUSPENDED,
    KazooState.LOST: ConnState.LOST,
}

StateListener = Callable[[ConnState], None]

#: (state, closing by our own hand) -> what the gate shows, and why.
_GATES = {
    (ConnState.CONNECTED, False): (Gate.UP, "connected"),
    (ConnState.CONNECTED, True): (Gate.UP, "connected"),
    (ConnState.SUSPENDED, False): (
        Gate.RECOVERING,
        "connection to ZooKeeper lost; the session may survive: acting on nothing until back",
    ),
    (ConnState.SUSPENDED, True): (Gate.DOWN, "closing"),
    (ConnState.LOST, False): (
        Gate.DOWN,
        "ZooKeeper session expired: our ephemeral nodes and locks are gone",
    ),
    (ConnState.LOST, True): (Gate.DOWN, "session closed"),
}


class RolledBack(CoordinationError):
    """An operation of a transaction that did not apply because another one failed."""

    code = "RolledBack"

    def __init__(self, path: str) -> None:
        super().__init__(f"{path}: rolled back with its transaction", path=path)


@dataclass(frozen=True)
class Op:
    """One operation of :meth:`Coordinator.transaction`: ``check`` (``path`` is at
    ``version``), ``create``, ``set`` (``version`` -1: any) or ``delete``."""

    kind: str
    path: str
    data: bytes = b""
    version: int = -1
    ephemeral: bool = False


@dataclass(frozen=True)
class NodeStat:
    """What we use of a znode's stat."""

    version: int
    ephemeral_owner: int
    mzxid: int
    czxid: int  # tells a node apart from an earlier one of the same path

    @classmethod
    def of(cls, stat: Any) -> NodeStat:
        return cls(
            version=stat.version,
            ephemeral_owner=stat.ephemeralOwner,
            mzxid=stat.mzxid,
            czxid=stat.czxid,
        )


def encode(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), sort_keys=True).encode()


#: The most a znode holds: ZooKeeper drops the connection of a client whose request passes
#: its limit (jute.maxbuffer, 1 MiB), failing its other requests with it.  Refused here first.
MAX_ZNODE_BYTES = 1_000_000


def _data(value: Any) -> bytes:
    """What is stored for ``value``: bytes as they are, anything else as JSON.  Raises
    :class:`PayloadTooLarge` past :data:`MAX_ZNODE_BYTES`."""
    data = value if isinstance(value, bytes) else (b"" if value is None else encode(value))
    if len(data) > MAX_ZNODE_BYTES:
        raise PayloadTooLarge(
            f"{len(data)} bytes to store in ZooKeeper, over the limit of {MAX_ZNODE_BYTES}",
            size=len(data),
            limit=MAX_ZNODE_BYTES,
        )
    return data


#: Bytes in one transaction, well below ZooKeeper's limit on a request (jute.maxbuffer, 1 MiB).
TRANSACTION_BYTES = 500_000


def chunked(ops: list[Op], limit: int = TRANSACTION_BYTES) -> list[list[Op]]:
    """``ops`` cut into transactions of at most ``limit`` bytes (roughly: data and paths)."""
    chunks: list[list[Op]] = []
    current: list[Op] = []
    size = 0
    for op in ops:
        weight = len(op.data) + len(op.path) + 64
        if current and size + weight > limit:
            chunks.append(current)
            current, size = [], 0
        current.append(op)
        size += weight
    if current:
        chunks.append(current)
    return chunks


def _present(result: Any, convert: Callable[[Any], Any]) -> Any:
    """A bulk result: converted, None for a missing node, raised for any other error."""
    if isinstance(result, NodeMissing):
        return None
    if isinstance(result, CoordinationError):
        raise result
    return convert(result)


def decode(data: bytes | None) -> Any:
    """Node data as JSON; empty or unreadable data is ``None`` (an operator may
    have written anything with zkCli)."""
    if not data:
        return None
    try:
        return json.loads(data)
    except ValueError:
        return None


class PollHandler(SequentialThreadingHandler):  # type: ignore[misc]
    """kazoo's threading handler, waiting with poll(2).

    Its default builds an epoll instance for every wait of the connection thread and
    closes it after (three system calls and a few Python objects each time).  Under
    load that thread waits once per request and reply, and it is what a manager
    resuming a thousand components waits on.  poll(2) costs one system call, and
    has no limit on descriptor numbers either.
    """

    def select(self, *args: Any, **kwargs: Any) -> Any:
        return selector_select(*args, selectors_module=_POLL_SELECTORS, **kwargs)


_POLL_SELECTORS = types.SimpleNamespace(
    DefaultSelector=selectors.PollSelector,
    EVENT_READ=selectors.EVENT_READ,
    EVENT_WRITE=selectors.EVENT_WRITE,
)


def translate(exc: BaseException, path: str) -> CoordinationError:
    """The one place where kazoo's exceptions become ours."""
    if isinstance(exc, NoNodeError):
        return NodeMissing(path)
    if isinstance(exc, NodeExistsError):
        return NodeExists(path)
    if isinstance(exc, BadVersionError):
        return NodeVersionMismatch(path)
    if isinstance(exc, NoAuthError | AuthFailedError):
        return CoordinationError(
            f"ZooKeeper refused access to {path} ({type(exc).__name__}): this daemon lacks "
            "the cluster's credentials; set zookeeper.auth to the file the other hosts use",
            path=path,
        )
    if isinstance(exc, NotEmptyError):
        return CoordinationError(f"znode {path} has children", path=path)
    if isinstance(
        exc,
        ConnectionLoss
        | SessionExpiredError
        | ConnectionClosedError
        | OperationTimeoutError
        | KazooTimeoutError
        | asyncio.TimeoutError,
    ):
        return CoordinationUnavailable(
            f"ZooKeeper unavailable during operation on {path}: {type(exc).__name__}", path=path
        )
    return CoordinationError(f"ZooKeeper error on {path}: {exc!r}", path=path)


class Coordinator:
    """One ZooKeeper session and the operations the daemons need on it.

    Create it on the loop that will use it.  ``connect_string`` is kazoo's
    ``host:port[,host:port...][/chroot]``.
    """

    def __init__(
        self,
        connect_string: str,
        session_timeout_ms: int,
        *,
        op_timeout: float | None = None,
        name: str = "odenos",
        status_file: Path | None = None,
        acl: AclPolicy = NO_ACL,
    ) -> None:
        self.connect_string = connect_string
        self.session_timeout = session_timeout_ms / 1000.0
        # While the session lives, kazoo keeps a request queued and sends it after a
        # reconnect: waiting longer than the session timeout lets most operations end
        # with their real outcome instead of "unknown".
        self.op_timeout = (
            op_timeout if op_timeout is not None else max(10.0, self.session_timeout + 2.0)
        )
        self.name = name
        self.acl = acl
        self.bridge = LoopBridge(asyncio.get_running_loop())
        self.kazoo = KazooClient(
            hosts=connect_string,
            handler=PollHandler(),
            auth_data=acl.auth_data,
            default_acl=acl.default_acl,
            timeout=self.session_timeout,
            connection_retry={"max_tries": -1, "delay": 0.1, "backoff": 2, "max_delay": 1.0},
            command_retry={"max_tries": 0},
        )
        self._state = ConnState.LOST
        self._listeners: list[StateListener] = []
        self._closing = False
        self._undo_tasks: set[asyncio.Task[None]] = set()
        self._connected = asyncio.Event()
        #: The gate and registration operators see (see :mod:`odenos.zk.gate`).
        self.status = ConnectionStatus(name, status_file)
        self.kazoo.add_listener(self._on_kazoo_state)
        #: Persistent recursive watches (ZooKeeper 3.6+), used by the caches.
        self.persistent = PersistentWatches(self.kazoo)

    # --- session -----------------------------------------------------------------------------

    @property
    def state(self) -> ConnState:
        return self._state

    @property
    def session_id(self) -> int:
        """Our session id (what ``stat.ephemeralOwner`` shows on our ephemerals); 0 if none."""
        cid = self.kazoo.client_id
        return int(cid[0]) if cid else 0

    async def wait_connected(self, timeout: float) -> bool:
        """Until the session is connected; False if it is not within ``timeout`` seconds."""
        if self._state == ConnState.CONNECTED:
            return True
        try:
            await asyncio.wait_for(self._connected.wait(), timeout)
        except TimeoutError:
            return False
        return True

    def add_state_listener(self, listener: StateListener) -> None:
        """``listener(state)`` is called on the loop at every state change."""
        self._listeners.append(listener)

    def _on_kazoo_state(self, state: KazooState) -> None:
        # kazoo's thread: hand over and return at once.
        self.bridge.signal(self._set_state, _STATES[state])

    def _set_state(self, state: ConnState) -> None:
        if state == self._state:
            return
        ZK_SESSION_EVENTS.labels("closed" if self._closing else state.value).inc()
        if state == ConnState.CONNECTED:
            log.info("%s: ZooKeeper connected (session 0x%x)", self.name, self.session_id)
            self.status.session = f"0x{self.session_id:x}"
        elif self._closing:
            log.info("%s: ZooKeeper session closed", self.name)
        else:
            log.warning("%s: ZooKeeper %s (was %s)", self.name, state.value, self._state.value)
        self._state = state
        if state == ConnState.CONNECTED:
            self._connected.set()
        else:
            self._connected.clear()
        self.status.set_gate(*_GATES[(state, self._closing)], expected=self._closing)
        for listener in list(self._listeners):
            listener(state)

    async def start(self, timeout: float = 30.0) -> None:
        """Connect, create the chroot if needed and the persistent parents.

        Raises :class:`CoordinationUnavailable` if no server answers within ``timeout``.
        """
        hosts, _, chroot = self.connect_string.partition("/")
        if chroot:
            await _ensure_chroot(hosts, "/" + chroot, timeout, self.acl)
        await _connect(self.kazoo, self.connect_string, timeout)
        self._set_state(ConnState.CONNECTED)
        for parent in paths.PERSISTENT_PARENTS:
            await self.ensure_path(parent)

    async def stop(self) -> None:
        """Close the session: the server deletes our ephemerals at once."""
        self._closing = True
        await asyncio.to_thread(self._stop_blocking)

    def _stop_blocking(self) -> None:
        try:
            self.kazoo.stop()
        finally:
            self.kazoo.close()

    # --- operations --------------------------------------------------------------------------

    async def _run(
        self,
        path: str,
        async_result: Any,
        late_success: Callable[[], Coroutine[Any, Any, None]] | None = None,
        *,
        operation: str,
    ) -> Any:
        """Await a kazoo result on the loop, at most ``op_timeout``.

        Raises the translated error.  A timed-out request may still be sent
        later (the session lives on): ``late_success``, if given, runs should it
        succeed after all, to undo it.
        """
        # A timer on the future itself, not asyncio.wait_for and shield: every ZooKeeper
        # operation goes through here, and those cost two more futures and a task each.
        fut = self.bridge.future_of(async_result)
        expired = False

        def expire() -> None:
            nonlocal expired
            if not fut.done():
                expired = True
                fut.set_exception(TimeoutError())

        timer = self.bridge.loop.call_later(self.op_timeout, expire)
        started = time.monotonic()
        try:
            return await fut
        except (TimeoutError, KazooException) as exc:
            if expired and late_success is not None:
                async_result.rawlink(
                    lambda result: self.bridge.signal(self._after_late, result, path, late_success)
                )
            raise translate(exc, path) from exc
        finally:
            timer.cancel()
            ZK_OPERATION.labels(operation).observe(time.monotonic() - started)

    def _after_late(
        self, result: Any, path: str, undo: Callable[[], Coroutine[Any, Any, None]]
    ) -> None:
        if not result.successful():
            return
        log.warning("%s: %s succeeded after it was reported failed; undoing it", self.name, path)
        task = asyncio.get_running_loop().create_task(undo())
        self._undo_tasks.add(task)
        task.add_done_callback(self._undo_tasks.discard)

    async def ensure_path(self, path: str) -> None:
        with contextlib.suppress(NodeExists):
            await self.create(path, None, makepath=True)

    async def create(
        self,
        path: str,
        value: Any,
        *,
        ephemeral: bool = False,
        sequence: bool = False,
        makepath: bool = False,
        undo_if_late: bool = False,
    ) -> str:
        """Create ``path`` with JSON ``value`` (``bytes`` are stored as they are); returns
        the path created.

        Raises :class:`NodeExists`, :class:`NodeMissing` (no parent) or
        :class:`CoordinationUnavailable`.  With ``undo_if_late``, a create that
        timed out (and was reported so) but happens after all is deleted again,
        so that the caller's "failed" stays true.
        """
        data = _data(value)
        result = self.kazoo.create_async(
            path,
            data,
            acl=self.acl.acl_for(path),
            ephemeral=ephemeral,
            sequence=sequence,
            makepath=makepath,
        )

        async def undo() -> None:
            try:
                await self.delete(path)
            except CoordinationError as err:
                log.error("%s: could not undo the late create of %s: %s", self.name, path, err)

        created: str = await self._run(
            path, result, undo if undo_if_late else None, operation="create"
        )
        return created

    async def _run_many(self, items: list[tuple[str, Any]], operation: str) -> list[Any]:
        """Await many kazoo results at once (one timeout for all): each a result or the
        translated error.  Cheaper per request than :meth:`_run` for bulk reads."""
        future = self.bridge.future_of_all([result for _, result in items])
        started = time.monotonic()
        try:
            results = await asyncio.wait_for(future, self.op_timeout)
        except TimeoutError as exc:
            raise translate(exc, items[0][0] if items else "/") from exc
        finally:
            ZK_OPERATION.labels(operation).observe(time.monotonic() - started)
        return [
            translate(r, path) if isinstance(r, BaseException) else r
            for (path, _), r in zip(items, results, strict=True)
        ]

    async def get_many(self, paths: list[str]) -> list[tuple[bytes, NodeStat] | None]:
        """The raw data and stat of each path (None where it does not exist), read with
        pipelined requests.  Raises :class:`CoordinationUnavailable`."""
        results = await self._run_many([(p, self.kazoo.get_async(p)) for p in paths], "get_many")
        return [_present(r, lambda r: (bytes(r[0] or b""), NodeStat.of(r[1]))) for r in results]

    async def delete_many(self, paths: list[str]) -> None:
        """Delete each path; one already gone is fine.  In transactions of many deletes
        (one write to ZooKeeper's log each, not one per node); a transaction that fails
        (a node went meanwhile) is done again one delete at a time.  Raises
        :class:`CoordinationUnavailable`."""
        for chunk in chunked([Op("delete", p) for p in paths]):
            if any(await self.transaction(chunk)):
                for op in chunk:
                    with contextlib.suppress(NodeMissing):
                        await self.delete(op.path)

    async def children_with_stat_many(
        self, paths: list[str]
    ) -> list[tuple[list[str], NodeStat] | None]:
        """The sorted child names and the stat of each path (None where it does not
        exist), pipelined.  Raises :class:`CoordinationUnavailable`."""
        results = await self._run_many(
            [(p, self.kazoo.get_children_async(p, include_data=True)) for p in paths],
            "children_many",
        )
        return [_present(r, lambda r: (sorted(r[0]), NodeStat.of(r[1]))) for r in results]

    async def children_many(self, paths: list[str]) -> list[list[str] | None]:
        """The sorted child names of each path (None where it does not exist), pipelined.
        Raises :class:`CoordinationUnavailable`."""
        results = await self._run_many(
            [(p, self.kazoo.get_children_async(p)) for p in paths], "children_many"
        )
        return [_present(r, sorted) for r in results]

    async def transaction(self, ops: list[Op]) -> list[CoordinationError | None]:
        """Apply ``ops`` atomically (ZooKeeper's multi): all of them, or none.  Returns,
        per op, None if it applied or the error that failed it (when one fails, the
        others are rolled back and reported :class:`CoordinationError` "rolled back").
        Raises :class:`CoordinationUnavailable` (the outcome is then not known)."""
        request = self.kazoo.transaction()
        for op in ops:
            if op.kind == "check":
                request.check(op.path, op.version)
            elif op.kind == "create":
                _data(op.data)  # the size check
                request.create(
                    op.path, op.data, acl=self.acl.acl_for(op.path), ephemeral=op.ephemeral
                )
            elif op.kind == "set":
                _data(op.data)  # the size check
                request.set_data(op.path, op.data, op.version)
            elif op.kind == "delete":
                request.delete(op.path, op.version)
            else:
                raise ValueError(f"unknown transaction op {op.kind!r}")
        results = await self._run(
            ops[0].path if ops else "/", request.commit_async(), operation="multi"
        )
        return [
            (RolledBack(op.path) if isinstance(r, RolledBackError) else translate(r, op.path))
            if isinstance(r, BaseException)
            else None
            for op, r in zip(ops, results, strict=True)
        ]

    async def create_with_stat(self, path: str, value: Any) -> NodeStat:
        """Create persistent ``path`` with ``value``; its stat (``czxid`` names this node
        apart from any later one of the same path).  Raises as :meth:`create`."""
        result = self.kazoo.create_async(
            path, _data(value), acl=self.acl.acl_for(path), include_data=True
        )
        _, stat = await self._run(path, result, operation="create")
        return NodeStat.of(stat)

    async def get_bytes(self, path: str) -> tuple[bytes, NodeStat]:
        """(raw data, stat).  Raises :class:`NodeMissing` or :class:`CoordinationUnavailable`."""
        data, stat = await self._run(path, self.kazoo.get_async(path), operation="get")
        return bytes(data or b""), NodeStat.of(stat)

    async def get(self, path: str) -> tuple[Any, NodeStat]:
        """(decoded JSON data, stat).  Raises :class:`NodeMissing` or
        :class:`CoordinationUnavailable`."""
        data, stat = await self._run(path, self.kazoo.get_async(path), operation="get")
        return decode(data), NodeStat.of(stat)

    async def set(self, path: str, value: Any, version: int = -1) -> NodeStat:
        """Replace the data (JSON ``value``, or ``bytes`` as they are).  Raises
        :class:`NodeMissing`, :class:`NodeVersionMismatch`
        (``version`` given and not current) or :class:`CoordinationUnavailable`."""
        stat = await self._run(
            path, self.kazoo.set_async(path, _data(value), version), operation="set"
        )
        return NodeStat.of(stat)

    async def delete(self, path: str, version: int = -1) -> None:
        """Raises :class:`NodeMissing`, :class:`NodeVersionMismatch`, :class:`CoordinationError`
        (children) or :class:`CoordinationUnavailable`.  A delete reported unavailable may
        still happen once the connection is back."""
        await self._run(path, self.kazoo.delete_async(path, version), operation="delete")

    async def secure(self, roots: tuple[str, ...]) -> int:
        """Give every node under ``roots`` (and the roots) the ACL the policy wants, where
        it has another (a tree created before credentials were configured); returns how
        many were changed.  The roots are set last, so a tree is walked only until it
        has been secured once."""
        if self.acl.credentials is None or not await self._needs_acl(list(roots)):
            return 0
        fix: list[str] = []
        level = list(roots)
        while level:
            fix += await self._needs_acl(level)
            children = await self.children_many(level)
            level = [
                f"{p.rstrip('/')}/{c}"
                for p, names in zip(level, children, strict=True)
                for c in names or []
            ]
        fix.reverse()  # deepest first, the roots last
        for start in range(0, len(fix), 1000):
            part = fix[start : start + 1000]
            await self._run_many(
                [(p, self.kazoo.set_acls_async(p, self.acl.acl_for(p))) for p in part],
                "set_acls",
            )
        return len(fix)

    async def _needs_acl(self, nodes: list[str]) -> list[str]:
        found = await self._run_many([(p, self.kazoo.get_acls_async(p)) for p in nodes], "get_acls")
        return [
            p
            for p, got in zip(nodes, found, strict=True)
            if not isinstance(got, BaseException) and list(got[0]) != self.acl.acl_for(p)
        ]

    async def watch_data(self, path: str, listener: Callable[[Any], None]) -> None:
        """``listener(data)`` on the loop now and at every change of ``path``'s data
        (decoded JSON; None while the node does not exist), for as long as the session
        lives on (kazoo's ``DataWatch`` sets the watch again after each event)."""

        def changed(data: bytes | None, stat: Any, event: Any = None) -> bool:
            # kazoo's thread: hand over and return.
            self.bridge.signal(listener, decode(data) if data is not None else None)
            return True

        # Its constructor reads the node at once (a blocking call): not on the loop.
        await asyncio.to_thread(DataWatch, self.kazoo, path, changed)

    async def delete_tree(self, path: str) -> None:
        """Delete ``path`` and everything below it (children first, each level pipelined);
        a node already gone is fine.  Raises :class:`CoordinationUnavailable`."""
        try:
            names = await self.children(path)
        except NodeMissing:
            return
        await asyncio.gather(*(self.delete_tree(f"{path}/{name}") for name in names))
        with contextlib.suppress(NodeMissing):
            await self.delete(path)

    async def children(self, path: str) -> list[str]:
        """Sorted child names.  Raises :class:`NodeMissing` or :class:`CoordinationUnavailable`."""
        names: list[str] = await self._run(
            path, self.kazoo.get_children_async(path), operation="children"
        )
        return sorted(names)

    async def exists(self, path: str) -> NodeStat | None:
        stat = await self._run(path, self.kazoo.exists_async(path), operation="exists")
        return None if stat is None else NodeStat.of(stat)

    async def owns(self, path: str) -> bool:
        """True if ``path`` is an ephemeral of our current session.

        Ownership is checked against the server, never remembered: after a
        session loss the node may be a stale one of our previous session.
        """
        stat = await self.exists(path)
        return stat is not None and stat.ephemeral_owner == self.session_id


async def _connect(client: KazooClient, where: str, timeout: float) -> None:
    """kazoo's ``start``, but cancellable: a daemon told to stop while ZooKeeper does not
    answer must not sit in a blocking connect until its timeout.  On failure or
    cancellation the client is stopped, so that it does not go on retrying."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    client.start_async()
    try:
        # Waiting for the connection, not polling ZooKeeper: kazoo connects in its thread.
        while not client.connected:
            if loop.time() > deadline:
                raise CoordinationUnavailable(
                    f"no ZooKeeper server answered at {where} within {timeout:g} s",
                    connect_string=where,
                )
            await asyncio.sleep(0.02)
    except BaseException:
        await asyncio.to_thread(_close, client)
        raise


def _close(client: KazooClient) -> None:
    try:
        client.stop()
    finally:
        client.close()


async def _ensure_chroot(hosts: str, chroot: str, timeout: float, acl: AclPolicy) -> None:
    """kazoo does not create the chroot: do it once with a chroot-less session."""
    client = KazooClient(hosts=hosts, auth_data=acl.auth_data, default_acl=acl.default_acl)
    await _connect(client, hosts, timeout)
    try:
        await asyncio.to_thread(client.ensure_path, chroot)
    finally:
        await asyncio.to_thread(_close, client)
