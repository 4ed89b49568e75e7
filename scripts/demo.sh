#!/usr/bin/env bash
# The whole pipeline on embedded defaults: broker + predictor + workers + sample producer.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec "${VENV:-.venv}/bin/catmatch" demo "$@"
