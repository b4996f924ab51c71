"""``odenos start|status|stop`` and the daemons' command lines, as an operator uses them.

These run the shipped layout (``etc/odenos.conf`` beside ``var/``) with
``zookeeper.embed`` on: the core process starts its own ZooKeeper server.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import NoAuthError

from odenos.runtime import alive
from odenos.zk.embedded import free_port
from tests.support import http, wait_until


def odenos(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "odenos.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def pid_files(root: Path) -> dict[str, int]:
    return {p.stem: int(p.read_text()) for p in (root / "var" / "tmp").glob("*.pid")}


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (children, grandchildren...), from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            ppid = int(stat.read_text().rpartition(")")[2].split()[1])
            children.setdefault(ppid, []).append(int(stat.parent.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def kill_groups(pids: Iterable[int]) -> None:
    """SIGKILL each process's whole group (never our own): test teardown."""
    ours = os.getpgrp()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            group = os.getpgid(pid)
            if group != ours:
                os.killpg(group, signal.SIGKILL)
            else:
                os.kill(pid, signal.SIGKILL)


def write_conf(root: Path, text: str) -> Path:
    (root / "etc").mkdir(exist_ok=True)
    conf = root / "etc" / "odenos.conf"
    conf.write_text(text)
    return conf


def embedded_conf(root: Path) -> tuple[Path, int]:
    rest = free_port()
    conf = write_conf(
        root,
        "MANAGER systemmanager\n"
        "PROCESS romgr1,python\n"
        "PROCESS romgr2,python\n"
        f"rest.port {rest}\n"
        "zookeeper.embed\n"
        f"zookeeper.port {free_port()}\n"
        "zookeeper.session_timeout 2000\n"
        "pubsub.server.host localhost   # ODENOS's Redis: ignored with a notice\n",
    )
    return conf, rest


def test_start_status_stop_with_embedded_zookeeper(tmp_path: Path) -> None:
    conf, rest = embedded_conf(tmp_path)
    try:
        started = odenos("start", "-c", str(conf), cwd=tmp_path)
        assert started.returncode == 0, started.stderr
        assert "romgr2: running" in started.stdout
        assert "pubsub.server.host" in started.stderr  # the notice
        # start returns only once everything answers.
        reply = http("GET", f"http://127.0.0.1:{rest}/systemmanager/component_managers")
        assert sorted(m["id"] for m in reply.body) == ["romgr1", "romgr2"]
        assert (tmp_path / "var" / "zookeeper" / "data").is_dir()
        # The embedded default is protected: credentials generated, owner-only.
        auth = tmp_path / "var" / "zookeeper.auth"
        assert auth.stat().st_mode & 0o777 == 0o600
        port = next(line for line in conf.read_text().splitlines() if "zookeeper.port" in line)
        anonymous = KazooClient(hosts=f"127.0.0.1:{port.split()[1]}")
        anonymous.start(10)
        try:
            with pytest.raises(NoAuthError):
                anonymous.create("/odenos/components/evil", b"{}")
        finally:
            anonymous.stop()
            anonymous.close()
        assert (tmp_path / "var" / "log" / "romgr1.log").is_file()

        status = odenos("status", "-c", str(conf), "--json", cwd=tmp_path)
        assert status.returncode == 0, status.stdout
        report = json.loads(status.stdout)
        assert [p["name"] for p in report["processes"]] == ["systemmanager", "romgr1", "romgr2"]
        assert all(p["ready"] and p["pid"] for p in report["processes"])
        assert all(
            (p["zookeeper"]["gate"], p["zookeeper"]["registration"]) == ("UP", "ONLINE")
            for p in report["processes"]
        ), report
        assert report["zookeeper"]["servers"][0]["mode"] == "standalone"
        table = odenos("status", "-c", str(conf), cwd=tmp_path).stdout
        assert "romgr1" in table and "UP" in table and "ONLINE" in table

        again = odenos("start", "-c", str(conf), cwd=tmp_path)
        assert again.returncode == 0, again.stderr
        pids = pid_files(tmp_path)
        assert f"romgr2: already running (pid {pids['romgr2']})" in again.stdout
        assert "odenos is already running" in again.stdout
        assert pid_files(tmp_path) == pids
    finally:
        stopped = odenos("stop", "-c", str(conf), cwd=tmp_path)
    assert stopped.returncode == 0, stopped.stderr
    assert "systemmanager: stopped" in stopped.stdout
    assert http("GET", f"http://127.0.0.1:{rest}/systemmanager/property").status == 0
    status = odenos("status", "-c", str(conf), cwd=tmp_path)
    assert status.returncode == 3 and "stopped" in status.stdout
    assert not list((tmp_path / "var" / "tmp").glob("*.pid"))
    assert not list((tmp_path / "var" / "tmp").glob("*.zk.json"))


