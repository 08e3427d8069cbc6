#!/usr/bin/env python3
"""PyTorch twin of sinkscope's training recipe, and the fixture a Go training test compares against.

What it does
  1. Defines a small, readable Llama in plain torch ("the twin": token embedding; per block
     RMSNorm -> RoPE attention (q/k/v/o, no bias, HF rotate_half, causal, scale 1/sqrt(d_head),
     grouped-query heads) -> residual, RMSNorm -> SwiGLU MLP -> residual; final RMSNorm; untied
     lm_head) whose parameter names and layouts are those of HF LlamaForCausalLM checkpoints.
  2. Validates the twin against activations that HF transformers computed and that are already
     committed: ../../../transformer/testdata/parity/llama2 (random tiny Llama: logits, hidden
     states, attention, q/k, z, MLP activations) and ../../../findings/testdata/trained_bb
     (a trained 2-layer Llama: logits). It stops if the logits differ by more than 1e-5.
  3. Builds the recipe's model (vocab 32, d 64, 2 layers, 4 heads, SwiGLU 128, seed 1234), data
     (20 steps x 4 windows of 17 tokens, numpy default_rng(7); held-out batch from rng(8)) and
     trains it twice for 20 steps with torch.optim.AdamW (two parameter groups, decay 0.1 on
     matrices only), warm-up + cosine learning rate, global-norm clipping at 1.0:
       run A: one micro-batch of 4 windows per step;
       run B: gradient accumulation, 2 micro-batches of 2 windows (loss / 2 each).
     Per step it records loss, pre-clip gradient norm and learning rate. Each run is done twice
     and must give identical numbers (determinism check).
  4. Writes, next to this script: config.json, model.safetensors (initial weights),
     batches.json, expected.json, final_a.safetensors (weights after step 20 of run A).
  5. Unless --no-variants is given it measures how far GoMLX-style optimizer
     choices move the loss (weight decay on every variable, no global-norm clipping, GoMLX's or a
     zero-start warm-up, eps inside the square root, GoMLX default eps/beta2) after 20 and 45
     steps, on the recipe's data and on a learnable Markov-chain task, for 3 init seeds, and
     writes variants.json.

How to run (from anywhere; about 30 s on one CPU core):
    /usr/bin/python3 make_parity.py              # everything
    /usr/bin/python3 make_parity.py --no-variants  # twin validation + fixture only
    /usr/bin/python3 make_parity.py --out DIR    # write somewhere else

Needs: python3, torch (made with Debian's python3-torch 1.13.1) and numpy. No transformers and no
safetensors package: the safetensors files are read and written by the small codec below.
Runs on the CPU in float32 with one thread and deterministic algorithms.
"""

import argparse
import json
import math
import os
import platform
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_SINKS = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
LLAMA2_DIR = os.path.join(REPO_SINKS, "transformer", "testdata", "parity", "llama2")
TRAINED_BB_DIR = os.path.join(REPO_SINKS, "findings", "testdata", "trained_bb")

# ----------------------------------------------------------------------------------------------
# safetensors codec: 8-byte little-endian header length, JSON header
# {name: {dtype, shape, data_offsets: [begin, end]}} (offsets relative to the end of the header),
# then the raw little-endian tensor bytes.

_ST_DTYPES = {"F32": "<f4", "F64": "<f8", "F16": "<f2", "I64": "<i8", "I32": "<i4", "U8": "u1",
              "I8": "i1", "BOOL": "?"}


def _bf16_to_f32(raw):
    u = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
    return u.view(np.float32)


def read_safetensors(path):
    """Returns {name: numpy array} (BF16 is widened to float32 exactly)."""
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        raw = blob[base + b:base + e]
        if info["dtype"] == "BF16":
            arr = _bf16_to_f32(raw)
        else:
            arr = np.frombuffer(raw, dtype=_ST_DTYPES[info["dtype"]])
        out[name] = arr.reshape(info["shape"]).copy()
    return out


def write_safetensors(path, tensors, metadata=None):
    """tensors: {name: numpy array or torch tensor}; float32 -> F32, int64 -> I64. Sorted names."""
    header, chunks, off = {}, [], 0
    for name in sorted(tensors):
        a = tensors[name]
        if isinstance(a, torch.Tensor):
            a = a.detach().cpu().numpy()
        a = np.ascontiguousarray(a)
        if a.dtype == np.float32:
            dt, raw = "F32", a.astype("<f4").tobytes()
        elif a.dtype == np.int64:
            dt, raw = "I64", a.astype("<i8").tobytes()
        else:
            raise ValueError(f"{name}: unsupported dtype {a.dtype}")
        header[name] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [off, off + len(raw)]}
        chunks.append(raw)
        off += len(raw)
    if metadata:
        header["__metadata__"] = metadata
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for c in chunks:
            f.write(c)


