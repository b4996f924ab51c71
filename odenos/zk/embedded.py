"""A supervised Apache ZooKeeper server run as a child process.

Used by the core daemon when ``zookeeper.embed`` is on, and by the test suite as
its real ZooKeeper server.  Linux only: the child is tied to our life with
``PR_SET_PDEATHSIG``.

Also the four-letter-word helpers (``ruok``, ``srvr``...) that the CLI and the
tests use to ask any ZooKeeper server, embedded or not, whether and how it serves.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import random
import shutil
import signal
import socket
import time
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
#: How long a health probe waits for ``imok``.
PROBE_TIMEOUT_S = 1.0
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
    """A TCP port on ``host`` that was unused a moment ago, chosen below the kernel's
    ephemeral range: a port the kernel hands out meanwhile (a daemon's internal server
    bound to port 0, the source port of a connection) can then never be this one.
    Another process choosing ports the same way may still take it, rarely."""
    low = _ephemeral_range_start()
    for _ in range(200):
        port = random.randint(max(1024, low - 12000), low - 1)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        chosen: int = sock.getsockname()[1]
        return chosen


def _ephemeral_range_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


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


def four_letter_sync(host: str, port: int, word: str, timeout: float = 1.0) -> str:
    """Blocking :func:`four_letter`: send ``word``, return the whole reply.

    ``timeout`` bounds the whole exchange.  Raises OSError if the server cannot be
    reached, TimeoutError (an OSError) if it has not answered within ``timeout`` s.
    """
    deadline = time.monotonic() + timeout
    chunks: list[bytes] = []
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(word.encode("ascii"))
        while True:  # the server closes the connection after its answer
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{host}:{port} did not answer {word!r} within {timeout:g} s")
            sock.settimeout(remaining)
            chunk = sock.recv(4096)
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks).decode("utf-8", "replace")


def server_mode(host: str, port: int, timeout: float = 1.0) -> str | None:
    """The ``Mode:`` of the ``srvr`` answer: ``standalone``, ``leader``, ``follower``...

    None when the server does not answer within ``timeout`` s, is not serving (an
    ensemble member without a quorum answers ``srvr`` with no mode), or does not
    allow ``srvr`` (``4lw.commands.whitelist``).  Blocking: from a coroutine, run it
    in a thread or use :func:`four_letter`.
    """
    try:
        return _mode(four_letter_sync(host, port, "srvr", timeout))
    except OSError:
        return None


def _mode(srvr_reply: str) -> str | None:
    for line in srvr_reply.splitlines():
        if line.startswith("Mode:"):
            return line.split(":", 1)[1].strip()
    return None


def die_with_parent() -> Callable[[], None]:
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

    Once started, a supervisor task restarts the child whenever it exits unasked
    (``restart_on_crash``), and probes it with ``ruok`` every ``probe_interval`` s: a
    JVM that is alive but hung (stopped, stuck in GC, deadlocked) never exits, and
    its port still accepts connections, so after ``probe_failures`` unanswered
    probes in a row the supervisor SIGKILLs it and restarts it like a crashed one.

    Clients may ask for session timeouts between ``2 * tick_ms`` and
    ``max_session_timeout_ms`` (the server clamps other requests into that range):
    the caller passes a maximum at least as long as the sessions it configures.
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
        probe_interval: float = 2.0,
        probe_failures: int = 3,
    ) -> None:
        """Raises ValueError for settings the server would refuse or misread."""
        if tick_ms <= 0:
            raise ValueError(f"tick_ms must be positive, not {tick_ms}")
        if max_session_timeout_ms < 2 * tick_ms:
            raise ValueError(
                f"max_session_timeout_ms ({max_session_timeout_ms}) is below the minimum "
                f"session timeout, 2 * tick_ms ({2 * tick_ms})"
            )
        if probe_interval <= 0 or probe_failures < 1:
            raise ValueError(
                f"probe_interval must be positive and probe_failures at least 1, not "
                f"{probe_interval} and {probe_failures}"
            )
        self.port = port
        self.host = host
        self.data_dir = data_dir
        self.log_file = log_file if log_file is not None else data_dir / "zookeeper.log"
        self._classpath = classpath
        self._tick_ms = tick_ms
        self._max_session_timeout_ms = max_session_timeout_ms
        self._restart_on_crash = restart_on_crash
        self._probe_interval = probe_interval
        self._probe_failures = probe_failures
        self._proc: asyncio.subprocess.Process | None = None
        self._supervisor: asyncio.Task[None] | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def min_session_timeout_ms(self) -> int:
        """The shortest session the server grants: ZooKeeper's own default, 2 ticks."""
        return 2 * self._tick_ms

    @property
    def max_session_timeout_ms(self) -> int:
        """The longest session the server grants; longer requests get this."""
        return self._max_session_timeout_ms

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
            f"minSessionTimeout={self.min_session_timeout_ms}",
            f"maxSessionTimeout={self.max_session_timeout_ms}",
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
                preexec_fn=die_with_parent(),
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
            return await self._answers() and (
                _mode(await four_letter(self.host, self.port, "srvr")) == "standalone"
            )
        except OSError:
            return False

    async def _answers(self) -> bool:
        """``ruok`` answered ``imok`` within PROBE_TIMEOUT_S."""
        try:
            return await four_letter(self.host, self.port, "ruok", PROBE_TIMEOUT_S) == "imok"
        except OSError:  # TimeoutError included
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
        """Restart the child whenever it exits unasked, with exponential backoff.

        Nothing but cancellation (``stop()``, ``kill()``) ends this loop while
        ``restart_on_crash`` is on: an unexpected error is logged and the loop goes on,
        since a supervisor that dies silently leaves ZooKeeper down for good.
        """
        loop = asyncio.get_running_loop()
        backoff = _BACKOFF_MIN_S
        while self._proc is not None:
            try:
                up_since = loop.time()
                how = _describe_exit(await self._watch(self._proc))
                if not self._restart_on_crash:
                    log.error(
                        "embedded ZooKeeper on %s %s; restart_on_crash is off", self.address, how
                    )
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
                    # The failed child is dead, so the next _watch returns at once.
                    log.error("restart of embedded ZooKeeper on %s failed: %r", self.address, exc)
            except Exception:
                log.exception(
                    "supervisor of embedded ZooKeeper on %s: unexpected error; carrying on",
                    self.address,
                )
                await asyncio.sleep(backoff)  # no busy loop if the error repeats
                backoff = min(backoff * 2, _BACKOFF_MAX_S)

    async def _watch(self, proc: asyncio.subprocess.Process) -> int:
        """Wait until ``proc`` exits and return its exit code; SIGKILL it if it hangs.

        While restarting is on, ``ruok`` goes to the server every ``probe_interval``
        s; after ``probe_failures`` unanswered probes in a row the child is killed, and
        its exit returned like any other.  The probe is asynchronous and raced against
        the exit, so neither the event loop nor the noticing of an exit waits for it.
        """
        if not self._restart_on_crash:
            return await proc.wait()
        exited = asyncio.ensure_future(proc.wait())
        probe: asyncio.Future[bool] | None = None
        failures = 0
        try:
            while True:
                await asyncio.wait([exited], timeout=self._probe_interval)
                if exited.done():
                    return exited.result()
                probe = asyncio.ensure_future(self._answers())
                await asyncio.wait([exited, probe], return_when=asyncio.FIRST_COMPLETED)
                if exited.done():
                    return exited.result()
                failures = 0 if probe.result() else failures + 1
                if failures >= self._probe_failures:
                    log.warning(
                        "embedded ZooKeeper on %s stopped answering; killing it to restart "
                        "(pid %d: %d probes in a row got no 'imok' within %g s)",
                        self.address,
                        proc.pid,
                        failures,
                        PROBE_TIMEOUT_S,
                    )
                    with contextlib.suppress(ProcessLookupError):  # it exited meanwhile
                        proc.kill()
                    failures = 0
        finally:
            exited.cancel()
            if probe is not None:
                probe.cancel()
