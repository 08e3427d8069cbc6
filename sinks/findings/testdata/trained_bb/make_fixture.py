#!/usr/bin/env python3
"""Train a tiny Llama on the Bigram-Backcopy task and write a test fixture with a learned BOS sink.

What it does
  1. Bigram table. With --brown DIR it reads the tagged Brown corpus (files ca01 ... cr09, words
     like `The/at`), strips the `/tag` parts, lower-cases, keeps the 29 symbols a-z, space, '.'
     and ',' (mapping '!' '?' to '.', ';' ':' to ','; every other character is dropped), counts
     character unigrams and bigrams and writes them to bigram_counts.json. Without --brown it reads
     that committed bigram_counts.json, so training needs no corpus.
  2. Bigram-Backcopy data (Guo et al. 2024, arXiv 2410.13835). Each sequence is BOS followed by
     a character chain drawn from the bigram table (add-1 smoothed; the first symbol from the
     add-1 smoothed unigram distribution). The 3 most frequent symbols are "triggers": the token
     after a trigger copies the token just before the trigger, except when that token is BOS or
     itself a trigger, where the bigram draw is used instead. Training draws fresh sequences
     every step from Python's random.Random, so the data are the same on every machine.
  3. Training. transformers.LlamaForCausalLM, 2 layers x 1 head, hidden 128, SwiGLU 512, RoPE,
     RMSNorm, untied embeddings, vocabulary 30 (0 = BOS, 1..29 = the symbols), eager attention,
     float32. AdamW (betas 0.9/0.95, weight decay 0.1 on matrices), peak LR 4e-3, 100 warm-up
     steps, cosine to 10% at 4000 steps, batch 64 x 64 tokens, gradient clip 1.0, seed 1. It prints
     the training loss, the validation loss and, per layer, the mean attention to token 0
     (queries 1..63) on a fixed probe batch. Lower learning rates (1e-3 for 3000-7000 steps) reach
     the same loss but leave both heads without a sink; see README.md.
  4. Output, in --out (default: this script's folder): config.json and model.safetensors
     (save_pretrained with safe_serialization=True; its generation_config.json is not kept),
     expected.json (measurements on the trained model, see README.md) and
     expected_logits.safetensors (logits of the first 2 sequences of bb_ids, float32 [2, 64, 30]).
     The measurements are taken on the CPU in float32 with the reloaded checkpoint; a float64
     NumPy forward pass written here from the equations cross-checks HF's logits and attention.

How to run
  python3 make_fixture.py                       # train from bigram_counts.json, write the fixture
  python3 make_fixture.py --brown DIR --table-only   # rebuild bigram_counts.json from the corpus
  python3 make_fixture.py --data-only           # print a few sequences (needs no torch)
  (--steps, --lr, --batch, --seed, --device, --out change the run; see --help.)

What it needs
  Python 3 with torch, transformers (run with 5.17; written to accept 4.x too), safetensors and
  numpy for training; the table and data steps need only the standard library. A GPU is used
  when present (--device auto); the 4000 steps took 107 s on an H200 shared with 7 other runs
  (the per-step cost is Python and kernel-launch overhead; a CPU run is slower but works). Runs
  are seeded, but another GPU or software version can give slightly different weights:
  regenerate the checkpoint and the expected files together.
"""

import argparse
import bisect
import json
import math
import os
import random
import re
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))

BOS = 0
SYMBOLS = "abcdefghijklmnopqrstuvwxyz .,"  # id = 1 + index
VOCAB = 1 + len(SYMBOLS)  # 30
SEQ = 64  # tokens per sequence, BOS included
N_TRIGGERS = 3
SMOOTH = 1.0  # add-1 smoothing of the unigram and bigram counts

CHAR_MAP = {c: c for c in SYMBOLS}
CHAR_MAP.update({"!": ".", "?": ".", ";": ",", ":": ","})

# Seeds of the fixed batches (independent of the training seed).
SEED_BB = 1001
SEED_RANDOM = 1002
SEED_VAL = 1003
SEED_PROBE = 1004
N_FIXED = 20
N_VAL = 1000


def log(*a):
    print(*a, flush=True)


# ----------------------------------------------------------------------------------------------
# 1. Bigram table from the Brown corpus (standard library only)


