"""The ZooKeeper layer against a real server: Coordinator, ChildrenCache, GlobalLock,
claim() and the routing decisions of ClusterView.

Every test runs in a chroot of its own.  Faults are real: a session is expired
on the server by a second client on the same session id and password (what
kazoo's test harness did), a connection is cut by a TCP proxy in between.
Nothing sleeps and hopes: every wait is on a condition with a deadline.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from kazoo.client import KazooClient
from kazoo.exceptions import KazooException, UnimplementedError

from odenos.cluster import ClusterView
from odenos.errors import (
    CoordinationError,
    CoordinationUnavailable,
    DuplicateDaemon,
    LockTimeout,
    NodeExists,
    NodeMissing,
    NodeVersionMismatch,
    ObjectNotFound,
    ObjectUnavailable,
)
from odenos.http.client import InternalClient
from odenos.zk import paths
from odenos.zk.cache import CachedNode, ChangeKind, ChildrenCache
from odenos.zk.client import ConnState, Coordinator
from odenos.zk.embedded import free_port
from odenos.zk.ephemeral import Prober, claim
from odenos.zk.lock import GlobalLock
from tests.support import SESSION_TIMEOUT_MS, TcpProxy, ZooKeeperServer

pytestmark = pytest.mark.timeout(60)

HOST = socket.gethostname()


# --- helpers ------------------------------------------------------------------------------------


async def eventually(
    condition: Callable[[], Any], timeout: float, what: str, interval: float = 0.01
) -> Any:
    """Poll ``condition`` (a plain or async callable) until it is truthy; fail naming
    ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(interval)


async def expire_session(zk_server: ZooKeeperServer, zk: Coordinator) -> None:
    """Expire ``zk``'s session on the server: a twin client on the same session id and
    password connects (the server drops the first connection) and then closes the session."""
    client_id = zk.kazoo.client_id

    def run() -> None:
        twin = KazooClient(hosts=zk_server.address, client_id=client_id)
        try:
            twin.start(10)
        finally:
            twin.stop()
            twin.close()

    await asyncio.to_thread(run)


def record_states(zk: Coordinator) -> list[ConnState]:
    """The states ``zk`` reports to its listeners from now on, in order."""
    states: list[ConnState] = []
    zk.add_state_listener(states.append)
    return states


def lost_then_connected(states: list[ConnState]) -> bool:
    """True once ``states`` holds a LOST followed, later, by a CONNECTED."""
    if ConnState.LOST not in states:
        return False
    return ConnState.CONNECTED in states[states.index(ConnState.LOST) :]


def dead_pid() -> int:
    """The pid of a process of ours that has exited and been reaped."""
    proc = subprocess.Popen(["true"])
    proc.wait(10)
    return proc.pid


@pytest.fixture
async def other(zk_server: ZooKeeperServer, chroot: str) -> AsyncIterator[Coordinator]:
    """A second daemon's session on the same chroot."""
    zk = Coordinator(zk_server.address + chroot, SESSION_TIMEOUT_MS, name="other")
    await zk.start()
    yield zk
    await zk.stop()


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    """A live process on this host (not us) whose pid a node can name."""
    proc = subprocess.Popen(["sleep", "60"])
    yield proc
    proc.kill()
    proc.wait(10)


@pytest.fixture
async def answering_address() -> AsyncIterator[str]:
    """The base URL of a real HTTP server that answers ``GET /``: a live twin."""

    async def root(request: web.Request) -> web.Response:
        return web.json_response({"alive": True})

    app = web.Application()
    app.router.add_get("/", root)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


# --- Coordinator --------------------------------------------------------------------------------


async def test_json_round_trip_create_get_set_children_delete(coordinator: Coordinator) -> None:
    """create/get/set/children/delete carry JSON values and report versions."""
    value = {"id": "n0", "nested": {"list": [1, 2, "three"], "none": None}, "ok": True}
    created = await coordinator.create("/things/n0", value, makepath=True)
    assert created == "/things/n0"
    await coordinator.create("/things/n1", ["a", "b"])
    await coordinator.create("/things/empty", None)

    data, stat = await coordinator.get("/things/n0")
    assert data == value and stat.version == 0 and stat.ephemeral_owner == 0
    assert (await coordinator.get("/things/empty"))[0] is None

    new_stat = await coordinator.set("/things/n0", {"id": "n0", "v": 2}, version=stat.version)
    assert new_stat.version == 1
    assert (await coordinator.get("/things/n0"))[0] == {"id": "n0", "v": 2}
    assert await coordinator.children("/things") == ["empty", "n0", "n1"]

    await coordinator.delete("/things/n0", version=1)
    assert await coordinator.exists("/things/n0") is None
    assert await coordinator.children("/things") == ["empty", "n1"]


async def test_sequential_create_returns_the_real_name(coordinator: Coordinator) -> None:
    """A sequential create answers the name the server chose, not the one asked for."""
    first = await coordinator.create("/seq/item-", 1, sequence=True, makepath=True)
    second = await coordinator.create("/seq/item-", 2, sequence=True)
    assert first.startswith("/seq/item-") and first != "/seq/item-"
    assert second > first
    assert await coordinator.children("/seq") == [paths.basename(first), paths.basename(second)]


