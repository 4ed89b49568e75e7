"""Where things live. Every cache is under ``~/.cache/category-match`` (or
``$CATMATCH_BUILD_CACHE``, not ``CATMATCH_CACHE``: the app's settings own every
``CATMATCH_<field>`` name, and ``cache`` is the result cache's); the kube-apiserver cache
keeps its historical ``k8s`` folder (or ``$CATMATCH_K8S_CACHE``)."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(os.environ.get("CATMATCH_BUILD_CACHE") or Path.home() / ".cache" / "category-match")
K8S = Path(os.environ.get("CATMATCH_K8S_CACHE") or ROOT / "k8s")  # binaries, CRDs
GO = ROOT / "go"  # one GOMODCACHE (go/mod) and GOCACHE (go/cache) for every Go build
BUILDS_JSON = ROOT / "builds.json"  # wall time of every build, cold or warm
IMAGES = ROOT / "images"  # image archives: pause, the Debian base, the project's images
# The running cluster: configs, certificates, logs, etcd data, containerd's root and state.
RUN = Path(os.environ.get("CATMATCH_CLUSTER_DIR") or "/var/lib/category-match-cluster")
