"""A supervised Apache ZooKeeper server run as a child process.

Used by the core daemon when ``zookeeper.embed`` is on, and by the test suite as
its real ZooKeeper server.  Linux only: the child is tied to our life with
``PR_SET_PDEATHSIG``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import shutil
import signal
import socket
from collections.abc import Callable
from pathlib import Path

from odenos.errors import EnvironmentProblem, ZooKeeperServerError

log = logging.getLogger(__name__)

DEFAULT_CLASSPATH = "/usr/share/java/zookeeper.jar"
INSTALL_HINT = (
    "install it with: apt-get install -y zookeeper (Debian's package, which brings Java too), "
    "or name the jars with zookeeper.classpath in odenos.conf"
)
JAVA_HINT = "install it with: apt-get install -y default-jre-headless"
MAIN_CLASS = "org.apache.zookeeper.server.ZooKeeperServerMain"
_JVM_OPTIONS = (
    "-Xmx256m",
    "-Dzookeeper.admin.enableServer=false",
    "-Dorg.slf4j.simpleLogger.showDateTime=true",
)
# Debian's zookeeper.jar brings slf4j-api but no binding, so the server would log nothing at
# all, and a failed start would leave an empty log to show.
_LOG_BINDING = "/usr/share/java/slf4j-simple.jar"
_PR_SET_PDEATHSIG = 1
_POLL_S = 0.05
_BACKOFF_MIN_S, _BACKOFF_MAX_S = 0.5, 10.0


def find_java() -> str:
    """``$JAVA_HOME/bin/java`` if executable, else ``java`` on PATH; else EnvironmentProblem."""
    home = os.environ.get("JAVA_HOME")
    if home:
        candidate = os.path.join(home, "bin", "java")
        if os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("java")
    if found is None:
        raise EnvironmentProblem(
            f"Java is not installed (no $JAVA_HOME/bin/java, no java on PATH): {JAVA_HINT}"
        )
    return found


def find_classpath(explicit: str | None) -> str:
    """Check and return ``explicit`` (``:``-separated) or DEFAULT_CLASSPATH.

    An entry ``dir/*`` means every jar of ``dir``, as Java reads it.  Raises
    EnvironmentProblem naming every missing entry.
    """
    classpath = explicit.strip() if explicit and explicit.strip() else DEFAULT_CLASSPATH
    missing = [entry for entry in classpath.split(":") if entry and not _entry_exists(entry)]
    if missing:
        raise EnvironmentProblem(
            f"ZooKeeper classpath entries not found: {', '.join(missing)}; {INSTALL_HINT}",
            missing=missing,
        )
    return classpath


def _entry_exists(entry: str) -> bool:
    if entry.endswith("*"):
        folder = Path(entry[:-1] or ".")
        return folder.is_dir() and any(p.suffix.lower() == ".jar" for p in folder.iterdir())
    return Path(entry).exists()


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that was unused a moment ago (another process may still take it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


async def four_letter(host: str, port: int, word: str, timeout: float = 1.0) -> str:
    """Send a four-letter command (``ruok``, ``srvr``...) and return the whole reply.

    Raises OSError if the server cannot be reached, TimeoutError after ``timeout`` s.
    """
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection(host, port)
        try:
            writer.write(word.encode("ascii"))
            await writer.drain()
            reply = await reader.read()  # the server closes the connection after its answer
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
    return reply.decode("utf-8", "replace")


def _die_with_parent() -> Callable[[], None]:
    """A ``preexec_fn`` that makes the child receive SIGTERM when the forking thread dies."""
    parent = os.getpid()
    prctl = getattr(ctypes.CDLL(None, use_errno=True), "prctl", None)

    def preexec() -> None:
        if prctl is not None:
            prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM))
        if os.getppid() != parent:  # we died before prctl took effect
            os._exit(1)

    return preexec


def _describe_exit(code: int | None) -> str:
    if code is not None and code < 0:
        return f"was killed by {signal.Signals(-code).name}"
    return f"exited with code {code}"


class EmbeddedZooKeeper:
    """A ZooKeeper server child process on host:port with its data under data_dir.

    All coroutines must run on one event loop, on a thread that lives as long as the
    server: the kernel sends the child SIGTERM when the thread that spawned it exits.
    """

    def __init__(
        self,
        port: int,
        data_dir: Path,
        *,
        host: str = "127.0.0.1",
        classpath: str | None = None,
        log_file: Path | None = None,
        tick_ms: int = 500,
        max_session_timeout_ms: int = 60000,
        restart_on_crash: bool = True,
    ) -> None:
        self.port = port
        self.host = host
        self.data_dir = data_dir
        self.log_file = log_file if log_file is not None else data_dir / "zookeeper.log"
        self._classpath = classpath
        self._tick_ms = tick_ms
        self._max_session_timeout_ms = max_session_timeout_ms
        self._restart_on_crash = restart_on_crash
        self._proc: asyncio.subprocess.Process | None = None
        self._supervisor: asyncio.Task[None] | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        """The pid of the running child, None when none runs."""
        if self._proc is None or self._proc.returncode is not None:
            return None
        return self._proc.pid

    async def start(self, timeout: float = 30.0) -> None:
        """Spawn the server, return once it serves, then supervise it; no-op if supervised.

        Raises EnvironmentProblem (no Java, no jars) before spawning anything, and
        ZooKeeperServerError if the port is taken, the child exits or it does not
        serve within ``timeout`` s (the log tail is in the message).
        """
        if self._supervisor is not None and not self._supervisor.done():
            return
        command = self._command(find_java(), find_classpath(self._classpath))
        await self._launch(command, timeout)
        self._supervisor = asyncio.create_task(
            self._supervise(command, timeout), name=f"supervise ZooKeeper {self.address}"
        )

    async def stop(self, timeout: float = 10.0) -> None:
        """Stop supervising, SIGTERM the child, SIGKILL it after ``timeout`` s; idempotent."""
        await self._cancel_supervisor()
        proc, self._proc = self._proc, None
        if proc is None or proc.returncode is not None:
            return
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), timeout)
        except TimeoutError:
            log.warning("embedded ZooKeeper on %s ignored SIGTERM, killing it", self.address)
            proc.kill()
            await proc.wait()
        log.info("embedded ZooKeeper on %s stopped", self.address)

    async def kill(self) -> None:
        """SIGKILL the server without restarting it (fault injection); ``start()`` revives it."""
        await self._cancel_supervisor()
        proc = self._proc
        if proc is not None and proc.returncode is None:
            proc.kill()
            await proc.wait()
            log.info("embedded ZooKeeper on %s killed (pid %d)", self.address, proc.pid)

    async def _cancel_supervisor(self) -> None:
        task, self._supervisor = self._supervisor, None
        if task is not None:
            task.cancel()
            await asyncio.wait([task])  # unlike awaiting the task, keeps our own cancellation

    def _command(self, java: str, classpath: str) -> list[str]:
        if classpath == DEFAULT_CLASSPATH and Path(_LOG_BINDING).exists():
            classpath = f"{classpath}:{_LOG_BINDING}"
        config = str((self.data_dir / "zoo.cfg").resolve())
        return [java, *_JVM_OPTIONS, "-cp", classpath, MAIN_CLASS, config]

    def _check_port_free(self) -> None:
        # The bind the server will do, SO_REUSEADDR included, so that connections of a
        # previous run lingering in TIME_WAIT do not count as a conflict.
        try:
            socket.create_server((self.host, self.port)).close()
        except OSError as exc:
            raise ZooKeeperServerError(
                f"port {self.port} on {self.host} is already in use: is another ZooKeeper "
                "running? set zookeeper.port or 'zookeeper.embed off'",
                address=self.address,
            ) from exc

    def _write_config(self) -> None:
        lines = [
            f"tickTime={self._tick_ms}",
            f"dataDir={(self.data_dir / 'data').resolve()}",
            f"clientPort={self.port}",
            f"clientPortAddress={self.host}",
            f"minSessionTimeout={2 * self._tick_ms}",
            f"maxSessionTimeout={self._max_session_timeout_ms}",
            # Every daemon and test of one host connects from the same address.
            "maxClientCnxns=0",
            "admin.enableServer=false",
            "4lw.commands.whitelist=ruok,srvr,stat,mntr,cons",
            "autopurge.snapRetainCount=3",
            "autopurge.purgeInterval=1",
        ]
        (self.data_dir / "zoo.cfg").write_text("\n".join(lines) + "\n")

    async def _launch(self, command: list[str], timeout: float) -> None:
        """Spawn one child and wait until it serves; on failure no child is left running."""
        self._check_port_free()
        (self.data_dir / "data").mkdir(parents=True, exist_ok=True)
        self._write_config()
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as out:
            log_offset = out.tell()
            proc = await asyncio.create_subprocess_exec(
                *command,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C in our terminal must not kill it out of order
                preexec_fn=_die_with_parent(),
            )
        self._proc = proc
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            while not await self._serves():
                if proc.returncode is not None or loop.time() - started > timeout:
                    what = (
                        f"{_describe_exit(proc.returncode)} while starting"
                        if proc.returncode is not None
                        else f"did not serve within {timeout:g} s"
                    )
                    raise ZooKeeperServerError(
                        f"embedded ZooKeeper on {self.address} {what}; last lines of "
                        f"{self.log_file}:\n{self._log_tail(log_offset)}",
                        address=self.address,
                        exit_code=proc.returncode,
                    )
                await asyncio.sleep(_POLL_S)
        except BaseException:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            raise
        log.info(
            "embedded ZooKeeper serving on %s (pid %d, data %s) after %.2f s",
            self.address,
            proc.pid,
            self.data_dir,
            loop.time() - started,
        )

    async def _serves(self) -> bool:
        try:
            return await four_letter(self.host, self.port, "ruok") == "imok" and (
                "Mode: standalone" in await four_letter(self.host, self.port, "srvr")
            )
        except OSError:
            return False

    def _log_tail(self, offset: int, lines: int = 20) -> str:
        try:
            with self.log_file.open("rb") as f:
                f.seek(max(offset, f.seek(0, os.SEEK_END) - 16384))
                text = f.read().decode("utf-8", "replace")
        except OSError as exc:
            return f"(log unreadable: {exc})"
        return "\n".join(text.splitlines()[-lines:]) or "(log is empty)"

    async def _supervise(self, command: list[str], timeout: float) -> None:
        """Restart the child whenever it exits unasked, with exponential backoff."""
        loop = asyncio.get_running_loop()
        backoff = _BACKOFF_MIN_S
        while self._proc is not None:
            up_since = loop.time()
            how = _describe_exit(await self._proc.wait())
            if not self._restart_on_crash:
                log.error("embedded ZooKeeper on %s %s; restart_on_crash is off", self.address, how)
                return
            if loop.time() - up_since > _BACKOFF_MAX_S:
                backoff = _BACKOFF_MIN_S  # it had been serving for a while: not a crash loop
            log.warning(
                "embedded ZooKeeper on %s is down (it %s); restarting it in %.1f s",
                self.address,
                how,
                backoff,
            )
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, _BACKOFF_MAX_S)
            try:
                await self._launch(command, timeout)
            except Exception as exc:
                # Whatever went wrong (a busy port, EMFILE, a full disk), keep supervising:
                # the next attempt may succeed, and giving up would leave ZooKeeper down.
                log.error("restart of embedded ZooKeeper on %s failed: %r", self.address, exc)