async def test_kazoo_errors_are_translated(coordinator: Coordinator) -> None:
    """Missing node, existing node, stale version, non-empty delete: our errors, never kazoo's."""
    await coordinator.create("/a", {"v": 1})
    await coordinator.create("/a/child", None)
    zk = coordinator
    cases: list[tuple[type[CoordinationError], Callable[[], Awaitable[Any]]]] = [
        (NodeMissing, lambda: zk.get("/missing")),
        (NodeMissing, lambda: zk.set("/missing", 1)),
        (NodeMissing, lambda: zk.delete("/missing")),
        (NodeMissing, lambda: zk.children("/missing")),
        (NodeMissing, lambda: zk.create("/missing/child", 1)),
        (NodeExists, lambda: zk.create("/a", 2)),
        (NodeVersionMismatch, lambda: zk.set("/a", 2, version=7)),
        (NodeVersionMismatch, lambda: zk.delete("/a/child", version=3)),
        (CoordinationError, lambda: zk.delete("/a")),
    ]
    for expected, operation in cases:
        with pytest.raises(CoordinationError) as info:
            await operation()
        assert type(info.value) is expected, info.value
        assert not isinstance(info.value, KazooException)
        assert isinstance(info.value.__cause__, KazooException)
        assert info.value.details["path"].startswith("/")
    assert (await coordinator.get("/a"))[0] == {"v": 1}


async def test_persistent_parents_exist_after_start(coordinator: Coordinator) -> None:
    """start() creates every persistent parent of the tree."""
    expected = (
        "/system_manager",
        "/component_managers",
        "/components",
        "/odenos/components",
        "/odenos/connections",
        "/odenos/subscriptions",
        "/odenos/lock",
        "/odenos/state",
        "/odenos/election",
        "/odenos/approvals",
    )
    assert set(expected) == set(paths.PERSISTENT_PARENTS)
    for path in expected:
        stat = await coordinator.exists(path)
        assert stat is not None and stat.ephemeral_owner == 0, path


async def test_start_is_idempotent_on_an_existing_tree(
    zk_server: ZooKeeperServer, chroot: str, coordinator: Coordinator
) -> None:
    """A second daemon starting on a populated chroot neither fails nor touches the nodes."""
    await coordinator.create(paths.desired_component("n0"), {"id": "n0"})
    second = Coordinator(zk_server.address + chroot, SESSION_TIMEOUT_MS, name="second")
    await second.start(timeout=10)
    try:
        assert (await second.get(paths.desired_component("n0")))[0] == {"id": "n0"}
    finally:
        await second.stop()


async def test_missing_nested_chroot_is_created(zk_server: ZooKeeperServer, chroot: str) -> None:
    """kazoo does not create a chroot; start() does, however deep."""
    nested = f"{chroot}/deeper/still"
    zk = Coordinator(zk_server.address + nested, SESSION_TIMEOUT_MS, name="nested")
    await zk.start(timeout=10)
    try:
        assert await zk.exists(paths.COMPONENTS) is not None

        def seen_from_root() -> bool:
            raw = KazooClient(hosts=zk_server.address)
            raw.start(10)
            try:
                return raw.exists(nested + paths.COMPONENTS) is not None
            finally:
                raw.stop()
                raw.close()

        assert await asyncio.to_thread(seen_from_root)
    finally:
        await zk.stop()


async def test_owns_tells_our_ephemerals_from_others(
    coordinator: Coordinator, other: Coordinator
) -> None:
    """owns() is true only for an ephemeral of the current session."""
    await coordinator.create("/ours", {"by": "us"}, ephemeral=True)
    await other.create("/theirs", {"by": "them"}, ephemeral=True)
    await coordinator.create("/persistent", None)
    assert await coordinator.owns("/ours")
    assert not await coordinator.owns("/theirs")
    assert await other.owns("/theirs")
    assert not await other.owns("/ours")
    assert not await coordinator.owns("/persistent")
    assert not await coordinator.owns("/nowhere")
    assert coordinator.session_id != 0 and coordinator.session_id != other.session_id


@pytest.mark.parametrize("with_chroot", [False, True])
async def test_start_without_server_raises_unavailable_in_bound(with_chroot: bool) -> None:
    """No server on the port: start(timeout=1) raises CoordinationUnavailable, not later."""
    address = f"127.0.0.1:{free_port()}" + ("/some/chroot" if with_chroot else "")
    zk = Coordinator(address, SESSION_TIMEOUT_MS, name="nowhere")
    started = time.monotonic()
    with pytest.raises(CoordinationUnavailable) as info:
        await asyncio.wait_for(zk.start(timeout=1), 10)
    assert time.monotonic() - started < 5
    assert info.value.status == 503
    assert "127.0.0.1" in info.value.message


async def test_operation_after_stop_raises_unavailable(
    zk_server: ZooKeeperServer, chroot: str
) -> None:
    """A late operation on a closed session fails at once with CoordinationUnavailable."""
    zk = Coordinator(zk_server.address + chroot, SESSION_TIMEOUT_MS, name="closing")
    await zk.start(timeout=10)
    await zk.stop()
    started = time.monotonic()
    with pytest.raises(CoordinationUnavailable):
        await zk.get(paths.COMPONENTS)
    assert time.monotonic() - started < zk.op_timeout / 2


async def test_operation_on_cut_connection_raises_unavailable_within_op_timeout(
    proxy: TcpProxy, chroot: str
) -> None:
    """Connection cut: state goes SUSPENDED and an operation gives up after op_timeout
    with CoordinationUnavailable instead of hanging."""
    zk = Coordinator(f"127.0.0.1:{proxy.port}{chroot}", 4000, op_timeout=1.0, name="proxied")
    await zk.start(timeout=10)
    states = record_states(zk)
    try:
        await zk.create("/before", 1)
        proxy.cut()
        await eventually(lambda: ConnState.SUSPENDED in states, 5, "SUSPENDED after the cut")
        started = time.monotonic()
        with pytest.raises(CoordinationUnavailable):
            await zk.get("/before")
        assert time.monotonic() - started < zk.op_timeout + 2
    finally:
        await zk.stop()


