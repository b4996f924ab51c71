"""What a client was told stays true across crashes (real processes, real ZooKeeper).

A client keeps writing topology and flows while its network's manager is killed
with SIGKILL: every write answered 2xx is there after the restart, byte for
byte.  The same after a graceful stop and start of every process.
"""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from typing import Any

import pytest

from tests.support import Cluster, wait_until

pytestmark = pytest.mark.timeout(240)


def raw(method: str, url: str, body: bytes | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return 0, b""


def node_body(i: int) -> bytes:
    return (
        b'{"type":"Node","node_id":"n%d","ports":{"p%d":{"type":"Port","port_id":"p%d"}},'
        b'"attributes":{"i":%d,"vendor":"v"}}' % (i, i, i, i)
    )


def flow_body(i: int) -> bytes:
    return (
        b'{"type":"BasicFlow","flow_id":"f%d","priority":%d,'
        b'"matches":[{"type":"BasicFlowMatch","in_node":"n%d","in_port":"p%d"}],'
        b'"attributes":{"i":%d}}' % (i, 100 + i, i, i, i)
    )


class Writer(threading.Thread):
    """PUTs nodes n<i> and flows f<i> one after the other, remembering what was
    answered 2xx and with which body."""

    def __init__(self, rest: str) -> None:
        super().__init__(daemon=True)
        self.rest = rest
        self.acknowledged: dict[str, bytes] = {}  # path -> the body of the 2xx answer
        self.refused = 0
        self.stop = threading.Event()

    def run(self) -> None:
        i = 0
        while not self.stop.is_set():
            for path, body in (
                (f"n0/topology/nodes/n{i}", node_body(i)),
                (f"n0/flows/f{i}", flow_body(i)),
            ):
                status, answer = raw("PUT", f"{self.rest}/{path}", body)
                if 200 <= status < 300:
                    self.acknowledged[path] = answer
                else:
                    self.refused += 1
                    time.sleep(0.01)
            i += 1


def check_acknowledged(cluster: Cluster, acknowledged: dict[str, bytes]) -> None:
    """Each acknowledged object is there, and GET gives what the PUT answered (a
    node's GET shows its ports, which the PUT answer did too)."""
    assert acknowledged, "the client never got an answer"
    missing = []
    for path, answer in acknowledged.items():
        status, now = raw("GET", f"{cluster.rest}/{path}")
        if status != 200 or now != answer:
            missing.append((path, status, now[:200], answer[:200]))
    assert not missing, f"{len(missing)} acknowledged writes lost or changed: {missing[:3]}"


def test_writes_acknowledged_before_a_kill_survive_the_restart(cluster: Cluster) -> None:
    cluster.start_core()
    cluster.start_cm("romgr1")
    cluster.create_network("n0", "romgr1")
    writer = Writer(cluster.rest)
    writer.start()
    wait_until(lambda: len(writer.acknowledged) >= 40, 60, "40 acknowledged writes")
    cluster.kill("romgr1")
    wait_until(lambda: writer.refused >= 5, 30, "refusals while romgr1 is down")
    before_restart = len(writer.acknowledged)
    cluster.start_cm("romgr1")
    # Writes go on after the restart, on top of the resumed state.
    wait_until(lambda: len(writer.acknowledged) >= before_restart + 20, 60, "writes again")
    writer.stop.set()
    writer.join(30)
    check_acknowledged(cluster, writer.acknowledged)
    # The network resumed under the global lock and says what it restored.
    assert "restored" in cluster.log("romgr1")


def test_a_full_stop_and_start_keeps_topology_flows_and_settings(cluster: Cluster) -> None:
    cluster.start_core()
    cluster.start_cm("romgr1")
    cluster.start_cm("romgr2")
    cluster.create_network("n0", "romgr1")
    cluster.create_network("n1", "romgr2")
    acknowledged: dict[str, bytes] = {}
    for i in range(10):
        for path, body in (
            (f"n0/topology/nodes/n{i}", node_body(i)),
            (f"n0/flows/f{i}", flow_body(i)),
        ):
            status, answer = raw("PUT", f"{cluster.rest}/{path}", body)
            assert status == 201, answer
            acknowledged[path] = answer
    assert cluster.put("n1/settings", {"k": [1, 2]}).status == 200
    assert cluster.put("n1/property", {"description": "kept"}).status == 200
    whole: dict[str, Any] = {
        name: raw("GET", f"{cluster.rest}/n0/{name}")[1] for name in ("topology", "flows")
    }

    for name in ("romgr1", "romgr2", "systemmanager"):
        assert cluster.stop(name) == 0
    cluster.start_core()
    cluster.start_cm("romgr1")
    cluster.start_cm("romgr2")

    check_acknowledged(cluster, acknowledged)
    for name, body in whole.items():
        assert raw("GET", f"{cluster.rest}/n0/{name}")[1] == body
    assert cluster.get("n1/settings").body == {"k": [1, 2]}
    assert cluster.get("n1/property").body["description"] == "kept"


def test_a_deleted_component_leaves_no_records(cluster: Cluster) -> None:
    """Records go with the component; one created anew under the same id starts empty."""
    cluster.start_core()
    cluster.start_cm("romgr1")
    cluster.create_network("n0", "romgr1")
    assert raw("PUT", f"{cluster.rest}/n0/topology/nodes/n1", node_body(1))[0] == 201
    assert cluster.ls("/odenos/state") == ["n0"]
    assert cluster.delete("systemmanager/components/n0").status == 200
    wait_until(lambda: cluster.ls("/odenos/state") == [], 10, "records removed")
    cluster.create_network("n0", "romgr1")
    assert cluster.get("n0/topology").body["nodes"] == {}


def test_writes_acknowledged_before_a_kill_are_on_the_manager_it_moved_to(
    cluster: Cluster,
) -> None:
    """A ``reassign`` network whose manager is killed and does not come back: every write
    answered 2xx is there on the manager it moved to, and writes go on there."""
    cluster.start_core()
    cluster.start_cm("romgr1")
    cluster.start_cm("romgr2")
    body = {"type": "Network", "cm_id": "romgr1", "restart_policy": "reassign"}
    assert cluster.put("systemmanager/components/n0", body | {"reassign_after": 0}).status == 201
    writer = Writer(cluster.rest)
    writer.start()
    wait_until(lambda: len(writer.acknowledged) >= 40, 60, "40 acknowledged writes")
    cluster.kill("romgr1")
    wait_until(
        lambda: cluster.get("systemmanager/components/n0").body["cm_id"] == "romgr2",
        30,
        "n0 moved to romgr2",
    )
    before = len(writer.acknowledged)
    wait_until(lambda: len(writer.acknowledged) >= before + 20, 60, "writes on romgr2")
    writer.stop.set()
    writer.join(30)
    check_acknowledged(cluster, writer.acknowledged)
    assert "restored" in cluster.log("romgr2")
