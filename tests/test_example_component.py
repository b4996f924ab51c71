"""The example of docs/components.md, loaded from its folder by a real component manager."""

from __future__ import annotations

from pathlib import Path

from tests.support import Cluster, http, wait_until

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "components"


def test_the_documented_example_runs_in_a_component_manager(cluster: Cluster) -> None:
    cluster.write_config(extra=f"PROCESS romgr3,python,{EXAMPLES}")
    cluster.start_core()
    cluster.start_cm("romgr1")
    cluster.start_cm("romgr3")
    types = cluster.get("systemmanager/component_types").body
    assert types["Recorder"]["cm_id"] == ["romgr3"]
    assert types["Recorder"]["connection_types"] == {"original": "1", "watched": "*"}

    cluster.create_network("network0", "romgr1")
    assert cluster.put("systemmanager/components/rec", {"type": "Recorder"}).status == 201
    body = {
        "type": "LogicAndNetwork",
        "connection_type": "original",
        "logic_id": "rec",
        "network_id": "network0",
    }
    conn = http("POST", f"{cluster.rest}/systemmanager/connections", body).body
    wait_until(
        lambda: cluster.get(f"systemmanager/connections/{conn['id']}").body["state"] == "running",
        10,
        "the connection running",
    )
    assert http("POST", f"{cluster.rest}/rec/entries", {"note": "hi"}).status == 200
    assert http("POST", f"{cluster.rest}/rec/entries", {"note": ""}).status == 400
    entries = cluster.get("rec/entries").body
    assert [e["what"] for e in entries] == ["initialized", "connected", "note"]
    assert cluster.get("rec/entries?what=note").body[0]["note"] == "hi"
    assert cluster.get("rec/entries/1").body["network"] == "network0"
    assert cluster.get("rec/entries/9").status == 404

    # Its log is durable: killed and restarted, the Recorder comes back with it.
    cluster.kill("romgr3")
    cluster.start_cm("romgr3")
    wait_until(lambda: cluster.get("rec/entries").status == 200, 20, "rec back")
    entries = cluster.get("rec/entries").body
    assert [e["what"] for e in entries][:3] == ["initialized", "connected", "note"]
    assert "resumed" in [e["what"] for e in entries[3:]]
