#!/usr/bin/env bash
# The benchmark: leakscope analyze vs. a DuckDB implementation of contract §4 on the same Parquet data.
#
#   bench/run.sh [SIZE ...]        sizes as 1e6, 1e7, 1e8 or plain integers; default: 1e6 1e7
#
# Every size runs on each shape (`leakscope generate --shape`): standard (0.3 cache rows per
# delivery, native UTC timestamps) and cache-heavy (a cache row or more per delivery, a session
# row per ten, int64 epoch-millisecond timestamps).
#
# Environment (all optional):
#   RUNS=3                         timed runs of each tool per size, alternated
#   BENCH_DIR=$HOME/.cache/leakscope-bench   datasets, outputs, venv and results (outside the repo)
#   CARGO_TARGET_DIR=$HOME/.cache/leakscope-target
#   SCENARIO=cache-key-collision SEED=1      what `leakscope generate` simulates
#   SHAPES="standard cache-heavy"  the dataset shapes, in this order
#   REGENERATE=1                   generate the datasets again even if they exist (e.g. after the generator changed)
#   SKIP_BUILD=1                   use the existing release binary, don't run cargo
#   LEAKSCOPE=/path/to/leakscope   time this binary instead (implies SKIP_BUILD=1)
#   DUCKDB_THREADS=2 DUCKDB_MEMORY_LIMIT=16GB   DuckDB settings (see bench/README.md)
#   PYTHON=python3                 the interpreter the venv is made from
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/.." && pwd)"
RUNS="${RUNS:-3}"
BENCH_DIR="${BENCH_DIR:-$HOME/.cache/leakscope-bench}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/leakscope-target}"
SCENARIO="${SCENARIO:-cache-key-collision}"
SEED="${SEED:-1}"
read -r -a shapes <<<"${SHAPES:-standard cache-heavy}"
export DUCKDB_THREADS="${DUCKDB_THREADS:-2}"
export DUCKDB_MEMORY_LIMIT="${DUCKDB_MEMORY_LIMIT:-16GB}"
PYTHON="${PYTHON:-python3}"
VENV="$BENCH_DIR/venv"
leakscope="${LEAKSCOPE:-$CARGO_TARGET_DIR/release/leakscope}"
[[ -z "${LEAKSCOPE:-}" ]] || SKIP_BUILD=1

die() { echo "bench: $*" >&2; exit 1; }
say() { echo "bench: $*" >&2; }

