"""HTTP load generators for the throughput bench: ``wrk`` when available, else a Python one.

Both keep a fixed number of keep-alive connections busy for a fixed time and
report requests/s and latency percentiles.  ``wrk`` (C, one thread) costs
the 2-core machine far less CPU than the servers it loads; the Python client
(aiohttp, run as its own process so that it does not share the bench's
interpreter) costs about as much as the server it loads, which lowers both
figures and makes the translator/direct ratio pessimistic.

Run as ``python -m bench.loadgen URL --seconds S --concurrency C``: the Python
generator, printing one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Protocol

from bench.report import percentile

INSTALL_TIMEOUT = 180.0


@dataclass(frozen=True)
class LoadResult:
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    bad: int  # non-2xx answers and socket errors


class LoadGenerator(Protocol):
    name: str

    def run(
        self, url: str, seconds: float, concurrency: int, headers: Mapping[str, str] | None = None
    ) -> LoadResult: ...


# --- wrk --------------------------------------------------------------------------------------

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if match is None:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_wrk(output: str) -> LoadResult:
    """Read ``wrk --latency``'s report."""
    done = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", output)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    p50 = re.search(r"^\s+50%\s+(\S+)", output, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.M)
    if not (done and rps and p50 and p99):
        raise ValueError(f"unexpected wrk output:\n{output}")
    bad = 0
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if non2xx:
        bad += int(non2xx.group(1))
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    if errors:
        bad += sum(int(g) for g in errors.groups())
    return LoadResult(
        requests=int(done.group(1)),
        seconds=_ms(done.group(2) + done.group(3)) / 1000,
        rps=float(rps.group(1)),
        p50_ms=_ms(p50.group(1)),
        p99_ms=_ms(p99.group(1)),
        bad=bad,
    )


class Wrk:
    """``wrk -t1``: one thread is plenty against Python servers and leaves them the CPU."""

    name = "wrk"

    def __init__(self, path: str) -> None:
        self.path = path

    def run(
        self, url: str, seconds: float, concurrency: int, headers: Mapping[str, str] | None = None
    ) -> LoadResult:
        argv = [self.path, "-t1", f"-c{concurrency}", f"-d{max(1, round(seconds))}s"]
        for name, value in (headers or {}).items():
            argv += ["-H", f"{name}: {value}"]
        argv += ["--timeout", "10s", "--latency", url]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30)
        if done.returncode != 0:
            raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip()}")
        return parse_wrk(done.stdout)


def find_wrk(install: bool) -> tuple[str | None, str]:
    """wrk's path, installing Debian's package when root and ``install``; and a remark."""
    found = shutil.which("wrk")
    if found:
        return found, "wrk was already installed"
    if not install:
        return None, "wrk not installed (not installing it: --no-install)"
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return None, "wrk not installed and not root (or no apt-get): cannot install it"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for attempt in (
        ["apt-get", "install", "-y", "-q", "wrk"],
        ["apt-get", "update", "-q"],
        ["apt-get", "install", "-y", "-q", "wrk"],
    ):
        try:
            done = subprocess.run(
                attempt, capture_output=True, text=True, timeout=INSTALL_TIMEOUT, env=env
            )
        except subprocess.TimeoutExpired:
            return None, f"'{' '.join(attempt)}' timed out"
        if attempt[1] == "install" and done.returncode == 0:
            found = shutil.which("wrk")
            if found:
                return found, "wrk installed by the bench with apt-get"
    return None, "apt-get install wrk failed"


# --- the Python generator ---------------------------------------------------------------------


class PythonLoad:
    """This module run as a separate process (aiohttp client, fixed concurrency)."""

    name = "python-aiohttp"

    def run(
        self, url: str, seconds: float, concurrency: int, headers: Mapping[str, str] | None = None
    ) -> LoadResult:
        argv = [sys.executable, "-m", "bench.loadgen", url]
        argv += ["--seconds", str(seconds), "--concurrency", str(concurrency)]
        for name, value in (headers or {}).items():
            argv += ["--header", f"{name}: {value}"]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
        if done.returncode != 0:
            raise RuntimeError(f"bench.loadgen failed ({done.returncode}): {done.stderr.strip()}")
        return LoadResult(**json.loads(done.stdout))


async def _load(
    url: str, seconds: float, concurrency: int, headers: Mapping[str, str]
) -> LoadResult:
    import aiohttp  # only the generator process needs it

    latencies: list[float] = []
    bad = 0

    async def worker(session: aiohttp.ClientSession, stop_at: float) -> None:
        nonlocal bad
        while time.perf_counter() < stop_at:
            sent = time.perf_counter()
            try:
                async with session.get(url) as resp:
                    await resp.read()
                    ok = resp.status < 300
            except (aiohttp.ClientError, TimeoutError):
                ok = False
            latencies.append((time.perf_counter() - sent) * 1000)
            bad += not ok

    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(
        connector=connector, timeout=timeout, headers=dict(headers)
    ) as session:
        async with session.get(url) as resp:  # open one connection before the clock starts
            await resp.read()
        start = time.perf_counter()
        await asyncio.gather(*(worker(session, start + seconds) for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    return LoadResult(
        requests=len(latencies),
        seconds=elapsed,
        rps=len(latencies) / elapsed,
        p50_ms=percentile(latencies, 50),
        p99_ms=percentile(latencies, 99),
        bad=bad,
    )


def choose(kind: str, install: bool) -> tuple[LoadGenerator, str]:
    """The generator for ``kind`` (auto, wrk, python), with a remark on how it was chosen."""
    if kind == "python":
        return PythonLoad(), "Python aiohttp load generator (--loadgen python)"
    path, remark = find_wrk(install)
    if path is not None:
        return Wrk(path), remark
    if kind == "wrk":
        raise RuntimeError(f"--loadgen wrk: {remark}")
    return PythonLoad(), f"{remark}; using the Python aiohttp load generator instead"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen")
    parser.add_argument("url")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--header", action="append", default=[], help="'Name: value'")
    args = parser.parse_args(argv)
    headers = dict(h.split(": ", 1) for h in args.header)
    result = asyncio.run(_load(args.url, args.seconds, args.concurrency, headers))
    print(json.dumps(asdict(result)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
