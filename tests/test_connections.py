"""Connections end to end: REST, the system manager's checks, the logic component's hooks.

A logic component type is loaded from the PROCESS line's directory as a plugin,
exactly as a network-OS developer's component would be.
"""

from __future__ import annotations

import threading
from typing import Any

from tests.support import Cluster, http, wait_until

LOGIC_PLUGIN = """
from odenos.components.base import Component, Request, Response, route


class Logic(Component):
    TYPE = "Logic"
    DESCRIPTION = "a logic component that records what it is told"
    CONNECTION_TYPES = {"original": "1", "sliver": "*"}

    def __init__(self, object_id, cm_id):
        super().__init__(object_id, cm_id)
        self.told = []

    async def on_connection_added(self, connection):
        if connection.get("refuse"):
            raise ValueError("refused on purpose: " + connection["refuse"])
        self.told.append(["added", connection["id"]])

    async def on_connection_updated(self, connection):
        self.told.append(["updated", connection["id"]])

    async def on_connection_deleted(self, connection):
        self.told.append(["deleted", connection["id"]])

    @route("GET", "told")
    async def get_told(self, request: Request) -> Response:
        return Response(200, self.told)
"""


def connect(
    cluster: Cluster, kind: str = "original", conn_id: str | None = "conn0", **extra: Any
) -> Any:
    body = {
        "type": "LogicAndNetwork",
        "connection_type": kind,
        "logic_id": "logic0",
        "network_id": "network0",
        **extra,
    }
    if conn_id is not None:
        body["id"] = conn_id
        return http("PUT", f"{cluster.rest}/systemmanager/connections/{conn_id}", body)
    return http("POST", f"{cluster.rest}/systemmanager/connections", body)


def state_of(cluster: Cluster, conn_id: str) -> str | None:
    reply = cluster.get(f"systemmanager/connections/{conn_id}")
    return reply.body.get("state") if reply.status == 200 else None


def setup(cluster: Cluster) -> None:
    (cluster.tmp_path / "components" / "logic.py").write_text(LOGIC_PLUGIN)
    cluster.start_core()
    cluster.start_cm("romgr1")
    cluster.start_cm("romgr2")
    cluster.create_network("network0", "romgr1")
    reply = cluster.put("systemmanager/components/logic0", {"type": "Logic", "cm_id": "romgr2"})
    assert reply.status == 201, reply


def test_connection_lifecycle_through_rest(cluster: Cluster) -> None:
    setup(cluster)
    types = cluster.get("systemmanager/component_types").body
    assert types["Logic"]["connection_types"] == {"original": "1", "sliver": "*"}

    created = connect(cluster)
    assert created.status == 201 and created.body["state"] == "initializing"
    wait_until(lambda: state_of(cluster, "conn0") == "running", 10, "conn0 running")
    assert cluster.get("logic0/told").body == [["added", "conn0"]]
    assert cluster.ls("/odenos/connections") == ["conn0"]

    # original:1 is full; sliver:* takes any number; ids are generated when none is given.
    assert connect(cluster, conn_id="conn1").status == 400
    slivers = [connect(cluster, "sliver", conn_id=None) for _ in range(2)]
    assert all(r.status == 200 for r in slivers)
    assert len({r.body["id"] for r in slivers}) == 2
    assert len(cluster.get("systemmanager/connections").body) == 3

    # Connected components cannot be deleted.
    for comp in ("logic0", "network0"):
        reply = cluster.delete(f"systemmanager/components/{comp}")
        assert reply.status == 403 and "conn0" in reply.body["connections"], reply

    # An update keeps what is connected and tells the logic component.
    path = "systemmanager/connections/conn0"
    assert cluster.put(path, {"logic_id": "other"}).status == 400
    updated = cluster.put(path, {"note": "hello"})
    assert updated.status == 200 and updated.body["note"] == "hello"
    wait_until(lambda: ["updated", "conn0"] in cluster.get("logic0/told").body, 5, "update hook")

    # Delete: finalizing, the logic lets go, none, removed.
    for conn_id in cluster.get("systemmanager/connections").body:
        assert cluster.delete(f"systemmanager/connections/{conn_id}").status == 200
    assert cluster.get("systemmanager/connections").body == {}
    assert ["deleted", "conn0"] in cluster.get("logic0/told").body
    assert cluster.delete("systemmanager/connections/conn0").status == 404
    assert cluster.delete("systemmanager/components/logic0").status == 200
    assert cluster.delete("systemmanager/components/network0").status == 200


