"""Record bodies: the canonical JSON (orjson on the request path) is the form ``json`` wrote
before, for anything but floats, which read back to the same value; what orjson refuses still
makes a record."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from service.records.chain import canonical

_scalars = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text()
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)
_bodies = st.dictionaries(st.text(), _values, max_size=8)


def _json(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)


@given(_bodies)
def test_same_text_as_json_without_floats(data):
    assert canonical(data) == _json(data)


@given(st.dictionaries(st.text(), st.floats(allow_nan=False, allow_infinity=False), max_size=6))
def test_floats_read_back_to_the_same_value(data):
    text = canonical(data)
    assert json.loads(text) == data
    assert canonical(json.loads(text)) == text


def test_what_orjson_refuses_still_serialises():
    assert canonical({"n": 2**70}) == '{"n":1180591620717411303424}'
    assert canonical({"s": {3}, "p": object}) == _json({"s": {3}, "p": object})
