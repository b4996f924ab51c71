"""The embedded ZooKeeper server, against real Java child processes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from kazoo.client import KazooClient

from odenos.errors import EnvironmentProblem, ZooKeeperServerError
from odenos.zk.embedded import (
    EmbeddedZooKeeper,
    find_classpath,
    find_java,
    four_letter,
    four_letter_sync,
    free_port,
    server_mode,
)

pytestmark = pytest.mark.timeout(60)


async def eventually(condition: Callable[[], Awaitable[bool]], within: float = 20.0) -> None:
    """Wait until ``condition()`` is true, failing after ``within`` s."""
    deadline = time.monotonic() + within
    while not await condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def serves(zk: EmbeddedZooKeeper) -> bool:
    try:
        return await four_letter(zk.host, zk.port, "ruok") == "imok"
    except OSError:
        return False


def process_gone(pid: int) -> bool:
    """True once ``pid`` has exited (a zombie whose parent died counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def session_timeouts(zk: EmbeddedZooKeeper) -> list[int]:
    """The negotiated timeout (ms) of every client connection, from ``cons``."""
    reply = four_letter_sync(zk.host, zk.port, "cons", 5.0)
    return [int(part.split(",")[0]) for part in reply.split(",to=")[1:]]


def write_znode(address: str, path: str, value: bytes) -> None:
    client = KazooClient(hosts=address)
    client.start(timeout=15)
    try:
        client.create(path, value)
    finally:
        client.stop()
        client.close()


def read_znode(address: str, path: str) -> bytes:
    client = KazooClient(hosts=address)
    client.start(timeout=15)
    try:
        data: bytes = client.get(path)[0]
        return data
    finally:
        client.stop()
        client.close()


@pytest.fixture
async def zk(tmp_path: Path) -> AsyncIterator[EmbeddedZooKeeper]:
    server = EmbeddedZooKeeper(free_port(), tmp_path / "zk")
    yield server
    await server.stop()


async def test_start_serves_standalone(zk: EmbeddedZooKeeper, tmp_path: Path) -> None:
    await zk.start()
    assert zk.address == f"127.0.0.1:{zk.port}"
    assert zk.pid is not None
    assert "Mode: standalone" in await four_letter(zk.host, zk.port, "srvr")
    config = (tmp_path / "zk" / "zoo.cfg").read_text()
    assert f"clientPort={zk.port}\n" in config
    assert "minSessionTimeout=1000\n" in config
    assert (tmp_path / "zk" / "zookeeper.log").stat().st_size > 0


async def test_start_twice_keeps_the_running_server(zk: EmbeddedZooKeeper) -> None:
    await zk.start()
    pid = zk.pid
    await zk.start()
    assert zk.pid == pid


async def test_data_survives_stop_and_start(zk: EmbeddedZooKeeper) -> None:
    await zk.start()
    await asyncio.to_thread(write_znode, zk.address, "/x", b"1")
    await zk.stop()
    assert zk.pid is None
    assert not await serves(zk)
    await zk.start()
    assert await asyncio.to_thread(read_znode, zk.address, "/x") == b"1"


async def test_crash_is_followed_by_a_restart_with_the_data(zk: EmbeddedZooKeeper) -> None:
    await zk.start()
    await asyncio.to_thread(write_znode, zk.address, "/x", b"1")
    crashed = zk.pid
    assert crashed is not None
    os.kill(crashed, signal.SIGKILL)

    async def restarted() -> bool:
        return zk.pid not in (None, crashed) and await serves(zk)

    await eventually(restarted)
    assert await asyncio.to_thread(read_znode, zk.address, "/x") == b"1"


async def test_failed_restarts_are_retried_until_one_succeeds(
    zk: EmbeddedZooKeeper, caplog: pytest.LogCaptureFixture
) -> None:
    await zk.start()
    crashed = zk.pid
    assert crashed is not None
    os.kill(crashed, signal.SIGKILL)

    async def down() -> bool:
        return zk.pid is None

    await eventually(down)
    with socket.create_server((zk.host, zk.port)):  # squat on the port: restarts must fail

        async def restart_failed() -> bool:
            return "restart of embedded ZooKeeper" in caplog.text

        await eventually(restart_failed)
        assert "already in use" in caplog.text

    async def restarted() -> bool:
        return await serves(zk)

    await eventually(restarted)
    assert zk.pid not in (None, crashed)


async def test_kill_does_not_restart(zk: EmbeddedZooKeeper) -> None:
    await zk.start()
    await zk.kill()
    assert zk.pid is None
    assert not await serves(zk)
    await zk.start()
    assert await serves(zk)


async def test_crash_without_restart_on_crash_leaves_it_down(tmp_path: Path) -> None:
    zk = EmbeddedZooKeeper(free_port(), tmp_path / "zk", restart_on_crash=False)
    await zk.start()
    try:
        pid = zk.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)

        async def down() -> bool:
            return zk.pid is None

        await eventually(down)
        assert zk._supervisor is not None
        await asyncio.wait_for(zk._supervisor, 5)  # the supervisor gave up instead of restarting
        assert zk.pid is None
    finally:
        await zk.stop()


