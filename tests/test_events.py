"""Events between components: a Network's changes reach subscribers in other processes,
in order, with the reference's change-event body; losses are counted, never silent."""

from __future__ import annotations

import http.client as http_client
import itertools
import json
import threading
import time
import urllib.error
import urllib.request
from http.cookiejar import CookieJar
from typing import Any

from tests.support import Cluster, http, wait_until

WATCHER_PLUGIN = """
import asyncio

from odenos.components.base import Component, Request, Response, route


class Watcher(Component):
    TYPE = "Watcher"
    DESCRIPTION = "records the events it receives"

    def __init__(self, object_id, cm_id):
        super().__init__(object_id, cm_id)
        self.seen = []

    async def on_event(self, event):
        if self.settings.get("slow"):
            await asyncio.sleep(float(self.settings["slow"]))
        self.seen.append(event.to_json())

    @route("PUT", "watch/<publisher>")
    async def watch(self, request: Request, publisher: str) -> Response:
        await self.subscribe(publisher, request.body)
        return Response(200, self.event_filters)

    @route("GET", "seen")
    async def get_seen(self, request: Request) -> Response:
        return Response(200, self.seen)
"""


def node(node_id: str, **attributes: Any) -> dict[str, Any]:
    return {"type": "Node", "node_id": node_id, "ports": {}, "attributes": attributes}


def seen(cluster: Cluster, watcher: str, warm: bool = False) -> list[dict[str, Any]]:
    """What ``watcher`` received, warm-up events left out unless ``warm``."""
    reply = cluster.get(f"{watcher}/seen")
    events = reply.body if reply.status == 200 else []
    return [e for e in events if warm or not is_warm_up(e)]


def warm_up(cluster: Cluster, *watchers: str) -> None:
    """A subscription takes effect once the publisher's manager has seen it (its view is
    fed by a watch): publish warm-up nodes until every watcher has had one."""
    deadline = time.monotonic() + 10
    for i in itertools.count():
        assert cluster.put(f"network0/topology/nodes/warmup{i}", node(f"warmup{i}")).status == 201
        time.sleep(0.2)
        if all(len(seen(cluster, w, warm=True)) for w in watchers):
            return
        assert time.monotonic() < deadline, "the subscriptions never took effect"


def is_warm_up(event: dict[str, Any]) -> bool:
    return str(event["body"].get("id", "")).startswith("warmup")


def setup(cluster: Cluster) -> None:
    (cluster.tmp_path / "components" / "watcher.py").write_text(WATCHER_PLUGIN)
    cluster.start_core()
    cluster.start_cm("romgr1")
    cluster.start_cm("romgr2")
    cluster.create_network("network0", "romgr1")
    for watcher, cm in (("far", "romgr2"), ("near", "romgr1")):
        body = {"type": "Watcher", "cm_id": cm}
        assert cluster.put(f"systemmanager/components/{watcher}", body).status == 201


def test_changes_reach_subscribers_in_order_across_processes(cluster: Cluster) -> None:
    setup(cluster)
    # "far" (another process) subscribes itself; "near" is subscribed through the event manager.
    assert cluster.put("far/watch/network0", ["NodeChanged", "PortChanged"]).status == 200
    subscription = {"subscriber_id": "near", "event_filters": {"network0": ["NodeChanged"]}}
    reply = cluster.put("eventmanager/settings/event_subscriptions/near", subscription)
    assert reply.status == 200
    subs = cluster.get("eventmanager/settings/event_subscriptions").body
    assert subs["far"]["event_filters"] == {"network0": ["NodeChanged", "PortChanged"]}
    # ODENOS's free settings on the event manager leave the subscriptions alone.
    assert cluster.put("eventmanager/settings", {"colour": "blue"}).status == 200
    settings = cluster.get("eventmanager/settings").body
    assert settings["colour"] == "blue" and set(settings["event_subscriptions"]) >= {"far", "near"}
    assert cluster.get("systemmanager/objects/eventmanager").body["type"] == "EventManager"
    warm_up(cluster, "far", "near")

    assert cluster.put("network0/topology/nodes/n1", node("n1")).status == 201
    assert cluster.put("network0/topology/nodes/n1", node("n1", vendor="x")).status == 200
    port = {"type": "Port", "node_id": "n1", "port_id": "p1", "attributes": {}}
    assert cluster.put("network0/topology/nodes/n1/ports/p1", port).status == 201
    for i in range(30):
        assert cluster.put(f"network0/topology/nodes/m{i}", node(f"m{i}")).status == 201
    assert cluster.delete("network0/topology/nodes/m0").status == 200

    wait_until(lambda: len(seen(cluster, "far")) == 34, 10, "34 events at far")
    far = seen(cluster, "far")
    assert all(e["publisher_id"] == "network0" for e in far)
    add, update, port_add = far[0]["body"], far[1]["body"], far[2]
    assert far[0]["event_type"] == "NodeChanged" and add["action"] == "add"
    assert "prev" not in add and add["curr"]["node_id"] == "n1" and add["id"] == "n1"
    assert update["action"] == "update" and update["prev"]["attributes"]["vendor"] == "unknown"
    assert update["curr"]["attributes"]["vendor"] == "x" and update["version"] == "2"
    assert port_add["event_type"] == "PortChanged" and port_add["body"]["id"] == "p1"
    # In the order they were made.
    assert [e["body"]["id"] for e in far[3:33]] == [f"m{i}" for i in range(30)]
    assert far[33]["body"]["action"] == "delete" and "curr" not in far[33]["body"]

    # The same-process subscriber gets only NodeChanged, in the same order.
    wait_until(lambda: len(seen(cluster, "near")) == 33, 10, "33 events at near")
    assert [e["event_type"] for e in seen(cluster, "near")] == ["NodeChanged"] * 33


