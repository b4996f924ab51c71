"""One canonical path per request: the parser, and the public port of a real system.

Once, ``curl --path-as-is -X POST :10080/romgr2/../_shutdown`` stopped romgr2: the
translator routed on one spelling of the path and its HTTP client sent another.
These tests pin the parser (:class:`ObjectPath`) and then attack real daemons
through the public port with every spelling we know.
"""

from __future__ import annotations

import json
import urllib.request

import pytest

from odenos.http.objectpath import BadPath, ObjectPath
from tests.support import TRAVERSALS, Cluster, signed_http


@pytest.mark.parametrize(
    ("raw", "segments"),
    [
        ("/", ()),
        ("//", ()),
        ("/a", ("a",)),
        ("/a/", ("a",)),
        ("/a//b///c/", ("a", "b", "c")),
        ("/a/./b", ("a", "b")),
        ("/a/b/../c", ("a", "c")),
        ("/a/b/..", ("a",)),
        ("/a/%2e%2e/b", ("b",)),
        ("/a/%2E/b", ("a", "b")),
        ("/a/.%2e/b", ("b",)),
        ("/a/%2e./b", ("b",)),
        ("/a/...", ("a", "...")),
        ("/a/..b", ("a", "..b")),
        ("/%61/%62", ("a", "b")),
        ("/a/%20b", ("a", " b")),
        ("/a/%25", ("a", "%")),
        ("/a/%3F%23", ("a", "?#")),
        ("/a/%C3%A9", ("a", "é")),
        ("/a/of:1@x", ("a", "of:1@x")),
    ],
)
def test_parse_gives_the_canonical_segments(raw: str, segments: tuple[str, ...]) -> None:
    path = ObjectPath.parse(raw)
    assert path.segments == segments
    # The canonical spelling is a fixed point: it parses to itself.
    assert ObjectPath.parse(path.encoded) == path
    assert ObjectPath.parse(path.encoded).encoded == path.encoded


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "a/b",
        "/..",
        "/a/../..",
        "/%2e%2e/a",
        "/a/%2f",
        "/a/%2F..",
        "/a/b%",
        "/a/%4",
        "/a/%g0",
        "/a/%ff",
        "/a/%c3",
        "/a/%00",
        "/a/%0a",
        "/a/%0D",
        "/a/%7f",
        "/a\x00b",
        "/a\nb",
    ],
)
def test_parse_refuses_what_cannot_be_canonical(raw: str) -> None:
    with pytest.raises(BadPath) as info:
        ObjectPath.parse(raw)
    assert info.value.status == 400
    assert info.value.to_json()["path"] == raw


def test_encoded_is_the_one_spelling() -> None:
    assert ObjectPath.parse("/n0/%74opology/../nodes/a%20b").encoded == "/n0/nodes/a%20b"
    assert ObjectPath.parse("/n0/nodes/%c3%a9").encoded == "/n0/nodes/%C3%A9"
    assert ObjectPath.parse("/n0/nodes/a%3a%40b").encoded == "/n0/nodes/a:@b"
    url = ObjectPath.parse("/n0/a%3Fb").url("http://h:1", "x=%2e%2e")
    assert url.raw_path_qs == "/n0/a%3Fb?x=%2e%2e"


def test_a_call_path_stays_inside_its_object() -> None:
    """A component's call names the object and a path below it: dot segments would
    leave the object, so they are refused rather than resolved."""
    assert ObjectPath.of("n0", "topology/nodes/a b").segments == ("n0", "topology", "nodes", "a b")
    assert ObjectPath.of("n0", "/flows//f1/").subpath == "flows/f1"
    for subpath in ("../romgr1/property", "flows/../../_shutdown", "./x", "a/.."):
        with pytest.raises(BadPath):
            ObjectPath.of("n0", subpath)
    with pytest.raises(BadPath):
        ObjectPath.of("..", "property")


