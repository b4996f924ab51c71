"""A daemon process's life as :mod:`odenos.runtime` runs it: signals while it is still starting."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from odenos.zk import paths
from odenos.zk.embedded import free_port
from tests.support import Cluster, wait_until

PROMPT_EXIT_S = 5.0


@contextlib.contextmanager
def session_process(argv: list[str], cwd: Path, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``argv`` in a session of its own, its output in ``log``; its whole group killed after."""
    with log.open("ab") as out:
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def exit_code_within(proc: subprocess.Popen[bytes], seconds: float) -> int:
    started = time.monotonic()
    try:
        return proc.wait(seconds)
    except subprocess.TimeoutExpired:
        raise AssertionError(
            f"still running {time.monotonic() - started:.1f} s after SIGTERM"
        ) from None


def test_sigterm_stops_a_manager_that_cannot_reach_zookeeper(tmp_path: Path) -> None:
    """kazoo's connect waits its whole timeout (30 s) in a worker thread: the signal must not."""
    conf = tmp_path / "odenos.conf"
    conf.write_text(
        "PROCESS romgr1,python\n"
        "zookeeper.embed off\n"
        f"zookeeper.host 127.0.0.1:{free_port()}\n"  # nothing listens there
    )
    log = tmp_path / "romgr1.log"
    argv = [sys.executable, "-m", "componentmanager", "-c", str(conf), "--id", "romgr1"]
    with session_process(argv, tmp_path, log) as proc:
        # Logged by start() just before it connects.
        wait_until(lambda: "offers" in log.read_text(), 30, "the manager to start")
        time.sleep(0.5)  # not needed for the assertions: makes sure it is inside the connect
        assert proc.poll() is None, log.read_text()
        proc.send_signal(signal.SIGTERM)
        code = exit_code_within(proc, PROMPT_EXIT_S)
    output = log.read_text()
    assert code == 0, output
    assert "Traceback" not in output
    assert "romgr1 stopping before it finished starting" in output
    assert not (tmp_path / "var" / "tmp" / "romgr1.pid").exists()


def test_sigterm_stops_a_manager_waiting_for_the_system_manager(cluster: Cluster) -> None:
    proc = cluster.start_cm("romgr1", wait=False)
    wait_until(lambda: "listening on" in cluster.log("romgr1"), 30, "romgr1's HTTP server")
    assert proc.poll() is None, cluster.log("romgr1")
    proc.send_signal(signal.SIGTERM)
    code = exit_code_within(proc, PROMPT_EXIT_S)
    output = cluster.log("romgr1")
    assert code == 0, output
    assert "Traceback" not in output
    assert "romgr1 stopped" in output
    assert cluster.ls(paths.COMPONENT_MANAGERS) == []
