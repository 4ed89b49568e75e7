import json

import pytest

from schemas import ErrorClass, ProductMessage
from worker.validation import Invalid, parse_product

LIMIT = 4096


def ok(**fields) -> bytes:
    return json.dumps({"product_id": "p1", "title": "Steel kettle 1.7 l", **fields}).encode()


def test_valid_product_is_parsed():
    product = parse_product(ok(brand="Acme", price=12.5), LIMIT)
    assert isinstance(product, ProductMessage)
    assert product.brand == "Acme"


def test_unknown_fields_are_ignored_for_forward_compatibility():
    assert isinstance(parse_product(ok(colour="red"), LIMIT), ProductMessage)


@pytest.mark.parametrize(
    ("value", "error_class", "reason_part"),
    [
        (None, ErrorClass.INVALID_JSON, "empty"),
        (b"   ", ErrorClass.INVALID_JSON, "empty"),
        (b"{not json", ErrorClass.INVALID_JSON, "not JSON"),
        (b"\xff\xfe\x00", ErrorClass.INVALID_JSON, "not JSON"),
        (b"[1, 2]", ErrorClass.INVALID_SCHEMA, "object"),
        (json.dumps({"title": "no id"}).encode(), ErrorClass.INVALID_SCHEMA, "product_id"),
        (ok(title="   "), ErrorClass.INVALID_SCHEMA, "title"),
        (ok(price=-1), ErrorClass.INVALID_SCHEMA, "price"),
        (ok(schema_version=99), ErrorClass.INVALID_SCHEMA, "newer"),
        (ok(description="x" * LIMIT), ErrorClass.TOO_LARGE, "limit"),
        (b"[" * 1000 + b"]" * 1000, ErrorClass.TOO_DEEP, "deeper than 32"),
        (b'{"a":' * 40 + b"1" + b"}" * 40, ErrorClass.TOO_DEEP, "deeper"),
        (b'{"product_id":"\\ud800","title":"t"}', ErrorClass.INVALID_JSON, "surrogate"),
        (b'{"product_id":"p","title":"t","price":Infinity}', ErrorClass.INVALID_JSON, "not JSON"),
        (ok(price=1e308 * 10), ErrorClass.INVALID_JSON, "not JSON"),
        (ok(title="\u200b \u2063 -- !!"), ErrorClass.EMPTY_TEXT, "letters or digits"),
    ],
)
def test_bad_messages_get_a_class_and_a_reason(value, error_class, reason_part):
    parsed = parse_product(value, LIMIT)
    assert isinstance(parsed, Invalid)
    assert parsed.error_class is error_class
    assert reason_part in parsed.reason


def test_brackets_inside_strings_do_not_count_as_nesting():
    value = ok(title="[" * 200 + " kettle " + "{" * 200)
    assert isinstance(parse_product(value, LIMIT), ProductMessage)


def test_nesting_within_the_limit_is_fine():
    value = ok(extra=[[[[["deep but fine"]]]]])
    assert isinstance(parse_product(value, LIMIT), ProductMessage)


def test_an_integer_too_long_to_convert_is_not_json_we_take():
    value = b'{"product_id":"p","title":"t","price":' + b"9" * 5000 + b"}"
    parsed = parse_product(value, 65536)
    assert isinstance(parsed, Invalid) and parsed.error_class is ErrorClass.INVALID_JSON
    assert "infinity" in parsed.reason or "64-bit" in parsed.reason


def test_a_batch_with_one_bad_product_validates_the_others_one_by_one():
    from worker.validation import validate_many

    good = {"product_id": "p1", "title": "Steel kettle"}
    out = validate_many([good, {"title": "no id"}, {"product_id": "p3", "title": "---"}, good])
    assert not isinstance(out[0], Invalid) and not isinstance(out[3], Invalid)
    assert out[0][1] == out[3][1] == "Steel kettle"  # each valid product with its text
    assert isinstance(out[1], Invalid) and out[1].error_class is ErrorClass.INVALID_SCHEMA
    assert isinstance(out[2], Invalid) and out[2].error_class is ErrorClass.EMPTY_TEXT
