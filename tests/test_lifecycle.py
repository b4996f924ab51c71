"""The lifecycle protocol end to end: real daemons, real ZooKeeper, real HTTP.

Each test runs the core process and component managers as processes on a
chroot of its own, drives them through the REST translator, kills or stops
them, and looks at the znode tree as ``zkCli.sh ls`` would.
"""

from __future__ import annotations

import re
import signal
import threading
import time
import urllib.request
from datetime import datetime

from tests.support import SESSION_TIMEOUT_MS, Cluster, http, wait_until

EXPIRY = SESSION_TIMEOUT_MS / 1000 + 1.0  # the bound: session timeout + 1 s


def test_tree_as_zkcli_lists_it(cluster: Cluster) -> None:
    cluster.start_core()
    cluster.start_cm("romgr1")
    cluster.start_cm("romgr2")
    cluster.create_network("network0", "romgr1")
    cluster.create_network("lsw", "romgr2")

    assert cluster.ls("/") == ["component_managers", "components", "odenos", "system_manager"]
    assert cluster.ls("/system_manager") == ["systemmanager"]
    assert cluster.ls("/component_managers") == ["romgr1", "romgr2"]
    assert cluster.ls("/components") == ["romgr1:network0", "romgr2:lsw"]

    for path in ("/system_manager", "/component_managers", "/components"):
        _, stat = cluster.zk.get(path)
        assert stat.ephemeralOwner == 0, f"{path} must be persistent"
    sm, stat = cluster.node("/system_manager/systemmanager")
    assert stat.ephemeralOwner != 0
    assert sm["state"] == "running" and sm["address"].startswith("http://")
    cm, stat = cluster.node("/component_managers/romgr1")
    assert stat.ephemeralOwner != 0
    assert cm["state"] == "running" and "Network" in [t["type"] for t in cm["component_types"]]
    comp, stat = cluster.node("/components/romgr1:network0")
    assert stat.ephemeralOwner == cm_owner(cluster, "romgr1")
    # Which component of that id it is: the czxid of its desired record.
    assert comp.pop("generation") == cluster.node("/odenos/components/network0")[1].czxid
    assert comp == {
        "id": "network0",
        "type": "Network",
        "cm_id": "romgr1",
        "state": "running",
        "address": cm["address"],
    }
    desired, stat = cluster.node("/odenos/components/network0")
    assert stat.ephemeralOwner == 0
    # The request id tells the system manager's own record apart after a lost connection.
    assert desired.pop("request")
    assert desired == {"id": "network0", "type": "Network", "cm_id": "romgr1"}


def cm_owner(cluster: Cluster, cm_id: str) -> int:
    _, stat = cluster.zk.get(f"/component_managers/{cm_id}")
    return int(stat.ephemeralOwner)


def test_rest_api_of_the_system_manager(cluster: Cluster) -> None:
    cluster.start_core()
    cluster.start_cm("romgr1")

    managers = cluster.get("systemmanager/component_managers")
    assert managers.status == 200
    assert [m["id"] for m in managers.body] == ["romgr1"]
    types = cluster.get("systemmanager/component_types").body
    assert types["Network"]["cm_id"] == ["romgr1"]
    assert cluster.get("systemmanager/component_types/Network").body[0]["id"] == "romgr1"

    # Without cm_id a manager offering the type is chosen.
    created = cluster.put("systemmanager/components/net1", {"type": "Network", "id": "net1"})
    assert created.status == 201
    assert created.body["cm_id"] == "romgr1" and created.body["state"] == "running"
    # The same PUT again: it exists, 409 as ODENOS answers.
    again = cluster.put("systemmanager/components/net1", {"type": "Network", "id": "net1"})
    assert again.status == 409
    assert set(cluster.get("systemmanager/components").body) == {"net1"}
    assert cluster.get("systemmanager/objects/net1").body["type"] == "Network"
    assert cluster.get("systemmanager/objects/romgr1").body["type"] == "ComponentManager"

    posted = http("POST", f"{cluster.rest}/systemmanager/components", {"type": "Network"})
    assert posted.status == 200
    assert re.fullmatch(r"[0-9a-f-]{36}", posted.body["id"])

    # The component answers both ways: /<id>/... and /systemmanager/components/<id>/...
    node = {"node_id": "node001", "type": "Node", "version": "0", "ports": {}, "attributes": {}}
    assert cluster.put("net1/topology/nodes/node001", node).status == 201
    topo = cluster.get("systemmanager/components/net1/topology")
    assert topo.status == 200 and list(topo.body["nodes"]) == ["node001"]
    assert cluster.get("romgr1/components").body.keys() == {"net1", posted.body["id"]}

    assert cluster.delete("systemmanager/components/net1").status == 200
    assert cluster.get("systemmanager/components/net1").status == 404
    assert cluster.get("net1/topology").status == 404
    assert "romgr1:net1" not in cluster.ls("/components")


