"""``python -m bench [--trials N] [--only a,b] [--quick]``: run the benchmarks, print one table.

Rows: (a) kill -9, (b) SIGSTOP, (c) SIGTERM of a component manager to the
first 503; (d) translator versus direct throughput and latency; (e) component
creation rate; (f) ``odenos start`` to ready; (g) resume of a manager holding
1,000 components with their state; (h) topology writes, durable versus
memory-only; (i) failover of the active system manager to a standby; (j) time
to move a ``reassign`` component off a killed manager; (m) a flow's PUT to
``established`` directly, through an Aggregator, and through a Slicer over it;
(n) the Slicer mirroring a long line into two slivers, and a LearningSwitch
learning new hosts.
Everything runs in a temporary folder with its own ZooKeeper and free ports,
and is stopped at the end, on Ctrl-C and on failure too.  The exit code is 0
whatever the figures (1 if the system could not be set up, 130 on Ctrl-C).
"""

from __future__ import annotations

import argparse
import functools
import os
import platform
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from bench import (
    create_rate,
    durability,
    failover,
    harness,
    logic,
    logs,
    standby,
    startup,
    throughput,
)
from bench.harness import SESSION_TIMEOUT_MS, BenchError, OdenosSystem
from bench.loadgen import LoadGenerator, choose
from bench.report import Report, Row, number, render

ALL = "abcdefghijklmn"
TARGET_A_MS = 50.0
TARGET_B_SLACK_MS = 500.0
TARGET_C_MS = 100.0
TARGET_D_RATIO = 50.0
TARGET_F_S = 3.0
TARGET_G_S = 2.0
TARGET_K_RATIO = 60.0
TARGET_K_ADDED_MS = 0.3
TARGET_L_RATIO = 25.0


@dataclass(frozen=True)
class Plan:
    only: str
    trials: int  # (a) (b) (c) (f)
    throughput: throughput.Settings
    creation: create_rate.Settings
    durability: durability.Settings
    logic: logic.Settings


def make_plan(args: argparse.Namespace) -> Plan:
    only = "".join(sorted(set(args.only.replace(",", "").replace(" ", "")))) if args.only else ALL
    unknown = set(only) - set(ALL)
    if unknown:
        raise SystemExit(f"--only: unknown rows {','.join(sorted(unknown))} (rows are a-n)")
    if args.quick:
        return Plan(
            only,
            args.trials or 3,
            throughput.Settings(rounds=2, seconds=2, concurrency=16, sequential_requests=100),
            create_rate.Settings(
                batches=2, sequential=10, concurrent=16, concurrency=8, burst=200, burst_rounds=1
            ),
            durability.Settings(
                components=200, resume_trials=1, rounds=2, seconds=2, concurrency=16
            ),
            logic.Settings(trials=5, nodes=30, hosts=60),
        )
    return Plan(
        only,
        args.trials or 10,
        throughput.Settings(rounds=8, seconds=3, concurrency=16, sequential_requests=300),
        create_rate.Settings(batches=8, sequential=20, concurrent=40, concurrency=8),
        durability.Settings(components=1000, resume_trials=3, rounds=6, seconds=3, concurrency=16),
        logic.Settings(),
    )


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--trials", type=_positive, help="trials of (a) (b) (c) (f); default 10, 3 with --quick"
    )
    parser.add_argument("--only", help="rows to run, e.g. a,b or d")
    parser.add_argument(
        "--quick", action="store_true", help="fewer, shorter trials (under a minute)"
    )
    parser.add_argument(
        "--loadgen", choices=("auto", "wrk", "python"), default="auto", help="for row (d)"
    )
    parser.add_argument("--no-install", action="store_true", help="never apt-get install wrk")
    parser.add_argument(
        "--event-loop",
        choices=("uvloop", "asyncio"),
        default="uvloop",
        help="the daemons' process.event_loop (default uvloop, the system's default)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp folder and its logs")
    return parser.parse_args(argv)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def judge(report: Report, session_timeout_ms: int) -> None:
    """Compare each row with its target; a p99 is judged where the target is a bound."""

    def row(key: str, unit: str) -> Row | None:
        return next((r for r in report.rows if r.key == key and r.unit == unit), None)

    def bound(key: str, unit: str, text: str, limit: float) -> None:
        found = row(key, unit)
        if found is None:
            return
        if not found.samples:
            report.target(key, text, None, "no sample")
            return
        detail = (
            f"median {number(found.median)} {unit}, p99 {number(found.p99)} {unit} "
            f"(n={found.n}) against {number(limit)} {unit}"
        )
        if found.p99 > limit:
            detail += f"; over by {number(found.p99 - limit)} {unit} at p99"
        report.target(key, text, found.p99 <= limit, detail)

    bound("a", "ms", "kill -9 -> first 503 <= 50 ms", TARGET_A_MS)
    expiry = session_timeout_ms + TARGET_B_SLACK_MS
    bound("b", "ms", f"SIGSTOP -> first 503 <= session timeout + 0.5 s = {expiry:g} ms", expiry)
    bound("c", "ms", "SIGTERM -> first 503 <= 100 ms", TARGET_C_MS)

    def at_least(key: str, text: str, limit: float, over: str) -> None:
        """A target on the median of row ``key``'s ratio (``%``) row."""
        found = row(key, "%")
        if found is None:
            return
        if not found.samples:
            report.target(key, text, None, "no sample")
            return
        report.target(
            key,
            text,
            found.median >= limit,
            f"median ratio {number(found.median)} % over {found.n} {over} "
            f"(range {number(min(found.samples))}-{number(max(found.samples))} %)",
        )

    at_least("d", "translator throughput >= 50 % of direct", TARGET_D_RATIO, "round pairs")
    at_least(
        "k",
        "translator throughput >= 60 % of direct on GET property",
        TARGET_K_RATIO,
        "round pairs",
    )
    added = next((r for r in report.rows if r.key == "k" and r.name.startswith("added")), None)
    if added is not None and added.samples:
        report.target(
            "k",
            "added median latency <= 0.3 ms at concurrency 1",
            added.median <= TARGET_K_ADDED_MS,
            f"median {number(added.median)} ms over {added.n} round pairs",
        )
    at_least(
        "l",
        "REST creation >= 25 % of bare pipelined creates (16 clients)",
        TARGET_L_RATIO,
        "rounds",
    )
    bound("f", "s", "odenos start to ready <= 3 s", TARGET_F_S)
    bound("g", "s", "resume of a manager's components, with their state, <= 2 s", TARGET_G_S)
    limit = session_timeout_ms / 1000 + 1
    bound("i", "s", f"system manager failover <= session timeout + 1 s = {limit:g} s", limit)


