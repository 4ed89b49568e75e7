#!/usr/bin/env bash
# The test command (README, `make test`, .ci/run): bootstrap, lint, type-check, then every
# test against a real Apache Kafka broker and a real KServe ModelServer started by fixtures.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
VENV=${VENV:-.venv}
"$VENV/bin/ruff" check .
"$VENV/bin/mypy"  # the packages listed under [tool.mypy] in pyproject.toml
"$VENV/bin/python" -m pytest tests "$@"
