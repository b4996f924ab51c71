"""Declarative deployment (issue 10, item 4): ``odenos apply -f``, ``--dry-run``,
``--prune``, ``odenos export``; errors name the file's line."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from odenos.deploy import DeployError, load
from tests.support import Cluster, wait_until

EXAMPLE = Path(__file__).resolve().parent.parent / "etc" / "deploy.example.yaml"


def test_the_example_reads() -> None:
    deployment = load(EXAMPLE)
    assert set(deployment.components) == {"network0", "network1", "aggregator0", "driver0"}
    assert deployment.connections["c-aggregated"] == {
        "type": "aggregated",
        "logic": "aggregator0",
        "network": "network1",
    }


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("components:\n  n0: {type: Network}\n  n0: {type: Network}\n", 3, "given twice"),
        ("components:\n  n0:\n    tpye: Network\n", 2, "unknown key 'tpye'"),
        ("components:\n  n0: {manager: romgr1}\n", 2, "needs type"),
        ("components:\n  bad id: {type: Network}\n", 2, "not a valid id"),
        ("conections: {}\n", 1, "unknown section"),
        ("components: [n0]\n", 1, "is a mapping"),
        ("connections:\n  c1: {type: original, logic: d}\n", 2, "needs network"),
        ("subscriptions:\n  w: {n0: NodeChanged}\n", 2, "publisher_id"),
        ("components:\n  n0: {type: Network\n", 3, "not YAML"),
        ("!!python/object:os.system {}\n", 1, "not YAML"),
        ("components:\n  n0: {type: Network, boundaries: {}}\n", 2, "only a Federator"),
        (
            "components:\n  s:\n    type: Slicer\n    slice_conditions: {x: []}\n",
            2,
            "not an integer",
        ),
        (
            "components:\n  s:\n    type: Slicer\n"
            "    slice_conditions: {'1': [{connection: c, in_node: n}]}\n",
            2,
            "needs an id",
        ),
    ],
)
def test_bad_files_name_the_line(tmp_path: Path, text: str, line: int, words: str) -> None:
    path = tmp_path / "deploy.yaml"
    path.write_text(text)
    with pytest.raises(DeployError) as err:
        load(path)
    assert f"{path}:{line}:" in err.value.message and words in err.value.message, err.value.message


def test_apply_is_idempotent_prunes_and_exports(cluster: Cluster) -> None:
    cluster.start_core()
    cluster.start_cm("romgr1")
    cluster.start_cm("romgr2")
    cluster.create_network("stray", "romgr1")  # not in the file: --prune removes it
    planned = cluster.odenos("apply", "-f", str(EXAMPLE), "--dry-run")
    assert planned.returncode == 0, planned.stderr
    assert "would create component network0 (Network on romgr1)" in planned.stdout
    assert "nothing done" in planned.stdout
    assert cluster.get("systemmanager/components/network0").status == 404

    applied = cluster.odenos("apply", "-f", str(EXAMPLE))
    assert applied.returncode == 0, applied.stderr
    assert "change(s) made" in applied.stdout
    components = cluster.get("systemmanager/components").body
    assert {"network0", "network1", "aggregator0", "driver0", "stray"} <= set(components)
    assert components["aggregator0"]["restart_policy"] == "reassign"
    assert cluster.get("driver0/settings").body == {
        "note": "stands in for the switches of network0"
    }
    assert cluster.get("systemmanager/preferences").body == {"rest.retry_after": 2}
    wait_until(
        lambda: all(
            c["state"] == "running" for c in cluster.get("systemmanager/connections").body.values()
        ),
        20,
        "the connections running",
    )
    again = cluster.odenos("apply", "-f", str(EXAMPLE))
    assert again.returncode == 0 and "nothing to change" in again.stdout, again.stdout

    # What cannot be made in place names the file's line.
    changed = cluster.tmp_path / "changed.yaml"
    changed.write_text(EXAMPLE.read_text().replace("type: DummyDriver", "type: Network"))
    refused = cluster.odenos("apply", "-f", str(changed))
    line = next(i for i, t in enumerate(changed.read_text().splitlines(), 1) if "driver0:" in t)
    assert refused.returncode == 1 and f"{changed}:{line}:" in refused.stderr, refused.stderr

    # Export, then apply the export with --prune: only "stray" goes.
    exported = cluster.odenos("export")
    assert exported.returncode == 0
    body = yaml.safe_load(exported.stdout)
    assert body["components"]["network0"] == {"type": "Network", "manager": "romgr1"}
    del body["components"]["stray"]
    export_file = cluster.tmp_path / "export.yaml"
    export_file.write_text(yaml.safe_dump(body))
    pruned = cluster.odenos("apply", "-f", str(export_file), "--prune")
    assert pruned.returncode == 0, pruned.stderr
    assert pruned.stdout.strip().splitlines()[0] == "delete component stray (not in the file)"
    assert cluster.get("systemmanager/components/stray").status == 404
    final = cluster.odenos("apply", "-f", str(export_file), "--prune")
    assert "nothing to change" in final.stdout


TABLES = """
components:
  n0: {type: Network, manager: romgr1}
  n1: {type: Network, manager: romgr1}
  s0: {type: Network, manager: romgr1}
  slicer0:
    type: Slicer
    manager: romgr2
    slice_conditions:
      "10":
        - {id: a1, connection: c-a, in_node: node1, in_port: p1}
        - {id: a2, connection: c-a, in_node: node2}
      "20": [{id: b1, connection: c-b, in_node: node1, in_port: p2}]
  federator0:
    type: Federator
    manager: romgr2
    boundaries:
      b1: {network1: n0, node1: x, port1: p, network2: n1, node2: y, port2: q}
