"""The toolbox's errors: each is one line for the user (the CLI prints it and exits with 2)."""

from core.errors import CatmatchError


class ToolboxError(CatmatchError):
    """A tool could not do what it was asked; the message says why."""


class InvalidRequest(ToolboxError):
    """A value the caller can fix: a time, an error class, an input file, a count."""


class HarnessError(ToolboxError):
    """A process the harness started exited, or was not ready within its bound."""
