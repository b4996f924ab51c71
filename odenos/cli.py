"""``odenos start|stop|status|run -c CONF``: the operator's command.

What runs on this host follows the config: the core process (embedded
ZooKeeper + system manager + REST translator) unless ``manager.disabled``,
then one component manager per ``PROCESS`` line.  As ODENOS's script did,
``start`` waits for ``GET /<MANAGER>/property`` before it starts the
managers, and for ``GET /<MANAGER>/component_managers/<id>`` to say
``running`` for each; it returns only when all answer, or fails with a clear
message, the log's last lines, and a non-zero code.  ``start`` keeps what
already runs (after a core crash it starts only the core again); ``run``
supervises its children in the foreground and stops them, managers first,
when it is interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from odenos import cli_views, deploy, runtime
from odenos.cluster import acl_policy, status_file
from odenos.config import Config, load_config
from odenos.errors import LaunchError, OdenosError
from odenos.identity import rotate_secret
from odenos.runtime import alive, log_dir, pid_file
from odenos.zk.client import Coordinator
from odenos.zk.embedded import die_with_parent, server_mode
from odenos.zk.gate import read_status_file
from odenos.zk.rekey import rekey

READY_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0


@dataclass(frozen=True)
class ProcessPlan:
    name: str  # pid and log file name; the object id
    argv: list[str]
    kind: str  # "core" | "component_manager"


def plan(config: Config, reinitialize: bool = False) -> list[ProcessPlan]:
    """The processes this host runs, in start order (``reinitialize``: the core begins
    a new cluster, see :mod:`odenos.identity`)."""
    base = [sys.executable, "-m"]
    conf = ["-c", str(config.path)]
    plans = []
    if not config.manager_disabled:
        core = [*base, "systemmanager", *conf, *(["--reinitialize"] if reinitialize else [])]
        plans.append(ProcessPlan(config.manager_id, core, "core"))
    for spec in config.processes:
        plans.append(
            ProcessPlan(
                spec.cm_id,
                [*base, "componentmanager", *conf, "--id", spec.cm_id],
                "component_manager",
            )
        )
    return plans


# --- talking to the running system -----------------------------------------------------------


def rest_url(config: Config, path: str) -> str:
    """Where this host reaches the REST translator (a wildcard bind is reached on loopback)."""
    host = config.rest_host
    if host in ("localhost", "0.0.0.0", ""):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    scheme = "https" if config.rest_tls else "http"
    return f"{scheme}://{host}:{config.rest_port}/{config.manager_id}/{path}"


def get_json(config: Config, url: str, timeout: float = 2.0) -> tuple[int, Any]:
    """GET ``url`` on this host's REST port (see :func:`call_rest`)."""
    return call_rest(config, "GET", url, timeout)


