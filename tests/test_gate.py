"""The ZooKeeper gate and registration of a daemon, as an operator sees them: in its
``property``, its log and its status file (read by ``odenos status``)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.support import (
    Cluster,
    ThreadedProxy,
    ZooKeeperServer,
    signed_http,
    signer_of,
    wait_until,
)

pytestmark = pytest.mark.timeout(120)


def test_a_stalled_connection_shows_recovering_then_up_again(
    zk_server: ZooKeeperServer, chroot: str, tmp_path: Path
) -> None:
    cluster = Cluster(tmp_path, zk_server.address, chroot)
    proxy = ThreadedProxy(zk_server.address)
    try:
        cluster.start_core()
        signer = signer_of(cluster.zk)  # before the test's own client goes through the proxy
        core_config = cluster.config_path
        # romgr1 alone reaches ZooKeeper through a proxy the test can stall.
        cluster.zk_address = proxy.address
        cluster.config_path = cluster.write_config(extra="zookeeper.session_timeout 5000")
        cluster.start_cm("romgr1")
        cluster.config_path = core_config
        address = cluster.get("romgr1/property").body["address"]

        def zookeeper() -> dict[str, str]:
            body = signed_http(signer, "GET", f"{address}/romgr1/property").body
            return body["zookeeper"] if isinstance(body, dict) else {}

        assert zookeeper()["gate"] == "UP" and zookeeper()["registration"] == "ONLINE"
        core = cluster.get("systemmanager/property").body["zookeeper"]
        assert (core["gate"], core["registration"]) == ("UP", "ONLINE")
        status_file = tmp_path / "var" / "tmp" / "romgr1.zk.json"
        assert json.loads(status_file.read_text())["gate"] == "UP"

        proxy.pause()
        paused = time.monotonic()
        wait_until(lambda: zookeeper().get("gate") == "RECOVERING", 20, "gate RECOVERING")
        assert "connection to ZooKeeper lost" in zookeeper()["reason"]
        assert zookeeper()["registration"] == "ONLINE"  # the session may still live
        assert json.loads(status_file.read_text())["gate"] == "RECOVERING"
        # Past the session timeout the server expires the session; the client learns it
        # when it gets through again.
        time.sleep(max(0.0, 7.0 - (time.monotonic() - paused)))
        proxy.resume()
        wait_until(
            lambda: (zookeeper().get("gate"), zookeeper().get("registration")) == ("UP", "ONLINE"),
            30,
            "back UP and ONLINE",
        )
        log = cluster.log("romgr1")
        for change in ("gate UP -> RECOVERING", "gate RECOVERING -> DOWN", "INTERRUPTED -> ONLINE"):
            assert change in log, change
    finally:
        cluster.close()
        proxy.close()
