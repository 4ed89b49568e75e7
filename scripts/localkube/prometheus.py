"""A Prometheus for the node: Debian's ``prometheus`` (2.42) run on the node's address with a
config of its own, scraping the release's pods and loading the chart's alert rules.

The pods are found through the node's API server and written as ``file_sd_configs`` target
files (Debian's build has no Kubernetes discovery; :func:`config`); each job keeps the
workers' ``metrics`` port (9400) or the predictor's ``http1`` (8080, the model server's own
/metrics) and labels each target ``namespace`` and ``pod``, as the chart's monitors do. The
host reaches pod addresses over the pods' bridge. Everything lives under
``<run dir>/prometheus``; :class:`Prometheus` starts and stops the one process by its PID.
"""

from __future__ import annotations

import http.client
import json
import shutil
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localkube.proc import NotReady, log, spawn, stop_pid, wait_started

PORT = 19090  # on the node's address only
READY_S = 120


# What each scrape job keeps: pods with this app.kubernetes.io/component and a container port
# of this name (the workers' metrics port; the model server's own /metrics on http1).
JOBS = {"catmatch-worker": ("worker", "metrics"), "catmatch-predictor": ("predictor", "http1")}


def config(root: Path, rules: list[Path], interval: str = "5s") -> dict[str, Any]:
    """The scrape and rule configuration (pure: the tests read it).

    Debian's ``prometheus`` is built without Kubernetes service discovery (``field
    kubernetes_sd_configs not found in type config.ScrapeConfig``), so each job reads a
    ``file_sd_configs`` file under ``root/targets`` that :func:`targets` writes from the API
    server's pod list, the same pods ``kubernetes_sd_configs`` (role ``pod``) would find.
    """
    return {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "rule_files": [str(r) for r in rules],
        "scrape_configs": [
            {"job_name": job,
             "file_sd_configs": [{"files": [str(root / "targets" / f"{job}.json")],
                                  "refresh_interval": interval}]}
            for job in JOBS
        ],
    }  # fmt: skip


def targets(pods: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Per job, the file_sd target groups of ``kubectl get pods -o json``: every Running pod
    of the job's component, at its pod IP and named port, labelled ``namespace`` and ``pod``
    as the chart's monitors label them (pure)."""
    out: dict[str, list[dict[str, Any]]] = {job: [] for job in JOBS}
    for pod in pods.get("items") or []:
        meta, status = pod["metadata"], pod.get("status") or {}
        component = (meta.get("labels") or {}).get("app.kubernetes.io/component")
        if status.get("phase") != "Running" or not status.get("podIP"):
            continue
        for job, (wanted, port_name) in JOBS.items():
            if component != wanted:
                continue
            ports = [p["containerPort"] for c in pod["spec"]["containers"]
                     for p in c.get("ports") or [] if p.get("name") == port_name]  # fmt: skip
            if ports:
                out[job].append({"targets": [f"{status['podIP']}:{ports[0]}"],
                                 "labels": {"namespace": meta["namespace"],
                                            "pod": meta["name"]}})  # fmt: skip
    return out


def write_targets(root: Path, pods: dict[str, Any]) -> None:
    """Write :func:`targets` for Prometheus to pick up (atomically: rename over the file)."""
    folder = root / "targets"
    folder.mkdir(parents=True, exist_ok=True)
    for job, groups in targets(pods).items():
        tmp = folder / f".{job}.json.tmp"
        tmp.write_text(json.dumps(groups))
        tmp.replace(folder / f"{job}.json")


@dataclass
class Prometheus:
    """One ``prometheus`` process with its config, data and log under ``root``."""

    root: Path
    address: str

    @property
    def url(self) -> str:
        return f"http://{self.address}:{PORT}"

    def start(self, conf: dict[str, Any]) -> None:
        binary = shutil.which("prometheus")
        if binary is None:
            raise NotReady("prometheus is not installed (apt-get install prometheus)")
        self.stop()
        shutil.rmtree(self.root / "data", ignore_errors=True)
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "prometheus.yml").write_text(json.dumps(conf, indent=2) + "\n")
        argv = [binary, f"--config.file={self.root / 'prometheus.yml'}",
                f"--storage.tsdb.path={self.root / 'data'}",
                f"--web.listen-address={self.address}:{PORT}", "--log.level=warn"]  # fmt: skip
        logfile = self.root / "prometheus.log"
        pid = spawn(argv, logfile)
        (self.root / "pid.json").write_text(json.dumps({"pid": pid, "binary": binary}))
        try:
            wait_started("prometheus", self._not_ready, pid, logfile, READY_S)
        except NotReady:
            self.stop()  # gave up on it: not left running (a no-op once it has exited)
            raise
        log(f"prometheus ready at {self.url}")

    def _not_ready(self) -> str:
        """Empty once ``/-/ready`` answers 200, else why not."""
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as resp:  # noqa: S310
                return "" if resp.status == 200 else f"HTTP {resp.status}"
        except urllib.error.HTTPError as exc:
            return f"HTTP {exc.code}"
        except (OSError, urllib.error.URLError, http.client.HTTPException) as exc:
            return f"{type(exc).__name__}: {exc}"

    def api(self, path: str) -> Any:
        with urllib.request.urlopen(f"{self.url}{path}", timeout=10) as resp:  # noqa: S310
            body = json.loads(resp.read())
        if body.get("status") != "success":
            raise RuntimeError(f"{path}: {body}")
        return body["data"]

    def stop(self) -> None:
        try:
            entry = json.loads((self.root / "pid.json").read_text())
        except (OSError, json.JSONDecodeError):
            return
        stop_pid(int(entry["pid"]), entry["binary"], timeout=10)
        (self.root / "pid.json").unlink(missing_ok=True)
