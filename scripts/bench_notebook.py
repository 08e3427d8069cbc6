"""Warm-cell latency of the GoNB kernel, as a notebook user sees it (run by scripts/bench-notebook.sh).

Each round starts a fresh kernel from a copy of the installed `gonb` kernel spec (same argv and
environment, plus -v=2 so that GoNB logs when it runs each step), runs the notebooks' set-up cell
(read from 00_quickstart), a cell that imports what the notebooks import (plots, plots/notebook,
sinks/backend, sinks/findings, sinks/metrics, sinks/models), then --cells trivial cells. Every trivial cell has new source (a
counter), so GoNB compiles and links a new program each time, as it does for any cell a user edits
or adds (a cell executed again unchanged finds its binary up to date and skips the link).

Times are from sending the execute request to the kernel going idle. GoNB's log splits each cell
into goimports, `go get` (GoNB runs it before every build unless %noautoget), `go build` and the
run of the program; "other" is the rest of the cell's time (messaging, GoNB's parsing).

--compare also measures a kernel without the notebook build flags that scripts/setup.sh adds to the
kernel's GOFLAGS (-ldflags=-w), i.e. the kernel as it was before; the variants alternate round by
round so that load from other jobs falls on both.
"""

import argparse
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import time

from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager

NOTEBOOK_LDFLAGS = "-ldflags=-w"  # what scripts/setup.sh puts in the kernel's GOFLAGS


def setup_cell(root):
    """The notebooks' set-up cell (go.mod of GoNB's temp module pointed at this checkout), from 00_quickstart."""
    with open(os.path.join(root, "notebooks", "00_quickstart.ipynb")) as f:
        nb = json.load(f)
    for cell in nb["cells"]:
        src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if cell["cell_type"] == "code" and src.startswith("!*"):
            return src
    sys.exit("no set-up cell (starting with !*) in notebooks/00_quickstart.ipynb")


IMPORT_CELL = '''import (
	"fmt"

	"github.com/sinkscope/sinkscope/plots"
	"github.com/sinkscope/sinkscope/plots/notebook"
	"github.com/sinkscope/sinkscope/sinks/backend"
	"github.com/sinkscope/sinkscope/sinks/findings"
	"github.com/sinkscope/sinkscope/sinks/metrics"
	"github.com/sinkscope/sinkscope/sinks/models"
)

var Spec = models.InputSpec{Data: "auto", BOS: "auto", N: 8, SeqLen: 32, Seed: 0}

// uses keeps every import (GoNB drops unused ones), as the notebooks' declarations do.
func uses() {
	_ = plots.Options{}
	_ = notebook.Must[int]
	_ = backend.New
	_ = findings.TargetPositions
	_ = metrics.SinkOnset
}

%%
fmt.Println("imports ready")'''

WARM_CELL = '%%%%\nfmt.Println("warm cell", %d, Spec.N)'

STEPS = ("goimports", "go get", "go build", "run")


def variants(spec, compare):
    """(label, env) pairs: the installed kernel and, with compare, the kernel without NOTEBOOK_LDFLAGS."""
    env = dict(spec.env or {})
    out = [("installed kernel", env)]
    if compare:
        before = dict(env)
        flags = " ".join(f for f in before.get("GOFLAGS", "").split() if f != NOTEBOOK_LDFLAGS)
        if flags:
            before["GOFLAGS"] = flags
        else:
            before.pop("GOFLAGS", None)
        if before == env:
            sys.exit(f"--compare: the installed kernel has no {NOTEBOOK_LDFLAGS} in GOFLAGS (re-run scripts/setup.sh)")
        out.append((f"without {NOTEBOOK_LDFLAGS}", before))
    return out


def write_spec(kernels_dir, name, spec, env):
    argv = [a for a in spec.argv if not a.startswith("-v=")] + ["-v=2"]
    d = os.path.join(kernels_dir, name)
    os.makedirs(d)
    with open(os.path.join(d, "kernel.json"), "w") as f:
        json.dump({"argv": argv, "display_name": name, "language": "go", "env": env}, f, indent=1)


LOG_LINE = re.compile(r"^I\d{4} (\d\d):(\d\d):(\d\d\.\d+)\s")