def call_rest(
    config: Config, method: str, url: str, timeout: float = 2.0, body: Any = None
) -> tuple[int, Any]:
    """``method url`` on this host's REST port, as the operator's client: with an admin
    token of the tokens file (any token for a GET) if the port wants one, trusting its own
    certificate if it has TLS.  The answer's JSON body comes back also for an error."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if config.rest_tokens:
        tokens = [t for t in config.rest_tokens if method == "GET" or t.role == "admin"]
        if tokens:
            request.add_header("Authorization", f"Bearer {tokens[0].secret}")
    context = None
    if config.rest_tls:
        context = ssl.create_default_context(cafile=str(config.rest_tls[0]))
        context.check_hostname = False  # this host's own port, by loopback
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        try:
            return exc.code, json.loads(exc.read() or b"null")
        except ValueError:
            return exc.code, None
    except (OSError, ValueError):
        return 0, None


def is_ready(config: Config, p: ProcessPlan) -> bool:
    if p.kind == "core":
        return get_json(config, rest_url(config, "property"))[0] == 200
    return manager_state(config, p.name) == "running"


def manager_state(config: Config, cm_id: str) -> str | None:
    status, body = get_json(config, rest_url(config, f"component_managers/{cm_id}"))
    return str(body.get("state")) if status == 200 and isinstance(body, dict) else None


async def operator_zookeeper(config: Config, name: str) -> Coordinator:
    """A ZooKeeper session for an operator's command, with this host's credentials."""
    zk = Coordinator(
        config.zookeeper.connect_string,
        config.zookeeper.session_timeout_ms,
        name=name,
        acl=acl_policy(config),
    )
    await zk.start(timeout=10)
    return zk


def read_pid(config: Config, name: str) -> int | None:
    """The pid of process ``name`` if it runs (a pid file naming another process is stale)."""
    return runtime.daemon_pid(pid_file(config, name))


def log_tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# --- commands ---------------------------------------------------------------------------------


def _spawn(config: Config, p: ProcessPlan, foreground: bool) -> subprocess.Popen[bytes]:
    if foreground:
        # Its own session: the terminal's Ctrl-C reaches only ``odenos run``, which then
        # stops the managers before the core.  Should ``odenos run`` die, the child gets
        # SIGTERM rather than living on unsupervised.
        return subprocess.Popen(p.argv, start_new_session=True, preexec_fn=die_with_parent())
    log_dir(config).mkdir(parents=True, exist_ok=True)
    with open(log_dir(config) / f"{p.name}.log", "ab") as out:
        return subprocess.Popen(
            p.argv, stdout=out, stderr=out, stdin=subprocess.DEVNULL, start_new_session=True
        )


def _wait_ready(
    config: Config,
    p: ProcessPlan,
    pid: int,
    proc: subprocess.Popen[bytes] | None,
    interrupted: Callable[[], bool],
) -> None:
    """Until ``p`` answers.  ``proc`` is None for a process found running (not our child).

    Raises LaunchError if it exits, does not answer within READY_TIMEOUT, or
    ``interrupted()`` becomes true.
    """
    log_file = log_dir(config) / f"{p.name}.log"
    deadline = time.monotonic() + READY_TIMEOUT
    # With manager.auto_approve the system manager approves a new manager at once: a
    # pending manager is worth a word only when it stays pending.
    pending_since: float | None = None
    while time.monotonic() < deadline:
        if is_ready(config, p):
            return
        if p.kind != "core" and manager_state(config, p.name) == "pending":
            now = time.monotonic()
            pending_since = now if pending_since is None else pending_since
            if not config.auto_approve or now - pending_since > 3.0:
                print(f"{p.name}: pending approval ('odenos approve {p.name}')", flush=True)
                return
        if interrupted():
            raise LaunchError(f"interrupted while waiting for {p.name} to start")
        if proc is not None:
            code = proc.poll()
            gone = None if code is None else f"exited with code {code}"
        else:
            gone = None if alive(pid) else f"(pid {pid}) exited"
        if gone is not None:
            raise LaunchError(
                f"{p.name} {gone} while starting; its log ({log_file}) ends with:\n"
                + log_tail(log_file)
            )
        time.sleep(0.05)
    raise LaunchError(f"{p.name} did not become ready within {READY_TIMEOUT:g} s")


def _launch(
    config: Config,
    foreground: bool,
    interrupted: Callable[[], bool] = lambda: False,
    reinitialize: bool = False,
) -> list[tuple[ProcessPlan, subprocess.Popen[bytes]]]:
    """Start what is not running yet (the core, then the managers together); return once
    every process answers.

    The background (``start``) keeps whatever already runs; a crashed core is
    started again under live managers.  The foreground (``run``) supervises only its
    own children, so it refuses to start beside anything already running.  On
    failure the processes started here are stopped again, the others left alone.
    Returns the processes started here.
    """
    plans = plan(config, reinitialize)
    running = _running(config)
    if running and foreground:
        names = ", ".join(f"{name} (pid {pid})" for name, pid in running.items())
        raise LaunchError(f"already running: {names}; 'odenos stop -c {config.path}' first")
    started: list[tuple[ProcessPlan, subprocess.Popen[bytes]]] = []
    try:
        # The core first and alone (the managers need it); then every manager at once,
        # since each waits for the system manager by itself and they serialize on the
        # global lock: starting them one after the other only adds their start-up times.
        for wave in (
            [p for p in plans if p.kind == "core"],
            [p for p in plans if p.kind != "core"],
        ):
            spawned: list[tuple[ProcessPlan, subprocess.Popen[bytes] | None, int]] = []
            for p in wave:
                if p.name in running:
                    print(f"{p.name}: already running (pid {running[p.name]})", flush=True)
                    spawned.append((p, None, running[p.name]))
                    continue
                proc = _spawn(config, p, foreground)
                started.append((p, proc))
                spawned.append((p, proc, proc.pid))
            for p, maybe_proc, pid in spawned:
                _wait_ready(config, p, pid, maybe_proc, interrupted)
                if maybe_proc is not None:
                    print(f"{p.name}: running (pid {pid})", flush=True)
    except BaseException:
        _terminate([proc for _, proc in reversed(started)])
        raise
    return started


def _terminate(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def cmd_start(config: Config, reinitialize: bool = False) -> int:
    started = _launch(config, foreground=False, reinitialize=reinitialize)
    _print_logs(config)
    if started or not plan(config):
        print(f"odenos started: REST at {rest_url(config, '')}")
    else:
        print(f"odenos is already running: REST at {rest_url(config, '')}")
    return 0


def cmd_run(config: Config, reinitialize: bool = False) -> int:
    stop = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    started = _launch(config, foreground=True, interrupted=lambda: stop, reinitialize=reinitialize)
    _print_logs(config)
    print(f"odenos running: REST at {rest_url(config, '')} (Ctrl-C stops)", flush=True)
    reported: set[str] = set()
    children = {p.name: proc for p, proc in started}
    while not stop:
        for p, proc in started:
            code = proc.poll()
            if code is not None and p.name not in reported:
                reported.add(p.name)
                print(f"{p.name} exited with code {code}", file=sys.stderr, flush=True)
        if len(reported) == len(started) and not _running(config):
            # Stopped from elsewhere ('odenos stop'): nothing left to supervise.
            print("odenos run: every daemon has stopped", flush=True)
            return 0
        time.sleep(0.2)
    # Everything this host runs, also a manager started again by hand meanwhile:
    # managers first, the core (and its ZooKeeper) last.
    _stop_all(config, children)
    return 0


def _running(config: Config) -> dict[str, int]:
    """The processes of this host's plan that run now, by name (from their pid files)."""
    found = {}
    for p in plan(config):
        pid = read_pid(config, p.name)
        if pid is not None and alive(pid):
            found[p.name] = pid
    return found


