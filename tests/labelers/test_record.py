"""The Annex E record, provider codes and settings validation."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from labelers import LabelFormatError, LabelRecord, LabelSettings, check_provider_code
from labelers.record import FIELDS, new_produce_id, parse_record

from .doc_support import PRODUCER, PROPAGATOR

ANNEX_E_VALUE = re.compile(r'^(?:[\x21\x23-\x5B\x5D-\x7E]|\\")*$')  # labeling.md §11.4
value = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="\\"),
                max_size=60)
records = st.builds(LabelRecord, st.sampled_from(["1", "2", "3"]), value, value, value, value,
                    value, value)


def test_to_json_is_compact_in_annex_e_order() -> None:
    record = LabelRecord("1", PRODUCER, "abc")
    text = record.to_json()
    assert " " not in text
    assert list(json.loads(text)) == list(FIELDS)
    assert text.startswith('{"Label":"1","ContentProducer":"' + PRODUCER + '","ProduceID":"abc"')
    assert json.loads(record.to_wrapped_json()) == {"AIGC": json.loads(text)}


@given(records)
def test_json_round_trip_bare_and_wrapped(record: LabelRecord) -> None:
    assert LabelRecord.parse(record.to_json()) == record
    assert LabelRecord.parse(record.to_wrapped_json()) == record
    raw = record.to_json()
    # every serialised value meets the Annex E j) regex on the JSON text
    for match in re.finditer(r'":"((?:[^"\\]|\\.)*)"', raw):
        assert ANNEX_E_VALUE.match(match.group(1))


@given(st.sampled_from(FIELDS[1:]), st.sampled_from([" ", "\\", "中", "\t", "\x7f", "é"]))
def test_forbidden_characters_are_refused(field: str, bad: str) -> None:
    fields = dict.fromkeys(FIELDS, "") | {"Label": "1", field: f"a{bad}b"}
    with pytest.raises(LabelFormatError):
        LabelRecord.from_dict(fields)
    record, problems = parse_record(json.dumps(fields))
    assert record is None and any(field in p for p in problems)


@pytest.mark.parametrize("label", ["0", "4", "", "AIGC", "11"])
def test_label_must_be_1_2_or_3(label: str) -> None:
    with pytest.raises(LabelFormatError):
        LabelRecord(label, PRODUCER, "x")


def test_numeric_label_tolerated_but_reported() -> None:
    record, problems = parse_record('{"AIGC":{"Label":1,"ContentProducer":"a","ProduceID":"b",'
                                    '"ReservedCode1":"","ContentPropagator":"",'
                                    '"PropagateID":"","ReservedCode2":""}}')
    assert record is not None and record.label == "1"
    assert any("numeric" in p for p in problems)


def test_missing_and_unknown_keys_and_bad_json() -> None:
    record, problems = parse_record('{"Label":"1","ContentProducer":"a"}')
    assert record is None and "missing keys" in problems[0]
    full = dict.fromkeys(FIELDS, "") | {"Label": "1", "Extra": "x"}
    record, problems = parse_record(json.dumps(full))
    assert record is not None and any("unknown keys: Extra" in p for p in problems)
    assert parse_record("{not json")[0] is None
    assert parse_record(b"\xff\xfe")[0] is None
    assert parse_record('{"Label": ' * 100_000)[0] is None  # deep nesting: no crash
    with pytest.raises(LabelFormatError):
        LabelRecord.parse('["Label"]')


def test_value_length_limit() -> None:
    LabelRecord("1", PRODUCER, "x" * 2048)
    with pytest.raises(LabelFormatError):
        LabelRecord("1", PRODUCER, "x" * 2049)


@pytest.mark.parametrize(("code", "role", "ok"), [
    ("001191110102MACQD9K64010000", "producer", True),
    ("001191440300708461136T1308L", "producer", True),
    ("001191440300708461136T00000", "producer", True),
    ("001191440300708461136T00000", "propagator", True),
    (PROPAGATOR, "propagator", True),
    (PROPAGATOR, "producer", False),
    ("001191110102MACQD9K64010000", "propagator", False),
    ("doubao", "producer", False),
    ("011191110102MACQD9K64010000", "producer", False),  # format code must be 00
    ("001191110102macqd9k64010000", "producer", False),  # uppercase only
    ("001191110102MACQD9K6401000", "producer", False),  # 26 characters
])
def test_provider_code(code: str, role: str, ok: bool) -> None:
    assert (check_provider_code(code, role=role) == []) is ok


def test_produce_ids_are_unique_and_in_charset() -> None:
    ids = {new_produce_id() for _ in range(2000)}
    assert len(ids) == 2000
    assert all(ANNEX_E_VALUE.match(i) for i in ids)


def test_settings_validate_code_and_wording() -> None:
    with pytest.raises(LabelFormatError):
        LabelSettings("doubao")
    LabelSettings("doubao", strict_provider_code=False)
    with pytest.raises(LabelFormatError):
        LabelSettings(PRODUCER, explicit_text="生成内容")  # no AI element
    with pytest.raises(LabelFormatError):
        LabelSettings(PRODUCER, text_notice="AI 提示")  # no generation element
    with pytest.raises(LabelFormatError):
        LabelSettings(PRODUCER, image_text_height=0.04)  # below GB §5.2's 5 %
    settings = LabelSettings(PRODUCER)
    assert settings.for_label("1") is settings
    assert "可能为" in settings.for_label("2").text_notice
    assert "疑似" in settings.for_label("3").text_notice
    assert "疑似" in settings.for_label("3").explicit_text
