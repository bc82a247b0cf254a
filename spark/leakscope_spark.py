#!/usr/bin/env python3
"""leakscope on Apache Spark: the analysis of `leakscope analyze`, with the same output bytes.

Spark schedules the work and moves the data; every check and every verdict is the leakscope
binary's own, run as its `kernel` subcommands: `plan` on the driver; on the executors, through
mapInArrow, `parse` and `route` (one input file per call), then `dedup`, `content` and `verdict`
(one bucket per call, after a shuffle each); `finalize` on the driver. docs/SPARK.md says how to
run it here and on a cluster.

    python spark/leakscope_spark.py analyze <dataset> --out <dir> [--master URL] [--partitions N]
        [--mapping FILE] [--strict] [--force] [--pseudonymize KEYFILE] [--export LIST] [--binary PATH]
"""

import atexit
import argparse
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid

# What each parse task returns to the driver: where it put one file's parts (an Arrow IPC stream
# written by `kernel parse`), their size, and which executor process ran it. Spark's type names
# beside Arrow's, which the rows are built with.
STAGED_COLUMNS = (("file", "int", "int32"), ("path", "string", "string"), ("bytes", "long", "int64"),
                  ("worker", "string", "string"))
STAGED_SCHEMA = ", ".join(f"{name} {spark}" for name, spark, _ in STAGED_COLUMNS)

# What the routing kernels send each other through Spark's shuffles: rows for one bucket
# (EVERY_BUCKET: for each), what they hold, and their bytes (src/kernel/wire.rs).
ROUTED_COLUMNS = (("bucket", "int", "int32"), ("part", "string", "string"), ("payload", "binary", "binary"))
ROUTED_SCHEMA = ", ".join(f"{name} {spark}" for name, spark, _ in ROUTED_COLUMNS)
EVERY_BUCKET = -1

# What each verdict task returns to the driver: where it put one bucket's verdicts.
VERDICT_COLUMNS = (("bucket", "int", "int32"), ("path", "string", "string"), ("bytes", "long", "int64"),
                   ("worker", "string", "string"))
VERDICT_SCHEMA = ", ".join(f"{name} {spark}" for name, spark, _ in VERDICT_COLUMNS)

# Names of the configuration files a kernel reads from its copy of the dataset's folder.
CONFIG_FILES = ("dataset.toml", "mapping.toml")

# A test's request to kill the executor that parses a given file, once, or to break the
# partitioning on purpose (docs/SPARK.md).
FAULT_ENV = "LEAKSCOPE_SPARK_FAULT"


class KernelError(Exception):
    """A kernel refused or failed; carries its exit code and its one-line message."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


def parse_args(argv):
    p = argparse.ArgumentParser(prog="leakscope_spark.py", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    a = sub.add_parser("analyze", help="analyse a dataset on Spark, as `leakscope analyze` does")
    a.add_argument("dataset", help="the dataset folder: a local path or a URI pyarrow reads (s3://, hdfs://)")
    a.add_argument("--out", required=True, help="where to write the outputs (on the driver)")
    a.add_argument("--master", default="local[2]", help="Spark master URL (default: local[2])")
    a.add_argument("--partitions", type=int, default=8, help="partitions of the file list and shuffle partitions")
    a.add_argument("--mapping", help="a mapping file on the driver, as for `leakscope analyze --mapping`")
    a.add_argument("--strict", action="store_true")
    a.add_argument("--force", action="store_true")
    a.add_argument("--pseudonymize", metavar="KEYFILE")
    a.add_argument("--export", metavar="LIST", help="exports besides the outputs, as for `leakscope analyze --export`")
    a.add_argument("--binary", help="the leakscope binary (default: $LEAKSCOPE_BIN, else leakscope on PATH)")
    a.add_argument("--driver-memory", default="2g", help="the driver JVM's heap (default 2g)")
    a.add_argument("--stage", help="where the executors put each file's parts, a folder every executor and the "
                                   "driver reach, as a path or URI; the run's parts are removed when it ends "
                                   "(default: a temporary folder on the driver, for one machine)")
    a.add_argument("--quiet", action="store_true", help="no warnings or headline on stderr")
    a.add_argument("--trace", metavar="FILE",
                   help="write where the kernels ran (executor processes) as JSON; never into --out")
    args = p.parse_args(argv)
    if args.partitions < 1:
        p.error("--partitions must be at least 1")
    return args


def find_binary(given):
    path = given or os.environ.get("LEAKSCOPE_BIN") or shutil.which("leakscope")
    if not path or not os.access(path, os.X_OK):
        raise KernelError(2, "no leakscope binary: pass --binary, set LEAKSCOPE_BIN or put leakscope on PATH")
    return os.path.abspath(path)


def filesystem(dataset):
    """The filesystem that holds `dataset` and the dataset's path in it."""
    import pyarrow.fs as pafs

    if urllib.parse.urlparse(dataset).scheme in ("", "file"):
        path = dataset[len("file://"):] if dataset.startswith("file://") else dataset
        return pafs.LocalFileSystem(), os.path.abspath(path)
    fs, path = pafs.FileSystem.from_uri(dataset)
    return fs, path.rstrip("/")


