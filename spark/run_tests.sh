#!/usr/bin/env bash
# Runs the Spark path's tests (spark/test_spark.py) in a virtualenv with the pinned requirements,
# against the leakscope binary given (default: the dev build of this checkout).
#
#   bash spark/run_tests.sh [LEAKSCOPE_BINARY] [test-name ...]
#
# Environment: LEAKSCOPE_SPARK_VENV (default $HOME/.cache/leakscope-spark-venv; reused while the
# requirements and the Python are unchanged, recreated otherwise), PYTHON (default python3).
# Needs Java 17 or newer on PATH (.ci/run installs it where it can).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
venv="${LEAKSCOPE_SPARK_VENV:-$HOME/.cache/leakscope-spark-venv}"
python="${PYTHON:-python3}"
binary="${1:-${CARGO_TARGET_DIR:-$HOME/.cache/leakscope-target}/debug/leakscope}"
shift || true

if ! command -v java >/dev/null 2>&1; then
  echo "spark: java not found: Spark 4 needs Java 17 or newer (Debian: openjdk-17-jre-headless)" >&2
  exit 1
fi
if [ ! -x "$binary" ]; then
  echo "spark: no leakscope binary at $binary; build one with: cargo build" >&2
  exit 1
fi

# pyspark is a source distribution on PyPI: wheels where there are any.
# shellcheck source=../.ci/venv.sh
. "$root/.ci/venv.sh"
ensure_venv spark "$venv" "$python" "$here/requirements.txt" --prefer-binary

# Everything on loopback; Spark's own log lines go to the test's stderr, not to the result lines.
export SPARK_LOCAL_IP=127.0.0.1
export PYTHONDONTWRITEBYTECODE=1
cd "$root"
LEAKSCOPE_BIN="$binary" exec "$venv/bin/python" "$here/test_spark.py" "$@"
