#!/usr/bin/env bash
# Executes notebooks/investigate.ipynb headless against a leakscope report directory, in a virtualenv with
# the pinned requirements. Fails when any cell errors, including the headline check (summary.json against
# verdicts.parquet) and the manifest checks.
#
#   bash notebooks/run.sh [REPORT_DIR]    default: reports/sample (of this checkout)
#   bash notebooks/run.sh --strip         remove outputs from investigate.ipynb before committing it
#
# Environment: LEAKSCOPE_NOTEBOOK_VENV (default $HOME/.cache/leakscope-notebook-venv; reused while the
# requirements and the Python are unchanged, recreated otherwise), PYTHON (default python3),
# NOTEBOOK_CELL_TIMEOUT (seconds per cell, default 600), NOTEBOOK_OUTPUT (also write the executed notebook).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
venv="${LEAKSCOPE_NOTEBOOK_VENV:-$HOME/.cache/leakscope-notebook-venv}"
python="${PYTHON:-python3}"
kernel="leakscope-notebook"

if ! command -v "$python" >/dev/null 2>&1; then
  echo "notebook: $python not found: the notebook needs CPython 3.11 or newer with venv" >&2
  exit 1
fi

# A kernel that runs this venv's Python, registered inside the venv (nothing outside it is touched).
register_kernel() {
  "$venv/bin/python" -m ipykernel install --prefix "$venv" --name "$kernel" \
    --display-name "leakscope notebook" >/dev/null
}
# shellcheck source=../.ci/venv.sh
. "$root/.ci/venv.sh"
ensure_venv notebook "$venv" "$python" "$here/requirements.txt" --only-binary=:all: register_kernel

# Headless: no display, and a matplotlib cache inside the venv.
export MPLBACKEND=module://matplotlib_inline.backend_inline
export MPLCONFIGDIR="$venv/.matplotlib"
export PYDEVD_DISABLE_FILE_VALIDATION=1

if [ "${1:-}" = "--strip" ]; then
  exec "$venv/bin/python" "$here/execute.py" --strip
fi

report="${1:-$root/reports/sample}"
if [ ! -f "$report/summary.json" ]; then
  echo "notebook: $report is not a leakscope report (no summary.json); write one with: leakscope analyze <dataset> --out $report" >&2
  exit 1
fi

exec "$venv/bin/python" "$here/execute.py" "$report" --kernel "$kernel" \
  --timeout "${NOTEBOOK_CELL_TIMEOUT:-600}" ${NOTEBOOK_OUTPUT:+--output "$NOTEBOOK_OUTPUT"}
