"""The one id rule (``odenos.model.ids``)."""

from __future__ import annotations

import pytest

from odenos.errors import BadRequest
from odenos.model.ids import check_id, is_reserved, is_valid_id


@pytest.mark.parametrize("value", ["n0", "network0", "a.b-c_d", "0", "A" * 128])
def test_valid_ids(value: str) -> None:
    assert is_valid_id(value)
    assert check_id(value, "component id") == value


@pytest.mark.parametrize(
    "value",
    ["", "_shutdown", ".", "..", "-a", "a/b", "a b", "n0\n", "n0\r\n", "n0\x00", "é", "A" * 129, 7],
)
def test_invalid_ids(value: object) -> None:
    """A trailing newline once passed (``$`` matches before it); the whole value counts."""
    assert not is_valid_id(value)
    with pytest.raises(BadRequest) as info:
        check_id(value, "component id")
    assert "component id" in info.value.message


def test_reserved_names_ignore_case() -> None:
    for name in ("metrics", "METRICS", "Event", "EventManager", "openapi.JSON"):
        assert is_reserved(name)
    assert not is_reserved("network0")
