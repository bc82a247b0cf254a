#!/usr/bin/env bash
# Seeds each target's corpus, where it is empty, from the project's worked examples: every
# fixture file a reader reads, the configuration files, and timestamps in every form.
set -euo pipefail
cd "$(dirname "$0")"
fixtures=../tests/fixtures

# A reader's input is one byte choosing the kind (or format), then the file, decompressed.
seed() {
  local target="$1" byte="$2" file="$3"
  local out="corpus/$target/seed-$(basename "$(dirname "$file")")-$(basename "$file" | tr -c 'A-Za-z0-9._\n-' _)-$byte"
  { printf "\\x$(printf %02x "$byte")"; zcat -f "$file"; } >"$out"
}

empty() { [ -z "$(ls -A "corpus/$1" 2>/dev/null)" ] && mkdir -p "corpus/$1"; }

if empty read_csv; then
  for f in "$fixtures"/mixed/*/*.csv "$fixtures"/hostile/*/*.csv; do
    for k in 0 1 2 3 4 5; do seed read_csv "$k" "$f"; done
  done
fi
if empty read_jsonl; then
  for f in "$fixtures"/mixed/*/*.jsonl; do
    for k in 0 1 2 3 4 5; do seed read_jsonl "$k" "$f"; done
  done
fi
if empty read_parquet; then
  find ../data/sample -name '*.parquet' -size -64k | head -8 | while read -r f; do
    seed read_parquet 0 "$f"
  done
fi
if empty read_logs; then
  i=0
  for d in nginx varnishncsa cloudfront cloudflare gcp keycloak; do
    dir="$fixtures/logs-$d/deliveries"
    [ "$d" = keycloak ] && dir="$fixtures/logs-$d/sessions"
    while read -r f; do seed read_logs "$i" "$f"; done < <(find "$dir" -type f | sort)
    i=$((i + 1))
  done
fi
if empty decode; then
  for f in "$fixtures"/mixed/deliveries/a.csv "$fixtures"/hostile/changes/changes.csv; do
    seed decode 16 "$f"
  done
fi
if empty dataset_toml; then
  for f in "$fixtures"/*/dataset.toml ../data/sample/dataset.toml; do
    cp "$f" "corpus/dataset_toml/seed-$(basename "$(dirname "$f")")"
  done
fi
if empty mapping; then
  for f in "$fixtures"/*/mapping.toml; do
    cp "$f" "corpus/mapping/seed-$(basename "$(dirname "$f")")"
  done
fi
if empty timestamps; then
  n=0
  for v in 2019-12-26T08:00:00Z 2019-12-26T08:00:00.123+08:00 "2019-12-26 08:00:00" \
    1577318400000 1577318400000.0 -62167219200000 253402300799999 \
    "26/Dec/2019:08:00:00 +0800" 1577318400.123 1577318400123456789 "2021-03-14 02:30:00"; do
    printf '%s' "$v" >"corpus/timestamps/seed-$n"
    n=$((n + 1))
  done
fi
