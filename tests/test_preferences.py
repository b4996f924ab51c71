"""Cluster-wide preferences (issue 10, item 5): validated, kept in ZooKeeper, applied live
by every daemon through a watch; set by REST or ``odenos config``."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from odenos.errors import BadRequest
from odenos.preferences import PREFERENCES, Preferences, check
from tests.support import Cluster, wait_until


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"log.level": "LOUD"}, "log.level"),
        ({"log.level": 10}, "log.level"),
        ({"rest.forward_timeout": 0}, "rest.forward_timeout"),
        ({"rest.forward_timeout": "5"}, "rest.forward_timeout"),
        ({"rest.retry_after": 1.5}, "rest.retry_after"),
        ({"rest.retry_after": True}, "rest.retry_after"),
        ({"events.queue_limit": 10}, "events.queue_limit"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_bad_preferences_are_400_naming_the_key(body: dict[str, Any], field: str) -> None:
    with pytest.raises(BadRequest) as err:
        check(body)
    assert err.value.details["field"] == field


def test_preferences_are_checked_and_null_is_the_default() -> None:
    assert check({"log.level": "debug", "rest.retry_after": 5.0, "events.queue_limit": None}) == {
        "log.level": "DEBUG",
        "rest.retry_after": 5,
    }
    with pytest.raises(BadRequest):
        check(["log.level"])
    prefs = Preferences()
    seen: list[dict[str, Any]] = []
    prefs.on_change(seen.append)
    prefs.update({"rest.retry_after": 9})
    prefs.update({"rest.retry_after": 9})  # no change: nobody told
    prefs.update({"rest.retry_after": "bad"})  # invalid data in the node: ignored, logged
    prefs.update(None)  # the node went: defaults
    assert seen == [{}, {"rest.retry_after": 9}, {}]
    assert prefs.get("rest.retry_after") == PREFERENCES["rest.retry_after"].default


def test_preferences_apply_live_on_every_daemon(cluster: Cluster) -> None:
    cluster.start_core()
    cluster.start_cm("romgr1")
    cluster.create_network("network0", "romgr1")
    assert cluster.get("systemmanager/preferences").body == {}
    # Bad input: 400 naming the key, nothing stored.
    reply = cluster.put("systemmanager/preferences", {"rest.retry_after": 0})
    assert reply.status == 400 and reply.body["field"] == "rest.retry_after"
    assert cluster.get("systemmanager/preferences").body == {}

    # By the command line: set, then get.
    assert cluster.odenos("config", "set", "rest.retry_after", "7").returncode == 0
    got = cluster.odenos("config", "get", "rest.retry_after")
    assert got.returncode == 0 and got.stdout.strip() == "7", got
    listing = cluster.odenos("config", "get")
    assert "rest.retry_after = 7" in listing.stdout and "log.level = (default)" in listing.stdout
    bad = cluster.odenos("config", "set", "log.level", "LOUD")
    assert bad.returncode == 1 and "log.level" in bad.stderr

    # The translator refuses with the new Retry-After (applied from its watch).
    cluster.kill("romgr1")
    wait_until(
        lambda: (
            (r := cluster.get("network0/topology")).status == 503
            and r.headers.get("Retry-After") == "7"
        ),
        15,
        "a 503 with Retry-After 7",
    )
    # The log level, on a manager started after the change and changed while it runs.
    cluster.start_cm("romgr1")
    assert cluster.put("systemmanager/preferences", {"log.level": "DEBUG"}).status == 200
    wait_until(
        lambda: (
            cluster.get("network0/topology").status == 200 and " DEBUG " in cluster.log("romgr1")
        ),
        15,
        "romgr1 logging at DEBUG",
    )
    # Put back to the defaults (null): the next refusal says 1 again.
    body = {"log.level": None, "rest.retry_after": None}
    assert cluster.put("systemmanager/preferences", body).body == {}
    cluster.kill("romgr1")
    wait_until(
        lambda: (
            (r := cluster.get("network0/topology")).status == 503
            and r.headers.get("Retry-After") == "1"
        ),
        15,
        "a 503 with the default Retry-After",
    )
    logging.getLogger(__name__).info("done")
