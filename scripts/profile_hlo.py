#!/usr/bin/env python3
"""Per-kernel GPU time of an XLA program dumped as HLO text, for comparing sinkscope's compiled
training step with the JAX twin's on the same GPU (scripts/gpu-bench.sh profile).

sinkscope's Go binary has no profiler of its own; XLA can dump every program it compiles
(XLA_FLAGS="--xla_dump_to=DIR --xla_dump_hlo_as_text"). This script compiles such a dump
(`*.before_optimizations.txt`, the program as the framework handed it to XLA) with the same PJRT
plugin through JAX, runs it on zero-filled inputs of the program's parameter shapes under JAX's
profiler, and prints the GPU kernels' time per execution, largest first, grouped by kind (matrix
products, fusions, copies and transposes). Both programs go through the same compiler and the same
tool, so the two listings compare like with like.

    profile_hlo.py DUMP.before_optimizations.txt [--iters 20] [--top 30] [--json OUT]
"""

import argparse
import collections
import glob
import gzip
import json
import os
import re
import sys
import tempfile
import time

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)  # int64 parameters (step counters) stay int64


def compile_hlo_text(text):
    """Compiles HLO text with the first GPU's client; returns (executable, parameter shapes)."""
    from jax._src.lib import xla_client as xc

    xla = getattr(xc, "_xla", None)
    parsers = []
    for owner in (xla, getattr(xc, "hlo", None)):
        if owner is not None and hasattr(owner, "hlo_module_from_text"):
            parsers.append(owner.hlo_module_from_text)
    try:
        from jaxlib import _hlo  # newer jaxlib keeps the HLO helpers here

        parsers.append(_hlo.hlo_module_from_text)
    except ImportError:
        pass
    if not parsers:
        sys.exit(f"no HLO text parser in this jaxlib; xla_client has {sorted(dir(xc))}")
    proto = parsers[0](text).as_serialized_hlo_module_proto()
    comp = xc.XlaComputation(proto)
    mlir = xla.mlir
    try:
        mlir_text = mlir.hlo_to_stablehlo(proto)
    except Exception:
        mlir_text = mlir.xla_computation_to_mlir_module(comp)
    client = jax.devices()[0].client
    opts = xc.CompileOptions()
    dev = jax.devices()[:1]
    errs = []
    for attempt in (
        lambda: client.compile_and_load(mlir_text, xc.DeviceList(tuple(dev)), opts),
        lambda: client.compile_and_load(mlir_text, xc.DeviceList(tuple(dev)), opts, []),
        lambda: client.compile(mlir_text, opts),
    ):
        try:
            exe = attempt()
            break
        except Exception as e:  # API differs between jaxlib versions
            errs.append(repr(e)[:300])
    else:
        sys.exit("could not compile:\n  " + "\n  ".join(errs))
    return exe, parameter_shapes(text)


HLO_DTYPES = {"f32": np.float32, "f64": np.float64, "bf16": jax.numpy.bfloat16, "f16": np.float16,
              "s32": np.int32, "s64": np.int64, "u32": np.uint32, "u64": np.uint64, "s8": np.int8,
              "u8": np.uint8, "pred": np.bool_}