async def test_port_in_use_is_refused(tmp_path: Path) -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        zk = EmbeddedZooKeeper(port, tmp_path / "zk")
        with pytest.raises(
            ZooKeeperServerError, match=f"port {port} on 127.0.0.1 is already in use"
        ):
            await zk.start()
    assert zk.pid is None


async def test_bad_classpath_is_an_environment_problem(tmp_path: Path) -> None:
    zk = EmbeddedZooKeeper(free_port(), tmp_path / "zk", classpath="/nowhere/zookeeper.jar")
    with pytest.raises(EnvironmentProblem, match="apt-get install -y zookeeper") as info:
        await zk.start()
    assert "/nowhere/zookeeper.jar" in info.value.message
    assert not (tmp_path / "zk").exists()


def test_classpath_accepts_java_wildcards(tmp_path: Path) -> None:
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "zookeeper.jar").touch()
    (tmp_path / "empty").mkdir()
    assert find_classpath(f"{tmp_path}/lib/*") == f"{tmp_path}/lib/*"
    with pytest.raises(EnvironmentProblem, match="empty"):
        find_classpath(f"{tmp_path}/lib/*:{tmp_path}/empty/*")


async def test_missing_java_is_an_environment_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(EnvironmentProblem, match="apt-get install -y default-jre-headless"):
        find_java()
    zk = EmbeddedZooKeeper(free_port(), tmp_path / "zk")
    with pytest.raises(EnvironmentProblem):
        await zk.start()
    assert not (tmp_path / "zk").exists()


async def test_child_that_exits_at_start_is_reported_with_its_log(tmp_path: Path) -> None:
    # A classpath that exists but holds no ZooKeeper: Java itself fails.
    zk = EmbeddedZooKeeper(free_port(), tmp_path / "zk", classpath=str(tmp_path))
    with pytest.raises(ZooKeeperServerError, match="exited with code 1") as info:
        await zk.start()
    assert "ZooKeeperServerMain" in info.value.message  # from the log tail
    assert zk.pid is None


async def test_stop_is_idempotent(zk: EmbeddedZooKeeper) -> None:
    await zk.stop()
    await zk.start()
    await zk.stop()
    await zk.stop()
    assert zk.pid is None