def test_bad_rest_input_gets_clear_errors(cluster: Cluster) -> None:
    cluster.start_core()
    cluster.start_cm("romgr1")
    cluster.create_network("network0")

    def error(reply_status: int, reply: object) -> None:
        assert isinstance(reply, dict) and {"error", "message"} <= reply.keys(), reply

    cases = [
        ("PUT", "systemmanager/components/x", None, b"{not json", 400),
        ("PUT", "systemmanager/components/x", [1, 2], None, 400),
        ("PUT", "systemmanager/components/x", {"id": "x"}, None, 400),
        ("PUT", "systemmanager/components/x", {"type": "Nope"}, None, 400),
        ("PUT", "systemmanager/components/x", {"type": "Network", "cm_id": "nocm"}, None, 400),
        ("PUT", "systemmanager/components/x", {"type": "Network", "id": "y"}, None, 400),
        ("PUT", "systemmanager/components/bad%20id", {"type": "Network"}, None, 400),
        ("PUT", "systemmanager/components/romgr1", {"type": "Network"}, None, 409),
        ("PUT", "systemmanager/components/network0", {"type": "Other"}, None, 409),
        ("GET", "systemmanager/components/nothere", None, None, 404),
        ("DELETE", "systemmanager/components/nothere", None, None, 404),
        ("GET", "systemmanager/component_managers/nocm", None, None, 404),
        ("GET", "nothere/topology", None, None, 404),
        ("GET", "network0/nosuchresource", None, None, 404),
        ("PUT", "network0/topology/nodes/n1", None, b"[", 400),
        ("PUT", "network0/property", {"state": "bogus"}, None, 400),
        ("PUT", "systemmanager/property", None, b'"text"', 400),
    ]
    for method, path, body, raw, status in cases:
        reply = http(method, f"{cluster.rest}/{path}", body, raw=raw)
        assert reply.status == status, (method, path, reply)
        error(reply.status, reply.body)
    # Nothing stored was lost on the way.
    assert list(cluster.get("systemmanager/components").body) == ["network0"]
    assert cluster.get("network0/topology").status == 200


def test_component_manager_waits_for_the_system_manager(cluster: Cluster) -> None:
    cluster.start_cm("romgr1", wait=False)
    wait_until(lambda: "listening on" in cluster.log("romgr1"), 30, "romgr1 to connect")
    assert cluster.ls("/component_managers") == []
    cluster.start_core()
    cluster.wait_cm_running("romgr1", timeout=10)
    # ZooKeeper's own order: the manager's node was created after the system manager's.
    _, sm = cluster.zk.get("/system_manager/systemmanager")
    _, cm = cluster.zk.get("/component_managers/romgr1")
    assert cm.czxid > sm.czxid


def _lock_intervals(log: str) -> list[tuple[datetime, datetime]]:
    # From "holds" to "releasing", logged just before the release: the next holder's
    # "holds" cannot come before it, while the "released" line after it may (seen once).
    stamps = re.findall(r"^(\S+ \S+) .*(holds|releasing) the global lock", log, re.M)
    times = [(datetime.strptime(t, "%Y-%m-%d %H:%M:%S,%f"), kind) for t, kind in stamps]
    held = [t for t, kind in times if kind == "holds"]
    released = [t for t, kind in times if kind == "releasing"]
    return list(zip(held, released, strict=True))


