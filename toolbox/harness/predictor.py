"""The predictor as a child process: ``python -m predictor``, kserve's own ``ModelServer``
serving our ``kserve.Model``, exactly as in the predictor image.

It can be stopped, killed and started again on the same port, also after a delay (a
predictor that is down or cold-starting), which the tests and the drills use.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Self

from core.names import DEFAULT_MODEL_NAME
from toolbox.errors import HarnessError
from toolbox.harness.children import LOOPBACK, POLL_S, ChildProcess, free_port, http_ok

START_TIMEOUT_S = 180.0
PREDICTOR_MODULE = (sys.executable, "-m", "predictor")


class PredictorProcess(ChildProcess):
    """One predictor on ``127.0.0.1:port``.

    Args:
        model_dir: the model directory to serve; None when ``extra_args`` name a store
            version instead (``--store``, ``--store-name``, ``--model-ref``).
        log_path: where its output goes.
        model_name: the name it serves under (``/v2/models/<name>``).
        port: its HTTP port (default: a free one, kept across restarts).
        launcher: the command before the options (default ``python -m predictor``).
        device: ``--device`` (None: the predictor's own choice).
        extra_args: more options after the others.
        env: its environment (default: this one, offline).
    """

    def __init__(
        self,
        model_dir: Path | None,
        log_path: Path,
        *,
        model_name: str = DEFAULT_MODEL_NAME,
        port: int | None = None,
        launcher: Sequence[str] = PREDICTOR_MODULE,
        device: str | None = "cpu",
        extra_args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        stop_timeout_s: float = 30.0,
    ) -> None:
        self.model_dir = Path(model_dir) if model_dir is not None else None
        self.model_name = model_name
        self.port = port or free_port()
        self.url = f"http://{LOOPBACK}:{self.port}"
        self.extra_args = list(extra_args)
        options = [
            *(["--model-dir", str(self.model_dir)] if self.model_dir is not None else []),
            "--model-name", model_name, "--http-port", str(self.port), "--host", LOOPBACK,
            *(["--device", device] if device else []),
            *self.extra_args,
        ]
        super().__init__(model_name, [*launcher, *options], log_path, env,
                         stop_timeout_s=stop_timeout_s)
        self._timer: threading.Timer | None = None

    @property
    def infer_url(self) -> str:
        return f"{self.url}/v2/models/{self.model_name}/infer"

    @property
    def ready_url(self) -> str:
        return f"{self.url}/v2/models/{self.model_name}/ready"

    def start(  # a delay and a wait on top of ChildProcess.start
        self, delay_s: float = 0.0, wait: bool = True, timeout_s: float = START_TIMEOUT_S
    ) -> Self:
        """Start the process (after ``delay_s`` in the background); wait until it is ready."""
        self._cancel_timer()
        if delay_s > 0:
            self._timer = threading.Timer(delay_s, super().start)
            self._timer.daemon = True
            self._timer.start()
        else:
            super().start()
        if wait:
            self.wait_ready(timeout_s + delay_s)
        return self

    def is_ready(self) -> bool:
        """Whether the model's ready endpoint answers 200 now."""
        return http_ok(self.ready_url)

    def wait_ready(self, timeout_s: float = START_TIMEOUT_S) -> None:
        """Poll readiness until ``timeout_s``; fail early if the process exited."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.is_ready():
                return
            if self._timer is None or not self._timer.is_alive():
                self.check()
            time.sleep(POLL_S)
        raise HarnessError(
            f"predictor not ready after {timeout_s:.0f} s (log {self.log_path}):\n"
            f"{self.log_tail()}"
        )

    def stop(self, timeout_s: float | None = None) -> int | None:
        self._cancel_timer()
        return super().stop(timeout_s)

    def kill(self) -> None:
        self._cancel_timer()
        super().kill()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer.join(self.stop_timeout_s)
            self._timer = None
