#!/usr/bin/env python3
"""Compare the contract §5 counts of two summary.json files; exit 1 and print the differences if any differ.

    python3 bench/compare_summaries.py leakscope/summary.json duckdb/summary.json
"""

import json
import sys

KEYS = (
    "deliveries",
    "leak_deliveries",
    "ambiguous_deliveries",
    "unresolved_deliveries",
    "ok_deliveries",
    "exposed_accounts",
    "recipient_accounts",
    "exposure_pairs",
    "leaked_objects",
    "viewed_leak_deliveries",
    "exposed_accounts_viewed",
    "first_leak",
    "last_leak",
)


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    a, b = (json.load(open(p)) for p in sys.argv[1:3])
    diff = [(k, a.get(k, "<missing>"), b.get(k, "<missing>")) for k in KEYS if a.get(k, "<missing>") != b.get(k, "<missing>")]
    for k, x, y in diff:
        print(f"  {k}: {x} vs {y}", file=sys.stderr)
    if diff:
        print(f"summaries differ on {len(diff)} of {len(KEYS)} keys: {sys.argv[1]} vs {sys.argv[2]}", file=sys.stderr)
        return 1
    print(f"all {len(KEYS)} summary keys equal ({a['deliveries']} deliveries, {a['leak_deliveries']} leak)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
