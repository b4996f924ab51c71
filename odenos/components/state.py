"""Durable component state: keyed records that survive the component manager's crash.

A component keeps what it must not lose in ``self.state`` (a :class:`ComponentState`)::

    self.state.put("flow/f1", flow_json)      # now in memory, in ZooKeeper soon
    self.state.get("flow/f1")
    self.state.delete("flow/f1")
    for key, value in self.state.items("flow/"): ...

Its manager writes every record to ZooKeeper (``/odenos/state/<component_id>/...``,
one znode per record) and, when the manager restarts, loads them back before the
component's ``on_initialize`` runs, so that ``on_initialize`` can rebuild the
component from them.  The contract:

* ``put``/``delete`` change the record at once and never block; the value is
  encoded then (JSON; compressed when large), so later changes to the object
  passed are not recorded: put it again.
* A REST request's answer is sent only once every record its handler put or
  deleted is in ZooKeeper: what a client saw acknowledged (2xx) survives a
  crash.  Records written outside a request (in ``on_event``, in a background
  task) reach ZooKeeper within moments; ``await self.state.flush()`` waits for them.
* Writes from concurrent requests share ZooKeeper round trips (the manager
  pipelines them); only the latest value of a record is written.
* A record whose encoding passes :data:`MAX_RECORD_BYTES` (ZooKeeper's 1 MB
  limit less room for the request) is refused with :class:`RecordTooLarge` (413)
  and nothing of it is stored; a value that is not JSON (NaN, Infinity, a set)
  is a :class:`~odenos.errors.BadRequest`.

Keys are non-empty strings of at most :data:`MAX_KEY_LENGTH` characters; any
characters may be used (``"port/node1/p1"``).  Keys starting with ``_`` are the
base class's (settings, property).
"""

from __future__ import annotations

import contextvars
import json
import zlib
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Protocol

from odenos.errors import BadRequest, PayloadTooLarge

#: The largest encoded record: ZooKeeper refuses requests over jute.maxbuffer (1 MiB).
MAX_RECORD_BYTES = 1_000_000
#: Records whose JSON passes this many bytes are stored zlib-compressed.
COMPRESS_ABOVE = 16 * 1024
MAX_KEY_LENGTH = 512

_COMPRESSED = b"z"  # JSON never starts with it


class RecordTooLarge(PayloadTooLarge):
    code = "RecordTooLarge"

    def __init__(self, component_id: str, key: str, size: int) -> None:
        super().__init__(
            f"{component_id}: state record {key!r} would take {size} bytes in ZooKeeper, "
            f"over the limit of {MAX_RECORD_BYTES}",
            component_id=component_id,
            key=key,
            size=size,
            limit=MAX_RECORD_BYTES,
        )


def encode_record(component_id: str, key: str, value: Any) -> bytes:
    """The bytes stored for ``value``.  Raises :class:`BadRequest` (not JSON) or
    :class:`RecordTooLarge`."""
    try:
        raw = json.dumps(value, separators=(",", ":"), allow_nan=False).encode()
    except (TypeError, ValueError, RecursionError) as exc:
        raise BadRequest(
            f"{component_id}: state record {key!r} is not storable as JSON: {exc}",
            component_id=component_id,
            key=key,
        ) from None
    if len(raw) > COMPRESS_ABOVE:
        packed = _COMPRESSED + zlib.compress(raw, 6)
        if len(packed) < len(raw):
            raw = packed
    if len(raw) > MAX_RECORD_BYTES:
        raise RecordTooLarge(component_id, key, len(raw))
    return raw


def decode_record(data: bytes) -> Any:
    """The value of stored bytes.  Raises ``ValueError`` if they are not a record."""
    if data.startswith(_COMPRESSED):
        try:
            data = zlib.decompress(data[1:])
        except zlib.error as exc:
            raise ValueError(f"corrupt compressed record: {exc}") from None
    return json.loads(data)


