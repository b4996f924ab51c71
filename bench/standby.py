"""(i) Failover of the active system manager to a standby.

A standalone ZooKeeper server (``ZooKeeperServerMain``, its own process, so that
killing a core does not take ZooKeeper with it), two core processes on it
(``zookeeper.embed off``, each with its own REST port and ``var.dir``) and one
component manager.  Each trial kills the active core with SIGKILL and measures
the time from the kill to the first ``PUT /systemmanager/components/<id>`` that
a standby's REST translator answers 201; the killed core is then started again,
as the new standby.  Target: the session timeout + 1 s.
"""

from __future__ import annotations

import collections
import subprocess
import sys
import time
from pathlib import Path

from bench import harness
from bench.harness import (
    MANAGER_ID,
    SESSION_TIMEOUT_MS,
    BenchError,
    HttpClient,
    free_port,
    spawn,
    stop_process,
    wait_until,
)
from bench.report import Report, Row

ZK_JAR = "/usr/share/java/zookeeper.jar"
#: The server's tick: sessions expire on tick boundaries.
TICK_MS = 200


def _config(root: Path, name: str, rest_port: int, zk_port: int) -> Path:
    etc = root / name
    etc.mkdir(parents=True, exist_ok=True)
    path = etc / "odenos.conf"
    path.write_text(
        "\n".join(
            [
                f"MANAGER {MANAGER_ID}",
                "PROCESS romgr1,python",
                "rest.host 127.0.0.1",
                f"rest.port {rest_port}",
                "process.host 127.0.0.1",
                f"process.event_loop {harness.EVENT_LOOP}",
                "zookeeper.embed off",
                "manager.auto_approve on",
                f"zookeeper.host 127.0.0.1:{zk_port}",
                f"zookeeper.session_timeout {SESSION_TIMEOUT_MS}",
                f"var.dir {root / ('var-' + name)}",
            ]
        )
        + "\n"
    )
    return path


def measure(root: Path, trials: int, report: Report) -> None:
    row = report.add(Row("i", "kill -9 of the active system manager -> a standby's 201", "s"))
    zk_port = free_port()
    data = root / "zookeeper"
    data.mkdir(parents=True)
    zk = spawn(
        [
            "java",
            "-cp",
            ZK_JAR,
            "org.apache.zookeeper.server.ZooKeeperServerMain",
            str(zk_port),
            str(data),
            str(TICK_MS),
        ],
        root / "zookeeper.log",
        root,
    )
    ports = {"a": free_port(), "b": free_port()}
    configs = {n: _config(root, f"core-{n}", ports[n], zk_port) for n in ports}
    cores: dict[str, subprocess.Popen[bytes]] = {}
    failures: collections.Counter[int] = collections.Counter()
    try:

        def start_core(name: str) -> None:
            cores[name] = spawn(
                [sys.executable, "-m", "systemmanager", "-c", str(configs[name])],
                root / f"core-{name}.log",
                root,
            )

        start_core("a")
        rest = {n: HttpClient("127.0.0.1", p) for n, p in ports.items()}
        wait_until(lambda: rest["a"].get(f"/{MANAGER_ID}/property").status == 200, 60, "core a")
        start_core("b")
        manager = spawn(
            [sys.executable, "-m", "componentmanager", "-c", str(configs["a"]), "--id", "romgr1"],
            root / "romgr1.log",
            root,
        )
        wait_until(
            lambda: rest["b"].get(f"/{MANAGER_ID}/component_managers/romgr1").status == 200,
            60,
            "romgr1 through core b",
        )
        for trial in range(trials):
            active = _active(rest, cores)
            standby = "b" if active == "a" else "a"
            wait_until(
                lambda standby=standby: _roles(rest[standby]) == 2, 30, "a standby registered"
            )
            cores[active].kill()
            cores[active].wait(10)
            killed = time.monotonic()

            def created(trial: int = trial, standby: str = standby) -> bool:
                reply = rest[standby].request(
                    "PUT",
                    f"/{MANAGER_ID}/components/fo{trial}",
                    {"type": "Network", "cm_id": "romgr1"},
                )
                if reply.status not in (201, 503):
                    failures[reply.status] += 1
                return reply.status == 201

            wait_until(created, 60, "a component created through the standby", 0.02)
            row.samples.append(time.monotonic() - killed)
            start_core(active)  # back, as the standby
        stop_process(manager)
    finally:
        for proc in cores.values():
            stop_process(proc)
        stop_process(zk)
    if failures:
        report.note(f"(i) answers other than 201/503 during failovers: {dict(failures)}")
    report.note(
        f"(i) standalone ZooKeeper (tick {TICK_MS} ms), two core processes, session timeout "
        f"{SESSION_TIMEOUT_MS} ms; {trials} failovers, each of the two cores killed in turn"
    )


def _active(rest: dict[str, HttpClient], cores: dict[str, subprocess.Popen[bytes]]) -> str:
    """Which core is active: the one whose pid the active instance ("host:pid") names."""
    for client in rest.values():
        reply = client.get(f"/{MANAGER_ID}/property")
        if reply.status == 200:
            pid = int(str(reply.json().get("instance", ":0")).rsplit(":", 1)[1])
            for name, proc in cores.items():
                if proc.pid == pid:
                    return name
    raise BenchError("no active system manager")


def _roles(client: HttpClient) -> int:
    """How many live system managers the active one lists."""
    reply = client.get(f"/{MANAGER_ID}/property")
    return len(reply.json().get("instances", [])) if reply.status == 200 else 0
