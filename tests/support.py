"""Helpers for tests that run the real daemons as processes and talk HTTP to them."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kazoo.client import KazooClient

from componentmanager.calls import ObjectClient
from odenos.components.base import Component, Request, Response
from odenos.errors import ObjectUnavailable
from odenos.http.client import InternalClient
from odenos.http.signing import HEADER, Signer
from odenos.zk.embedded import EmbeddedZooKeeper, free_port

SESSION_TIMEOUT_MS = 2000

#: Spellings that once reached a manager's internal endpoints through the public port.
TRAVERSALS = [
    "/romgr1/../_shutdown",
    "/romgr1/%2e%2e/_shutdown",
    "/romgr1/%2E%2E/_shutdown",
    "/romgr1/.%2e/_shutdown",
    "/n0/../_events",
    "/n0/./../_events",
    "/n0/topology/../../metrics",
    "/romgr1/../metrics",
    "/systemmanager/components/n0/../../_shutdown",
    "/systemmanager/components/n0/%2e%2e/%2e%2e/_shutdown",
    "/systemmanager/components/romgr1/../../_subscription_seen",
    "/romgr1/..%2f_shutdown",
    "/romgr1%2f..%2f_shutdown",
    "/romgr1/%2e%2e%2f_shutdown",
    "/_shutdown",
    "/_events",
    "/n0/%5f%5f/../../_shutdown",
    "//_shutdown",
    "/%5fshutdown",
    "/../romgr1/property",
]


@dataclass
class ZooKeeperServer:
    address: str  # "127.0.0.1:port"
    server: EmbeddedZooKeeper
    loop: asyncio.AbstractEventLoop


@contextlib.contextmanager
def chroot_client(zk_server: ZooKeeperServer, chroot: str) -> Iterator[KazooClient]:
    """A plain kazoo client (no credentials) straight to the server, on the test's chroot,
    which is created first (a client on a chroot that does not exist yet sees nothing)."""
    root = KazooClient(hosts=zk_server.address)
    root.start(10)
    root.ensure_path(chroot)
    root.stop()
    root.close()
    client = KazooClient(hosts=zk_server.address + chroot)
    client.start(10)
    try:
        yield client
    finally:
        client.stop()
        client.close()


class LocalOnly:
    """The cluster view of an ObjectClient that holds only local objects: any other is
    unavailable, as an object whose manager is down would be."""

    manager_id = "systemmanager"

    def route(self, object_id: str, **_: Any) -> Any:
        raise ObjectUnavailable(object_id, "not in this test")


def host(*components: Component) -> dict[str, Component]:
    """Components that call each other in this process (unit tests), through one real
    ObjectClient; the dict it returns is the client's: add to it to host more later."""
    instances = {c.id: c for c in components}
    client = ObjectClient(LocalOnly(), instances, InternalClient(1.0), timeout=1)  # type: ignore[arg-type]
    for component in components:
        component.calls = client
    return instances


async def call(
    component: Component,
    method: str,
    path: str,
    body: Any = None,
    query: dict[str, str] | None = None,
) -> Response:
    """A request straight to a component in this process (unit tests of a component)."""
    return await component.dispatch(Request(method, path, query or {}, body))


def wait_until(
    predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.02
) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail naming ``what`` at the end."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


