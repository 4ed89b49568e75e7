"""The classification result produced to ``category-match-out``, keyed by product id.

JSON shape (``schema_version`` 1)::

    {"schema_version": 1, "product_id": "sku-1", "label": "Base metals", "label_id": 14,
     "score": 0.91, "top_k": [{"label": "Base metals", "label_id": 14, "score": 0.91}, ...],
     "model_name": "category-match", "model_version": "seed-1",
     "event_time": "2026-11-26T12:00:00Z", "processed_time": "2026-11-26T12:00:00.120Z",
     "source_partition": 0, "source_offset": 42, "uncertain": false}

``uncertain`` (added in schema version 1, default ``false``): the score is below the worker's
``min_score``. The label is still produced; a shop can route such products to a person.
Scores are calibrated per model version (temperature scaling, ``catmatch.json``).
"""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

RESULT_SCHEMA_VERSION = 1


class LabelScore(BaseModel):
    """One candidate category with its probability."""

    model_config = ConfigDict(frozen=True)

    label: str
    label_id: int = Field(ge=0)
    score: float = Field(ge=0.0, le=1.0)


class CategoryResult(BaseModel):
    """The predicted category of one product."""

    model_config = ConfigDict(frozen=True)

    schema_version: int = RESULT_SCHEMA_VERSION
    product_id: str
    label: str
    label_id: int = Field(ge=0)
    score: float = Field(ge=0.0, le=1.0)
    top_k: list[LabelScore] = Field(default_factory=list)
    model_name: str
    model_version: str
    event_time: AwareDatetime | None = None
    processed_time: AwareDatetime
    source_partition: int | None = None
    source_offset: int | None = None
    uncertain: bool = Field(
        default=False,
        description="The score is below the worker's min_score: the label is still produced, "
        "but a person should check it.",
    )
