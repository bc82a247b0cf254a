#!/usr/bin/env python3
"""DuckDB peer of `leakscope analyze`: contract §4 in SQL, for the benchmark only.

    python bench/duckdb_leaks.py <dataset> --out <dir> [--threads 2] [--memory-limit 16GB]

Reads `<dataset>/{deliveries,cache,sessions,ownership}/` (Parquet, CSV, JSON
Lines, optionally .gz/.zst compressed), applies `dataset.toml` (`timezone`,
`tolerance`, `session_ttl`, `clock_offset_ms`), classifies every delivery as
docs/SEMANTICS.md states, and writes `<dir>/summary.json` with the same
headline keys as leakscope's.

It is the "script an investigator would write" that issue 6 measures
leakscope against, not part of the product. Row checks are light: rows with a
missing required value, an unknown enumeration value, an unparseable timestamp
(including naive times without a `timezone`), a non-numeric bytes/rtt_ms/
loss_pct or a non-boolean viewed are dropped and counted, not quarantined.
Timestamp forms are recognised per value rather than voted per file, which
only differs from leakscope on malformed files.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import sys
import time
import tomllib
from pathlib import Path

import duckdb

# Column roles per kind: (name, role, required). Roles: time, text, enum, num, bool.
SCHEMA = {
    "deliveries": [
        ("ts", "time", True),
        ("session_id", "text", True),
        ("requested_stream_id", "text", True),
        ("cache_node", "text", True),
        ("cache_key", "text", True),
        ("cache_status", "enum", True),
        ("request_id", "text", False),
        ("object_id", "text", False),
        ("origin_stream_id", "text", False),
        ("captured_at", "time", False),
        ("kind", "text", False),
        ("bytes", "num", False),
        ("viewed", "bool", False),
        ("server", "text", False),
        ("rtt_ms", "num", False),
        ("loss_pct", "num", False),
    ],
    "cache": [
        ("ts", "time", True),
        ("cache_node", "text", True),
        ("cache_key", "text", True),
        ("op", "enum", True),
        ("object_id", "text", False),
        ("origin_stream_id", "text", False),
        ("captured_at", "time", False),
        ("config_version", "text", False),
    ],
    "sessions": [
        ("ts", "time", True),
        ("session_id", "text", True),
        ("event", "enum", True),
        ("account_id", "text", False),
        ("client", "text", False),
        ("integration", "text", False),
    ],
    "ownership": [
        ("ts", "time", True),
        ("stream_id", "text", True),
        ("account_id", "text", True),
        ("event", "enum", True),
    ],
}
ENUMS = {
    ("deliveries", "cache_status"): ("hit", "miss", "bypass"),
    ("cache", "op"): ("fill", "evict", "purge"),
    ("sessions", "event"): ("start", "end"),
    ("ownership", "event"): ("bind", "unbind", "grant", "revoke"),
}
# Required only on some rows: (kind, column) -> SQL condition on the normalized enum.
REQUIRED_WHEN = {
    ("cache", "object_id"): "op = 'fill'",
    ("cache", "origin_stream_id"): "op = 'fill'",
    ("sessions", "account_id"): "event = 'start'",
}

FORMATS = {
    "parquet": (".parquet",),
    "csv": (".csv", ".csv.gz", ".csv.zst"),
    "json": (".jsonl", ".ndjson", ".jsonl.gz", ".ndjson.gz", ".jsonl.zst", ".ndjson.zst"),
}

# Shapes of the three timestamp forms (contract §2), as leakscope recognises them.
RE_EPOCH = r"^-?[0-9]+$"
RE_DATED = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}"
RE_RFC3339 = RE_DATED + r"(\.[0-9]+)?([Zz]|[+-][0-9]{2}:?[0-9]{2})$"
RE_NAIVE = RE_DATED + r"(\.[0-9]+)?$"


INTEGER_TYPES = ("BIGINT", "INTEGER", "HUGEINT", "SMALLINT", "TINYINT", "UBIGINT", "UINTEGER", "USMALLINT", "UTINYINT")


def die(msg: str) -> None:
    print(f"duckdb_leaks: {msg}", file=sys.stderr)
    sys.exit(1)


def sql_str(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def ident(s: str) -> str:
    return '"' + s.replace('"', '""') + '"'


def parse_duration_ms(text: str, key: str) -> int:
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*(ms|s|m|h|d)\s*", str(text))
    if not m:
        die(f"dataset.toml: {key} = {text!r} is not <number><unit> (ms, s, m, h, d)")
    factor = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}[m.group(2)]
    return round(float(m.group(1)) * factor)


def load_settings(dataset: Path) -> dict:
    s = {"timezone": None, "tolerance_ms": 2_000, "session_ttl_ms": 86_400_000, "clock_offset_ms": {}}
    p = dataset / "dataset.toml"
    if not p.exists():
        return s
    t = tomllib.loads(p.read_text())
    if "timezone" in t:
        s["timezone"] = str(t["timezone"])
    if "tolerance" in t:
        s["tolerance_ms"] = parse_duration_ms(t["tolerance"], "tolerance")
    if "session_ttl" in t:
        s["session_ttl_ms"] = parse_duration_ms(t["session_ttl"], "session_ttl")
    for name, v in (t.get("clock_offset_ms") or {}).items():
        s["clock_offset_ms"][str(name)] = int(round(float(v)))
    return s


def list_files(folder: Path) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {f: [] for f in FORMATS}
    if not folder.is_dir():
        return groups
    for p in sorted(folder.rglob("*")):
        if not p.is_file():
            continue
        name = p.name.lower()
        for fmt, exts in FORMATS.items():
            if name.endswith(exts):
                groups[fmt].append(str(p))
                break
        else:
            print(f"duckdb_leaks: skipping {p} (unknown extension)", file=sys.stderr)
    return groups


def floor_ms(us_expr: str, per_ms: int) -> str:
    """Floor division of an epoch value in sub-millisecond units to milliseconds."""
    return f"(({us_expr}) - ((({us_expr}) % {per_ms}) + {per_ms}) % {per_ms}) // {per_ms}"


def naive_to_ms(ts_expr: str, tz: str | None) -> str:
    """A naive TIMESTAMP read in `tz`; NULL when no zone or the local time does not exist; earlier instant when it occurs twice."""
    if tz is None:
        return "NULL::BIGINT"
    z = sql_str(tz)
    # u: ICU's instant (the later one when ambiguous). e: the instant with the offset in force 6 h earlier.
    u = f"timezone({z}, {ts_expr})"
    off_before = f"(timezone({z}, {u} - INTERVAL 6 HOUR) - ({u} - INTERVAL 6 HOUR)::TIMESTAMP)"
    e = f"(({ts_expr}) - {off_before})::TIMESTAMPTZ"
    pick = f"CASE WHEN timezone({z}, {e}) = ({ts_expr}) AND {e} < {u} THEN {e} ELSE {u} END"
    ms = floor_ms(f"epoch_us({pick})", 1000)
    return f"CASE WHEN timezone({z}, {u}) = ({ts_expr}) THEN {ms} END"


def time_expr(col: str, typ: str, tz: str | None) -> str:
    """Epoch milliseconds (BIGINT) from a column of DuckDB type `typ`; NULL when absent or unparseable."""
    c = ident(col)
    t = typ.upper()
    if t in INTEGER_TYPES:
        return f"CAST({c} AS BIGINT)"
    if t in ("DOUBLE", "FLOAT") or t.startswith("DECIMAL"):
        return f"CASE WHEN {c} = floor({c}) THEN CAST({c} AS BIGINT) END"
    if t in ("TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ"):
        return floor_ms(f"epoch_us({c})", 1000)
    if t.startswith("TIMESTAMP") or t == "DATE":  # no zone: naive, read in the dataset's timezone
        return naive_to_ms(f"CAST({c} AS TIMESTAMP)", tz)
    v = f"NULLIF(CAST({c} AS VARCHAR), '')" if t != "JSON" else f"NULLIF(json_extract_string({c}, '$'), '')"
    rfc = f"regexp_replace(regexp_replace({v}, '^(.{{10}})[t ]', '\\1T'), '[z]$', 'Z')"
    return (
        f"CASE WHEN regexp_full_match({v}, '{RE_EPOCH}') THEN TRY_CAST({v} AS BIGINT) "
        f"WHEN regexp_full_match({v}, '{RE_RFC3339}') THEN {floor_ms(f'epoch_us(TRY_CAST({rfc} AS TIMESTAMPTZ))', 1000)} "
        f"WHEN regexp_full_match({v}, '{RE_NAIVE}') THEN {naive_to_ms(f'TRY_CAST(replace(upper({v}), chr(84), chr(32)) AS TIMESTAMP)', tz)} "
        f"END"
    )


def raw_present(col: str, typ: str) -> str:
    c = ident(col)
    if typ.upper() == "VARCHAR":
        return f"({c} IS NOT NULL AND {c} <> '')"
    if typ.upper() == "JSON":
        return f"(NULLIF(json_extract_string({c}, '$'), '') IS NOT NULL)"
    return f"({c} IS NOT NULL)"


def text_expr(col: str, typ: str) -> str:
    c = ident(col)
    if typ.upper() == "VARCHAR":
        return f"NULLIF({c}, '')"
    if typ.upper() == "JSON":
        return f"NULLIF(json_extract_string({c}, '$'), '')"
    return f"NULLIF(CAST({c} AS VARCHAR), '')"


def num_expr(col: str, typ: str) -> str:
    c = ident(col)
    if typ.upper() in ("VARCHAR", "JSON"):
        return f"TRY_CAST(trim({text_expr(col, typ)}) AS DOUBLE)"
    return f"TRY_CAST({c} AS DOUBLE)"


def bool_expr(col: str, typ: str) -> str:
    c = ident(col)
    if typ.upper() == "BOOLEAN":
        return c
    return f"CASE lower({text_expr(col, typ)}) WHEN 'true' THEN true WHEN 'false' THEN false END"


class Reader:
    def __init__(self, con: duckdb.DuckDBPyConnection, dataset: Path, settings: dict):
        self.con, self.dataset, self.settings = con, dataset, settings

    def source(self, fmt: str, files: list[str]) -> str:
        lst = "[" + ", ".join(sql_str(f) for f in files) + "]"
        if fmt == "parquet":
            return f"read_parquet({lst}, union_by_name = true)"
        if fmt == "csv":
            return (f"read_csv({lst}, header = true, delim = ',', quote = '\"', escape = '\"', all_varchar = true, "
                    f"union_by_name = true, ignore_errors = true)")
        return f"read_json({lst}, format = 'newline_delimited', union_by_name = true, sample_size = -1, ignore_errors = true)"

    def sources(self, groups: dict[str, list[str]]):
        """(format, SQL source, column types) per set of files that share a schema.

        Files are read together when their columns and types agree, so that a
        timestamp column typed differently in two files (say TIMESTAMPTZ and
        VARCHAR) is parsed by each file's own type, not by a unified one.
        """
        for fmt, files in groups.items():
            if not files:
                continue
            if fmt == "csv":  # read as text throughout: one source is enough
                by_schema = {None: files}
            else:
                by_schema: dict = {}
                for f in files:
                    desc = self.con.sql(f"DESCRIBE SELECT * FROM {self.source(fmt, [f])}").fetchall()
                    by_schema.setdefault(tuple((r[0], r[1]) for r in desc), []).append(f)
            for fs in by_schema.values():
                src = self.source(fmt, fs)
                desc = self.con.sql(f"DESCRIBE SELECT * FROM {src}").fetchall()
                yield fmt, src, {r[0]: r[1] for r in desc}

    def normalized(self, kind: str) -> tuple[str, list[str]]:
        """SQL for the kind's rows with contract columns parsed, unknown columns as text, and `_ok`; and the column list."""
        groups = list_files(self.dataset / kind)
        tz = self.settings["timezone"]
        parts, all_cols = [], []
        for fmt, src, types in self.sources(groups):
            files = groups[fmt]
            sel, bad = [], []
            for name, role, required in SCHEMA[kind]:
                if name not in types:
                    if required:
                        die(f"{kind}: files {files[:3]}... have no column {name!r}")
                    sel.append(f"NULL::{ {'time': 'BIGINT', 'num': 'DOUBLE', 'bool': 'BOOLEAN'}.get(role, 'VARCHAR') } AS {ident(name)}")
                    continue
                typ = types[name]
                never_bad = typ.upper() in INTEGER_TYPES + ("TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ") or (
                    role == "num" and typ.upper() in INTEGER_TYPES + ("DOUBLE", "FLOAT")) or (
                    role == "bool" and typ.upper() == "BOOLEAN")
                if role == "time":
                    e = time_expr(name, typ, tz)
                    if not never_bad:
                        bad.append(f"({raw_present(name, typ)} AND ({e}) IS NULL)")
                elif role == "enum":
                    e = f"lower({text_expr(name, typ)})"
                    allowed = ", ".join(sql_str(v) for v in ENUMS[(kind, name)])
                    bad.append(f"({raw_present(name, typ)} AND {e} NOT IN ({allowed}))")
                elif role == "num":
                    e = num_expr(name, typ)
                    if not never_bad:
                        bad.append(f"({raw_present(name, typ)} AND ({e}) IS NULL)")
                elif role == "bool":
                    e = bool_expr(name, typ)
                    if not never_bad:
                        bad.append(f"({raw_present(name, typ)} AND ({e}) IS NULL)")
                else:
                    e = text_expr(name, typ)
                sel.append(f"{e} AS {ident(name)}")
            known = {n for n, _, _ in SCHEMA[kind]}
            extra = [c for c in types if c not in known]
            for c in extra:
                sel.append(f"{text_expr(c, types[c])} AS {ident(c)}")
                if c not in all_cols:
                    all_cols.append(c)
            bad_sql = " OR ".join(bad) if bad else "false"
            parts.append(f"SELECT {', '.join(sel)}, NOT coalesce({bad_sql}, false) AS _ok FROM {src}")
        if not parts:
            die(f"no readable files in {self.dataset / kind}")
        base = " UNION ALL BY NAME ".join(f"({p})" for p in parts)
        # Required values (after normalisation) and conditionally required ones.
        req = [f"{ident(n)} IS NOT NULL" for n, _, r in SCHEMA[kind] if r]
        req += [f"({ident(c)} IS NOT NULL OR NOT ({cond}))" for (k, c), cond in REQUIRED_WHEN.items() if k == kind]
        cols = [n for n, _, _ in SCHEMA[kind]] + all_cols
        return f"SELECT * EXCLUDE (_ok), _ok AND {' AND '.join(req)} AS _ok FROM ({base}) AS _u", cols