class StateSink(Protocol):
    """Where a component's records go: its manager's store (see
    :class:`componentmanager.state_store.StateStore`)."""

    def submit(self, component_id: str, key: str, data: bytes | None) -> int:
        """Queue the record's new bytes (None: deleted); returns the write's sequence number."""
        ...

    async def wait_durable(self, seq: int, component_id: str | None = None) -> None:
        """Until every write up to ``seq`` is in ZooKeeper.  Raises
        :class:`~odenos.errors.CoordinationUnavailable` if that does not happen in time, and
        :class:`~odenos.errors.ObjectUnavailable` if ``component_id``'s writes were refused
        (it was moved to another manager)."""
        ...


#: The highest sequence number written by the request (task) being handled: its
#: manager waits for it before answering.
LAST_WRITE: contextvars.ContextVar[int] = contextvars.ContextVar("odenos_last_write", default=0)


class ComponentState:
    """The durable records of one component.  Used on its manager's loop."""

    def __init__(self, component_id: str) -> None:
        self._component_id = component_id
        self._records: dict[str, Any] = {}
        self._sink: StateSink | None = None

    def attach(self, sink: StateSink, records: dict[str, Any]) -> None:
        """By the manager, before ``on_initialize``: where to write, and what was stored."""
        self._sink = sink
        self._records = dict(records)

    # --- reading -----------------------------------------------------------------------------

    def get(self, key: str, default: Any = None) -> Any:
        return self._records.get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self._records

    def __len__(self) -> int:
        return len(self._records)

    def keys(self, prefix: str = "") -> list[str]:
        """The keys starting with ``prefix``, sorted."""
        return sorted(k for k in self._records if k.startswith(prefix))

    def items(self, prefix: str = "") -> Iterator[tuple[str, Any]]:
        """``(key, value)`` of the records whose key starts with ``prefix``, by key."""
        for key in self.keys(prefix):
            yield key, self._records[key]

    # --- writing -----------------------------------------------------------------------------

    def put(self, key: str, value: Any) -> None:
        """Store ``value`` (JSON) under ``key``.  Raises :class:`RecordTooLarge` or
        :class:`BadRequest`, and then stores nothing."""
        _check_key(key)
        data = encode_record(self._component_id, key, value)
        self._records[key] = value
        self._submit(key, data)

    def write(self, puts: Mapping[str, Any], deletes: Iterable[str] = ()) -> None:
        """Several records at once: every value is encoded (and checked) before any is
        stored, so that either all of them are stored, or (:class:`RecordTooLarge`,
        :class:`BadRequest`) none.  A value equal to the stored one is not written again."""
        encoded = {}
        for key, value in puts.items():
            _check_key(key)
            if key in self._records and self._records[key] == value:
                continue
            encoded[key] = (value, encode_record(self._component_id, key, value))
        for key, (value, data) in encoded.items():
            self._records[key] = value
            self._submit(key, data)
        for key in deletes:
            self.delete(key)

    def delete(self, key: str) -> None:
        """Forget ``key`` (nothing happens if there is no such record)."""
        if self._records.pop(key, _ABSENT) is not _ABSENT:
            self._submit(key, None)

    async def flush(self) -> None:
        """Until every record written so far is in ZooKeeper."""
        if self._sink is not None:
            await self._sink.wait_durable(LAST_WRITE.get(), self._component_id)

    def _submit(self, key: str, data: bytes | None) -> None:
        if self._sink is None:
            return  # not hosted (a unit test): memory only
        seq = self._sink.submit(self._component_id, key, data)
        LAST_WRITE.set(max(LAST_WRITE.get(), seq))


_ABSENT = object()


def _check_key(key: Any) -> None:
    if not isinstance(key, str) or not key or len(key) > MAX_KEY_LENGTH:
        raise BadRequest(
            f"a state key is a string of 1 to {MAX_KEY_LENGTH} characters, not {key!r}"
        )