def listing(fs, root):
    """Every folder and file under the dataset, as `kernel plan` reads them. Spark's own listing
    is not used: it leaves out names starting with `_` or `.`, which the contract reads."""
    import pyarrow.fs as pafs

    info = fs.get_file_info(root)
    if info.type != pafs.FileType.Directory:
        raise KernelError(2, f"dataset {root}: no such folder")
    lines = []
    for entry in fs.get_file_info(pafs.FileSelector(root, recursive=True)):
        rel = entry.path[len(root):].lstrip("/")
        if entry.type == pafs.FileType.Directory:
            lines.append(f"d {rel}")
        elif entry.type == pafs.FileType.File:
            lines.append(f"f {rel}")
    lines.sort()
    return "".join(line + "\n" for line in lines)


def config_files(fs, root, mapping):
    """The bytes of the dataset's configuration files, and of a mapping given on the command line."""
    import pyarrow.fs as pafs

    files = {}
    for name in CONFIG_FILES:
        path = f"{root}/{name}"
        if fs.get_file_info(path).type == pafs.FileType.File:
            with fs.open_input_stream(path, compression=None) as f:
                files[name] = f.read()
    cli = None
    if mapping:
        with open(mapping, "rb") as f:
            # Its name too: the manifest records the mapping file's name.
            cli = (os.path.basename(mapping), f.read())
    return files, cli


def write_config(into, name, files, cli_mapping):
    """A folder named as the dataset with its configuration files, and the command line's mapping."""
    config = os.path.join(into, "config", name)
    os.makedirs(config, exist_ok=True)
    for file, data in files.items():
        with open(os.path.join(config, file), "wb") as f:
            f.write(data)
    args = ["--config", config]
    if cli_mapping is not None:
        name, data = cli_mapping
        os.makedirs(os.path.join(into, "given"), exist_ok=True)
        path = os.path.join(into, "given", name)
        with open(path, "wb") as f:
            f.write(data)
        args += ["--mapping", path]
    return args


