"""(e) Components created per second through REST, and deleted again.

``PUT /systemmanager/components/<id>`` answers 201 only once the chosen
component manager has created the instance and published it ``running``, so
one creation is: a znode write (desired state), the manager's watch firing,
the instance built, its ephemeral written, the system manager's cache seeing
it.  Batches run one request at a time, then with a fixed number of client
threads (one keep-alive connection each); every batch is deleted before the
next one, timed the same way.  No ``cm_id`` is given: the system manager
chooses the least loaded manager, as it would for a client.
"""

from __future__ import annotations

import collections
import json
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from kazoo.client import KazooClient

from bench.harness import MANAGER_ID, HttpClient, OdenosSystem, children_of, cpu_seconds, mntr
from bench.report import Report, Row


@dataclass(frozen=True)
class Settings:
    batches: int
    sequential: int  # components per sequential batch
    concurrent: int  # components per concurrent batch
    concurrency: int
    burst: int = 1000  # (l) components per burst
    burst_concurrency: int = 16
    burst_rounds: int = 3


class _Clients:
    """One keep-alive client per worker thread."""

    def __init__(self, port: int) -> None:
        self._port = port
        self._local = threading.local()
        self._all: list[HttpClient] = []
        self._lock = threading.Lock()

    def get(self) -> HttpClient:
        client: HttpClient | None = getattr(self._local, "client", None)
        if client is None:
            client = HttpClient("127.0.0.1", self._port)
            self._local.client = client
            with self._lock:
                self._all.append(client)
        return client

    def close(self) -> None:
        for client in self._all:
            client.close()


@dataclass(frozen=True)
class Answer:
    ms: float
    status: int
    body: bytes


def _call(clients: _Clients, method: str, comp_id: str) -> Answer:
    body = {"type": "Network", "id": comp_id} if method == "PUT" else None
    start = time.perf_counter()
    reply = clients.get().request(method, f"/{MANAGER_ID}/components/{comp_id}", body)
    return Answer((time.perf_counter() - start) * 1000, reply.status, reply.body)


def _batch(
    clients: _Clients,
    method: str,
    ids: list[str],
    concurrency: int,
    meter: CostMeter | None = None,
) -> tuple[float, list[Answer]]:
    """(requests per second, answers) of ``method`` on every id of ``ids``; ``meter``, if
    given, measures what the batch cost."""
    if meter is not None:
        meter.start()
    start = time.perf_counter()
    if concurrency == 1:
        answers = [_call(clients, method, comp_id) for comp_id in ids]
    else:
        with ThreadPoolExecutor(concurrency) as pool:
            answers = list(pool.map(lambda comp_id: _call(clients, method, comp_id), ids))
    elapsed = time.perf_counter() - start
    if meter is not None:
        meter.stop(len(ids))
    return len(ids) / elapsed, answers


class CostMeter:
    """Where a batch of creations goes: ZooKeeper requests received and the CPU of the
    core, of the managers together and of ZooKeeper's JVM, each per component."""

    def __init__(self, system: OdenosSystem, report: Report) -> None:
        core = system.core.pid if system.core is not None else 0
        self._zk_port = system.zk_port
        self._groups = {
            "core": [core],
            "managers": [proc.pid for proc in system.cms.values()],
            "zookeeper": children_of(core, "java"),
        }
        self._requests = report.add(Row("l", "ZooKeeper requests per REST creation", "req"))
        self._cpu = {
            name: report.add(Row("l", f"CPU per REST creation, {name}", "ms"))
            for name, pids in self._groups.items()
            if pids
        }
        self._before: dict[str, float] = {}

    def _now(self) -> dict[str, float]:
        now = {name: sum(cpu_seconds(pid) for pid in self._groups[name]) for name in self._cpu}
        now["requests"] = float(mntr(self._zk_port).get("zk_packets_received", 0))
        return now

    def start(self) -> None:
        self._before = self._now()

    def stop(self, count: int) -> None:
        spent = {name: value - self._before[name] for name, value in self._now().items()}
        self._requests.samples.append(spent.pop("requests") / count)
        for name, seconds in spent.items():
            self._cpu[name].samples.append(1000 * seconds / count)


def _describe(method: str, answer: Answer) -> str:
    try:
        data = json.loads(answer.body)
        what = f"{data.get('error')}: {data.get('message')}"
    except (ValueError, AttributeError):
        what = answer.body[:200].decode(errors="replace")
    return f"{method} -> {answer.status} " + re.sub(
        r"'?bench-\d+-c(\d+)-\d+'?", r"<id> (in a batch of concurrency \1)", what
    )


def _note_failures(
    report: Report, key: str, failures: collections.Counter[str], requests: int
) -> None:
    if failures:
        said = "; ".join(f"{n}x {text}" for text, n in failures.most_common())
        report.note(f"({key}) {sum(failures.values())} of {requests} requests failed: {said}")


def zookeeper_writes(zk_address: str, count: int) -> list[float]:
    """Latencies (ms) of ``count`` bare znode creations on the system's ZooKeeper, one at a
    time, under ``/bench-scale`` (outside ODENOS's tree, removed after): the unit cost a
    component creation is built of."""
    client = KazooClient(hosts=zk_address)
    client.start(10)
    try:
        client.ensure_path("/bench-scale")
        latencies = []
        for i in range(count):
            start = time.perf_counter()
            client.create(f"/bench-scale/n{i}", b"{}")
            latencies.append((time.perf_counter() - start) * 1000)
        client.delete("/bench-scale", recursive=True)
        return latencies
    finally:
        client.stop()
        client.close()