def offset_case(col: str, offsets: dict[str, int]) -> str:
    if not offsets:
        return "0"
    whens = " ".join(f"WHEN {sql_str(k)} THEN {int(v)}" for k, v in offsets.items())
    return f"(CASE {ident(col)} {whens} ELSE 0 END)"


VERBOSE = bool(os.environ.get("DUCKDB_LEAKS_VERBOSE"))
_T0 = time.monotonic()


def log(what: str) -> None:
    if VERBOSE:
        print(f"duckdb_leaks: {time.monotonic() - _T0:7.2f} s  {what}", file=sys.stderr)


def peak_rss_mb() -> float:
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class TimedConnection:
    """Logs the duration of every statement (DUCKDB_LEAKS_VERBOSE=1)."""

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.con = con

    def execute(self, sql: str):
        start = time.monotonic()
        r = self.con.execute(sql)
        head = " ".join(sql.split())[:90]
        log(f"{time.monotonic() - start:6.2f} s  peak {peak_rss_mb():6.0f} MB  {head}")
        return r

    def __getattr__(self, name):
        return getattr(self.con, name)


SHIFTS = ("m", "z", "p")


def verdict_ctes(prev: str) -> list[str]:
    """The verdict of each shift (NULL when something is missing, else authorized or not) and the missing reason at t."""
    auth = {s: f"CASE WHEN rec_{s} IS NOT NULL AND origin_{s} IS NOT NULL AND subj_{s} IS NOT NULL "
               f"THEN rec_{s} = subj_{s} OR coalesce(gr_{s}, false) END" for s in SHIFTS}
    return [f"""v AS (SELECT *, {auth['m']} AS a_m, {auth['z']} AS a_z, {auth['p']} AS a_p,
        CASE WHEN rec_z IS NULL THEN 'no_session' WHEN origin_z IS NULL THEN 'no_content'
             WHEN subj_z IS NULL THEN 'no_owner' END AS missing FROM {prev})"""]


