"""A manager's host cut off from ZooKeeper and healed: no two instances take writes.

Three hosts in network namespaces on one bridge (``tests/netns.py``): the core,
romgr1 and romgr2, each with its own address (``process.host``), and a
ZooKeeper server in the root namespace.  romgr1's link is taken down: its
session expires, its ``reassign`` component moves to romgr2 with its records,
and romgr1, cut off, refuses writes; healed, it finds the component gone and
drops what it held, and its ``stay`` component comes back on it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from kazoo.client import KazooClient

from odenos.zk.embedded import free_port
from tests.netns import Hosts, available
from tests.support import http, signer_of, wait_until

pytestmark = [
    pytest.mark.timeout(240),
    pytest.mark.skipif(available() is not None, reason=str(available())),
]

ZK_JAR = "/usr/share/java/zookeeper.jar"


class Deployment:
    """ZooKeeper in the root namespace; a core and two managers on hosts of their own."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.hosts = Hosts(f"od{os.getpid() % 1000}", 100 + os.getpid() % 100)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.zk_port = free_port()
        self.rest_port = free_port()
        (tmp_path / "zk").mkdir()
        self._spawn(
            "zookeeper",
            [
                "java",
                "-cp",
                ZK_JAR,
                "org.apache.zookeeper.server.ZooKeeperServerMain",
                str(self.zk_port),
                str(tmp_path / "zk"),
                "200",
            ],
        )
        self.address = {name: self.hosts.add(name) for name in ("core", "romgr1", "romgr2")}
        self.rest = f"http://{self.address['core']}:{self.rest_port}"

    def config(self, name: str) -> Path:
        path = self.tmp_path / f"{name}.conf"
        path.write_text(
            "\n".join(
                [
                    "MANAGER systemmanager",
                    "PROCESS romgr1,python",
                    "PROCESS romgr2,python",
                    f"rest.host {self.address['core']}",
                    f"rest.port {self.rest_port}",
                    "rest.forward_timeout 3000",
                    "rest.auth off",  # the tests' own bridge
                    f"process.host {self.address[name]}",
                    "zookeeper.embed off",
                    "manager.auto_approve on",
                    f"zookeeper.host {self.hosts.gateway}:{self.zk_port}",
                    "zookeeper.session_timeout 2000",
                    f"var.dir {self.tmp_path / ('var-' + name)}",
                ]
            )
            + "\n"
        )
        return path

    def _spawn(self, name: str, argv: list[str]) -> None:
        with open(self.tmp_path / f"{name}.log", "ab") as out:
            self.procs[name] = subprocess.Popen(
                argv, stdout=out, stderr=out, stdin=subprocess.DEVNULL, cwd=self.tmp_path
            )

    def start(self, name: str) -> None:
        module = ["systemmanager"] if name == "core" else ["componentmanager", "--id", name]
        argv = [sys.executable, "-m", *module, "-c", str(self.config(name))]
        self._spawn(name, self.hosts.argv(name, argv))

    def get(self, path: str) -> object:
        return http("GET", f"{self.rest}/{path}").body

    def log(self, name: str) -> str:
        return (self.tmp_path / f"{name}.log").read_text(errors="replace")

    def close(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        self.hosts.close()


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    d = Deployment(tmp_path)
    try:
        yield d
    finally:
        d.close()


def test_a_cut_off_manager_takes_no_writes_and_gives_way_when_healed(
    deployment: Deployment,
) -> None:
    d = deployment
    d.start("core")
    wait_until(lambda: http("GET", f"{d.rest}/systemmanager/property").status == 200, 60, "core")
    d.start("romgr1")
    d.start("romgr2")

    def running(cm: str) -> bool:
        reply = http("GET", f"{d.rest}/systemmanager/component_managers/{cm}")
        return reply.status == 200 and reply.body["state"] == "running"

    wait_until(lambda: running("romgr1") and running("romgr2"), 60, "both managers")
    url = f"{d.rest}/systemmanager/components"
    moving = {"type": "Network", "cm_id": "romgr1", "restart_policy": "reassign"}
    assert http("PUT", f"{url}/n0", moving | {"reassign_after": 0}).status == 201
    assert http("PUT", f"{url}/s0", {"type": "Network", "cm_id": "romgr1"}).status == 201
    node = {"type": "Node", "ports": {}, "attributes": {}}
    assert http("PUT", f"{d.rest}/n0/topology/nodes/a", node | {"node_id": "a"}).status == 201
    romgr1 = http("GET", f"{d.rest}/romgr1/property").body["address"]
    assert romgr1.startswith(f"http://{d.address['romgr1']}:")

    d.hosts.cut("romgr1")

    def moved() -> bool:
        reply = http("GET", f"{url}/n0")
        return (
            reply.status == 200
            and reply.body["cm_id"] == "romgr2"
            and (reply.body["state"] == "running")
        )

    wait_until(moved, 30, "n0 moved to romgr2")
    assert http("PUT", f"{d.rest}/n0/topology/nodes/b", node | {"node_id": "b"}).status == 201
    # From inside romgr1's host, straight to romgr1 (signed, as a daemon would): it is cut
    # off, it takes no write.
    zk = KazooClient(hosts=f"{d.hosts.gateway}:{d.zk_port}")
    zk.start(10)
    try:
        signature = signer_of(zk).sign("PUT", "/n0/topology/nodes/c", b'{"type": "Node"}')
    finally:
        zk.stop()
        zk.close()
    inside = subprocess.run(
        d.hosts.argv(
            "romgr1",
            [
                sys.executable,
                "-c",
                "import json, urllib.request, urllib.error\n"
                f"r = urllib.request.Request('{romgr1}/n0/topology/nodes/c', "
                "data=b'{\"type\": \"Node\"}', method='PUT', "
                f"headers={{'X-Odenos-Signature': '{signature}'}})\n"
                "try:\n    print(urllib.request.urlopen(r, timeout=10).status)\n"
                "except urllib.error.HTTPError as e:\n    print(e.code)\n",
            ],
        ),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert inside.stdout.strip() == "503", inside.stdout + inside.stderr

    d.hosts.heal("romgr1")
    wait_until(
        lambda: (http("GET", f"{url}/s0").body or {}).get("state") == "running",
        60,
        "s0 back on romgr1",
    )
    assert set(http("GET", f"{d.rest}/n0/topology/nodes").body) == {"a", "b"}
    assert http("GET", f"{url}/n0").body["cm_id"] == "romgr2"
    wait_until(
        lambda: "n0" not in (http("GET", f"{d.rest}/romgr1/components").body or {"n0": 1}),
        30,
        "romgr1 dropped n0",
    )
    assert "lost its ZooKeeper session" in d.log("romgr1")
