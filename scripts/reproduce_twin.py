#!/usr/bin/env python3
"""PyTorch twin of `sinkscope reproduce --bf16` on a Hugging Face Llama checkpoint: computes the
inputs of the paper's findings the way a researcher would with transformers, for timing the whole
workflow side by side (scripts/gpu-bench.sh workflow).

  reproduce_twin.py MODEL_DIR [--samples 20] [--seq 64] [--random 500] [--batch 16] [--device cuda]

Steps, all timed together from before the load to the last copy to the host:
  load       LlamaForCausalLM.from_pretrained, bfloat16 weights, eager attention, on --device
  main batch --samples x --seq random tokens, BOS (config.json's bos_token_id) at position 0; one
             forward with every attention pattern and hidden state, copied to the host as float32,
             and the layer-1 FFN activations (the input of mlp.down_proj: the super neurons)
  random     --random x --seq random tokens in micro-batches of --batch: the inputs of W_O (o_proj)
             of layers 0-2 reduced on the device to per-position mean and across-sample std (Fig. 4b)
  weights    the row norms of every layer's W_O and W_down, on the device, then copied out
It prints one JSON object: load, compute and total seconds, and the peak GPU memory torch allocated
and reserved.
"""

import argparse
import json
import time

import torch
from transformers import LlamaForCausalLM


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model")
    ap.add_argument("--samples", type=int, default=20)
    ap.add_argument("--seq", type=int, default=64)
    ap.add_argument("--random", type=int, default=500)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--device", default="cuda")
    a = ap.parse_args()
    dev = torch.device(a.device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)

    t0 = time.time()
    try:
        model = LlamaForCausalLM.from_pretrained(a.model, torch_dtype=torch.bfloat16,
                                                 attn_implementation="eager", device_map=a.device)
    except (ImportError, ValueError):  # device_map needs accelerate
        model = LlamaForCausalLM.from_pretrained(a.model, torch_dtype=torch.bfloat16,
                                                 attn_implementation="eager").to(dev)
    model.eval()
    sync()
    t_load = time.time() - t0
    cfg = model.config
    g = torch.Generator().manual_seed(0)
    host = {}

    with torch.no_grad():
        # Main batch: every pattern and hidden state to the host, layer-1 FFN activations.
        ids = torch.randint(0, cfg.vocab_size, (a.samples, a.seq), generator=g)
        ids[:, 0] = cfg.bos_token_id
        ffn = {}
        h = model.model.layers[1].mlp.down_proj.register_forward_pre_hook(
            lambda m, inp: ffn.__setitem__("l1", inp[0].float().cpu()))
        out = model(ids.to(dev), output_attentions=True, output_hidden_states=True)
        h.remove()
        host["attentions"] = [t.float().cpu() for t in out.attentions]
        host["hidden"] = [t.float().cpu() for t in out.hidden_states]
        host["ffn_l1"] = ffn["l1"]

        # Random batch: W_O inputs of layers 0-2 reduced on the device across samples.
        D = cfg.hidden_size
        s1 = torch.zeros(3, a.seq, D, device=dev)
        s2 = torch.zeros(3, a.seq, D, device=dev)
        cur = {}
        hooks = [model.model.layers[l].self_attn.o_proj.register_forward_pre_hook(
            (lambda l: lambda m, inp: cur.__setitem__(l, inp[0].float()))(l)) for l in range(3)]
        rnd = torch.randint(0, cfg.vocab_size, (a.random, a.seq), generator=g)
        for i in range(0, a.random, a.batch):
            cur.clear()
            model.model(rnd[i:i + a.batch].to(dev))  # no unembedding: only the W_O inputs are read
            for l in range(3):
                x = cur[l]  # [b, T, D]
                s1[l] += x.sum(0)
                s2[l] += (x * x).sum(0)
        for hk in hooks:
            hk.remove()
        mean = s1 / a.random
        std = (s2 / a.random - mean * mean).clamp_min(0).sqrt()
        host["wo_in_mean"], host["wo_in_std"] = mean.cpu(), std.cpu()

        # Weight row norms.
        host["wo_rows"] = torch.stack([ly.self_attn.o_proj.weight.float().norm(dim=1) for ly in model.model.layers]).cpu()
        host["wdown_rows"] = torch.stack([ly.mlp.down_proj.weight.float().norm(dim=1) for ly in model.model.layers]).cpu()
    sync()
    total = time.time() - t0
    nbytes = sum(t.numel() * 4 for v in host.values() for t in (v if isinstance(v, list) else [v]))
    res = {"twin": "transformers", "model": a.model, "load_s": round(t_load, 2),
           "compute_s": round(total - t_load, 2), "total_s": round(total, 2),
           "to_host_MB": round(nbytes / 1e6, 1), "torch": torch.__version__}
    if dev.type == "cuda":
        res["peak_allocated_GB"] = round(torch.cuda.max_memory_allocated() / 1e9, 2)
        res["peak_reserved_GB"] = round(torch.cuda.max_memory_reserved() / 1e9, 2)
    print(json.dumps(res), flush=True)


if __name__ == "__main__":
    main()
