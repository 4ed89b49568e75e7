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
    ],
)
def test_bad_messages_get_a_class_and_a_reason(value, error_class, reason_part):
    parsed = parse_product(value, LIMIT)
    assert isinstance(parsed, Invalid)
    assert parsed.error_class is error_class
    assert reason_part in parsed.reason
