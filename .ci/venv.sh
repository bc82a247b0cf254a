# Sourced by notebooks/run.sh and spark/run_tests.sh: a virtualenv with pinned requirements, made
# once and reused while the requirements and the interpreter are the ones it was made from.
#
#   ensure_venv <label> <venv> <python> <requirements.txt> <pip option> [command run once after creating it]

ensure_venv() {
  local label="$1" venv="$2" python="$3" requirements="$4" binaries="$5"
  shift 5
  # One setup at a time per venv (parallel CI jobs on one machine).
  mkdir -p "$(dirname "$venv")"
  if command -v flock >/dev/null 2>&1; then
    exec 9>"$venv.lock"
    flock 9
  fi
  local want stamp
  want="$( { cat "$requirements"; "$python" -c 'import sys; print(sys.version)'; } | sha256sum | cut -d' ' -f1)"
  stamp="$venv/.leakscope-requirements.sha256"
  if [ "$(cat "$stamp" 2>/dev/null || true)" = "$want" ]; then
    return 0
  fi
  if [ -e "$venv" ] && [ ! -f "$venv/pyvenv.cfg" ]; then
    echo "$label: $venv exists and is not a virtualenv; refusing to replace it" >&2
    exit 1
  fi
  echo "$label: creating $venv" >&2
  rm -rf "$venv"
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
    "$binaries" -r "$requirements"
  if [ $# -gt 0 ]; then
    "$@"
  fi
  echo "$want" >"$stamp"
}
