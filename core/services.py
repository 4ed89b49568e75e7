"""The context-manager shape of the project's embedded services (broker, cluster, Redis)."""

from __future__ import annotations

from types import TracebackType
from typing import Any, Self


class Service:
    """``with service:`` starts it unless it already runs, and stops it on the way out.

    Subclasses define ``is_running``, ``start()`` (returning ``self``) and ``stop()``.
    """

    @property
    def is_running(self) -> bool:
        raise NotImplementedError

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> Any:
        raise NotImplementedError

    def __enter__(self) -> Self:
        if not self.is_running:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
