"""Running one daemon process: logging, pid file, signals, clean exit codes.

Each daemon's ``__main__`` parses its arguments and hands a :class:`Daemon`
to :func:`run`, which starts it, waits for SIGTERM or SIGINT, and stops it.
A signal that comes while the daemon is still starting (waiting for
ZooKeeper, for the system manager) cancels the start and stops what has
started: exit code 0, as for any requested stop.
A start that fails with an :class:`OdenosError` prints one clear line to
stderr and exits 1; no traceback reaches the operator for a known failure.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import dataclasses
import gc
import logging
import logging.config
import os
import resource
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import ParamSpec, Protocol, TypeVar

import uvloop

from odenos import logformat
from odenos.config import Config, load_config
from odenos.errors import OdenosError

log = logging.getLogger(__name__)

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_P = ParamSpec("_P")
_T = TypeVar("_T")


class Daemon(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...


def pid_dir(config: Config) -> Path:
    return config.var_dir / "tmp"


def log_dir(config: Config) -> Path:
    return config.var_dir / "log"


def pid_file(config: Config, name: str) -> Path:
    return pid_dir(config) / f"{name}.pid"


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def alive(pid: int | None) -> bool:
    """Is process ``pid`` running (a zombie, exited but not yet reaped, is not)?"""
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[0] != "Z"


#: What a daemon's command line holds: a pid file naming any other process is stale (the
#: pid was reused after a crash).
_DAEMON_MODULES = (b"systemmanager", b"componentmanager", b"resttranslator")


def daemon_pid(path: Path) -> int | None:
    """The pid in ``path`` if it is a live daemon of ours, else None."""
    pid = read_pid(path)
    if not alive(pid):
        return None
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return pid  # no /proc: trust the pid
    return pid if any(m in cmdline for m in _DAEMON_MODULES) else None


def claim_pid_file(path: Path) -> bool:
    """Write our pid unless a live process already holds the file (a twin that is
    about to be refused must not take the live daemon's pid file); True if ours."""
    holder = daemon_pid(path)
    if holder is not None and holder != os.getpid():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{os.getpid()}\n")
    return True


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO, format=LOG_FORMAT, stream=sys.stderr
    )
    # kazoo logs every reconnect attempt at INFO/WARNING; ours say what matters.
    logging.getLogger("kazoo").setLevel(logging.ERROR)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def argument_parser(prog: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("-c", "--config", default="etc/odenos.conf", help="odenos.conf to use")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return parser


def load(path: str) -> Config:
    """Load the config, logging its warnings; a ConfigError exits with one line."""
    try:
        config = load_config(path)
    except OdenosError as err:
        print(f"error: {err.message}", file=sys.stderr)
        raise SystemExit(2) from None
    apply_log_config(config)
    for warning in config.warnings:
        log.warning("%s", warning)
    return config


def with_manager_id(config: Config, manager_id: str) -> Config:
    return dataclasses.replace(config, manager_id=manager_id)


def apply_log_config(config: Config) -> None:
    """The daemon's logging as ``log.config`` says (read with the config); a file
    logging cannot take exits naming it."""
    if config.log_config is None:
        return
    verbose = logging.getLogger().level == logging.DEBUG
    try:
        logging.config.dictConfig(config.log_config)
    except (ValueError, TypeError, AttributeError, ImportError) as exc:
        print(f"error: {config.path}: log.config: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    if verbose:
        logging.getLogger().setLevel(logging.DEBUG)


def run(make: Callable[[], Daemon], name: str, config: Config) -> int:
    """Run the daemon until SIGTERM/SIGINT.  Returns the process exit code."""
    logformat.PROCESS_NAME = name
    _raise_file_limit()
    if config.event_loop == "uvloop":
        # libuv's loop: the same asyncio API, its transports and scheduling in C (measured
        # in docs/benchmarks.md, rows d and k, with and without).
        return uvloop.run(_main(make, name, config))
    return asyncio.run(_main(make, name, config))


def _raise_file_limit() -> None:
    """Up to the hard limit: each listening socket takes up to MAX_CONNECTIONS clients
    (odenos.http.server), more than a default soft limit of 1024 descriptors allows."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class DaemonThreadExecutor(concurrent.futures.ThreadPoolExecutor):
    """The loop's default executor (``asyncio.to_thread``): one daemon thread per call.

    A start cancelled by SIGTERM can leave a worker blocked in a library call that
    cannot be cancelled (kazoo's ``start`` waits its whole timeout for a server
    that does not answer).  Nobody wants that result any more, yet the standard
    executor's threads are joined at exit, so the process would linger for the
    rest of the timeout.  Daemon threads are not waited for.  (A ThreadPoolExecutor
    only because asyncio accepts no other default executor; its pool stays unused.)
    """

    def submit(
        self, fn: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs
    ) -> concurrent.futures.Future[_T]:
        future: concurrent.futures.Future[_T] = concurrent.futures.Future()

        def work() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:
                future.set_exception(exc)
            else:
                future.set_result(result)

        threading.Thread(target=work, name="to_thread", daemon=True).start()
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Nothing to wait for: see the class docstring."""


async def _main(make: Callable[[], Daemon], name: str, config: Config) -> int:
    # What is loaded by now (modules, classes) lives as long as the process: out of the
    # collector's sight.  And fewer collections: a manager resuming a thousand components
    # allocates many objects at once, and each full collection walks all of them.
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.set_default_executor(DaemonThreadExecutor())
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    daemon = make()
    # Written before start, so that whoever sees us ready also finds our pid file.
    pid_path = pid_file(config, name)
    own_pid_file = claim_pid_file(pid_path)
    try:
        started = await _start_unless_stopped(daemon, stop)
    except OdenosError as err:
        log.error("%s failed to start: %s", name, err.message)
        print(f"error: {name}: {err.message}", file=sys.stderr)
        await _quiet_stop(daemon)
        if own_pid_file:
            pid_path.unlink(missing_ok=True)
        return 1
    if started:
        log.info("%s ready (pid %d, event loop %s)", name, os.getpid(), config.event_loop)
        await stop.wait()
        log.info("%s stopping", name)
    else:
        log.info("%s stopping before it finished starting", name)
    try:
        await daemon.stop()
    finally:
        if own_pid_file:
            pid_path.unlink(missing_ok=True)
    log.info("%s stopped", name)
    return 0


async def _start_unless_stopped(daemon: Daemon, stop: asyncio.Event) -> bool:
    """Run ``daemon.start()`` until it returns or ``stop`` is set, whichever comes first.

    A start can wait a long time (for ZooKeeper, for the system manager); a SIGTERM
    meanwhile cancels it.  True if the daemon started; False if the start was
    cancelled, which leaves a partly started daemon for ``stop()`` to take down.
    Raises what ``start()`` raises.
    """
    start = asyncio.ensure_future(daemon.start())
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({start, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
    if start.done():
        start.result()
        return True
    start.cancel()
    try:
        await start
    except asyncio.CancelledError:
        pass
    except Exception:
        # Whatever the start was doing when cancelled no longer matters: we stop.
        log.debug("start interrupted", exc_info=True)
    return False


async def _quiet_stop(daemon: Daemon) -> None:
    try:
        await daemon.stop()
    except Exception:
        log.debug("cleanup after failed start", exc_info=True)
