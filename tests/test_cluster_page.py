"""The live cluster page (issue 10, item 2) in headless Chromium (Debian's, driven by
Selenium): it lists the managers and components, draws a Network's topology, follows the
lifecycle events, and a ``kill -9`` of a manager turns its components to ``error`` on the
page within a second of the REST API saying so.  A screenshot is saved as a test
artifact (``test-artifacts/``, or ``$ODENOS_TEST_ARTIFACTS``)."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import Cluster, wait_until

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
ARTIFACTS = Path(
    os.environ.get(
        "ODENOS_TEST_ARTIFACTS", Path(__file__).resolve().parent.parent / "test-artifacts"
    )
)

pytestmark = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="Debian's chromium and chromium-driver are not installed (make test installs them)",
)


@pytest.fixture
def browser() -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,1000"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def row_state(browser: Any, comp_id: str) -> str | None:
    state: str | None = browser.execute_script(
        "const r = document.querySelector(`#components tr[data-id='${arguments[0]}']`);"
        "return r ? r.dataset.state : null;",
        comp_id,
    )
    return state


def test_the_page_follows_the_cluster_live(cluster: Cluster, browser: Any) -> None:
    cluster.start_core()
    cluster.start_cm("romgr1")
    cluster.start_cm("romgr2")
    cluster.create_network("network0", "romgr1")
    cluster.create_network("network1", "romgr2")
    for node_id in ("n1", "n2"):
        body = {"type": "Node", "node_id": node_id, "ports": {}, "attributes": {}}
        assert cluster.put(f"network1/topology/nodes/{node_id}", body).status == 201
        assert cluster.put(f"network1/topology/nodes/{node_id}/ports/p1", {}).status == 201
    link = {"src_node": "n1", "src_port": "p1", "dst_node": "n2", "dst_port": "p1"}
    assert cluster.put("network1/topology/links/l12", link).status == 201

    browser.get(f"{cluster.rest}/_cluster/")
    wait_until(
        lambda: (
            row_state(browser, "network0") == "running"
            and row_state(browser, "network1") == "running"
            and "live" in browser.find_element("id", "live").text
            and "connecting" not in browser.find_element("id", "live").text
        ),
        15,
        "the page listing the components, live",
    )
    managers = browser.find_elements("css selector", "#managers tbody tr")
    assert sorted(m.get_attribute("data-id") for m in managers) == ["romgr1", "romgr2"]
    # What a reader sees in the rows (not only the data attributes).
    cells = [
        c.text
        for c in browser.find_elements("css selector", "#components tr[data-id='network0'] td")
    ]
    assert cells[:4] == ["network0", "Network", "romgr1", "running"], cells
    cells = [
        c.text for c in browser.find_elements("css selector", "#managers tr[data-id='romgr1'] td")
    ]
    assert cells[0] == "romgr1" and cells[1] == "running" and cells[4] == "UP", cells
    # A topology drawn: choose network1, two nodes, one link.
    browser.execute_script(
        "const s = document.getElementById('network'); s.value = 'network1';"
        "s.dispatchEvent(new Event('change'));"
    )
    wait_until(
        lambda: (
            len(browser.find_elements("css selector", "#topology circle.node")) == 2
            and len(browser.find_elements("css selector", "#topology line.link")) == 1
        ),
        10,
        "network1's topology drawn",
    )
    # A component created now appears without a reload (the lifecycle event).
    assert (
        cluster.put("systemmanager/components/late", {"type": "Network", "cm_id": "romgr2"}).status
        == 201
    )
    wait_until(lambda: row_state(browser, "late") == "running", 10, "the new component on the page")

    # kill -9 of romgr1: once the REST API says network0 is in error, the page says so
    # within a second.
    cluster.kill("romgr1")
    wait_until(
        lambda: cluster.get("systemmanager/components/network0").body.get("state") == "error",
        30,
        "the REST API saying network0 is in error",
        interval=0.01,
    )
    said = time.monotonic()
    wait_until(
        lambda: row_state(browser, "network0") == "error", 1.0, "the page saying so", interval=0.01
    )
    assert time.monotonic() - said <= 1.0
    events = browser.find_element("id", "events").text
    assert "ComponentChanged update network0 error" in events, events
    cells = [
        c.text for c in browser.find_elements("css selector", "#managers tr[data-id='romgr1'] td")
    ]
    assert cells[1] == "down" and cells[4] == "DOWN", cells  # still listed: it holds network0

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "cluster-page.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
    # On a phone's width: one column, nothing wider than the screen.
    browser.set_window_size(390, 844)
    wait_until(
        lambda: browser.execute_script(
            "return document.documentElement.scrollWidth <= window.innerWidth"
        ),
        5,
        "the page fitting a phone's width",
    )
    assert browser.save_screenshot(str(ARTIFACTS / "cluster-page-phone.png"))
