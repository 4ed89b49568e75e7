"""A catalogue of hostile input messages and the dead-letter class each must get.

Used by the ``hostile`` drill and by the tests; extend it whenever an input class is found
that the worker did not handle.
"""

from __future__ import annotations

from schemas import ErrorClass


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


HOSTILE: list[tuple[bytes | None, ErrorClass]] = [
    (nested(20_000), ErrorClass.TOO_DEEP),  # RecursionError in json.loads
    (b'{"product_id":"x","title":"t","extra":' + nested(5_000) + b"}", ErrorClass.TOO_DEEP),
    (b'{"a":' * 3000 + b"1" + b"}" * 3000, ErrorClass.TOO_DEEP),
    (b'{"product_id":"\\ud800","title":"lone surrogate id"}', ErrorClass.INVALID_JSON),
    (b'{"product_id":"s-1","title":"bad \\udfff text"}', ErrorClass.INVALID_JSON),
    (b'{"product_id":"n-1","title":"t","price":' + b"9" * 5000 + b"}", ErrorClass.INVALID_JSON),
    (b'{"product_id":"n-2","title":"t","price":NaN}', ErrorClass.INVALID_JSON),
    (b'{"product_id":"n-3","title":"t","price":-Infinity}', ErrorClass.INVALID_JSON),
    (b'{"product_id":{"a":1},"title":"t"}', ErrorClass.INVALID_SCHEMA),
    (b'{"product_id":"d-1","title":"t","event_time":"+275760-09-13T00:00:00Z"}',
     ErrorClass.INVALID_SCHEMA),
    (b'"just a string"', ErrorClass.INVALID_SCHEMA),
    (b"null", ErrorClass.INVALID_SCHEMA),
    (b"\x00\x00\x00\x00", ErrorClass.INVALID_JSON),
    (b"\xef\xbb\xbf{}", ErrorClass.INVALID_JSON),  # JSON text has no byte-order mark
    (b'{"product_id":"x","title":"t"', ErrorClass.INVALID_JSON),
    (None, ErrorClass.INVALID_JSON),  # a tombstone
    (b"   \n\t ", ErrorClass.INVALID_JSON),
    (b'{"product_id":"z","title":"\\u200b\\u200b"}', ErrorClass.EMPTY_TEXT),
    (b"\xff\xfe\xfd\xfc", ErrorClass.INVALID_JSON),
    (b'{"product_id":"big","title":"t","description":"' + b"d" * 70_000 + b'"}',
     ErrorClass.TOO_LARGE),
    (b'{"product_id":"' + b"i" * 200 + b'","title":"too long an id"}', ErrorClass.INVALID_SCHEMA),
    (b'{"product_id":"v","title":"t","schema_version":99}', ErrorClass.INVALID_SCHEMA),
]


def hostile_records() -> list[tuple[bytes, bytes | None]]:
    """``(key, value)`` pairs keyed ``h-<index>``."""
    return [(f"h-{i}".encode(), value) for i, (value, _) in enumerate(HOSTILE)]
