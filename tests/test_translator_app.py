"""The REST translator's front door, through real HTTP end to end.

The app (``RestTranslator(view, forwarder).build_app()``) runs under
``aiohttp_client`` over a real :class:`ClusterView` on the test's chroot; the
component manager it forwards to is a real little aiohttp server on a free port
that answers ``/n0/topology``.  Every refusal must be a JSON body with ``error``
and ``message``, never a traceback, and never a hang.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from yarl import URL

from odenos.cluster import ClusterView
from odenos.http.client import InternalClient
from odenos.http.forward import Forwarder
from odenos.zk import paths
from odenos.zk.client import Coordinator
from odenos.zk.embedded import free_port
from resttranslator.app import RestTranslator
from tests.support import TRAVERSALS

pytestmark = pytest.mark.timeout(60)

Client = TestClient[web.Request, web.Application]


# --- the stand-in component manager -------------------------------------------------------------


@dataclass(frozen=True)
class Seen:
    """One request as the stand-in manager received it."""

    method: str
    path: str
    query: list[tuple[str, str]]
    body: bytes
    content_type: str


@dataclass
class StandInManager:
    """A real HTTP server playing component manager romgr1 (hosting component n0).

    ``?stall=1`` makes it hold the request until ``release`` is set, signalling
    ``received`` first, so a test knows the request is in flight; ``?busy=1`` makes
    it refuse with its own 503 and ``Retry-After: 7``.
    """

    address: str = ""
    seen: list[Seen] = field(default_factory=list)
    #: Raw paths of every request that reached an internal endpoint (never, through the
    #: translator) or any other path of this server.
    internal: list[str] = field(default_factory=list)
    other: list[str] = field(default_factory=list)
    received: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def topology(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.seen.append(
            Seen(
                request.method,
                request.path,
                list(request.query.items()),
                body,
                request.content_type,
            )
        )
        self.received.set()
        if request.query.get("stall") == "1":
            await self.release.wait()
        if request.query.get("busy") == "1":
            return web.json_response(
                {"error": "Busy", "message": "try later"}, status=503, headers={"Retry-After": "7"}
            )
        status = 201 if request.method == "PUT" else 200
        return web.json_response({"answered_by": "romgr1", "method": request.method}, status=status)

    async def internal_endpoint(self, request: web.Request) -> web.Response:
        self.internal.append(request.rel_url.raw_path)
        return web.json_response({"internal": True})

    async def anything_else(self, request: web.Request) -> web.Response:
        self.other.append(request.rel_url.raw_path)
        return web.json_response({"answered_by": "romgr1", "path": request.rel_url.raw_path})


@pytest.fixture
async def stand_in() -> AsyncIterator[StandInManager]:
    manager = StandInManager()
    app = web.Application()
    app.router.add_route("*", "/n0/topology", manager.topology)
    for internal in ("/_shutdown", "/_events", "/_subscription_seen", "/metrics", "/"):
        app.router.add_route("*", internal, manager.internal_endpoint)
    app.router.add_route("*", "/{tail:.+}", manager.anything_else)
    runner = web.AppRunner(app, shutdown_timeout=1)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    manager.address = f"http://127.0.0.1:{port}"
    yield manager
    manager.release.set()
    await runner.cleanup()


# --- the translator -----------------------------------------------------------------------------


async def write_tree(
    zk: Coordinator, manager_address: str | None, manager_state: str = "running"
) -> None:
    """Desired component n0 on romgr1, its live ephemeral running, and romgr1's node at
    ``manager_address`` (no manager node if None)."""
    await zk.create(
        paths.system_manager("systemmanager"),
        {"state": "running", "address": "http://127.0.0.1:1"},
    )
    if manager_address is not None:
        await zk.create(
            paths.component_manager("romgr1"),
            {"id": "romgr1", "state": manager_state, "address": manager_address},
        )
    await zk.create(
        paths.desired_component("n0"), {"id": "n0", "type": "Network", "cm_id": "romgr1"}
    )
    await zk.create(paths.live_component("romgr1", "n0"), {"state": "running"})


MakeClient = Callable[..., Awaitable[Client]]


@pytest.fixture
async def make_client(
    coordinator: Coordinator,
    aiohttp_client: Callable[..., Awaitable[Client]],
) -> AsyncIterator[MakeClient]:
    """A test client of the translator app over a fresh view of the chroot (so write
    the nodes first); ``forward_timeout`` is the forwarder's timeout in seconds."""
    opened: list[tuple[ClusterView, InternalClient]] = []

    async def make(
        forward_timeout: float = 10.0, monitored: frozenset[str] = frozenset()
    ) -> Client:
        view = ClusterView(coordinator, "systemmanager")
        await view.start()
        http_client = InternalClient(forward_timeout)
        forwarder = Forwarder(view, http_client, forward_timeout)
        opened.append((view, http_client))
        app = RestTranslator(view, forwarder, monitored=monitored).build_app()
        return await aiohttp_client(app)

    yield make
    for view, http_client in opened:
        await http_client.close()
        view.close()


