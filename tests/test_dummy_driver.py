"""The DummyDriver against a Network in this process, whose manager "goes down" for a
while: a status change the network could not take is tried again, not left half-way."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from odenos.components.base import Request, Response
from odenos.components.dummy_driver import DummyDriver
from odenos.components.network import Network
from odenos.errors import OdenosError
from tests.support import call


class FlakyNetwork:
    """The driver's calls to ``network``, answered 503 while ``down`` (as the translator
    answers for an object whose manager is gone)."""

    def __init__(self, network: Network) -> None:
        self.network = network
        self.down = False
        self.refused = 0

    async def request(
        self,
        object_id: str,
        method: str,
        path: str,
        body: Any = None,
        query: Mapping[str, str] | None = None,
    ) -> Response:
        if self.down:
            self.refused += 1
            return Response(503, {"error": "ObjectUnavailable", "message": "manager down"})
        try:
            return await self.network.dispatch(Request(method, path, query or {}, body))
        except OdenosError as exc:
            return Response(exc.status, {"error": exc.code, "message": str(exc)})


FLOW = {
    "type": "BasicFlow",
    "flow_id": "f1",
    "owner": "test",
    "enabled": True,
    "priority": "1",
    "matches": [],
    "path": [],
    "edge_actions": {},
    "attributes": {},
}


async def test_a_step_the_network_could_not_take_is_tried_again() -> None:
    network = Network("net0", "cm")
    driver = DummyDriver("driver0", "cm")
    calls = FlakyNetwork(network)
    driver.calls = calls
    driver.RETRY_FIRST = 0.01
    await driver.on_connection_added({"id": "c", "network_id": "net0"})
    assert (await call(network, "PUT", "flows/f1", FLOW)).status == 201

    calls.down = True
    flow = (await call(network, "GET", "flows/f1")).body
    await driver._drive(flow)  # its FlowChanged: the network does not answer
    assert calls.refused == 1 and network.flows.flows["f1"].status == "none"
    await asyncio.sleep(0.05)  # retried, still down
    assert calls.refused > 1
    calls.down = False
    async with asyncio.timeout(5):
        while network.flows.flows["f1"].status != "established":
            await asyncio.sleep(0.01)
    assert driver._retries == {}


async def test_a_flow_left_establishing_is_taken_on_to_established() -> None:
    network = Network("net0", "cm")
    driver = DummyDriver("driver0", "cm")
    driver.calls = FlakyNetwork(network)
    await driver.on_connection_added({"id": "c", "network_id": "net0"})
    created = (await call(network, "PUT", "flows/f1", FLOW)).body
    halfway = await call(network, "PUT", "flows/f1", {**created, "status": "establishing"})
    await driver._drive(halfway.body)
    assert network.flows.flows["f1"].status == "established"
