"""Slice conditions: what part of the original network each sliver gets.

A pure model (no I/O).  A **BasicSliceCondition** (ODENOS's only kind) says
that traffic entering the original network at ``in_node`` (and at
``in_port``, or at any port of ``in_node`` when it has none) belongs to the
sliver of connection ``connection``::

    {"id": "cond1", "type": "BasicSliceCondition", "connection": "slicer_nw01",
     "in_node": "node001", "in_port": "port0011"}

The :class:`ConditionTable` keeps them by **priority**, an integer from 0 to
65535 (ODENOS: "65535: Max Priority").  It is searched from the highest
priority down, in integer order (ODENOS kept priorities as strings, so that
``"9"`` came before ``"10"``), and within one priority in the order the
conditions were put there.  A condition id is in the table once: putting an
existing id moves or replaces that condition (ODENOS added the id a second
time to the priority and connection lists).

Every parser raises :class:`~odenos.errors.BadRequest` naming the field at
fault, never ``KeyError`` or ``TypeError``: they read client bodies.  The
table is persisted as one record per condition (:meth:`ConditionTable.records`,
:meth:`ConditionTable.from_records`).
"""

from __future__ import annotations

import copy
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from odenos.errors import BadRequest

CONDITION_TYPE = "BasicSliceCondition"
MAX_PRIORITY = 65535
#: Longest id, connection, node or port id a condition may hold.
MAX_TEXT = 256
#: Most conditions in one table, and in one ``PUT <priority>`` list.
MAX_CONDITIONS = 4096
MAX_LIST = 1024
#: Prefix of the durable records, one per condition.
RECORD_PREFIX = "condition/"

_PRIORITY = re.compile(r"^[0-9]{1,5}$")
_BAD_ID_CHARS = re.compile(r"[/\x00-\x1f\x7f]")


def parse_priority(raw: str) -> int:
    """A priority from a URL segment: a decimal integer from 0 to 65535."""
    if not _PRIORITY.match(raw) or int(raw) > MAX_PRIORITY:
        raise BadRequest(
            f"priority must be an integer from 0 to {MAX_PRIORITY}, got {raw!r}",
            field="priority",
        )
    return int(raw)


def check_condition_id(raw: Any, what: str = "condition id") -> str:
    """A condition id: a non-empty string of at most MAX_TEXT characters, no ``/`` (it
    is a URL segment) and no control characters."""
    if not isinstance(raw, str) or not raw or len(raw) > MAX_TEXT or _BAD_ID_CHARS.search(raw):
        raise BadRequest(
            f"{what} must be a non-empty string of at most {MAX_TEXT} characters without "
            f"'/' or control characters, got {_shown(raw)}",
            field="id",
        )
    if raw in (".", ".."):
        raise BadRequest(f"{what} cannot be {raw!r}", field="id")
    return raw


def _shown(raw: Any) -> str:
    text = repr(raw)
    return text if len(text) <= 80 else text[:77] + "..."


def _text(obj: dict[str, Any], key: str, where: str, required: bool) -> str | None:
    raw = obj.get(key)
    if raw is None and not required:
        return None
    if not isinstance(raw, str) or not raw or len(raw) > MAX_TEXT:
        need = "required: a" if required else "a"
        raise BadRequest(
            f"{where}{key} is {need} non-empty string of at most {MAX_TEXT} characters, "
            f"got {_shown(raw)}",
            field=key,
        )
    return raw