# --- session expiry -----------------------------------------------------------------------------


async def test_session_expiry_reports_lost_then_connected_and_drops_ephemerals(
    zk_server: ZooKeeperServer, coordinator: Coordinator
) -> None:
    """An expired session: listeners see LOST then CONNECTED, our ephemerals are gone,
    persistent nodes stay, and we run on a new session id."""
    states = record_states(coordinator)
    await coordinator.create("/alive", {"pid": os.getpid()}, ephemeral=True)
    await coordinator.create("/kept", {"persistent": True})
    old_session = coordinator.session_id

    await expire_session(zk_server, coordinator)
    await eventually(lambda: lost_then_connected(states), 15, "LOST then CONNECTED")

    assert coordinator.state is ConnState.CONNECTED
    assert coordinator.session_id not in (0, old_session)
    assert await coordinator.exists("/alive") is None
    assert not await coordinator.owns("/alive")
    assert (await coordinator.get("/kept"))[0] == {"persistent": True}
    await coordinator.create("/alive", {"again": True}, ephemeral=True)
    assert await coordinator.owns("/alive")


# --- ChildrenCache ------------------------------------------------------------------------------


@dataclass
class Changes:
    """What a cache's listener was told, in order."""

    seen: list[tuple[str, str, Any]] = field(default_factory=list)

    def __call__(self, kind: str, name: str, node: CachedNode) -> None:
        self.seen.append((kind, name, node.data))


@pytest.fixture(params=["recursive", "one-shot"])
async def make_cache(
    request: pytest.FixtureRequest, coordinator: Coordinator
) -> AsyncIterator[Callable[..., Any]]:
    """Start ChildrenCaches on ``coordinator``; all closed at teardown.  Every test of the
    cache runs twice: with a persistent recursive watch (ZooKeeper 3.6+, the default) and
    with the one-shot watches it falls back to on an older server."""
    caches: list[ChildrenCache] = []

    async def start(path: str, zk: Coordinator = coordinator) -> ChildrenCache:
        cache = ChildrenCache(zk, path, recursive=request.param == "recursive")
        caches.append(cache)
        await cache.start(timeout=10)
        return cache

    yield start
    for cache in caches:
        cache.close()


async def test_cache_starts_with_existing_children_decoded(
    coordinator: Coordinator, make_cache: Callable[..., Any]
) -> None:
    """After start(), nodes holds every child with its JSON decoded; grandchildren and
    non-JSON data do not confuse it."""
    await coordinator.create("/parent/a", {"n": 1}, makepath=True)
    await coordinator.create("/parent/b", ["x"])
    await coordinator.create("/parent/b/grandchild", {"deep": True})
    await asyncio.to_thread(coordinator.kazoo.create, "/parent/raw", b"not json")

    cache: ChildrenCache = await make_cache("/parent")
    assert set(cache.nodes) == {"a", "b", "raw"}
    assert cache.nodes["a"].data == {"n": 1}
    assert cache.nodes["b"].data == ["x"]
    assert cache.nodes["raw"].data is None
    assert cache.get("grandchild") is None and cache.get("nope") is None
    assert cache.nodes["a"].stat.version == 0


async def test_cache_follows_another_client_in_order(
    coordinator: Coordinator, other: Coordinator, make_cache: Callable[..., Any]
) -> None:
    """add, update, remove by another session reach the listener in that order, and
    wait_for() returns True as soon as the predicate holds."""
    cache: ChildrenCache = await make_cache(paths.COMPONENT_MANAGERS)
    changes = Changes()
    cache.add_listener(changes)

    await other.create("/component_managers/romgr1", {"state": "initializing"})
    assert await cache.wait_for(lambda: cache.get("romgr1") is not None, 5)
    await other.set("/component_managers/romgr1", {"state": "running"})
    assert await cache.wait_for(
        lambda: (n := cache.get("romgr1")) is not None and n.data == {"state": "running"}, 5
    )
    await other.delete("/component_managers/romgr1")
    assert await cache.wait_for(lambda: "romgr1" not in cache.nodes, 5)

    assert changes.seen == [
        (ChangeKind.ADDED, "romgr1", {"state": "initializing"}),
        (ChangeKind.UPDATED, "romgr1", {"state": "running"}),
        (ChangeKind.REMOVED, "romgr1", {"state": "running"}),
    ]


async def test_cache_wait_for_times_out_with_false(make_cache: Callable[..., Any]) -> None:
    """wait_for() answers False at its deadline when the predicate never holds."""
    cache: ChildrenCache = await make_cache(paths.COMPONENTS)
    started = time.monotonic()
    assert not await cache.wait_for(lambda: "never" in cache.nodes, 0.3)
    assert 0.25 < time.monotonic() - started < 3


async def test_cache_listener_failure_does_not_stop_updates(
    other: Coordinator, make_cache: Callable[..., Any]
) -> None:
    """A listener that raises is logged; the cache and later listeners carry on."""
    cache: ChildrenCache = await make_cache(paths.COMPONENTS)

    def broken(kind: str, name: str, node: CachedNode) -> None:
        raise RuntimeError("listener bug")

    changes = Changes()
    cache.add_listener(broken)
    cache.add_listener(changes)
    await other.create("/components/romgr1:n0", {"state": "running"})
    assert await cache.wait_for(lambda: "romgr1:n0" in cache.nodes, 5)
    assert changes.seen == [(ChangeKind.ADDED, "romgr1:n0", {"state": "running"})]


