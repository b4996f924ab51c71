"""Running one daemon process: logging, pid file, signals, clean exit codes.

Each daemon's ``__main__`` parses its arguments and hands a :class:`Daemon`
to :func:`run`, which starts it, waits for SIGTERM or SIGINT, and stops it.
A start that fails with an :class:`OdenosError` prints one clear line to
stderr and exits 1; no traceback reaches the operator for a known failure.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from odenos.config import Config, load_config
from odenos.errors import OdenosError

log = logging.getLogger(__name__)

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


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


def claim_pid_file(path: Path) -> bool:
    """Write our pid unless a live process already holds the file (a twin that is
    about to be refused must not take the live daemon's pid file); True if ours."""
    holder = read_pid(path)
    if holder is not None and holder != os.getpid() and alive(holder):
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
    for warning in config.warnings:
        log.warning("%s", warning)
    return config


def with_manager_id(config: Config, manager_id: str) -> Config:
    return dataclasses.replace(config, manager_id=manager_id)


def run(make: Callable[[], Daemon], name: str, config: Config) -> int:
    """Run the daemon until SIGTERM/SIGINT.  Returns the process exit code."""
    return asyncio.run(_main(make, name, config))


async def _main(make: Callable[[], Daemon], name: str, config: Config) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    daemon = make()
    # Written before start, so that whoever sees us ready also finds our pid file.
    pid_path = pid_file(config, name)
    own_pid_file = claim_pid_file(pid_path)
    try:
        await daemon.start()
    except OdenosError as err:
        log.error("%s failed to start: %s", name, err.message)
        print(f"error: {name}: {err.message}", file=sys.stderr)
        await _quiet_stop(daemon)
        if own_pid_file:
            pid_path.unlink(missing_ok=True)
        return 1
    log.info("%s ready (pid %d)", name, os.getpid())
    await stop.wait()
    log.info("%s stopping", name)
    try:
        await daemon.stop()
    finally:
        if own_pid_file:
            pid_path.unlink(missing_ok=True)
    log.info("%s stopped", name)
    return 0


async def _quiet_stop(daemon: Daemon) -> None:
    try:
        await daemon.stop()
    except Exception:
        log.debug("cleanup after failed start", exc_info=True)