connections:
  c-a: {type: sliver, logic: slicer0, network: s0}
"""


def test_apply_sets_slice_conditions_and_boundaries_and_exports_them(cluster: Cluster) -> None:
    """A Slicer's slice conditions and a Federator's boundaries are part of a deployment:
    applied (the file's table is the whole table), applied again without a change,
    exported, and an edited file changes only what it changed."""
    cluster.start_core()
    cluster.start_cm("romgr1")
    cluster.start_cm("romgr2")
    path = cluster.tmp_path / "tables.yaml"
    path.write_text(TABLES)
    applied = cluster.odenos("apply", "-f", str(path))
    assert applied.returncode == 0, applied.stderr + applied.stdout
    table = "slicer0/settings/slice_condition_table"
    assert cluster.get(table).body == {"20": ["b1"], "10": ["a1", "a2"]}
    assert cluster.get(f"{table}/conditions/a2").body == {
        "id": "a2",
        "type": "BasicSliceCondition",
        "connection": "c-a",
        "in_node": "node2",
    }
    boundary = cluster.get("federator0/settings/boundaries").body["b1"]
    assert (boundary["network1"], boundary["port2"]) == ("n0", "q")
    again = cluster.odenos("apply", "-f", str(path))
    assert again.returncode == 0 and "nothing to change" in again.stdout, again.stdout

    exported = yaml.safe_load(cluster.odenos("export").stdout)["components"]
    assert exported["slicer0"]["slice_conditions"] == {
        "10": [
            {"id": "a1", "connection": "c-a", "in_node": "node1", "in_port": "p1"},
            {"id": "a2", "connection": "c-a", "in_node": "node2"},
        ],
        "20": [{"id": "b1", "connection": "c-b", "in_node": "node1", "in_port": "p2"}],
    }
    assert exported["federator0"]["boundaries"]["b1"]["node2"] == "y"

    # Priority 20 left out, a condition and the boundary changed: only those change.
    edited = (
        TABLES.replace('      "20": [{id: b1, connection: c-b, in_node: node1, in_port: p2}]\n', "")
        .replace("in_node: node2}", "in_node: node3}")
        .replace("port2: q}", "port2: r}")
    )
    path.write_text(edited)
    changed = cluster.odenos("apply", "-f", str(path))
    assert changed.returncode == 0, changed.stderr + changed.stdout
    lines = changed.stdout.strip().splitlines()
    assert "set slice conditions 10 of slicer0" in lines
    assert "delete slice conditions 20 of slicer0" in lines
    assert "delete boundary b1 of federator0" in lines and "set boundary b1 of federator0" in lines
    assert cluster.get(table).body == {"10": ["a1", "a2"]}
    assert cluster.get(f"{table}/conditions/a2").body["in_node"] == "node3"
    assert cluster.get("federator0/settings/boundaries").body["b1"]["port2"] == "r"
    assert "nothing to change" in cluster.odenos("apply", "-f", str(path)).stdout