@dataclass(frozen=True)
class SliceCondition:
    id: str
    connection: str
    in_node: str
    in_port: str | None = None

    def covers(self, in_node: str | None, in_port: str | None) -> bool:
        """Whether traffic entering at ``in_node``/``in_port`` is within this condition.

        ``in_port`` None means "any port of ``in_node``": only a condition that
        takes the whole node (no ``in_port``) covers it.  ``in_node`` None (the
        whole network) is covered by no condition."""
        if in_node is None or in_node != self.in_node:
            return False
        return self.in_port is None or self.in_port == in_port

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "type": CONDITION_TYPE,
            "connection": self.connection,
            "in_node": self.in_node,
        }
        if self.in_port is not None:
            body["in_port"] = self.in_port
        return body

    @classmethod
    def from_json(
        cls, raw: Any, condition_id: str | None = None, where: str = ""
    ) -> SliceCondition:
        """A condition from a client's body.  ``condition_id``, when given, is its id
        whatever the body says (the URL's); otherwise the body's ``id``, or a new UUID
        when it has none.  A body ``id`` must be null or a usable id even when it is not
        used.  Unknown keys are ignored, as ODENOS did."""
        if not isinstance(raw, dict):
            raise BadRequest(
                f"{where or 'the body'} must be a {CONDITION_TYPE} JSON object, "
                f"got {type(raw).__name__ if raw is not None else 'nothing'}"
            )
        kind = raw.get("type", CONDITION_TYPE)
        if kind != CONDITION_TYPE:
            raise BadRequest(
                f"{where}type must be {CONDITION_TYPE!r} (the only kind of slice condition), "
                f"got {_shown(kind)}",
                field="type",
            )
        given = raw.get("id")
        if given is not None:
            given = check_condition_id(given, f"{where}id")  # checked even when not used
        if condition_id is None:
            condition_id = str(uuid.uuid4()) if given is None else given
        connection = _text(raw, "connection", where, required=True)
        in_node = _text(raw, "in_node", where, required=True)
        assert connection is not None and in_node is not None
        return cls(condition_id, connection, in_node, _text(raw, "in_port", where, False))


@dataclass(frozen=True)
class Entry:
    priority: int
    seq: int  # the order of putting, within a priority
    condition: SliceCondition

    def record(self) -> dict[str, Any]:
        return {"priority": self.priority, "seq": self.seq, "condition": self.condition.to_json()}


def _search_key(entry: Entry) -> tuple[int, int]:
    return (-entry.priority, entry.seq)


