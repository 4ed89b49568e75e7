"""How a worker is asked to stop, and why it stopped."""

from __future__ import annotations

import asyncio


class Stopping:
    """The stop request every collaborator watches, and the error that caused it, if any.

    ``event`` is what retries, the circuit and the batches wait on; :meth:`fail` is the one
    way to stop on an error (the first error is kept: later ones are its consequences).
    """

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.error: BaseException | None = None

    @property
    def requested(self) -> bool:
        return self.event.is_set()

    def request(self) -> None:
        """Finish in-flight batches, commit and exit."""
        self.event.set()

    def fail(self, exc: BaseException) -> None:
        """Stop because of ``exc`` (the worker's ``run`` raises it at the end)."""
        if self.error is None:
            self.error = exc
        self.event.set()