async def test_cache_drops_ephemeral_of_another_expired_session(
    zk_server: ZooKeeperServer, other: Coordinator, make_cache: Callable[..., Any]
) -> None:
    """The ephemeral of a session that expires leaves the cache (watch-driven)."""
    cache: ChildrenCache = await make_cache(paths.COMPONENT_MANAGERS)
    await other.create("/component_managers/romgr2", {"state": "running"}, ephemeral=True)
    assert await cache.wait_for(lambda: "romgr2" in cache.nodes, 5)
    await expire_session(zk_server, other)
    assert await cache.wait_for(lambda: "romgr2" not in cache.nodes, 10)


async def test_cache_drops_own_ephemeral_after_own_session_expiry(
    zk_server: ZooKeeperServer, coordinator: Coordinator, make_cache: Callable[..., Any]
) -> None:
    """Our own session expires: the cache re-reads on the new session and forgets the
    ephemeral the server deleted, while it keeps following new changes."""
    states = record_states(coordinator)
    cache: ChildrenCache = await make_cache(paths.COMPONENTS)
    await coordinator.create("/components/romgr1:n0", {"state": "running"}, ephemeral=True)
    assert await cache.wait_for(lambda: "romgr1:n0" in cache.nodes, 5)

    await expire_session(zk_server, coordinator)
    assert await cache.wait_for(lambda: "romgr1:n0" not in cache.nodes, 10)
    await eventually(lambda: lost_then_connected(states), 10, "the new session")
    await coordinator.create("/components/romgr1:n1", {"state": "running"}, ephemeral=True)
    assert await cache.wait_for(lambda: "romgr1:n1" in cache.nodes, 5)


# --- GlobalLock ---------------------------------------------------------------------------------


@dataclass
class Occupancy:
    """Enter/exit times of the holders of a lock."""

    events: list[tuple[str, str, float]] = field(default_factory=list)

    def mark(self, who: str, what: str) -> None:
        self.events.append((who, what, time.monotonic()))

    def entered(self, who: str) -> bool:
        return any(w == who and e == "enter" for w, e, _ in self.events)

    def interval(self, who: str) -> tuple[float, float]:
        times = {e: t for w, e, t in self.events if w == who}
        return times["enter"], times["exit"]


async def hold_lock(
    zk: Coordinator, who: str, occupancy: Occupancy, release: asyncio.Event, timeout: float = 10
) -> None:
    """Hold the global lock from acquisition until ``release`` is set."""
    async with GlobalLock(zk, who, timeout):
        occupancy.mark(who, "enter")
        await release.wait()
        occupancy.mark(who, "exit")


async def contenders(zk: Coordinator) -> int:
    """How many lock nodes (holder and waiters) there are."""
    return len(await zk.children(paths.GLOBAL_LOCK))


async def _equals(value: Awaitable[int], expected: int) -> bool:
    return await value == expected


async def test_lock_second_contender_waits_for_release(
    coordinator: Coordinator, other: Coordinator
) -> None:
    """Two managers contend: the second gets the lock only after the first let it go."""
    occupancy = Occupancy()
    release_a, release_b = asyncio.Event(), asyncio.Event()
    task_a = asyncio.ensure_future(hold_lock(coordinator, "a", occupancy, release_a))
    await eventually(lambda: occupancy.entered("a"), 10, "a holding the lock")
    task_b = asyncio.ensure_future(hold_lock(other, "b", occupancy, release_b))
    await eventually(lambda: _equals(contenders(coordinator), 2), 10, "two contenders")
    assert not occupancy.entered("b")

    release_a.set()
    await asyncio.wait_for(task_a, 10)
    await eventually(lambda: occupancy.entered("b"), 10, "b holding the lock")
    release_b.set()
    await asyncio.wait_for(task_b, 10)

    a_enter, a_exit = occupancy.interval("a")
    b_enter, b_exit = occupancy.interval("b")
    assert a_enter <= a_exit <= b_enter <= b_exit
    assert await contenders(coordinator) == 0


async def test_lock_timeout_raises_lock_timeout(
    coordinator: Coordinator, other: Coordinator
) -> None:
    """A lock held elsewhere longer than our timeout: LockTimeout, and our contender
    node is cleaned up."""
    occupancy = Occupancy()
    release = asyncio.Event()
    holder = asyncio.ensure_future(hold_lock(coordinator, "holder", occupancy, release))
    await eventually(lambda: occupancy.entered("holder"), 10, "the holder")

    started = time.monotonic()
    with pytest.raises(LockTimeout) as info:
        async with GlobalLock(other, "late", 0.5):
            pytest.fail("acquired a lock that is held")
    assert 0.4 < time.monotonic() - started < 5
    assert info.value.status == 503 and info.value.details["path"] == paths.GLOBAL_LOCK
    assert await contenders(coordinator) == 1

    release.set()
    await asyncio.wait_for(holder, 10)


async def test_lock_freed_when_holder_session_expires(
    zk_server: ZooKeeperServer, coordinator: Coordinator, other: Coordinator
) -> None:
    """The holder's session expires: the server drops its lock node and the waiting
    contender gets the lock while the old holder still thinks it is inside."""
    occupancy = Occupancy()
    release_a, release_b = asyncio.Event(), asyncio.Event()
    states = record_states(coordinator)
    task_a = asyncio.ensure_future(hold_lock(coordinator, "a", occupancy, release_a))
    await eventually(lambda: occupancy.entered("a"), 10, "a holding the lock")
    task_b = asyncio.ensure_future(hold_lock(other, "b", occupancy, release_b, timeout=20))
    await eventually(lambda: _equals(contenders(other), 2), 10, "two contenders")

    await expire_session(zk_server, coordinator)
    await eventually(lambda: occupancy.entered("b"), 10, "b holding the lock after a's expiry")
    assert not task_a.done()

    # a's late release must neither fail nor take b's node.
    await eventually(lambda: lost_then_connected(states), 10, "a's LOST, then a new session")
    release_a.set()
    await asyncio.wait_for(task_a, 10)
    assert await contenders(other) == 1
    release_b.set()
    await asyncio.wait_for(task_b, 10)


