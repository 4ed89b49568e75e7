"""Errors the CLI reports as one clear line (no stack trace)."""


class UserError(Exception):
    """Something the user can fix: a missing tool, an unreachable broker, a bad file."""