# ----------------------------------------------------------------------------------------------
# The twin: a Llama written out by hand. Module attribute names reproduce HF's state-dict names.

def rope_theta_of(cfg):
    if "rope_theta" in cfg:
        return float(cfg["rope_theta"])
    rp = cfg.get("rope_parameters") or {}
    if rp.get("rope_type", "default") != "default":
        raise ValueError("only default RoPE is implemented")
    return float(rp.get("rope_theta", 10000.0))


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        dtype = x.dtype
        x = x.to(torch.promote_types(dtype, torch.float32))  # float32 (float64 stays float64)
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x.to(dtype)


def rotate_half(x):
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


class Attention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d = cfg["hidden_size"]
        self.n_heads = cfg["num_attention_heads"]
        self.n_kv = cfg.get("num_key_value_heads") or self.n_heads
        self.d_head = cfg.get("head_dim") or d // self.n_heads
        self.q_proj = nn.Linear(d, self.n_heads * self.d_head, bias=False)
        self.k_proj = nn.Linear(d, self.n_kv * self.d_head, bias=False)
        self.v_proj = nn.Linear(d, self.n_kv * self.d_head, bias=False)
        self.o_proj = nn.Linear(self.n_heads * self.d_head, d, bias=False)

    def forward(self, x, cos, sin, rec=None):
        B, T, _ = x.shape
        q = self.q_proj(x).view(B, T, self.n_heads, self.d_head)
        k = self.k_proj(x).view(B, T, self.n_kv, self.d_head)
        v = self.v_proj(x).view(B, T, self.n_kv, self.d_head)
        if rec is not None:
            rec["q"], rec["k"] = q, k
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)  # [B, h, T, dh]
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        if self.n_kv != self.n_heads:  # grouped-query attention: repeat each kv head
            rep = self.n_heads // self.n_kv
            k = k.repeat_interleave(rep, dim=1)
            v = v.repeat_interleave(rep, dim=1)
        scores = torch.matmul(q, k.transpose(2, 3)) * (self.d_head ** -0.5)
        causal = torch.ones(T, T, dtype=torch.bool, device=x.device).triu(1)
        scores = scores.masked_fill(causal, float("-inf"))
        probs = torch.softmax(scores, dim=-1, dtype=torch.float32).to(q.dtype)
        z = torch.matmul(probs, v).transpose(1, 2).reshape(B, T, self.n_heads * self.d_head)
        if rec is not None:
            rec["attn"], rec["z"] = probs, z
        return self.o_proj(z)


class MLP(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d, f = cfg["hidden_size"], cfg["intermediate_size"]
        self.gate_proj = nn.Linear(d, f, bias=False)
        self.up_proj = nn.Linear(d, f, bias=False)
        self.down_proj = nn.Linear(f, d, bias=False)

    def forward(self, x, rec=None):
        h = F.silu(self.gate_proj(x)) * self.up_proj(x)
        if rec is not None:
            rec["mlp_post"] = h
        return self.down_proj(h)


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        eps = cfg["rms_norm_eps"]
        self.self_attn = Attention(cfg)
        self.mlp = MLP(cfg)
        self.input_layernorm = RMSNorm(cfg["hidden_size"], eps)
        self.post_attention_layernorm = RMSNorm(cfg["hidden_size"], eps)

    def forward(self, x, cos, sin, rec=None):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, rec)
        x = x + self.mlp(self.post_attention_layernorm(x), rec)
        return x