def test_components_survive_a_restart_of_everything(tmp_path: Path) -> None:
    """Desired state lives in the embedded ZooKeeper's data under var/: a full stop and
    start brings the same components back."""
    conf, rest = embedded_conf(tmp_path)
    base = f"http://127.0.0.1:{rest}"
    try:
        assert odenos("start", "-c", str(conf), cwd=tmp_path).returncode == 0
        body = {"type": "Network", "id": "network0", "cm_id": "romgr2"}
        assert http("PUT", f"{base}/systemmanager/components/network0", body).status == 201
        assert odenos("stop", "-c", str(conf), cwd=tmp_path).returncode == 0
        assert odenos("start", "-c", str(conf), cwd=tmp_path).returncode == 0
        prop = wait_until(
            lambda: http("GET", f"{base}/systemmanager/components/network0").body,
            10,
            "network0 back",
        )
        assert prop["state"] == "running" and prop["cm_id"] == "romgr2"
    finally:
        odenos("stop", "-c", str(conf), cwd=tmp_path)


def test_start_fails_clearly_without_zookeeper_jars(tmp_path: Path) -> None:
    conf, _ = embedded_conf(tmp_path)
    conf.write_text(conf.read_text() + "zookeeper.classpath /nonexistent/zookeeper.jar\n")
    result = odenos("start", "-c", str(conf), cwd=tmp_path)
    assert result.returncode == 1
    assert "apt-get install -y zookeeper" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("MANAGER systemmanager\nrest.port eighty\n", 2, "not a port number"),
        ("# comment\n\nPROCESS romgr1,python\nPROCESS romgr1,python\n", 4, "romgr1"),
        ("zookeeper.embed maybe\n", 1, "zookeeper.embed"),
        ("PROCESS bad/id,python\n", 1, "bad/id"),
    ],
)
def test_bad_config_lines_name_file_and_line(
    tmp_path: Path, text: str, line: int, words: str
) -> None:
    conf = write_conf(tmp_path, text)
    for argv in (
        [sys.executable, "-m", "odenos.cli", "start", "-c", str(conf)],
        [sys.executable, "-m", "systemmanager", "-c", str(conf)],
        [sys.executable, "-m", "componentmanager", "-c", str(conf), "--id", "romgr1"],
    ):
        result = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert result.returncode != 0
        assert f"odenos.conf:{line}:" in result.stderr, result.stderr
        assert words in result.stderr
        assert "Traceback" not in result.stderr