def run_kernel(binary, args, stdin=None):
    proc = subprocess.run([binary, "--quiet", "kernel", *args], input=stdin,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if proc.returncode != 0:
        message = proc.stderr.decode("utf-8", "replace").strip() or f"exit code {proc.returncode}"
        raise KernelError(proc.returncode, message)
    return proc.stdout


def executor_process():
    """host:pid of the executor JVM this Python worker serves (its nearest JVM ancestor)."""
    pid = os.getpid()
    for _ in range(8):
        try:
            with open(f"/proc/{pid}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{ppid}/cmdline", "rb") as f:
                cmd = f.read()
        except (OSError, ValueError, IndexError):
            break
        if b"java" in cmd:
            return f"{socket.gethostname()}:{ppid}"
        pid = ppid
    return f"{socket.gethostname()}:{os.getppid()}"


def parse_partitions(dataset, stage, name, files, cli_mapping, binary_name, fault, seconds):
    """The mapInArrow function: every (index, rel) row of the partition parsed by the kernel, its
    parts written to the stage folder, not carried through Spark."""

    def parse(batches):
        import pyarrow as pa
        from pyspark import SparkFiles

        binary = SparkFiles.get(binary_name)
        mode = os.stat(binary).st_mode
        if not mode & stat.S_IXUSR:
            os.chmod(binary, mode | stat.S_IXUSR)
        fs, root = filesystem(dataset)
        stage_fs, stage_root = filesystem(stage)
        worker = executor_process()
        env = dict(os.environ, RAYON_NUM_THREADS="1", POLARS_MAX_THREADS="1")
        with tempfile.TemporaryDirectory(prefix="leakscope-kernel-") as tmp:
            config = write_config(tmp, name, files, cli_mapping)
            staged = {name: [] for name, _, _ in STAGED_COLUMNS}
            for batch in batches:
                for index, rel in zip(batch.column("index").to_pylist(), batch.column("rel").to_pylist()):
                    local = os.path.join(tmp, f"bytes-{index}")
                    with fs.open_input_stream(f"{root}/{rel}", compression=None) as src, open(local, "wb") as dst:
                        shutil.copyfileobj(src, dst, 1 << 20)
                    if fault and fault[0] == index and first_time(fault[1]):
                        os.kill(int(worker.rsplit(":", 1)[1]), signal.SIGKILL)
                    dest = f"{stage_root}/{index}.arrows"
                    start = time.monotonic()
                    size = parse_into(binary, config, index, rel, local, env, stage_fs, dest, tmp)
                    seconds.add(time.monotonic() - start)
                    os.remove(local)
                    for k, v in (("file", index), ("path", dest), ("bytes", size), ("worker", worker)):
                        staged[k].append(v)
            yield pa.RecordBatch.from_pydict(staged, schema=pa.schema(
                [(name, pa.type_for_alias(arrow)) for name, _, arrow in STAGED_COLUMNS]))

    return parse


def parse_into(binary, config, index, rel, local, env, stage_fs, dest, tmp):
    """Runs `kernel parse` on one file, its output streamed into `dest`; returns its size."""
    err_path = os.path.join(tmp, f"stderr-{index}")
    cmd = [binary, "--quiet", "kernel", "parse", *config, "--index", str(index), "--rel", rel, "--bytes", local]
    with open(err_path, "wb") as err, stage_fs.open_output_stream(dest, compression=None) as out:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, env=env)
        size = drain(proc.stdout, out)
        code = proc.wait()
    if code != 0:
        raise KernelError(code, f"kernel parse {rel}: {failure(err_path, code)}")
    return size


def executor_binary(binary_name):
    """The binary shipped with addFile, executable."""
    from pyspark import SparkFiles

    binary = SparkFiles.get(binary_name)
    mode = os.stat(binary).st_mode
    if not mode & stat.S_IXUSR:
        os.chmod(binary, mode | stat.S_IXUSR)
    return binary


def routed_schema():
    import pyarrow as pa

    return pa.schema([(name, pa.type_for_alias(arrow)) for name, _, arrow in ROUTED_COLUMNS])


def counted(batches, received):
    """`batches` as they pass, their payload bytes added to the accumulator `received`: what
    the shuffle brought this task."""
    import pyarrow.compute as pc

    for b in batches:
        received.add(pc.sum(pc.binary_length(b.column("payload"))).as_py() or 0)
        yield b


def kernel_stream(binary, args, batches, env, tmp, what, seconds):
    """Runs a kernel with `batches` as its stdin (one Arrow IPC stream of routed rows) and yields
    the record batches of its stdout as they come; adds the time it ran to `seconds`."""
    import pyarrow as pa

    start = time.monotonic()
    err_path = os.path.join(tmp, "stderr")
    with open(err_path, "wb") as err:
        proc = subprocess.Popen([binary, "--quiet", "kernel", *args], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=err, env=env)
        # The kernel reads all of its input before it writes: stdin first, then stdout.
        feed(proc.stdin, batches)
        yield from pa.ipc.open_stream(proc.stdout)
        code = proc.wait()
    seconds.add(time.monotonic() - start)
    if code != 0:
        raise KernelError(code, f"kernel {what}: {failure(err_path, code)}")


