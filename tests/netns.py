"""Hosts of the tests' own, in Linux network namespaces (``ip netns``), on one bridge.

``Hosts(prefix)`` makes a bridge ``<prefix>br`` with ``10.<n>.0.1/24`` in the root
namespace (where the test and its ZooKeeper run) and, per ``add(name)``, a
namespace whose veth is attached to the bridge with the next address.  ``cut``
takes a host's link down (its TCP connections stall, as in a real partition);
``heal`` brings it back.  Everything is removed by ``close``.  Needs root.
"""

from __future__ import annotations

import contextlib
import os
import subprocess


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


def available() -> str | None:
    """None if namespaces can be made here, else why not."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    name = f"odchk{os.getpid() % 100000}"
    try:
        _ip("netns", "add", name)
    except (OSError, subprocess.CalledProcessError) as exc:
        return f"'ip netns add' failed: {exc}"
    _ip("netns", "del", name)
    return None


class Hosts:
    def __init__(self, prefix: str, subnet: int) -> None:
        self.prefix = prefix[:6]
        self.subnet = subnet
        self.bridge = f"{self.prefix}br"
        self.hosts: dict[str, tuple[str, str, str]] = {}  # name -> (netns, host veth, addr)
        _ip("link", "add", self.bridge, "type", "bridge")
        _ip("link", "set", self.bridge, "up")
        _ip("addr", "add", f"{self.gateway}/24", "dev", self.bridge)

    @property
    def gateway(self) -> str:
        """The root namespace's address on the bridge."""
        return f"10.{self.subnet}.0.1"

    def add(self, name: str) -> str:
        """A new host; returns its address."""
        index = len(self.hosts) + 2
        netns = f"{self.prefix}{name}"
        outside, inside = f"{self.prefix}{index}h", f"{self.prefix}{index}n"
        address = f"10.{self.subnet}.0.{index}"
        _ip("netns", "add", netns)
        _ip("link", "add", outside, "type", "veth", "peer", "name", inside)
        _ip("link", "set", outside, "master", self.bridge)
        _ip("link", "set", outside, "up")
        _ip("link", "set", inside, "netns", netns)
        _ip("netns", "exec", netns, "ip", "addr", "add", f"{address}/24", "dev", inside)
        _ip("netns", "exec", netns, "ip", "link", "set", inside, "up")
        _ip("netns", "exec", netns, "ip", "link", "set", "lo", "up")
        self.hosts[name] = (netns, outside, address)
        return address

    def argv(self, name: str, argv: list[str]) -> list[str]:
        """``argv`` run on host ``name`` (``ip netns exec`` replaces itself: same pid)."""
        return ["ip", "netns", "exec", self.hosts[name][0], *argv]

    def cut(self, name: str) -> None:
        _ip("link", "set", self.hosts[name][1], "down")

    def heal(self, name: str) -> None:
        _ip("link", "set", self.hosts[name][1], "up")

    def close(self) -> None:
        for netns, outside, _ in self.hosts.values():
            with contextlib.suppress(subprocess.CalledProcessError, OSError):
                _ip("link", "del", outside)
            with contextlib.suppress(subprocess.CalledProcessError, OSError):
                _ip("netns", "del", netns)
        with contextlib.suppress(subprocess.CalledProcessError, OSError):
            _ip("link", "del", self.bridge)
