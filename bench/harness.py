"""A whole ODENOS system in a temporary folder, run as real processes for the benchmarks.

The core process (``python -m systemmanager``) runs its own ZooKeeper server
(``zookeeper.embed``) on a free port, and each component manager is its own
``python -m componentmanager --id <cm_id>`` process, exactly as ``odenos
start`` would lay them out, but spawned here so that a benchmark can signal a
manager by its pid and start it again.

Cleanup is this module's job: every child is tied to the bench with
``PR_SET_PDEATHSIG`` (a bench killed with SIGKILL takes its children with it)
and :meth:`OdenosSystem.close` stops them all, a stopped (SIGSTOP) one included.
Children get their own session so that a Ctrl-C in the terminal reaches only
the bench, which then stops them in order.
"""

from __future__ import annotations

import contextlib
import ctypes
import http.client
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from kazoo.client import KazooClient

from odenos.cluster import acl_policy
from odenos.config import load_config
from odenos.http.signing import Signer
from odenos.zk.embedded import four_letter_sync, free_port
from odenos.zk.paths import SECRET

SESSION_TIMEOUT_MS = 2000
MANAGER_ID = "systemmanager"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0
_PR_SET_PDEATHSIG = 1

T = TypeVar("T")


class BenchError(Exception):
    """The system did not do what a measurement needs (not a missed target)."""


def wait_until(
    predicate: Callable[[], T | None], timeout: float, what: str, interval: float = 0.02
) -> T:
    """Poll ``predicate`` until it returns something truthy; BenchError naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


# --- HTTP -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    status: int  # 0: no connection / no answer
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class HttpClient:
    """One keep-alive HTTP/1.1 connection to ``host:port``, opened again after an error.

    Not thread-safe: one per thread.  Never raises for an HTTP status or a
    connection failure (status 0).
    """

    def __init__(self, host: str, port: int, timeout: float = 30.0) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self._conn: http.client.HTTPConnection | None = None

    @classmethod
    def for_url(cls, base_url: str, timeout: float = 30.0) -> HttpClient:
        hostport = base_url.split("://", 1)[1].split("/", 1)[0]
        host, _, port = hostport.rpartition(":")
        return cls(host.strip("[]"), int(port), timeout)

    def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> Reply:
        data = None if body is None else json.dumps(body).encode()
        headers = dict(headers or {})
        if data is not None:
            headers["Content-Type"] = "application/json"
        # A kept-alive connection the server closed while idle (its idle timeout is 30 s)
        # fails at once: such a request is sent again, once, on a new connection (not a
        # POST, which may have been taken).
        reused = self._conn is not None
        for attempt in (1, 2):
            if self._conn is None:
                self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                self._conn.request(method, path, body=data, headers=headers)
                resp = self._conn.getresponse()
                return Reply(resp.status, resp.read())
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                stale = isinstance(
                    exc, http.client.RemoteDisconnected | ConnectionResetError | BrokenPipeError
                )
                if not (attempt == 1 and reused and stale and method != "POST"):
                    break
        return Reply(0, b"")

    def get(self, path: str, headers: dict[str, str] | None = None) -> Reply:
        return self.request("GET", path, headers=headers)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def all_running(client: HttpClient, ids: list[str]) -> bool:
    """Does ``GET /systemmanager/components`` show every one of ``ids`` running?"""
    reply = client.get(f"/{MANAGER_ID}/components")
    if reply.status != 200:
        return False
    states = reply.json()
    return all(states.get(c, {}).get("state") == "running" for c in ids)


def resumed(client: HttpClient, cm_id: str, pid: int, ids: list[str]) -> bool:
    """Has the manager process ``pid`` resumed ``ids``?  It must be the one registered, and
    running (it turns running once it has resumed them all: before, the old process's
    ephemerals may still be seen); then every one of them running."""
    manager = client.get(f"/{MANAGER_ID}/component_managers/{cm_id}")
    if manager.status != 200 or manager.json().get("pid") != pid:
        return False
    return manager.json().get("state") == "running" and all_running(client, ids)


# --- processes --------------------------------------------------------------------------------


def _tie_to_us() -> Callable[[], None]:
    """A ``preexec_fn``: the child gets SIGKILL when the spawning thread (ours) dies."""
    parent = os.getpid()
    prctl = getattr(ctypes.CDLL(None, use_errno=True), "prctl", None)

    def preexec() -> None:
        if prctl is not None:
            prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL))
        if os.getppid() != parent:
            os._exit(1)

    return preexec


def spawn(argv: list[str], log: Path, cwd: Path) -> subprocess.Popen[bytes]:
    """Start ``argv`` with stdout and stderr appended to ``log``.  Call from the main thread
    (the death signal follows the thread that spawned)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        return subprocess.Popen(
            argv,
            stdout=out,
            stderr=out,
            stdin=subprocess.DEVNULL,
            cwd=cwd,
            start_new_session=True,
            preexec_fn=_tie_to_us(),
        )


def stop_process(proc: subprocess.Popen[bytes], timeout: float = STOP_TIMEOUT) -> int | None:
    """SIGCONT + SIGTERM, then SIGKILL after ``timeout`` s; returns the exit code."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGCONT)
            proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def cpu_seconds(pid: int) -> float:
    """User + system CPU time ``pid`` has used so far (Linux ``/proc``); 0.0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def mntr(port: int) -> dict[str, str]:
    """ZooKeeper's ``mntr`` figures (name -> value)."""
    reply = four_letter_sync("127.0.0.1", port, "mntr", timeout=5)
    return {
        parts[0]: parts[1] for line in reply.splitlines() if len(parts := line.split("\t")) == 2
    }