def parameter_shapes(text):
    """[(dims, numpy dtype)] of the entry computation's parameters, from the module's header line
    (entry_computation_layout={(f32[8192,512]{1,0}, s32[32,256]{1,0}, ...)->...})."""
    head = text[: text.index("\n")]
    start = head.index("entry_computation_layout={(") + len("entry_computation_layout={(")
    params = head[start: head.index(")->", start)]
    params = re.sub(r"/\*.*?\*/", "", params)
    out = []
    for dt, dims in re.findall(r"(\w+)\[([\d,]*)\]", params):
        out.append((tuple(int(d) for d in dims.split(",") if d), HLO_DTYPES[dt]))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("hlo")
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--top", type=int, default=30)
    ap.add_argument("--json")
    args = ap.parse_args()
    print(f"jax {jax.__version__}, {jax.devices()[0].device_kind}, {args.hlo}")
    text = open(args.hlo).read()
    t0 = time.perf_counter()
    exe, shapes = compile_hlo_text(text)
    print(f"compiled in {time.perf_counter() - t0:.1f}s; {len(shapes)} parameters")
    dev = jax.devices()[0]

    def inputs():
        return [jax.device_put(np.zeros(d, t), dev) for d, t in shapes]

    def run():
        out = exe.execute(inputs())
        jax.block_until_ready(out)
        return out

    for _ in range(3):
        run()
    trace_dir = tempfile.mkdtemp(prefix="profile-hlo-")
    walls = []
    with jax.profiler.trace(trace_dir, create_perfetto_trace=True):
        for _ in range(args.iters):
            ins = inputs()
            jax.block_until_ready(ins)
            t = time.perf_counter()
            jax.block_until_ready(exe.execute(ins))
            walls.append(time.perf_counter() - t)
    walls.sort()
    print(f"wall per execution: median {1e3 * walls[len(walls) // 2]:.2f} ms, min {1e3 * walls[0]:.2f} ms")
    summarize(trace_dir, args.iters, args.top, args.json)


def kind(name):
    n = name.lower()
    # XLA names its Triton GEMMs gemm_fusion_dot_*, so they count with cuBLAS's kernels as products.
    if any(s in n for s in ("gemm", "cutlass", "xmma", "nvjet", "cublas", "sm90", "sm100", "ampere", "hopper")):
        return "matmul (cuBLAS, Triton)"
    if "triton" in n:
        return "triton fusion"
    if "transpose" in n:
        return "transpose"
    if "copy" in n or "memcpy" in n or "memset" in n:
        return "copy/memset"
    if "reduce" in n or "input_" in n:
        return "reduction fusion"
    if "scatter" in n or "gather" in n:
        return "scatter/gather"
    if "fusion" in n or "loop_" in n:
        return "loop fusion"
    return "other"


def summarize(trace_dir, iters, top, json_out):
    files = glob.glob(os.path.join(trace_dir, "**", "*perfetto_trace.json.gz"), recursive=True)
    if not files:
        print("no perfetto trace in", trace_dir, os.listdir(trace_dir))
        return
    with gzip.open(files[0]) as f:
        tr = json.load(f)
    events = tr["traceEvents"] if isinstance(tr, dict) else tr
    pname = {}
    for e in events:
        if e.get("ph") == "M" and e.get("name") == "process_name":
            pname[e["pid"]] = e.get("args", {}).get("name", "")
    gpu_pids = {p for p, n in pname.items() if "gpu" in n.lower() or "device" in n.lower()}
    by_name = collections.defaultdict(lambda: [0.0, 0])
    for e in events:
        if e.get("ph") != "X" or e.get("pid") not in gpu_pids or e["name"].startswith("Memcpy"):
            continue  # the inputs' host-to-device copies are the harness's, not the program's
        by_name[e["name"]][0] += e.get("dur", 0.0)
        by_name[e["name"]][1] += 1
    total = sum(v[0] for v in by_name.values())
    print(f"GPU time per execution: {total / iters / 1e3:.2f} ms over {sum(v[1] for v in by_name.values()) / iters:.0f} kernels "
          f"(processes: {sorted(pname[p] for p in gpu_pids)})")
    kinds = collections.defaultdict(lambda: [0.0, 0])
    for n, (d, c) in by_name.items():
        kinds[kind(n)][0] += d
        kinds[kind(n)][1] += c
    for k, (d, c) in sorted(kinds.items(), key=lambda kv: -kv[1][0]):
        print(f"  {k:18s} {d / iters / 1e3:8.2f} ms  {100 * d / total:5.1f} %  {c / iters:6.0f} kernels")
    print("largest kernels (ms per execution, launches per execution):")
    for n, (d, c) in sorted(by_name.items(), key=lambda kv: -kv[1][0])[:top]:
        print(f"  {d / iters / 1e3:8.3f} ms {c / iters:5.0f}×  {n[:140]}")
    if json_out:
        with open(json_out, "w") as f:
            json.dump({"iters": iters, "kernels": {n: v for n, v in by_name.items()}}, f)


if __name__ == "__main__":
    main()