async def test_server_dies_with_its_parent(tmp_path: Path) -> None:
    script = (
        "import asyncio, sys\n"
        "from pathlib import Path\n"
        "from odenos.zk.embedded import EmbeddedZooKeeper\n"
        "async def main():\n"
        f"    zk = EmbeddedZooKeeper({free_port()}, Path({str(tmp_path / 'zk')!r}))\n"
        "    await zk.start()\n"
        "    print(zk.pid, flush=True)\n"
        "    await asyncio.Event().wait()\n"
        "asyncio.run(main())\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(parent.stdout.readline), 30)
        java_pid = int(line)
        assert not process_gone(java_pid)
    finally:
        parent.kill()
        parent.wait()

    async def gone() -> bool:
        return process_gone(java_pid)

    await eventually(gone)


async def test_long_sessions_are_granted_up_to_the_maximum(tmp_path: Path) -> None:
    # As the core configures it: a 200 ms tick, the maximum raised to the session timeout.
    zk = EmbeddedZooKeeper(
        free_port(), tmp_path / "zk", tick_ms=200, max_session_timeout_ms=max(60000, 600000)
    )
    assert (zk.min_session_timeout_ms, zk.max_session_timeout_ms) == (400, 600000)
    await zk.start()
    clients = [KazooClient(hosts=zk.address, timeout=t) for t in (600.0, 1.0, 900.0)]
    try:
        for client in clients:
            await asyncio.to_thread(client.start, 15)
        # Config bounds of 1000-600000 ms are granted as asked; longer ones are clamped.
        assert sorted(await asyncio.to_thread(session_timeouts, zk)) == [1000, 600000, 600000]
    finally:
        for client in clients:
            await asyncio.to_thread(client.stop)
            client.close()
        await zk.stop()
    config = (tmp_path / "zk" / "zoo.cfg").read_text()
    assert "minSessionTimeout=400\n" in config and "maxSessionTimeout=600000\n" in config


@pytest.mark.parametrize(
    "kwargs",
    [
        {"tick_ms": 0},
        {"tick_ms": 500, "max_session_timeout_ms": 999},
        {"probe_interval": 0.0},
        {"probe_failures": 0},
    ],
)
def test_impossible_settings_are_refused(tmp_path: Path, kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        EmbeddedZooKeeper(free_port(), tmp_path / "zk", **kwargs)  # type: ignore[arg-type]


async def test_hung_server_is_killed_and_restarted_with_its_data(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    zk = EmbeddedZooKeeper(free_port(), tmp_path / "zk", probe_interval=0.2, probe_failures=2)
    await zk.start()
    hung = zk.pid
    assert hung is not None
    loop = asyncio.get_running_loop()
    lags: list[float] = []

    async def measure_lag() -> None:
        while True:
            before = loop.time()
            await asyncio.sleep(0.02)
            lags.append(loop.time() - before - 0.02)

    ticker = asyncio.create_task(measure_lag())
    try:
        await asyncio.to_thread(write_znode, zk.address, "/x", b"1")
        os.kill(hung, signal.SIGSTOP)  # alive, port open, never answers: it will not exit

        async def restarted() -> bool:
            return zk.pid not in (None, hung) and await serves(zk)

        await eventually(restarted)
        assert process_gone(hung)
        assert f"embedded ZooKeeper on {zk.address} stopped answering; killing it" in caplog.text
        assert "was killed by SIGKILL" in caplog.text  # then the ordinary restart path
        assert await asyncio.to_thread(read_znode, zk.address, "/x") == b"1"
        # The probes waited 1 s each on the stopped server, but never blocked the loop.
        assert max(lags) < 0.5
    finally:
        ticker.cancel()
        if not process_gone(hung):
            with contextlib.suppress(ProcessLookupError):
                os.kill(hung, signal.SIGCONT)
        await zk.stop()


async def test_a_healthy_server_is_left_alone_by_the_probe(tmp_path: Path) -> None:
    zk = EmbeddedZooKeeper(free_port(), tmp_path / "zk", probe_interval=0.05, probe_failures=1)
    await zk.start()
    try:
        pid = zk.pid
        await asyncio.sleep(2.0)  # about 40 probes, any one of which failing would kill it
        assert zk.pid == pid
    finally:
        await zk.stop()


async def test_supervisor_survives_an_error_in_its_loop(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    zk = EmbeddedZooKeeper(free_port(), tmp_path / "zk", probe_interval=0.05)
    await zk.start()
    try:
        real_answers = zk._answers
        calls = 0

        async def answers_with_a_bug() -> bool:
            nonlocal calls
            calls += 1
            if calls == 1:
                raise RuntimeError("bug in the probe")
            return await real_answers()

        monkeypatch.setattr(zk, "_answers", answers_with_a_bug)

        async def probing_again() -> bool:
            return calls >= 3

        await eventually(probing_again)
        assert "unexpected error; carrying on" in caplog.text
        assert "RuntimeError: bug in the probe" in caplog.text
        assert zk._supervisor is not None and not zk._supervisor.done()
        crashed = zk.pid
        assert crashed is not None
        os.kill(crashed, signal.SIGKILL)  # and it still restarts a crashed server

        async def restarted() -> bool:
            return zk.pid not in (None, crashed) and await serves(zk)

        await eventually(restarted)
    finally:
        await zk.stop()


async def test_server_mode_and_four_letter_sync(zk: EmbeddedZooKeeper) -> None:
    await zk.start()
    assert await asyncio.to_thread(four_letter_sync, zk.host, zk.port, "ruok", 1.0) == "imok"
    assert await asyncio.to_thread(server_mode, zk.host, zk.port) == "standalone"
    await zk.stop()
    assert await asyncio.to_thread(server_mode, zk.host, zk.port) is None
    with pytest.raises(ConnectionRefusedError):
        await asyncio.to_thread(four_letter_sync, zk.host, zk.port, "ruok", 1.0)


def test_a_server_that_never_answers() -> None:
    with socket.create_server(("127.0.0.1", 0)) as mute:  # connections wait in its backlog
        port = mute.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            four_letter_sync("127.0.0.1", port, "ruok", 0.3)
        assert server_mode("127.0.0.1", port, timeout=0.3) is None
        assert time.monotonic() - started < 2.0
