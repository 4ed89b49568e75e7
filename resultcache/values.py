"""What a cache entry holds: one row's answer, as compact JSON (the same for every caller)."""

from __future__ import annotations

from dataclasses import dataclass

import orjson


@dataclass(frozen=True, slots=True)
class CachedPrediction:
    """The best label and its score, and the top-k ``(label, label_id, score)`` list."""

    label: str
    label_id: int
    score: float
    top_k: list[tuple[str, int, float]]

    def to_bytes(self) -> bytes:
        return orjson.dumps([self.label, self.label_id, self.score, self.top_k])

    @classmethod
    def from_bytes(cls, raw: bytes) -> CachedPrediction | None:
        """The entry, or ``None`` when it is not one of ours (treated as a miss)."""
        try:
            label, label_id, score, top_k = orjson.loads(raw)
            return cls(
                str(label),
                int(label_id),
                float(score),
                [(str(a), int(b), float(c)) for a, b, c in top_k],
            )
        except (orjson.JSONDecodeError, TypeError, ValueError):
            return None

