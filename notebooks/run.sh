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

# One setup at a time per venv (parallel CI jobs on one machine).
mkdir -p "$(dirname "$venv")"
if command -v flock >/dev/null 2>&1; then
  exec 9>"$venv.lock"
  flock 9
fi

# The venv is reused while requirements.txt and the interpreter are the same ones it was built from.
want="$( { cat "$here/requirements.txt"; "$python" -c 'import sys; print(sys.version)'; } | sha256sum | cut -d' ' -f1)"
stamp="$venv/.leakscope-requirements.sha256"
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
  if [ -e "$venv" ] && [ ! -f "$venv/pyvenv.cfg" ]; then
    echo "notebook: $venv exists and is not a virtualenv; refusing to replace it" >&2
    exit 1
  fi
  echo "notebook: creating $venv" >&2
  rm -rf "$venv"
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
    --only-binary=:all: -r "$here/requirements.txt"
  # A kernel that runs this venv's Python, registered inside the venv (nothing outside it is touched).
  "$venv/bin/python" -m ipykernel install --prefix "$venv" --name "$kernel" \
    --display-name "leakscope notebook" >/dev/null
  echo "$want" >"$stamp"
fi

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
