"""(f) ``odenos start -c CONF`` to ready, with ``zookeeper.embed`` and two PROCESS lines.

The figure is the wall time of the command an operator types: it starts the
core process (which starts the ZooKeeper JVM and waits for it to serve), waits
for ``GET /systemmanager/property``, then starts each component manager and
waits for it to say ``running``, one after the other, and returns.  ``odenos
stop`` runs between trials (timed too, as information).  The system has its
own folder, ports and ZooKeeper data, kept across trials as an operator's would.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.harness import STOP_TIMEOUT, BenchError, write_config
from bench.report import Report, Row
from odenos.zk.embedded import free_port

COMMAND_TIMEOUT = 90.0


class StartupBench:
    """An ``odenos start``/``stop`` target in ``root``; :meth:`close` leaves nothing running."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.config = write_config(root, free_port(), free_port(), ("romgr1", "romgr2"))

    def odenos(self, command: str) -> tuple[float, dict[str, float]]:
        """Run ``odenos <command> -c CONF``: its wall time in seconds, and when (seconds from
        the start) it printed each ``<name>: running`` line.  BenchError if it fails."""
        argv = [sys.executable, "-m", "odenos.cli", command, "-c", str(self.config)]
        marks: dict[str, float] = {}
        with tempfile.TemporaryFile() as errors:
            start = time.perf_counter()
            proc = subprocess.Popen(
                argv, stdout=subprocess.PIPE, stderr=errors, stdin=subprocess.DEVNULL, cwd=self.root
            )
            watchdog = threading.Timer(COMMAND_TIMEOUT, proc.kill)
            watchdog.start()
            try:
                assert proc.stdout is not None
                for raw in proc.stdout:
                    name, sep, rest = raw.decode(errors="replace").partition(": ")
                    if sep and rest.startswith("running"):
                        marks[name] = time.perf_counter() - start
                code = proc.wait()
            finally:
                watchdog.cancel()
                if proc.poll() is None:  # interrupted: let it stop what it started
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        proc.wait(0.5)  # a Ctrl-C in the terminal reached it too
                    if proc.poll() is None:
                        proc.send_signal(signal.SIGINT)
                    try:
                        proc.wait(STOP_TIMEOUT)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait()
            elapsed = time.perf_counter() - start
            if code != 0:
                errors.seek(0)
                said = errors.read().decode(errors="replace")[-800:]
                raise BenchError(f"odenos {command} exited {code}: {said}")
        return elapsed, marks

    def close(self) -> None:
        """``odenos stop``, then SIGKILL whatever still runs from our folder (a daemon that
        was starting when we were interrupted has no pid file yet)."""
        with contextlib.suppress(BenchError):
            self.odenos("stop")
        marker = str(self.root).encode()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if marker in cmdline:  # ours: the path of this run's temporary folder
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(entry.name), signal.SIGKILL)


def _zookeeper_starts(log: Path) -> list[float]:
    """How long each embedded ZooKeeper took to serve, as the core process logged it."""
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return []
    return [
        float(m) for m in re.findall(r"embedded ZooKeeper serving on \S+ .*after ([\d.]+) s", text)
    ]


def measure(root: Path, trials: int, report: Report) -> None:
    start_row = report.add(Row("f", "odenos start (embedded ZK, 2 managers) to ready", "s"))
    stop_row = report.add(Row("f", "odenos stop", "s"))
    phases: dict[str, list[float]] = {}
    bench = StartupBench(root)
    try:
        for _ in range(trials):
            elapsed, marks = bench.odenos("start")
            start_row.samples.append(elapsed)
            previous = 0.0
            for name, at in sorted(marks.items(), key=lambda item: item[1]):
                phases.setdefault(name, []).append(at - previous)
                previous = at
            stop_row.samples.append(bench.odenos("stop")[0])
    finally:
        bench.close()
    if phases:
        said = ", ".join(
            f"{name} +{statistics.median(d):.2f} s (max {max(d):.2f})" for name, d in phases.items()
        )
        report.note(f"(f) phases of odenos start, each until it answered (median): {said}")
    jvm = _zookeeper_starts(root / "var" / "log" / "systemmanager.log")
    if jvm:
        report.note(
            f"(f) of which the embedded ZooKeeper (JVM) took: median {statistics.median(jvm):.2f} "
            f"s, max {max(jvm):.2f} s (the core's log)"
        )