def run(plan: Plan, args: argparse.Namespace, root: Path, report: Report) -> int:
    """The measurements in ``root``; returns the exit code.  Every process started
    here is stopped before it returns or raises."""
    loadgen: LoadGenerator | None = None
    if set(plan.only) & set("dk"):
        try:
            loadgen, remark = choose(args.loadgen, install=not args.no_install)
        except RuntimeError as err:
            report.note(f"(d, k) skipped: {err}")
        else:
            report.note(f"(d, k) {remark}")
    system: OdenosSystem | None = None
    try:
        if set(plan.only) & set("abcdeghjklmn"):
            durability.install_plugin(root / "system")
            system = OdenosSystem(root / "system")
            try:
                system.start()
            except BenchError as err:
                print(f"error: the system could not be set up: {err}", file=sys.stderr)
                print(f"its logs: {system.log_dir}", file=sys.stderr)
                return 1
        steps: list[tuple[str, Callable[[], object]]] = []
        if system is not None:
            live = system
            if loadgen is not None:
                gen = loadgen
                steps.append(("d", lambda: throughput.measure(live, gen, plan.throughput, report)))
                steps.append(
                    (
                        "k",
                        lambda: throughput.measure(
                            live, gen, plan.throughput, report, throughput.PROPERTY
                        ),
                    )
                )
            steps.append(("e", lambda: create_rate.measure(live, plan.creation, report)))
            steps.append(("l", lambda: create_rate.measure_burst(live, plan.creation, report)))
            steps.append(("h", lambda: durability.measure_writes(live, plan.durability, report)))
            steps.append(("g", lambda: durability.measure_resume(live, plan.durability, report)))
            steps.append(
                ("j", lambda: durability.measure_reassign(live, min(plan.trials, 5), report))
            )
            steps.append(("m", lambda: logic.measure_layers(live, plan.logic, report)))
            steps.append(("n", lambda: logic.measure_scale(live, plan.logic, report)))
            for key, fault in failover.faults(live.session_timeout_ms).items():
                steps.append(
                    (key, functools.partial(failover.measure, live, fault, plan.trials, report))
                )
        for key, step in steps:
            if key not in plan.only:
                continue
            print(f"running ({key}) ...", file=sys.stderr, flush=True)
            try:
                step()
            except BenchError as err:
                report.note(f"({key}) stopped early: {err}")
    finally:
        if system is not None:
            system.close()
    if "i" in plan.only:
        print("running (i) ...", file=sys.stderr, flush=True)
        try:
            standby.measure(root / "standby", min(plan.trials, 5), report)
        except BenchError as err:
            report.note(f"(i) stopped early: {err}")
    if "f" in plan.only:
        print("running (f) ...", file=sys.stderr, flush=True)
        try:
            startup.measure(root / "startup", plan.trials, report)
        except BenchError as err:
            report.note(f"(f) stopped early: {err}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    plan = make_plan(args)
    harness.EVENT_LOOP = args.event_loop
    # SIGINT too: a shell that starts us in the background leaves it ignored.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupt)
    began = time.monotonic()
    load_before = os.getloadavg()
    root = Path(tempfile.mkdtemp(prefix="odenos-bench-"))
    report = Report()
    code = 130
    try:
        code = run(plan, args, root, report)
    except KeyboardInterrupt:
        print("interrupted: stopping everything", file=sys.stderr)
        report.note("interrupted: the figures are partial")
    finally:
        judge(report, SESSION_TIMEOUT_MS)
        load_after = os.getloadavg()
        report.note(
            f"machine: {os.cpu_count()} CPUs, {platform.machine()}, Python "
            f"{platform.python_version()}; load average {load_before[0]:.2f} before, "
            f"{load_after[0]:.2f} after; run time {time.monotonic() - began:.0f} s; "
            f"daemons on the {harness.EVENT_LOOP} event loop"
        )
        print(render(report))
        print("\nlogs (warnings, errors, tracebacks of the daemons):")
        for line in logs.digest(root):
            print(f"  {line}")
        if args.keep:
            print(f"\nkept: {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
