#!/usr/bin/env python3
"""JAX twin of `sinkscope bench --train` for the GPU training comparison (scripts/gpu-bench.sh).

The architecture of scripts/bench_twin.py (Llama-style: RMSNorm eps 1e-6, RoPE theta 10000 with
rotate_half, grouped-query attention written out, SwiGLU, tied or untied unembedding, no biases,
N(0, 0.02) init with residual projections N(0, (0.02/sqrt(2L))^2)) for --model gpu-28m, paper-152m
or bench. One jitted step: forward with bfloat16 matrix products (--bf16; weights, norms, softmax
and loss in float32, as sinkscope's ForwardMixed), cross-entropy, backward, global-norm clipping at
1, AdamW (betas 0.9/0.95, eps 1e-8, weight decay 0.1 on weight matrices, lr 1e-3), parameters and
optimizer state donated. The loss is read on the host after every step, as sinkscope's training
loop does (--sync-every N reads it every N steps instead). Prints one JSON object: tokens/s after
the warm-up and the first step's seconds (compilation included).
"""

import argparse
import json
import math
import time

import jax
import jax.numpy as jnp

MODELS = {  # vocab, d, layers, heads, kv heads, mlp, tied embeddings (as scripts/bench_twin.py)
    "bench": (512, 128, 4, 4, 2, 512, False),
    "gpu-28m": (8192, 512, 8, 8, 8, 1536, True),
    "paper-152m": (50304, 768, 12, 12, 12, 3072, True),
}
EPS, THETA = 1e-6, 10000.0


def init_params(key, vocab, d, layers, heads, kv, mlp, tied):
    dh = d // heads
    res_std = 0.02 / math.sqrt(2 * layers)
    keys = iter(jax.random.split(key, 4 + 8 * layers))

    def normal(shape, std=0.02):
        return std * jax.random.normal(next(keys), shape, jnp.float32)

    p = {"embed": normal((vocab, d)), "ln_final": jnp.ones((d,), jnp.float32), "blocks": []}
    if not tied:
        p["unembed"] = normal((vocab, d))
    for _ in range(layers):
        p["blocks"].append({
            "ln1": jnp.ones((d,), jnp.float32), "ln2": jnp.ones((d,), jnp.float32),
            "q": normal((heads * dh, d)), "k": normal((kv * dh, d)), "v": normal((kv * dh, d)),
            "o": normal((d, heads * dh), res_std),
            "gate": normal((mlp, d)), "up": normal((mlp, d)), "down": normal((d, mlp), res_std),
        })
    return p