async def test_lock_contender_cancelled_while_waiting_does_not_take_the_lock(
    coordinator: Coordinator, other: Coordinator
) -> None:
    """Cancelling ``async with GlobalLock`` while it waits (a daemon stopping) withdraws
    the bid: after the holder releases, a third contender gets the lock."""
    occupancy = Occupancy()
    release_a, release_b = asyncio.Event(), asyncio.Event()
    task_a = asyncio.ensure_future(hold_lock(coordinator, "a", occupancy, release_a))
    await eventually(lambda: occupancy.entered("a"), 10, "a holding the lock")
    task_b = asyncio.ensure_future(hold_lock(other, "b", occupancy, release_b, timeout=20))
    await eventually(lambda: _equals(contenders(other), 2), 10, "b waiting")

    task_b.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task_b
    release_a.set()
    await asyncio.wait_for(task_a, 10)
    try:
        async with GlobalLock(coordinator, "c", 3):
            pass
    finally:
        release_b.set()
    assert not occupancy.entered("b")


# --- claim() ------------------------------------------------------------------------------------


@pytest.fixture
async def answers() -> AsyncIterator[Prober]:
    """The prober the daemons use: their internal client's ``answers``."""
    client = InternalClient(5.0)
    yield client.answers
    await client.close()


async def never_probed(address: str) -> bool:
    raise AssertionError(f"the prober should not be needed here (asked about {address})")


def manager_data(address: str) -> dict[str, Any]:
    """What a component manager publishes about itself (this process)."""
    return {
        "id": "romgr1",
        "state": "initializing",
        "host": HOST,
        "pid": os.getpid(),
        "address": address,
    }


async def test_claim_creates_fresh_node(coordinator: Coordinator) -> None:
    """No node yet: claim() creates our ephemeral with our data."""
    path = paths.component_manager("romgr1")
    data = manager_data("http://127.0.0.1:1")
    await claim(coordinator, path, data, never_probed, "component manager romgr1")
    assert await coordinator.owns(path)
    assert (await coordinator.get(path))[0] == data


async def test_claim_rewrites_node_of_our_own_session(coordinator: Coordinator) -> None:
    """The node is already ours (a re-registration): its data is updated in place."""
    path = paths.component_manager("romgr1")
    await coordinator.create(path, {"state": "old"}, ephemeral=True)
    data = manager_data("http://127.0.0.1:1")
    await claim(coordinator, path, data, never_probed, "component manager romgr1")
    assert await coordinator.owns(path)
    assert (await coordinator.get(path))[0] == data


async def test_claim_replaces_stale_node_of_dead_process(
    coordinator: Coordinator, other: Coordinator, answering_address: str
) -> None:
    """A node of another session naming a dead pid on this host is stale: replaced,
    even though something answers at its address (the dead pid settles it)."""
    path = paths.component_manager("romgr1")
    stale = {"host": HOST, "pid": dead_pid(), "address": answering_address}
    await other.create(path, stale, ephemeral=True)
    data = manager_data("http://127.0.0.1:1")

    await claim(coordinator, path, data, never_probed, "component manager romgr1")
    assert await coordinator.owns(path)
    assert not await other.owns(path)
    assert (await coordinator.get(path))[0] == data


async def test_claim_replaces_node_of_our_previous_session(
    coordinator: Coordinator, other: Coordinator
) -> None:
    """A node of another session that names this very process (our session before a
    reconnect) is stale: replaced without asking anyone."""
    path = paths.system_manager("systemmanager")
    old = {"host": HOST, "pid": os.getpid(), "address": "http://127.0.0.1:1"}
    await other.create(path, old, ephemeral=True)
    data = {"id": "systemmanager", "host": HOST, "pid": os.getpid(), "address": "http://x:2"}
    await claim(coordinator, path, data, never_probed, "system manager")
    assert await coordinator.owns(path)
    assert (await coordinator.get(path))[0] == data


async def test_claim_refuses_live_twin(
    coordinator: Coordinator,
    other: Coordinator,
    sleeper: subprocess.Popen[bytes],
    answering_address: str,
    answers: Prober,
) -> None:
    """A node of a live process (running pid on this host, answering address):
    DuplicateDaemon naming it, and the twin's node is left alone."""
    path = paths.component_manager("romgr1")
    twin = {"host": HOST, "pid": sleeper.pid, "address": answering_address}
    await other.create(path, twin, ephemeral=True)

    with pytest.raises(DuplicateDaemon) as info:
        await claim(
            coordinator, path, manager_data("http://127.0.0.1:1"), answers, "component manager"
        )
    assert str(sleeper.pid) in info.value.message
    assert answering_address in info.value.message
    assert info.value.status == 409
    assert await other.owns(path)
    assert (await coordinator.get(path))[0] == twin


async def test_claim_replaces_live_pid_whose_address_is_silent(
    coordinator: Coordinator,
    other: Coordinator,
    sleeper: subprocess.Popen[bytes],
    answers: Prober,
) -> None:
    """A running pid whose address does not answer is taken for a reused pid: the
    address decides, the node is replaced."""
    path = paths.component_manager("romgr1")
    silent = f"http://127.0.0.1:{free_port()}"
    await other.create(path, {"host": HOST, "pid": sleeper.pid, "address": silent}, ephemeral=True)
    await claim(coordinator, path, manager_data("http://127.0.0.1:1"), answers, "romgr1")
    assert await coordinator.owns(path)


