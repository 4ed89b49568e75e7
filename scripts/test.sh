#!/usr/bin/env bash
# The test command (README, `make test`, .ci/run): bootstrap, lint, then every test against a
# real Apache Kafka broker and a real KServe ModelServer started by the fixtures.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
VENV=${VENV:-.venv}
"$VENV/bin/ruff" check .
"$VENV/bin/python" -m pytest tests "$@"