def test_events_wait_for_a_subscriber_whose_manager_restarts(cluster: Cluster) -> None:
    setup(cluster)
    assert cluster.put("far/watch/network0", ["NodeChanged"]).status == 200
    warm_up(cluster, "far")
    assert cluster.stop("romgr2") == 0
    for i in range(5):
        assert cluster.put(f"network0/topology/nodes/n{i}", node(f"n{i}")).status == 201
    # Queued at the publisher's manager while the subscriber is away...
    assert cluster.get("romgr1/property").body["events"]["queued"] >= 1
    cluster.start_cm("romgr2")
    # ...and delivered, in order, to the component re-created by its manager.
    wait_until(lambda: len(seen(cluster, "far")) == 5, 20, "the 5 events after the restart")
    assert [e["body"]["id"] for e in seen(cluster, "far")] == [f"n{i}" for i in range(5)]
    assert cluster.get("romgr1/property").body["events"]["dropped"] == {}


def test_undeliverable_events_are_counted(cluster: Cluster) -> None:
    setup(cluster)
    subscription = {"subscriber_id": "ghost", "event_filters": {"network0": ["NodeChanged"]}}
    path = "eventmanager/settings/event_subscriptions/ghost"
    assert cluster.put(path, subscription).status == 200
    # Publish until the publisher's manager has seen the subscription (a watch away).
    deadline = time.monotonic() + 10
    for i in itertools.count():
        assert cluster.put(f"network0/topology/nodes/n{i}", node(f"n{i}")).status == 201
        dropped = cluster.get("romgr1/property").body["events"]["dropped"]
        if dropped:
            break
        assert time.monotonic() < deadline, "the drop was never counted"
        time.sleep(0.1)
    assert set(dropped) == {"unknown_subscriber"}
    # Bad subscriptions are refused clearly.
    url = f"{cluster.rest}/eventmanager/settings/event_subscriptions/x"
    assert http("PUT", url, {"event_filters": {"network0": "NodeChanged"}}).status == 400
    assert http("PUT", url, {"subscriber_id": "y", "event_filters": {}}).status == 400
    assert cluster.delete(path).status == 200
    assert cluster.get(path).status == 404


