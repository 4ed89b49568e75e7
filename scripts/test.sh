#!/usr/bin/env bash
# The test command (README, `make test`, .ci/run): bootstrap, lint, type-check, audit the pinned
# packages, then every test against a real Apache Kafka broker and a real KServe ModelServer.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
VENV=${VENV:-.venv}
"$VENV/bin/ruff" check .
"$VENV/bin/mypy"  # the packages listed under [tool.mypy] in pyproject.toml
# Known vulnerabilities in the pinned packages (requirements/constraints.txt), from PyPI's
# JSON API only; exceptions with reasons in requirements/audit-exceptions.txt (docs/SECURITY.md).
"$VENV/bin/python" scripts/audit.py
# etcd + kube-apiserver/kubectl v1.32 + upstream CRDs for the server-side dry run of the
# manifests (tests/integration/test_k8s_server_dry_run.py): built once into
# ~/.cache/category-match/k8s (cold: about 4 min on 2 idle cores), instant afterwards.
# Where it cannot be prepared the test skips, or fails under CI.
"$VENV/bin/python" scripts/kube_apiserver.py prepare --if-possible
# Two processes (pytest-xdist), each taking whole test files: most of the suite waits on
# brokers, predictors and faults rather than on the CPU, so two share this 2-core machine
# well, and a file's session fixtures (a broker, a predictor) start once per process.
# CATMATCH_TEST_WORKERS=0 runs it in one process.
workers=${CATMATCH_TEST_WORKERS:-2}
if [ "$workers" = 0 ]; then
  "$VENV/bin/python" -m pytest tests "$@"
else
  "$VENV/bin/python" -m pytest -n "$workers" --dist loadfile tests "$@"
fi
