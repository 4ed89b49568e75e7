"""The committed JSON Schemas match the models; every example validates (or fails) as labelled."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import jsonschema
import pytest
from pydantic import BaseModel, ValidationError

import schemas
from catmatch.commands import schemas as schemas_command
from schemas import ProductMessage
from schemas.export import MODELS, documents, export, json_schema, schema_filename, stale

SCHEMAS_DIR = Path(schemas.__file__).parent
JSON_DIR = SCHEMAS_DIR / "json"
EXAMPLES_DIR = SCHEMAS_DIR / "examples"
MALFORMED = EXAMPLES_DIR / "malformed_products.jsonl"


def _examples() -> list[tuple[str, Path]]:
    """``(model name, file)`` for every ``<model>.<variant>.json`` / ``<model>.json`` example."""
    found = []
    for path in sorted(EXAMPLES_DIR.glob("*.json")):
        name = path.name.split(".")[0]
        assert name in MODELS, f"{path.name}: name must start with one of {sorted(MODELS)}"
        found.append((name, path))
    return found


def _committed_schema(name: str) -> dict:
    return json.loads((JSON_DIR / schema_filename(name)).read_text(encoding="utf-8"))


def test_committed_schema_files_equal_a_fresh_export() -> None:
    assert stale(JSON_DIR) == [], "schemas/json is stale: run `catmatch schemas export`"
    assert sorted(p.name for p in JSON_DIR.glob("*.json")) == sorted(documents())


def test_export_is_deterministic_sorted_and_ends_with_newline(tmp_path: Path) -> None:
    first = {p.name: p.read_bytes() for p in export(tmp_path / "a")}
    second = {p.name: p.read_bytes() for p in export(tmp_path / "b")}
    assert first == second
    assert set(first) == {"product.schema.json", "result.schema.json", "dead_letter.schema.json"}
    for text in first.values():
        assert text.endswith(b"}\n") and not text.endswith(b"\n\n")
        data = json.loads(text)
        canonical = json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        assert text.decode() == canonical
        assert data["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_stale_reports_missing_and_changed_files(tmp_path: Path) -> None:
    assert sorted(stale(tmp_path)) == sorted(documents())
    export(tmp_path)
    assert stale(tmp_path) == []
    (tmp_path / "result.schema.json").write_text("{}\n")
    assert stale(tmp_path) == ["result.schema.json"]


def test_schemas_command_export_and_check(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    check = argparse.Namespace(out=str(tmp_path), check=True)
    assert schemas_command.run(check, None) == 1
    assert schemas_command.run(argparse.Namespace(out=str(tmp_path), check=False), None) == 0
    assert schemas_command.run(check, None) == 0
    assert "up to date" in capsys.readouterr().out


def test_product_schema_rejects_newer_schema_versions_like_the_model() -> None:
    schema = json_schema("product")
    assert schema["properties"]["schema_version"]["maximum"] == 1
    validator = jsonschema.Draft202012Validator(schema)
    assert not validator.is_valid({"product_id": "p", "title": "t", "schema_version": 2})
    with pytest.raises(ValidationError):
        ProductMessage.model_validate({"product_id": "p", "title": "t", "schema_version": 2})


def test_there_are_examples_for_every_model() -> None:
    assert {name for name, _ in _examples()} == set(MODELS)
    assert len(MALFORMED.read_text().splitlines()) >= 10


@pytest.mark.parametrize(("name", "path"), _examples(), ids=lambda v: getattr(v, "name", v))
def test_example_validates_against_model_and_committed_json_schema(name: str, path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    model: type[BaseModel] = MODELS[name]
    model.model_validate_json(text)
    jsonschema.Draft202012Validator(_committed_schema(name)).validate(json.loads(text))


def test_unknown_fields_in_the_extra_fields_example_are_ignored() -> None:
    data = json.loads((EXAMPLES_DIR / "product.extra_fields.json").read_text())
    assert {"gtin", "shop", "images"} <= set(data)
    product = ProductMessage.model_validate(data)
    assert "gtin" not in product.model_dump()


@pytest.mark.parametrize(
    "line",
    [line for line in MALFORMED.read_text(encoding="utf-8").splitlines() if line.strip()],
    ids=lambda line: line[:40],
)
def test_every_malformed_example_fails_validation(line: str) -> None:
    with pytest.raises(ValidationError):
        ProductMessage.model_validate_json(line)


def test_sample_product_files_are_valid() -> None:
    from toolbox.produce.sources import iter_csv, iter_jsonl, to_message

    with open(EXAMPLES_DIR / "products.jsonl", "rb") as fh:
        jsonl = list(iter_jsonl(fh))
    with open(EXAMPLES_DIR / "products.csv", encoding="utf-8", newline="") as fh:
        rows = list(iter_csv(fh))
    assert len(jsonl) >= 10 and len(rows) >= 5
    for record in jsonl + rows:
        assert record.error is None, record
        key, value = to_message(record.fields or {}, record.where)
        ProductMessage.model_validate_json(value)