def brown_documents(brown_dir):
    names = sorted(n for n in os.listdir(brown_dir) if re.fullmatch(r"c[a-r]\d\d", n))
    if not names:
        raise SystemExit(f"no Brown corpus files (ca01 ...) in {brown_dir}")
    for name in names:
        with open(os.path.join(brown_dir, name), encoding="latin-1") as f:
            raw = f.read()
        out = []
        for tok in raw.split():
            word = tok.rsplit("/", 1)[0] if "/" in tok else tok
            word = "".join(CHAR_MAP.get(c, "") for c in word.lower())
            if not word:
                continue
            if word.strip(".,") == "":  # a punctuation token: attach to the previous word
                out.append(word)
            else:
                if out:
                    out.append(" ")
                out.append(word)
        yield name, "".join(out)


def build_table(brown_dir):
    n = len(SYMBOLS)
    uni = [0] * n
    bi = [[0] * n for _ in range(n)]
    files = 0
    chars = 0
    for _, text in brown_documents(brown_dir):
        files += 1
        ids = [SYMBOLS.index(c) for c in text]
        chars += len(ids)
        for i, a in enumerate(ids):
            uni[a] += 1
            if i + 1 < len(ids):
                bi[a][ids[i + 1]] += 1
    return {
        "symbols": SYMBOLS,
        "source": f"Brown corpus (tagged), {files} files, {chars} characters after cleaning",
        "cleaning": "tags stripped, lower-cased, '!' '?' -> '.', ';' ':' -> ',', other characters "
                    "dropped, words joined by one space, '.' and ',' tokens attached to the previous word",
        "unigram": uni,
        "bigram": bi,
    }


def load_table(path):
    with open(path) as f:
        t = json.load(f)
    if t["symbols"] != SYMBOLS:
        raise SystemExit(f"{path}: symbols {t['symbols']!r} differ from {SYMBOLS!r}")
    return t


# ----------------------------------------------------------------------------------------------
# 2. Bigram-Backcopy process (standard library only)


class BigramBackcopy:
    def __init__(self, table):
        n = len(SYMBOLS)
        uni = [c + SMOOTH for c in table["unigram"]]
        self.p_first = [u / sum(uni) for u in uni]
        self.p = []
        for a in range(n):
            row = [c + SMOOTH for c in table["bigram"][a]]
            s = sum(row)
            self.p.append([r / s for r in row])
        self.cum_first = self._cum(self.p_first)
        self.cum = [self._cum(r) for r in self.p]
        order = sorted(range(n), key=lambda i: -table["unigram"][i])
        self.trigger_syms = order[:N_TRIGGERS]
        self.triggers = {1 + i for i in self.trigger_syms}  # token ids

    @staticmethod
    def _cum(p):
        out, s = [], 0.0
        for x in p:
            s += x
            out.append(s)
        out[-1] = 1.0 + 1e-12
        return out

    def _draw(self, rng, cum):
        return bisect.bisect_right(cum, rng.random())

    def sequence(self, rng, T=SEQ):
        """BOS + T-1 symbols; also returns is_copy[t] (token t was copied, so deterministic)."""
        ids = [BOS]
        copy = [False]
        for t in range(1, T):
            prev = ids[t - 1]
            if prev == BOS:
                ids.append(1 + self._draw(rng, self.cum_first))
                copy.append(False)
            elif prev in self.triggers and ids[t - 2] != BOS and ids[t - 2] not in self.triggers:
                ids.append(ids[t - 2])
                copy.append(True)
            else:
                ids.append(1 + self._draw(rng, self.cum[prev - 1]))
                copy.append(False)
        return ids, copy

    def batch(self, rng, n, T=SEQ):
        seqs, copies = [], []
        for _ in range(n):
            s, c = self.sequence(rng, T)
            seqs.append(s)
            copies.append(c)
        return seqs, copies

    def true_nll(self, ids, copy):
        """-log p of each next token under the generating process (0 at copied positions)."""
        out = []
        for t in range(1, len(ids)):
            if copy[t]:
                out.append(0.0)
            elif ids[t - 1] == BOS:
                out.append(-math.log(self.p_first[ids[t] - 1]))
            else:
                out.append(-math.log(self.p[ids[t - 1] - 1][ids[t] - 1]))
        return out


def decode(ids):
    return "".join("^" if i == BOS else SYMBOLS[i - 1] for i in ids)


