"""Daemon-to-daemon authentication (issue 7, item 2): internal requests are signed with the
cluster secret; nothing unsigned gets in, and the secret can be rotated."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from odenos.http.signing import HEADER, WINDOW, Signer
from tests.support import Cluster, http, signed_http, signer_of, wait_until

pytestmark = pytest.mark.timeout(120)


def test_a_signature_covers_method_path_body_and_time() -> None:
    signer = Signer()
    assert signer.sign("GET", "/x", b"") is None
    assert signer.check("GET", "/x", b"", "1.ab") is not None  # no secret yet: nothing passes
    signer.set_record({"current": "a" * 64, "previous": None})
    now = 1_800_000_000.0
    header = signer.sign("PUT", "/n0/topology?x=1", b"{}", now)
    assert header is not None
    assert signer.check("PUT", "/n0/topology?x=1", b"{}", header, now) is None
    for method, target, body in (
        ("POST", "/n0/topology?x=1", b"{}"),
        ("PUT", "/n0/topology?x=2", b"{}"),
        ("PUT", "/n0/topology?x=1", b"{ }"),
    ):
        assert signer.check(method, target, body, header, now) == "a wrong signature"
    assert "old" in str(signer.check("PUT", "/n0/topology?x=1", b"{}", header, now + WINDOW + 1))
    for bad in (None, "", "x.y", "123", "123."):
        assert signer.check("GET", "/", b"", bad, now) is not None
    other = Signer()
    other.set_record({"current": "b" * 64})
    assert signer.check("GET", "/", b"", other.sign("GET", "/", b"", now), now) is not None
    # After a rotation the previous secret is still accepted, the current one signs.
    signer.set_record({"current": "c" * 64, "previous": "a" * 64})
    assert signer.check("PUT", "/n0/topology?x=1", b"{}", header, now) is None


def raw(method: str, url: str, body: bytes = b"", headers: dict[str, str] | None = None) -> int:
    request = urllib.request.Request(url, data=body or None, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_unsigned_requests_to_the_daemons_ports_are_refused(cluster: Cluster) -> None:
    cluster.start_core()
    cluster.start_cm("romgr1")
    cluster.create_network("network0", "romgr1")
    manager = cluster.get("romgr1/property").body["address"]
    core = cluster.get("systemmanager/property").body["instances"][0]["address"]
    attempts = [
        ("POST", f"{manager}/_shutdown", b""),
        ("POST", f"{manager}/_events", b'{"sender": "x", "seq": 1, "events": []}'),
        ("GET", f"{manager}/network0/topology", b""),
        ("PUT", f"{manager}/network0/settings", b"{}"),
        ("GET", f"{manager}/metrics", b""),
        ("POST", f"{core}/_events", b'{"events": []}'),
        ("PUT", f"{core}/systemmanager/components/evil", b'{"type": "Network"}'),
    ]
    for method, url, body in attempts:
        assert raw(method, url, body) == 401, (method, url)
        # A forged or stale signature is no better.
        stale = f"{int(time.time() - 3 * WINDOW)}.{'0' * 64}"
        assert raw(method, url, body, {HEADER: stale}) == 401, (method, url)
        assert raw(method, url, body, {HEADER: f"{int(time.time())}.{'0' * 64}"}) == 401
    assert cluster.processes["romgr1"].poll() is None
    assert "refused POST /_shutdown" in cluster.log("romgr1")
    assert cluster.get("systemmanager/components/evil").status == 404
    # Signed, the same manager answers; through the REST translator, clients do not sign.
    assert signed_http(cluster.zk, "GET", f"{manager}/network0/topology").status == 200
    assert cluster.get("network0/topology").status == 200


def test_the_secret_rotates_without_interrupting_anything(cluster: Cluster) -> None:
    cluster.start_core()
    cluster.start_cm("romgr1")
    cluster.start_cm("romgr2")
    cluster.create_network("network0", "romgr1")
    manager = cluster.get("romgr1/property").body["address"]
    before = signer_of(cluster.zk)

    def rotate() -> None:
        done = subprocess.run(
            [sys.executable, "-m", "odenos.cli", "rotate-secret", "-c", str(cluster.config_path)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert "rotated" in done.stdout

    rotate()
    wait_until(lambda: "cluster secret rotated" in cluster.log("romgr1"), 10, "romgr1 follows")
    # The translator (signing with the new secret) still reaches the managers, and a request
    # signed with the old one is still taken, until the next rotation.
    assert cluster.get("network0/topology").status == 200
    body = {"type": "Network", "cm_id": "romgr2"}
    assert cluster.put("systemmanager/components/network1", body).status == 201
    assert signed_http(before, "GET", f"{manager}/network0/topology").status == 200
    rotate()
    wait_until(
        lambda: signed_http(before, "GET", f"{manager}/network0/topology").status == 401,
        10,
        "the oldest secret refused",
    )
    assert http("GET", f"{cluster.rest}/network1/topology").status == 200