def children_of(pid: int, name: str) -> list[int]:
    """The pids of ``pid``'s child processes whose command is ``name`` (Linux ``/proc``)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command, _, rest = (entry / "stat").read_text().partition(") ")
        except OSError:
            continue
        if command.partition(" (")[2] == name and int(rest.split()[1]) == pid:
            found.append(int(entry.name))
    return found


#: ``process.event_loop`` of every system the bench starts (``--event-loop``).
EVENT_LOOP = "uvloop"


def write_config(
    root: Path,
    rest_port: int,
    zk_port: int,
    processes: tuple[str, ...],
    session_timeout_ms: int = SESSION_TIMEOUT_MS,
) -> Path:
    """``root/etc/odenos.conf``: embedded ZooKeeper, loopback addresses, ``var.dir`` in root."""
    (root / "etc").mkdir(parents=True, exist_ok=True)
    (root / "components").mkdir(exist_ok=True)
    lines = [
        f"MANAGER {MANAGER_ID}",
        *(f"PROCESS {cm},python,{root / 'components'}" for cm in processes),
        "rest.host 127.0.0.1",
        f"rest.port {rest_port}",
        "process.host 127.0.0.1",
        f"process.event_loop {EVENT_LOOP}",
        "zookeeper.embed",
        f"zookeeper.port {zk_port}",
        f"zookeeper.session_timeout {session_timeout_ms}",
        f"var.dir {root / 'var'}",
    ]
    path = root / "etc" / "odenos.conf"
    path.write_text("\n".join(lines) + "\n")
    return path


# --- the system -------------------------------------------------------------------------------


class OdenosSystem:
    """The core process and one process per component manager, on one config in ``root``."""

    def __init__(self, root: Path, managers: tuple[str, ...] = ("romgr1", "romgr2")) -> None:
        self.root = root
        self.managers = managers
        self.rest_port = free_port()
        self.zk_port = free_port()
        self.session_timeout_ms = SESSION_TIMEOUT_MS
        self.config = write_config(root, self.rest_port, self.zk_port, managers)
        self.core: subprocess.Popen[bytes] | None = None
        self.cms: dict[str, subprocess.Popen[bytes]] = {}
        self.rest = HttpClient("127.0.0.1", self.rest_port)

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self.rest_port}"

    @property
    def log_dir(self) -> Path:
        return self.root / "var" / "log"

    def _argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", *args, "-c", str(self.config)]

    def start(self) -> None:
        """Core first (it starts ZooKeeper), then every manager; returns when all answer."""
        self.core = spawn(
            self._argv("systemmanager"), self.log_dir / "systemmanager.log", self.root
        )
        wait_until(
            lambda: (
                self._alive_or_fail(self.core, "core")
                and self.rest.get(f"/{MANAGER_ID}/property").status == 200
            ),
            START_TIMEOUT,
            "the core process (ZooKeeper, system manager, REST translator)",
            0.05,
        )
        for cm_id in self.managers:
            self.start_cm(cm_id)

    def start_cm(self, cm_id: str, wait: bool = True) -> subprocess.Popen[bytes]:
        proc = spawn(
            self._argv("componentmanager", "--id", cm_id), self.log_dir / f"{cm_id}.log", self.root
        )
        self.cms[cm_id] = proc
        if wait:
            self.wait_cm_running(cm_id)
        return proc

    def wait_cm_running(self, cm_id: str, timeout: float = START_TIMEOUT) -> None:
        def running() -> bool:
            self._alive_or_fail(self.cms[cm_id], cm_id)
            reply = self.rest.get(f"/{MANAGER_ID}/component_managers/{cm_id}")
            return reply.status == 200 and reply.json().get("state") == "running"

        wait_until(running, timeout, f"component manager {cm_id} running", 0.02)

    @staticmethod
    def _alive_or_fail(proc: subprocess.Popen[bytes] | None, name: str) -> bool:
        if proc is None or proc.poll() is not None:
            code = None if proc is None else proc.returncode
            raise BenchError(f"{name} exited (code {code}) while the bench waited for it")
        return True

    def signer(self) -> Signer:
        """Signs requests as the daemons do: what a request straight to a manager's port
        needs (it answers 401 otherwise).  The secret is read from ZooKeeper with the
        system's own credentials."""
        config = load_config(self.config)
        policy = acl_policy(config)
        zk = KazooClient(hosts=config.zookeeper.connect_string, auth_data=policy.auth_data)
        zk.start(10)
        try:
            data, _ = zk.get(SECRET)
        finally:
            zk.stop()
            zk.close()
        signer = Signer()
        signer.set_record(json.loads(data))
        return signer

    def cm_address(self, cm_id: str) -> str:
        reply = self.rest.get(f"/{MANAGER_ID}/component_managers/{cm_id}")
        if reply.status != 200:
            raise BenchError(f"GET component_managers/{cm_id}: {reply.status} {reply.body!r}")
        return str(reply.json()["address"])

    def create_component(self, comp_id: str, cm_id: str, comp_type: str = "Network") -> None:
        reply = self.rest.request(
            "PUT",
            f"/{MANAGER_ID}/components/{comp_id}",
            {"type": comp_type, "id": comp_id, "cm_id": cm_id},
        )
        if reply.status not in (200, 201):
            raise BenchError(f"PUT components/{comp_id}: {reply.status} {reply.body!r}")

    def close(self) -> None:
        """Stop every process (managers first, the core and its ZooKeeper last); idempotent."""
        self.rest.close()
        for proc in self.cms.values():
            stop_process(proc, 5.0)
        if self.core is not None:
            stop_process(self.core)