[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive integer, got '$RUNS'"
[[ -x /usr/bin/time ]] || die "/usr/bin/time not found (GNU time; Debian package 'time')"
/usr/bin/time -v true >/dev/null 2>&1 || die "/usr/bin/time does not support -v (need GNU time)"
command -v "$PYTHON" >/dev/null || die "$PYTHON not found"

sizes=("$@")
[[ ${#sizes[@]} -gt 0 ]] || sizes=(1e6 1e7)
counts=()
for s in "${sizes[@]}"; do
  n="$("$PYTHON" -c 'import sys
try:
    v = float(sys.argv[1]); assert v >= 1 and v == int(v); print(int(v))
except Exception:
    sys.exit(1)' "$s")" || die "size '$s' is not a positive whole number (examples: 1e6, 2500000)"
  counts+=("$n")
done

mkdir -p "$BENCH_DIR/data" "$BENCH_DIR/out"

# 1. leakscope, release build.
if [[ "${SKIP_BUILD:-}" != 1 ]]; then
  command -v cargo >/dev/null || die "cargo not found: install a Rust toolchain or set SKIP_BUILD=1"
  say "building leakscope (release) into $CARGO_TARGET_DIR"
  (cd "$repo" && cargo build --release --locked --quiet) || die "cargo build --release failed"
fi
[[ -x "$leakscope" ]] || die "no leakscope binary at $leakscope (build it, or unset SKIP_BUILD / LEAKSCOPE)"

# 2. The DuckDB peer's venv, re-installed when requirements.txt changes.
req="$here/requirements.txt"
stamp="$VENV/.requirements.sha256"
want="$(sha256sum "$req" | cut -d' ' -f1)"
if [[ ! -x "$VENV/bin/python" || ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  say "creating $VENV with $(basename "$req")"
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV" || die "python venv failed (Debian: apt-get install python3-venv)"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$req" || die "pip install -r $req failed"
  echo "$want" >"$stamp"
fi
duckdb_version="$("$VENV/bin/python" -c 'import duckdb; print(duckdb.__version__)')"

# Seconds and peak RSS (KiB) from a `/usr/bin/time -v` report.
wall_s() { awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s }' "$1"; }
rss_kb() { awk -F': ' '/Maximum resident set size/ { print $2 }' "$1"; }
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
maxof() { sort -g | tail -n1; }

# One timed run: tool name, dataset, output dir; sets W (wall seconds) and K (peak RSS, KiB).
# Fails loudly, with the end of the tool's stderr, if the tool fails.
timed() {
  local tool="$1" ds="$2" out="$3"
  rm -rf "$out"
  mkdir -p "$out"
  local cmd
  if [[ "$tool" == leakscope ]]; then
    cmd=("$leakscope" --quiet --verbose analyze "$ds" --out "$out")
  else
    cmd=("$VENV/bin/python" "$here/duckdb_leaks.py" "$ds" --out "$out" --threads "$DUCKDB_THREADS" --memory-limit "$DUCKDB_MEMORY_LIMIT")
  fi
  if ! /usr/bin/time -v -o "$out.time" "${cmd[@]}" >"$out.stdout" 2>"$out.stderr"; then
    tail -n 20 "$out.stderr" >&2
    # The peer failing (e.g. its spill filling the disk at 10^8) is a result, recorded as such;
    # leakscope failing is not.
    [[ "$tool" == duckdb ]] || die "$tool failed on $ds (full log: $out.stderr)"
    say "$tool failed on $ds after $(wall_s "$out.time") s at $(($(rss_kb "$out.time") / 1024)) MiB (full log: $out.stderr); recorded as failed"
    return 1
  fi
  W="$(wall_s "$out.time")"
  K="$(rss_kb "$out.time")"
  [[ -n "$W" && -n "$K" ]] || die "could not read wall time and peak RSS from $out.time"
}

results="$BENCH_DIR/results-$(date -u +%Y%m%dT%H%M%SZ).tsv"
printf 'shape\tdeliveries\tleakscope_s\tduckdb_s\tratio\tleakscope_rss_mib\tduckdb_rss_mib\tcounts\n' >"$results"
rows=()
failed=0

for n in "${counts[@]}"; do
for shape in "${shapes[@]}"; do
  ds="$BENCH_DIR/data/$SCENARIO-$shape-seed$SEED-$n"
  # 3. The dataset: generated once, reused while its completion marker is there.
  if [[ ! -f "$ds/.complete" || "${REGENERATE:-}" == 1 ]]; then
    say "generating $n deliveries ($SCENARIO, $shape, seed $SEED) into $ds"
    rm -rf "$ds" "$ds.partial"
    "$leakscope" --quiet generate --scenario "$SCENARIO" --shape "$shape" --seed "$SEED" --deliveries "$n" --format parquet --out "$ds.partial" \
      || die "leakscope generate failed for $n deliveries ($shape)"
    mv "$ds.partial" "$ds"
    touch "$ds/.complete"
  else
    say "reusing $ds"
  fi
  # Warm the page cache so the first timed run is not the only one reading from disk.
  find "$ds" -type f -name '*.parquet' -exec cat {} + >/dev/null

  # 4. Alternate the two tools (L D, D L, L D, ...), RUNS times each.
  out="$BENCH_DIR/out/$shape-$n"
  l_wall=() l_rss=() d_wall=() d_rss=() d_failed=()
  for ((r = 1; r <= RUNS; r++)); do
    if ((r % 2)); then order=(leakscope duckdb); else order=(duckdb leakscope); fi
    for tool in "${order[@]}"; do
      if ! timed "$tool" "$ds" "$out/$tool-$r"; then
        d_failed+=("$r")
        continue
      fi
      w="$W" k="$K"
      say "$shape, $n deliveries, run $r/$RUNS, $tool: ${w} s, $((k / 1024)) MiB"
      if [[ "$tool" == leakscope ]]; then l_wall+=("$w") l_rss+=("$k"); else d_wall+=("$w") d_rss+=("$k"); fi
    done
  done

  # 5. Same counts: every run of both tools against leakscope's first.
  verdict="equal"
  for ((r = 1; r <= RUNS; r++)); do
    for tool in leakscope duckdb; do
      [[ -f "$out/$tool-$r/summary.json" ]] || continue
      if ! "$PYTHON" "$here/compare_summaries.py" "$out/leakscope-1/summary.json" "$out/$tool-$r/summary.json" >/dev/null; then
        verdict="DIFFER"
      fi
    done
  done
  if [[ "$verdict" != equal ]]; then
    failed=1
    say "summary.json counts differ for $n deliveries, $shape (see above; outputs in $out)"
  fi

  say "leakscope stages, last run at $n deliveries, $shape (seconds, peak RSS MiB):"
  "$PYTHON" -c 'import json, sys
for t in json.load(open(sys.argv[1]))["timings"]:
    print("bench:   %-10s %9.2f s %8s MiB" % (t["stage"], t["seconds"], t.get("peak_rss_mib")), file=sys.stderr)' "$out/leakscope-$RUNS/manifest.json" || true

  lw="$(printf '%.2f' "$(printf '%s\n' "${l_wall[@]}" | median)")"
  lr="$(printf '%s\n' "${l_rss[@]}" | maxof)"
  if ((${#d_wall[@]} > 0)); then
    dw="$(printf '%.2f' "$(printf '%s\n' "${d_wall[@]}" | median)")"
    dr="$(($(printf '%s\n' "${d_rss[@]}" | maxof) / 1024))"
    ratio="$(awk -v a="$lw" -v b="$dw" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }')"
  else
    dw=failed dr=- ratio=- verdict="no peer"
  fi
  ((${#d_failed[@]} == 0)) || say "duckdb failed in run(s) ${d_failed[*]} at $n deliveries, $shape"
  row="$(printf '%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s' "$shape" "$n" "$lw" "$dw" "$ratio" $((lr / 1024)) "$dr" "$verdict")"
  rows+=("$row")
  printf '%s\n' "$row" >>"$results"
done
done

# 6. The table and the issue's targets.
echo
echo "leakscope $("$leakscope" --version | awk '{ print $NF }') vs DuckDB $duckdb_version ($DUCKDB_THREADS threads, memory_limit $DUCKDB_MEMORY_LIMIT); $RUNS runs each, median wall time, max peak RSS; $(nproc) CPUs"
printf '%-12s %-12s %12s %12s %10s %12s %12s %8s\n' shape deliveries "leakscope s" "duckdb s" "ratio L/D" "L RSS MiB" "D RSS MiB" counts
for row in "${rows[@]}"; do
  IFS=$'\t' read -r shape n lw dw ratio lr dr verdict <<<"$row"
  printf '%-12s %-12s %12s %12s %10s %12s %12s %8s\n' "$shape" "$n" "$lw" "$dw" "$ratio" "$lr" "$dr" "$verdict"
  # The targets of issue 18 (bench/README.md).
  case "$n" in
    1000000) ok=$(awk -v w="$lw" 'BEGIN { print (w <= 1.5) ? "met" : "NOT met" }')
      echo "  target 10^6 (at most 1.5 s): $ok" ;;
    10000000) ok=$(awk -v w="$lw" -v r="$ratio" -v a="$lr" 'BEGIN { print (w <= 10 && a <= 3072 && r != "-" && r <= 0.2) ? "met" : "NOT met" }')
      echo "  target 10^7 (at most 10 s and 3 GiB, at least 5x faster than DuckDB): $ok" ;;
    100000000) ok=$(awk -v w="$lw" -v a="$lr" 'BEGIN { print (w <= 120 && a <= 12288) ? "met" : "NOT met" }')
      echo "  target 10^8 (at most 2 minutes and 12 GiB): $ok" ;;
  esac
done
echo "results: $results"
exit "$failed"