def test_two_managers_starting_together_serialize_on_the_lock(cluster: Cluster) -> None:
    cluster.start_core()
    # Hold the lock while both start: both must queue behind it, neither may register.
    lock = cluster.zk.Lock("/odenos/lock", "test")
    assert lock.acquire(timeout=10)
    try:
        cluster.start_cm("romgr1", wait=False)
        cluster.start_cm("romgr2", wait=False)
        wait_until(lambda: len(cluster.zk.get_children("/odenos/lock")) == 3, 30, "both to queue")
        # Shown as pending (waiting for approval) at most; none registered.
        for cm in cluster.ls("/component_managers"):
            assert cluster.node(f"/component_managers/{cm}")[0]["state"] == "pending"
    finally:
        lock.release()
    cluster.wait_cm_running("romgr1")
    cluster.wait_cm_running("romgr2")
    for cm in ("romgr1", "romgr2"):  # "running" is published just before the release
        wait_until(lambda cm=cm: "released the global lock" in cluster.log(cm), 5, "release")
    a = _lock_intervals(cluster.log("romgr1"))
    b = _lock_intervals(cluster.log("romgr2"))
    assert len(a) == 1 and len(b) == 1
    (a_in, a_out), (b_in, b_out) = a[0], b[0]
    assert a_out <= b_in or b_out <= a_in, f"lock held by both: {a[0]} and {b[0]}"


def test_kill_9_of_a_manager_refuses_at_once_then_by_zookeeper(cluster: Cluster) -> None:
    cluster.start_core()
    cluster.start_cm("romgr1")
    cluster.create_network("network0")
    assert cluster.get("network0/property").status == 200

    cluster.kill("romgr1")
    killed_at = time.monotonic()
    refused = cluster.get("network0/property")
    assert refused.status == 503
    assert "Retry-After" in refused.headers
    assert refused.body["object_id"] == "network0"
    assert "refused the connection" in refused.body["reason"]

    # ZooKeeper expires the session: the cache then refuses without trying.
    wait_until(
        lambda: cluster.get("systemmanager/components/network0").body.get("state") == "error",
        EXPIRY,
        "network0 in state error",
    )
    assert time.monotonic() - killed_at <= EXPIRY
    reply = cluster.get("network0/topology")
    assert reply.status == 503 and "not alive" in reply.body["reason"]
    assert cluster.get("systemmanager/component_managers/romgr1").status == 404
    assert "romgr1" not in [m["id"] for m in cluster.get("systemmanager/component_managers").body]
    assert cluster.ls("/components") == []
    wait_until(lambda: "romgr1 is gone" in cluster.log("systemmanager"), 5, "the loss logged")
    assert "crashed, or its ZooKeeper session expired" in cluster.log("systemmanager")

    # Restarted, it resumes: the same component, running again.
    cluster.start_cm("romgr1")
    prop = cluster.get("systemmanager/components/network0").body
    assert prop["state"] == "running" and prop["cm_id"] == "romgr1"
    assert cluster.get("network0/topology").status == 200
    assert cluster.ls("/components") == ["romgr1:network0"]


def test_restart_right_after_kill_9_takes_over_the_stale_nodes(cluster: Cluster) -> None:
    """Restarted before ZooKeeper noticed the crash: the old session's nodes are replaced."""
    cluster.start_core()
    cluster.start_cm("romgr1")
    cluster.create_network("network0")
    old_owner = cm_owner(cluster, "romgr1")
    cluster.kill("romgr1")
    cluster.start_cm("romgr1")
    assert cm_owner(cluster, "romgr1") != old_owner
    # The registry's caches of managers and of components catch up independently.
    prop = wait_until(
        lambda: (r := cluster.get("network0/property")).status == 200 and r.body, 5, "network0"
    )
    assert prop["state"] == "running"
    assert "stale node" in cluster.log("romgr1")


def test_a_live_node_deleted_by_hand_is_published_again(cluster: Cluster) -> None:
    """An operator deletes a component's ephemeral with zkCli: its manager publishes it
    again (it does not go by its memory of having written it), and the component answers."""
    cluster.start_core()
    cluster.start_cm("romgr1")
    cluster.create_network("network0")
    path = "/components/romgr1:network0"
    _, stat = cluster.zk.get(path)
    cluster.zk.delete(path)
    wait_until(
        lambda: (now := cluster.zk.exists(path)) is not None and now.czxid != stat.czxid,
        10,
        "the component's node published again",
    )
    wait_until(lambda: cluster.get("network0/property").status == 200, 5, "network0 answers")