class Backbone(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.embed_tokens = nn.Embedding(cfg["vocab_size"], cfg["hidden_size"])
        self.layers = nn.ModuleList([Block(cfg) for _ in range(cfg["num_hidden_layers"])])
        self.norm = RMSNorm(cfg["hidden_size"], cfg["rms_norm_eps"])


class LlamaTwin(nn.Module):
    """forward(ids [B, T] int64) -> logits [B, T, V] float32. record=True also returns a dict of
    activations named like the transformer parity fixture (hidden.i, resid_post.l, attn.l, ...)."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.model = Backbone(cfg)
        self.lm_head = nn.Linear(cfg["hidden_size"], cfg["vocab_size"], bias=False)
        if cfg.get("tie_word_embeddings", False):
            self.lm_head.weight = self.model.embed_tokens.weight
        d_head = cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"]
        theta = rope_theta_of(cfg)
        inv_freq = 1.0 / (theta ** (torch.arange(0, d_head, 2, dtype=torch.int64).float() / d_head))
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def rope(self, T):
        pos = torch.arange(T, dtype=torch.float32)
        freqs = pos[:, None] * self.inv_freq[None, :]  # [T, dh/2]
        emb = torch.cat((freqs, freqs), dim=-1)        # [T, dh]
        return emb.cos(), emb.sin()

    def forward(self, ids, record=False):
        T = ids.shape[1]
        cos, sin = self.rope(T)
        x = self.model.embed_tokens(ids)
        acts = {}
        if record:
            acts["hidden.0"] = x
        for l, block in enumerate(self.model.layers):
            rec = {} if record else None
            x = block(x, cos, sin, rec)
            if record:
                for k, v in rec.items():
                    acts[f"{k}.{l}"] = v
                acts[f"resid_post.{l}"] = x
                if l + 1 < len(self.model.layers):
                    acts[f"hidden.{l + 1}"] = x
        x = self.model.norm(x)
        if record:
            acts[f"hidden.{len(self.model.layers)}"] = x
        logits = self.lm_head(x)
        return (logits, acts) if record else logits


def load_twin(folder):
    with open(os.path.join(folder, "config.json")) as f:
        cfg = json.load(f)
    m = LlamaTwin(cfg)
    sd = {k: torch.from_numpy(v) for k, v in read_safetensors(os.path.join(folder, "model.safetensors")).items()}
    if cfg.get("tie_word_embeddings", False):
        sd.setdefault("lm_head.weight", sd["model.embed_tokens.weight"])
    missing, unexpected = m.load_state_dict(sd, strict=False)
    if missing or unexpected:
        raise ValueError(f"{folder}: missing {missing}, unexpected {unexpected}")
    return m.eval(), cfg


def max_abs(a, b):
    return float((a.double() - b.double()).abs().max())


def validate_twin():
    """Twin vs HF transformers' committed outputs. Returns a dict of max |diff| values."""
    out = {}
    m, _ = load_twin(LLAMA2_DIR)
    exp = {k: torch.from_numpy(v) for k, v in read_safetensors(os.path.join(LLAMA2_DIR, "expected.safetensors")).items()}
    with torch.no_grad():
        logits, acts = m(exp["tokens"], record=True)
    d = {"logits": max_abs(logits, exp["logits"]),
         "logits_max_abs_value": float(exp["logits"].abs().max()),
         "inv_freq": max_abs(m.inv_freq, exp["inv_freq"])}
    for name in sorted(exp):
        if name in ("tokens", "logits", "inv_freq"):
            continue
        d[name] = max_abs(acts[name], exp[name])
    out["llama2"] = d

    m, _ = load_twin(TRAINED_BB_DIR)
    with open(os.path.join(TRAINED_BB_DIR, "expected.json")) as f:
        ids = torch.tensor(json.load(f)["bb_ids"][:2], dtype=torch.int64)
    exp_logits = torch.from_numpy(read_safetensors(os.path.join(TRAINED_BB_DIR, "expected_logits.safetensors"))["logits"])
    with torch.no_grad():
        logits = m(ids)
    out["trained_bb"] = {"logits": max_abs(logits, exp_logits),
                         "logits_max_abs_value": float(exp_logits.abs().max())}
    for name in ("llama2", "trained_bb"):
        if not out[name]["logits"] <= 1e-5:
            sys.exit(f"twin disagrees with transformers on {name}: max |logits diff| {out[name]['logits']:.3g}")
    return out


# ----------------------------------------------------------------------------------------------
# The recipe.

RECIPE = {
    "model": {"arch": "llama", "vocab_size": 32, "hidden_size": 64, "num_hidden_layers": 2,
              "num_attention_heads": 4, "num_key_value_heads": 4, "head_dim": 16,
              "intermediate_size": 128, "rope_theta": 10000.0, "rms_norm_eps": 1e-6,
              "max_position_embeddings": 64, "tie_word_embeddings": False, "bos_token_id": 0},
    "init": {"seed": 1234, "rng": "torch.manual_seed(seed), then tensor.normal_(0, std) per 2-D weight "
             "in HF parameter order: model.embed_tokens, for each layer self_attn.q/k/v/o_proj, "
             "mlp.gate/up/down_proj, then lm_head (norm weights are set to 1 and draw nothing)",
             "std": 0.02, "std_o_proj_down_proj": 0.02 / math.sqrt(2 * 2), "norm_weight": 1.0},
    "data": {"steps": 20, "batch": 4, "seq_len": 16, "window": 17, "bos_id": 0, "id_low": 1,
             "id_high_exclusive": 32, "seed": 7, "val_seed": 8, "val_windows": 4,
             "rng": "numpy.random.default_rng(seed); per step rng.integers(1, 32, size=(4, 16)) "
                    "(int64), BOS (0) prepended to each row; val: one such draw from default_rng(8)",
             "inputs": "window[:, :16]", "labels": "window[:, 1:]"},
    "loss": "mean token cross-entropy over all B*T positions (natural log)",
    "optimizer": {"name": "AdamW (torch.optim.AdamW, foreach=False)", "beta1": 0.9, "beta2": 0.95,
                  "eps": 1e-8, "weight_decay": 0.1,
                  "weight_decay_applies_to": "parameters with ndim >= 2 (embeddings, all projections, "
                                             "lm_head); norm weights none",
                  "update": "p *= 1 - lr*wd; m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g*g; "
                            "p -= (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps), t = 1, 2, ..."},
    "lr_schedule": {"peak": 3e-3, "warmup_steps": 5, "total_steps": 20, "floor_frac": 0.1,
                    "formula": "s < 5: peak*(s+1)/5; else floor + 0.5*(1+cos(pi*(s-5)/(20-5)))*(peak-floor), "
                               "floor = 0.1*peak, s = 0..19 the update index"},
    "grad_clip": {"max_norm": 1.0, "how": "torch.nn.utils.clip_grad_norm_ over all parameters: "
                  "n = L2 norm of all gradients; g *= min(1, 1/(n + 1e-6)); grad_norm is n (pre-clip)"},
    "run_a": "one micro-batch of 4 windows per step",
    "run_b": "gradient accumulation 2: windows 0-1 then 2-3, each micro-batch loss / 2 backpropagated "
             "into the same gradients, then clip and step; recorded loss = (loss_1 + loss_2) / 2",
    "dtype": "float32", "device": "cpu", "threads": 1,
}


def model_config(r=RECIPE["model"]):
    return {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "vocab_size": r["vocab_size"], "hidden_size": r["hidden_size"],
        "intermediate_size": r["intermediate_size"], "num_hidden_layers": r["num_hidden_layers"],
        "num_attention_heads": r["num_attention_heads"], "num_key_value_heads": r["num_key_value_heads"],
        "head_dim": r["head_dim"], "rms_norm_eps": r["rms_norm_eps"], "rope_theta": r["rope_theta"],
        "max_position_embeddings": r["max_position_embeddings"], "tie_word_embeddings": False,
        "bos_token_id": 0, "eos_token_id": None, "hidden_act": "silu", "attention_bias": False,
        "mlp_bias": False, "torch_dtype": "float32",
    }


def init_model(cfg, seed):
    torch.manual_seed(seed)
    m = LlamaTwin(cfg)
    L = cfg["num_hidden_layers"]
    with torch.no_grad():
        for name, p in m.named_parameters():  # HF order (see RECIPE["init"])
            if p.ndim >= 2:
                std = 0.02 / math.sqrt(2 * L) if name.endswith(("o_proj.weight", "down_proj.weight")) else 0.02
                p.normal_(0.0, std)
            else:
                p.fill_(1.0)
    return m


def uniform_windows(seed, n_batches, batch=4, seq_len=16, vocab=32):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_batches):
        body = rng.integers(1, vocab, size=(batch, seq_len), dtype=np.int64)
        out.append(np.concatenate([np.zeros((batch, 1), np.int64), body], axis=1))
    return out