async def error_body(resp: aiohttp.ClientResponse, status: int) -> dict[str, Any]:
    """Check ``resp`` is a JSON error of ``status`` (no traceback) and return its body."""
    text = await resp.text()
    assert resp.status == status, text
    assert resp.content_type == "application/json", text
    assert "Traceback" not in text
    body: dict[str, Any] = await resp.json()
    assert isinstance(body["error"], str) and isinstance(body["message"], str)
    return body


# --- forwarding ---------------------------------------------------------------------------------


async def test_request_reaches_the_manager_with_method_body_and_query(
    coordinator: Coordinator, stand_in: StandInManager, make_client: MakeClient
) -> None:
    """PUT /n0/topology?... arrives at the manager as sent, and its answer comes back."""
    await write_tree(coordinator, stand_in.address)
    client = await make_client()

    resp = await client.put("/n0/topology?x=1&y=two", json={"nodes": ["a", "b"]})
    assert resp.status == 201
    assert await resp.json() == {"answered_by": "romgr1", "method": "PUT"}
    resp = await client.get("/n0/topology")
    assert resp.status == 200

    put, get = stand_in.seen
    assert (put.method, put.path, put.query) == ("PUT", "/n0/topology", [("x", "1"), ("y", "two")])
    assert put.body == b'{"nodes": ["a", "b"]}'
    assert put.content_type == "application/json"
    assert (get.method, get.path, get.query, get.body) == ("GET", "/n0/topology", [], b"")


async def test_query_values_survive_percent_encoding(
    coordinator: Coordinator, stand_in: StandInManager, make_client: MakeClient
) -> None:
    """Reserved characters in query values (``&``, ``=``, ``+``, space) arrive intact."""
    await write_tree(coordinator, stand_in.address)
    client = await make_client()
    sent = [("name", "a&b"), ("expr", "1+2=3"), ("text", "two words"), ("pct", "100%")]
    resp = await client.get("/n0/topology", params=sent)
    assert resp.status == 200
    assert stand_in.seen[0].query == sent


async def test_system_manager_component_path_goes_straight_to_the_component(
    coordinator: Coordinator, stand_in: StandInManager, make_client: MakeClient
) -> None:
    """/systemmanager/components/n0/topology is sent to n0's manager as /n0/topology."""
    await write_tree(coordinator, stand_in.address)
    client = await make_client()
    resp = await client.get("/systemmanager/components/n0/topology?k=v")
    assert resp.status == 200
    [seen] = stand_in.seen
    assert (seen.path, seen.query) == ("/n0/topology", [("k", "v")])


async def test_manager_refusal_is_relayed_as_is(
    coordinator: Coordinator, stand_in: StandInManager, make_client: MakeClient
) -> None:
    """The manager's own error answer (status, JSON body, Retry-After) reaches the client."""
    await write_tree(coordinator, stand_in.address)
    client = await make_client()
    resp = await client.get("/n0/topology?busy=1")
    assert await error_body(resp, 503) == {"error": "Busy", "message": "try later"}
    assert resp.headers["Retry-After"] == "7"


# --- refusals -----------------------------------------------------------------------------------


async def test_unknown_id_is_404_json(
    coordinator: Coordinator, stand_in: StandInManager, make_client: MakeClient
) -> None:
    """An id nobody knows: 404 ObjectNotFound naming it; nothing forwarded."""
    await write_tree(coordinator, stand_in.address)
    client = await make_client()
    body = await error_body(await client.get("/nobody/topology"), 404)
    assert body["error"] == "ObjectNotFound" and body["object_id"] == "nobody"
    body = await error_body(await client.get("/"), 404)
    assert body["error"] == "NotFound"
    assert stand_in.seen == []