def test_a_second_manager_with_the_same_id_is_refused(cluster: Cluster) -> None:
    cluster.start_core()
    first = cluster.start_cm("romgr1")
    twin = cluster.spawn("romgr1-twin", "componentmanager", "--id", "romgr1")
    assert twin.wait(30) == 1
    assert "already running" in cluster.log("romgr1-twin")
    assert first.poll() is None
    assert cluster.get("romgr1/property").status == 200
    # The twin left the live manager's node and pid file alone.
    assert cluster.node("/component_managers/romgr1")[0]["pid"] == first.pid
    assert (cluster.tmp_path / "var" / "tmp" / "romgr1.pid").read_text().strip() == str(first.pid)


def test_graceful_stop_removes_ephemerals_at_once(cluster: Cluster) -> None:
    cluster.start_core()
    cluster.start_cm("romgr1")
    cluster.create_network("network0")
    assert cluster.stop("romgr1") == 0
    # No waiting: the session was closed, the server removed the nodes.
    assert cluster.ls("/component_managers") == []
    assert cluster.ls("/components") == []
    reply = cluster.get("network0/property")
    assert reply.status == 503
    wait_until(lambda: "romgr1 stopped (graceful" in cluster.log("systemmanager"), 5, "log line")


def test_sigstop_is_detected_by_session_expiry_and_in_flight_requests_end(
    cluster: Cluster,
) -> None:
    cluster.start_core()
    cluster.start_cm("romgr1")
    cluster.create_network("network0")
    node = {"node_id": "n1", "type": "Node", "ports": {}, "attributes": {}}
    assert cluster.put("network0/topology/nodes/n1", node).status == 201

    cluster.signal("romgr1", signal.SIGSTOP)
    stopped_at = time.monotonic()
    answers: list[tuple[int, float]] = []

    def in_flight() -> None:
        reply = cluster.get("network0/topology")
        answers.append((reply.status, time.monotonic() - stopped_at))

    thread = threading.Thread(target=in_flight)
    thread.start()
    thread.join(10)
    assert answers, "the in-flight request hung"
    status, _ = answers[0]
    # The forward timeout is 3 s, the session timeout 2 s: the expiry answers first.
    assert status == 503
    assert cluster.get("systemmanager/components/network0").body["state"] == "error"

    # Woken up, it finds its session expired, registers again and resumes with its state.
    cluster.signal("romgr1", signal.SIGCONT)
    cluster.wait_cm_running("romgr1", timeout=15)
    wait_until(
        lambda: cluster.get("network0/topology").status == 200, 10, "network0 reachable again"
    )
    assert list(cluster.get("network0/topology").body["nodes"]) == ["n1"]
    assert "lost its ZooKeeper session" in cluster.log("romgr1")


def test_system_manager_restart_loses_no_component(cluster: Cluster) -> None:
    cluster.start_core()
    cluster.start_cm("romgr1")
    cluster.start_cm("romgr2")
    cluster.create_network("network0", "romgr1")
    cluster.create_network("network1", "romgr2")
    assert cluster.stop("systemmanager") == 0
    assert cluster.ls("/system_manager") == []
    assert cluster.get("systemmanager/components").status == 0  # nobody listens

    cluster.start_core()
    components = cluster.get("systemmanager/components").body
    assert {cid: p["state"] for cid, p in components.items()} == {
        "network0": "running",
        "network1": "running",
    }
    assert cluster.get("network1/topology").status == 200


def test_manager_restart_keeps_component_ids_and_new_components_land(cluster: Cluster) -> None:
    cluster.start_core()
    cluster.start_cm("romgr1")
    for i in range(3):
        cluster.create_network(f"net{i}")
    assert cluster.stop("romgr1") == 0
    # While romgr1 is down its components are known but refused.
    reply = cluster.get("net0/property")
    assert reply.status == 503 and "not alive" in reply.body["reason"]
    assert cluster.put("systemmanager/components/net9", {"type": "Network"}).status == 400
    cluster.start_cm("romgr1")
    assert sorted(cluster.get("romgr1/components").body) == ["net0", "net1", "net2"]
    assert all(
        p["state"] == "running" for p in cluster.get("systemmanager/components").body.values()
    )


