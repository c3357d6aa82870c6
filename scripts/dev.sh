#!/usr/bin/env bash
# One entry point for a fresh machine: creates .venv from the lock file, then runs what is asked.
#   bash scripts/dev.sh test      # every test (ruff, mypy, pytest)
#   bash scripts/dev.sh test-fast # the fast tier: ruff, mypy, pytest -m "not e2e and not slow"
#   bash scripts/dev.sh demo      # the main job: sandbox + oneatlas_acquisition end to end
#   bash scripts/dev.sh sandbox   # a sandbox in the foreground, for DAG development
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PY=${PYTHON:-python3}
VENV="$ROOT/.venv"

setup() {
  if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv "$VENV"
  fi
  # uv installs the 200+ locked packages in seconds; its own version is pinned too.
  if ! "$VENV/bin/python" -m uv --version 2>/dev/null | grep -q "0.13.9"; then
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check uv==0.13.9
  fi
  "$VENV/bin/python" -m uv pip install -q -p "$VENV/bin/python" -r requirements/lock.txt -e . 
}

ensure_chromium() {
  # The browser test (tests/e2e/test_ui.py) drives Debian's chromium through Playwright; Playwright's
  # own browser download is not used (and not reachable here).
  if [ -x "${ONEATLAS_CHROMIUM:-/usr/bin/chromium}" ]; then
    return
  fi
  local sudo=""
  if [ "$(id -u)" != 0 ]; then
    sudo="sudo -n"
  fi
  echo "== installing Debian's chromium for the browser test"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
}

airflow_env() {
  export AIRFLOW_HOME="${AIRFLOW_HOME:-$1}"
  export AIRFLOW__CORE__LOAD_EXAMPLES=False
  export AIRFLOW__CORE__DAGS_FOLDER="${AIRFLOW__CORE__DAGS_FOLDER:-$ROOT/example_dags}"
  mkdir -p "$AIRFLOW_HOME"
}

cmd=${1:-help}
shift || true
case "$cmd" in
  setup)
    setup
    ;;
  test)
    setup
    ensure_chromium
    airflow_env "$ROOT/.airflow-home/test"
    echo "== ruff"; "$VENV/bin/ruff" check .
    echo "== mypy"; "$VENV/bin/mypy"
    echo "== pytest"; "$VENV/bin/python" -m pytest "$@"
    ;;
  test-fast)
    # The fast tier: no Airflow component started (e2e), nothing marked slow (see tests/conftest.py).
    setup
    airflow_env "$ROOT/.airflow-home/test"
    echo "== ruff"; "$VENV/bin/ruff" check .
    echo "== mypy"; "$VENV/bin/mypy"
    echo "== pytest (fast tier)"; "$VENV/bin/python" -m pytest -m "not e2e and not slow" "$@"
    ;;
  demo)
    setup
    # demo.py gives Airflow its own home (.demo/airflow-home) and DAGs folder (example_dags).
    exec "$VENV/bin/python" scripts/demo.py "$@"
    ;;
  sandbox)
    setup
    exec "$VENV/bin/oneatlas-sandbox" "$@"
    ;;
  *)
    echo "usage: bash scripts/dev.sh {test|test-fast|demo|sandbox|setup} [args]" >&2
    exit 2
    ;;
esac