def wide_plan(tol: int, n_purges: int, n_grants: int, object_from_delivery: bool) -> list[str]:
    """One row per delivery throughout; each shift gets its own as-of joins and columns (*_m, *_z, *_p)."""
    shifts = {"m": -tol, "z": 0, "p": tol}
    steps = [f"SELECT *, {', '.join(f'ts + ({d}) AS t_{s}' for s, d in shifts.items())} FROM dl"]

    def step(sql: str) -> None:
        steps.append(sql.replace("{prev}", f"q{len(steps) - 1}"))

    # 1. recipient
    for s in shifts:
        step(f"SELECT q.*, CASE WHEN q.t_{s} < w.s_end THEN w.account END AS rec_{s} "
             f"FROM {{prev}} q ASOF LEFT JOIN win w ON q.session_id = w.session_id AND q.t_{s} >= w.s_start")
    # 2. content: the delivery's own origin, else what the cache key held at t+d.
    named_cols = ", ".join(
        f"origin_stream_id AS origin_{s}, coalesce(captured_at, ts) AS cap_{s}, object_id AS obj_{s}, "
        f"NULL::BIGINT AS fill_{s}" for s in shifts)
    cache_steps = [f"SELECT * FROM {{base}} WHERE origin_stream_id IS NULL"]
    for s in shifts:
        cache_steps.append(
            f"SELECT q.*, c.f AS f_{s}, c.c_ts AS cts_{s} FROM {{prev}} q ASOF LEFT JOIN cst c "
            f"ON q.cache_node = c.c_node AND q.cache_key = c.c_key AND q.t_{s} >= c.c_ts")
        if n_purges:
            cache_steps.append(
                f"SELECT q.*, p.p_ts AS pts_{s} FROM {{prev}} q ASOF LEFT JOIN purges p "
                f"ON q.cache_node = p.p_node AND q.t_{s} >= p.p_ts")
    held = {s: f"(f_{s} IS NOT NULL" + (f" AND (pts_{s} IS NULL OR pts_{s} <= cts_{s}))" if n_purges else ")") for s in shifts}
    cache_cols = ", ".join(
        f"CASE WHEN {held[s]} THEN f_{s}.origin END AS origin_{s}, "
        f"CASE WHEN {held[s]} THEN coalesce(f_{s}.cap, cts_{s}) END AS cap_{s}, "
        f"CASE WHEN {held[s]} THEN {'coalesce(object_id, ' if object_from_delivery else '('}f_{s}.obj) END AS obj_{s}, "
        f"CASE WHEN {held[s]} THEN cts_{s} END AS fill_{s}" for s in shifts)
    base_idx = len(steps) - 1
    ctes = [f"q{i} AS ({sql})" for i, sql in enumerate(steps)]
    prev = f"q{base_idx}"
    for i, sql in enumerate(cache_steps):
        name = f"c{i}"
        ctes.append(f"{name} AS ({sql.replace('{base}', f'q{base_idx}').replace('{prev}', prev)})")
        prev = name
    keep = "ts, request_id, viewed, " + ", ".join(f"t_{s}, rec_{s}" for s in shifts)
    ctes.append(
        f"u AS (SELECT {keep}, {named_cols} FROM q{base_idx} WHERE origin_stream_id IS NOT NULL "
        f"UNION ALL SELECT {keep}, {cache_cols} FROM {prev})")
    prev = "u"
    # 3. subject: owner of the origin at capture time + d.  4. grant of the recipient at t + d.
    k = 0
    for s, d in shifts.items():
        ctes.append(f"o{k} AS (SELECT q.*, o.owner AS subj_{s} FROM {prev} q ASOF LEFT JOIN own o "
                    f"ON q.origin_{s} = o.o_stream AND q.cap_{s} + ({d}) >= o.o_ts)")
        prev = f"o{k}"
        k += 1
        if n_grants:
            ctes.append(f"o{k} AS (SELECT q.*, g.granted AS gr_{s} FROM {prev} q ASOF LEFT JOIN gr g "
                        f"ON q.origin_{s} = g.g_stream AND q.rec_{s} = g.g_account AND q.t_{s} >= g.g_ts)")
        else:
            ctes.append(f"o{k} AS (SELECT *, false AS gr_{s} FROM {prev})")
        prev = f"o{k}"
        k += 1
    return ctes + verdict_ctes(prev)


