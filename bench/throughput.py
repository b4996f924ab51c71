"""(d) ``GET /network0/topology`` and (k) ``GET /network0/property`` through the REST
translator versus straight to its manager: (d) a large body whose JSON work dominates,
(k) a cheap request where the hop itself is most of the cost.

The direct URL is ``<address>/network0/topology`` with the address the system
manager publishes for romgr1, so both paths end in the same handler of the
same process; the difference is the translator's hop (route lookup in the
watch-fed cache, one proxied request over a pooled keep-alive connection).

Two figures, each taken in alternating rounds (translator, direct, then
direct, translator, ...) so that a noisy neighbour on the shared machine
hits both sides alike:

* throughput at a fixed concurrency, with the load generator of
  :mod:`bench.loadgen`; the ratio is taken per pair of rounds;
* per-request latency with one sequential keep-alive client in the bench
  process (concurrency 1), where the added latency is the hop itself and not
  queueing: the difference of the medians of each pair of rounds.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Any

from bench.harness import BenchError, HttpClient, OdenosSystem, cpu_seconds
from bench.loadgen import LoadGenerator, LoadResult
from bench.report import Report, Row
from odenos.http.signing import HEADER

COMPONENT = "network0"
MANAGER = "romgr1"
NODES = 6
PORTS_PER_NODE = 4
#: What populate() builds: nodes, ports, links (one each way between ring neighbours).
COUNTS = (NODES, NODES * PORTS_PER_NODE, 2 * NODES)


@dataclass(frozen=True)
class Probe:
    """What one row family fetches."""

    key: str  # the row
    resource: str  # under /network0/


TOPOLOGY = Probe("d", "topology")
PROPERTY = Probe("k", "property")


@dataclass(frozen=True)
class Settings:
    rounds: int
    seconds: float  # per side and round, under load
    concurrency: int
    sequential_requests: int  # per side and round, at concurrency 1


def _node(node_id: str, index: int) -> dict[str, Any]:
    return {
        "type": "Node",
        "node_id": node_id,
        "version": "0",
        "ports": {},
        "attributes": {
            "admin_status": "UP",
            "oper_status": "UP",
            "physical_id": f"openflow:{index:016x}",
            "vendor": "bench",
        },
    }


def _port(node_id: str, port_id: str, index: int) -> dict[str, Any]:
    return {
        "type": "Port",
        "node_id": node_id,
        "port_id": port_id,
        "attributes": {
            "admin_status": "UP",
            "oper_status": "UP",
            "physical_id": f"{node_id}@{index}",
            "max_bandwidth": 10_000_000,
            "unreserved_bandwidth": 10_000_000,
            "vendor": "bench",
        },
    }


def _link(link_id: str, src: tuple[str, str], dst: tuple[str, str]) -> dict[str, Any]:
    return {
        "type": "Link",
        "link_id": link_id,
        "src_node": src[0],
        "src_port": src[1],
        "dst_node": dst[0],
        "dst_port": dst[1],
        "attributes": {"oper_status": "UP", "cost": 1, "latency": 10, "max_bandwidth": 10_000_000},
    }


def populate(rest: HttpClient) -> None:
    """A ring of NODES nodes, PORTS_PER_NODE ports each, a link each way between
    neighbours (port 1 to the next node's port 2 and back): COUNTS."""
    base = f"/{COMPONENT}/topology"
    puts: list[tuple[str, dict[str, Any]]] = []
    nodes = [f"node{i:03d}" for i in range(1, NODES + 1)]
    for i, node_id in enumerate(nodes):
        puts.append((f"{base}/nodes/{node_id}", _node(node_id, i + 1)))
        for p in range(1, PORTS_PER_NODE + 1):
            port_id = f"port{i + 1:03d}{p}"
            puts.append((f"{base}/nodes/{node_id}/ports/{port_id}", _port(node_id, port_id, p)))
    for i, node_id in enumerate(nodes):
        after = nodes[(i + 1) % NODES]
        out_port, in_port = f"port{i + 1:03d}1", f"port{(i + 1) % NODES + 1:03d}2"
        there, back = f"link_{node_id}_{after}", f"link_{after}_{node_id}"
        puts.append((f"{base}/links/{there}", _link(there, (node_id, out_port), (after, in_port))))
        puts.append((f"{base}/links/{back}", _link(back, (after, in_port), (node_id, out_port))))
    for path, body in puts:
        reply = rest.request("PUT", path, body)
        if reply.status not in (200, 201):
            raise BenchError(f"PUT {path}: {reply.status} {reply.body[:300]!r}")


def _sequential(
    client: HttpClient, path: str, count: int, headers: dict[str, str] | None = None
) -> list[float]:
    """Latencies (ms) of ``count`` GETs, one after the other, after a short warm-up."""
    for _ in range(10):
        client.get(path, headers)
    latencies = []
    for _ in range(count):
        start = time.perf_counter()
        reply = client.get(path, headers)
        latencies.append((time.perf_counter() - start) * 1000)
        if reply.status != 200:
            raise BenchError(f"GET {path}: {reply.status} {reply.body[:200]!r}")
    return latencies


def prepare(system: OdenosSystem) -> tuple[int, int, int]:
    """network0 on romgr1 with its ring topology (once for rows d and k)."""
    reply = system.rest.get(f"/systemmanager/components/{COMPONENT}")
    if reply.status == 404:
        system.create_component(COMPONENT, MANAGER)
        populate(system.rest)
    elif reply.status != 200:
        raise BenchError(f"GET components/{COMPONENT}: {reply.status} {reply.body[:300]!r}")
    return COUNTS


def measure(
    system: OdenosSystem,
    loadgen: LoadGenerator,
    settings: Settings,
    report: Report,
    probe: Probe = TOPOLOGY,
) -> None:
    counts = prepare(system)
    key, what = probe.key, probe.resource
    path = f"/{COMPONENT}/{what}"
    address = system.cm_address(MANAGER)
    via = f"{system.rest_url}{path}"
    direct = f"{address}{path}"
    translator_client = HttpClient.for_url(system.rest_url)
    direct_client = HttpClient.for_url(address)
    # A manager's port takes only requests signed with the cluster secret, as the
    # translator's are: the direct side signs too (a signature is good for 60 s, so one
    # per round), and both sides pay for one HMAC check in the manager.
    signer = system.signer()

    def signed() -> dict[str, str]:
        return {HEADER: signer.sign("GET", path, b"") or ""}

    a, b = translator_client.get(path), direct_client.get(path, signed())
    if a.status != 200 or b.status != 200 or a.body != b.body:
        raise BenchError(f"translator and direct answers differ: {a.status} vs {b.status}")

    c = settings.concurrency
    rps_via = report.add(Row(key, f"GET {what} via translator, c={c}", "req/s", rate=True))
    rps_direct = report.add(Row(key, f"GET {what} direct to romgr1, c={c}", "req/s", rate=True))
    ratio = report.add(Row(key, "throughput translator/direct", "%", rate=True))
    lat_via = report.add(Row(key, "latency via translator, c=1", "ms"))
    lat_direct = report.add(Row(key, "latency direct, c=1", "ms"))
    added = report.add(Row(key, "added latency (median difference), c=1", "ms", rate=True))

    loaded: dict[str, list[LoadResult]] = {"via": [], "direct": []}
    # CPU seconds each server process spent in each side's loaded rounds: which one is the
    # bottleneck (a process near 1 CPU second per second is).
    assert system.core is not None
    pids = {"core": system.core.pid, MANAGER: system.cms[MANAGER].pid}
    cpu = {side: dict.fromkeys(pids, 0.0) for side in loaded}
    loadgen.run(via, 1, c)  # warm-up: connection pools, caches, the JIT-less but cold paths
    loadgen.run(direct, 1, c, signed())
    for r in range(settings.rounds):
        order = (("via", via), ("direct", direct))
        for side, url in order if r % 2 == 0 else reversed(order):
            before = {name: cpu_seconds(pid) for name, pid in pids.items()}
            headers = signed() if side == "direct" else None
            loaded[side].append(loadgen.run(url, settings.seconds, c, headers))
            for name, pid in pids.items():
                cpu[side][name] += cpu_seconds(pid) - before[name]
        rps_via.samples.append(loaded["via"][-1].rps)
        rps_direct.samples.append(loaded["direct"][-1].rps)
        ratio.samples.append(100 * loaded["via"][-1].rps / loaded["direct"][-1].rps)

        one: dict[str, list[float]] = {}
        sides = (("via", translator_client), ("direct", direct_client))
        for side, client in sides if r % 2 == 0 else reversed(sides):
            headers = signed() if side == "direct" else None
            one[side] = _sequential(client, path, settings.sequential_requests, headers)
        lat_via.samples += one["via"]
        lat_direct.samples += one["direct"]
        added.samples.append(statistics.median(one["via"]) - statistics.median(one["direct"]))
    translator_client.close()
    direct_client.close()

    bad = sum(res.bad for results in loaded.values() for res in results)
    p50 = {
        side: statistics.median(res.p50_ms for res in results) for side, results in loaded.items()
    }
    for side, results in loaded.items():
        requests = sum(res.requests for res in results)
        wall = sum(res.seconds for res in results)
        usage = ", ".join(
            f"{name} {1e6 * spent / requests:.0f} us/request ({100 * spent / wall:.0f} % of a CPU)"
            for name, spent in cpu[side].items()
            if side == "via" or name != "core"
        )
        label = "via translator" if side == "via" else "direct"
        report.note(f"({key}) CPU under load, {label}: {usage}")
    body = (
        f"topology of {counts[0]} nodes, {counts[1]} ports, {counts[2]} links"
        if what == "topology"
        else what
    )
    report.note(
        f"({key}) load generator: {loadgen.name}, {c} connections, {settings.rounds} rounds of "
        f"{settings.seconds:g} s per side; {body} = {len(a.body)} bytes of JSON; "
        f"non-2xx or socket errors: {bad}; "
        f"p50 under load: translator {p50['via']:.2f} ms, direct {p50['direct']:.2f} ms"
    )
