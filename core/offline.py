"""Keep Hugging Face libraries off the network: models load from local files only."""

from __future__ import annotations

import os


def force_offline() -> None:
    """Make Hugging Face libraries fail instead of downloading (call before importing them)."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
