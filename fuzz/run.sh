#!/usr/bin/env bash
# Runs every fuzz target for a set time (default 600 s each, two at a time on two cores), growing
# the committed corpus, then minimises it. A crash stops the script and names its input under
# fuzz/artifacts/<target>/; once fixed, copy that input to fuzz/regressions/<target>/, where
# `cargo test` replays it through the same check (tests/it/fuzz_readers.rs).
#
#   bash fuzz/run.sh [seconds-per-target] [target ...]
set -euo pipefail
cd "$(dirname "$0")"

seconds="${1:-600}"
shift || true
# cargo fuzz passes the compiler flags of a nightly toolchain; the one stable toolchain here
# accepts them this way.
export RUSTC_BOOTSTRAP=1
target_dir="${FUZZ_TARGET_DIR:-$HOME/.cache/leakscope-fuzz-target}"
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked

# No sanitizer: leakscope has no unsafe code, and without one the targets run several times faster.
fuzz=(cargo fuzz run --sanitizer none --target-dir "$target_dir")
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo fuzz list)
fi
cargo fuzz build --sanitizer none --target-dir "$target_dir"

bash seed.sh

run_one() {
  local t="$1"
  mkdir -p "corpus/$t" "artifacts/$t"
  "${fuzz[@]}" "$t" "corpus/$t" -- \
    -max_total_time="$seconds" -rss_limit_mb=4096 -max_len=65536 -print_final_stats=1 \
    >"artifacts/$t/run.log" 2>&1 || {
      echo "fuzz: $t failed; see fuzz/artifacts/$t/run.log and the crash-* input beside it" >&2
      return 1
    }
  grep -E '^stat::(number_of_executed_units|peak_rss_mb|new_units_added)' "artifacts/$t/run.log" |
    sed "s/^/$t /"
}

status=0
for ((i = 0; i < ${#targets[@]}; i += 2)); do
  pids=()
  for t in "${targets[@]:i:2}"; do
    run_one "$t" &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || status=1; done
done
[ "$status" -eq 0 ] || exit "$status"

# Keep only the inputs that add coverage, so the committed corpus stays small.
for t in "${targets[@]}"; do
  cargo fuzz cmin --sanitizer none --target-dir "$target_dir" "$t" "corpus/$t" >/dev/null 2>&1
  echo "$t corpus: $(ls "corpus/$t" | wc -l) inputs"
done