def test_standalone_rest_translator(cluster: Cluster) -> None:
    cluster.start_core()
    cluster.start_cm("romgr1")
    cluster.create_network("network0")
    from odenos.zk.embedded import free_port

    port = free_port()
    cluster.spawn("rt2", "resttranslator", "--port", str(port))
    base = f"http://127.0.0.1:{port}"
    wait_until(
        lambda: http("GET", f"{base}/systemmanager/property").status == 200, 30, "translator"
    )
    assert http("GET", f"{base}/systemmanager/components").body.keys() == {"network0"}
    assert http("GET", f"{base}/network0/topology").status == 200
    assert http("GET", f"{base}/systemmanager/components/network0/topology").status == 200
    assert http("GET", f"{base}/romgr1/property").body["id"] == "romgr1"
    assert http("GET", f"{base}/nothere/property").status == 404
    cluster.kill("romgr1")
    assert http("GET", f"{base}/network0/topology").status == 503


def test_component_that_fails_to_initialize_is_a_clear_error(cluster: Cluster) -> None:
    (cluster.tmp_path / "components" / "broken.py").write_text(
        "from odenos.components.base import Component\n"
        "class Broken(Component):\n"
        "    TYPE = 'Broken'\n"
        "    async def on_initialize(self):\n"
        "        raise RuntimeError('no hardware here')\n"
    )
    cluster.start_core()
    cluster.start_cm("romgr1")
    reply = cluster.put("systemmanager/components/b0", {"type": "Broken", "cm_id": "romgr1"})
    assert reply.status == 500
    assert reply.body["error"] == "ComponentCreateFailed"
    assert "no hardware here" in reply.body["message"]
    # Rolled back: nothing stored, nothing live.
    assert cluster.get("systemmanager/components/b0").status == 404
    wait_until(lambda: cluster.ls("/components") == [], 5, "the failed instance gone")


def test_system_manager_session_expiry_re_registers(cluster: Cluster) -> None:
    cluster.start_core()
    cluster.start_cm("romgr1")
    cluster.create_network("network0")
    cluster.signal("systemmanager", signal.SIGSTOP)
    wait_until(lambda: cluster.ls("/system_manager") == [], EXPIRY + 2, "the SM node to expire")
    # The managers and their components are not affected by the system manager's absence.
    assert cluster.ls("/components") == ["romgr1:network0"]
    cluster.signal("systemmanager", signal.SIGCONT)
    wait_until(lambda: cluster.ls("/system_manager") == ["systemmanager"], 15, "re-registration")
    wait_until(
        lambda: cluster.get("systemmanager/components/network0").body.get("state") == "running",
        10,
        "network0 running through the re-registered SM",
    )
    assert "lost its ZooKeeper session" in cluster.log("systemmanager")


def test_metrics_and_monitor_logging(cluster: Cluster) -> None:
    cluster.write_config(extra="monitor.logging network0")
    cluster.start_core()
    cluster.start_cm("romgr1")
    cluster.create_network("network0")
    assert cluster.get("network0/topology").status == 200
    wait_until(lambda: "monitor: GET /network0/topology" in cluster.log("systemmanager"), 5, "log")
    request = urllib.request.urlopen(f"{cluster.rest}/metrics", timeout=10)
    text = request.read().decode()
    assert 'odenos_cluster_components{manager="romgr1",state="running"} 1.0' in text
    assert 'odenos_cluster_component_managers{state="running"} 1.0' in text
    assert 'odenos_rest_requests_total{method="GET",route="/{id}/topology",status="200"}' in text


SLOW_PLUGIN = """
import asyncio
from odenos.components.base import Component

class Slow(Component):
    TYPE = "Slow"
    async def on_initialize(self):
        await asyncio.sleep(1.5)
"""


