"""ZooKeeper ACLs (issue 7, item 3): with credentials, nobody else can change the system's
znodes; zkCli with the credentials can; the embedded default generates its own."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import NoAuthError

from odenos.config import load_config
from odenos.errors import ConfigError
from tests.support import Cluster, ZooKeeperServer, chroot_client

pytestmark = pytest.mark.timeout(120)

ZKCLI = "/usr/share/zookeeper/bin/zkCli.sh"


def credentials(tmp_path: Path, mode: int = 0o600) -> Path:
    path = tmp_path / "zk.auth"
    path.write_text("odenos:s3cret-for-the-test\n")
    path.chmod(mode)
    return path


@pytest.fixture
def anonymous(zk_server: ZooKeeperServer, chroot: str) -> Iterator[KazooClient]:
    with chroot_client(zk_server, chroot) as client:
        yield client


def refused(action: Callable[[], Any]) -> bool:
    try:
        action()
    except NoAuthError:
        return True
    return False


def start(cluster: Cluster, extra: str) -> None:
    cluster.write_config(extra=extra)
    cluster.start_core()
    cluster.start_cm("romgr1")
    cluster.create_network("network0", "romgr1")
    node = {"node_id": "n1", "type": "Node", "ports": {}, "attributes": {}}
    assert cluster.put("network0/topology/nodes/n1", node).status == 201


def test_an_anonymous_client_changes_nothing_and_reads_only_the_public_tree(
    cluster: Cluster, tmp_path: Path, anonymous: KazooClient
) -> None:
    start(cluster, f"zookeeper.auth {credentials(tmp_path)}")
    zk = anonymous
    # The reference's tree, as ODENOS's tools list it:
    assert zk.get_children("/components") == ["romgr1:network0"]
    assert "romgr1" in zk.get_children("/component_managers")
    # ... but nothing of the system's can be created, changed or deleted:
    attempts = {
        "create a desired component": lambda: zk.create("/odenos/components/evil", b"{}"),
        "create a live component": lambda: zk.create("/components/romgr1:evil", b"{}"),
        "rewrite a manager's address": lambda: zk.set("/component_managers/romgr1", b"{}"),
        "delete the system manager": lambda: zk.delete("/system_manager/systemmanager"),
        "delete a component": lambda: zk.delete("/odenos/components/network0"),
        "rewrite a record": lambda: zk.set("/odenos/state/network0/node%2Fn1", b"{}"),
        "take the global lock": lambda: zk.create("/odenos/lock/x", b"", ephemeral=True),
        "read the desired state": lambda: zk.get_children("/odenos/components"),
        "read the records": lambda: zk.get_children("/odenos/state/network0"),
    }
    allowed = [what for what, action in attempts.items() if not refused(action)]
    assert allowed == []
    assert cluster.get("network0/topology/nodes/n1").status == 200

    # zkCli with the credentials (given on its input, not its command line) may.
    if Path(ZKCLI).exists():
        script = (
            "addauth digest odenos:s3cret-for-the-test\n"
            "ls /odenos/components\n"
            "create /odenos/zkcli-was-here x\n"
            "quit\n"
        )
        host = cluster.zk_address + cluster.chroot
        done = subprocess.run(
            [ZKCLI, "-server", host], input=script, capture_output=True, text=True, timeout=60
        )
        out = done.stdout + done.stderr
        assert "[network0]" in out and "Created /odenos/zkcli-was-here" in out, out


def test_without_world_read_the_public_tree_is_closed_too(
    cluster: Cluster, tmp_path: Path, anonymous: KazooClient
) -> None:
    start(cluster, f"zookeeper.auth {credentials(tmp_path)}\nzookeeper.world_read off")
    assert refused(lambda: anonymous.get_children("/components"))
    assert refused(lambda: anonymous.get("/system_manager/systemmanager"))


def test_a_tree_made_without_credentials_is_closed_when_they_come(
    cluster: Cluster, tmp_path: Path, anonymous: KazooClient
) -> None:
    start(cluster, "")
    anonymous.set("/odenos/components/network0", anonymous.get("/odenos/components/network0")[0])
    for name in ("romgr1", "systemmanager"):
        assert cluster.stop(name) == 0
    cluster.write_config(extra=f"zookeeper.auth {credentials(tmp_path)}")
    cluster.start_core()
    cluster.start_cm("romgr1")
    assert refused(lambda: anonymous.set("/odenos/components/network0", b"{}"))
    assert refused(lambda: anonymous.delete("/odenos/state/network0/node%2Fn1"))
    assert "ZooKeeper ACLs set on" in cluster.log("systemmanager")
    assert cluster.get("network0/topology/nodes/n1").status == 200


def test_credentials_are_changed_with_rekey_zookeeper(
    cluster: Cluster, tmp_path: Path, anonymous: KazooClient
) -> None:
    """odenos rekey-zookeeper: refused while a daemon runs; then every znode belongs to the
    new credentials (the old ones and anonymous clients change nothing), the file holds
    them, and the system starts on them with its components' state."""
    auth = credentials(tmp_path)
    start(cluster, f"zookeeper.auth {auth}")
    new = tmp_path / "new.auth"
    new.write_text("odenos:the-new-s3cret-for-the-test\n")
    new.chmod(0o600)
    conf = str(cluster.config_path)
    busy = subprocess.run(
        [sys.executable, "-m", "odenos.cli", "rekey-zookeeper", str(new), "-c", conf],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert busy.returncode != 0 and "stop" in busy.stderr, busy
    # Seen from another host (no pid files of these daemons): ZooKeeper says who still runs.
    elsewhere = tmp_path / "elsewhere.conf"
    elsewhere.write_text(cluster.config_path.read_text() + f"\nvar.dir {tmp_path / 'elsewhere'}\n")
    busy = subprocess.run(
        [sys.executable, "-m", "odenos.cli", "rekey-zookeeper", str(new), "-c", str(elsewhere)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert busy.returncode != 0 and "still registered in ZooKeeper" in busy.stderr, busy
    assert "romgr1" in busy.stderr and auth.read_text() != new.read_text()
    for name in ("romgr1", "systemmanager"):
        assert cluster.stop(name) == 0
    done = subprocess.run(
        [sys.executable, "-m", "odenos.cli", "rekey-zookeeper", str(new), "-c", conf],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done
    assert "znode(s) now belong to the new credentials" in done.stdout
    assert auth.read_text() == new.read_text() and auth.stat().st_mode & 0o777 == 0o600

    def client(secret: str) -> KazooClient:
        zk = KazooClient(
            hosts=cluster.zk_address + cluster.chroot, auth_data=[("digest", f"odenos:{secret}")]
        )
        zk.start(10)
        return zk

    old_client, new_client = client("s3cret-for-the-test"), client("the-new-s3cret-for-the-test")
    try:
        for zk in (old_client, anonymous):
            assert refused(lambda zk=zk: zk.set("/odenos/components/network0", b"{}"))
            assert refused(lambda zk=zk: zk.get_children("/odenos/state/network0"))
        assert new_client.get_children("/odenos/state/network0")
    finally:
        for zk in (old_client, new_client):
            zk.stop()
            zk.close()
    cluster.start_core()
    cluster.start_cm("romgr1")
    assert cluster.get("network0/topology/nodes/n1").status == 200
    assert "ZooKeeper ACLs set on" not in cluster.log("systemmanager")  # nothing left to fix


def test_a_credentials_file_open_to_others_is_a_config_error(tmp_path: Path) -> None:
    conf = tmp_path / "odenos.conf"
    auth = credentials(tmp_path, 0o644)
    conf.write_text(f"zookeeper.embed off\nzookeeper.host 127.0.0.1\nzookeeper.auth {auth}\n")
    with pytest.raises(ConfigError) as info:
        load_config(conf)
    assert info.value.line == 3 and "chmod 600" in info.value.message
    (tmp_path / "zk.auth").chmod(0o600)
    assert load_config(conf).zookeeper.auth_file == tmp_path / "zk.auth"
    assert os.stat(tmp_path / "zk.auth").st_mode & 0o777 == 0o600
