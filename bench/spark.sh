#!/usr/bin/env bash
# The Spark path against the single-node run on the benchmark datasets: wall time and peak memory
# of each whole command, alternated, and a byte comparison of their outputs (timings.json aside).
#
#   bench/spark.sh [SIZE ...]        sizes as 1e6, 1e7 or plain integers; default: 1e6 1e7
#
# Environment (all optional): RUNS=1, BENCH_DIR=$HOME/.cache/leakscope-bench (datasets from
# bench/run.sh, generated here if missing), LEAKSCOPE=<release binary>, MASTER='local-cluster[3,1,1024]',
# PARTITIONS=3, SPARK_VENV=$HOME/.cache/leakscope-spark-venv (spark/run_tests.sh makes it),
# SHAPES="standard cache-heavy".
#
# Peak memory is /usr/bin/time's maximum resident set of the largest process of the command's
# tree: for the Spark path, the finalize kernel on the driver; the executors' JVMs are apart.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/.." && pwd)"
RUNS="${RUNS:-1}"
BENCH_DIR="${BENCH_DIR:-$HOME/.cache/leakscope-bench}"
leakscope="${LEAKSCOPE:-${CARGO_TARGET_DIR:-$HOME/.cache/leakscope-target}/release/leakscope}"
MASTER="${MASTER:-local-cluster[3,1,1024]}"
PARTITIONS="${PARTITIONS:-3}"
python="${SPARK_VENV:-$HOME/.cache/leakscope-spark-venv}/bin/python"
read -r -a shapes <<<"${SHAPES:-standard cache-heavy}"
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1e6 1e7)

[ -x "$leakscope" ] || { echo "bench: no release binary at $leakscope (cargo build --release)" >&2; exit 1; }
[ -x "$python" ] || { echo "bench: no Spark venv at $python (bash spark/run_tests.sh makes it)" >&2; exit 1; }

number() { python3 -c "print(int(float('$1')))"; }
timed() {  # timed <log> <command...>: prints "<seconds> <peak MB>"
  local log="$1"; shift
  /usr/bin/time -v "$@" >"$log" 2>&1 || { echo "bench: failed: $* (see $log)" >&2; exit 1; }
  awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,t,":"); s=(n==3)?t[1]*3600+t[2]*60+t[3]:t[1]*60+t[2]}
              /Maximum resident set size/ {m=$2/1024} END {printf "%.1f %.0f\n", s, m}' "$log"
}

printf "%-11s %-10s %-4s %10s %10s %10s %10s %7s %14s %14s\n" shape deliveries run single_s single_MB spark_s spark_MB ratio staged_B/dlv shuffled_B/dlv
for size in "${sizes[@]}"; do
  n="$(number "$size")"
  for shape in "${shapes[@]}"; do
    data="$BENCH_DIR/data/cache-key-collision-$shape-seed1-$n"
    if [ ! -d "$data" ]; then
      "$leakscope" generate --scenario cache-key-collision --seed 1 --deliveries "$n" --format parquet \
        --shape "$shape" --out "$data" --quiet
    fi
    for run in $(seq 1 "$RUNS"); do
      out="$BENCH_DIR/spark-out"
      rm -rf "$out/single" "$out/spark"
      mkdir -p "$out"
      read -r s_s s_mb < <(timed "$out/single.log" "$leakscope" analyze "$data" --out "$out/single")
      read -r p_s p_mb < <(timed "$out/spark.log" "$python" "$repo/spark/leakscope_spark.py" analyze "$data" \
        --out "$out/spark" --master "$MASTER" --partitions "$PARTITIONS" --binary "$leakscope" \
        --trace "$out/trace.json")
      for f in $(cd "$out/single" && find . -type f ! -name timings.json | sort); do
        cmp -s "$out/single/$f" "$out/spark/$f" || { echo "bench: $f differs ($shape, $n)" >&2; exit 1; }
      done
      payload="$(python3 -c "import json; print(json.load(open('$out/trace.json'))['payload_bytes'] // $n)")"
      shuffled="$(python3 -c "import json; print(json.load(open('$out/trace.json'))['shuffled_bytes'] // $n)")"
      ratio="$(python3 -c "print(f'{$p_s / $s_s:.2f}')")"
      printf "%-11s %-10s %-4s %10s %10s %10s %10s %7s %14s %14s\n" "$shape" "$n" "$run" "$s_s" "$s_mb" "$p_s" "$p_mb" "$ratio" "$payload" "$shuffled"
    done
  done
done
