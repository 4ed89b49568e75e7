#!/usr/bin/env bash
# Prepare a fresh machine: system tools (Java 17, Maven; promtool for the alert tests), the
# project virtualenv, the Kafka jars.
# Idempotent and quiet when everything is already there. Used by `make demo` and `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
PY=${PYTHON:-python3}

need_apt=()
command -v java >/dev/null 2>&1 || need_apt+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || need_apt+=(maven)
if ((${#need_apt[@]})); then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "bootstrap: installing ${need_apt[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "bootstrap: please install ${need_apt[*]} (Java 17+ and Maven run the embedded Kafka broker)" >&2
    exit 1
  fi
fi

# redis-server (Debian) for the shared result cache: the demo starts one on loopback, the
# tests start their own (tests/fixtures/redis.py; skipped without it, except in CI).
if ! command -v redis-server >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "bootstrap: installing redis-server (the shared result cache)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      --no-install-recommends redis-server >/dev/null
  else
    echo "bootstrap: redis-server not found; the demo caches in-process only and the Redis" \
      "tests will be skipped (apt-get install redis-server)" >&2
  fi
fi

# promtool and prometheus (Debian's prometheus package) for the alert tests
# (tests/unit/test_monitoring.py, tests/integration/test_monitoring_prometheus.py); they are
# skipped where it cannot be installed. The tests start their own Prometheus on loopback.
if ! command -v promtool >/dev/null 2>&1 || ! command -v prometheus >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "bootstrap: installing prometheus (promtool, for the alert rule tests)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      --no-install-recommends prometheus >/dev/null
  else
    echo "bootstrap: promtool/prometheus not found; the alert rule tests will be skipped" \
      "(apt-get install prometheus)" >&2
  fi
fi

# The virtualenv is reinstalled only when pyproject.toml or the constraints change.
stamp="$VENV/.catmatch-installed"
want=$(cat pyproject.toml requirements/constraints.txt 2>/dev/null | sha256sum | cut -d' ' -f1)
if [ ! -x "$VENV/bin/python" ]; then
  echo "bootstrap: creating $VENV"
  "$PY" -m venv "$VENV"
fi
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "bootstrap: installing Python packages into $VENV (first time: a few minutes, torch is large)"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  constraints=()
  [ -f requirements/constraints.txt ] && constraints=(-c requirements/constraints.txt)
  "$VENV/bin/python" -m pip install -q "${constraints[@]}" -e '.[all,dev]'
  echo "$want" > "$stamp"
fi

# Kafka jars from Maven Central (pinned in transport/broker/pom.xml), cached under ~/.cache/catmatch.
"$VENV/bin/catmatch" --log-level WARNING broker --fetch-only