def test_component_manager_id_must_be_a_process_line(tmp_path: Path) -> None:
    conf = write_conf(tmp_path, "PROCESS romgr1,python\n")
    result = subprocess.run(
        [sys.executable, "-m", "componentmanager", "-c", str(conf), "--id", "romgr9"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "no PROCESS line for 'romgr9'" in result.stderr


def test_start_after_a_core_crash_restarts_only_the_core(tmp_path: Path) -> None:
    conf, rest = embedded_conf(tmp_path)
    before: dict[str, int] = {}
    try:
        assert odenos("start", "-c", str(conf), cwd=tmp_path).returncode == 0
        before = pid_files(tmp_path)
        os.kill(before["systemmanager"], signal.SIGKILL)
        wait_until(lambda: not alive(before["systemmanager"]), 10, "the core to die")

        again = odenos("start", "-c", str(conf), cwd=tmp_path)
        assert again.returncode == 0, again.stderr
        assert f"romgr1: already running (pid {before['romgr1']})" in again.stdout
        assert f"romgr2: already running (pid {before['romgr2']})" in again.stdout
        after = pid_files(tmp_path)
        assert f"systemmanager: running (pid {after['systemmanager']})" in again.stdout
        assert after["systemmanager"] != before["systemmanager"]
        assert alive(after["systemmanager"])
        # The managers were left alone, and start returned once they answered again.
        assert after["romgr1"] == before["romgr1"] and after["romgr2"] == before["romgr2"]
        reply = http("GET", f"http://127.0.0.1:{rest}/systemmanager/component_managers")
        assert sorted((m["id"], m["state"]) for m in reply.body) == [
            ("romgr1", "running"),
            ("romgr2", "running"),
        ]
        status = odenos("status", "-c", str(conf), "--json", cwd=tmp_path)
        assert status.returncode == 0, status.stdout
    finally:
        odenos("stop", "-c", str(conf), cwd=tmp_path)
        kill_groups(pid for pid in [*before.values(), *pid_files(tmp_path).values()] if alive(pid))


class ForegroundRun:
    """``odenos run`` in a process group of its own (as a shell starts it), output in a file.

    Whatever it started is found through /proc; ``close()`` kills all of it.
    """

    def __init__(self, root: Path, conf: Path) -> None:
        self.output = root / "run.out"
        with self.output.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "odenos.cli", "run", "-c", str(conf)],
                cwd=root,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                process_group=0,
            )
        self.root = root
        self.children: set[int] = set()

    def wait_ready(self, rest: int) -> None:
        def ready() -> bool:
            reply = http("GET", f"http://127.0.0.1:{rest}/systemmanager/component_managers")
            return reply.status == 200 and sorted(m["state"] for m in reply.body) == [
                "running",
                "running",
            ]

        wait_until(ready, 60, "odenos run to bring everything up")
        self.children = descendants(self.proc.pid)
        pids = set(pid_files(self.root).values())
        assert len(pids) == 3 and pids <= self.children
        assert len(self.children) == 4  # and the embedded ZooKeeper server

    def text(self) -> str:
        return self.output.read_text(errors="replace")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.children |= descendants(self.proc.pid)
        kill_groups([self.proc.pid, *self.children, *pid_files(self.root).values()])
        self.proc.wait(10)


def test_run_stops_managers_first_on_ctrl_c(tmp_path: Path) -> None:
    conf, rest = embedded_conf(tmp_path)
    run = ForegroundRun(tmp_path, conf)
    try:
        run.wait_ready(rest)
        # A terminal's Ctrl-C: SIGINT to the whole foreground process group.
        os.killpg(run.proc.pid, signal.SIGINT)
        assert run.proc.wait(60) == 0, run.text()
        output = run.text()
        assert "odenos running" in output and "Traceback" not in output
        core_stopping = output.index("systemmanager stopping")
        assert output.index("romgr1 stopped") < core_stopping, output
        assert output.index("romgr2 stopped") < core_stopping, output
        assert "systemmanager stopped" in output
        assert http("GET", f"http://127.0.0.1:{rest}/systemmanager/property").status == 0
        assert not [pid for pid in run.children if alive(pid)]
    finally:
        run.close()


def test_run_ends_when_its_daemons_are_stopped_from_elsewhere(tmp_path: Path) -> None:
    """'odenos stop' in another terminal: 'odenos run' has nothing left to supervise and
    ends by itself, without a traceback; it said where each daemon logs."""
    conf, rest = embedded_conf(tmp_path)
    run = ForegroundRun(tmp_path, conf)
    try:
        run.wait_ready(rest)
        assert odenos("stop", "-c", str(conf), cwd=tmp_path).returncode == 0
        assert run.proc.wait(30) == 0, run.text()
        output = run.text()
        assert "every daemon has stopped" in output and "Traceback" not in output
        assert f"romgr1: logs to {tmp_path / 'var' / 'log' / 'romgr1.log'}" in output
    finally:
        run.close()