# --- ClusterView --------------------------------------------------------------------------------

SM_ADDRESS = "http://127.0.0.1:10001"
CM_ADDRESS = "http://127.0.0.1:10002"


async def write_tree(
    zk: Coordinator,
    manager: dict[str, Any] | None = None,
    live: dict[str, Any] | None = None,
) -> None:
    """The nodes of a small system: a system manager, romgr1 (if ``manager``), desired
    component n0 on romgr1, and its live ephemeral (if ``live``)."""
    await zk.create(
        paths.system_manager("systemmanager"), {"state": "running", "address": SM_ADDRESS}
    )
    if manager is not None:
        await zk.create(paths.component_manager("romgr1"), manager)
    await zk.create(
        paths.desired_component("n0"), {"id": "n0", "type": "Network", "cm_id": "romgr1"}
    )
    if live is not None:
        await zk.create(paths.live_component("romgr1", "n0"), live)


@pytest.fixture
async def make_view(coordinator: Coordinator) -> AsyncIterator[Callable[[], Any]]:
    """Start a ClusterView on the test's chroot (after the test wrote its nodes)."""
    views: list[ClusterView] = []

    async def start() -> ClusterView:
        view = ClusterView(coordinator, "systemmanager")
        views.append(view)
        await view.start()
        return view

    yield start
    for view in views:
        view.close()


RUNNING_MANAGER = {"state": "running", "address": CM_ADDRESS}


async def test_route_running_component_to_its_manager(
    coordinator: Coordinator, make_view: Callable[[], Any]
) -> None:
    """A running component on a running manager is routed to the manager's address;
    the managers themselves route to their own addresses."""
    await write_tree(coordinator, RUNNING_MANAGER, {"state": "running"})
    view: ClusterView = await make_view()

    target = view.route("n0")
    assert (target.object_id, target.kind, target.address, target.cm_id) == (
        "n0",
        "component",
        CM_ADDRESS,
        "romgr1",
    )
    assert view.component_status("n0") == ("running", None)
    assert view.route("romgr1").address == CM_ADDRESS
    assert view.route("romgr1").kind == "component_manager"
    sm = view.route("systemmanager")
    assert (sm.kind, sm.address) == ("system_manager", SM_ADDRESS)


async def test_route_unknown_id_is_not_found(
    coordinator: Coordinator, make_view: Callable[[], Any]
) -> None:
    """An id no node names is ObjectNotFound (404), for routing and for status."""
    await write_tree(coordinator, RUNNING_MANAGER, {"state": "running"})
    view: ClusterView = await make_view()
    with pytest.raises(ObjectNotFound) as info:
        view.route("nobody")
    assert info.value.status == 404 and info.value.object_id == "nobody"
    with pytest.raises(ObjectNotFound):
        view.component_status("nobody")


async def test_route_manager_absent_is_unavailable(
    coordinator: Coordinator, make_view: Callable[[], Any]
) -> None:
    """The component's manager has no ephemeral: 503 naming the manager as not alive;
    the manager id itself, still named by desired components, is 503 too, not 404."""
    await write_tree(coordinator, manager=None)
    view: ClusterView = await make_view()
    with pytest.raises(ObjectUnavailable) as info:
        view.route("n0")
    assert info.value.status == 503
    assert info.value.object_id == "n0"
    assert "romgr1" in info.value.reason and "not alive" in info.value.reason
    assert view.component_status("n0") == ("error", "component manager 'romgr1' is not alive")
    with pytest.raises(ObjectUnavailable) as cm_info:
        view.route("romgr1")
    assert "not alive" in cm_info.value.reason


async def test_route_manager_absent_hints_short_retry(
    coordinator: Coordinator, make_view: Callable[[], Any]
) -> None:
    """Per the comment at the refusal: a manager that is away may be back soon (1 s)."""
    await write_tree(coordinator, manager=None)
    view: ClusterView = await make_view()
    with pytest.raises(ObjectUnavailable) as info:
        view.route("n0")
    assert info.value.retry_after == 1


async def test_route_manager_initializing_is_unavailable(
    coordinator: Coordinator, make_view: Callable[[], Any]
) -> None:
    """A manager that is (re)starting: its components and itself are 503 with a
    reason naming the manager's state, and a short retry hint."""
    await write_tree(
        coordinator, {"state": "initializing", "address": CM_ADDRESS}, {"state": "running"}
    )
    view: ClusterView = await make_view()
    with pytest.raises(ObjectUnavailable) as info:
        view.route("n0")
    assert info.value.reason == (
        "component manager 'romgr1' is restarting: resuming its components' state"
    )
    assert info.value.retry_after == 1
    assert view.component_status("n0") == ("running", info.value.reason)
    with pytest.raises(ObjectUnavailable) as cm_info:
        view.route("romgr1")
    assert "restarting" in cm_info.value.reason


async def test_route_failed_component_is_unavailable(
    coordinator: Coordinator, make_view: Callable[[], Any]
) -> None:
    """A component whose ephemeral says ``error``: 503 with its error as the reason."""
    await write_tree(coordinator, RUNNING_MANAGER, {"state": "error", "error": "init failed: x"})
    view: ClusterView = await make_view()
    with pytest.raises(ObjectUnavailable) as info:
        view.route("n0")
    assert info.value.status == 503
    assert info.value.reason == "init failed: x"
    assert view.component_status("n0") == ("error", "init failed: x")


