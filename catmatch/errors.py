"""The command line's own error: a bad argument or combination of arguments."""

from core.errors import CatmatchError


class UserError(CatmatchError):
    """Something the user can fix on the command line (one line, no stack trace)."""