def route_partitions(stage, buckets, binary_name, seconds):
    """The mapInArrow function: every staged file of the partition routed by `kernel route`."""

    def route(batches):
        import pyarrow as pa

        binary = executor_binary(binary_name)
        stage_fs, _ = filesystem(stage)
        env = dict(os.environ, RAYON_NUM_THREADS="1", POLARS_MAX_THREADS="1")
        with tempfile.TemporaryDirectory(prefix="leakscope-kernel-") as tmp:
            for batch in batches:
                for path in batch.column("path").to_pylist():
                    local = local_copy(stage_fs, path, tmp)
                    start = time.monotonic()
                    err_path = os.path.join(tmp, "stderr")
                    with open(local, "rb") as src, open(err_path, "wb") as err:
                        proc = subprocess.Popen([binary, "--quiet", "kernel", "route", "--buckets", str(buckets)],
                                                stdin=src, stdout=subprocess.PIPE, stderr=err, env=env)
                        yield from pa.ipc.open_stream(proc.stdout)
                        code = proc.wait()
                    seconds.add(time.monotonic() - start)
                    if local != path:
                        os.remove(local)
                    if code != 0:
                        raise KernelError(code, f"kernel route {path}: {failure(err_path, code)}")

    return route


def bucket_partitions(stage_name, args_of, binary_name, name, files, cli_mapping, received, seconds):
    """The mapInArrow function of a bucket's kernel (`dedup`, `content`): the partition's rows,
    one bucket, given to the kernel, its routed output passed on."""

    def run(batches):
        import itertools

        batches = iter(batches)
        first = next(batches, None)
        if first is None:
            return
        binary = executor_binary(binary_name)
        env = dict(os.environ, RAYON_NUM_THREADS="1", POLARS_MAX_THREADS="1")
        with tempfile.TemporaryDirectory(prefix="leakscope-kernel-") as tmp:
            config = write_config(tmp, name, files, cli_mapping)
            yield from kernel_stream(binary, args_of(config), counted(itertools.chain([first], batches), received),
                                     env, tmp, stage_name, seconds)

    return run


def verdict_partitions(stage, binary_name, name, files, cli_mapping, received, seconds):
    """The mapInArrow function of `kernel verdict`: the bucket's verdicts written to the stage
    folder, where the driver reads them; only where they are comes back through Spark."""

    def run(batches):
        import itertools

        import pyarrow as pa
        from pyspark import TaskContext

        batches = iter(batches)
        first = next(batches, None)
        if first is None:
            return
        bucket = TaskContext.get().partitionId()
        binary = executor_binary(binary_name)
        stage_fs, stage_root = filesystem(stage)
        env = dict(os.environ, RAYON_NUM_THREADS="1", POLARS_MAX_THREADS="1")
        dest = f"{stage_root}/verdicts-{bucket}.arrows"
        with tempfile.TemporaryDirectory(prefix="leakscope-kernel-") as tmp:
            config = write_config(tmp, name, files, cli_mapping)
            err_path = os.path.join(tmp, "stderr")
            start = time.monotonic()
            with open(err_path, "wb") as err, stage_fs.open_output_stream(dest, compression=None) as out:
                proc = subprocess.Popen([binary, "--quiet", "kernel", "verdict", *config], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=err, env=env)
                feed(proc.stdin, counted(itertools.chain([first], batches), received))
                size = drain(proc.stdout, out)
                code = proc.wait()
            seconds.add(time.monotonic() - start)
            if code != 0:
                raise KernelError(code, f"kernel verdict: {failure(err_path, code)}")
        yield pa.RecordBatch.from_pydict(
            {"bucket": [bucket], "path": [dest], "bytes": [size], "worker": [executor_process()]},
            schema=pa.schema([(n, pa.type_for_alias(arrow)) for n, _, arrow in VERDICT_COLUMNS]))

    return run


def bucket_keys(spark, buckets):
    """For each bucket b, a key Spark's hash partitioning into `buckets` partitions puts in
    partition b: so that bucket b is partition b, exactly, and a row sent to every bucket reaches
    each partition once. Spark's own hash decides, asked here rather than copied."""
    from pyspark.sql import functions as F

    found = {}
    n = 0
    while len(found) < buckets:
        rows = (spark.range(n, n + 64 * buckets)
                .select("id", F.expr(f"pmod(hash(id), {buckets})").alias("p")).collect())
        for row in rows:
            found.setdefault(row["p"], row["id"])
        n += 64 * buckets
    return [found[b] for b in range(buckets)]


