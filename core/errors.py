"""The base of every error category-match reports as one line instead of a traceback.

Each library package raises its own subclass (``transport.errors.KafkaUnavailable``,
``modelstore.StoreError``, ...); the command line at the top turns any of them into a
message and an exit code. Programming errors are not ``CatmatchError``.
"""

from __future__ import annotations


class CatmatchError(Exception):
    """Something the user or operator can act on: a missing tool, an unreachable broker,
    a bad file, an unknown model version."""


class ConfigError(CatmatchError):
    """The settings cannot be loaded (a missing or invalid configuration file)."""