def stacked_plan(tol: int, n_purges: int, n_grants: int, object_from_delivery: bool) -> list[str]:
    """Three rows per delivery (one per shift) through one as-of join per timeline, then one group per delivery."""
    held = "(c.f IS NOT NULL" + (" AND (p.p_ts IS NULL OR p.p_ts <= c.c_ts))" if n_purges else ")")
    purge_join = "ASOF LEFT JOIN purges p ON r.cache_node = p.p_node AND r.t >= p.p_ts" if n_purges else ""
    obj = "coalesce(r.object_id, c.f.obj)" if object_from_delivery else "c.f.obj"
    grant = ("SELECT o.*, g.granted AS gr FROM o ASOF LEFT JOIN gr g ON o.origin = g.g_stream AND o.rec = g.g_account AND o.t >= g.g_ts"
             if n_grants else "SELECT *, false AS gr FROM o")
    pick = lambda col, k: f"any_value({col}) FILTER (WHERE shift = {k})"
    # Per look-up: NULL when something is missing, else authorized or not; and what is missing.
    auth = "CASE WHEN rec IS NOT NULL AND origin IS NOT NULL AND subj IS NOT NULL THEN rec = subj OR coalesce(gr, false) END"
    missing = ("CASE WHEN rec IS NULL THEN 'no_session' WHEN origin IS NULL THEN 'no_content' "
               "WHEN subj IS NULL THEN 'no_owner' END")
    per_shift = ", ".join(f"{pick('a', k)} AS a_{s}" for k, s in enumerate(SHIFTS))
    at_t = ", ".join(f"{pick(c, 1)} AS {c}_z" for c in ("rec", "subj", "origin", "obj", "cap", "fill", "missing"))
    return [
        f"""s AS (SELECT dl.rowid AS id, x.k AS shift, x.d, dl.ts + x.d AS t, dl.ts, dl.session_id, dl.cache_node,
                        dl.cache_key, dl.origin_stream_id, dl.captured_at, dl.object_id
                 FROM dl CROSS JOIN (VALUES (0, {-tol}), (1, 0), (2, {tol})) AS x(k, d))""",
        """r AS (SELECT s.* EXCLUDE (session_id), CASE WHEN s.t < w.s_end THEN w.account END AS rec
                 FROM s ASOF LEFT JOIN win w ON s.session_id = w.session_id AND s.t >= w.s_start)""",
        f"""u AS (SELECT id, shift, d, t, rec, origin_stream_id AS origin, coalesce(captured_at, ts) AS cap,
                        object_id AS obj, NULL::BIGINT AS fill FROM r WHERE origin_stream_id IS NOT NULL
              UNION ALL
              SELECT r.id, r.shift, r.d, r.t, r.rec,
                     CASE WHEN {held} THEN c.f.origin END,
                     CASE WHEN {held} THEN coalesce(c.f.cap, c.c_ts) END,
                     CASE WHEN {held} THEN {obj} END,
                     CASE WHEN {held} THEN c.c_ts END
              FROM (SELECT * EXCLUDE (origin_stream_id) FROM r WHERE origin_stream_id IS NULL) AS r
              ASOF LEFT JOIN cst c ON r.cache_node = c.c_node AND r.cache_key = c.c_key AND r.t >= c.c_ts
              {purge_join})""",
        """o AS (SELECT u.*, o.owner AS subj FROM u ASOF LEFT JOIN own o ON u.origin = o.o_stream AND u.cap + u.d >= o.o_ts)""",
        f"g AS ({grant})",
        f"e AS (SELECT *, {auth} AS a, {missing} AS missing FROM g)",
        f"a AS (SELECT id, {per_shift}, {at_t} FROM e GROUP BY id)",
        "v AS (SELECT dl.ts, dl.request_id, dl.viewed, a.* EXCLUDE (id) RENAME (missing_z AS missing) "
        "FROM a JOIN dl ON a.id = dl.rowid)",
    ]