def shuffled(df, keys, replicate_purges):
    """Routed rows, each in the partition of its bucket; rows for every bucket copied to each
    (a node's purges of every key only when `replicate_purges`: the negative control's switch)."""
    from pyspark.sql import functions as F

    every = F.array(*[F.lit(b) for b in range(len(keys))])
    to_all = F.col("bucket") == EVERY_BUCKET
    if not replicate_purges:
        to_all = to_all & (F.col("part") != "purges")
    to = (F.when(to_all, every)
          .when(F.col("bucket") == EVERY_BUCKET, F.array(F.lit(0)))
          .otherwise(F.array(F.col("bucket"))))
    key = F.element_at(F.array(*[F.lit(k) for k in keys]), F.col("b") + 1)
    return (df.select(F.explode(to).alias("b"), "part", "payload")
            .withColumn("key", key)
            .repartition(len(keys), "key")
            .select(F.col("b").alias("bucket"), "part", "payload"))


def drain(stdout, out):
    """Copies a kernel's stdout into `out`; returns how many bytes."""
    size = 0
    while True:
        chunk = stdout.read(1 << 20)
        if not chunk:
            return size
        out.write(chunk)
        size += len(chunk)


def failure(err_path, code):
    """A failed kernel's message: its stderr, else its exit code."""
    with open(err_path, "rb") as err:
        return err.read().decode("utf-8", "replace").strip() or f"exit code {code}"


def feed(stdin, batches):
    """Writes routed `batches` to a kernel's stdin as one Arrow IPC stream, and closes it."""
    import pyarrow as pa

    schema = routed_schema()
    # A kernel that stopped early says why on its stderr, which the caller reports.
    try:
        with pa.ipc.new_stream(stdin, schema) as w:
            for b in batches:
                w.write_batch(b.select([name for name, _, _ in ROUTED_COLUMNS]).cast(schema))
    except BrokenPipeError:
        pass
    stdin.close()


def fault_injection(spec):
    """`kill-executor:<file number>:<marker path>`: the executor that parses that file is killed,
    the first time only (the marker, on a filesystem every executor sees, says it happened).
    `no-purge-replication`: the negative control, a node's purges of every key sent to one bucket
    instead of all. Returns (kill, replicate purges)."""
    if not spec:
        return None, True
    if spec == "no-purge-replication":
        return None, False
    kind, _, rest = spec.partition(":")
    index, _, marker = rest.partition(":")
    if kind != "kill-executor" or not index.isdigit() or not marker:
        raise KernelError(2, f"{FAULT_ENV}={spec!r}: only kill-executor:<file>:<marker> and "
                             "no-purge-replication are known")
    return (int(index), marker), True


def first_time(marker):
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        return True
    except FileExistsError:
        return False


def on_loopback(master):
    """Whether the whole cluster is this machine: a local master, or a standalone one on loopback."""
    host = urllib.parse.urlparse(master).hostname if master.startswith("spark://") else None
    return master.startswith("local") or host in ("127.0.0.1", "localhost")


def spark_session(args):
    from pyspark.sql import SparkSession

    loopback = on_loopback(args.master)
    if loopback:
        # Without these Spark binds to the machine's network interface.
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    # The executors' Python needs pyarrow, which this interpreter has (spark/requirements.txt).
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    b = (SparkSession.builder.master(args.master).appName("leakscope")
         # Partitioning is what this script says: no adaptive re-planning, no speculative copies.
         .config("spark.sql.adaptive.enabled", "false")
         .config("spark.speculation", "false")
         .config("spark.sql.shuffle.partitions", str(args.partitions))
         .config("spark.default.parallelism", str(args.partitions))
         .config("spark.sql.execution.arrow.maxRecordsPerBatch", "16")
         .config("spark.driver.memory", args.driver_memory)
         .config("spark.task.maxFailures", "4")
         .config("spark.ui.enabled", "false")
         # Kernels single-threaded: Spark runs one task per core.
         .config("spark.executorEnv.RAYON_NUM_THREADS", "1")
         .config("spark.executorEnv.POLARS_MAX_THREADS", "1"))
    if loopback:
        b = b.config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
    session = b.getOrCreate()
    if args.master.startswith("local-cluster"):
        # Its in-process workers keep each executor's folder (the shipped binary, 450 MB for a
        # debug build, and its logs) under SPARK_HOME/work, inside the venv, and never remove
        # them: 7 GB a test run. They go when the session does.
        atexit.register(remove_app_folder, session.sparkContext.applicationId)
    return session