def test_requests_while_a_manager_resumes_get_503_restarting(cluster: Cluster) -> None:
    (cluster.tmp_path / "components" / "slow.py").write_text(SLOW_PLUGIN)
    cluster.start_core()
    cluster.start_cm("romgr1")
    cluster.create_network("network0")
    assert cluster.put("systemmanager/components/slow0", {"type": "Slow"}).status == 201

    cluster.kill("romgr1")
    cluster.start_cm("romgr1", wait=False)
    pid = cluster.processes["romgr1"].pid

    def resuming() -> bool:
        reply = cluster.get("systemmanager/component_managers/romgr1")
        return (
            reply.status == 200
            and reply.body["pid"] == pid
            and (reply.body["state"] == "initializing")
        )

    # It re-creates slow0 under the global lock for 1.5 s: meanwhile its objects are refused.
    wait_until(resuming, 20, "romgr1 resuming")
    started = time.monotonic()
    reply = cluster.get("network0/property")
    assert time.monotonic() - started < 1.0, "a refusal must not wait"
    assert reply.status == 503
    assert reply.body["reason"] == (
        "component manager 'romgr1' is restarting: resuming its components' state"
    )
    assert reply.headers["Retry-After"] == "1"
    cluster.wait_cm_running("romgr1")
    assert cluster.get("network0/property").status == 200
    assert cluster.get("slow0/property").body["state"] == "running"


def test_ids_that_routing_gives_to_others_are_refused(cluster: Cluster) -> None:
    cluster.start_core()
    cluster.start_cm("romgr1")
    cluster.start_cm("romgr2")
    for taken in ("metrics", "resttranslator", "eventmanager", "systemmanager", "romgr2"):
        reply = cluster.put(f"systemmanager/components/{taken}", {"type": "Network"})
        assert reply.status == 409, (taken, reply)
    # A manager that is down but owns components is still known: its id stays taken.
    cluster.create_network("network0", "romgr2")
    assert cluster.stop("romgr2") == 0
    assert cluster.put("systemmanager/components/romgr2", {"type": "Network"}).status == 409
    # Naming that manager for a new component: it is away, not unknown.
    reply = cluster.put("systemmanager/components/n9", {"type": "Network", "cm_id": "romgr2"})
    assert reply.status == 503 and "Retry-After" in reply.headers


def test_put_property_finalizing_deletes_and_error_can_be_repaired(cluster: Cluster) -> None:
    cluster.start_core()
    cluster.start_cm("romgr1")
    cluster.create_network("network0")
    cluster.create_network("network1")

    # error: the component is refused, but its property can still be reached and fixed.
    assert cluster.put("network1/property", {"state": "error"}).status == 200
    wait_until(lambda: cluster.get("network1/topology").status == 503, 5, "network1 refused")
    assert cluster.get("network1/property").body["state"] == "error"
    assert cluster.put("network1/property", {"state": "running"}).status == 200
    wait_until(lambda: cluster.get("network1/topology").status == 200, 5, "network1 repaired")

    # finalizing: the reference's way to delete an object (what else the body changes is
    # answered, and goes with it).
    reply = cluster.put("network0/property", {"state": "finalizing", "description": "bye"})
    assert reply.status == 200, reply.body
    assert (reply.body["state"], reply.body["description"]) == ("finalizing", "bye")
    wait_until(lambda: cluster.get("systemmanager/components/network0").status == 404, 5, "deleted")
    wait_until(lambda: cluster.ls("/components") == ["romgr1:network1"], 5, "its node gone")
    assert "romgr1:network0" not in cluster.ls("/components")

    # The system manager's own state follows its registration.
    reply = cluster.put("systemmanager/property", {"state": "finalizing"})
    assert reply.status == 403
    assert cluster.get("systemmanager/property").body["state"] == "running"


def test_encoded_paths_reach_the_component_unchanged(cluster: Cluster) -> None:
    cluster.start_core()
    cluster.start_cm("romgr1")
    cluster.create_network("network0")
    node = {"type": "Node", "ports": {}, "attributes": {}}
    assert cluster.put("network0/topology/nodes/a%3Fb", {**node, "node_id": "a?b"}).status == 201
    direct = cluster.get("network0/topology/nodes/a%3Fb")
    via_sm = cluster.get("systemmanager/components/network0/topology/nodes/a%3Fb")
    assert direct.status == via_sm.status == 200
    assert direct.body == via_sm.body and via_sm.body["node_id"] == "a?b"