def markov_windows(seed, n_batches, batch=4, seq_len=16, vocab=32, alpha=0.1, chain_seed=11):
    """A learnable stream for the optimizer study: a fixed first-order Markov chain over 1..vocab-1
    (rows ~ Dirichlet(alpha) from default_rng(chain_seed)), BOS first, first symbol uniform."""
    crng = np.random.default_rng(chain_seed)
    P = crng.dirichlet(np.full(vocab - 1, alpha), size=vocab - 1)
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_batches):
        w = np.zeros((batch, seq_len + 1), np.int64)
        for b in range(batch):
            s = rng.integers(0, vocab - 1)
            w[b, 1] = s + 1
            for t in range(2, seq_len + 1):
                s = rng.choice(vocab - 1, p=P[s])
                w[b, t] = s + 1
        out.append(w)
    ent = float(-(P * np.log(P + 1e-300)).sum(1).mean())
    return out, ent


def lr_at(s, total, peak=3e-3, warmup=5, floor_frac=0.1, warmup_kind="recipe"):
    floor = floor_frac * peak
    if s < warmup:
        if warmup_kind == "recipe":
            return peak * (s + 1) / warmup
        if warmup_kind == "zero_start":   # lr = peak * s / warmup, first update has lr 0
            return peak * s / warmup
        if warmup_kind == "gomlx":        # GoMLX cosineschedule: floor + s/warmup * (peak - floor)
            return floor + s / warmup * (peak - floor)
        raise ValueError(warmup_kind)
    return floor + 0.5 * (1 + math.cos(math.pi * (s - warmup) / (total - warmup))) * (peak - floor)