def remove_app_folder(app_id):
    """Removes a local-cluster application's executor folders, once its session is stopped."""
    from pyspark.find_spark_home import _find_spark_home

    shutil.rmtree(os.path.join(_find_spark_home(), "work", app_id), ignore_errors=True)


def analyze(args, spark=None):
    """Runs the analysis; on `spark`, a session already started (tests), else on one of its own."""
    if args.stage is None and not on_loopback(args.master):
        raise KernelError(2, f"--stage is needed with --master {args.master}: a folder every executor writes "
                             "and the driver reads (hdfs://..., s3://...)")
    binary = find_binary(args.binary)
    fs, root = filesystem(args.dataset)
    name = os.path.basename(root.rstrip("/"))
    listed = listing(fs, root)
    files, cli_mapping = config_files(fs, root, args.mapping)
    fault, replicate_purges = fault_injection(os.environ.get(FAULT_ENV, ""))

    with tempfile.TemporaryDirectory(prefix="leakscope-spark-") as tmp:
        config = write_config(tmp, name, files, cli_mapping)
        # Messages name the dataset as given, not the driver's copy of its configuration.
        def shown(text):
            return text.replace(config[1], args.dataset.rstrip("/"))

        try:
            plan = run_kernel(binary, ["plan", *config], stdin=listed.encode()).decode()
        except KernelError as e:
            raise KernelError(e.code, shown(str(e))) from None
        rows = []
        for line in plan.splitlines():
            index, rel = line.split("\t", 1)
            rows.append((int(index), rel))
        listing_file = os.path.join(tmp, "listing.txt")
        with open(listing_file, "w") as f:
            f.write(listed)

        own = spark is None
        spark = spark_session(args) if own else spark
        # A folder of this run's own under --stage: runs sharing a stage never meet.
        stage = f"{(args.stage or tmp).rstrip('/')}/leakscope-parts-{uuid.uuid4().hex}"
        stage_fs, stage_root = filesystem(stage)
        stage_fs.create_dir(stage_root, recursive=True)
        try:
            try:
                spark.conf.set("spark.sql.shuffle.partitions", str(args.partitions))
                spark.sparkContext.addFile(binary)
                # Where this module is imported (tests), the executors import it too.
                spark.sparkContext.addPyFile(os.path.abspath(__file__))
                # The time each stage's kernels ran, summed over tasks (a retried task counts again).
                seconds = {k: spark.sparkContext.accumulator(0.0)
                           for k in ("parse", "route", "dedup", "content", "verdict")}
                df = spark.createDataFrame(rows, "index int, rel string").repartition(args.partitions, "index")
                parsed = df.mapInArrow(
                    parse_partitions(args.dataset, stage, name, files, cli_mapping, os.path.basename(binary), fault,
                                     seconds["parse"]),
                    STAGED_SCHEMA)
                staged = parsed.toArrow().to_pylist()
                by_file = {row["file"]: row for row in staged}
                missing = [i for i, _ in rows if i not in by_file]
                if missing or len(staged) != len(rows):
                    raise KernelError(3, f"bug in leakscope-spark: {len(staged)} files staged for {len(rows)} "
                                         f"planned (missing: {missing[:5]})")
                verdicts, shuffled_bytes = look_ups(spark, args, staged, stage, name, files, cli_mapping,
                                                    os.path.basename(binary), replicate_purges, seconds)
                kernel_seconds = {k: round(v.value, 1) for k, v in seconds.items()}
            finally:
                if own:
                    app_id = spark.sparkContext.applicationId
                    spark.stop()
                    if args.master.startswith("local-cluster"):
                        remove_app_folder(app_id)
            buckets = [r["bucket"] for r in verdicts]
            if len(set(buckets)) != len(buckets):
                raise KernelError(3, f"bug in leakscope-spark: a bucket's verdicts twice ({sorted(buckets)})")
            verdicts_list = os.path.join(tmp, "verdicts.txt")
            with open(verdicts_list, "w") as f:
                for r in sorted(verdicts, key=lambda r: r["bucket"]):
                    f.write(f"{local_copy(stage_fs, r['path'], tmp)}\n")
            parts_list = os.path.join(tmp, "parts.txt")
            with open(parts_list, "w") as f:
                for i, _ in rows:
                    f.write(f"{i}\t{local_copy(stage_fs, by_file[i]['path'], tmp)}\n")
            if args.trace:
                with open(args.trace, "w") as f:
                    json.dump({"executor_processes": sorted({r["worker"] for r in staged}),
                               "verdict_processes": sorted({r["worker"] for r in verdicts}),
                               "files": len(rows), "partitions": args.partitions,
                               "payload_bytes": sum(r["bytes"] for r in staged),
                               "verdict_bytes": sum(r["bytes"] for r in verdicts),
                               "shuffled_bytes": shuffled_bytes, "kernel_seconds": kernel_seconds}, f, indent=2)

            finalize = ["finalize", *config, "--listing", listing_file, "--parts-list", parts_list,
                        "--verdicts", verdicts_list, "--out", args.out]
            finalize += ["--strict"] if args.strict else []
            finalize += ["--force"] if args.force else []
            finalize += ["--pseudonymize", os.path.abspath(args.pseudonymize)] if args.pseudonymize else []
            finalize += ["--export", args.export] if args.export else []
            cmd = [binary] + (["--quiet"] if args.quiet else []) + ["kernel", *finalize]
            done = subprocess.run(cmd, stderr=subprocess.PIPE)
            sys.stderr.write(shown(done.stderr.decode("utf-8", "replace")))
            return done.returncode
        finally:
            stage_fs.delete_dir(stage_root)


