"""``process.event_loop``: the daemons run on uvloop by default, on asyncio's own loop when
the config says so, and the system works the same on either."""

from __future__ import annotations

from pathlib import Path

import pytest

from odenos.config import load_config
from odenos.errors import ConfigError
from tests.support import Cluster, http, wait_until


def _conf(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "odenos.conf"
    path.write_text(text)
    return path


def test_uvloop_is_the_default_and_asyncio_can_be_chosen(tmp_path: Path) -> None:
    assert load_config(_conf(tmp_path, "")).event_loop == "uvloop"
    assert load_config(_conf(tmp_path, "process.event_loop asyncio\n")).event_loop == "asyncio"


def test_an_unknown_event_loop_names_file_and_line(tmp_path: Path) -> None:
    conf = _conf(tmp_path, "\nprocess.event_loop trio\n")
    with pytest.raises(ConfigError) as info:
        load_config(conf)
    assert info.value.message == (f"{conf}:2: process.event_loop: 'trio' is not uvloop or asyncio")


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_the_system_runs_on_either_loop(cluster: Cluster, loop: str) -> None:
    cluster.write_config(extra=f"process.event_loop {loop}" if loop == "asyncio" else "")
    cluster.start_core()
    cluster.start_cm("romgr1")
    for name in ("systemmanager", "romgr1"):
        # Logged once started, a moment after the daemon shows as registered.
        wait_until(lambda name=name: "ready (pid " in cluster.log(name), 10, f"{name} ready")
        assert f"event loop {loop})" in cluster.log(name)
    assert cluster.create_network("network0", "romgr1").status == 201
    node = {"type": "Node", "node_id": "n1", "ports": {}, "attributes": {}}
    assert http("PUT", f"{cluster.rest}/network0/topology/nodes/n1", node).status == 201
    assert cluster.get("network0/topology/nodes/n1").body["node_id"] == "n1"
    # A crash and a restart on this loop: the manager comes back with its state.
    cluster.kill("romgr1")
    cluster.start_cm("romgr1")
    # Until the core's cache has seen it again: 503 with Retry-After (as clients are told).
    wait_until(lambda: cluster.get("network0/topology/nodes/n1").status == 200, 10, "network0 back")