def build(con: duckdb.DuckDBPyConnection, dataset: Path, settings: dict, dump: Path | None = None,
          object_from_delivery: bool = False, plan: str = "stacked") -> dict:
    rd = Reader(con, dataset, settings)
    tol, ttl, offs = settings["tolerance_ms"], settings["session_ttl_ms"], settings["clock_offset_ms"]
    rows = {}

    # --- Timelines (small next to the deliveries): materialised once. -------------------------------
    for kind in ("cache", "sessions", "ownership"):
        sql, _ = rd.normalized(kind)
        con.execute(f"CREATE TEMP VIEW {kind}_n AS {sql}")
        read, ok = con.execute(f"SELECT count(*), count(*) FILTER (WHERE _ok) FROM {kind}_n").fetchall()[0]
        rows[kind] = {"read": read, "rejected": read - ok}
    if offs:
        con.execute(f"CREATE TEMP VIEW cache_c AS SELECT * REPLACE (ts + {offset_case('cache_node', offs)} AS ts) FROM cache_n WHERE _ok")
    else:
        con.execute("CREATE TEMP VIEW cache_c AS SELECT * FROM cache_n WHERE _ok")

    # Sessions: one window per start, [start, min(next end >= start, start + ttl)); greatest account at one ms.
    con.execute(f"""
        CREATE TEMP TABLE win AS
        WITH starts AS (
            SELECT session_id, ts AS s_start, max(account_id) AS account
            FROM sessions_n WHERE _ok AND event = 'start' GROUP BY session_id, ts),
        ends AS (SELECT DISTINCT session_id, ts AS e_ts FROM sessions_n WHERE _ok AND event = 'end')
        SELECT s.session_id, s.s_start, s.account,
               least(s.s_start + {ttl}, coalesce(e.e_ts, s.s_start + {ttl})) AS s_end
        FROM starts s ASOF LEFT JOIN ends e ON s.session_id = e.session_id AND e.e_ts >= s.s_start
    """)
    # Owners: bind beats unbind at one ms; greatest account among binds. NULL owner = unbound.
    con.execute("""
        CREATE TEMP TABLE own AS
        SELECT stream_id AS o_stream, ts AS o_ts, max(account_id) FILTER (WHERE event = 'bind') AS owner
        FROM ownership_n WHERE _ok AND event IN ('bind', 'unbind') GROUP BY stream_id, ts
    """)
    # Grants: revoke beats grant at one ms.
    con.execute("""
        CREATE TEMP TABLE gr AS
        SELECT stream_id AS g_stream, account_id AS g_account, ts AS g_ts, bool_and(event = 'grant') AS granted
        FROM ownership_n WHERE _ok AND event IN ('grant', 'revoke') GROUP BY stream_id, account_id, ts
    """)
    # Cache keys: a fill beats evict/purge at one ms; greatest object id among fills. Purges of '*' apart.
    con.execute("""
        CREATE TEMP TABLE cst AS
        SELECT cache_node AS c_node, cache_key AS c_key, ts AS c_ts,
               max(struct_pack(obj := object_id, origin := origin_stream_id, cap := captured_at, cfg := config_version))
                   FILTER (WHERE op = 'fill') AS f
        FROM cache_c WHERE NOT (op = 'purge' AND cache_key = '*') GROUP BY cache_node, cache_key, ts
    """)
    con.execute("""
        CREATE TEMP TABLE purges AS
        SELECT DISTINCT cache_node AS p_node, ts AS p_ts FROM cache_c WHERE op = 'purge' AND cache_key = '*'
    """)
    n_purges = con.execute("SELECT count(*) FROM purges").fetchall()[0][0]
    n_grants = con.execute("SELECT count(*) FROM gr").fetchall()[0][0]

    # --- Deliveries: normalise, correct clocks, de-duplicate. ----------------------------------------
    dsql, dcols = rd.normalized("deliveries")
    con.execute(f"CREATE TEMP VIEW deliveries_n AS {dsql}")
    corr = offset_case("server", offs)
    need = "ts, request_id, session_id, cache_node, cache_key, origin_stream_id, captured_at, object_id, viewed"
    # Same request_id: one delivery, the earliest corrected ts (then a fixed order of the values).
    # No request_id: rows identical in every parsed column are one.
    order_rest = ", ".join(ident(c) for c in dcols if c != "ts")
    con.execute(f"""
        CREATE TEMP TABLE dl AS
        WITH v AS NOT MATERIALIZED (SELECT * REPLACE (ts + {corr} AS ts) FROM deliveries_n WHERE _ok),
        dup_ids AS (SELECT request_id FROM v WHERE request_id IS NOT NULL GROUP BY request_id HAVING count(*) > 1),
        single AS (SELECT {need} FROM v ANTI JOIN dup_ids USING (request_id) WHERE request_id IS NOT NULL),
        multi AS (
            SELECT {need} FROM v SEMI JOIN dup_ids USING (request_id)
            QUALIFY row_number() OVER (PARTITION BY request_id ORDER BY ts, {order_rest}) = 1),
        norid AS (SELECT {need} FROM (SELECT DISTINCT * EXCLUDE (_ok) FROM v WHERE request_id IS NULL))
        SELECT * FROM single UNION ALL SELECT * FROM multi UNION ALL SELECT * FROM norid
    """)
    read, ok = con.execute("SELECT count(*), count(*) FILTER (WHERE _ok) FROM deliveries_n").fetchall()[0]
    n = con.execute("SELECT count(*) FROM dl").fetchall()[0][0]
    rows["deliveries"] = {"read": read, "rejected": read - ok, "duplicates": ok - n, "accepted": n}

    # --- Look-ups at t-tol (m), t (z), t+tol (p), then one class per delivery. ----------------------
    opts = dict(tol=tol, n_purges=n_purges, n_grants=n_grants, object_from_delivery=object_from_delivery)
    ctes = (stacked_plan if plan == "stacked" else wide_plan)(**opts)
    ctes.append("""cls AS (SELECT *, CASE WHEN missing IS NOT NULL THEN 'unresolved'
        WHEN coalesce(a_m <> a_z, false) OR coalesce(a_p <> a_z, false) THEN 'ambiguous'
        WHEN a_z THEN 'ok' ELSE 'leak' END AS class FROM v)""")
    query = "WITH " + ",\n".join(ctes) + """
        SELECT count(*) AS deliveries,
               count(*) FILTER (WHERE class = 'leak') AS leak_deliveries,
               count(*) FILTER (WHERE class = 'ambiguous') AS ambiguous_deliveries,
               count(*) FILTER (WHERE class = 'unresolved') AS unresolved_deliveries,
               count(*) FILTER (WHERE class = 'ok') AS ok_deliveries,
               count(DISTINCT subj_z) FILTER (WHERE class = 'leak') AS exposed_accounts,
               count(DISTINCT rec_z) FILTER (WHERE class = 'leak') AS recipient_accounts,
               count(DISTINCT (subj_z, rec_z)) FILTER (WHERE class = 'leak') AS exposure_pairs,
               count(DISTINCT obj_z) FILTER (WHERE class = 'leak') AS leaked_objects,
               count(*) FILTER (WHERE class = 'leak' AND viewed) AS viewed_leak_deliveries,
               count(DISTINCT subj_z) FILTER (WHERE class = 'leak' AND viewed) AS exposed_accounts_viewed,
               min(ts) FILTER (WHERE class = 'leak') AS first_leak,
               max(ts) FILTER (WHERE class = 'leak') AS last_leak,
               count(*) FILTER (WHERE missing = 'no_session') AS no_session,
               count(*) FILTER (WHERE missing = 'no_content') AS no_content,
               count(*) FILTER (WHERE missing = 'no_owner') AS no_owner
        FROM cls"""
    if os.environ.get("DUCKDB_LEAKS_SQL"):
        print(query, file=sys.stderr)
    if dump:
        con.execute("COPY (" + "WITH " + ",\n".join(ctes) + " SELECT request_id, ts, class, missing, rec_z AS recipient, "
                    "subj_z AS subject, origin_z AS origin, obj_z AS object_id, cap_z AS capture_ts, fill_z AS fill_ts, "
                    "viewed, a_m, a_z, a_p FROM cls ORDER BY ts, request_id) TO " + sql_str(str(dump)) + " (FORMAT parquet)")
    cur = con.execute(query)
    names = [c[0] for c in cur.description]
    r = dict(zip(names, cur.fetchone()))
    summary = {k: int(r[k]) for k in names[:11]}
    summary["first_leak"] = fmt_ms(r["first_leak"])
    summary["last_leak"] = fmt_ms(r["last_leak"])
    summary["unresolved_by_reason"] = {k: int(r[k]) for k in ("no_content", "no_owner", "no_session") if r[k]}
    summary["rows"] = rows
    return summary