def batch_loss(m, w):
    x = torch.from_numpy(w[:, :-1])
    y = torch.from_numpy(w[:, 1:])
    logits = m(x)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))


class ManualAdamW:
    """AdamW written out so its details can be varied. With eps_inside=False it performs exactly
    the operations of torch 1.13's single-tensor AdamW (checked in run_variants)."""

    def __init__(self, groups, beta1=0.9, beta2=0.95, eps=1e-8, eps_inside=False):
        self.groups = groups  # list of (params, weight_decay)
        self.b1, self.b2, self.eps, self.eps_inside = beta1, beta2, eps, eps_inside
        self.state = {}
        self.t = 0

    @torch.no_grad()
    def step(self, lr):
        self.t += 1
        bc1 = 1 - self.b1 ** self.t
        bc2 = 1 - self.b2 ** self.t
        for params, wd in self.groups:
            for p in params:
                g = p.grad
                if id(p) not in self.state:
                    self.state[id(p)] = (torch.zeros_like(p), torch.zeros_like(p))
                m, v = self.state[id(p)]
                p.mul_(1 - lr * wd)
                m.mul_(self.b1).add_(g, alpha=1 - self.b1)
                v.mul_(self.b2).addcmul_(g, g, value=1 - self.b2)
                if self.eps_inside:
                    denom = (v / bc2).add_(self.eps).sqrt_()
                else:
                    denom = (v.sqrt() / math.sqrt(bc2)).add_(self.eps)
                p.addcdiv_(m, denom, value=-lr / bc1)


def train(cfg, init_seed, batches, total_steps, accum=1, val=None, opt_kind="torch",
          decay_all=False, clip=True, warmup_kind="recipe", eps=1e-8, beta2=0.95, eps_inside=False,
          loss_scale=1.0, dtype=torch.float32, return_model=False):
    m = init_model(cfg, init_seed).to(dtype)
    params = list(m.parameters())
    decay = [p for p in params if decay_all or p.ndim >= 2]
    no_decay = [p for p in params if not (decay_all or p.ndim >= 2)]
    if opt_kind == "torch":
        assert not eps_inside
        opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                                 {"params": no_decay, "weight_decay": 0.0}],
                                lr=3e-3, betas=(0.9, beta2), eps=eps, foreach=False)
    else:
        opt = ManualAdamW([(decay, 0.1), (no_decay, 0.0)], beta2=beta2, eps=eps, eps_inside=eps_inside)
    hist = {"loss": [], "grad_norm": [], "lr": []}
    res = {}
    if val is not None:
        with torch.no_grad():
            res["val_loss_before"] = float(batch_loss(m, val))
    for s in range(total_steps):
        w = batches[s]
        lr = lr_at(s, total_steps, warmup_kind=warmup_kind)
        for p in params:
            p.grad = None
        if accum == 1:
            loss = batch_loss(m, w)
            (loss * loss_scale if loss_scale != 1.0 else loss).backward()
            step_loss = float(loss)
        else:
            n = w.shape[0] // accum
            parts = []
            for k in range(accum):
                lk = batch_loss(m, w[k * n:(k + 1) * n])
                (lk / accum * loss_scale if loss_scale != 1.0 else lk / accum).backward()
                parts.append(float(lk))
            step_loss = sum(parts) / accum
        if clip:
            gn = float(torch.nn.utils.clip_grad_norm_(params, 1.0))
        else:
            gn = float(torch.norm(torch.stack([p.grad.norm(2) for p in params]), 2))
        if opt_kind == "torch":
            for gr in opt.param_groups:
                gr["lr"] = lr
            opt.step()
        else:
            opt.step(lr)
        hist["loss"].append(step_loss)
        hist["grad_norm"].append(gn)
        hist["lr"].append(lr)
    res.update(hist)
    if opt_kind == "manual":  # how many elements have sqrt(v_hat) below 1e-4 (= sqrt(1e-8)) at the end
        bc2 = 1 - opt.b2 ** opt.t
        rms = torch.cat([(v / bc2).sqrt().flatten() for _, v in opt.state.values()])
        res["frac_sqrt_vhat_below_1e-4"] = float((rms < 1e-4).double().mean())
        res["median_sqrt_vhat"] = float(rms.median())
    if val is not None:
        with torch.no_grad():
            res["val_loss_after"] = float(batch_loss(m, val))
    if return_model:
        return res, m
    return res