def forward(p, tokens, cfg, mm_dtype):
    vocab, d, layers, heads, kv, mlp, tied = cfg
    dh = d // heads
    B, T = tokens.shape

    def linear(x, w):  # nn.Linear layout [out, in]
        return jnp.einsum("bpi,oi->bpo", x.astype(mm_dtype), w.astype(mm_dtype)).astype(jnp.float32)

    def rms(x, g):
        return x / jnp.sqrt(jnp.mean(x * x, -1, keepdims=True) + EPS) * g

    def rotate_half(x):
        x1, x2 = x[..., : dh // 2], x[..., dh // 2:]
        return jnp.concatenate((-x2, x1), -1)

    inv = 1.0 / THETA ** (jnp.arange(0, dh, 2, dtype=jnp.float32) / dh)
    freqs = jnp.outer(jnp.arange(T, dtype=jnp.float32), inv)
    emb = jnp.concatenate((freqs, freqs), -1)
    cos, sin = jnp.cos(emb)[None, :, None, :], jnp.sin(emb)[None, :, None, :]
    mask = jnp.tril(jnp.ones((T, T), bool))
    x = p["embed"][tokens]
    for blk in p["blocks"]:
        h = rms(x, blk["ln1"])
        q = linear(h, blk["q"]).reshape(B, T, heads, dh)
        k = linear(h, blk["k"]).reshape(B, T, kv, dh)
        v = linear(h, blk["v"]).reshape(B, T, kv, dh)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        rep = heads // kv
        k, v = jnp.repeat(k, rep, axis=2), jnp.repeat(v, rep, axis=2)
        scores = jnp.einsum("bqhd,bkhd->bhqk", q.astype(mm_dtype), k.astype(mm_dtype)).astype(jnp.float32)
        scores = jnp.where(mask, scores / math.sqrt(dh), -jnp.inf)
        pattern = jax.nn.softmax(scores, -1)
        z = jnp.einsum("bhqk,bkhd->bqhd", pattern.astype(mm_dtype), v.astype(mm_dtype)).astype(jnp.float32)
        x = x + linear(z.reshape(B, T, heads * dh), blk["o"])
        h = rms(x, blk["ln2"])
        x = x + linear(jax.nn.silu(linear(h, blk["gate"])) * linear(h, blk["up"]), blk["down"])
    x = rms(x, p["ln_final"])
    return linear(x, p["embed"] if tied else p["unembed"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="gpu-28m", choices=sorted(MODELS))
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--bf16", action="store_true")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--sync-every", type=int, default=1)
    args = ap.parse_args()
    cfg = MODELS[args.model]
    vocab = cfg[0]
    mm_dtype = jnp.bfloat16 if args.bf16 else jnp.float32
    params = init_params(jax.random.PRNGKey(1), *cfg)
    m = jax.tree_util.tree_map(jnp.zeros_like, params)
    v = jax.tree_util.tree_map(jnp.zeros_like, params)
    tokens = (jnp.arange(args.batch)[:, None] * 7 + jnp.arange(args.seq + 1)[None, :] * 13 + 3) % vocab
    inputs, labels = tokens[:, :-1], tokens[:, 1:]
    lr, b1, b2, eps, wd = 1e-3, 0.9, 0.95, 1e-8, 0.1

    def loss_fn(p):
        logits = forward(p, inputs, cfg, mm_dtype)
        logp = jax.nn.log_softmax(logits, -1)
        return -jnp.mean(jnp.take_along_axis(logp, labels[..., None], -1))

    def step(p, m, v, t):
        loss, g = jax.value_and_grad(loss_fn)(p)
        norm = jnp.sqrt(sum(jnp.sum(x * x) for x in jax.tree_util.tree_leaves(g)))
        scale = jnp.minimum(1.0, 1.0 / (norm + 1e-6))
        g = jax.tree_util.tree_map(lambda x: x * scale, g)
        m = jax.tree_util.tree_map(lambda a, x: b1 * a + (1 - b1) * x, m, g)
        v = jax.tree_util.tree_map(lambda a, x: b2 * a + (1 - b2) * x * x, v, g)
        c1, c2 = 1 - b1 ** t, 1 - b2 ** t

        def upd(x, a, s):
            decay = wd * x if x.ndim == 2 else 0.0
            return x - lr * ((a / c1) / (jnp.sqrt(s / c2) + eps) + decay)

        p = jax.tree_util.tree_map(upd, p, m, v)
        return p, m, v, loss

    step = jax.jit(step, donate_argnums=(0, 1, 2))
    t0 = time.perf_counter()
    params, m, v, loss = step(params, m, v, 1.0)
    float(loss)
    first = time.perf_counter() - t0
    t = 2
    for _ in range(2):  # warm-up
        params, m, v, loss = step(params, m, v, float(t))
        float(loss)
        t += 1
    n, t0 = 0, time.perf_counter()
    while True:
        params, m, v, loss = step(params, m, v, float(t))
        t += 1
        n += 1
        if n % args.sync_every == 0:
            float(loss)
        if time.perf_counter() - t0 >= args.seconds and n % args.sync_every == 0:
            break
    elapsed = time.perf_counter() - t0
    print(json.dumps({"jax": jax.__version__, "device": str(jax.devices()[0]), "model": args.model,
                      "batch": args.batch, "seq": args.seq, "bf16": args.bf16, "sync_every": args.sync_every,
                      "train": {"tokens_per_s": round(args.batch * args.seq * n / elapsed, 1), "iterations": n,
                                "first_s": round(first, 3), "last_loss": float(loss)}}))


if __name__ == "__main__":
    main()
