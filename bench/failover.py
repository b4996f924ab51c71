"""(a) kill -9, (b) SIGSTOP, (c) SIGTERM of a component manager: time to the first 503.

One keep-alive client polls ``GET /network0/property`` through the REST
translator in a tight loop; the clock starts right before ``os.kill`` and
stops at the first answer that is not a 200.  The figure therefore includes
the round trip of the request that saw the failure, but not the time spent
building the client.  Each trial starts from a serving ``network0`` and ends by
bringing its manager back (a new process for (a) and (c), SIGCONT for (b)), so
every trial sees the same state.
"""

from __future__ import annotations

import collections
import json
import os
import re
import signal
import statistics
import subprocess
import time
from dataclasses import dataclass

from bench.harness import MANAGER_ID, BenchError, HttpClient, OdenosSystem, wait_until
from bench.report import Report, Row

COMPONENT = "network0"
MANAGER = "romgr1"
RECOVERY_TIMEOUT = 30.0


@dataclass(frozen=True)
class Fault:
    key: str
    name: str
    sig: signal.Signals
    deadline_s: float  # give up on a trial (no 503) after this long


def faults(session_timeout_ms: int) -> dict[str, Fault]:
    expiry = session_timeout_ms / 1000
    return {
        "a": Fault("a", "kill -9 of romgr1 -> first 503", signal.SIGKILL, 10.0),
        "b": Fault(
            "b",
            f"SIGSTOP of romgr1 -> first 503 (session timeout {session_timeout_ms} ms)",
            signal.SIGSTOP,
            3 * expiry + 5,
        ),
        "c": Fault("c", "SIGTERM of romgr1 -> first 503", signal.SIGTERM, 10.0),
    }


@dataclass(frozen=True)
class Outcome:
    elapsed_ms: float | None  # None: no failure seen before the deadline
    status: int
    reason: str
    polls: int


def _reason(body: bytes) -> str:
    """The translator's reason, with addresses and numbers blanked so that trials group."""
    try:
        data = json.loads(body)
        text = str(data.get("reason") or data.get("message") or data)
    except (ValueError, AttributeError):
        text = body.decode(errors="replace")[:120]
    return re.sub(r"\d+", "N", text)


def first_failure(rest_port: int, pid: int, sig: signal.Signals, deadline_s: float) -> Outcome:
    """Send ``sig`` to ``pid`` and poll until the first non-200 answer (or the deadline)."""
    client = HttpClient("127.0.0.1", rest_port, timeout=deadline_s + 5)
    path = f"/{COMPONENT}/property"
    try:
        if client.get(path).status != 200:  # opens the connection outside the timed part
            raise BenchError(f"{COMPONENT} was not serving before the fault")
        polls = 0
        start = time.perf_counter()
        os.kill(pid, sig)
        while True:
            reply = client.get(path)
            polls += 1
            elapsed = time.perf_counter() - start
            if reply.status != 200:
                return Outcome(elapsed * 1000, reply.status, _reason(reply.body), polls)
            if elapsed > deadline_s:
                return Outcome(None, 200, "still 200 at the deadline", polls)
    finally:
        client.close()


def ensure_serving(system: OdenosSystem) -> None:
    """Wait until ``network0`` answers 200 through the translator (creating it if missing)."""
    reply = system.rest.get(f"/{MANAGER_ID}/components/{COMPONENT}")
    if reply.status == 404:
        system.create_component(COMPONENT, MANAGER)
    wait_until(
        lambda: system.rest.get(f"/{COMPONENT}/property").status == 200,
        RECOVERY_TIMEOUT,
        f"{COMPONENT} serving through the translator",
    )


def recover(system: OdenosSystem, fault: Fault, proc: subprocess.Popen[bytes]) -> str | None:
    """Bring the manager back after ``fault``; returns a remark when it behaved oddly."""
    remark = None
    if fault.sig == signal.SIGSTOP:
        proc.send_signal(signal.SIGCONT)
        try:
            ensure_serving(system)
            return None
        except BenchError:
            remark = "romgr1 did not come back after SIGCONT; killed and restarted it"
            proc.kill()
    try:
        code = proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        code = proc.wait()
        remark = f"romgr1 did not exit within 15 s of {fault.sig.name}; killed it"
    if fault.sig == signal.SIGTERM and code != 0 and remark is None:
        remark = f"romgr1 exited with code {code} after SIGTERM"
    system.start_cm(MANAGER)
    ensure_serving(system)
    return remark


def measure(system: OdenosSystem, fault: Fault, trials: int, report: Report) -> Row:
    row = report.add(Row(fault.key, fault.name, "ms"))
    reasons: collections.Counter[str] = collections.Counter()
    remarks: collections.Counter[str] = collections.Counter()
    polls: list[int] = []
    for _ in range(trials):
        ensure_serving(system)
        proc = system.cms[MANAGER]
        outcome = first_failure(system.rest_port, proc.pid, fault.sig, fault.deadline_s)
        if outcome.elapsed_ms is not None and outcome.status == 503:
            row.samples.append(outcome.elapsed_ms)
            polls.append(outcome.polls)
            reasons[outcome.reason] += 1
        else:
            remarks[f"trial without a 503: status {outcome.status}, {outcome.reason}"] += 1
        remark = recover(system, fault, proc)
        if remark:
            remarks[remark] += 1
    if reasons:
        said = "; ".join(f"{n}x '{r}'" for r, n in reasons.most_common())
        report.note(
            f"({fault.key}) the first 503 said: {said}; requests until it (the 503 included): "
            f"median {statistics.median(polls):g}, max {max(polls)}"
        )
    for remark, n in remarks.items():
        report.note(f"({fault.key}) {n}x {remark}")
    return row
