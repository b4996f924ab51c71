"""Admission of component managers (issue 7, item 5): an unapproved manager registers as
pending and gets nothing until approved; revoking stops new placements on it."""

from __future__ import annotations

import pytest

from tests.support import Cluster, http, wait_until

pytestmark = pytest.mark.timeout(120)


def state(cluster: Cluster, cm_id: str) -> str | None:
    reply = cluster.get(f"systemmanager/component_managers/{cm_id}")
    return reply.body["state"] if reply.status == 200 else None


def test_pending_until_approved_and_no_new_placements_once_revoked(cluster: Cluster) -> None:
    cluster.write_config(extra="manager.auto_approve off")
    cluster.start_core()
    cluster.start_cm("romgr1", wait=False)
    wait_until(lambda: state(cluster, "romgr1") == "pending", 30, "romgr1 pending")
    prop = cluster.get("systemmanager/component_managers/romgr1").body
    assert prop["approved"] is False
    # Pending: it offers nothing, and cannot be named for a component.
    assert "Network" not in cluster.get("systemmanager/component_types").body
    body = {"type": "Network", "cm_id": "romgr1"}
    refused = cluster.put("systemmanager/components/n0", body)
    assert refused.status == 409 and "odenos approve romgr1" in refused.body["message"]
    assert cluster.get("systemmanager/components/n0").status == 404
    # Said loudly once it stays pending (auto-approval would have come at once).
    wait_until(
        lambda: "not approved: registered as pending" in cluster.log("romgr1"), 10, "the warning"
    )

    approved = cluster.odenos("approve", "romgr1")
    assert approved.returncode == 0 and "approved" in approved.stdout, approved.stderr
    cluster.wait_cm_running("romgr1")
    assert cluster.get("systemmanager/component_managers/romgr1/approval").body["by"] == "operator"
    assert cluster.put("systemmanager/components/n0", body).status == 201

    # Revoked: what it runs goes on, nothing new goes to it.
    assert cluster.odenos("revoke", "romgr1").returncode == 0
    assert cluster.get("n0/topology").status == 200
    assert state(cluster, "romgr1") == "running"
    again = cluster.put("systemmanager/components/n1", body)
    assert again.status == 409, again
    unplaced = http("PUT", f"{cluster.rest}/systemmanager/components/n2", {"type": "Network"})
    assert unplaced.status == 400 and "unknown component type" in unplaced.body["message"]
    assert cluster.odenos("revoke", "romgr1").returncode == 1  # not approved any more


def test_a_manager_approved_in_advance_and_auto_approval(cluster: Cluster) -> None:
    cluster.write_config(extra="manager.auto_approve off")
    cluster.start_core()
    # Approved before it ever registered: it never shows as pending.
    done = http("PUT", f"{cluster.rest}/systemmanager/component_managers/romgr2/approval")
    assert done.status == 201 and done.body["approved"] is True
    assert (
        http("PUT", f"{cluster.rest}/systemmanager/component_managers/romgr2/approval").status
        == 200
    )
    cluster.start_cm("romgr2")
    assert "registered as pending" not in cluster.log("romgr2")
    for bad in ("bad%20id", "_x"):
        reply = http("PUT", f"{cluster.rest}/systemmanager/component_managers/{bad}/approval")
        assert reply.status in (400, 404), (bad, reply)
    assert cluster.get("systemmanager/component_managers/romgr2").body["approved"] is True


def test_auto_approval_approves_whoever_registers(cluster: Cluster) -> None:
    cluster.start_core()  # the harness's config says manager.auto_approve on
    cluster.start_cm("romgr1")
    approval = cluster.get("systemmanager/component_managers/romgr1/approval").body
    assert approval["approved"] and approval["by"] == "manager.auto_approve"