async def test_route_component_not_yet_created_is_unavailable(
    coordinator: Coordinator, make_view: Callable[[], Any]
) -> None:
    """Desired and its manager running, but no ephemeral yet: 503 ``initializing``."""
    await write_tree(coordinator, RUNNING_MANAGER, live=None)
    view: ClusterView = await make_view()
    with pytest.raises(ObjectUnavailable) as info:
        view.route("n0")
    assert view.component_status("n0")[0] == "initializing"
    assert "not yet created" in info.value.reason


async def test_route_follows_changes_of_the_tree(
    coordinator: Coordinator, make_view: Callable[[], Any]
) -> None:
    """Routing is decided from the caches: once the manager's node goes, the next
    route() refuses; when it is back running, routing resumes."""
    await write_tree(coordinator, RUNNING_MANAGER, {"state": "running"})
    view: ClusterView = await make_view()
    assert view.route("n0").address == CM_ADDRESS

    await coordinator.delete(paths.component_manager("romgr1"))
    assert await view.managers.wait_for(lambda: view.manager("romgr1") is None, 5)
    with pytest.raises(ObjectUnavailable):
        view.route("n0")

    await coordinator.create(paths.component_manager("romgr1"), RUNNING_MANAGER)
    assert await view.managers.wait_for(lambda: view.manager("romgr1") is not None, 5)
    assert view.route("n0").address == CM_ADDRESS


async def test_route_system_manager_absent_is_unavailable(make_view: Callable[[], Any]) -> None:
    """No system manager ephemeral: its id is 503, not 404."""
    view: ClusterView = await make_view()
    with pytest.raises(ObjectUnavailable) as info:
        view.route("systemmanager")
    assert "system manager" in info.value.reason


async def test_a_create_reported_failed_is_undone_if_it_happens_late(
    coordinator: Coordinator, chroot: str, proxy: TcpProxy
) -> None:
    """The network stalls: the create times out and is reported unavailable, but kazoo
    sends it when the network flows again.  The Coordinator deletes it then, so that
    the "failed" the caller was told stays true.  The parent's cversion counts the
    create and the delete: it happened, and was undone."""

    async def cversion() -> int:
        stat = await asyncio.to_thread(coordinator.kazoo.exists, paths.DESIRED_COMPONENTS)
        return int(stat.cversion)

    before = await cversion()
    late = Coordinator(f"127.0.0.1:{proxy.port}{chroot}", SESSION_TIMEOUT_MS, op_timeout=0.3)
    await late.start()
    try:
        proxy.pause()
        with pytest.raises(CoordinationUnavailable):
            await late.create(paths.desired_component("ghost"), {"id": "ghost"}, undo_if_late=True)
        proxy.resume()
        deadline = time.monotonic() + 10
        while await cversion() < before + 2:
            assert time.monotonic() < deadline, "the late create was not undone"
            await asyncio.sleep(0.05)
        assert await cversion() == before + 2
        assert await coordinator.exists(paths.desired_component("ghost")) is None
    finally:
        proxy.resume()
        await late.stop()


async def test_cache_lists_its_parent_once_per_round_under_a_burst(
    coordinator: Coordinator, other: Coordinator, make_cache: Callable[..., Any]
) -> None:
    """500 children created at once by another session reach the cache in a few rounds:
    every child is read once and reported ADDED once; the parent is listed far fewer
    times than there were creations (one-shot watches), or not at all (recursive)."""
    cache: ChildrenCache = await make_cache("/burst")
    changes = Changes()
    cache.add_listener(changes)
    calls = {"get_children": 0, "get": 0}
    kazoo = coordinator.kazoo
    real = {name: getattr(kazoo, f"{name}_async") for name in calls}

    def counting(name: str) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            calls[name] += 1
            return real[name](*args, **kwargs)

        return call

    for name in calls:
        setattr(kazoo, f"{name}_async", counting(name))
    try:
        results = [other.kazoo.create_async(f"/burst/c{i:03d}", b'{"i": 1}') for i in range(500)]
        await asyncio.to_thread(lambda: [r.get(10) for r in results])
        assert await cache.wait_for(lambda: len(cache.nodes) == 500, 10)
    finally:
        for name in calls:
            setattr(kazoo, f"{name}_async", real[name])
    assert calls["get"] == 500
    assert calls["get_children"] < (1 if cache.recursive else 100), calls
    assert sorted(name for _, name, _ in changes.seen) == [f"c{i:03d}" for i in range(500)]


async def test_cache_watches_children_not_grandchildren(
    coordinator: Coordinator, make_cache: Callable[..., Any]
) -> None:
    """One-shot: one data watch per child and one child watch on the parent: ZooKeeper's
    watch count grows by one per child, and grandchildren add none.  Recursive: one watch,
    whatever the number of children (the server counts it twice: it keeps it among both
    its data and its child watches)."""

    def watches() -> int:
        mntr = coordinator.kazoo.command(b"mntr")
        return int(next(line for line in mntr.splitlines() if "zk_watch_count" in line).split()[1])

    for i in range(20):
        await coordinator.create(f"/watched/c{i}/grandchild", {"i": i}, makepath=True)
    before = await asyncio.to_thread(watches)
    cache: ChildrenCache = await make_cache("/watched")
    assert len(cache.nodes) == 20
    assert await asyncio.to_thread(watches) - before == (2 if cache.recursive else 21)


