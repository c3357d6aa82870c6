#!/usr/bin/env bash
# One entry point for a fresh machine: creates .venv from the lock file, then runs what is asked.
#   bash scripts/dev.sh test      # every test (ruff, mypy, pytest)
#   bash scripts/dev.sh test-fast # the fast tier: ruff, mypy, pytest -m "not e2e and not slow"
#   bash scripts/dev.sh demo      # the main job: sandbox + oneatlas_acquisition end to end
#   bash scripts/dev.sh sandbox   # a sandbox in the foreground, for DAG development
#   bash scripts/dev.sh test-airflow 3.0 [pytest args]
#                                 # the unit, sandbox and dag.test() tiers on Airflow 3.0 (or 3.1, 3.2, 3.3),
#                                 # in .venv-airflow-3.0 built from requirements/lock-airflow-3.0.txt
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PY=${PYTHON:-python3}
VENV="$ROOT/.venv"

# The newest Airflow: what requirements/lock.txt pins, and what `test` runs the full suite on.
NEWEST_AIRFLOW=3.3
# The Airflow versions the matrix tests (each older one has requirements/lock-airflow-X.Y.txt).
MATRIX_AIRFLOW="3.0 3.1 3.2 3.3"
#: The tiers the matrix runs on every version: unit, sandbox, reliability and dag.test() tests; not
#: the ones that start Airflow components or a browser (e2e), nor the long ones (slow).
MATRIX_MARKERS="not e2e and not slow"

setup_venv() {  # setup_venv VENV LOCK
  local venv=$1 lock=$2
  if [ ! -x "$venv/bin/python" ]; then
    "$PY" -m venv "$venv"
  fi
  # uv installs the 200+ locked packages in seconds; its own version is pinned too.
  if ! "$venv/bin/python" -m uv --version 2>/dev/null | grep -q "0.13.9"; then
    "$venv/bin/python" -m pip install -q --disable-pip-version-check uv==0.13.9
  fi
  "$venv/bin/python" -m uv pip install -q -p "$venv/bin/python" -r "$lock" -e .
}

setup() {
  setup_venv "$VENV" requirements/lock.txt
}

lock_for() {  # lock_for X.Y -> the lock file of that Airflow minor version
  if [ "$1" = "$NEWEST_AIRFLOW" ]; then
    echo requirements/lock.txt
  elif [ -f "requirements/lock-airflow-$1.txt" ]; then
    echo "requirements/lock-airflow-$1.txt"
  else
    echo "no lock for Airflow $1: requirements/lock-airflow-$1.txt (supported: $MATRIX_AIRFLOW)" >&2
    return 2
  fi
}

test_airflow() {  # test_airflow X.Y [pytest args]: the matrix tiers on one Airflow version
  local version=$1
  shift
  local lock venv
  lock=$(lock_for "$version")
  venv="$ROOT/.venv-airflow-$version"
  setup_venv "$venv" "$lock"
  # Its own Airflow home: a metadata DB migrated by one Airflow version is not for another.
  local home="$ROOT/.airflow-home/airflow-$version"
  rm -rf "$home"
  export AIRFLOW_HOME="$home"
  airflow_env "$home"
  echo "== Airflow $("$venv/bin/python" -c 'import airflow; print(airflow.__version__)') ($lock): pytest -m \"$MATRIX_MARKERS\""
  "$venv/bin/python" -m pytest -m "$MATRIX_MARKERS" -p no:cacheprovider "$@"
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
  test-airflow)
    if [ $# -lt 1 ]; then
      echo "usage: bash scripts/dev.sh test-airflow X.Y [pytest args]   (X.Y one of: $MATRIX_AIRFLOW)" >&2
      exit 2
    fi
    test_airflow "$@"
    ;;
  *)
    echo "usage: bash scripts/dev.sh {test|test-fast|test-airflow X.Y|demo|sandbox|setup} [args]" >&2
    exit 2
    ;;
esac