def test_settings_of_the_system_manager_survive_its_restart(cluster: Cluster) -> None:
    cluster.start_core()
    assert cluster.put("systemmanager/settings", {"k": "v"}).status == 200
    assert cluster.stop("systemmanager") == 0
    cluster.start_core()
    assert cluster.get("systemmanager/settings").body == {"k": "v"}


def test_unregistered_system_manager_answers_503_until_it_registers_again(
    cluster: Cluster,
) -> None:
    cluster.start_core()
    cluster.start_cm("romgr1")
    # Someone holds the global lock, so the re-registration has to wait for it.
    lock = cluster.zk.Lock("/odenos/lock", "test")
    cluster.signal("systemmanager", signal.SIGSTOP)
    try:
        assert lock.acquire(timeout=10)
        wait_until(lambda: cluster.ls("/system_manager") == [], EXPIRY + 2, "the SM's expiry")
    finally:
        cluster.signal("systemmanager", signal.SIGCONT)
    try:
        reply = wait_until(
            lambda: (r := cluster.get("systemmanager/property")).status == 503 and r,
            10,
            "the unregistered SM to refuse",
        )
        assert (
            "registering in ZooKeeper" in reply.body["reason"]
            or "unregistered" in reply.body["reason"]
        )
        assert "Retry-After" in reply.headers
        assert cluster.ls("/system_manager") == []
    finally:
        lock.release()
    wait_until(lambda: cluster.get("systemmanager/property").status == 200, 30, "re-registered")
    assert cluster.ls("/system_manager") == ["systemmanager"]


def test_delete_component_manager_removes_its_components_and_stops_it(cluster: Cluster) -> None:
    cluster.start_core()
    first = cluster.start_cm("romgr1")
    cluster.start_cm("romgr2")
    cluster.create_network("network0", "romgr1")
    cluster.create_network("network1", "romgr1")
    cluster.create_network("network2", "romgr2")
    # ODENOS's registration by PUT: managers register through ZooKeeper here.
    assert cluster.put("systemmanager/component_managers/romgr1", {}).status == 409
    reply = cluster.put("systemmanager/component_managers/romgr9", {})
    assert reply.status == 400 and "python -m componentmanager" in reply.body["message"]

    assert cluster.delete("systemmanager/component_managers/romgr1").status == 200
    assert sorted(cluster.get("systemmanager/components").body) == ["network2"]
    assert cluster.get("systemmanager/component_managers/romgr1").status == 404
    assert first.wait(10) == 0  # it stopped gracefully
    assert cluster.ls("/components") == ["romgr2:network2"]
    assert cluster.delete("systemmanager/component_managers/romgr1").status == 404


def test_every_object_answers_property_and_settings(cluster: Cluster) -> None:
    cluster.start_core()
    cluster.start_cm("romgr1")
    cluster.create_network("network0")
    for object_id in ("systemmanager", "eventmanager", "romgr1", "network0"):
        prop = cluster.get(f"{object_id}/property")
        assert prop.status == 200 and prop.body["id"] == object_id, prop
        described = cluster.put(f"{object_id}/property", {"description": "d", "owner": "me"})
        assert described.status == 200 and described.body["description"] == "d", described
        assert cluster.get(f"{object_id}/property").body["owner"] == "me"
        assert cluster.get(f"{object_id}/settings").status == 200
    # The daemons' objects: their state follows their process.
    for object_id in ("systemmanager", "eventmanager", "romgr1"):
        assert cluster.put(f"{object_id}/property", {"state": "finalizing"}).status == 403
    # A component manager's settings survive its restart, like the system manager's.
    assert cluster.put("romgr1/settings", {"poll": 5}).status == 200
    assert cluster.stop("romgr1") == 0
    cluster.start_cm("romgr1")
    assert cluster.get("romgr1/settings").body == {"poll": 5}
    # The event manager's settings are its subscriptions.
    subscriptions = {"event_subscriptions": {"network0": {"event_filters": {"romgr1": ["X"]}}}}
    assert cluster.put("eventmanager/settings", subscriptions).status == 200
    body = cluster.get("eventmanager/settings").body
    assert body["event_subscriptions"]["network0"]["event_filters"] == {"romgr1": ["X"]}
    assert cluster.put("eventmanager/settings", {"event_subscriptions": {}}).status == 200
    assert cluster.get("eventmanager/settings/event_subscriptions").body == {}