# ----------------------------------------------------------------------------------------------
# Optimizer-variant study.

VARIANTS = [
    ("recipe", {}),
    ("wd_on_norms", {"decay_all": True}),
    ("no_clip", {"clip": False}),
    ("warmup_zero_start", {"warmup_kind": "zero_start"}),
    ("warmup_gomlx", {"warmup_kind": "gomlx"}),
    ("eps_inside_sqrt", {"eps_inside": True}),
    ("gomlx_eps_1e-7", {"eps": 1e-7}),
    ("gomlx_beta2_0.999", {"beta2": 0.999}),
    ("gomlx_style_all", {"decay_all": True, "clip": False, "warmup_kind": "gomlx", "eps": 1e-7}),
    ("gomlx_style_all_zero_start", {"decay_all": True, "clip": False, "warmup_kind": "zero_start", "eps": 1e-7}),
]


def run_variants(cfg, seeds=(1234, 1235, 1236), horizons=(20, 45)):
    uni = uniform_windows(7, max(horizons))
    uni_val = np.concatenate(uniform_windows(9, 16), axis=0)          # 64 windows
    mk, mk_ent = markov_windows(7, max(horizons))
    mk_val = np.concatenate(markov_windows(9, 16)[0], axis=0)         # 64 windows
    # manual AdamW == torch AdamW for the recipe (so the variants differ only in what they change)
    a = train(cfg, 1234, uni, 20, opt_kind="torch")
    b = train(cfg, 1234, uni, 20, opt_kind="manual")
    manual_vs_torch = max(abs(x - y) for x, y in zip(a["loss"] + a["grad_norm"], b["loss"] + b["grad_norm"]))
    out = {"description": "final losses of AdamW variants vs the recipe; same init seed and data "
                          "for each comparison; delta = variant - recipe (nats)",
           "manual_adamw_vs_torch_max_abs_diff_20_steps": manual_vs_torch,
           "markov_chain_entropy_nats": mk_ent, "uniform_entropy_nats": math.log(31),
           "val_windows": 64, "seeds": list(seeds), "tasks": {}}
    for task, tr, va in (("uniform", uni, uni_val), ("markov", mk, mk_val)):
        t_out = {}
        for H in horizons:
            per = {}
            for name, kw in VARIANTS:
                per[name] = []
                for seed in seeds:
                    r = train(cfg, seed, tr, H, val=va, opt_kind="manual", **kw)
                    per[name].append({"val_before": r["val_loss_before"], "val_after": r["val_loss_after"],
                                      "train_last3": float(np.mean(r["loss"][-3:])),
                                      "max_grad_norm": max(r["grad_norm"]),
                                      "steps_grad_norm_above_1": sum(g > 1.0 for g in r["grad_norm"]),
                                      "median_sqrt_vhat": r["median_sqrt_vhat"],
                                      "frac_sqrt_vhat_below_1e-4": r["frac_sqrt_vhat_below_1e-4"]})
            summary = {}
            base = per["recipe"]
            for name, _ in VARIANTS:
                dv = [x["val_after"] - y["val_after"] for x, y in zip(per[name], base)]
                dt = [x["train_last3"] - y["train_last3"] for x, y in zip(per[name], base)]
                summary[name] = {"val_after_mean": float(np.mean([x["val_after"] for x in per[name]])),
                                 "delta_val_mean": float(np.mean(dv)), "delta_val_min": float(min(dv)),
                                 "delta_val_max": float(max(dv)),
                                 "delta_train_last3_mean": float(np.mean(dt)),
                                 "max_grad_norm": max(x["max_grad_norm"] for x in per[name]),
                                 "steps_grad_norm_above_1_per_seed": [x["steps_grad_norm_above_1"] for x in per[name]],
                                 "median_sqrt_vhat_mean": float(np.mean([x["median_sqrt_vhat"] for x in per[name]]))}
            vb = [x["val_before"] for x in base]
            va_ = [x["val_after"] for x in base]
            t_out[str(H)] = {"recipe_val_before_mean": float(np.mean(vb)),
                             "recipe_val_after_mean": float(np.mean(va_)),
                             "recipe_val_after_seed_spread": float(max(va_) - min(va_)),
                             "variants": summary, "per_seed": per}
        out["tasks"][task] = t_out
    # eps matters only relative to the per-element gradient size; Adam is otherwise invariant to
    # the gradient scale. Scaling the loss by c shrinks every gradient element by c, as in a model
    # with many more parameters. Clipping is off here so that c changes nothing but eps's weight.
    eps_study = {}
    H = max(horizons)
    for c in (1.0, 1e-2, 1e-3):
        rows = {}
        for name, kw in (("recipe_no_clip", {}), ("eps_inside_sqrt", {"eps_inside": True}),
                         ("eps_1e-7", {"eps": 1e-7})):
            rows[name] = [train(cfg, seed, mk, H, val=mk_val, opt_kind="manual", clip=False,
                                loss_scale=c, **kw) for seed in seeds]
        base = rows["recipe_no_clip"]
        eps_study[str(c)] = {
            "recipe_val_after_mean": float(np.mean([r["val_loss_after"] for r in base])),
            "recipe_median_sqrt_vhat": float(np.mean([r["median_sqrt_vhat"] for r in base])),
            "recipe_frac_sqrt_vhat_below_1e-4": float(np.mean([r["frac_sqrt_vhat_below_1e-4"] for r in base])),
            "variants": {n: {"delta_val_mean": float(np.mean(d)), "delta_val_min": float(min(d)), "delta_val_max": float(max(d))}
                         for n in ("eps_inside_sqrt", "eps_1e-7")
                         for d in [[x["val_loss_after"] - y["val_loss_after"] for x, y in zip(rows[n], base)]]},
        }
    out["eps_vs_gradient_scale"] = {str(H): eps_study}
    out["eps_vs_gradient_scale_note"] = ("markov task, no clipping in all three, loss multiplied by c before "
                                         "backward; deltas are variant - recipe_no_clip at the same c")
    return out


