#!/usr/bin/env python3
"""PyTorch twin of sinkscope's benchmarks: CPU (scripts/bench-cpu.sh) and GPU (scripts/gpu-bench.sh).

--model bench (the default) is the model of sinks/transformer/bench_test.go (benchConfig):
Llama-style, 4 layers, d 128, 4 query heads and 2 key/value heads (GQA, d_head 32), SwiGLU 512
(silu), vocab 512, RMSNorm eps 1e-6, RoPE theta 10000 (HF rotate_half), untied unembedding, no
biases, N(0, 0.02) init; float32, a batch of 8 x 64 tokens. --model paper-152m is sinkscope's
random:paper-152m (d 768, 12 layers, 12 heads, SwiGLU 3072, vocab 50304, tied embeddings), for the
GPU comparison with `sinkscope bench`; --batch and --seq set the batch, --device the torch device.
Attention is written out (scores, mask, softmax, pattern . V) as the Go forward pass does it. The
cases match the Go benchmarks:

  logits    BenchmarkForwardLogits: eval mode, no_grad, logits copied out as numpy
  patterns  BenchmarkForwardPatterns: the attention pattern of every layer copied out, no unembedding
  capture   BenchmarkForwardFullCapture: every hook point sinkscope captures with Capture("*")
            (embed; per block resid_pre, ln1, q, k, v, rot_q, rot_k, attn_scores, pattern, z, per-head
            result, attn_out, resid_mid, ln2, mlp gate/up/post, mlp_out, resid_post; final norm, logits)
  capture_bf16  the same hook points copied out in bfloat16 and widened to float32 on the host
            (`sinkscope bench`'s "full capture, bf16": CaptureInBF16)
  train     BenchmarkTrainStep (sinks/train): forward, cross-entropy, backward, global-norm clipping at 1
            and an AdamW step (betas 0.9/0.95, eps 1e-8, weight decay 0.1 on the weight matrices only)
  sinkonset `sinkscope bench`'s "sink onset, device": Fig. 3's statistics reduced on the device (per
            layer and sample: attention to token 0 summed over queries 1..T-1, query 0's self-weight,
            the weight on keys 1..q, Gu's column mean, residual norms per position), then copied out

Each case runs a warm-up, then repeats until at least --seconds have passed; tokens/s goes to
stdout as one JSON object.
"""

import argparse
import json
import math
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

MODELS = {  # vocab, d, layers, heads, kv heads, mlp, tied embeddings
    "bench": (512, 128, 4, 4, 2, 512, False),
    "gpu-28m": (8192, 512, 8, 8, 8, 1536, True),
    "paper-152m": (50304, 768, 12, 12, 12, 3072, True),
}
VOCAB, D, LAYERS, HEADS, KV_HEADS, MLP, TIED = MODELS["bench"]
EPS, THETA = 1e-6, 10000.0
DH = D // HEADS
BATCH, SEQ = 8, 64
DEVICE = "cpu"


def configure(model, batch, seq, device):
    global VOCAB, D, LAYERS, HEADS, KV_HEADS, MLP, TIED, DH, BATCH, SEQ, DEVICE
    VOCAB, D, LAYERS, HEADS, KV_HEADS, MLP, TIED = MODELS[model]
    DH, BATCH, SEQ, DEVICE = D // HEADS, batch, seq, device