class CookieClient:
    """An ODENOS-style REST client: it keeps the cookies it is given and sends them back,
    nothing else (no subscription id in the query)."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.jar = CookieJar()
        self._opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.base}/{path}", data=data, method=method)
        with self._opener.open(request, timeout=20) as response:
            payload = response.read()
            return response.status, json.loads(payload) if payload else None

    def cookies(self) -> dict[str, str]:
        return {cookie.name: str(cookie.value) for cookie in self.jar}


def test_odenos_clients_keep_their_event_stream_by_the_session_cookie(cluster: Cluster) -> None:
    """As ODENOS's servlets did: the first GET /event/stream opens a session (cookie
    JSESSIONID) whose id is the subscription id; the subscription PUT and the long polls
    that follow are recognised by the cookie alone, and answered as ODENOS answered them:
    one event per poll, its Event message [publisher_id, event_type, txid, body].  A
    cookie naming a subscription that is gone opens a new one, as a servlet opens a new
    session."""
    setup(cluster)
    client = CookieClient(cluster.rest)
    status, opened = client.call("GET", "event/stream")
    sid = opened["subscription_id"]
    assert status == 200 and client.cookies() == {"JSESSIONID": sid}
    filters = {"network0": ["NodeChanged"]}
    assert client.call("PUT", f"event/subscriptions/{sid}", filters) == (200, filters)
    # ODENOS's GET of the subscription, with the cookie: the filters.
    assert client.call("GET", f"event/subscriptions/{sid}") == (200, filters)
    # The same session: a GET is now the long poll (one event), not another subscription.
    assert cluster.put("network0/topology/nodes/warmup", node("warmup")).status == 201
    wait_until(
        lambda: client.call("GET", "event/stream?timeout=1")[0] == 200,
        10,
        "the warm-up event through the cookie's subscription",
    )
    assert client.call("GET", "event/stream?timeout=0") == (204, None)  # none waiting
    answers: list[Any] = []
    poller = threading.Thread(
        target=lambda: answers.append(client.call("GET", "event/stream?timeout=10"))
    )
    poller.start()
    assert cluster.put("network0/topology/nodes/n1", node("n1")).status == 201
    poller.join(15)
    assert answers, "the long poll did not come back"
    status, event = answers[0]
    assert status == 200 and event[:3] == ["network0", "NodeChanged", None]
    assert event[3]["id"] == "n1" and event[3]["action"] == "add"
    # Events that came between polls wait (ODENOS dropped them), one per poll, in order.
    for node_id in ("n2", "n3"):
        assert cluster.put(f"network0/topology/nodes/{node_id}", node(node_id)).status == 201
    got = []
    for _ in range(2):
        status, event = client.call("GET", "event/stream?timeout=10")
        assert status == 200
        got.append(event[3]["id"])
    assert got == ["n2", "n3"]
    assert client.cookies() == {"JSESSIONID": sid}  # still the one session
    # Another session's subscription is not this session's business: 404, as in ODENOS.
    other = cluster.get("event/stream").body["subscription_id"]
    for method in ("GET", "PUT"):
        try:
            client.call(
                method, f"event/subscriptions/{other}", filters if method == "PUT" else None
            )
            raise AssertionError(f"{method} of another session's subscription answered")
        except urllib.error.HTTPError as err:
            assert err.code == 404
    # Without the cookie (the extension), the subscription's own id is enough.
    assert cluster.get(f"event/subscriptions/{other}").body["subscription_id"] == other
    # Closed (or forgotten): the cookie opens a new subscription, and a new cookie.
    assert cluster.delete(f"event/subscriptions/{sid}").status == 200
    status, again = client.call("GET", "event/stream")
    assert status == 200 and again["subscription_id"] != sid
    assert client.cookies() == {"JSESSIONID": again["subscription_id"]}


def _poll(cluster: Cluster, sid: str, out: list[Any]) -> None:
    reply = http("GET", f"{cluster.rest}/event/stream?subscription_id={sid}&timeout=10")
    out.append(reply)


def test_rest_clients_long_poll_and_stream(cluster: Cluster) -> None:
    setup(cluster)
    opened = cluster.get("event/stream")
    assert opened.status == 200
    sid = opened.body["subscription_id"]
    filters = {"network0": ["NodeChanged"]}
    assert cluster.put(f"event/subscriptions/{sid}", filters).status == 200
    assert cluster.ls("/odenos/subscriptions") == [f"rest-{sid}"]
    # The publisher's manager sees the subscription a moment later (a watch): warm up.
    assert cluster.put("network0/topology/nodes/warmup", node("warmup")).status == 201
    wait_until(
        lambda: cluster.get(f"event/stream?subscription_id={sid}&timeout=1").body,
        10,
        "the warm-up event",
    )

    # ODENOS's long-poll: the GET waits until an event arrives.
    answers: list[Any] = []
    poller = threading.Thread(target=_poll, args=(cluster, sid, answers))
    poller.start()
    assert cluster.put("network0/topology/nodes/n1", node("n1")).status == 201
    poller.join(15)
    assert answers and answers[0].status == 200
    events = answers[0].body
    assert events, "the long-poll ran out of time without the event"
    assert events[0]["event_type"] == "NodeChanged" and events[0]["body"]["id"] == "n1"

    # Server-Sent Events: one line pair per event, as curl -N shows them.
    conn = http_client.HTTPConnection("127.0.0.1", cluster.rest_port, timeout=15)
    conn.request(
        "GET", f"/event/stream?subscription_id={sid}", headers={"Accept": "text/event-stream"}
    )
    response = conn.getresponse()
    assert response.status == 200
    assert response.getheader("Content-Type", "").startswith("text/event-stream")
    assert cluster.put("network0/topology/nodes/n2", node("n2")).status == 201
    lines = []
    while not any(line.startswith(b"data:") for line in lines):
        line = response.fp.readline()
        assert line, "the stream ended"
        lines.append(line)
    conn.close()
    assert lines[-2] == b"event: NodeChanged\n"
    assert json.loads(lines[-1][len(b"data:") :])["body"]["id"] == "n2"

    status = cluster.get(f"event/subscriptions/{sid}").body
    assert status["event_filters"] == filters and status["dropped"] == 0

    # The event manager's settings, read and written back as they are, keep the stream alive.
    settings = cluster.get("eventmanager/settings").body
    assert cluster.put("eventmanager/settings", settings).status == 200
    assert cluster.put("network0/topology/nodes/n3", node("n3")).status == 201
    after = cluster.get(f"event/stream?subscription_id={sid}&timeout=5").body
    assert [e["body"]["id"] for e in after] == ["n3"]
    assert cluster.delete(f"event/subscriptions/{sid}").status == 200
    assert cluster.ls("/odenos/subscriptions") == []
    assert cluster.get(f"event/stream?subscription_id={sid}").status == 404
    assert cluster.put("event/subscriptions/nope", filters).status == 404
    reopened = cluster.get("event/stream").body["subscription_id"]
    assert cluster.put(f"event/subscriptions/{reopened}", {"network0": "x"}).status == 400
    # Filters name object ids and event types (identifiers), as the OpenAPI says.
    for bad in ({"net work": ["NodeChanged"]}, {"network0": ["Node Changed"]}, {"": []}):
        assert cluster.put(f"event/subscriptions/{reopened}", bad).status == 400, bad
        settings = {"event_subscriptions": {"sub1": {"event_filters": bad}}}
        assert cluster.put("eventmanager/settings", settings).status == 400, bad
    assert cluster.put("eventmanager/settings", {"event_subscriptions": {"a b": {}}}).status == 400
    # A poll's timeout is a number of seconds, checked whether or not it opens a subscription.
    for timeout in ("-1", "nan", "inf", "soon"):
        assert cluster.get(f"event/stream?timeout={timeout}").status == 400, timeout
        query = f"subscription_id={reopened}&timeout={timeout}"
        assert cluster.get(f"event/stream?{query}").status == 400, timeout


def test_replacing_the_topology_publishes_topology_changed(cluster: Cluster) -> None:
    setup(cluster)
    assert cluster.put("far/watch/network0", ["TopologyChanged", "NodeChanged"]).status == 200
    warm_up(cluster, "far")
    topology = {"type": "Topology", "nodes": {"a": node("a"), "b": node("b")}, "links": {}}
    assert cluster.put("network0/topology", topology).status == 200
    wait_until(
        lambda: any(e["event_type"] == "TopologyChanged" for e in seen(cluster, "far")),
        10,
        "TopologyChanged",
    )
    events = seen(cluster, "far")
    # Each object changed first (a and b added), then the whole.
    assert [e["event_type"] for e in events] == ["NodeChanged"] * 2 + ["TopologyChanged"]
    whole = events[-1]["body"]
    assert whole["action"] == "update" and set(whole["curr"]["nodes"]) == {"a", "b"}
    assert all(n.startswith("warmup") for n in whole["prev"]["nodes"])


def test_a_slow_subscriber_gets_each_event_once_and_in_order(cluster: Cluster) -> None:
    """A batch whose handling takes longer than the sender waits for an answer must not be
    sent again and taken twice: the receiver queues it and answers at once."""
    setup(cluster)
    assert cluster.put("far/watch/network0", ["NodeChanged"]).status == 200
    warm_up(cluster, "far")
    assert cluster.put("far/settings", {"slow": 0.15}).status == 200
    count = 75  # 75 x 0.15 s: longer than the sender's 10 s wait for one batch
    for i in range(count):
        assert cluster.put(f"network0/topology/nodes/n{i}", node(f"n{i}")).status == 201
    wait_until(lambda: len(seen(cluster, "far")) >= count, 30, "every event handled")
    assert [e["body"]["id"] for e in seen(cluster, "far")] == [f"n{i}" for i in range(count)]
    stats = cluster.get("romgr2/property").body["events"]
    warm = len(seen(cluster, "far", warm=True)) - count
    assert stats["delivered"] == count + warm and stats["dropped"] == {}


LIFECYCLE = ["ComponentManagerChanged", "ComponentChanged", "ComponentConnectionChanged"]


def test_lifecycle_events_of_the_system_manager(cluster: Cluster) -> None:
    """ODENOS's system manager publishes ComponentManagerChanged and
    ComponentConnectionChanged, a component's manager ComponentChanged (here also as the
    system manager): a component in another process and REST clients receive them, in
    order, for a creation, a connection, a deletion and a manager's kill -9."""
    setup(cluster)
    assert cluster.put("far/watch/systemmanager", LIFECYCLE).status == 200
    sid = cluster.get("event/stream").body["subscription_id"]
    assert cluster.put(f"event/subscriptions/{sid}", {"systemmanager": LIFECYCLE}).status == 200
    by_manager = cluster.get("event/stream").body["subscription_id"]
    filters = {"romgr1": ["ComponentChanged"]}
    assert cluster.put(f"event/subscriptions/{by_manager}", filters).status == 200

    def lifecycle(watcher: str) -> list[tuple[str, str, str, str | None]]:
        """(event type, action, id, state) of what ``watcher`` received from the system
        manager."""
        found = []
        for event in seen(cluster, watcher):
            if event["publisher_id"] != "systemmanager":
                continue
            body = event["body"]
            obj = body.get("curr") or body.get("prev")
            found.append((event["event_type"], body["action"], obj["id"], obj.get("state")))
        return found

    cluster.create_network("network1", "romgr1")
    body = {"type": "DummyDriver", "cm_id": "romgr2"}
    assert cluster.put("systemmanager/components/driver1", body).status == 201
    conn = {
        "id": "c1",
        "type": "LogicAndNetwork",
        "connection_type": "original",
        "logic_id": "driver1",
        "network_id": "network1",
    }
    assert cluster.put("systemmanager/connections/c1", conn).status == 201
    wait_until(
        lambda: ("ComponentConnectionChanged", "update", "c1", "running") in lifecycle("far"),
        15,
        "the connection running, as an event",
    )
    events = lifecycle("far")
    assert events.index(("ComponentChanged", "add", "network1", "initializing")) < events.index(
        ("ComponentChanged", "update", "network1", "running")
    )
    assert ("ComponentConnectionChanged", "add", "c1", "initializing") in events
    # ODENOS's way: the ComponentChanged of romgr1's components, published as romgr1.
    got = cluster.get(f"event/stream?subscription_id={by_manager}&timeout=5").body
    assert {e["publisher_id"] for e in got} == {"romgr1"}
    assert ("add", "network1") in [(e["body"]["action"], e["body"]["curr"]["id"]) for e in got]
    assert cluster.delete("systemmanager/connections/c1").status == 200
    assert cluster.delete("systemmanager/components/driver1").status == 200
    wait_until(
        lambda: ("ComponentChanged", "delete", "driver1", "running") in lifecycle("far"),
        15,
        "driver1 deleted, as an event",
    )
    assert ("ComponentConnectionChanged", "delete", "c1", "finalizing") in lifecycle("far") or any(
        e[:3] == ("ComponentConnectionChanged", "delete", "c1") for e in lifecycle("far")
    )

    # kill -9 of romgr1: the manager goes, and its components are no longer running.
    before = len(lifecycle("far"))
    cluster.kill("romgr1")

    def after_kill() -> list[tuple[str, str, str, str | None]]:
        return lifecycle("far")[before:]

    wait_until(
        lambda: (
            any(e[0] == "ComponentManagerChanged" and e[2] == "romgr1" for e in after_kill())
            and any(
                e[:3] == ("ComponentChanged", "update", "network1") and e[3] != "running"
                for e in after_kill()
            )
        ),
        30,
        "romgr1 gone and network1 no longer running, as events",
    )

    # The REST client got the same events, in the same order (some not yet polled).
    polled: list[Any] = []
    for _ in range(20):
        got = cluster.get(f"event/stream?subscription_id={sid}&timeout=0").body
        if not got:
            break
        polled.extend(got)
    as_tuples = [
        (
            e["event_type"],
            e["body"]["action"],
            (e["body"].get("curr") or e["body"].get("prev"))["id"],
            (e["body"].get("curr") or e["body"].get("prev")).get("state"),
        )
        for e in polled
    ]
    far = lifecycle("far")
    assert as_tuples[: len(far)] == far[: len(as_tuples)]
    assert ("ComponentChanged", "add", "network1", "initializing") in as_tuples