def random_bos_batch(rng, n, T=SEQ):
    return [[BOS] + [rng.randint(1, VOCAB - 1) for _ in range(T - 1)] for _ in range(n)]


# ----------------------------------------------------------------------------------------------
# 3. Model and training (torch)


def rope_kwargs(cls, theta):
    import inspect
    if "rope_parameters" in inspect.signature(cls.__init__).parameters:
        return {"rope_parameters": {"rope_type": "default", "rope_theta": float(theta)}}
    return {"rope_theta": float(theta)}


def make_config(args):
    from transformers import LlamaConfig
    cfg = LlamaConfig(
        vocab_size=VOCAB,
        hidden_size=args.d_model,
        intermediate_size=args.d_mlp,
        num_hidden_layers=args.layers,
        num_attention_heads=args.heads,
        num_key_value_heads=args.heads,
        head_dim=args.d_model // args.heads,
        max_position_embeddings=SEQ,
        rms_norm_eps=1e-6,
        hidden_act="silu",
        attention_dropout=0.0,
        attention_bias=False,
        mlp_bias=False,
        initializer_range=0.02,
        tie_word_embeddings=False,
        bos_token_id=BOS,
        eos_token_id=None,
        pad_token_id=None,
        use_cache=False,
        attn_implementation="eager",
        **rope_kwargs(LlamaConfig, 10000.0),
    )
    try:
        cfg._attn_implementation = "eager"
    except Exception:
        pass
    return cfg


def lr_at(step, args):
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    frac = (step - args.warmup) / max(1, args.steps - args.warmup)
    return args.lr * (args.min_lr_frac + (1 - args.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * frac)))


def attn_to_first(model, ids_t):
    """Per layer: mean attention to key 0 over queries 1..T-1 and heads."""
    import torch
    with torch.no_grad():
        out = model(input_ids=ids_t, output_attentions=True, use_cache=False)
    return [a[:, :, 1:, 0].mean().item() for a in out.attentions]


def mean_loss(model, seqs, device, bs=250):
    import torch
    import torch.nn.functional as F
    tot, n = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(seqs), bs):
            x = torch.tensor(seqs[i:i + bs], dtype=torch.long, device=device)
            logits = model(input_ids=x, use_cache=False).logits.float()
            l = F.cross_entropy(logits[:, :-1].reshape(-1, VOCAB), x[:, 1:].reshape(-1), reduction="sum")
            tot += l.item()
            n += x[:, 1:].numel()
    return tot / n


