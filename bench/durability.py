"""(g) resume of a manager holding many components; (h) topology writes, durable vs memory-only.

(g) N Networks are created on romgr1, each with a node written through REST; romgr1 is
killed (SIGKILL) and started again.  Measured: from the new process's spawn to every
one of the N components reported ``running`` by ``GET /systemmanager/components``,
and a sample of them answering their node (their records were read back).

(h) ``PUT /<network>/topology/nodes/<id>`` from concurrent clients through the REST
translator, in rounds that alternate between a ``Network`` (every answer waits until
its records are in ZooKeeper) and a ``VolatileNetwork`` (the same class with its
records kept in memory only; a plugin of the benchmark, not of the product), on the
same manager; the ratio is taken per pair of rounds.
"""

from __future__ import annotations

import collections
import functools
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from bench.harness import (
    MANAGER_ID,
    BenchError,
    HttpClient,
    OdenosSystem,
    resumed,
    wait_until,
)
from bench.report import Report, Row

#: A Network whose records stay in memory: the "durability off" side of row (h).
VOLATILE_PLUGIN = """
from odenos.components.network import Network


class VolatileNetwork(Network):
    TYPE = "VolatileNetwork"
    SUPER_TYPE = "Network"
    DESCRIPTION = "Benchmark only: a Network whose records are never written to ZooKeeper"

    def __init__(self, object_id, cm_id):
        super().__init__(object_id, cm_id)
        attach = self.state.attach
        self.state.attach = lambda sink, records: attach(_Nowhere(), records)


class _Nowhere:
    def submit(self, component_id, key, data):
        return 0

    async def wait_durable(self, seq, component_id=None):
        return None
"""


@dataclass(frozen=True)
class Settings:
    components: int  # (g)
    resume_trials: int
    rounds: int  # (h) pairs of rounds
    seconds: float
    concurrency: int


def install_plugin(root: Path) -> None:
    """Before the system starts: the managers load it from their components folder."""
    folder = root / "components"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "volatile_network.py").write_text(VOLATILE_PLUGIN)


def _parallel(port: int, jobs: list[tuple[str, str, object]], concurrency: int) -> list[int]:
    local = threading.local()
    clients: list[HttpClient] = []
    lock = threading.Lock()

    def run(job: tuple[str, str, object]) -> int:
        client = getattr(local, "client", None)
        if client is None:
            client = HttpClient("127.0.0.1", port)
            local.client = client
            with lock:
                clients.append(client)
        method, path, body = job
        return client.request(method, path, body).status

    try:
        with ThreadPoolExecutor(concurrency) as pool:
            return list(pool.map(run, jobs))
    finally:
        for client in clients:
            client.close()


def _node(i: int) -> dict[str, object]:
    return {"type": "Node", "node_id": f"n{i}", "ports": {}, "attributes": {"i": i}}