async def test_manager_absent_is_503_with_retry_after(
    coordinator: Coordinator, make_client: MakeClient
) -> None:
    """The manager's ephemeral is absent: 503 at once, Retry-After, JSON naming the
    object and the reason."""
    await write_tree(coordinator, manager_address=None)
    client = await make_client()
    resp = await client.get("/n0/topology")
    body = await error_body(resp, 503)
    assert int(resp.headers["Retry-After"]) >= 1
    assert body["error"] == "ObjectUnavailable"
    assert body["object_id"] == "n0"
    assert "romgr1" in body["reason"] and "not alive" in body["reason"]


async def test_manager_initializing_is_503(
    coordinator: Coordinator, stand_in: StandInManager, make_client: MakeClient
) -> None:
    """A manager that is restarting: 503 with its state as the reason; nothing forwarded."""
    await write_tree(coordinator, stand_in.address, manager_state="initializing")
    client = await make_client()
    resp = await client.get("/n0/topology")
    body = await error_body(resp, 503)
    assert resp.headers["Retry-After"] == "1"
    assert body["reason"] == (
        "component manager 'romgr1' is restarting: resuming its components' state"
    )
    assert stand_in.seen == []


async def test_refused_connection_is_503_at_once(
    coordinator: Coordinator, make_client: MakeClient
) -> None:
    """The manager's node names an address where nothing listens (a crash ZooKeeper has
    not noticed yet): 503 at once, not after the forward timeout."""
    await write_tree(coordinator, f"http://127.0.0.1:{free_port()}")
    client = await make_client(forward_timeout=10.0)
    started = time.monotonic()
    resp = await client.get("/n0/topology")
    body = await error_body(resp, 503)
    assert time.monotonic() - started < 3
    assert "Retry-After" in resp.headers
    assert body["object_id"] == "n0" and "refused" in body["reason"]


async def test_silent_manager_is_504_within_the_forward_timeout(
    coordinator: Coordinator, stand_in: StandInManager, make_client: MakeClient
) -> None:
    """A manager that never answers: 504 GatewayTimeout once the forward timeout runs out."""
    await write_tree(coordinator, stand_in.address)
    client = await make_client(forward_timeout=0.5)
    started = time.monotonic()
    resp = await client.get("/n0/topology?stall=1")
    body = await error_body(resp, 504)
    assert 0.4 < time.monotonic() - started < 3
    assert body["error"] == "GatewayTimeout" and body["object_id"] == "n0"


@pytest.mark.parametrize("manager_goes", ["deleted", "finalizing"])
async def test_in_flight_request_is_503_when_manager_goes_away(
    coordinator: Coordinator,
    stand_in: StandInManager,
    make_client: MakeClient,
    manager_goes: str,
) -> None:
    """A request is in flight when the manager's node disappears: answered 503 at that
    moment, well before the forward timeout.  A manager that only turns finalizing
    (a graceful stop) still answers what it received: its requests are left alone."""
    await write_tree(coordinator, stand_in.address)
    client = await make_client(forward_timeout=10.0)

    async def call() -> aiohttp.ClientResponse:
        return await client.get("/n0/topology?stall=1")

    in_flight = asyncio.ensure_future(call())
    await asyncio.wait_for(stand_in.received.wait(), 5)
    gone_at = time.monotonic()
    if manager_goes == "finalizing":
        await coordinator.set(
            paths.component_manager("romgr1"),
            {"id": "romgr1", "state": "finalizing", "address": stand_in.address},
        )
        done, _ = await asyncio.wait({in_flight}, timeout=0.5)
        assert not done, "a request to a manager that is stopping gracefully was aborted"
        gone_at = time.monotonic()
    await coordinator.delete(paths.component_manager("romgr1"))
    resp = await asyncio.wait_for(in_flight, 5)
    body = await error_body(resp, 503)
    assert time.monotonic() - gone_at < 3
    assert "Retry-After" in resp.headers
    assert body["object_id"] == "n0" and "went away" in body["reason"]


