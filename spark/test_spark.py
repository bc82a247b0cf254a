#!/usr/bin/env python3
"""The Spark path's tests: every output file but timings.json byte-identical to `leakscope analyze`
on the same dataset, on three executor JVMs, at several partition counts, on a standalone cluster,
and after an executor is killed mid-stage. Run by spark/run_tests.sh (from .ci/run).

    LEAKSCOPE_BIN=<leakscope binary> python spark/test_spark.py [test-name ...]
"""

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import leakscope_spark  # noqa: E402

BIN = os.environ.get("LEAKSCOPE_BIN") or shutil.which("leakscope")
LOCAL_CLUSTER = "local-cluster[3,1,1024]"


def leakscope(*args):
    proc = subprocess.run([BIN, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.returncode == 0, f"leakscope {args}: {proc.stderr.decode()}"
    return proc


def generate(root, name, scenario, seed, deliveries, *extra):
    data = os.path.join(root, name)
    leakscope("generate", "--scenario", scenario, "--seed", str(seed), "--deliveries", str(deliveries),
              "--out", data, "--quiet", *extra)
    return data


def single_node(data, out):
    # The command line the Spark path records in the manifest: no other flags.
    leakscope("analyze", data, "--out", out)
    return out


def outputs(out):
    """Every output file but timings.json, by path."""
    files = {}
    for dirpath, _, names in os.walk(out):
        for n in names:
            path = os.path.join(dirpath, n)
            rel = os.path.relpath(path, out)
            if rel != "timings.json":
                with open(path, "rb") as f:
                    files[rel] = f.read()
    return files


def differences(a, b):
    fa, fb = outputs(a), outputs(b)
    if sorted(fa) != sorted(fb):
        return [f"files differ: {sorted(set(fa) ^ set(fb))}"]
    return [name for name in sorted(fa) if fa[name] != fb[name]]


def on_spark(data, out, partitions, spark=None, master=LOCAL_CLUSTER, trace=None, extra=()):
    argv = ["analyze", data, "--out", out, "--master", master, "--partitions", str(partitions),
            "--binary", BIN, "--quiet", *extra]
    if trace:
        argv += ["--trace", trace]
    code = leakscope_spark.analyze(leakscope_spark.parse_args(argv), spark)
    assert code == 0, f"the Spark path exited with {code}"
    return out


def read_trace(path):
    with open(path) as f:
        return json.load(f)


@contextlib.contextmanager
def session(master):
    args = leakscope_spark.parse_args(["analyze", "x", "--out", "y", "--master", master])
    spark = leakscope_spark.spark_session(args)
    try:
        yield spark
    finally:
        spark.stop()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_local_cluster_any_partition_count_gives_the_single_node_bytes(tmp):
    data = generate(tmp, "incident", "cache-key-collision", 5, 4000, "--format", "mixed", "--dirty",
                    "--shape", "cache-heavy")
    single = single_node(data, os.path.join(tmp, "single"))
    summary = json.load(open(os.path.join(single, "summary.json")))
    rows = summary["rows"]["deliveries"]
    assert rows["duplicates"] > 0 and rows["rejected"] > 0, rows
    with session(LOCAL_CLUSTER) as spark:
        for n in (1, 3, 7, 32):
            trace = os.path.join(tmp, f"trace-{n}.json")
            out = on_spark(data, os.path.join(tmp, f"spark-{n}"), n, spark, trace=trace)
            diff = differences(single, out)
            assert not diff, f"{n} partitions: {diff}"
            t = read_trace(trace)
            assert t["partitions"] == n and t["files"] > 20, t
            if n >= 3:
                # Kernel tasks ran in three executor JVMs, not in one.
                assert len(t["executor_processes"]) >= 3, t


def test_real_log_formats_give_the_single_node_bytes(tmp):
    """nginx and Keycloak logs, the cache inferred, and the mapping given on the command line
    (kept outside the dataset, as an investigator's own file)."""
    data = generate(tmp, "real", "session-mixup", 2, 3000, "--real-logs")
    mapping = os.path.join(tmp, "their-mapping.toml")
    shutil.move(os.path.join(data, "mapping.toml"), mapping)
    single = os.path.join(tmp, "single")
    leakscope("analyze", data, "--out", single, "--mapping", mapping)
    out = on_spark(data, os.path.join(tmp, "spark"), 3, extra=["--mapping", mapping])
    diff = differences(single, out)
    assert not diff, diff
    manifest = json.load(open(os.path.join(out, "manifest.json")))
    assert "their-mapping.toml" in json.dumps(manifest), manifest


def test_a_standalone_cluster_gives_the_single_node_bytes(tmp):
    """On a cluster of its own making, and with the shareable outputs pseudonymised."""
    data = generate(tmp, "incident", "auth-page-cache", 4, 3000, "--format", "mixed", "--dirty")
    key = os.path.join(tmp, "case.key")
    with open(key, "w") as f:
        f.write("a key of the case, kept by its investigator\n")
    single = os.path.join(tmp, "single")
    leakscope("analyze", data, "--out", single, "--pseudonymize", key)
    spark_home = pyspark_home()
    spark_class = os.path.join(spark_home, "bin", "spark-class")
    env = dict(os.environ, SPARK_LOCAL_IP="127.0.0.1", SPARK_HOME=spark_home,
               PYSPARK_PYTHON=sys.executable, SPARK_WORKER_DIR=os.path.join(tmp, "work"))
    port = free_port()
    master_url = f"spark://127.0.0.1:{port}"
    logs = open(os.path.join(tmp, "cluster.log"), "wb")
    procs = [subprocess.Popen([spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                               "--port", str(port), "--webui-port", str(free_port())],
                              env=env, stdout=logs, stderr=logs)]
    try:
        wait_for_port(port)
        for _ in range(3):
            procs.append(subprocess.Popen(
                [spark_class, "org.apache.spark.deploy.worker.Worker", master_url, "--host", "127.0.0.1",
                 "--cores", "1", "--memory", "1g", "--webui-port", str(free_port())],
                env=env, stdout=logs, stderr=logs))
        trace = os.path.join(tmp, "trace.json")
        with session(master_url) as spark:
            wait_for_executors(spark, 3)
            out = on_spark(data, os.path.join(tmp, "spark"), 5, spark, trace=trace,
                           extra=["--pseudonymize", key])
        diff = differences(single, out)
        assert not diff, diff
        assert len(read_trace(trace)["executor_processes"]) >= 3, read_trace(trace)
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            p.wait(timeout=60)


def test_an_executor_killed_mid_stage_changes_no_byte(tmp):
    data = generate(tmp, "incident", "cache-key-collision", 8, 3000, "--format", "mixed", "--dirty")
    single = single_node(data, os.path.join(tmp, "single"))
    plan = subprocess.run([BIN, "--quiet", "kernel", "plan", "--config", config_only(tmp, data)],
                          input=leakscope_spark.listing(*leakscope_spark.filesystem(data)).encode(),
                          stdout=subprocess.PIPE, check=True).stdout.decode().splitlines()
    victim = len(plan) // 2
    marker = os.path.join(tmp, "killed-once")
    os.environ[leakscope_spark.FAULT_ENV] = f"kill-executor:{victim}:{marker}"
    try:
        trace = os.path.join(tmp, "trace.json")
        out = on_spark(data, os.path.join(tmp, "spark"), 7, trace=trace)
    finally:
        del os.environ[leakscope_spark.FAULT_ENV]
    assert os.path.exists(marker), "no executor was killed"
    diff = differences(single, out)
    assert not diff, diff


def test_the_comparison_sees_one_changed_delivery(tmp):
    """The negative control: the comparison the tests above rely on is not blind. One delivery's
    session changed in a copy of the dataset makes the Spark outputs differ from the original's."""
    data = generate(tmp, "incident", "session-mixup", 6, 2000, "--format", "csv")
    single = single_node(data, os.path.join(tmp, "single"))
    changed = os.path.join(tmp, "changed", "incident")
    shutil.copytree(data, changed)
    target = None
    for dirpath, _, names in os.walk(os.path.join(changed, "deliveries")):
        for n in sorted(names):
            if n.endswith(".csv"):
                target = os.path.join(dirpath, n)
                break
        if target:
            break
    with open(target) as f:
        lines = f.read().splitlines(keepends=True)
    header = lines[0].rstrip("\n").split(",")
    at = header.index("session_id")
    cells = lines[1].rstrip("\n").split(",")
    cells[at] = cells[at] + "-elsewhere"
    lines[1] = ",".join(cells) + "\n"
    with open(target, "w") as f:
        f.writelines(lines)
    out = on_spark(changed, os.path.join(tmp, "spark"), 3)
    diff = differences(single, out)
    assert "verdicts.parquet" in diff and "manifest.json" in diff, diff


# A node's purges of every key (`*`) that take content away from deliveries on other keys of the
# node: the hand-worked purge case of tests/cases/purge.case, in epoch milliseconds.
PURGE_CASE = {
    "dataset.toml": 'tolerance = "2s"\n',
    "ownership/ownership.csv": "ts,stream_id,account_id,event\n0,cA,alice,bind\n0,cB,bob,bind\n",
    "sessions/sessions.csv": "ts,session_id,event,account_id\n0,s1,start,alice\n",
    "cache/cache.csv": "ts,cache_node,cache_key,op,object_id,origin_stream_id\n"
                       + "".join(f"10000,{node},k{k},fill,o{k},cB\n" for node in "nmpq" for k in range(1, 9))
                       + "".join(f"100000,{node},*,purge,,\n" for node in "nmpq"),
    "deliveries/deliveries.csv": "ts,request_id,session_id,requested_stream_id,cache_node,cache_key,cache_status\n"
                                 + "".join(f"{t},r{node}{k}-{t},s1,cB,{node},k{k},hit\n"
                                           for node in "nmpq" for k in range(1, 9) for t in (50000, 150000)),
}


def test_purges_kept_in_one_bucket_make_the_comparison_fail(tmp):
    """The negative control of the partitioning: with a node's purges of every key sent to one
    bucket instead of every one (LEAKSCOPE_SPARK_FAULT=no-purge-replication), deliveries whose
    content a purge took away are judged on what their key held before it, and the verdicts
    differ from the single-node run's; with them sent to every bucket, every byte is the same."""
    data = os.path.join(tmp, "purges")
    for rel, text in PURGE_CASE.items():
        os.makedirs(os.path.dirname(os.path.join(data, rel)), exist_ok=True)
        with open(os.path.join(data, rel), "w") as f:
            f.write(text)
    single = single_node(data, os.path.join(tmp, "single"))
    summary = json.load(open(os.path.join(single, "summary.json")))
    # Before the purges every delivery leaks bob's footage to alice; after them none finds content.
    assert (summary["leak_deliveries"], summary["unresolved_deliveries"]) == (32, 32), summary
    with session(LOCAL_CLUSTER) as spark:
        out = on_spark(data, os.path.join(tmp, "spark"), 7, spark)
        assert not differences(single, out), differences(single, out)
        os.environ[leakscope_spark.FAULT_ENV] = "no-purge-replication"
        try:
            broken = on_spark(data, os.path.join(tmp, "broken"), 7, spark)
        finally:
            del os.environ[leakscope_spark.FAULT_ENV]
    diff = differences(single, broken)
    assert "verdicts.parquet" in diff and "summary.json" in diff, diff


def test_a_refusal_names_the_dataset_in_one_line(tmp):
    """A dataset the plan refuses: exit 2, one line naming the dataset as given (not the driver's
    copy of its configuration), before any Spark work."""
    data = generate(tmp, "incident", "session-mixup", 1, 1000)
    shutil.rmtree(os.path.join(data, "sessions"))
    proc = subprocess.run([sys.executable, os.path.join(os.path.dirname(__file__), "leakscope_spark.py"),
                           "analyze", data, "--out", os.path.join(tmp, "out"), "--binary", BIN],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    err = proc.stderr.decode().strip()
    assert proc.returncode == 2, (proc.returncode, err)
    assert len(err.splitlines()) == 1 and data in err and "sessions/ is missing" in err, err
    assert "/config/" not in err, err
    assert not os.path.exists(os.path.join(tmp, "out"))

    # With --strict, a file that cannot be read stops the run on the driver, named in the dataset.
    dirty = generate(tmp, "dirty", "cache-key-collision", 3, 1000)
    with open(os.path.join(dirty, "deliveries", "broken.csv.gz"), "wb") as f:
        f.write(b"not a gzip stream")
    proc = subprocess.run([sys.executable, os.path.join(os.path.dirname(__file__), "leakscope_spark.py"),
                           "analyze", dirty, "--out", os.path.join(tmp, "out"), "--binary", BIN,
                           "--master", "local[2]", "--strict", "--quiet"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    err = [line for line in proc.stderr.decode().splitlines() if line.startswith("leakscope")]
    assert proc.returncode == 2 and len(err) == 1, (proc.returncode, proc.stderr.decode()[-2000:])
    assert f"{dirty}/deliveries/broken.csv.gz" in err[0] and "/config/" not in err[0], err
    assert not os.path.exists(os.path.join(tmp, "out"))


def config_only(tmp, data):
    config = os.path.join(tmp, "config-only", os.path.basename(data))
    os.makedirs(config, exist_ok=True)
    for name in leakscope_spark.CONFIG_FILES:
        if os.path.exists(os.path.join(data, name)):
            shutil.copy(os.path.join(data, name), config)
    return config


def pyspark_home():
    """The Spark installation the pip package carries (its bin/spark-class)."""
    import pyspark

    return os.path.dirname(os.path.abspath(pyspark.__file__))


def wait_for_port(port, seconds=60):
    deadline = time.time() + seconds
    while time.time() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    raise AssertionError(f"the standalone master did not listen on {port} within {seconds} s")


def wait_for_executors(spark, n, seconds=120):
    deadline = time.time() + seconds
    while time.time() < deadline:
        # The driver's own block manager is one of the entries.
        if spark.sparkContext._jsc.sc().getExecutorMemoryStatus().size() >= n + 1:
            return
        time.sleep(0.5)
    raise AssertionError(f"fewer than {n} executors registered within {seconds} s")


def main(names):
    assert BIN and os.access(BIN, os.X_OK), "set LEAKSCOPE_BIN to the leakscope binary"
    tests = {k: v for k, v in globals().items() if k.startswith("test_")}
    chosen = [n for n in tests if not names or any(x in n for x in names)]
    failed = 0
    for name in chosen:
        start = time.time()
        with tempfile.TemporaryDirectory(prefix="leakscope-spark-test-") as tmp:
            try:
                tests[name](tmp)
                print(f"ok      {name} ({time.time() - start:.0f} s)", flush=True)
            except Exception as e:  # noqa: BLE001 - every failure is reported, then counted
                failed += 1
                print(f"FAILED  {name} ({time.time() - start:.0f} s): {type(e).__name__}: {e}", flush=True)
    print(f"spark tests: {len(chosen) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