def split_steps(log_path):
    """Per executed cell, seconds spent in each step, from GoNB's -v=2 log."""
    marks = [  # checked in order: PostExecuteCell also contains "ExecuteCell(): CellIsTest"
        ("end", "PostExecuteCell("),
        ("start", "ExecuteCell(): CellIsTest"),
        ("goimports", "bin/goimports -w"),
        ("go get", "/go get"),
        ("go build", "/go build -o"),
        ("run", " Executing: "),  # jpyexec starting the compiled cell
    ]
    cells, cur = [], None
    with open(log_path, errors="replace") as f:
        for line in f:
            m = LOG_LINE.match(line)
            if not m:
                continue
            t = int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3))
            for key, pat in marks:
                if pat in line:
                    if key == "start":
                        cur = {"start": t}
                        cells.append(cur)
                    elif cur is not None:
                        cur[key] = t
                    break
    out = []
    for c in cells:
        if not all(k in c for k in ("start", "end") + STEPS):
            continue  # a bash-only cell or a failed one
        order = ["goimports", "go get", "go build", "run", "end"]
        out.append({k: c[order[i + 1]] - c[k] for i, k in enumerate(order[:-1])})
    return out


def session(name, root, cells, log_path):
    """One kernel: set-up cell, import cell, then `cells` warm cells. Returns (first, [warm], steps)."""
    km = KernelManager(kernel_name=name)
    with open(log_path, "w") as log:
        km.start_kernel(cwd=os.path.join(root, "notebooks"), stdout=log, stderr=log)
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=120)

        def run(code):
            start = time.perf_counter()
            msg_id = kc.execute(code)
            output, error = [], None
            while True:
                m = kc.get_iopub_msg(timeout=1200)
                if m["parent_header"].get("msg_id") != msg_id:
                    continue
                kind = m["msg_type"]
                if kind == "stream":
                    output.append(m["content"]["text"])
                elif kind == "error":
                    error = "\n".join(m["content"]["traceback"])
                elif kind == "status" and m["content"]["execution_state"] == "idle":
                    break
            elapsed = time.perf_counter() - start
            if error is not None:
                sys.exit(f"cell failed in kernel {name}:\n{code}\n--- output:\n{''.join(output)}\n{error}\n(kernel log: {log_path})")
            return elapsed

        run(setup_cell(root))
        first = run(IMPORT_CELL)
        warm = [run(WARM_CELL % i) for i in range(cells)]
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=False)
    steps = split_steps(log_path)[1:]  # [0] is the import cell
    if len(steps) != len(warm):
        steps = []  # the log did not have every step of every cell: no split
    for wall, s in zip(warm, steps):
        s["other"] = wall - sum(s.values())
    return first, warm, steps


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", required=True, help="sinkscope checkout")
    ap.add_argument("--rounds", type=int, default=3, help="kernels started per variant")
    ap.add_argument("--cells", type=int, default=4, help="warm cells per kernel")
    ap.add_argument("--compare", action="store_true", help=f"also measure the kernel without {NOTEBOOK_LDFLAGS}")
    ap.add_argument("--kernel", default="gonb", help="installed kernel spec to copy")
    args = ap.parse_args()

    spec = KernelSpecManager().get_kernel_spec(args.kernel)
    tmp = tempfile.mkdtemp(prefix="sinkscope-bench-notebook-")
    try:
        vs = variants(spec, args.compare)
        for i, (_, env) in enumerate(vs):
            write_spec(os.path.join(tmp, "kernels"), f"sinkscope-bench-{i}", spec, env)
        os.environ["JUPYTER_PATH"] = tmp + (os.pathsep + os.environ["JUPYTER_PATH"] if os.environ.get("JUPYTER_PATH") else "")
        results = {label: {"first": [], "warm": [], "steps": []} for label, _ in vs}
        for r in range(args.rounds):
            for i, (label, _) in enumerate(vs):
                log = os.path.join(tmp, f"kernel-{i}-{r}.log")
                first, warm, steps = session(f"sinkscope-bench-{i}", args.root, args.cells, log)
                res = results[label]
                res["first"].append(first)
                res["warm"] += warm
                res["steps"] += steps
                print(f"round {r + 1} {label}: import cell {first:.2f}s, warm cells " + " ".join(f"{w:.2f}" for w in warm) + "s", flush=True)
        print()
        for label, res in results.items():
            warm, steps = res["warm"], res["steps"]
            med = statistics.median(warm)
            split = ""
            if steps:
                split = ", ".join(f"{k} {statistics.median(s[k] for s in steps):.2f}" for k in STEPS + ("other",))
            print(f"{label}: warm cell median {med:.2f}s (n={len(warm)}, min {min(warm):.2f}, max {max(warm):.2f});"
                  f" import cell median {statistics.median(res['first']):.2f}s")
            if split:
                print(f"  median split (s): {split}")
        env = dict(spec.env or {})
        print(f"\nwarm cell median: {statistics.median(results[vs[0][0]]['warm']):.2f}s"
              f" (installed kernel, GOFLAGS={env.get('GOFLAGS', '')!r})")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
