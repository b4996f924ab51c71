"""A three-server Apache ZooKeeper ensemble on loopback, for the high-availability tests.

Each server is a real ``QuorumPeerMain`` JVM with its own ports and data
directory, as an operator would run a standalone ensemble beside ODENOS.
"""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

from odenos.zk.embedded import find_classpath, find_java, free_port, server_mode
from tests.support import wait_until


def mode(port: int) -> str | None:
    """``leader`` / ``follower`` of the server on loopback ``port``, None if not serving."""
    return server_mode("127.0.0.1", port)


class Ensemble:
    def __init__(self, root: Path, size: int = 3) -> None:
        self.root = root
        self.client_ports = [free_port() for _ in range(size)]
        self._peers = [(free_port(), free_port()) for _ in range(size)]
        self.processes: dict[int, subprocess.Popen[bytes]] = {}

    @property
    def connect_string(self) -> str:
        return ",".join(f"127.0.0.1:{p}" for p in self.client_ports)

    def _config(self, index: int) -> Path:
        node = self.root / f"zk{index + 1}"
        (node / "data").mkdir(parents=True, exist_ok=True)
        (node / "data" / "myid").write_text(f"{index + 1}\n")
        servers = [
            f"server.{i + 1}=127.0.0.1:{peer}:{election}"
            for i, (peer, election) in enumerate(self._peers)
        ]
        cfg = node / "zoo.cfg"
        cfg.write_text(
            "\n".join(
                [
                    "tickTime=200",
                    "initLimit=20",
                    "syncLimit=10",
                    f"dataDir={node / 'data'}",
                    f"clientPort={self.client_ports[index]}",
                    "clientPortAddress=127.0.0.1",
                    "admin.enableServer=false",
                    "4lw.commands.whitelist=ruok,srvr",
                    "maxClientCnxns=0",
                    *servers,
                ]
            )
            + "\n"
        )
        return cfg

    def start(self, index: int) -> None:
        config = self._config(index)
        log = open(self.root / f"zk{index + 1}.log", "ab")  # noqa: SIM115 - the child keeps it
        self.processes[index] = subprocess.Popen(
            [
                find_java(),
                "-Xmx128m",
                "-cp",
                find_classpath(None),
                "org.apache.zookeeper.server.quorum.QuorumPeerMain",
                str(config),
            ],
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
        )
        log.close()

    def start_all(self) -> None:
        for index in range(len(self.client_ports)):
            self.start(index)
        wait_until(
            lambda: all(mode(p) in ("leader", "follower") for p in self.client_ports),
            60,
            "the ensemble to elect a leader",
            interval=0.1,
        )

    def leader(self) -> int:
        return next(i for i, p in enumerate(self.client_ports) if mode(p) == "leader")

    def kill(self, index: int) -> None:
        proc = self.processes[index]
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

    def stop_all(self) -> None:
        for proc in self.processes.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
