"""Figures, targets and the table they are printed as.

Percentiles are nearest-rank over the samples: with fewer than 100 samples the
p99 is the largest one, which is what a target on a handful of trials should
be judged on.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field


def percentile(samples: Sequence[float], q: float) -> float:
    """Nearest-rank percentile ``q`` (0-100) of non-empty ``samples``."""
    ordered = sorted(samples)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass
class Row:
    """One line of the table: the samples of one measurement.

    ``rate`` rows hold one throughput figure per round; their p99 is not shown
    (a percentile of a handful of averages means little), their spread is.
    """

    key: str
    name: str
    unit: str
    samples: list[float] = field(default_factory=list)
    rate: bool = False

    @property
    def n(self) -> int:
        return len(self.samples)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def p99(self) -> float:
        return percentile(self.samples, 99)


@dataclass(frozen=True)
class Target:
    """A target and how it came out; ``met`` None when its row could not be measured."""

    key: str
    text: str
    met: bool | None
    detail: str


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        return row

    def note(self, text: str) -> None:
        self.notes.append(text)

    def target(self, key: str, text: str, met: bool | None, detail: str) -> None:
        self.targets.append(Target(key, text, met, detail))


def number(value: float) -> str:
    """A figure with as many decimals as its size deserves."""
    size = abs(value)
    if size >= 100:
        return f"{value:.0f}"
    if size >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def render(report: Report) -> str:
    """The table, then the targets, then the notes, as plain text."""
    header = ("row", "measurement", "n", "median", "p99", "min-max", "unit")
    lines = []
    for row in report.rows:
        if not row.samples:
            lines.append((row.key, row.name, "0", "-", "-", "-", row.unit))
            continue
        spread = f"{number(min(row.samples))}-{number(max(row.samples))}"
        p99 = "-" if row.rate else number(row.p99)
        lines.append((row.key, row.name, str(row.n), number(row.median), p99, spread, row.unit))
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
    left = {0, 1, 6}

    def fmt(cells: Sequence[str]) -> str:
        return "  ".join(
            c.ljust(w) if i in left else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    out = [fmt(header), fmt(["-" * w for w in widths])]
    out += [fmt(line) for line in lines]
    if report.targets:
        out += ["", "targets:"]
        for t in report.targets:
            verdict = {True: "MET", False: "MISSED", None: "NOT MEASURED"}[t.met]
            out.append(f"  ({t.key}) {t.text}: {verdict} - {t.detail}")
    if report.notes:
        out += ["", "notes:"]
        out += [f"  - {n}" for n in report.notes]
    return "\n".join(out)