def measure(system: OdenosSystem, settings: Settings, report: Report) -> None:
    c = settings.concurrency
    create_seq = report.add(Row("e", "create, sequential", "comp/s", rate=True))
    create_par = report.add(Row("e", f"create, {c} concurrent", "comp/s", rate=True))
    put_seq = report.add(Row("e", "PUT component latency, sequential", "ms"))
    put_par = report.add(Row("e", f"PUT component latency, {c} concurrent", "ms"))
    delete_seq = report.add(Row("e", "delete, sequential", "comp/s", rate=True))
    delete_par = report.add(Row("e", f"delete, {c} concurrent", "comp/s", rate=True))
    bare = report.add(Row("e", "bare ZooKeeper create, sequential (for scale)", "ms"))
    bare.samples += zookeeper_writes(f"127.0.0.1:{system.zk_port}", 50)
    failures: collections.Counter[str] = collections.Counter()
    requests = 0
    clients = _Clients(system.rest_port)
    try:
        for b in range(settings.batches):
            for concurrency, size, rates, latencies, deletes in (
                (1, settings.sequential, create_seq, put_seq, delete_seq),
                (c, settings.concurrent, create_par, put_par, delete_par),
            ):
                ids = [f"bench-{b}-c{concurrency}-{i:03d}" for i in range(size)]
                rate, answers = _batch(clients, "PUT", ids, concurrency)
                created = [a for a in answers if a.status == 201]
                # A failed creation is reported, not timed: the rate counts 201s only.
                rates.samples.append(rate * len(created) / len(ids))
                latencies.samples += [a.ms for a in created]
                failures.update(_describe("PUT", a) for a in answers if a.status != 201)
                # Every id is deleted, failed ones too: a PUT may fail after creating.
                rate, answers = _batch(clients, "DELETE", ids, concurrency)
                deletes.samples.append(rate)
                failures.update(_describe("DELETE", a) for a in answers if a.status != 200)
                requests += 2 * len(ids)
    finally:
        clients.close()
    _note_failures(report, "e", failures, requests)
    report.note(
        f"(e) {settings.batches} batches of {settings.sequential} sequential and "
        f"{settings.concurrent} concurrent creations (type Network, cm_id left to the "
        "system manager), each batch deleted before the next"
    )


def pipelined_creates(zk_address: str, count: int) -> tuple[float, float]:
    """(creates/s, deletes/s) of ``count`` bare znodes created with every request in flight
    at once (kazoo's ``create_async``), then deleted the same way, under ``/bench-burst``:
    what ZooKeeper allows this machine, the ceiling of row (l)."""
    client = KazooClient(hosts=zk_address)
    client.start(10)
    try:
        client.ensure_path("/bench-burst")
        paths = [f"/bench-burst/n{i:05d}" for i in range(count)]
        start = time.perf_counter()
        for result in [
            client.create_async(path, b'{"id": "x", "type": "Network"}') for path in paths
        ]:
            result.get(30)
        created = count / (time.perf_counter() - start)
        start = time.perf_counter()
        for result in [client.delete_async(path) for path in paths]:
            result.get(30)
        deleted = count / (time.perf_counter() - start)
        client.delete("/bench-burst", recursive=True)
        return created, deleted
    finally:
        client.stop()
        client.close()


def measure_burst(system: OdenosSystem, settings: Settings, report: Report) -> None:
    """(l) ``settings.burst`` components created by ``burst_concurrency`` clients through
    REST, against bare pipelined znode creates in the same round: the share of what
    ZooKeeper allows that a component creation reaches."""
    n, c = settings.burst, settings.burst_concurrency
    bare_create = report.add(Row("l", f"bare pipelined znode create, {n}", "op/s", rate=True))
    rest_create = report.add(Row("l", f"create {n} via REST, {c} clients", "comp/s", rate=True))
    ratio = report.add(Row("l", "REST create / bare create", "%", rate=True))
    latency = report.add(Row("l", f"PUT component latency, {c} clients", "ms"))
    bare_delete = report.add(Row("l", f"bare pipelined znode delete, {n}", "op/s", rate=True))
    rest_delete = report.add(Row("l", f"delete {n} via REST, {c} clients", "comp/s", rate=True))
    meter = CostMeter(system, report)
    failures: collections.Counter[str] = collections.Counter()
    clients = _Clients(system.rest_port)
    zk = f"127.0.0.1:{system.zk_port}"
    try:
        for r in range(settings.burst_rounds):
            ids = [f"burst-{r}-c{c}-{i:05d}" for i in range(n)]
            if r % 2:  # alternate which side goes first
                rate, answers = _batch(clients, "PUT", ids, c, meter)
                created, removed = pipelined_creates(zk, n)
            else:
                created, removed = pipelined_creates(zk, n)
                rate, answers = _batch(clients, "PUT", ids, c, meter)
            ok = [a for a in answers if a.status == 201]
            rest_create.samples.append(rate * len(ok) / n)
            latency.samples += [a.ms for a in ok]
            bare_create.samples.append(created)
            bare_delete.samples.append(removed)
            ratio.samples.append(100 * rest_create.samples[-1] / created)
            failures.update(_describe("PUT", a) for a in answers if a.status != 201)
            rate, answers = _batch(clients, "DELETE", ids, c)
            rest_delete.samples.append(rate)
            failures.update(_describe("DELETE", a) for a in answers if a.status != 200)
    finally:
        clients.close()
    _note_failures(report, "l", failures, 2 * n * settings.burst_rounds)
    report.note(
        f"(l) {settings.burst_rounds} rounds: {n} Networks created by {c} client threads "
        "(one keep-alive connection each, cm_id left to the system manager), then deleted; "
        f"the ceiling: {n} znodes created with every request in flight (kazoo create_async)"
    )