def fmt_ms(ms) -> str | None:
    if ms is None:
        return None
    t = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(milliseconds=int(ms))
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dataset", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--threads", type=int, default=int(os.environ.get("DUCKDB_THREADS", "2")))
    ap.add_argument("--memory-limit", default=os.environ.get("DUCKDB_MEMORY_LIMIT", "16GB"),
                    help="DuckDB memory_limit (default 16GB; spills to --temp-dir beyond it)")
    ap.add_argument("--temp-dir", default=os.environ.get("DUCKDB_TEMP_DIR"),
                    help="where DuckDB spills (default: a folder inside --out)")
    ap.add_argument("--dump-verdicts", type=Path, help="also write every delivery's class to this Parquet file (debugging)")
    ap.add_argument("--object-from-delivery", action="store_true",
                    help="for content from the cache, take the delivery's own object_id when present (SEMANTICS says the fill's)")
    ap.add_argument("--plan", choices=("wide", "stacked"), default=os.environ.get("DUCKDB_LEAKS_PLAN", "stacked"),
                    help="wide: separate as-of joins per shift; stacked: three rows per delivery, then group")
    a = ap.parse_args()
    if not a.dataset.is_dir():
        die(f"{a.dataset} is not a folder")
    a.out.mkdir(parents=True, exist_ok=True)
    temp = a.temp_dir or str(a.out / "duckdb_tmp")
    start = time.monotonic()
    settings = load_settings(a.dataset)
    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"SET threads = {int(a.threads)}")
    con.execute(f"SET memory_limit = {sql_str(a.memory_limit)}")
    con.execute(f"SET temp_directory = {sql_str(temp)}")
    con.execute("SET preserve_insertion_order = false")
    summary = build(TimedConnection(con) if VERBOSE else con, a.dataset, settings, a.dump_verdicts, a.object_from_delivery, a.plan)
    con.close()
    (a.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    for kind, c in summary["rows"].items():
        if c.get("rejected"):
            print(f"duckdb_leaks: {kind}: {c['rejected']} of {c['read']} rows rejected", file=sys.stderr)
    print(f"duckdb_leaks: {summary['deliveries']} deliveries: {summary['leak_deliveries']} leak, "
          f"{summary['ambiguous_deliveries']} ambiguous, {summary['unresolved_deliveries']} unresolved, "
          f"{summary['ok_deliveries']} ok ({time.monotonic() - start:.2f} s)", file=sys.stderr)


if __name__ == "__main__":
    main()