class RMSNorm(nn.Module):
    def __init__(self, d, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x):
        return x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rotate_half(x):
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2 :]
    return torch.cat((-x2, x1), dim=-1)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1 = RMSNorm(D, EPS)
        self.q = nn.Linear(D, HEADS * DH, bias=False)
        self.k = nn.Linear(D, KV_HEADS * DH, bias=False)
        self.v = nn.Linear(D, KV_HEADS * DH, bias=False)
        self.o = nn.Linear(HEADS * DH, D, bias=False)
        self.ln2 = RMSNorm(D, EPS)
        self.gate = nn.Linear(D, MLP, bias=False)
        self.up = nn.Linear(D, MLP, bias=False)
        self.down = nn.Linear(MLP, D, bias=False)

    def forward(self, x, cos, sin, mask, hook):
        B, T, _ = x.shape
        x = hook("hook_resid_pre", x)
        h = hook("ln1.hook_normalized", self.ln1(x))
        q = hook("attn.hook_q", self.q(h).view(B, T, HEADS, DH))
        k = hook("attn.hook_k", self.k(h).view(B, T, KV_HEADS, DH))
        v = hook("attn.hook_v", self.v(h).view(B, T, KV_HEADS, DH))
        q = hook("attn.hook_rot_q", q * cos + rotate_half(q) * sin)
        k = hook("attn.hook_rot_k", k * cos + rotate_half(k) * sin)
        rep = HEADS // KV_HEADS  # query head i reads key/value head i // rep (HF repeat_kv)
        kh = k.repeat_interleave(rep, dim=2)
        vh = v.repeat_interleave(rep, dim=2)
        scores = torch.einsum("bqhd,bkhd->bhqk", q, kh) * (1.0 / math.sqrt(DH))
        scores = hook("attn.hook_attn_scores", scores.masked_fill(~mask, float("-inf")))
        pattern = hook("attn.hook_pattern", torch.softmax(scores, dim=-1))
        z = hook("attn.hook_z", torch.einsum("bhqk,bkhd->bqhd", pattern, vh))
        wo = self.o.weight.view(D, HEADS, DH)
        if hook.wants("attn.hook_result"):  # per-head outputs, summed (as sinkscope does when captured)
            result = hook("attn.hook_result", torch.einsum("bphe,dhe->bphd", z, wo))
            attn_out = result.sum(2)
        else:
            attn_out = self.o(z.reshape(B, T, HEADS * DH))
        attn_out = hook("hook_attn_out", attn_out)
        x = hook("hook_resid_mid", x + attn_out)
        h = hook("ln2.hook_normalized", self.ln2(x))
        gate = hook("mlp.hook_gate", self.gate(h))
        up = hook("mlp.hook_up", self.up(h))
        post = hook("mlp.hook_post", F.silu(gate) * up)
        mlp_out = hook("hook_mlp_out", self.down(post))
        return hook("hook_resid_post", x + mlp_out)


class Hooks:
    """Copies the selected hook points out as numpy arrays (names as sinkscope's)."""

    def __init__(self, select=None, bf16=False):
        self.select = select  # None: nothing; "*": everything; else a set of suffixes
        self.bf16 = bf16  # copy out in bfloat16 and widen on the host (sinkscope's CaptureInBF16)
        self.layer = -1
        self.out = {}

    def name(self, suffix):
        return suffix if self.layer < 0 else f"blocks.{self.layer}.{suffix}"

    def wants(self, suffix):
        return self.select == "*" or (self.select is not None and suffix in self.select)

    def __call__(self, suffix, x):
        if self.wants(suffix):
            if self.bf16:
                self.out[self.name(suffix)] = x.detach().to(torch.bfloat16).cpu().float().numpy()
            else:
                self.out[self.name(suffix)] = x.detach().cpu().numpy().copy()
        return x


class Twin(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, D)
        self.blocks = nn.ModuleList(Block() for _ in range(LAYERS))
        self.ln_final = RMSNorm(D, EPS)
        self.unembed = nn.Linear(D, VOCAB, bias=False)
        for p in self.parameters():
            if p.dim() == 2:
                nn.init.normal_(p, std=0.02)
        if TIED:
            self.unembed.weight = self.embed.weight

    def forward(self, tokens, hook=None, logits=True):
        hook = hook or Hooks()
        B, T = tokens.shape
        dev = tokens.device
        inv = 1.0 / THETA ** (torch.arange(0, DH, 2, dtype=torch.float32, device=dev) / DH)
        freqs = torch.outer(torch.arange(T, dtype=torch.float32, device=dev), inv)
        emb = torch.cat((freqs, freqs), dim=-1)  # [T, DH]
        cos, sin = emb.cos()[None, :, None, :], emb.sin()[None, :, None, :]
        mask = torch.ones(T, T, dtype=torch.bool, device=dev).tril()
        hook.layer = -1
        x = hook("hook_embed", self.embed(tokens))
        for l, block in enumerate(self.blocks):
            hook.layer = l
            x = block(x, cos, sin, mask, hook)
        hook.layer = -1
        if not logits and not hook.wants("logits"):
            return None
        x = hook("ln_final.hook_normalized", self.ln_final(x))
        return hook("logits", self.unembed(x))