def look_ups(spark, args, staged, stage, name, files, cli_mapping, binary_name, replicate_purges, seconds):
    """De-duplication, the content look-ups and the verdicts on the executors, each bucket of a
    shuffle one task: by request id, by (cache node, cache key), by session. Returns where the
    verdict tasks put each bucket's verdicts."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    n = args.partitions
    keys = bucket_keys(spark, n)
    # Counted where the shuffles deliver, in every bucket's task (a retried task counts again).
    received = spark.sparkContext.accumulator(0)
    files_df = spark.createDataFrame([(r["file"], r["path"]) for r in staged], "file int, path string")
    routed = (files_df.repartition(n, "file")
              .mapInArrow(route_partitions(stage, n, binary_name, seconds["route"]), ROUTED_SCHEMA)
              .persist(StorageLevel.DISK_ONLY))
    of = lambda *parts: routed.filter(F.col("part").isin(*parts))  # noqa: E731
    bucketed = lambda df: shuffled(df, keys, replicate_purges)  # noqa: E731
    deduped = bucketed(of("deliveries")).mapInArrow(
        bucket_partitions("dedup", lambda _: ["dedup", "--buckets", str(n)], binary_name, name, files, cli_mapping,
                          received, seconds["dedup"]),
        ROUTED_SCHEMA)
    found = bucketed(deduped.unionByName(of("cache", "purges", "nodes"))).mapInArrow(
        bucket_partitions("content", lambda config: ["content", *config, "--buckets", str(n)], binary_name, name,
                          files, cli_mapping, received, seconds["content"]),
        ROUTED_SCHEMA)
    verdicts = bucketed(found.unionByName(of("sessions", "ownership"))).mapInArrow(
        verdict_partitions(stage, binary_name, name, files, cli_mapping, received, seconds["verdict"]),
        VERDICT_SCHEMA)
    try:
        return verdicts.toArrow().to_pylist(), received.value
    finally:
        routed.unpersist()


def local_copy(stage_fs, path, tmp):
    """A local path of a staged file: itself on a local stage, else a copy fetched into `tmp`."""
    import pyarrow.fs as pafs

    if isinstance(stage_fs, pafs.LocalFileSystem):
        return path
    local = os.path.join(tmp, "fetched", os.path.basename(path))
    os.makedirs(os.path.dirname(local), exist_ok=True)
    with stage_fs.open_input_stream(path, compression=None) as src, open(local, "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    return local


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        return analyze(args)
    except KernelError as e:
        # The binary's own refusals already say who speaks.
        print(str(e) if str(e).startswith("leakscope:") else f"leakscope-spark: {e}", file=sys.stderr)
        return e.code
    except Exception as e:  # noqa: BLE001 - Spark's own failures: the job, the cluster, the storage
        lines = [line for line in str(e).splitlines() if line.strip()]
        print(f"leakscope-spark: the Spark job failed: {lines[0] if lines else type(e).__name__}",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
