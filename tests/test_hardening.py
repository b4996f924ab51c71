"""Bad input never breaks anything (issue 7, item 6): every limit is a clear 4xx before
it reaches ZooKeeper, nothing stored changes when a request is refused, and a hostile
client cannot hold the daemons' sockets."""

from __future__ import annotations

import base64
import json
import os
import socket
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from odenos.http.server import HEADER_TIMEOUT, MAX_CONNECTIONS
from tests.support import Cluster, http, wait_until

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def system(cluster: Cluster) -> Iterator[Cluster]:
    cluster.start_core()
    cluster.start_cm("romgr1")
    cluster.create_network("network0", "romgr1")
    node = {"node_id": "n1", "type": "Node", "ports": {}, "attributes": {"k": "v"}}
    assert cluster.put("network0/topology/nodes/n1", node).status == 201
    assert cluster.put("network0/settings", {"kept": 1}).status == 200
    assert cluster.put("systemmanager/settings", {"kept": 2}).status == 200
    yield cluster


def send(cluster: Cluster, method: str, path: str, raw: bytes) -> tuple[int, dict[str, str], Any]:
    request = urllib.request.Request(f"{cluster.rest}/{path}", data=raw, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            payload = resp.read()
            return resp.status, dict(resp.headers), json.loads(payload) if payload else None
    except urllib.error.HTTPError as exc:
        payload = exc.read()
        return exc.code, dict(exc.headers), json.loads(payload) if payload else None


def nested(depth: int) -> bytes:
    return b'{"a": ' * depth + b"1" + b"}" * depth


def unchanged(cluster: Cluster) -> None:
    assert cluster.get("network0/settings").body == {"kept": 1}
    assert cluster.get("systemmanager/settings").body == {"kept": 2}
    assert cluster.get("network0/topology/nodes/n1").body["attributes"]["k"] == "v"
    assert "junk" not in cluster.get("network0/property").body


def test_bodies_too_large_too_deep_or_not_json_are_4xx_and_change_nothing(
    system: Cluster,
) -> None:
    big = json.dumps({"blob": "x" * 1_200_000}).encode()
    incompressible = json.dumps({"blob": base64.b64encode(os.urandom(1_500_000)).decode()}).encode()
    cases = [
        ("PUT", "systemmanager/settings", big, 413),  # over ZooKeeper's limit: refused first
        ("PUT", "network0/settings", incompressible, 413),
        ("PUT", "network0/topology/nodes/n1/attributes", incompressible, 413),
        ("PUT", "network0/settings", nested(2000), 400),
        ("PUT", "network0/settings", nested(MAX_DEPTH_PLUS), 400),
        ("PUT", "systemmanager/settings", nested(900), 400),
        ("PUT", "network0/settings", b'{"x": NaN}', 400),
        ("PUT", "network0/topology/nodes/n1/attributes", b'{"x": Infinity}', 400),
        ("PUT", "systemmanager/settings", b'{"x": -Infinity}', 400),
        ("PUT", "network0/property", json.dumps({"junk": "x" * 100_000}).encode(), 413),
        ("PUT", "systemmanager/property", json.dumps({"junk": "x" * 100_000}).encode(), 413),
    ]
    for method, path, raw, status in cases:
        got, _, body = send(system, method, path, raw)
        assert got == status, (path, status, got, body)
        assert isinstance(body, dict) and "error" in body and "Traceback" not in str(body)
    unchanged(system)
    # The daemons' ZooKeeper connections were not dropped by any of it.
    for name in ("systemmanager", "romgr1"):
        assert "ZooKeeper suspended" not in system.log(name), name
    assert system.put("network0/settings", {"kept": 1, "more": True}).status == 200


MAX_DEPTH_PLUS = 65  # one past odenos.http.errors.MAX_JSON_DEPTH


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for {pid}")


def test_memory_stays_flat_under_oversized_bodies(system: Cluster) -> None:
    """The issue's case: 8 property bodies of 10 MB of free keys took the core from 51 to
    209 MB, for good.  Refused now (413) and not kept: after one to warm up, eight more
    leave both daemons within a few MB of where they were."""
    ten_mb = json.dumps({f"k{i}": "x" * 1_000_000 for i in range(10)}).encode()
    # Settings are stored compressed: what cannot be stored is what does not compress.
    noise = json.dumps({"blob": base64.b64encode(os.urandom(7_000_000)).decode()}).encode()
    targets = (
        ("systemmanager/property", ten_mb),
        ("network0/property", ten_mb),
        ("network0/settings", noise),
        ("systemmanager/settings", noise),
    )
    for path, body in targets:
        assert send(system, "PUT", path, body)[0] == 413, path
    pids = {name: system.processes[name].pid for name in ("systemmanager", "romgr1")}
    before = {name: rss_mb(pid) for name, pid in pids.items()}
    for _ in range(8):
        for path, body in targets:
            assert send(system, "PUT", path, body)[0] == 413, path
    after = {name: rss_mb(pid) for name, pid in pids.items()}
    for name in pids:
        # 8 x 4 bodies of ~10 MB went through; what stays is allocator slack, not them.
        assert after[name] - before[name] < 40, (name, before[name], after[name])
    unchanged(system)


def test_bad_paths_ids_and_methods_get_json_errors(system: Cluster) -> None:
    for path, status in (
        ("systemmanager/components/n0%0A", 400),  # an id with a trailing newline
        ("systemmanager/components/n%00", 400),
        ("static%00file", 400),
        ("network0/topology%0D%0AX-Injected:%201", 400),
    ):
        got, _, body = send(system, "PUT", path, b'{"type": "Network"}')
        assert got == status and body["error"], (path, got, body)
    got, headers, body = send(system, "POST", "systemmanager/component_types", b"")
    assert got == 405 and body["error"] == "MethodNotAllowed" and "GET" in headers["Allow"]
    got, headers, body = send(system, "POST", "network0/topology", b"{}")
    assert got == 405 and {m.strip() for m in headers["Allow"].split(",")} == {"GET", "HEAD", "PUT"}
    # HEAD wherever GET is: on the system manager, through to a component.
    for path in ("systemmanager/components", "network0/topology", "network0/property"):
        request = urllib.request.Request(f"{system.rest}/{path}", method="HEAD")
        with urllib.request.urlopen(request, timeout=10) as resp:
            assert resp.status == 200 and resp.read() == b"", path


def test_a_property_sent_back_does_not_overwrite_what_the_system_derives(
    system: Cluster,
) -> None:
    """GET property, change the description, PUT it back (derived keys included, or
    nulled): 200, the description is taken, and ``reason``, ``role``, ``instances``,
    ``restart_policy``... stay the system's (found by make fuzz: a null ``reason`` was
    stored and answered, against the schema)."""
    for path in ("systemmanager/property", "romgr1/property", "network0/property"):
        sent = {**system.get(path).body, "description": "changed"}
        sent.update({"reason": None, "role": "standby", "instances": [], "pid": 1})
        reply = system.put(path, sent)
        assert reply.status == 200, (path, reply.body)
        got = system.get(path).body
        assert got["description"] == "changed" and "reason" not in got, (path, got)
        assert got.get("pid") != 1 and got.get("role") != "standby", (path, got)
    assert system.put("network0/property", {"restart_policy": "reassign"}).status == 200
    assert system.get("systemmanager/components/network0").body["restart_policy"] == "stay"


def test_the_http_parser_refusals_are_json_too(system: Cluster) -> None:
    port = system.rest_port
    for raw in (
        b"GARBAGE\r\n\r\n",
        b"GET /x HTTP/1.1\r\nHost: a\r\nBad Header\r\n\r\n",
        b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET /systemmanager/property HTTP/1.1\r\nHost: a\r\nX-Null: \x00\r\n\r\n",
    ):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(raw)
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith((b"HTTP/1.1 4", b"HTTP/1.0 4")), head[:80]
        assert b"application/json" in head, head
        assert json.loads(body)["error"], body
    # A client's malformed request is a line in the log, not a traceback.
    log = system.logs["systemmanager"].read_text()
    assert "refused a malformed request" in log and "Traceback" not in log


def test_event_subscriptions_are_bounded_per_client(system: Cluster) -> None:
    opened = []
    for _ in range(16):
        reply = system.get("event/stream")
        assert reply.status == 200
        opened.append(reply.body["subscription_id"])
    flood = system.get("event/stream")
    assert flood.status == 429 and int(flood.headers["Retry-After"]) > 0
    # Closing one makes room again.
    assert http("DELETE", f"{system.rest}/event/subscriptions/{opened[0]}").status == 200
    assert system.get("event/stream").status == 200


def test_slow_and_too_many_connections_are_closed(system: Cluster) -> None:
    """Slowloris on the public port: every socket that never finishes its headers is
    closed after the header timeout; past the connection cap new ones are closed at once;
    and afterwards the port serves as before."""
    socks = []
    try:
        for _ in range(MAX_CONNECTIONS + 20):
            sock = socket.create_connection(("127.0.0.1", system.rest_port), timeout=10)
            sock.sendall(b"GET /systemmanager/property HTTP/1.1\r\nHost: x\r\n")  # no end
            socks.append(sock)
        started = time.monotonic()

        def closed(sock: socket.socket) -> bool:
            sock.settimeout(0.05)
            try:
                return sock.recv(1) == b""
            except TimeoutError:
                return False
            except ConnectionError:
                return True

        # Past the cap: closed at once (well before the header timeout).
        wait_until(lambda: all(closed(s) for s in socks[-10:]), 5, "refused past the cap")
        # The rest: closed once their headers are late.
        wait_until(
            lambda: all(closed(s) for s in socks[:: max(1, len(socks) // 50)]),
            HEADER_TIMEOUT + 10,
            "slow connections closed",
            interval=0.2,
        )
        assert time.monotonic() - started >= HEADER_TIMEOUT - 1
    finally:
        for sock in socks:
            sock.close()
    wait_until(lambda: system.get("systemmanager/property").status == 200, 10, "served again")
    unchanged(system)