def measure(fn, seconds, warmup=3):
    """tokens/s of fn after warm-up calls, the iterations, and the first call's seconds (compilation)."""
    t0 = time.perf_counter()
    fn()
    first = time.perf_counter() - t0
    for _ in range(warmup - 1):
        fn()
    n, t0 = 0, time.perf_counter()
    while True:
        fn()
        n += 1
        elapsed = time.perf_counter() - t0
        if elapsed >= seconds:
            return BATCH * SEQ * n / elapsed, n, first


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (1 was fastest on 2 cores)")
    ap.add_argument("--seconds", type=float, default=3.0, help="minimum measuring time per case")
    ap.add_argument("--cases", default="logits,patterns,capture,train")
    ap.add_argument("--model", default="bench", choices=sorted(MODELS))
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=64)
    ap.add_argument("--device", default="cpu", help="torch device, e.g. cuda")
    ap.add_argument("--bf16", action="store_true", help="train case: bfloat16 autocast (sinkscope --bf16: bf16 products)")
    ap.add_argument("--compile", action="store_true", help="train case: torch.compile the model")
    args = ap.parse_args()
    configure(args.model, args.batch, args.seq, args.device)
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    if DEVICE.startswith("cuda"):
        torch.backends.cuda.matmul.allow_tf32 = False  # float32 products as sinkscope's (no TF32)
        torch.backends.cudnn.allow_tf32 = False

    model = Twin().eval().to(DEVICE)
    tokens = torch.tensor([[(b * 7 + p * 13 + 3) % VOCAB for p in range(SEQ + 1)] for b in range(BATCH)])
    inputs, labels = tokens[:, :-1].contiguous().to(DEVICE), tokens[:, 1:].contiguous().to(DEVICE)

    def logits():
        with torch.no_grad():
            return model(inputs).cpu().numpy().copy()

    def sinkonset():
        with torch.no_grad():
            stats = []  # reduced on the device, copied out at the end

            class Reduce(Hooks):
                def wants(self, suffix):
                    return suffix in ("attn.hook_pattern", "hook_resid_pre")

                def __call__(self, suffix, x):
                    if suffix == "attn.hook_pattern":
                        T = x.shape[-1]
                        q = torch.arange(T, device=x.device)
                        lower = (q[None, :] <= q[:, None]) & (q[None, :] >= 1) & (q[:, None] >= 1)
                        stats.append(x[:, :, 1:, 0].sum(-1))  # [b, h]
                        stats.append(x[:, :, 0, 0])
                        stats.append((x * lower).sum((-1, -2)))
                        stats.append(x[:, :, :, 0].mean(-1))
                    elif suffix == "hook_resid_pre":
                        stats.append(x.norm(dim=-1))  # [b, p]
                    return x

            model(inputs, Reduce(), logits=False)
            return [t.cpu().numpy() for t in stats]

    def patterns():
        with torch.no_grad():
            h = Hooks({"attn.hook_pattern"})
            model(inputs, h, logits=False)
            return h.out

    def capture():
        with torch.no_grad():
            h = Hooks("*")
            model(inputs, h)
            return h.out

    def capture_bf16():
        with torch.no_grad():
            h = Hooks("*", bf16=True)
            model(inputs, h)
            return h.out

    train_model = Twin().train().to(DEVICE)
    decay = [p for n, p in train_model.named_parameters() if p.dim() == 2]
    no_decay = [p for n, p in train_model.named_parameters() if p.dim() != 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=1e-3, betas=(0.9, 0.95), eps=1e-8)

    step_model = torch.compile(train_model) if args.compile else train_model

    def train():
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device_type=DEVICE.split(":")[0], dtype=torch.bfloat16, enabled=args.bf16):
            out = step_model(inputs).float()
        loss = F.cross_entropy(out.reshape(-1, VOCAB), labels.reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(train_model.parameters(), 1.0)
        opt.step()
        return loss.item()

    if "capture" in args.cases:
        with_hooks = capture()
        assert len(with_hooks) == 3 + 19 * LAYERS, sorted(with_hooks)  # sinkscope's Capture("*") count
    cases = {"logits": logits, "patterns": patterns, "capture": capture, "capture_bf16": capture_bf16, "train": train,
             "sinkonset": sinkonset}
    result = {"threads": args.threads, "torch": torch.__version__, "model": args.model, "batch": BATCH, "seq": SEQ,
              "device": DEVICE, "bf16": args.bf16, "compile": args.compile}
    for name in args.cases.split(","):
        tps, n, first = measure(cases[name], args.seconds)
        result[name] = {"tokens_per_s": round(tps, 1), "iterations": n, "first_s": round(first, 3)}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