async def test_cache_falls_back_to_one_shot_watches_on_a_server_before_3_6(
    coordinator: Coordinator, other: Coordinator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server that answers addWatch with UnimplementedError (ZooKeeper 3.5): the cache
    says so once, and follows creations, changes and deletions with one-shot watches."""

    def unimplemented(path: str, watcher: Any) -> Any:
        result = coordinator.kazoo.handler.async_result()
        result.set_exception(UnimplementedError())
        return result

    monkeypatch.setattr(coordinator.persistent, "add_async", unimplemented)
    await other.create("/old/a", {"v": 1}, makepath=True)
    cache = ChildrenCache(coordinator, "/old")
    try:
        await cache.start(10)
        assert not cache.recursive and set(cache.nodes) == {"a"}
        await other.create("/old/b", {"v": 1})
        await other.set("/old/a", {"v": 2})
        assert await cache.wait_for(
            lambda: "b" in cache.nodes and cache.nodes["a"].data == {"v": 2}, 5
        )
        await other.delete("/old/a")
        assert await cache.wait_for(lambda: set(cache.nodes) == {"b"}, 5)
    finally:
        cache.close()


async def test_cache_follows_delete_and_recreate_during_its_reads(
    other: Coordinator, make_cache: Callable[..., Any]
) -> None:
    """Children deleted and created anew, many times and at once, while the cache is busy
    reading: it ends with exactly what ZooKeeper has, each node's latest data."""
    cache: ChildrenCache = await make_cache("/churn")
    for round_ in range(5):
        ops = []
        for i in range(100):
            path = f"/churn/c{i:03d}"
            if round_:
                ops.append(other.kazoo.delete_async(path))
            ops.append(other.kazoo.create_async(path, f'{{"round": {round_}}}'.encode()))
        await asyncio.to_thread(lambda ops=ops: [op.get(10) for op in ops])
    assert await cache.wait_for(
        lambda: (
            len(cache.nodes) == 100
            and all(node.data == {"round": 4} for node in cache.nodes.values())
        ),
        10,
    )
    for i in range(0, 100, 2):
        await other.delete(f"/churn/c{i:03d}")
    assert await cache.wait_for(lambda: len(cache.nodes) == 50, 10)
    assert sorted(cache.nodes) == [f"c{i:03d}" for i in range(1, 100, 2)]


async def test_cache_reports_what_changed_while_it_was_disconnected(
    zk_server: ZooKeeperServer, chroot: str, other: Coordinator
) -> None:
    """Through a proxy that is cut, then lets reconnects through: what another session
    added, changed and removed meanwhile is reported after the reconnect, as ADDED,
    UPDATED and REMOVED."""
    host, port = zk_server.address.split(":")
    proxy = TcpProxy(host, int(port))
    await proxy.start()
    zk = Coordinator(f"127.0.0.1:{proxy.port}{chroot}", SESSION_TIMEOUT_MS, name="cut")
    await zk.start()
    cache = ChildrenCache(zk, "/cut")
    try:
        await other.create("/cut/stays", {"v": 1}, makepath=True)
        await other.create("/cut/goes", {"v": 1})
        await cache.start(10)
        changes = Changes()
        cache.add_listener(changes)
        proxy.cut()
        await eventually(lambda: zk.state != ConnState.CONNECTED, 5, "the disconnection")
        await other.set("/cut/stays", {"v": 2})
        await other.delete("/cut/goes")
        await other.create("/cut/new", {"v": 1})
        proxy.is_cut = False  # reconnects go through again, on the same session
        assert await cache.wait_for(
            lambda: set(cache.nodes) == {"stays", "new"} and cache.nodes["stays"].data == {"v": 2},
            15,
        )
        assert sorted(changes.seen) == sorted(
            [
                (ChangeKind.UPDATED, "stays", {"v": 2}),
                (ChangeKind.REMOVED, "goes", {"v": 1}),
                (ChangeKind.ADDED, "new", {"v": 1}),
            ]
        )
        # The server forgot the connection's watches: the cache set its watch again.
        await other.create("/cut/after", {"v": 1})
        assert await cache.wait_for(lambda: "after" in cache.nodes, 5)
    finally:
        cache.close()
        await zk.stop()
        await proxy.close()


async def test_view_knows_which_components_each_manager_has(
    coordinator: Coordinator, other: Coordinator, make_view: Callable[[], Any]
) -> None:
    """owned_by/load_of/named_manager_ids follow creations, a move to another manager and
    deletions, as the desired records change; a node that is no JSON object counts for none."""
    for comp_id, cm_id in (("a", "romgr1"), ("b", "romgr1"), ("c", "romgr2")):
        await coordinator.create(
            paths.desired_component(comp_id), {"id": comp_id, "type": "Network", "cm_id": cm_id}
        )
    await asyncio.to_thread(coordinator.kazoo.create, paths.desired_component("junk"), b"not json")
    view: ClusterView = await make_view()
    assert view.owned_by("romgr1") == ["a", "b"] and view.load_of("romgr2") == 1
    assert view.named_manager_ids() == {"romgr1", "romgr2"}

    await other.set(paths.desired_component("b"), {"id": "b", "type": "Network", "cm_id": "romgr2"})
    await other.delete(paths.desired_component("c"))
    await other.create(
        paths.desired_component("d"), {"id": "d", "type": "Network", "cm_id": "romgr3"}
    )
    assert await view.wait_for(
        lambda: view.owned_by("romgr2") == ["b"] and view.owned_by("romgr3") == ["d"], 5
    )
    assert view.owned_by("romgr1") == ["a"] and view.load_of("nobody") == 0
    assert view.named_manager_ids() == {"romgr1", "romgr2", "romgr3"}
    await other.delete(paths.desired_component("a"))
    assert await view.wait_for(lambda: view.named_manager_ids() == {"romgr2", "romgr3"}, 5)
    with pytest.raises(ObjectNotFound):
        view.route("romgr1")  # no longer named by any component, and not registered
