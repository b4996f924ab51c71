"""``python -m bench.scale``: how the costs grow with the number of components.

For each number of components N (``--sizes``, default 100,1000,10000) and of
component managers M (``--managers``, default 2,10), on a fresh system:

* N Networks created through REST by 16 clients (placement left to the system
  manager), then the creation rate; at the end, the delete rate;
* ZooKeeper's znode and watch counts (``mntr``) with N components;
* resident memory per component: the core's growth over N, a manager's over
  the components it holds;
* the median latency of ``GET /systemmanager/components`` (its body grows with N);
* the route decision: ``ClusterView.route`` of random ids, timed in this
  process on a view of the same ZooKeeper (what the translator does per
  request, without the HTTP around it), and the time that view took to load;
* the resume of one manager's share after ``kill -9``, and ``odenos start`` to
  every component running again after a full stop.

One table, a row per (N, M); each figure should grow at most linearly with N
(the route decision: not at all).  Slow at N = 10,000: about 5 minutes per
manager count on a 2-core machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench import create_rate
from bench.harness import (
    MANAGER_ID,
    BenchError,
    HttpClient,
    OdenosSystem,
    all_running,
    mntr,
    resumed,
    wait_until,
)
from odenos.cluster import ClusterView, acl_policy
from odenos.config import load_config
from odenos.zk.client import Coordinator

CLIENTS = 16


@dataclass
class Result:
    n: int
    m: int
    create_rate: float = 0.0
    delete_rate: float = 0.0
    znodes: int = 0
    watches: int = 0
    core_kb_per_comp: float = 0.0
    manager_kb_per_comp: float = 0.0
    list_ms: float = 0.0
    route_us: float = 0.0
    view_load_s: float = 0.0
    resume_s: float = 0.0
    start_s: float = 0.0
    failures: int = 0


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def _route_timing(system: OdenosSystem, ids: list[str]) -> tuple[float, float]:
    """(seconds to load a ClusterView, median microseconds of one route decision)."""
    config = load_config(system.config)
    zk = Coordinator(
        config.zookeeper.connect_string,
        config.zookeeper.session_timeout_ms,
        name="bench",
        acl=acl_policy(config),
    )
    await zk.start()
    view = ClusterView(zk, MANAGER_ID)
    try:
        started = time.perf_counter()
        await view.start()
        loaded = time.perf_counter() - started
        picks = [random.choice(ids) for _ in range(2000)]
        samples = []
        for comp_id in picks:
            t = time.perf_counter_ns()
            view.route(comp_id)
            samples.append((time.perf_counter_ns() - t) / 1000)
        return loaded, statistics.median(samples)
    finally:
        view.close()
        await zk.stop()


def measure(root: Path, n: int, m: int) -> Result:
    result = Result(n, m)
    managers = tuple(f"romgr{i}" for i in range(1, m + 1))
    system = OdenosSystem(root, managers)
    system.start()
    client = HttpClient("127.0.0.1", system.rest_port)
    clients = create_rate._Clients(system.rest_port)
    try:
        assert system.core is not None
        core_before = rss_kb(system.core.pid)
        cms_before = {cm: rss_kb(p.pid) for cm, p in system.cms.items()}
        ids = [f"s{i:05d}" for i in range(n)]
        rate, answers = create_rate._batch(clients, "PUT", ids, CLIENTS)
        result.failures += sum(a.status != 201 for a in answers)
        result.create_rate = rate
        stats = mntr(system.zk_port)
        result.znodes = int(stats["zk_znode_count"])
        result.watches = int(stats["zk_watch_count"])
        result.core_kb_per_comp = (rss_kb(system.core.pid) - core_before) / n
        result.manager_kb_per_comp = statistics.mean(
            (rss_kb(p.pid) - cms_before[cm]) / max(1, n / m) for cm, p in system.cms.items()
        )
        lists = []
        for _ in range(5):
            t = time.perf_counter()
            reply = client.get(f"/{MANAGER_ID}/components")
            lists.append((time.perf_counter() - t) * 1000)
            if reply.status != 200 or len(reply.json()) != n:
                raise BenchError(f"GET components: {reply.status}, not {n} components")
        result.list_ms = statistics.median(lists)
        result.view_load_s, result.route_us = asyncio.run(_route_timing(system, ids))

        # kill -9 of romgr1: until its share runs again in the new process.
        share = _owned_by(client, "romgr1")
        proc = system.cms["romgr1"]
        proc.kill()
        proc.wait(10)
        started = time.monotonic()
        pid = system.start_cm("romgr1", wait=False).pid
        wait_until(
            lambda: resumed(client, "romgr1", pid, share),
            600,
            "romgr1's components running again",
            0.05,
        )
        result.resume_s = time.monotonic() - started

        # Full stop, then start (same config, same ZooKeeper data) to every component
        # running.  The clients reconnect by themselves.
        client.close()
        system.close()
        started = time.monotonic()
        system.start()
        wait_until(lambda: all_running(client, ids), 900, "every component running", 0.1)
        result.start_s = time.monotonic() - started

        rate, answers = create_rate._batch(clients, "DELETE", ids, CLIENTS)
        result.failures += sum(a.status != 200 for a in answers)
        result.delete_rate = rate
    finally:
        clients.close()
        client.close()
        system.close()
    return result


def _owned_by(client: HttpClient, cm_id: str) -> list[str]:
    reply = client.get(f"/{MANAGER_ID}/components")
    if reply.status != 200:
        raise BenchError(f"GET components: {reply.status}")
    return [c for c, prop in reply.json().items() if prop.get("cm_id") == cm_id]


def _row(r: Result) -> str:
    return (
        f"{r.n:>6} {r.m:>3} {r.create_rate:>8.0f} {r.delete_rate:>8.0f} {r.znodes:>7} "
        f"{r.watches:>7} {r.core_kb_per_comp:>8.1f} {r.manager_kb_per_comp:>8.1f} "
        f"{r.list_ms:>8.1f} {r.route_us:>7.1f} {r.view_load_s:>7.2f} {r.resume_s:>7.2f} "
        f"{r.start_s:>7.2f} {r.failures:>5}"
    )


HEADER = (
    "     N   M  create/s delete/s  znodes watches core KB/c  cm KB/c list ms "
    "route us  view s resume s start s  fail"
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.scale", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--sizes", default="100,1000,10000", help="numbers of components")
    parser.add_argument("--managers", default="2,10", help="numbers of component managers")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder and its logs")
    args = parser.parse_args(argv)
    sizes = [int(x) for x in args.sizes.split(",")]
    counts = [int(x) for x in args.managers.split(",")]
    top = Path(tempfile.mkdtemp(prefix="odenos-scale-"))
    print(HEADER, flush=True)
    began = time.monotonic()
    code = 0
    try:
        for m in counts:
            for n in sizes:
                root = top / f"n{n}-m{m}"
                try:
                    print(_row(measure(root, n, m)), flush=True)
                except BenchError as err:
                    print(f"{n:>6} {m:>3}  stopped: {err}", flush=True)
                    code = 1
    finally:
        load = os.getloadavg()[0]
        print(
            f"\nmachine: {os.cpu_count()} CPUs; load average {load:.2f} at the end; "
            f"run time {time.monotonic() - began:.0f} s; {CLIENTS} REST clients"
        )
        if args.keep:
            print(f"kept: {top}")
        else:
            shutil.rmtree(top, ignore_errors=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