async def test_other_managers_leaving_does_not_abort_requests(
    coordinator: Coordinator, stand_in: StandInManager, make_client: MakeClient
) -> None:
    """Only requests to the manager that left are aborted: another manager's node
    going away leaves an in-flight request to romgr1 alone."""
    await write_tree(coordinator, stand_in.address)
    await coordinator.create(
        paths.component_manager("romgr2"), {"state": "running", "address": "http://x:1"}
    )
    client = await make_client(forward_timeout=10.0)

    async def call() -> aiohttp.ClientResponse:
        return await client.get("/n0/topology?stall=1")

    in_flight = asyncio.ensure_future(call())
    await asyncio.wait_for(stand_in.received.wait(), 5)
    await coordinator.delete(paths.component_manager("romgr2"))
    done, _ = await asyncio.wait([in_flight], timeout=0.5)
    assert not done, "a request to romgr1 was aborted because romgr2 left"
    stand_in.release.set()
    resp = await asyncio.wait_for(in_flight, 5)
    assert resp.status == 200


# --- metrics ------------------------------------------------------------------------------------


async def test_metrics_answers_prometheus_text(
    coordinator: Coordinator, stand_in: StandInManager, make_client: MakeClient
) -> None:
    """/metrics is Prometheus' text format and counts the requests by route template,
    method and status, the forwards' latency and the refusals by reason."""
    await write_tree(coordinator, stand_in.address)
    client = await make_client()
    assert (await client.get("/n0/topology")).status == 200
    assert (await client.get("/nobody")).status == 404
    resp = await client.get("/metrics")
    text = await resp.text()
    assert resp.status == 200
    assert resp.content_type == "text/plain"
    assert "# TYPE odenos_rest_requests_total counter" in text
    assert 'odenos_rest_requests_total{method="GET",route="/{id}/topology",status="200"}' in text
    assert 'odenos_rest_refusals_total{reason="not_found"}' in text
    assert 'odenos_rest_forward_seconds_count{kind="component"}' in text


async def wait_status(client: Any, path: str, status: int) -> int:
    """GET ``path`` until it answers ``status`` (the cache catching up); returns how many
    requests that took."""
    for attempt in range(1, 200):
        if (await client.get(path)).status == status:
            return attempt
        await asyncio.sleep(0.02)
    raise AssertionError(f"{path} never answered {status}")


async def test_monitored_objects_are_logged(
    coordinator: Coordinator,
    stand_in: StandInManager,
    make_client: MakeClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """monitor.logging: a request for a named object is logged with its outcome,
    refusals included; requests for other objects are not."""
    await write_tree(coordinator, stand_in.address)
    await coordinator.create(
        paths.component_manager("romgr2"), {"state": "running", "address": stand_in.address}
    )
    client = await make_client(monitored=frozenset({"n0"}))
    with caplog.at_level(logging.INFO, logger="resttranslator.app"):
        assert (await client.get("/n0/topology?a=1")).status == 200
        assert (await client.get("/romgr2/n0/topology")).status == 200  # not monitored
        await coordinator.delete(paths.component_manager("romgr1"))
        refused = await wait_status(client, "/n0/topology", 503)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("monitor:")]
    assert lines[0].startswith("monitor: GET /n0/topology?a=1 -> 200 (")
    assert lines[-1].startswith("monitor: GET /n0/topology -> 503 (")
    assert len(lines) == 1 + refused


# --- one canonical path, decided and forwarded ----------------------------------------------------


async def send_raw(client: Client, method: str, raw_path: str) -> aiohttp.ClientResponse:
    """Send ``raw_path`` byte for byte (``curl --path-as-is``): the test client would
    resolve dot segments itself."""
    base = str(client.make_url("/")).rstrip("/")
    return await client.session.request(method, URL(base + raw_path, encoded=True))