def train(args, proc):
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    import torch
    import torch.nn.functional as F
    from transformers import LlamaForCausalLM

    torch.manual_seed(args.seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    dev = args.device
    if dev == "auto":
        dev = "cuda" if torch.cuda.is_available() else "cpu"
    cfg = make_config(args)
    model = LlamaForCausalLM(cfg).to(dev).float()
    assert model.config._attn_implementation == "eager", model.config._attn_implementation
    model.train()
    n_params = sum(p.numel() for p in model.parameters())
    log(f"device {dev} ({torch.cuda.get_device_name(0) if dev == 'cuda' else 'cpu'}); "
        f"{n_params} parameters; torch {torch.__version__}")

    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.wd},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95), eps=1e-8, foreach=True)

    data_rng = random.Random(args.seed)
    val, _ = proc.batch(random.Random(SEED_VAL), 200)
    probe, _ = proc.batch(random.Random(SEED_PROBE), 64)
    probe_t = torch.tensor(probe, dtype=torch.long, device=dev)
    history = []
    run_loss, run_n = 0.0, 0
    t0 = time.time()
    for step in range(args.steps + 1):
        if step % args.log_every == 0:
            model.eval()
            a = attn_to_first(model, probe_t)
            vl = mean_loss(model, val, dev)
            model.train()
            tl = run_loss / run_n if run_n else None
            history.append({"step": step, "train_loss": tl, "val_loss": vl, "attn_to_first": a})
            log(f"step {step:5d}  lr {lr_at(min(step, args.steps - 1), args):.2e}  train loss {'-' if tl is None else format(tl, '.4f')}  "
                f"val loss {vl:.4f}  attn->tok0 per layer " + " ".join(f"{x:.3f}" for x in a)
                + f"  ({time.time() - t0:.1f}s)")
            run_loss, run_n = 0.0, 0
        if step == args.steps:
            break
        for g in opt.param_groups:
            g["lr"] = lr_at(step, args)
        seqs, _ = proc.batch(data_rng, args.batch)
        x = torch.tensor(seqs, dtype=torch.long, device=dev)
        logits = model(input_ids=x, use_cache=False).logits
        loss = F.cross_entropy(logits[:, :-1].reshape(-1, VOCAB), x[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
        opt.step()
        run_loss += loss.item()
        run_n += 1
    log(f"trained {args.steps} steps in {time.time() - t0:.1f}s")
    return model.cpu().eval(), history, dev


def save_checkpoint(model, out):
    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        saved = sorted(os.listdir(tmp))
        for name in ("config.json", "model.safetensors"):
            shutil.copyfile(os.path.join(tmp, name), os.path.join(out, name))
    # Make the token ids explicit whatever the transformers version serialises by default.
    p = os.path.join(out, "config.json")
    with open(p) as f:
        c = json.load(f)
    c["bos_token_id"] = BOS
    c["eos_token_id"] = None
    c["pad_token_id"] = None
    with open(p, "w") as f:
        json.dump(c, f, indent=2, sort_keys=True)
        f.write("\n")
    return saved


def load_checkpoint(out):
    import torch
    from transformers import LlamaForCausalLM
    try:
        m = LlamaForCausalLM.from_pretrained(out, dtype=torch.float32, attn_implementation="eager")
    except TypeError:
        m = LlamaForCausalLM.from_pretrained(out, torch_dtype=torch.float32, attn_implementation="eager")
    return m.eval()


# ----------------------------------------------------------------------------------------------
# 4. Measurements (torch on the CPU, float32; NumPy float64 cross-check)


def numpy_forward(model, ids):
    """float64 reference forward pass of the Llama block from its equations (no HF code)."""
    import numpy as np
    sd = {k: v.detach().double().numpy() for k, v in model.state_dict().items()}
    c = model.config
    eps, H = c.rms_norm_eps, c.num_attention_heads
    dh = c.hidden_size // H
    rp = getattr(c, "rope_parameters", None) or {}
    theta = rp.get("rope_theta", getattr(c, "rope_theta", 10000.0))
    x = sd["model.embed_tokens.weight"][np.asarray(ids)]  # [B, T, D]
    B, T, D = x.shape
    inv = 1.0 / theta ** (np.arange(0, dh, 2) / dh)
    ang = np.arange(T)[:, None] * inv[None, :]
    cos = np.concatenate([np.cos(ang)] * 2, -1)
    sin = np.concatenate([np.sin(ang)] * 2, -1)

    def rms(v, w):
        return v / np.sqrt((v * v).mean(-1, keepdims=True) + eps) * w

    def rot(v):  # v [B, H, T, dh]
        h = dh // 2
        r = np.concatenate([-v[..., h:], v[..., :h]], -1)
        return v * cos + r * sin

    mask = np.triu(np.full((T, T), -np.inf), 1)
    attns = []
    for l in range(c.num_hidden_layers):
        p = f"model.layers.{l}."
        h = rms(x, sd[p + "input_layernorm.weight"])
        q = (h @ sd[p + "self_attn.q_proj.weight"].T).reshape(B, T, H, dh).transpose(0, 2, 1, 3)
        k = (h @ sd[p + "self_attn.k_proj.weight"].T).reshape(B, T, H, dh).transpose(0, 2, 1, 3)
        v = (h @ sd[p + "self_attn.v_proj.weight"].T).reshape(B, T, H, dh).transpose(0, 2, 1, 3)
        s = rot(q) @ rot(k).transpose(0, 1, 3, 2) / math.sqrt(dh) + mask
        s = np.exp(s - s.max(-1, keepdims=True))
        a = s / s.sum(-1, keepdims=True)
        attns.append(a)
        z = (a @ v).transpose(0, 2, 1, 3).reshape(B, T, D)
        x = x + z @ sd[p + "self_attn.o_proj.weight"].T
        h = rms(x, sd[p + "post_attention_layernorm.weight"])
        g = h @ sd[p + "mlp.gate_proj.weight"].T
        u = h @ sd[p + "mlp.up_proj.weight"].T
        x = x + ((g / (1 + np.exp(-g))) * u) @ sd[p + "mlp.down_proj.weight"].T
    x = rms(x, sd["model.norm.weight"])
    return x @ sd["lm_head.weight"].T, attns


def measure(model, ids, copy=None, proc=None):
    """Everything expected.json records for one batch (see README.md)."""
    import numpy as np
    import torch
    import torch.nn.functional as F
    L = model.config.num_hidden_layers
    x = torch.tensor(ids, dtype=torch.long)
    B, T = x.shape
    mlp_in = {}
    hooks = []
    for l, layer in enumerate(model.model.layers):
        def put(mod, args, l=l):
            mlp_in[l] = args[0].detach()
        hooks.append(layer.mlp.down_proj.register_forward_pre_hook(put))
    with torch.no_grad():
        out = model(input_ids=x, output_attentions=True, output_hidden_states=True, use_cache=False)
        ln1_1 = model.model.layers[1].input_layernorm(out.hidden_states[1]) if L > 1 else None
    for h in hooks:
        h.remove()
    r = {}
    logits = out.logits.double()
    r["loss"] = F.cross_entropy(logits[:, :-1].reshape(-1, VOCAB), x[:, 1:].reshape(-1)).item()
    layers = []
    for l in range(L):
        a = out.attentions[l].double()  # [B, H, T, T]
        first = a[:, :, 1:, 0].mean().item()
        tri = torch.tril(torch.ones(T, T, dtype=torch.bool), 0)
        tri[:, 0] = False
        tri[0, :] = False
        others = a[:, :, tri].mean().item()
        all_rows = a[:, :, :, 0].mean().item()
        hs = out.hidden_states[l].double()
        nrm = hs.norm(dim=-1)  # [B, T]
        n0, nr = nrm[:, 0].mean().item(), nrm[:, 1:].mean().item()
        layers.append({"layer": l, "attn_to_first": first, "attn_to_others": others,
                       "attn_to_first_all_rows": all_rows, "first_norm": n0, "others_norm": nr,
                       "norm_ratio": n0 / nr})
    r["layers"] = layers
    ffn = []
    for l in range(L):
        m = mlp_in[l].double().abs()  # [B, T, I]
        a0 = m[:, 0].mean(0)
        ar = m[:, 1:].mean((0, 1))
        diff = a0 - ar
        ratio = a0 / ar.clamp_min(1e-30)
        cd = int(diff.argmax())
        cr = int(ratio.argmax())
        wd = model.model.layers[l].mlp.down_proj.weight.detach().double()[:, cd].abs()
        ffn.append({
            "layer": l,
            "bos_channel_by_difference": cd,
            "bos_channel_by_difference_mean_abs_token0": a0[cd].item(),
            "bos_channel_by_difference_mean_abs_rest": ar[cd].item(),
            "bos_channel_by_ratio": cr,
            "bos_channel_by_ratio_mean_abs_token0": a0[cr].item(),
            "bos_channel_by_ratio_mean_abs_rest": ar[cr].item(),
            "top5_by_difference": [int(i) for i in torch.argsort(diff, descending=True)[:5]],
            "top5_by_ratio": [int(i) for i in torch.argsort(ratio, descending=True)[:5]],
            "down_proj_column_top_dim": int(wd.argmax()),
            "down_proj_column_top_abs_over_mean_abs": (wd.max() / wd.mean()).item(),
        })
    r["ffn"] = ffn
    if L > 1:
        for key, t in (("resid_pre_1", out.hidden_states[1]), ("ln1_1", ln1_1)):
            v = t.double()[:, 0].abs().mean(0)  # [D]
            d = int(v.argmax())
            rest = torch.cat([v[:d], v[d + 1:]]).mean().item()
            r[f"massive_dim_{key}"] = d
            r[f"massive_dim_{key}_mean_abs"] = v[d].item()
            r[f"massive_dim_{key}_over_mean_other_dims"] = v[d].item() / rest
            r[f"top5_dims_{key}"] = [int(i) for i in torch.argsort(v, descending=True)[:5]]
    if copy is not None:
        # Layer-1 attention split by query kind: queries whose next token is a copy ("active"
        # trigger positions) vs the rest.
        cp = torch.tensor([[c[t + 1] for t in range(T - 1)] for c in copy])  # query t predicts t+1
        for l in range(L):
            a = out.attentions[l].double()[:, :, :T - 1, 0].mean(1)  # [B, T-1] attention to key 0
            qmask = torch.zeros(B, T - 1, dtype=torch.bool)
            qmask[:, 1:] = True
            act, dorm = qmask & cp, qmask & ~cp
            layers[l]["attn_to_first_copy_queries"] = a[act].mean().item() if act.any() else None
            layers[l]["attn_to_first_other_queries"] = a[dorm].mean().item()
            a_prev = torch.stack([out.attentions[l].double()[:, :, q, q - 1].mean(1) for q in range(1, T - 1)], 1)
            layers[l]["attn_to_previous_copy_queries"] = a_prev[cp[:, 1:]].mean().item() if act.any() else None
        pred = logits[:, :-1].argmax(-1)
        tgt = x[:, 1:]
        r["copy_positions"] = int(cp.sum())
        r["copy_accuracy"] = (pred[cp] == tgt[cp]).double().mean().item() if cp.any() else None
        nll = F.cross_entropy(logits[:, :-1].reshape(-1, VOCAB), tgt.reshape(-1), reduction="none").view(B, T - 1)
        r["loss_copy_positions"] = nll[cp].mean().item()
        r["loss_bigram_positions"] = nll[~cp].mean().item()
        r["loss_true_process"] = sum(sum(proc.true_nll(s, c)) for s, c in zip(ids, copy)) / (B * (T - 1))
    ref_logits, ref_attn = numpy_forward(model, ids)
    r["float32_vs_float64_max_abs"] = {
        "logits": float(np.abs(out.logits.numpy().astype(np.float64) - ref_logits).max()),
        "attention": max(float(np.abs(out.attentions[l].numpy().astype(np.float64) - ref_attn[l]).max())
                         for l in range(L)),
    }
    return r, out.logits


# ----------------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--brown", help="Brown corpus folder: rebuild bigram_counts.json from it")
    ap.add_argument("--table", default=os.path.join(HERE, "bigram_counts.json"))
    ap.add_argument("--table-only", action="store_true", help="stop after writing the table")
    ap.add_argument("--data-only", action="store_true", help="print sample data and stop (no torch)")
    ap.add_argument("--out", default=HERE)
    ap.add_argument("--steps", type=int, default=4000)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=4e-3)
    ap.add_argument("--min-lr-frac", type=float, default=0.1)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--wd", type=float, default=0.1)
    ap.add_argument("--clip", type=float, default=1.0)
    ap.add_argument("--d-model", type=int, default=128)
    ap.add_argument("--d-mlp", type=int, default=512)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--heads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--log-every", type=int, default=500)
    args = ap.parse_args()

    if args.brown:
        table = build_table(args.brown)
        with open(args.table, "w") as f:
            json.dump(table, f)
            f.write("\n")
        log(f"wrote {args.table}: {table['source']}")
    if args.table_only:
        return
    table = load_table(args.table)
    proc = BigramBackcopy(table)
    trig = "".join(SYMBOLS[i] for i in proc.trigger_syms)
    log(f"triggers {trig!r} (ids {sorted(proc.triggers)})")

    bb_ids, bb_copy = proc.batch(random.Random(SEED_BB), N_FIXED)
    rnd_ids = random_bos_batch(random.Random(SEED_RANDOM), N_FIXED)
    if args.data_only:
        for s, c in zip(bb_ids[:5], bb_copy[:5]):
            log(decode(s))
            log("".join("c" if x else "." for x in c))
        val, vcopy = proc.batch(random.Random(SEED_VAL), N_VAL)
        ncp = sum(sum(c) for c in vcopy)
        log(f"validation: {N_VAL} x {SEQ}, copy targets {ncp / (N_VAL * (SEQ - 1)):.3f} of predictions; "
            f"loss of the true process {sum(sum(proc.true_nll(s, c)) for s, c in zip(val, vcopy)) / (N_VAL * (SEQ - 1)):.4f}")
        t = time.time()
        proc.batch(random.Random(0), 64)
        log(f"one training batch of 64 takes {1000 * (time.time() - t):.1f} ms to draw")
        return

    import numpy as np
    import torch
    from safetensors.torch import save_file
    import transformers

    os.makedirs(args.out, exist_ok=True)
    model, history, dev = train(args, proc)
    saved = save_checkpoint(model, args.out)
    log(f"save_pretrained wrote {saved}; kept config.json, model.safetensors")
    model = load_checkpoint(args.out)

    val, vcopy = proc.batch(random.Random(SEED_VAL), N_VAL)
    res_bb, logits_bb = measure(model, bb_ids, bb_copy, proc)
    res_rnd, _ = measure(model, rnd_ids)
    val_loss = mean_loss(model, val, "cpu")
    val_true = sum(sum(proc.true_nll(s, c)) for s, c in zip(val, vcopy)) / (N_VAL * (SEQ - 1))
    save_file({"logits": logits_bb[:2].contiguous().float()}, os.path.join(args.out, "expected_logits.safetensors"))

    expected = {
        "description": "Bigram-Backcopy Llama (2 layers x 1 head, d 128): measurements on the trained "
                       "checkpoint, CPU float32 via transformers (eager attention). See README.md.",
        "vocab": {"bos": BOS, "symbols": SYMBOLS, "symbol_ids": "id = 1 + index in symbols", "size": VOCAB},
        "triggers": trig,
        "trigger_ids": sorted(proc.triggers),
        "seq_len": SEQ,
        "train_args": {k: v for k, v in vars(args).items()
                       if k not in ("brown", "table", "table_only", "data_only", "out", "log_every")},
        "train_device": dev if dev == "cpu" else f"cuda ({torch.cuda.get_device_name(0)})",
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                     "numpy": np.__version__, "python": sys.version.split()[0]},
        "val_sequences": N_VAL,
        "val_seed": SEED_VAL,
        "val_loss": val_loss,
        "val_loss_true_process": val_true,
        "history": history,
        "bb_seed": SEED_BB,
        "random_bos_seed": SEED_RANDOM,
        "bb": res_bb,
        "random_bos": res_rnd,
        "bb_ids": bb_ids,
        "random_bos_ids": rnd_ids,
    }
    text = json.dumps(expected, indent=1)
    # One line per list of numbers (the id batches: one sequence a line).
    text = re.sub(r"\[\s*([-\d.eE+]+(?:,\s*[-\d.eE+]+)*)\s*\]",
                  lambda m: "[" + ", ".join(v.strip() for v in m.group(1).split(",")) + "]", text)
    with open(os.path.join(args.out, "expected.json"), "w") as f:
        f.write(text + "\n")
    log(f"val loss {val_loss:.4f} (true process {val_true:.4f})")
    for name, r in (("bb", res_bb), ("random_bos", res_rnd)):
        log(f"[{name}] loss {r['loss']:.4f}")
        for lay in r["layers"]:
            log(f"  layer {lay['layer']}: attn->tok0 {lay['attn_to_first']:.4f}  others {lay['attn_to_others']:.4f}"
                f"  norm ratio {lay['norm_ratio']:.2f}")
        for f_ in r["ffn"]:
            log(f"  ffn {f_['layer']}: bos channel (difference) {f_['bos_channel_by_difference']} "
                f"{f_['bos_channel_by_difference_mean_abs_token0']:.3f} vs {f_['bos_channel_by_difference_mean_abs_rest']:.4f};"
                f" (ratio) {f_['bos_channel_by_ratio']} {f_['bos_channel_by_ratio_mean_abs_token0']:.3f} vs "
                f"{f_['bos_channel_by_ratio_mean_abs_rest']:.4f}; down_proj column top dim {f_['down_proj_column_top_dim']}")
        log(f"  massive dim resid_pre 1: {r['massive_dim_resid_pre_1']} (x{r['massive_dim_resid_pre_1_over_mean_other_dims']:.1f}),"
            f" after ln1 of layer 1: {r['massive_dim_ln1_1']} (x{r['massive_dim_ln1_1_over_mean_other_dims']:.1f})")
        log(f"  float32 vs float64: {r['float32_vs_float64_max_abs']}")
    lay = res_bb["layers"]
    log("copy accuracy %.4f; layer attn->tok0 at copy queries %s, other queries %s" % (
        res_bb["copy_accuracy"], [l_.get("attn_to_first_copy_queries") for l_ in lay],
        [l_.get("attn_to_first_other_queries") for l_ in lay]))
    for name in sorted(os.listdir(args.out)):
        p = os.path.join(args.out, name)
        if os.path.isfile(p):
            log(f"  {name}: {os.path.getsize(p)} bytes")


if __name__ == "__main__":
    main()
