"""A case's state is written and read as JSON by orjson (workflows/serialization.py), with
the standard library for what orjson cannot do exactly. States written before must read
the same, and what is written must be the text the standard library wrote."""

import json
import math
import zlib
from datetime import UTC, date, datetime
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from workflows import crypto, serialization


def stdlib_text(value) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=8) | st.integers(), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(json_values)
def test_the_text_is_the_standard_librarys_and_reads_back_the_same(value):
    text = serialization.dumps(value)
    assert json.loads(text) == json.loads(stdlib_text(value))
    assert serialization.loads(text) == json.loads(stdlib_text(value))
    assert serialization.loads(text.encode("utf-8")) == json.loads(stdlib_text(value))


def test_what_a_state_holds_is_written_as_before():
    value = {
        "worker_name": "王大力\u2028",
        "control": "\x00a\x1f\x7f",
        "amount_fen": 500000,
        "ratio": 0.1,
        "at": datetime(2026, 12, 2, 9, 30, tzinfo=UTC),
        "day": date(2026, 12, 2),
        "money": Decimal("12.50"),
        "kinds": {"cash"},
        1: "int key",
        "nested": [[{"a": None, "b": True}]],
    }
    assert serialization.dumps(value) == stdlib_text(value)


def test_integers_past_64_bits_are_written_and_read_exactly():
    for big in (2**70, -(2**64), 10**25, 2**64 - 1, -(2**63)):
        value = {"n": big, "list": [big, "x"]}
        text = serialization.dumps(value)
        back = serialization.loads(text)
        assert back == value and type(back["n"]) is int
        assert serialization.unpack(serialization.pack(value)) == value


def test_a_state_the_standard_library_wrote_before_reads_the_same():
    # NaN and a lone surrogate: text orjson refuses to read.
    old = {"score": float("nan"), "odd": "\ud800", "card": "6222021234567890123"}
    blob = crypto.encrypt_bytes(
        zlib.compress(json.dumps(old, ensure_ascii=False).encode("utf-8", "surrogatepass"))
    )
    back = serialization.unpack(blob)
    assert math.isnan(back["score"]) and back["odd"] == "\ud800"
    assert back["card"] == "6222021234567890123"


def test_nan_is_written_as_null_the_one_difference():
    assert serialization.loads(serialization.dumps({"x": float("nan"), "y": math.inf})) == {
        "x": None,
        "y": None,
    }


def test_nesting_orjson_refuses_is_written_by_the_standard_library():
    deep: list = []
    for _ in range(300):
        deep = [deep]
    assert serialization.loads(serialization.dumps(deep)) == deep