def measure_resume(system: OdenosSystem, settings: Settings, report: Report) -> None:
    n = settings.components
    row = report.add(Row("g", f"resume of romgr1 with {n} components and their state", "s"))
    ids = [f"res{i:05d}" for i in range(n)]
    created = _parallel(
        system.rest_port,
        [
            ("PUT", f"/{MANAGER_ID}/components/{c}", {"type": "Network", "cm_id": "romgr1"})
            for c in ids
        ],
        16,
    )
    if created.count(201) != n:
        raise BenchError(f"(g) only {created.count(201)} of {n} components were created")
    written = _parallel(
        system.rest_port, [("PUT", f"/{c}/topology/nodes/n1", _node(1)) for c in ids], 16
    )
    if written.count(201) != n:
        raise BenchError(f"(g) only {written.count(201)} of {n} nodes were written")
    client = HttpClient("127.0.0.1", system.rest_port)
    try:
        for _ in range(settings.resume_trials):
            proc = system.cms["romgr1"]
            proc.kill()
            proc.wait(10)
            started = time.monotonic()
            pid = system.start_cm("romgr1", wait=False).pid

            wait_until(
                functools.partial(resumed, client, "romgr1", pid, ids),
                120,
                f"{n} components running again",
                interval=0.05,
            )
            row.samples.append(time.monotonic() - started)
            for c in ids[:: max(1, n // 20)]:
                reply = client.get(f"/{c}/topology/nodes/n1")
                if reply.status != 200:
                    raise BenchError(f"(g) {c} came back without its node: {reply.status}")
            system.wait_cm_running("romgr1")
    finally:
        client.close()
    deleted = _parallel(
        system.rest_port, [("DELETE", f"/{MANAGER_ID}/components/{c}", None) for c in ids], 16
    )
    report.note(
        f"(g) {n} Networks on romgr1, one node each; time from the restarted process's "
        f"spawn to all of them running; {deleted.count(200)} deleted after"
    )


def measure_writes(system: OdenosSystem, settings: Settings, report: Report) -> None:
    c = settings.concurrency
    durable = report.add(Row("h", f"node PUTs, durable, {c} clients", "req/s", rate=True))
    volatile = report.add(Row("h", f"node PUTs, memory-only, {c} clients", "req/s", rate=True))
    ratio = report.add(Row("h", "durable / memory-only", "%"))
    for comp_id, comp_type in (("durnet", "Network"), ("volnet", "VolatileNetwork")):
        system.create_component(comp_id, "romgr2", comp_type)
    failures: collections.Counter[int] = collections.Counter()
    counter = iter(range(10**9))
    for _ in range(settings.rounds):
        rates = {}
        for comp_id, row in (("durnet", durable), ("volnet", volatile)):
            rate, statuses = _timed_puts(system.rest_port, comp_id, settings, counter)
            row.samples.append(rate)
            rates[comp_id] = rate
            failures.update(s for s in statuses if s not in (200, 201))
        ratio.samples.append(100.0 * rates["durnet"] / rates["volnet"])
    if failures:
        report.note(f"(h) failed answers: {dict(failures)}")
    report.note(
        f"(h) {settings.rounds} pairs of {settings.seconds:g} s rounds, new node ids each "
        "request, through the translator; both networks on romgr2"
    )


def _timed_puts(
    port: int, comp_id: str, settings: Settings, counter: collections.abc.Iterator[int]
) -> tuple[float, list[int]]:
    stop = time.monotonic() + settings.seconds
    statuses: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        client = HttpClient("127.0.0.1", port)
        try:
            while time.monotonic() < stop:
                with lock:
                    i = next(counter)
                status = client.request("PUT", f"/{comp_id}/topology/nodes/n{i}", _node(i)).status
                with lock:
                    statuses.append(status)
        finally:
            client.close()

    started = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(settings.concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(statuses) / (time.monotonic() - started), statuses


def measure_reassign(system: OdenosSystem, trials: int, report: Report) -> None:
    """(j) kill -9 of romgr1 -> its ``reassign`` Network (reassign_after 0, one node)
    running on romgr2 with its node.  Bound below by the session timeout (ZooKeeper
    declares romgr1 dead)."""
    row = report.add(Row("j", "kill -9 -> a reassign component running elsewhere", "s"))
    client = HttpClient("127.0.0.1", system.rest_port)
    try:
        for trial in range(trials):
            comp_id = f"mv{trial}"
            body = {"type": "Network", "cm_id": "romgr1", "restart_policy": "reassign"}
            reply = client.request(
                "PUT", f"/{MANAGER_ID}/components/{comp_id}", body | {"reassign_after": 0}
            )
            if reply.status != 201:
                raise BenchError(f"(j) PUT {comp_id}: {reply.status} {reply.body!r}")
            client.request("PUT", f"/{comp_id}/topology/nodes/n1", _node(1))
            proc = system.cms["romgr1"]
            proc.kill()
            proc.wait(10)
            killed = time.monotonic()

            def moved(comp_id: str = comp_id) -> bool:
                prop = client.get(f"/{MANAGER_ID}/components/{comp_id}")
                if prop.status != 200:
                    return False
                body = prop.json()
                if body.get("cm_id") != "romgr2" or body.get("state") != "running":
                    return False
                return client.get(f"/{comp_id}/topology/nodes/n1").status == 200

            wait_until(moved, 60, f"{comp_id} running on romgr2", interval=0.02)
            row.samples.append(time.monotonic() - killed)
            system.start_cm("romgr1")
            client.request("DELETE", f"/{MANAGER_ID}/components/{comp_id}")
    finally:
        client.close()
    report.note(
        f"(j) {trials} trials; the session timeout is {system.session_timeout_ms} ms: "
        "ZooKeeper must first declare the manager dead"
    )