def _print_logs(config: Config) -> None:
    for p in plan(config):
        print(f"{p.name}: logs to {log_dir(config) / f'{p.name}.log'}", flush=True)


def _stop_pid(name: str, pid: int) -> None:
    """SIGTERM, then SIGKILL after STOP_TIMEOUT; says which it took."""
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if alive(pid):
        os.kill(pid, signal.SIGKILL)
        print(f"{name}: killed (did not stop within {STOP_TIMEOUT:g} s)", flush=True)
    else:
        print(f"{name}: stopped", flush=True)


def _stop_all(config: Config, children: dict[str, subprocess.Popen[bytes]] | None = None) -> int:
    """Stop every process of this host's plan that runs, managers first, the core last;
    ``children`` (ours) are also reaped.  Returns how many were stopped."""
    children = children or {}
    stopped = 0
    for p in reversed(plan(config)):
        proc = children.get(p.name)
        pid = read_pid(config, p.name)
        if proc is not None and proc.poll() is None:
            _stop_pid(p.name, proc.pid)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(1)
            stopped += 1
        if pid is not None and alive(pid) and (proc is None or pid != proc.pid):
            _stop_pid(p.name, pid)  # not ours: started again by hand
            stopped += 1
    return stopped


def cmd_stop(config: Config) -> int:
    if not _stop_all(config):
        print("nothing to stop")
    return 0


def status(config: Config) -> dict[str, Any]:
    processes = []
    for p in plan(config):
        pid = read_pid(config, p.name)
        running = alive(pid)
        zk = read_status_file(status_file(config, p.name)) if running else None
        if zk is not None and zk.get("pid") != pid:
            zk = None  # left by an earlier process of that name
        processes.append(
            {
                "name": p.name,
                "kind": p.kind,
                "pid": pid if running else None,
                "alive": running,
                "ready": running and is_ready(config, p),
                "zookeeper": zk,
            }
        )
    servers = []
    for hostport in config.zookeeper.hosts.split(","):
        host, _, port = hostport.rpartition(":")
        mode = server_mode(host.strip("[]"), int(port))
        servers.append({"server": hostport, "serving": mode is not None, "mode": mode})
    return {
        "processes": processes,
        "zookeeper": {"connect_string": config.zookeeper.connect_string, "servers": servers},
        "rest": rest_url(config, ""),
    }


def cmd_status(config: Config, as_json: bool) -> int:
    report = status(config)
    if as_json:
        print(json.dumps(report, indent=2))
    else:
        print(f"{'process':<20} {'pid':>8}  {'state':<8} {'gate':<10} registration")
        for proc in report["processes"]:
            state = "ready" if proc["ready"] else ("alive" if proc["alive"] else "stopped")
            zk = proc["zookeeper"] or {}
            line = f"{proc['name']:<20} {proc['pid'] or '-':>8}  {state:<8} "
            line += f"{zk.get('gate', '-'):<10} {zk.get('registration', '-')}"
            if zk and zk.get("gate") != "UP":
                line += f"  ({zk.get('reason')}, since {zk.get('since')})"
            print(line)
        for server in report["zookeeper"]["servers"]:
            state = server["mode"] if server["serving"] else "not reachable"
            print(f"zookeeper {server['server']:<30} {state}")
    every = all(p["ready"] for p in report["processes"])
    return 0 if every else 3


