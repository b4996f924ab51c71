"""Shared fixtures: one real ZooKeeper server for the session, a chroot per test.

The server is the project's own :class:`EmbeddedZooKeeper` (Debian's Apache
ZooKeeper in a child JVM) on a free port; its asyncio loop runs in a thread
of its own for the whole session, since the supervisor lives on it.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from odenos.components.network import Network
from odenos.zk.client import Coordinator
from odenos.zk.embedded import EmbeddedZooKeeper, free_port
from tests.support import Cluster, TcpProxy, ZooKeeperServer


@pytest.fixture(scope="session")
def zk_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ZooKeeperServer]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="zk-server-loop", daemon=True)
    thread.start()
    server = EmbeddedZooKeeper(free_port(), tmp_path_factory.mktemp("zookeeper"), tick_ms=250)
    asyncio.run_coroutine_threadsafe(server.start(), loop).result(60)
    yield ZooKeeperServer(server.address, server, loop)
    asyncio.run_coroutine_threadsafe(server.stop(), loop).result(30)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)


@pytest.fixture
def net() -> Network:
    """A Network in this process, for the component's unit tests."""
    return Network("network0", "romgr1")


@pytest.fixture
def chroot() -> str:
    """A chroot of its own for each test: tests never see each other's nodes."""
    return f"/test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def coordinator(zk_server: ZooKeeperServer, chroot: str) -> AsyncIterator[Coordinator]:
    zk = Coordinator(zk_server.address + chroot, 2000, name="test")
    await zk.start()
    yield zk
    await zk.stop()


@pytest.fixture
def cluster(zk_server: ZooKeeperServer, chroot: str, tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(tmp_path, zk_server.address, chroot)
    yield c
    c.close()


@pytest.fixture
async def proxy(zk_server: ZooKeeperServer) -> AsyncIterator[TcpProxy]:
    host, _, port = zk_server.address.partition(":")
    relay = TcpProxy(host, int(port))
    await relay.start()
    yield relay
    await relay.close()
