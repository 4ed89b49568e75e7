"""How ``catmatch tail`` prints results, dead letters, products and other messages."""

from __future__ import annotations

import json
from pathlib import Path

import schemas
from catmatch.commands.tail import format_json, format_line
from toolbox.readers import ConsumedMessage

EXAMPLES = Path(schemas.__file__).parent / "examples"


def _msg(value: bytes | None, key: bytes | None = b"k") -> ConsumedMessage:
    return ConsumedMessage(topic="t", partition=1, offset=7, key=key, value=value)


def test_result_line_has_id_label_score_and_model_version() -> None:
    line = format_line(_msg((EXAMPLES / "result.json").read_bytes()))
    assert line.split("\t") == [
        "sku-1042",
        "Base metals and articles of base metal",
        "0.913",
        "seed-1",
    ]


def test_dead_letter_line_has_key_error_class_reason_and_source_offset() -> None:
    line = format_line(_msg((EXAMPLES / "dead_letter.invalid_schema.json").read_bytes()))
    assert line.split("\t") == [
        "bad-3",
        "invalid_schema",
        "title: Field required",
        "category-match-in/0@3",
    ]
    no_key = format_line(_msg((EXAMPLES / "dead_letter.invalid_json.json").read_bytes()))
    assert no_key.startswith("-\tinvalid_json\t") and no_key.endswith("category-match-in/1@17")


def test_product_and_other_messages() -> None:
    product = format_line(_msg(b'{"product_id": "p", "title": "Kettle"}'))
    assert product == "p\tKettle"
    assert format_line(_msg(b"not json\nat all", key=None)) == "-\tnot json\\nat all"
    assert format_line(_msg(b'{"a": 1}')) == 'k\t{"a": 1}'
    assert format_line(_msg(None)) == "k\t-"
    long = format_line(_msg(b"x" * 500))
    assert len(long) < 250 and long.endswith("...")


def test_json_output_is_the_value_on_one_line_or_an_envelope() -> None:
    pretty = (EXAMPLES / "result.json").read_bytes()
    line = format_json(_msg(pretty))
    assert "\n" not in line and json.loads(line) == json.loads(pretty)
    envelope = json.loads(format_json(_msg(b"oops", key=None)))
    assert envelope == {"topic": "t", "partition": 1, "offset": 7, "key": None, "value": "oops"}
