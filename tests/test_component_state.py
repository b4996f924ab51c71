"""Durable component state: the records API, the manager's store on a real ZooKeeper,
and the Network's use of it (all or nothing per request)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
from typing import Any

import pytest

from componentmanager.state_store import StateStore
from odenos.components.network import Network
from odenos.components.state import (
    COMPRESS_ABOVE,
    LAST_WRITE,
    MAX_RECORD_BYTES,
    ComponentState,
    RecordTooLarge,
    decode_record,
    encode_record,
)
from odenos.errors import BadRequest, CoordinationUnavailable, NotFound, ObjectUnavailable
from odenos.zk import paths
from odenos.zk.client import Coordinator
from tests.support import TcpProxy, ZooKeeperServer, call

pytestmark = pytest.mark.timeout(60)


def noise(size: int) -> str:
    """Text that compresses little (base64 of random bytes: about 3 to 4)."""
    return base64.b64encode(os.urandom(size))[:size].decode()


# --- encoding ---------------------------------------------------------------------------------


def test_records_round_trip_and_large_ones_are_compressed() -> None:
    small = {"a": [1, 2.5, None, True, "é"]}
    assert decode_record(encode_record("c", "k", small)) == small
    large = {"text": "x" * (COMPRESS_ABOVE * 4)}
    data = encode_record("c", "k", large)
    assert data.startswith(b"z") and len(data) < COMPRESS_ABOVE
    assert decode_record(data) == large


def test_a_record_over_the_limit_is_413_naming_it() -> None:
    with pytest.raises(RecordTooLarge) as info:
        encode_record("n0", "node/big", {"attributes": {"blob": noise(2 * MAX_RECORD_BYTES)}})
    assert info.value.status == 413
    assert info.value.to_json()["key"] == "node/big"
    # Large but compressible is fine.
    encode_record("n0", "node/ok", {"blob": "a" * (3 * MAX_RECORD_BYTES)})


@pytest.mark.parametrize("value", [float("nan"), float("inf"), {"s": {1, 2}}, b"bytes"])
def test_values_that_are_not_json_are_400(value: Any) -> None:
    with pytest.raises(BadRequest):
        encode_record("n0", "k", value)


def test_state_api_in_memory() -> None:
    state = ComponentState("n0")
    state.put("flow/f1", {"v": 1})
    state.put("flow/f2", {"v": 2})
    state.put("node/a", {"v": 3})
    assert state.get("flow/f1") == {"v": 1} and "node/a" in state and len(state) == 3
    assert [k for k, _ in state.items("flow/")] == ["flow/f1", "flow/f2"]
    state.delete("flow/f1")
    state.delete("flow/nothing")
    assert state.keys() == ["flow/f2", "node/a"]
    for bad in ("", 7, "k" * 600):
        with pytest.raises(BadRequest):
            state.put(bad, 1)  # type: ignore[arg-type]


def test_write_stores_all_or_nothing() -> None:
    state = ComponentState("n0")
    state.put("a", 1)
    with pytest.raises(RecordTooLarge):
        state.write({"a": 2, "b": 3, "c": noise(2 * MAX_RECORD_BYTES)}, deletes=["a"])
    assert state.keys() == ["a"] and state.get("a") == 1


# --- the store, on a real ZooKeeper -------------------------------------------------------------


async def reopen(zk: Coordinator, comp_id: str, generation: int) -> dict[str, Any]:
    """What a restarted manager would read."""
    return await StateStore(zk, durable_timeout=5).open(comp_id, generation)


async def test_written_records_come_back_after_a_restart(coordinator: Coordinator) -> None:
    store = StateStore(coordinator, durable_timeout=5)
    assert await store.open("n0", 7) == {}
    state = ComponentState("n0")
    state.attach(store, {})
    state.put("node/a", {"attributes": {"k": "v"}})
    state.put("port/a/1", {"x": "y" * (COMPRESS_ABOVE * 2)})
    state.put("odd key/with ./..", [1])
    state.put("gone", 1)
    state.delete("gone")
    await state.flush()
    assert await reopen(coordinator, "n0", 7) == {
        "node/a": {"attributes": {"k": "v"}},
        "port/a/1": {"x": "y" * (COMPRESS_ABOVE * 2)},
        "odd key/with ./..": [1],
    }
    store.close()


async def test_writes_of_concurrent_requests_share_round_trips(coordinator: Coordinator) -> None:
    """200 records from 20 components, written while one batch is in flight: a handful
    of batches, not 200 round trips; every waiter answered once its write is durable."""
    store = StateStore(coordinator, durable_timeout=10)
    states = []
    for i in range(20):
        await store.open(f"c{i}", 1)
        state = ComponentState(f"c{i}")
        state.attach(store, {})
        states.append(state)

    async def request(state: ComponentState, n: int) -> None:
        LAST_WRITE.set(0)
        for k in range(10):
            state.put(f"r{k}", {"n": n, "k": k})
            await asyncio.sleep(0)  # requests interleave on the loop
        await state.flush()

    await asyncio.gather(*(request(s, i) for i, s in enumerate(states)))
    assert store.writes >= 200 and store.batches <= 12, (store.batches, store.writes)
    for i in (0, 7, 19):
        records = await reopen(coordinator, f"c{i}", 1)
        assert records == {f"r{k}": {"n": i, "k": k} for k in range(10)}
    store.close()


async def test_only_the_latest_value_of_a_record_is_written(coordinator: Coordinator) -> None:
    store = StateStore(coordinator, durable_timeout=5)
    await store.open("n0", 1)
    for v in range(50):
        store.submit("n0", "counter", json.dumps(v).encode())
    await store.flush_all()
    assert store.writes == 1
    assert await reopen(coordinator, "n0", 1) == {"counter": 49}
    store.close()


async def test_records_of_an_earlier_component_of_that_id_are_wiped(
    coordinator: Coordinator,
) -> None:
    """A component deleted and created anew under the same id has a desired record of a
    later czxid than the records root of the earlier one: those records are wiped."""
    store = StateStore(coordinator, durable_timeout=5)
    await store.open("n0", 1)
    store.submit("n0", "old", b"1")
    await store.flush_all()
    created_anew = (await coordinator.create_with_stat("/created-anew", None)).czxid
    assert await store.open("n0", created_anew) == {}
    assert await reopen(coordinator, "n0", created_anew) == {}
    data, stat = await coordinator.get(paths.state_root("n0"))
    assert data == {"generation": created_anew} and stat.czxid > created_anew
    store.close()


async def test_drop_removes_every_record_and_ignores_late_writes(
    coordinator: Coordinator,
) -> None:
    store = StateStore(coordinator, durable_timeout=5)
    await store.open("n0", 1)
    for k in range(30):
        store.submit("n0", f"k{k}", b"1")
    await store.flush_all()
    await store.drop("n0")
    assert await coordinator.exists(paths.state_root("n0")) is None
    store.submit("n0", "late", b"1")
    await store.flush_all()
    assert await coordinator.exists(paths.state_root("n0")) is None
    store.close()


async def test_writes_wait_out_a_lost_connection(
    zk_server: ZooKeeperServer, chroot: str, proxy: TcpProxy
) -> None:
    """The connection to ZooKeeper is cut while writes are queued: they are kept and
    written once it is back; what waited is answered then (within its deadline), and
    nothing is lost."""
    zk = Coordinator(f"127.0.0.1:{proxy.port}{chroot}", 6000, name="cut")
    await zk.start()
    try:
        store = StateStore(zk, durable_timeout=20)
        await store.open("n0", 1)
        proxy.pause()
        seqs = [store.submit("n0", f"k{k}", json.dumps(k).encode()) for k in range(20)]
        waiting = asyncio.ensure_future(store.wait_durable(seqs[-1]))
        await asyncio.sleep(0.3)
        proxy.cut()
        await asyncio.sleep(0.5)
        assert not waiting.done()
        proxy.is_cut = False
        proxy.resume()
        await asyncio.wait_for(waiting, 20)
        assert store.retries >= 1 or store.batches >= 1
        records = await reopen(zk, "n0", 1)
        assert records == {f"k{k}": k for k in range(20)}
        store.close()
    finally:
        await zk.stop()


async def test_a_write_not_confirmed_in_time_is_reported(
    zk_server: ZooKeeperServer, chroot: str, proxy: TcpProxy
) -> None:
    """ZooKeeper out of reach past the deadline: the waiter gets CoordinationUnavailable
    (a 503), and the write still lands once ZooKeeper is back."""
    zk = Coordinator(f"127.0.0.1:{proxy.port}{chroot}", 6000, name="cut")
    await zk.start()
    try:
        store = StateStore(zk, durable_timeout=0.5)
        await store.open("n0", 1)
        proxy.pause()
        seq = store.submit("n0", "k", b"1")
        with pytest.raises(CoordinationUnavailable):
            await store.wait_durable(seq)
        proxy.resume()
        store._durable_timeout = 20
        await store.wait_durable(seq)
        assert await reopen(zk, "n0", 1) == {"k": 1}
        store.close()
    finally:
        await zk.stop()


# --- the Network: a request is stored whole, or not at all -----------------------------------


def node(node_id: str, **attributes: Any) -> dict[str, Any]:
    return {"type": "Node", "node_id": node_id, "ports": {}, "attributes": attributes}


async def test_a_request_whose_record_is_too_large_changes_nothing(net: Network) -> None:
    published: list[str] = []
    net.publish = lambda event_type, body: published.append(event_type)  # type: ignore[method-assign]
    assert (await call(net, "PUT", "topology/nodes/a", node("a", k="v"))).status == 201
    before = (net.topology.to_json(), dict(net.state.items()))
    published.clear()

    with pytest.raises(RecordTooLarge):
        await call(net, "PUT", "topology/nodes/b", node("b", blob=noise(2 * MAX_RECORD_BYTES)))
    with pytest.raises(RecordTooLarge):
        await call(net, "PUT", "topology/nodes/a/attributes", {"blob": noise(2 * MAX_RECORD_BYTES)})
    whole = {"type": "Topology", "nodes": {"c": node("c", blob=noise(2 * MAX_RECORD_BYTES))}}
    with pytest.raises(RecordTooLarge):
        await call(net, "PUT", "topology", whole)
    assert (net.topology.to_json(), dict(net.state.items())) == before
    assert published == []


async def test_records_follow_every_change_and_restore_the_network(net: Network) -> None:
    """What the Network stores is enough to rebuild it as it was (versions, links,
    flows with status, a pending deletion)."""
    assert (await call(net, "PUT", "topology/nodes/a", node("a"))).status == 201
    assert (await call(net, "PUT", "topology/nodes/b", node("b", x=1))).status == 201
    for n, p in (("a", "1"), ("b", "2")):
        port = {"type": "Port", "node_id": n, "port_id": p, "attributes": {}}
        assert (await call(net, "PUT", f"topology/nodes/{n}/ports/{p}", port)).status == 201
    link = {
        "type": "Link",
        "link_id": "l",
        "src_node": "a",
        "src_port": "1",
        "dst_node": "b",
        "dst_port": "2",
    }
    assert (await call(net, "PUT", "topology/links/l", link)).status == 201
    flow = {
        "type": "BasicFlow",
        "matches": [{"type": "BasicFlowMatch", "in_node": "a", "in_port": "1"}],
        "path": ["l"],
        "edge_actions": {"b": [{"type": "FlowActionOutput", "output": "2"}]},
    }
    for flow_id in ("f1", "f2"):
        assert (await call(net, "PUT", f"flows/{flow_id}", flow)).status == 201
    for status in ("establishing", "established"):
        current = (await call(net, "GET", "flows/f2")).body
        assert (await call(net, "PUT", "flows/f2", {**current, "status": status})).status == 200
    assert (await call(net, "DELETE", "flows/f2")).status == 200  # teardown pending
    assert (await call(net, "PUT", "settings", {"s": 1})).status == 200

    again = Network(net.id, net.cm_id)
    again.state.attach(_NoSink(), dict(net.state.items()))
    await again.initialize()
    assert again.topology.to_json() == net.topology.to_json()
    assert again.flows.to_json() == net.flows.to_json()
    assert again.flows.deleting("f2") and again.settings == {"s": 1}
    # The pending deletion goes on from where it was: the driver's "none" removes it.
    current = (await call(again, "GET", "flows/f2")).body
    assert (await call(again, "PUT", "flows/f2", {**current, "status": "none"})).status == 200
    with pytest.raises(NotFound):
        await call(again, "GET", "flows/f2")


class _NoSink:
    def submit(self, component_id: str, key: str, data: bytes | None) -> int:
        return 0

    async def wait_durable(self, seq: int, component_id: str | None = None) -> None:
        return None


# --- fencing: a moved component's old instance cannot write ---------------------------------


async def test_writes_of_an_instance_whose_component_moved_are_refused(
    coordinator: Coordinator,
) -> None:
    """Each write is a transaction that checks the component's desired record is at the
    version its instance was made at.  Once the record names another manager (a
    reassignment bumps its version), ZooKeeper refuses the old instance's writes: its
    waiter is told (503), the records stay as the new owner wrote them."""
    path = paths.desired_component("n0")
    await coordinator.create(path, {"id": "n0", "type": "Network", "cm_id": "romgr1"})
    old = StateStore(coordinator, durable_timeout=5, cm_id="romgr1")
    await old.open("n0", 1)
    old.set_epoch("n0", 0)
    await old.wait_durable(old.submit("n0", "k", b'"old"'), "n0")

    # A restart policy changed (the record still names romgr1): the epoch follows.
    await coordinator.set(path, {"id": "n0", "type": "Network", "cm_id": "romgr1", "x": 1})
    await old.wait_durable(old.submit("n0", "k", b'"still mine"'), "n0")

    # Moved: the record names romgr2 now; romgr2 resumes it and writes.
    await coordinator.set(path, {"id": "n0", "type": "Network", "cm_id": "romgr2"})
    new = StateStore(coordinator, durable_timeout=5, cm_id="romgr2")
    assert await new.open("n0", 1) == {"k": "still mine"}
    new.set_epoch("n0", 2)
    await new.wait_durable(new.submit("n0", "k", b'"new"'), "n0")

    with pytest.raises(ObjectUnavailable):
        await old.wait_durable(old.submit("n0", "k", b'"stale"'), "n0")
    late = old.submit("n0", "other", b"1")
    await old.flush_all()
    assert late <= old._durable
    assert await reopen(coordinator, "n0", 1) == {"k": "new"}
    old.close()
    new.close()