# ----------------------------------------------------------------------------------------------

def state_dict_np(m):
    return {k: v.detach().clone().numpy() for k, v in m.state_dict().items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=HERE)
    ap.add_argument("--no-variants", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    os.makedirs(args.out, exist_ok=True)

    twin = validate_twin()
    print("twin vs transformers (max |diff|):")
    for k, d in twin.items():
        print(f"  {k}: " + ", ".join(f"{n} {v:.3g}" for n, v in d.items()))

    cfg = model_config()
    m0 = init_model(cfg, RECIPE["init"]["seed"])
    n_params = sum(p.numel() for p in m0.parameters())
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    write_safetensors(os.path.join(args.out, "model.safetensors"), state_dict_np(m0), {"format": "pt"})

    steps = uniform_windows(7, 20)
    val = uniform_windows(8, 1)[0]
    with open(os.path.join(args.out, "batches.json"), "w") as f:
        json.dump({"seq_len": 16, "bos_id": 0, "seed": 7, "val_seed": 8,
                   "steps": [w.tolist() for w in steps], "val": val.tolist()}, f, separators=(",", ":"))
        f.write("\n")

    runs = {}
    for name, accum in (("run_a", 1), ("run_b", 2)):
        r1, m1 = train(cfg, 1234, steps, 20, accum=accum, val=val, return_model=True)
        r2, m2 = train(cfg, 1234, steps, 20, accum=accum, val=val, return_model=True)
        same_w = all(torch.equal(p, q) for p, q in zip(m1.state_dict().values(), m2.state_dict().values()))
        if r1 != r2 or not same_w:
            sys.exit(f"{name} is not deterministic")
        runs[name] = (r1, m1)
        print(f"{name}: deterministic over two runs; loss {r1['loss'][0]:.6f} -> {r1['loss'][-1]:.6f}, "
              f"val {r1['val_loss_before']:.6f} -> {r1['val_loss_after']:.6f}")
    (ra, ma), (rb, mb) = runs["run_a"], runs["run_b"]
    write_safetensors(os.path.join(args.out, "final_a.safetensors"), state_dict_np(ma), {"format": "pt"})
    a_vs_b = {
        "loss_max_abs_diff": max(abs(x - y) for x, y in zip(ra["loss"], rb["loss"])),
        "grad_norm_max_abs_diff": max(abs(x - y) for x, y in zip(ra["grad_norm"], rb["grad_norm"])),
        "final_weights_max_abs_diff": max(max_abs(p, q) for p, q in zip(ma.state_dict().values(), mb.state_dict().values())),
    }
    print("run A vs run B:", a_vs_b)
    # float32 rounding scale of the whole recipe: run A again in float64 from the same initial weights
    r64, m64 = train(cfg, 1234, steps, 20, val=val, dtype=torch.float64, return_model=True)
    f32_vs_f64 = {
        "loss_max_abs_diff": max(abs(x - y) for x, y in zip(ra["loss"], r64["loss"])),
        "grad_norm_max_abs_diff": max(abs(x - y) for x, y in zip(ra["grad_norm"], r64["grad_norm"])),
        "final_weights_max_abs_diff": max(max_abs(p, q) for p, q in zip(ma.state_dict().values(), m64.state_dict().values())),
        "val_loss_after_abs_diff": abs(ra["val_loss_after"] - r64["val_loss_after"]),
    }
    print("run A float32 vs float64:", f32_vs_f64)
    expected = {
        "recipe": RECIPE,
        "n_params": n_params,
        "torch_version": torch.__version__, "numpy_version": np.__version__,
        "python_version": platform.python_version(),
        "deterministic": "each run repeated twice in the same process: identical losses, norms and weights",
        "run_a": ra, "run_b": rb, "run_a_vs_run_b": a_vs_b,
        "run_a_float32_vs_float64": f32_vs_f64,
        "twin_vs_transformers_max_abs_diff": twin,
        "files": {"config.json": "HF Llama config", "model.safetensors": "initial weights (F32, HF names)",
                  "batches.json": "steps[s][b] = 17 ids (inputs [:16], labels [1:]); val = held-out 4 windows",
                  "final_a.safetensors": "weights after the 20 updates of run A"},
    }
    with open(os.path.join(args.out, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")

    if not args.no_variants:
        v = run_variants(cfg)
        v["torch_version"] = torch.__version__
        with open(os.path.join(args.out, "variants.json"), "w") as f:
            json.dump(v, f, indent=1)
            f.write("\n")
        print(f"manual AdamW vs torch AdamW: {v['manual_adamw_vs_torch_max_abs_diff_20_steps']:.3g}")
        for task, tv in v["tasks"].items():
            for H, hv in tv.items():
                print(f"{task}, {H} steps: recipe val {hv['recipe_val_before_mean']:.4f} -> "
                      f"{hv['recipe_val_after_mean']:.4f} (seed spread {hv['recipe_val_after_seed_spread']:.4f})")
                for name, s in hv["variants"].items():
                    print(f"  {name:28s} dval {s['delta_val_mean']:+.5f} [{s['delta_val_min']:+.5f}, "
                          f"{s['delta_val_max']:+.5f}] dtrain {s['delta_train_last3_mean']:+.5f} "
                          f"max|g| {s['max_grad_norm']:.3f} |g|>1 {s['steps_grad_norm_above_1_per_seed']}")
        for H, hv in v["eps_vs_gradient_scale"].items():
            print(f"markov, {H} steps, eps study (delta val vs recipe at the same loss scale):")
            for c, cv in hv.items():
                print(f"  loss x {c}: recipe val {cv['recipe_val_after_mean']:.4f}, median sqrt(v_hat) "
                      f"{cv['recipe_median_sqrt_vhat']:.2e}; " + ", ".join(
                          f"{n} {d['delta_val_mean']:+.5f} [{d['delta_val_min']:+.5f}, {d['delta_val_max']:+.5f}]"
                          for n, d in cv["variants"].items()))


if __name__ == "__main__":
    main()
