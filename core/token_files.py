"""Bearer tokens kept in a mounted file or directory, read again when it changes.

The predictor accepts every token of its file (``serve.token_file``); a worker sends the
one token of its file (``predictor.token_file``). Both files are meant to be a Kubernetes
Secret volume. The kubelet updates such a volume by writing the new keys into a fresh
hidden directory and renaming the ``..data`` symlink onto it, so each visible key
(``token -> ..data/token``) resolves to a new inode in one step. :class:`TokenFile` therefore
stats the path *following* symlinks (device, inode, size, mtime of every key file): any
swap, rewrite or replacement changes that signature, and only then is anything read. The
stat runs at most once per ``check_interval_s``, so a caller may ask on every request.

Layout:

- a file: one token per line; blank lines and lines starting with ``#`` are skipped.
  Each token is named ``<file name>:<line>``.
- a directory (a Secret with several keys, e.g. ``current`` and ``next``): every entry that
  does not start with ``.`` is such a file; a token is named after its file (``next``), or
  ``<file>:<line>`` when the file holds several.

A token must be visible ASCII without spaces (what fits an ``Authorization`` header). A
reload that fails (a half-written file, an empty or invalid one, a vanished directory) keeps
the tokens read before and is tried again at the next check; only the first read raises.
Names are shown in logs and metrics; the values never are (:class:`Credential` prints its
name only).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import ConfigError

log = logging.getLogger(__name__)

CHECK_INTERVAL_S = 1.0
_VALID = re.compile(r"[\x21-\x7e]+")
Signature = tuple[tuple[str, int, int, int, int], ...]


class TokenFileError(ConfigError):
    """A token file or directory that cannot be read or holds no valid token."""


@dataclass(frozen=True)
class Credential:
    """One accepted token and where it came from; ``repr`` and ``str`` show the name only."""

    name: str
    secret: str = field(repr=False)

    def __str__(self) -> str:
        return self.name


def _entries(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.iterdir() if not p.name.startswith("."))
    return [path]


def signature(path: Path) -> Signature:
    """What changes whenever a token file is rewritten, replaced or swapped (symlinks
    followed); raises ``OSError`` when it cannot be read."""
    out = []
    for entry in _entries(path):
        st = entry.stat()
        out.append((entry.name, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns))
    return tuple(out)


def read_credentials(path: Path) -> tuple[Credential, ...]:
    """Every token of ``path`` (a file or a directory of files), in name order.

    Raises:
        TokenFileError: unreadable, no token at all, or a line that is not a token.
    """
    found: list[Credential] = []
    try:
        entries = _entries(path)
        for entry in entries:
            if entry.is_dir():
                continue
            lines = [
                (number, line.strip())
                for number, line in enumerate(entry.read_text(encoding="utf-8").splitlines(), 1)
                if line.strip() and not line.strip().startswith("#")
            ]
            for number, token in lines:
                if not _VALID.fullmatch(token):
                    # Never the value: the line may hold a real secret with a stray space.
                    raise TokenFileError(
                        f"{entry} line {number}: a token is visible ASCII without spaces"
                    )
                name = entry.name if len(lines) == 1 and path.is_dir() else f"{entry.name}:{number}"
                found.append(Credential(name, token))
    except (OSError, UnicodeDecodeError) as exc:
        raise TokenFileError(f"cannot read the token file {path}: {type(exc).__name__}") from exc
    if not found:
        raise TokenFileError(f"no token in {path}")
    return tuple(found)


class TokenFile:
    """The tokens of ``path``, read at the first call and again after each change.

    Not thread-safe by design: each process asks from its event loop. Picklable (the
    predictor's ``--workers N`` children get a copy), and each copy watches on its own.

    Args:
        path: the file or directory.
        check_interval_s: the least time between two stats of ``path``.
        clock: monotonic seconds (tests pass their own).
    """

    def __init__(
        self,
        path: Path,
        check_interval_s: float = CHECK_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = Path(path)
        self.check_interval_s = check_interval_s
        self._clock = clock
        self._credentials: tuple[Credential, ...] = ()
        self._signature: Signature | None = None
        self._checked = float("-inf")
        self._failing: str | None = None
        self.reloads = 0  # times the tokens changed after the first read

    def __getstate__(self) -> dict[str, object]:
        state = dict(vars(self))
        state["_clock"] = None  # time.monotonic is the only clock that crosses processes
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        vars(self).update(state)
        self._clock = time.monotonic

    def load(self) -> tuple[Credential, ...]:
        """Read now, raising :class:`TokenFileError` if that fails (the start-up check)."""
        sig = self._stat()
        self._credentials = read_credentials(self.path)
        self._signature, self._checked, self._failing = sig, self._clock(), None
        return self._credentials

    def credentials(self) -> tuple[Credential, ...]:
        """The tokens now; re-read when the file changed (checked at most once per interval)."""
        if not self._credentials:
            return self.load()
        now = self._clock()
        if now - self._checked < self.check_interval_s:
            return self._credentials
        self._checked = now
        try:
            sig = self._stat()
            if sig != self._signature:
                fresh = read_credentials(self.path)
                changed = fresh != self._credentials
                self._credentials, self._signature = fresh, sig
                if changed:
                    self.reloads += 1
                    log.info("token file %s read again: %s", self.path,
                             ", ".join(c.name for c in fresh))
            self._failing = None
        except (OSError, TokenFileError) as exc:
            reason = str(exc) if isinstance(exc, TokenFileError) else type(exc).__name__
            if reason != self._failing:
                log.warning("token file %s: %s; keeping the %d token(s) read before",
                            self.path, reason, len(self._credentials))
                self._failing = reason
        return self._credentials

    def token(self) -> str:
        """The single token of a client's file (its first one)."""
        return self.credentials()[0].secret

    def _stat(self) -> Signature:
        try:
            return signature(self.path)
        except OSError as exc:
            raise TokenFileError(
                f"cannot read the token file {self.path}: {type(exc).__name__}"
            ) from exc
