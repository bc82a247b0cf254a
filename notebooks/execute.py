"""Execute investigate.ipynb headless against one report directory (called by run.sh, inside its venv).

The committed notebook is never written: parameters are injected into an in-memory copy (papermill-style,
a cell tagged `injected-parameters` after the cell tagged `parameters`), which nbclient executes with the
kernel run.sh registered in the venv. Fails when a cell errors, when the headline check did not report
success, or when the committed notebook carries outputs.

    python execute.py REPORT_DIR [--kernel NAME] [--timeout SECONDS] [--output EXECUTED.ipynb]
    python execute.py --strip        # remove outputs from the committed notebook, in place
"""

import argparse
import re
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

HERE = Path(__file__).resolve().parent
NOTEBOOK = HERE / "investigate.ipynb"
HEADLINE_OK = "headline: OK"


def has_outputs(nb) -> bool:
    return any(c.cell_type == "code" and (c.outputs or c.execution_count is not None) for c in nb.cells)


def strip(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    for c in nb.cells:
        if c.cell_type == "code":
            c.outputs = []
            c.execution_count = None
        c.metadata.pop("execution", None)
    nbformat.write(nb, path)


def tagged(nb, tag):
    return [i for i, c in enumerate(nb.cells) if tag in c.get("metadata", {}).get("tags", [])]


def describe_failure(nb, e) -> str:
    """Where and why execution stopped: the failing cell's first line, then its traceback."""
    ansi = re.compile(r"\x1b\[[0-9;]*m")
    for c in nb.cells:
        errors = [o for o in c.get("outputs", []) if o.get("output_type") == "error"]
        if errors:
            first_line = next((line for line in c.source.splitlines() if line.strip()), "")
            trace = "\n".join(ansi.sub("", line) for line in errors[0].get("traceback", []))
            return f"the cell starting `{first_line.strip()}` raised:\n{trace}"
    return f"execution stopped: {ansi.sub('', str(e))}"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("report_dir", nargs="?")
    ap.add_argument("--kernel", default="python3")
    ap.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    ap.add_argument("--output", help="also write the executed notebook here")
    ap.add_argument("--strip", action="store_true")
    args = ap.parse_args()

    if args.strip:
        strip(NOTEBOOK)
        print(f"stripped outputs from {NOTEBOOK}")
        return 0
    if not args.report_dir:
        ap.error("REPORT_DIR is required")

    problems = []
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    if has_outputs(nb):
        problems.append(f"{NOTEBOOK.name} is committed with outputs: strip them with `bash notebooks/run.sh --strip`")

    params = tagged(nb, "parameters")
    if len(params) != 1:
        print(f"{NOTEBOOK.name}: expected exactly one cell tagged 'parameters', found {len(params)}", file=sys.stderr)
        return 1
    report = str(Path(args.report_dir).resolve())
    injected = nbformat.v4.new_code_cell(f"# Injected by notebooks/execute.py\nREPORT_DIR = {report!r}\n")
    injected.metadata["tags"] = ["injected-parameters"]
    nb.cells.insert(params[0] + 1, injected)

    client = NotebookClient(
        nb,
        kernel_name=args.kernel,
        timeout=args.timeout,
        allow_errors=False,
        record_timing=True,
        resources={"metadata": {"path": str(HERE)}},  # the kernel starts in notebooks/, as in Jupyter
    )
    started = time.monotonic()
    print(f"notebook: executing {NOTEBOOK.name} against {report} (kernel {args.kernel}, {args.timeout}s per cell)", flush=True)
    try:
        client.execute()
    except (CellExecutionError, CellTimeoutError, DeadKernelError) as e:
        problems.append(describe_failure(nb, e))
    elapsed = time.monotonic() - started

    if not problems:
        check = tagged(nb, "headline-check")
        text = "".join(
            o.get("text", "") for i in check for o in nb.cells[i].get("outputs", []) if o.get("output_type") == "stream"
        )
        if len(check) != 1 or HEADLINE_OK not in text:
            problems.append(f"the cell tagged 'headline-check' did not print {HEADLINE_OK!r}")

    if args.output:
        nbformat.write(nb, args.output)
        print(f"notebook: executed copy written to {args.output}")
    for p in problems:
        print(f"notebook: FAILED: {p}", file=sys.stderr)
    print(f"notebook: {len(nb.cells)} cells in {elapsed:.1f}s")
    print(f"notebook: {0 if problems else 1} passed, {1 if problems else 0} failed")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
