"""Reading JSONL/CSV input, validating records and building the bytes that get sent."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from core.settings import load_settings
from schemas import ProductMessage
from toolbox.errors import InvalidRequest
from toolbox.produce.sender import ProduceReport, prepare_record, producer_config
from toolbox.produce.sources import (
    InputRecord,
    InvalidRecord,
    csv_fields,
    detect_format,
    iter_csv,
    iter_jsonl,
    open_records,
    raw_key,
    to_message,
)

JSONL = b"""{"product_id": "a", "title": "Kettle 1.7 l"}

not json
[1, 2]
{"product_id": "b", "title": "Tea", "price": 3.5}\r
{"product_id": "c"}
"""


def test_jsonl_skips_blank_lines_and_reports_bad_ones_with_line_numbers() -> None:
    records = list(iter_jsonl(io.BytesIO(JSONL)))
    assert [r.where for r in records] == ["line 1", "line 3", "line 4", "line 5", "line 6"]
    assert records[0].fields == {"product_id": "a", "title": "Kettle 1.7 l"}
    assert records[1].fields is None and "not valid JSON" in (records[1].error or "")
    assert "not a JSON object (list)" in (records[2].error or "")
    assert records[3].raw == b'{"product_id": "b", "title": "Tea", "price": 3.5}'
    assert records[4].error is None  # parsed; validation happens later


CSV = """product_id,title,category_hints,price,currency,brand
sku-1,"Pan, cast iron",kitchen| sale |,24.90,EUR,
sku-2,Mug,,3,GBP,Acme
sku-3,Too,many,cells,1,EUR,x,y
"""


def test_csv_rows_become_fields() -> None:
    records = list(iter_csv(io.StringIO(CSV)))
    assert records[0].fields == {
        "product_id": "sku-1",
        "title": "Pan, cast iron",
        "category_hints": ["kitchen", "sale"],
        "price": "24.90",
        "currency": "EUR",
    }
    assert records[1].fields == {
        "product_id": "sku-2",
        "title": "Mug",
        "price": "3",
        "currency": "GBP",
        "brand": "Acme",
    }
    assert records[2].fields is None and "more cells" in (records[2].error or "")
    assert [r.where for r in records] == ["line 2", "line 3", "line 4"]


def test_csv_fields_rejects_extra_cells() -> None:
    with pytest.raises(ValueError):
        csv_fields({"product_id": "x", None: ["extra"]})


def test_to_message_fills_event_time_and_normalises_csv_text() -> None:
    record = next(iter(iter_csv(io.StringIO(CSV))))
    key, value = to_message(record.fields or {}, record.where)
    assert key == "sku-1"
    data = json.loads(value)
    assert data["price"] == 24.9 and isinstance(data["price"], float)
    assert data["event_time"].endswith("Z")
    assert "brand" not in data  # None fields are left out
    assert ProductMessage.model_validate_json(value).category_hints == ["kitchen", "sale"]


def test_to_message_keeps_a_given_event_time_and_unknown_fields() -> None:
    fields = {
        "product_id": " p1 ",
        "title": "Lamp",
        "event_time": "2026-01-02T03:04:05Z",
        "gtin": "123",
        "shop": {"id": 1},
    }
    key, value = to_message(fields)
    data = json.loads(value)
    assert key == "p1"  # whitespace stripped by the model
    assert data["event_time"] == "2026-01-02T03:04:05Z"
    assert data["gtin"] == "123" and data["shop"] == {"id": 1}


def test_to_message_reports_each_invalid_field() -> None:
    with pytest.raises(InvalidRecord) as info:
        to_message({"product_id": "x", "price": -1, "currency": "EURO"}, "line 9")
    text = str(info.value)
    assert text.startswith("line 9: ")
    assert "title: Field required" in text and "price:" in text and "currency:" in text


def test_prepare_record_validates_unless_raw() -> None:
    good = b'{"product_id": "k1", "title": "Hammer"}'
    key, value = prepare_record(good, raw=False, index=1)
    assert key == b"k1" and json.loads(value)["title"] == "Hammer"
    assert prepare_record({"product_id": "k2", "title": "Saw"}, False, 2)[0] == b"k2"
    with pytest.raises(InvalidRecord, match="record 3: not valid JSON"):
        prepare_record(b"garbage", raw=False, index=3)
    with pytest.raises(InvalidRecord, match="line 7: title: Field required"):
        prepare_record(InputRecord("line 7", b"{}", fields={"product_id": "z"}), False, 4)


def test_raw_mode_sends_lines_as_they_are() -> None:
    assert prepare_record(b"garbage", raw=True, index=1) == (None, b"garbage")
    line = b'{"product_id": "bad-3"}'
    assert prepare_record(line, raw=True, index=2) == (b"bad-3", line)
    record = InputRecord("line 1", b"[1]", error="not a JSON object (list)")
    assert prepare_record(record, raw=True, index=3) == (None, b"[1]")
    assert raw_key(b'{"product_id": 12}') is None


def test_detect_format() -> None:
    assert detect_format("x.CSV", None) == "csv"
    assert detect_format("x.jsonl", None) == "jsonl"
    assert detect_format("-", None) == "jsonl"
    assert detect_format("-", "csv") == "csv"
    with pytest.raises(InvalidRequest):
        detect_format("x", "xml")


def test_open_records_reads_files_lazily(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text(CSV, encoding="utf-8")
    with open_records(str(path)) as records:
        assert next(records).fields["product_id"] == "sku-1"  # type: ignore[index]
    jsonl = tmp_path / "in.txt"
    jsonl.write_bytes(JSONL)
    with open_records(str(jsonl)) as records:
        assert len(list(records)) == 5
    missing = str(tmp_path / "nope.jsonl")
    with pytest.raises(InvalidRequest, match="not found"), open_records(missing):
        pass


def test_producer_config_is_idempotent_even_if_overridden() -> None:
    settings = load_settings(kafka={"bootstrap_servers": "h:1", "config": {"linger.ms": 50}})
    conf = producer_config(settings, {"acks": "1", "enable.idempotence": False})
    assert conf["enable.idempotence"] is True and conf["acks"] == "all"
    assert conf["bootstrap.servers"] == "h:1" and conf["linger.ms"] == 50


def test_report_summary_and_rate() -> None:
    report = ProduceReport(topic="t", delivered=200, failed=2, elapsed_s=0.5)
    assert report.summary() == "delivered 200, failed 2"
    assert report.rate == 400.0
    assert ProduceReport(topic="t").rate == 0.0