def cmd_approval(config: Config, command: str, cm_id: str) -> int:
    """``approve``/``revoke`` a component manager through this host's REST port."""
    method = "PUT" if command == "approve" else "DELETE"
    status, body = call_rest(
        config, method, rest_url(config, f"component_managers/{cm_id}/approval")
    )
    if status in (200, 201):
        print(f"{cm_id}: {'approved' if method == 'PUT' else 'approval revoked'}")
        return 0
    message = body.get("message") if isinstance(body, dict) else None
    print(f"error: {command} {cm_id}: {status or 'no answer'} {message or ''}", file=sys.stderr)
    return 1


def cmd_rotate_secret(config: Config) -> int:
    """A new cluster secret for daemon-to-daemon requests; the old one stays accepted until
    the next rotation, so nothing in flight is refused."""

    async def rotate() -> None:
        zk = await operator_zookeeper(config, "odenos rotate-secret")
        try:
            await rotate_secret(zk)
        finally:
            await zk.stop()

    asyncio.run(rotate())
    print("cluster secret rotated: the daemons sign with the new one and accept both")
    return 0


def cmd_rekey(config: Config, new_file: Path) -> int:
    """New ZooKeeper credentials for a stopped system (see :mod:`odenos.zk.rekey`)."""
    running = [p.name for p in plan(config) if alive(read_pid(config, p.name))]
    if running:
        print(f"error: {', '.join(running)} still run here: odenos stop first", file=sys.stderr)
        return 1
    changed = asyncio.run(rekey(config, new_file))
    assert config.zookeeper.auth_file is not None
    print(
        f"{changed} znode(s) now belong to the new credentials, written to "
        f"{config.zookeeper.auth_file}: copy that file to every other host, then start"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="odenos", description="Start and stop ODENOS.")
    parser.add_argument(
        "command",
        choices=[
            "start",
            "stop",
            "status",
            "run",
            "restart",
            "rotate-secret",
            "rekey-zookeeper",
            "approve",
            "revoke",
            "tree",
            "components",
            "managers",
            "config",
            "apply",
            "export",
        ],
    )
    parser.add_argument(
        "cm_id",
        nargs="?",
        help="approve/revoke: the component manager's id; "
        "rekey-zookeeper: the file of the new credentials; tree: the znode to start at; "
        "config: get or set",
    )
    parser.add_argument(
        "more", nargs="*", help="config get [KEY], config set KEY VALUE (JSON, or text)"
    )
    parser.add_argument("-c", "--config", default="etc/odenos.conf")
    parser.add_argument(
        "--json", action="store_true", help="status, tree, components, managers: as JSON"
    )
    parser.add_argument("-f", "--file", help="apply: the deployment file (YAML)")
    parser.add_argument(
        "--dry-run", action="store_true", help="apply: print the plan, change nothing"
    )
    parser.add_argument(
        "--prune",
        action="store_true",
        help="apply: also delete the connections and components the file does not name",
    )
    parser.add_argument(
        "--reinitialize",
        action="store_true",
        help="start/run: begin a new cluster on a ZooKeeper that lost this one's data",
    )
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
        for warning in config.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        if args.command == "start":
            return cmd_start(config, args.reinitialize)
        if args.command == "run":
            return cmd_run(config, args.reinitialize)
        if args.command == "stop":
            return cmd_stop(config)
        if args.command == "restart":
            cmd_stop(config)
            return cmd_start(config)
        if args.command == "rotate-secret":
            return cmd_rotate_secret(config)
        if args.command == "rekey-zookeeper":
            if not args.cm_id:
                parser.error("rekey-zookeeper needs the file of the new credentials")
            return cmd_rekey(config, Path(args.cm_id))
        if args.command == "apply":
            return deploy.cmd_apply(config, args.file, args.dry_run, args.prune)
        if args.command == "export":
            return deploy.cmd_export(config)
        if args.command == "config":
            return cli_views.cmd_config(config, args.cm_id, args.more)
        if args.command == "tree":
            return cli_views.cmd_tree(config, args.cm_id, args.json)
        if args.command == "components":
            return cli_views.cmd_components(config, args.json)
        if args.command == "managers":
            return cli_views.cmd_managers(config, args.json)
        if args.command in ("approve", "revoke"):
            if not args.cm_id:
                parser.error(f"{args.command} needs the component manager's id")
            return cmd_approval(config, args.command, args.cm_id)
        return cmd_status(config, args.json)
    except OdenosError as err:
        print(f"error: {err.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