def http(
    method: str, url: str, body: Any = None, raw: bytes | None = None, timeout: float = 30
) -> Reply:
    """One HTTP request; never raises for an HTTP status.  Status 0: no connection."""
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    request = urllib.request.Request(url, data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            payload = resp.read()
            return Reply(resp.status, json.loads(payload) if payload else None, dict(resp.headers))
    except urllib.error.HTTPError as exc:
        payload = exc.read()
        try:
            parsed = json.loads(payload) if payload else None
        except ValueError:
            parsed = payload.decode(errors="replace")
        return Reply(exc.code, parsed, dict(exc.headers))
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return Reply(0, None)


class Cluster:
    """Real daemon processes on one test's chroot, with a config written for them."""

    def __init__(self, tmp_path: Path, zk_address: str, chroot: str) -> None:
        self.tmp_path = tmp_path
        self.zk_address = zk_address
        self.chroot = chroot
        self.rest_port = free_port()
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.logs: dict[str, Path] = {}
        self._zk: KazooClient | None = None
        self.config_path = self.write_config()

    def write_config(
        self, extra: str = "", processes: tuple[str, ...] = ("romgr1", "romgr2")
    ) -> Path:
        etc = self.tmp_path / "etc"
        etc.mkdir(exist_ok=True)
        lines = [
            "MANAGER systemmanager",
            *(f"PROCESS {cm},python,{self.tmp_path / 'components'}" for cm in processes),
            "rest.host 127.0.0.1",
            f"rest.port {self.rest_port}",
            "rest.forward_timeout 3000",
            "zookeeper.embed off",
            "manager.auto_approve on",  # admission is tested on its own (test_admission)
            f"zookeeper.host {self.zk_address}{self.chroot}",
            f"zookeeper.session_timeout {SESSION_TIMEOUT_MS}",
            extra,
        ]
        (self.tmp_path / "components").mkdir(exist_ok=True)
        path = etc / "odenos.conf"
        path.write_text("\n".join(lines) + "\n")
        return path

    # --- processes ------------------------------------------------------------------------------

    def spawn(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = self.tmp_path / f"{name}.log"
        self.logs[name] = log
        out = open(log, "ab")  # noqa: SIM115 - lives as long as the process
        proc = subprocess.Popen(
            [sys.executable, "-m", *args, "-c", str(self.config_path)],
            stdout=out,
            stderr=out,
            stdin=subprocess.DEVNULL,
            cwd=self.tmp_path,
        )
        out.close()
        self.processes[name] = proc
        return proc

    def start_core(self, wait: bool = True) -> subprocess.Popen[bytes]:
        proc = self.spawn("systemmanager", "systemmanager")
        if wait:
            wait_until(
                lambda: self.get("systemmanager/property").status == 200, 30, "the core process"
            )
        return proc

    def start_cm(self, cm_id: str, wait: bool = True) -> subprocess.Popen[bytes]:
        proc = self.spawn(cm_id, "componentmanager", "--id", cm_id)
        if wait:
            self.wait_cm_running(cm_id)
        return proc

    def wait_cm_running(self, cm_id: str, timeout: float = 30) -> None:
        """Until the system manager reports *this* process (not a dead predecessor) running."""
        pid = self.processes[cm_id].pid

        def running() -> bool:
            reply = self.get(f"systemmanager/component_managers/{cm_id}")
            return (
                reply.status == 200
                and reply.body["state"] == "running"
                and reply.body["pid"] == pid
            )

        wait_until(running, timeout, f"component manager {cm_id} running")

    def signal(self, name: str, sig: int) -> None:
        os.kill(self.processes[name].pid, sig)

    def kill(self, name: str) -> None:
        proc = self.processes[name]
        proc.kill()
        proc.wait(10)

    def stop(self, name: str, timeout: float = 20) -> int:
        proc = self.processes[name]
        proc.send_signal(signal.SIGTERM)
        return proc.wait(timeout)

    def log(self, name: str) -> str:
        return self.logs[name].read_text(errors="replace")

    def close(self) -> None:
        for proc in self.processes.values():
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGCONT)
                proc.kill()
                proc.wait(10)
        if self._zk is not None:
            self._zk.stop()
            self._zk.close()

    # --- HTTP and ZooKeeper -------------------------------------------------------------------

    @property
    def rest(self) -> str:
        return f"http://127.0.0.1:{self.rest_port}"

    def get(self, path: str) -> Reply:
        return http("GET", f"{self.rest}/{path}")

    def put(self, path: str, body: Any) -> Reply:
        return http("PUT", f"{self.rest}/{path}", body)

    def delete(self, path: str) -> Reply:
        return http("DELETE", f"{self.rest}/{path}")

    def post(self, path: str, body: Any) -> Reply:
        return http("POST", f"{self.rest}/{path}", body)

    def request(self, method: str, path: str, body: Any = None) -> Reply:
        return http(method, f"{self.rest}/{path}", body)

    @property
    def zk(self) -> KazooClient:
        """A plain kazoo client on the test's chroot, to look at the tree as zkCli would."""
        if self._zk is None:
            self._zk = KazooClient(hosts=self.zk_address + self.chroot)
            self._zk.start(10)
        return self._zk

    def ls(self, path: str) -> list[str]:
        return sorted(self.zk.get_children(path))

    def node(self, path: str) -> tuple[dict[str, Any], Any]:
        data, stat = self.zk.get(path)
        return json.loads(data), stat

    def odenos(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """The ``odenos`` command on this cluster's configuration, as an operator runs it."""
        return subprocess.run(
            [sys.executable, "-m", "odenos.cli", *args, "-c", str(self.config_path)],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.tmp_path,
        )

    def create_network(self, comp_id: str = "network0", cm_id: str = "romgr1") -> Reply:
        reply = self.put(
            f"systemmanager/components/{comp_id}",
            {"type": "Network", "id": comp_id, "cm_id": cm_id},
        )
        assert reply.status == 201, reply
        return reply


class TcpProxy:
    """A TCP relay between a client and the ZooKeeper server that a test can cut:
    ``cut()`` aborts every relayed connection and refuses new ones (accepts and closes)."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self.is_cut = False
        self.port = 0
        self._flowing = asyncio.Event()
        self._flowing.set()

    def pause(self) -> None:
        """Hold every byte in both directions (a stalled network), until :meth:`resume`."""
        self._flowing.clear()

    def resume(self) -> None:
        self._flowing.set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    def cut(self) -> None:
        self.is_cut = True
        for writer in self._writers:
            writer.transport.abort()
        self._writers.clear()

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.is_cut:
            writer.transport.abort()
            return
        up_reader, up_writer = await asyncio.open_connection(*self._target)
        self._writers += [writer, up_writer]
        for src, dst in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.ensure_future(self._pipe(src, dst))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pipe(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while data := await src.read(65536):
                await self._flowing.wait()
                dst.write(data)
                await dst.drain()
        dst.transport.abort()


class ThreadedProxy:
    """A :class:`TcpProxy` on a loop of its own, for tests that drive processes from
    plain threads: ``drop()`` aborts the relayed connections (clients reconnect at once)."""

    def __init__(self, target: str) -> None:
        host, _, port = target.partition(":")
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._proxy = TcpProxy(host, int(port))
        self._run(self._proxy.start())
        self.address = f"127.0.0.1:{self._proxy.port}"

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(30)

    def drop(self) -> None:
        """Cut every connection now; new ones are let through again."""

        def cut_and_reopen() -> None:
            self._proxy.cut()
            self._proxy.is_cut = False

        self._loop.call_soon_threadsafe(cut_and_reopen)

    def pause(self) -> None:
        """Hold every byte (a stalled network) until :meth:`resume`."""
        self._loop.call_soon_threadsafe(self._proxy.pause)

    def resume(self) -> None:
        self._loop.call_soon_threadsafe(self._proxy.resume)

    def close(self) -> None:
        self._run(self._proxy.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


def signer_of(zk: KazooClient) -> Signer:
    """A signer holding the cluster secret as the daemons do (read from ZooKeeper)."""
    signer = Signer()
    data, _ = zk.get("/odenos/secret")
    signer.set_record(json.loads(data))
    return signer


def signed_http(zk: KazooClient | Signer, method: str, url: str, body: Any = None) -> Reply:
    """A request to a daemon's internal address, signed as a daemon would sign it (with
    the secret read from ``zk``, or ``zk`` a signer already)."""
    signer = zk if isinstance(zk, Signer) else signer_of(zk)
    raw = b"" if body is None else json.dumps(body).encode()
    target = url.split("://", 1)[1]
    target = target[target.index("/") :] if "/" in target else "/"
    request = urllib.request.Request(url, data=raw if body is not None else None, method=method)
    request.add_header(HEADER, signer.sign(method, target, raw) or "")
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            payload = resp.read()
            return Reply(resp.status, json.loads(payload) if payload else None, dict(resp.headers))
    except urllib.error.HTTPError as exc:
        payload = exc.read()
        return Reply(exc.code, json.loads(payload) if payload else None, dict(exc.headers))
