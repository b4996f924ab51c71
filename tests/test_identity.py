"""A wiped ZooKeeper is noticed, not taken for an empty cluster (odenos.identity)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from odenos.identity import (
    ClusterMismatch,
    ClusterNotStamped,
    check_member,
    id_file,
    stamp_or_check,
)
from odenos.zk import paths
from odenos.zk.client import Coordinator
from tests.support import http
from tests.test_cli import embedded_conf, odenos

pytestmark = pytest.mark.timeout(180)


async def test_the_first_core_stamps_and_members_follow(
    coordinator: Coordinator, tmp_path: Path
) -> None:
    core, member, stranger = tmp_path / "core", tmp_path / "member", tmp_path / "stranger"
    with pytest.raises(ClusterNotStamped):
        await check_member(coordinator, member, "zk")
    cluster = await stamp_or_check(coordinator, core, "zk")
    assert id_file(core).read_text().strip() == cluster
    assert await stamp_or_check(coordinator, core, "zk") == cluster  # again: the same
    assert await check_member(coordinator, member, "zk") == cluster
    assert id_file(member).read_text().strip() == cluster

    id_file(stranger).parent.mkdir()
    id_file(stranger).write_text("another-cluster\n")
    with pytest.raises(ClusterMismatch):
        await check_member(coordinator, stranger, "zk")
    with pytest.raises(ClusterMismatch):
        await stamp_or_check(coordinator, stranger, "zk")


async def test_a_wiped_zookeeper_is_refused_until_reinitialized(
    coordinator: Coordinator, tmp_path: Path
) -> None:
    core, member = tmp_path / "core", tmp_path / "member"
    old = await stamp_or_check(coordinator, core, "zk")
    await check_member(coordinator, member, "zk")
    await coordinator.delete_tree(paths.ROOT)  # the data is gone

    with pytest.raises(ClusterMismatch) as info:
        await stamp_or_check(coordinator, core, "zk")
    assert old in info.value.message and "--reinitialize" in info.value.message
    with pytest.raises(ClusterNotStamped):
        await check_member(coordinator, member, "zk")

    new = await stamp_or_check(coordinator, core, "zk", reinitialize=True)
    assert new != old
    # A member of the old cluster joins the one reinitialized from it.
    assert await check_member(coordinator, member, "zk") == new


def test_odenos_start_refuses_a_deleted_zookeeper_data_folder(tmp_path: Path) -> None:
    conf, rest = embedded_conf(tmp_path)
    base = f"http://127.0.0.1:{rest}"
    try:
        assert odenos("start", "-c", str(conf), cwd=tmp_path).returncode == 0
        body = {"type": "Network", "id": "n0", "cm_id": "romgr1"}
        assert http("PUT", f"{base}/systemmanager/components/n0", body).status == 201
        assert odenos("stop", "-c", str(conf), cwd=tmp_path).returncode == 0

        shutil.rmtree(tmp_path / "var" / "zookeeper")
        refused = odenos("start", "-c", str(conf), cwd=tmp_path)
        assert refused.returncode != 0
        output = refused.stdout + refused.stderr
        assert "holds no cluster" in output and "--reinitialize" in output, output
        assert http("GET", f"{base}/systemmanager/property").status == 0

        again = odenos("start", "-c", str(conf), "--reinitialize", cwd=tmp_path)
        assert again.returncode == 0, again.stdout + again.stderr
        assert http("GET", f"{base}/systemmanager/components").body == {}
    finally:
        odenos("stop", "-c", str(conf), cwd=tmp_path)