@pytest.mark.parametrize("method", ["POST", "GET"])
async def test_no_spelling_reaches_an_internal_endpoint(
    coordinator: Coordinator, stand_in: StandInManager, make_client: MakeClient, method: str
) -> None:
    """Dot segments, percent-encoded dots and slashes, empty segments: every spelling is
    decided on one canonical path and none reaches ``/_shutdown``, ``/_events`` or a
    manager's ``/metrics`` (``GET /metrics`` is the translator's own).  The stand-in
    plays the system manager too: what is sent there stays under ``/systemmanager/``."""
    await write_tree(coordinator, stand_in.address)
    await coordinator.set(
        paths.system_manager("systemmanager"), {"state": "running", "address": stand_in.address}
    )
    client = await make_client()
    for raw in TRAVERSALS:
        resp = await send_raw(client, method, raw)
        text = await resp.text()
        if method == "GET" and resp.status == 200 and raw.endswith("/metrics"):
            assert "odenos_rest_requests_total" in text  # the translator's own, public
            continue
        assert resp.content_type == "application/json", (raw, text)
        if resp.status == 405:  # the translator's own /metrics, refusing anything but GET
            assert raw.endswith("/metrics") and resp.headers["Allow"] == "GET, HEAD", raw
            continue
        assert resp.status in (400, 404) or stand_in.other, (raw, resp.status, text)
    assert stand_in.internal == []
    assert stand_in.seen == []
    # Reads are resolved (and land on the system manager's own unknown paths); a write
    # with a dot segment is refused before anything is sent.
    resolved = ["/systemmanager/_shutdown", "/systemmanager/_subscription_seen"]
    assert sorted(set(stand_in.other)) == (resolved if method == "GET" else [])


@pytest.mark.parametrize(
    ("raw", "forwarded"),
    [
        ("/n0/topology", "/n0/topology"),
        ("//n0//topology/", "/n0/topology"),
        ("/n0/./topology", "/n0/topology"),
        ("/n0/nodes/../topology", "/n0/topology"),
        ("/n0/%74opology", "/n0/topology"),
        ("/%6E0/topology", "/n0/topology"),
        ("/systemmanager/components/n0/topology", "/n0/topology"),
        ("/systemmanager/./components/n0/x/../topology", "/n0/topology"),
        ("/n0/nodes/a%20b", "/n0/nodes/a%20b"),
        ("/n0/nodes/of:1@x", "/n0/nodes/of:1@x"),
        ("/n0/nodes/%3Fq%23f", "/n0/nodes/%3Fq%23f"),
        ("/n0/nodes/%C3%A9", "/n0/nodes/%C3%A9"),
        ("/n0/nodes/%c3%a9", "/n0/nodes/%C3%A9"),
        ("/n0/nodes/%25", "/n0/nodes/%25"),
    ],
)
async def test_the_canonical_path_is_decided_and_forwarded(
    coordinator: Coordinator,
    stand_in: StandInManager,
    make_client: MakeClient,
    raw: str,
    forwarded: str,
) -> None:
    """What the manager receives is exactly the canonical spelling the route was
    decided on (query kept as sent)."""
    await write_tree(coordinator, stand_in.address)
    client = await make_client()
    resp = await send_raw(client, "GET", raw + "?k=a%26b")
    assert resp.status == 200, await resp.text()
    if forwarded == "/n0/topology":
        [seen] = stand_in.seen
        assert (seen.path, seen.query) == (forwarded, [("k", "a&b")])
        assert stand_in.other == []
    else:
        assert stand_in.other == [forwarded] and stand_in.seen == []


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("/n0/prop%zzerty", "two hex digits"),
        ("/n0/%", "two hex digits"),
        ("/n0/%ff%fe", "not UTF-8"),
        ("/n0/%00", "control character"),
        ("/n0/a%0Ab", "control character"),
        ("/n0%0A/topology", "control character"),
        ("/n0/a%2Fb", "encoded '/'"),
        ("/n0/../../topology", "above the root"),
    ],
)
async def test_paths_that_cannot_be_canonical_are_400(
    coordinator: Coordinator,
    stand_in: StandInManager,
    make_client: MakeClient,
    raw: str,
    why: str,
) -> None:
    await write_tree(coordinator, stand_in.address)
    client = await make_client()
    body = await error_body(await send_raw(client, "GET", raw), 400)
    assert body["error"] == "BadPath" and why in body["message"]
    assert stand_in.seen == [] and stand_in.other == [] and stand_in.internal == []


async def test_a_component_path_names_only_components(
    coordinator: Coordinator, stand_in: StandInManager, make_client: MakeClient
) -> None:
    """``/systemmanager/components/<id>/...`` is for components: a manager's id there is a
    404, not a way to reach the manager."""
    await write_tree(coordinator, stand_in.address)
    client = await make_client()
    body = await error_body(await client.get("/systemmanager/components/romgr1/property"), 404)
    assert body["object_id"] == "romgr1"
    assert stand_in.other == [] and stand_in.internal == []