def test_bad_connections_are_refused_with_reasons(cluster: Cluster) -> None:
    setup(cluster)
    url = f"{cluster.rest}/systemmanager/connections"
    base = {
        "type": "LogicAndNetwork",
        "connection_type": "original",
        "logic_id": "logic0",
        "network_id": "network0",
    }
    cases = [
        ({**base, "type": "Other"}, "type"),
        ({**base, "logic_id": "nobody"}, "logic_id"),
        ({**base, "network_id": "nobody"}, "network_id"),
        ({**base, "network_id": "logic0"}, "network_id"),
        ({**base, "connection_type": "aggregated"}, "connection_type"),
        ({k: v for k, v in base.items() if k != "logic_id"}, "logic_id"),
        ([1, 2], None),
    ]
    for body, field in cases:
        reply = http("POST", url, body)
        assert reply.status == 400, (body, reply)
        assert {"error", "message"} <= reply.body.keys()
        if field is not None and "field" in reply.body:
            assert reply.body["field"] == field, (body, reply.body)
    assert http("POST", url, raw=b"{nope").status == 400
    assert cluster.get("systemmanager/connections").body == {}


def test_a_refused_connection_is_in_error_with_the_reason(cluster: Cluster) -> None:
    setup(cluster)
    assert connect(cluster, refuse="no such port").status == 201
    wait_until(lambda: state_of(cluster, "conn0") == "error", 10, "conn0 in error")
    conn = cluster.get("systemmanager/connections/conn0").body
    assert conn["reason"] == "refused on purpose: no such port"
    assert cluster.delete("systemmanager/connections/conn0").status == 200


def test_connections_survive_restarts_and_are_told_again(cluster: Cluster) -> None:
    setup(cluster)
    assert connect(cluster).status == 201
    wait_until(lambda: state_of(cluster, "conn0") == "running", 10, "conn0 running")

    # The logic's manager crashes and comes back: the re-created component is told again.
    cluster.kill("romgr2")
    cluster.start_cm("romgr2")
    wait_until(
        lambda: (r := cluster.get("logic0/told")).status == 200 and r.body == [["added", "conn0"]],
        10,
        "logic0 told of conn0 again",
    )
    assert state_of(cluster, "conn0") == "running"

    # The system manager restarts: nothing is lost.
    assert cluster.stop("systemmanager") == 0
    cluster.start_core()
    assert state_of(cluster, "conn0") == "running"

    # Deleted while the logic's manager is down: the record goes at once, and the
    # manager lets go of it when it comes back.
    assert cluster.stop("romgr2") == 0
    assert cluster.delete("systemmanager/connections/conn0").status == 200
    cluster.start_cm("romgr2")
    assert cluster.get("systemmanager/connections").body == {}


def test_the_connection_limit_holds_under_concurrent_requests(cluster: Cluster) -> None:
    setup(cluster)
    results: list[int] = []
    lock = threading.Lock()

    def post(i: int) -> None:
        reply = connect(cluster, conn_id=f"race{i}")
        with lock:
            results.append(reply.status)

    threads = [threading.Thread(target=post, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results) == [201] + [400] * 5
    assert len(cluster.get("systemmanager/connections").body) == 1


def test_put_of_a_connection_never_winds_its_state_back(cluster: Cluster) -> None:
    setup(cluster)
    assert connect(cluster).status == 201
    for i in range(10):  # updates racing with the logic's manager writing "running"
        assert cluster.put("systemmanager/connections/conn0", {"n": i}).status == 200
    wait_until(lambda: state_of(cluster, "conn0") == "running", 10, "conn0 running")
    assert cluster.get("systemmanager/connections/conn0").body["n"] == 9
    told = cluster.get("logic0/told").body
    assert told.count(["added", "conn0"]) == 1
