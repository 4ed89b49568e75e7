"""JSON Schema documents of the message models, written deterministically.

``catmatch schemas export`` writes them to ``schemas/json/``; a unit test compares the
committed files with a fresh export so they cannot drift from the pydantic models.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from schemas.dead_letter import DeadLetter
from schemas.product import PRODUCT_SCHEMA_VERSION, ProductMessage
from schemas.result import CategoryResult

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

MODELS: dict[str, type[BaseModel]] = {
    "product": ProductMessage,
    "result": CategoryResult,
    "dead_letter": DeadLetter,
}
"""Schema name → model; the file is ``<name>.schema.json``."""


def schema_filename(name: str) -> str:
    """``product`` → ``product.schema.json``."""
    return f"{name}.schema.json"


def json_schema(name: str) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one model, as validation sees it."""
    model = MODELS[name]
    schema = model.model_json_schema(mode="validation")
    schema["$schema"] = JSON_SCHEMA_DIALECT
    if model is ProductMessage:
        # Mirrors the model's validator: a newer schema_version than this code knows is rejected.
        schema["properties"]["schema_version"]["maximum"] = PRODUCT_SCHEMA_VERSION
    return schema


def render(schema: dict[str, Any]) -> str:
    """Deterministic text: sorted keys, two-space indent, a trailing newline."""
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def documents() -> dict[str, str]:
    """File name → file text, for every model."""
    return {schema_filename(name): render(json_schema(name)) for name in MODELS}


def export(out_dir: str | Path) -> list[Path]:
    """Write every schema file into ``out_dir`` (created if needed); returns the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for filename, text in documents().items():
        path = out / filename
        path.write_text(text, encoding="utf-8", newline="\n")
        written.append(path)
    return written


def stale(out_dir: str | Path) -> list[str]:
    """Names of the schema files in ``out_dir`` that are missing or differ from a fresh export."""
    out = Path(out_dir)
    return [
        filename
        for filename, text in documents().items()
        if not (out / filename).is_file() or (out / filename).read_text(encoding="utf-8") != text
    ]