# --- the public port of a real system -------------------------------------------------------------


def send_as_is(method: str, url: str) -> tuple[int, str, bytes]:
    """(status, content type, body) of a request whose path is sent as written
    (urllib does not resolve dot segments)."""
    request = urllib.request.Request(url, data=b'{"events": []}', method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status, resp.headers.get_content_type(), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get_content_type(), exc.read()


@pytest.mark.timeout(180)
def test_crafted_urls_through_the_public_port_stop_nothing(cluster: Cluster) -> None:
    """Every traversal spelling, with every method, against real daemons: both managers
    keep running (same processes), the component keeps its topology, no internal
    endpoint answers, and each answer is a JSON error (or the translator's own public
    ``/metrics``)."""
    cluster.start_core()
    cluster.start_cm("romgr1")
    cluster.start_cm("romgr2")
    cluster.create_network("n0", "romgr1")
    node = {"node_id": "node1", "type": "Node", "version": "0", "ports": {}, "attributes": {}}
    assert cluster.put("n0/topology/nodes/node1", node).status == 201
    pids = {cm: cluster.processes[cm].pid for cm in ("romgr1", "romgr2")}

    targets = [*TRAVERSALS, *(p.replace("romgr1", "romgr2") for p in TRAVERSALS)]
    for raw in targets:
        for method in ("POST", "GET", "PUT", "DELETE"):
            status, content_type, body = send_as_is(method, cluster.rest + raw)
            if status == 200:
                assert method == "GET" and raw.endswith("metrics"), (method, raw, body)
                assert b"odenos_rest_requests_total" in body  # the translator's own
                continue
            assert content_type == "application/json", (method, raw, body)
            assert status in (400, 404, 405), (method, raw, status, body)

    # A write with a dot segment is refused, not resolved to another resource of the object
    # (PUT n0/settings/x/%2e%2e would have replaced n0's settings); a read is resolved.
    assert cluster.put("n0/settings", {"kept": True}).status == 200
    for raw in (
        "/n0/settings/x/%2e%2e",
        "/n0/settings/x/..",
        "/n0/settings/./",
        "/n0/x/../settings",
    ):
        for method in ("PUT", "POST", "DELETE"):
            status, content_type, body = send_as_is(method, cluster.rest + raw)
            assert (status, json.loads(body)["error"]) == (400, "BadPath"), (method, raw)
    assert cluster.get("n0/settings").body == {"kept": True}
    status, _, body = send_as_is("GET", cluster.rest + "/n0/x/%2e%2e/settings")
    assert (status, json.loads(body)) == (200, {"kept": True})

    for cm, pid in pids.items():
        assert cluster.processes[cm].poll() is None, f"{cm} stopped"
        prop = cluster.get(f"systemmanager/component_managers/{cm}").body
        assert (prop["state"], prop["pid"]) == ("running", pid)
    assert cluster.get("n0/topology/nodes/node1").status == 200
    assert cluster.get("systemmanager/components/n0").body["state"] == "running"


def test_internal_ports_take_only_canonical_paths(cluster: Cluster) -> None:
    """A daemon's internal address answers non-canonical spellings with 400, so no
    sender's mistake can turn into another endpoint there."""
    cluster.start_core()
    cluster.start_cm("romgr1")
    address = cluster.get("romgr1/property").body["address"]
    assert signed_http(cluster.zk, "GET", f"{address}/romgr1/property").status == 200
    for raw in ("/romgr1/../metrics", "/romgr1/%2e%2e/_shutdown", "//romgr1/property"):
        request = urllib.request.Request(address + raw, data=b"{}", method="POST")
        try:
            urllib.request.urlopen(request, timeout=10)
            raise AssertionError(f"{raw} was accepted")
        except urllib.error.HTTPError as exc:
            assert exc.code == 400, raw
            assert json.loads(exc.read())["error"] == "BadPath"
    assert cluster.processes["romgr1"].poll() is None