class ConditionTable:
    """Slice conditions by priority.  Changes are made on a :meth:`copy` and committed
    by the caller once stored, so that a refused write changes nothing."""

    def __init__(self, entries: Iterable[Entry] = ()) -> None:
        self.entries: dict[str, Entry] = {e.condition.id: e for e in entries}
        #: The search order and, per (in_node, in_port or None), the first entry there:
        #: built on first use, dropped by every change.  Each InPacket is looked up, and
        #: sorting up to 4096 conditions for each took a millisecond.
        self._index: tuple[list[Entry], dict[tuple[str, str | None], Entry]] | None = None

    def _indexed(self) -> tuple[list[Entry], dict[tuple[str, str | None], Entry]]:
        if self._index is None:
            ordered = sorted(self.entries.values(), key=_search_key)
            first: dict[tuple[str, str | None], Entry] = {}
            for entry in ordered:
                first.setdefault((entry.condition.in_node, entry.condition.in_port), entry)
            self._index = (ordered, first)
        return self._index

    def copy(self) -> ConditionTable:
        return ConditionTable(self.entries.values())

    def __len__(self) -> int:
        return len(self.entries)

    # --- reading --------------------------------------------------------------------------

    def ordered(self) -> list[Entry]:
        """Every entry in search order: priority descending, then as put."""
        return list(self._indexed()[0])

    def priorities(self) -> dict[str, list[str]]:
        """``{"<priority>": [condition id, ...]}``, highest priority first."""
        table: dict[str, list[str]] = {}
        for entry in self.ordered():
            table.setdefault(str(entry.priority), []).append(entry.condition.id)
        return table

    def at(self, priority: int) -> list[str] | None:
        """The ids at ``priority`` in order; None when it has none."""
        ids = [e.condition.id for e in self.ordered() if e.priority == priority]
        return ids or None

    def get(self, condition_id: str) -> SliceCondition | None:
        entry = self.entries.get(condition_id)
        return None if entry is None else entry.condition

    def of_connection(self, connection: str) -> list[SliceCondition]:
        """The conditions of one sliver connection, in search order."""
        return [e.condition for e in self.ordered() if e.condition.connection == connection]

    def first_match(self, in_node: str | None, in_port: str | None) -> SliceCondition | None:
        """The first condition, in search order, covering ``in_node``/``in_port``
        (:meth:`SliceCondition.covers`): the earlier of the first one at that port and
        the first one taking the whole node."""
        if in_node is None:
            return None
        first = self._indexed()[1]
        found = [first.get((in_node, None))]
        if in_port is not None:
            found.append(first.get((in_node, in_port)))
        entries = [e for e in found if e is not None]
        return min(entries, key=_search_key).condition if entries else None

    # --- changing (on a copy) -------------------------------------------------------------

    def _next_seq(self) -> int:
        return max((e.seq for e in self.entries.values()), default=0) + 1

    def put(self, priority: int, condition: SliceCondition) -> None:
        """Put ``condition`` at ``priority``: last there if new to it, in its place if it
        was there already, moved if it was at another priority."""
        self._index = None
        old = self.entries.get(condition.id)
        seq = old.seq if old is not None and old.priority == priority else self._next_seq()
        self.entries[condition.id] = Entry(priority, seq, condition)

    def set_priority(self, priority: int, conditions: list[SliceCondition]) -> list[SliceCondition]:
        """Make ``conditions``, in this order, the conditions at ``priority``: those
        there and not listed go, listed ones at other priorities move here.  An id
        listed twice is put twice, as by two PUTs: the later body wins, in the earlier
        place.  Returns the conditions now at ``priority``, in order."""
        self._index = None
        latest: dict[str, SliceCondition] = {}
        for condition in conditions:
            latest[condition.id] = condition
        for entry in list(self.entries.values()):
            if entry.priority == priority:
                del self.entries[entry.condition.id]
        seq = self._next_seq()
        for i, condition in enumerate(latest.values()):
            self.entries[condition.id] = Entry(priority, seq + i, condition)
        return list(latest.values())

    def delete(self, condition_id: str) -> None:
        self._index = None
        self.entries.pop(condition_id, None)

    def delete_priority(self, priority: int) -> None:
        self._index = None
        for entry in list(self.entries.values()):
            if entry.priority == priority:
                del self.entries[entry.condition.id]

    def clear(self) -> None:
        self._index = None
        self.entries.clear()

    # --- persistence ----------------------------------------------------------------------

    def changes_from(self, old: ConditionTable) -> tuple[dict[str, Any], list[str], set[str]]:
        """What to write to go from ``old`` to this table: records to put, record keys to
        delete, and the connections whose conditions changed."""
        puts: dict[str, Any] = {}
        deletes: list[str] = []
        touched: set[str] = set()
        for condition_id, entry in self.entries.items():
            before = old.entries.get(condition_id)
            if before != entry:
                puts[RECORD_PREFIX + condition_id] = entry.record()
                touched.add(entry.condition.connection)
                if before is not None:
                    touched.add(before.condition.connection)
        for condition_id, before in old.entries.items():
            if condition_id not in self.entries:
                deletes.append(RECORD_PREFIX + condition_id)
                touched.add(before.condition.connection)
        return puts, deletes, touched

    @classmethod
    def from_records(cls, records: Iterable[tuple[str, Any]]) -> tuple[ConditionTable, list[str]]:
        """The table stored as ``(key, record)`` pairs, and a problem for each record that
        could not be read (skipped)."""
        entries: list[Entry] = []
        problems: list[str] = []
        for key, record in records:
            try:
                if not isinstance(record, dict):
                    raise BadRequest("not a JSON object")
                raw = copy.deepcopy(record.get("condition"))
                condition_id = check_condition_id(key.removeprefix(RECORD_PREFIX))
                priority, seq = record.get("priority"), record.get("seq")
                if not isinstance(priority, int) or not 0 <= priority <= MAX_PRIORITY:
                    raise BadRequest(f"bad priority {priority!r}")
                if not isinstance(seq, int):
                    raise BadRequest(f"bad seq {seq!r}")
                condition = SliceCondition.from_json(raw, condition_id)
            except BadRequest as exc:
                problems.append(f"{key}: {exc.message}")
                continue
            entries.append(Entry(priority, seq, condition))
        return cls(entries), problems
