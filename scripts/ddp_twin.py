#!/usr/bin/env python3
"""PyTorch DDP twin of `sinkscope train --devices N`: data-parallel training tokens/s on N processes.

The model is scripts/bench_twin.py's Twin (the same architecture as sinkscope's presets: --model
gpu-28m or paper-152m on GPUs, bench on the CPU). Each of --procs processes holds a replica on its own
device (cuda:<rank>, or the CPU with the gloo backend) and trains on --batch / --procs windows of --seq
tokens per step: forward, cross-entropy, backward with DDP's all-reduce of the gradients, global-norm
clipping at 1 and AdamW (betas 0.9/0.95, eps 1e-8, weight decay 0.1 on the weight matrices only), with
bfloat16 autocast when --bf16 (sinkscope --bf16: bf16 products). The global batch is the same for every
--procs, as in sinkscope (the batch is split over the devices), so tokens/s compare directly.

Rank 0 prints one JSON object: global tokens/s (median over the measured steps of the slowest rank's
step time), the first step's seconds, and the settings. Example, on a 2-GPU machine:

  python scripts/ddp_twin.py --procs 2 --device cuda --model paper-152m --batch 16 --seq 1024 --bf16
"""

import argparse
import json
import os
import statistics
import sys
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_twin  # noqa: E402  (the architecture shared with the other twins)


def worker(rank, args):
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", str(args.port))
    backend = "nccl" if args.device == "cuda" else "gloo"
    dist.init_process_group(backend, rank=rank, world_size=args.procs)
    device = f"cuda:{rank}" if args.device == "cuda" else "cpu"
    if args.device == "cuda":
        torch.cuda.set_device(rank)
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    torch.set_num_threads(args.threads)
    per = args.batch // args.procs
    bench_twin.configure(args.model, per, args.seq, device)
    torch.manual_seed(1)  # the same initial weights on every rank (DDP also broadcasts rank 0's)
    model = bench_twin.Twin().train().to(device)
    ddp = torch.nn.parallel.DistributedDataParallel(model, device_ids=[rank] if args.device == "cuda" else None)
    decay = [p for p in model.parameters() if p.dim() == 2]
    no_decay = [p for p in model.parameters() if p.dim() != 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=1e-3, betas=(0.9, 0.95), eps=1e-8)
    V = bench_twin.VOCAB
    g = torch.Generator().manual_seed(100 + rank)  # each rank its own slice of the global batch
    tokens = torch.randint(0, V, (per, args.seq + 1), generator=g)
    inputs, labels = tokens[:, :-1].contiguous().to(device), tokens[:, 1:].contiguous().to(device)

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device_type=args.device, dtype=torch.bfloat16, enabled=args.bf16):
            out = ddp(inputs).float()
        loss = F.cross_entropy(out.reshape(-1, V), labels.reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss.item()  # a host read every step, as sinkscope's loop logs the loss

    times = []
    for i in range(args.steps):
        dist.barrier()
        t0 = time.perf_counter()
        step()
        if args.device == "cuda":
            torch.cuda.synchronize()
        dt = torch.tensor([time.perf_counter() - t0])
        dist.all_reduce(dt, op=dist.ReduceOp.MAX)  # a step is as slow as its slowest rank
        times.append(dt.item())
    if rank == 0:
        measured = times[args.warmup:]
        print(json.dumps({"procs": args.procs, "device": args.device, "model": args.model, "batch": args.batch,
                          "seq": args.seq, "bf16": args.bf16, "torch": torch.__version__,
                          "first_step_s": round(times[0], 3), "steps_measured": len(measured),
                          "tokens_per_s": round(args.batch * args.seq / statistics.median(measured), 1)}))
    dist.destroy_process_group()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--procs", type=int, default=2, help="processes (devices); the global batch is split over them")
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    ap.add_argument("--model", default="paper-152m", choices=sorted(bench_twin.MODELS))
    ap.add_argument("--batch", type=int, default=16, help="global batch (windows per step over all processes)")
    ap.add_argument("--seq", type=int, default=1024)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=10, help="steps left out of the median")
    ap.add_argument("--bf16", action="store_true")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per process (CPU)")
    ap.add_argument("--port", type=int, default=29517)
    args = ap.parse_args()
    if args.procs < 1 or args.batch % args.procs != 0:
        ap.error(f"--batch {args.batch} must split evenly over --procs {args.procs}")
    if args.steps <= args.warmup:
        ap.error(f"--steps {args.steps} must exceed --warmup {args.warmup}")
    if args.device == "cuda" and torch.cuda.device_count() < args.procs:
        ap.error(f"--procs {args.procs} needs as many GPUs; this machine has {torch.cuda.device_count()}")
    mp.spawn(worker, args=(args,), nprocs=args.procs, join=True)


if __name__ == "__main__":
    main()