def test_ctrl_c_stops_a_manager_started_again_by_hand(tmp_path: Path) -> None:
    """The README's demo: kill -9 a manager of 'odenos run', start it again by hand, then
    Ctrl-C: the hand-started manager stops too (before the core), nothing is left, and
    the next 'odenos run' starts."""
    conf, rest = embedded_conf(tmp_path)
    run = ForegroundRun(tmp_path, conf)
    hand: subprocess.Popen[bytes] | None = None
    try:
        run.wait_ready(rest)
        os.kill(pid_files(tmp_path)["romgr1"], signal.SIGKILL)
        with (tmp_path / "hand.out").open("wb") as out:
            hand = subprocess.Popen(
                [sys.executable, "-m", "componentmanager", "-c", str(conf), "--id", "romgr1"],
                cwd=tmp_path,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        wait_until(
            lambda: (
                pid_files(tmp_path).get("romgr1") == hand.pid
                and http("GET", f"http://127.0.0.1:{rest}/romgr1/property").body.get("state")
                == "running"
            ),
            30,
            "romgr1 running again, started by hand",
        )
        os.killpg(run.proc.pid, signal.SIGINT)
        assert run.proc.wait(60) == 0, run.text()
        assert hand.wait(30) == 0
        output = run.text()
        assert output.index("romgr1: stopped") < output.index("systemmanager: stopped"), output
        assert "Traceback" not in output + (tmp_path / "hand.out").read_text()
        assert not [pid for pid in pid_files(tmp_path).values() if alive(pid)]
    finally:
        if hand is not None and hand.poll() is None:
            hand.kill()
        run.close()


def test_stop_is_quick_for_managers_cut_off_from_zookeeper(tmp_path: Path) -> None:
    """The core (and its embedded ZooKeeper) stopped first: the managers have nothing to
    tell ZooKeeper and stop at once when asked (they used to wait out ZooKeeper's
    timeouts, 10 s each), without a traceback."""
    conf, _ = embedded_conf(tmp_path)
    try:
        assert odenos("start", "-c", str(conf), cwd=tmp_path).returncode == 0
        core = pid_files(tmp_path)["systemmanager"]
        os.kill(core, signal.SIGTERM)
        wait_until(lambda: not alive(core), 30, "the core stopped")
        stopped = odenos("stop", "-c", str(conf), cwd=tmp_path)
        assert stopped.returncode == 0
        assert "romgr1: stopped" in stopped.stdout and "killed" not in stopped.stdout
        log = (tmp_path / "var" / "log" / "romgr1.log").read_text()
        assert "cut off from ZooKeeper" in log
        assert "Traceback" not in log and "never retrieved" not in log
    finally:
        kill_groups(pid_files(tmp_path).values())


def test_children_of_a_killed_run_exit_by_themselves(tmp_path: Path) -> None:
    conf, rest = embedded_conf(tmp_path)
    run = ForegroundRun(tmp_path, conf)
    try:
        run.wait_ready(rest)
        run.proc.kill()
        run.proc.wait(10)
        wait_until(
            lambda: not [pid for pid in run.children if alive(pid)],
            30,
            "the children of the killed odenos run to exit",
            interval=0.1,
        )
    finally:
        run.close()


def test_a_host_with_manager_disabled_runs_only_its_component_managers(tmp_path: Path) -> None:
    """Two hosts' configs: the core host, and one that only runs romgr3 against it."""
    (tmp_path / "host1").mkdir()
    core_conf, rest = embedded_conf(tmp_path / "host1")
    zk_port = next(
        line.split()[1]
        for line in core_conf.read_text().splitlines()
        if line.startswith("zookeeper.port")
    )
    host2 = tmp_path / "host2"
    host2.mkdir()
    conf2 = write_conf(
        host2,
        "manager.disabled\n"
        "PROCESS romgr3,python\n"
        f"rest.port {rest}\n"
        "zookeeper.embed off\n"
        f"zookeeper.host 127.0.0.1:{zk_port}\n"
        "zookeeper.auth zookeeper.auth\n",  # the cluster's credentials, copied over
    )
    try:
        assert odenos("start", "-c", str(core_conf), cwd=tmp_path / "host1").returncode == 0
        shutil.copy(tmp_path / "host1" / "var" / "zookeeper.auth", host2 / "zookeeper.auth")
        (host2 / "zookeeper.auth").chmod(0o600)
        started = odenos("start", "-c", str(conf2), cwd=host2)
        assert started.returncode == 0, started.stderr
        assert "romgr3: running" in started.stdout
        assert "systemmanager: running" not in started.stdout
        reply = http("GET", f"http://127.0.0.1:{rest}/systemmanager/component_managers")
        assert sorted(m["id"] for m in reply.body) == ["romgr1", "romgr2", "romgr3"]
        report = json.loads(odenos("status", "-c", str(conf2), "--json", cwd=host2).stdout)
        assert [p["name"] for p in report["processes"]] == ["romgr3"]
    finally:
        odenos("stop", "-c", str(conf2), cwd=host2)
        odenos("stop", "-c", str(core_conf), cwd=tmp_path / "host1")
    assert not list((host2 / "var" / "tmp").glob("*.pid"))


def test_ctrl_c_while_run_is_starting_stops_what_started(tmp_path: Path) -> None:
    """Its children no longer share its terminal's Ctrl-C: run itself must stop them."""
    conf = write_conf(
        tmp_path,
        "manager.disabled\n"
        "PROCESS romgr1,python\n"
        f"rest.port {free_port()}\n"
        "zookeeper.embed off\n"
        f"zookeeper.host 127.0.0.1:{free_port()}\n",  # nothing listens: romgr1 never gets ready
    )
    run = ForegroundRun(tmp_path, conf)
    try:
        wait_until(lambda: "romgr1 offers" in run.text(), 30, "romgr1 to start connecting")
        run.children = descendants(run.proc.pid)
        assert len(run.children) == 1
        os.killpg(run.proc.pid, signal.SIGINT)
        assert run.proc.wait(30) == 1, run.text()
        output = run.text()
        assert "error: interrupted while waiting for romgr1 to start" in output
        assert "romgr1 stopped" in output and "Traceback" not in output
        assert not [pid for pid in run.children if alive(pid)]
    finally:
        run.close()


def test_a_pid_file_naming_another_process_is_stale(tmp_path: Path) -> None:
    """After a crash the pid may be reused: stop must not signal that process."""
    conf, _ = embedded_conf(tmp_path)
    other = subprocess.Popen(["sleep", "60"])
    try:
        pids = tmp_path / "var" / "tmp"
        pids.mkdir(parents=True)
        (pids / "romgr1.pid").write_text(f"{other.pid}\n")
        assert "nothing to stop" in odenos("stop", "-c", str(conf), cwd=tmp_path).stdout
        assert other.poll() is None
        report = json.loads(odenos("status", "-c", str(conf), "--json", cwd=tmp_path).stdout)
        assert not any(p["alive"] for p in report["processes"])
    finally:
        other.kill()
        other.wait()


def test_operator_commands_and_json_logs(tmp_path: Path) -> None:
    """'odenos components', 'managers' and 'tree' (tables, and --json), on a system whose
    daemons log JSON lines through a log.config file."""
    conf, rest = embedded_conf(tmp_path)
    (tmp_path / "etc" / "logging.yaml").write_text(
        "version: 1\n"
        "disable_existing_loggers: false\n"
        "formatters: {json: {(): odenos.logformat.JsonFormatter}}\n"
        "handlers: {stderr: {class: logging.StreamHandler, stream: ext://sys.stderr,"
        " formatter: json}}\n"
        "root: {level: INFO, handlers: [stderr]}\n"
        "loggers: {kazoo: {level: ERROR}}\n"
    )
    with conf.open("a") as out:
        out.write("log.config etc/logging.yaml\n")
    try:
        assert odenos("start", "-c", str(conf), cwd=tmp_path).returncode == 0
        base = f"http://127.0.0.1:{rest}"
        body = {"type": "Network", "cm_id": "romgr1"}
        assert http("PUT", f"{base}/systemmanager/components/net1", body).status == 201
        body = {"type": "DummyDriver", "cm_id": "romgr2"}
        assert http("PUT", f"{base}/systemmanager/components/drv1", body).status == 201
        conn = {
            "type": "LogicAndNetwork",
            "connection_type": "original",
            "logic_id": "drv1",
            "network_id": "net1",
        }
        assert http("PUT", f"{base}/systemmanager/connections/c1", conn).status == 201

        table = odenos("components", "-c", str(conf), cwd=tmp_path)
        assert table.returncode == 0, table.stderr
        lines = table.stdout.splitlines()
        assert lines[0].split()[:4] == ["id", "type", "manager", "state"]
        assert lines[1].split()[:4] == ["drv1", "DummyDriver", "romgr2", "running"]
        assert "c1(original," in lines[2] and lines[2].split()[:2] == ["net1", "Network"]
        as_json = json.loads(odenos("components", "--json", "-c", str(conf), cwd=tmp_path).stdout)
        assert set(as_json["components"]) == {"net1", "drv1"} and "c1" in as_json["connections"]

        managers = odenos("managers", "-c", str(conf), cwd=tmp_path).stdout.splitlines()
        assert [line.split()[:3] for line in managers[1:]] == [
            ["romgr1", "running", "True"],
            ["romgr2", "running", "True"],
        ]

        tree = odenos("tree", "-c", str(conf), cwd=tmp_path)
        assert tree.returncode == 0, tree.stderr
        assert "romgr1:net1  [ephemeral, session 0x" in tree.stdout
        assert "= romgr1]" in tree.stdout  # the daemon owning the session, named
        assert "secret  (hidden)" in tree.stdout
        nodes = json.loads(
            odenos("tree", "/odenos", "--json", "-c", str(conf), cwd=tmp_path).stdout
        )
        by_path = {n["path"]: n for n in nodes}
        assert by_path["/odenos/components/net1"]["data"]["type"] == "Network"
        assert by_path["/odenos/secret"]["data"] == "(hidden)"
        missing = odenos("tree", "/nosuch", "-c", str(conf), cwd=tmp_path)
        assert missing.returncode == 1 and "no znode /nosuch" in missing.stderr

        # Every line the daemons logged is a JSON object.
        log_lines = (tmp_path / "var" / "log" / "romgr1.log").read_text().splitlines()
        records = [json.loads(line) for line in log_lines if line.startswith("{")]
        assert records and len(records) == len([x for x in log_lines if x.strip()])
        assert {"time", "level", "logger", "message", "process", "pid"} <= set(records[0])
        assert any(r["process"] == "romgr1" and "running" in r["message"] for r in records)
    finally:
        odenos("stop", "-c", str(conf), cwd=tmp_path)
        kill_groups(pid_files(tmp_path).values())


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_systemd_units_are_valid(tmp_path: Path) -> None:
    """etc/systemd's units, pointed at this checkout: systemd finds nothing wrong."""
    root = Path(__file__).resolve().parent.parent
    for unit in (root / "etc" / "systemd").glob("*.service"):
        text = unit.read_text().replace(
            "/opt/odenos/.venv", str(Path(sys.executable).parent.parent)
        )
        name = unit.name.replace("@.service", "@romgr1.service")
        (tmp_path / name).write_text(text.replace("/opt/odenos", str(root)))
    units = sorted(str(p) for p in tmp_path.glob("*.service"))
    assert len(units) == 2
    verified = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *units],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert verified.returncode == 0 and not verified.stderr.strip(), verified.stderr
