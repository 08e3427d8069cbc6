#!/usr/bin/env python3
"""Builds the HF transformers reference fixtures used by the Go parity tests.

For each architecture a tiny random model (2 layers, hidden 64, vocab 256, intermediate 128,
max positions 128) is built from a config with a fixed seed, every parameter is re-initialised
with non-trivial random values, and the model is run in float32 on the CPU with eager attention
on a fixed batch of 2 token sequences of length 24. The checkpoint (config.json + safetensors)
and the reference activations (expected.safetensors) are written to <out>/<arch>/, together with
<out>/manifest.json and <out>/README.md describing them.

Usage:
    python3 make_fixtures.py [--out DIR]     (DIR defaults to the folder holding this script)

Needs torch, transformers, safetensors and numpy. The run is deterministic on the CPU.
"""

import argparse
import copy
import inspect
import json
import math
import os
import platform
import shutil
import struct
import sys

import numpy as np
import torch
import safetensors
import safetensors.torch
import transformers
from transformers import (
    AutoModelForCausalLM,
    GPT2Config,
    LlamaConfig,
    MistralConfig,
    Qwen2Config,
    Qwen3Config,
)

SEED = 1234
TOKEN_SEED = 20240601
BATCH, SEQ = 2, 24
VOCAB, HIDDEN, LAYERS, INTER, MAXPOS = 256, 64, 2, 128, 128

# Initialisation scales (normal distributions): nothing is trivially zero or one.
STD_MATRIX = 0.12    # linear / Conv1D weights, untied unembedding
STD_EMBED = 0.3      # token (and GPT-2 position) embeddings
STD_BIAS = 0.1       # every bias, LayerNorm biases included
STD_NORM = 0.1       # norm scales are 1 + STD_NORM * N(0, 1)

LLAMA3_SCALING = {
    "rope_type": "llama3",
    "factor": 8.0,
    "low_freq_factor": 1.0,
    "high_freq_factor": 4.0,
    "original_max_position_embeddings": 64,
}
# With head_dim 16 and theta 5e5 the wavelengths 2*pi/inv_freq are 6.3, 32.4, 167, ...; an original
# context of 64 puts the high/low wavelength bounds at 16 and 64, so the three branches of the llama3
# rule are all exercised: frequency 0 kept, frequency 1 interpolated, frequencies 2..7 divided by 8.

MISTRAL_WINDOW = 8


def log(*a):
    print(*a, flush=True)


def rope_kwargs(cls, theta, scaling=None):
    """Config keyword arguments for RoPE, for both the rope_parameters (newer) and the
    rope_theta/rope_scaling (older) styles of transformers."""
    params = inspect.signature(cls.__init__).parameters
    if "rope_parameters" in params:
        rp = {"rope_type": "default", "rope_theta": float(theta)}
        if scaling:
            rp = dict(scaling)
            rp["rope_theta"] = float(theta)
        return {"rope_parameters": rp}
    kw = {"rope_theta": float(theta)}
    if scaling:
        kw["rope_scaling"] = dict(scaling)
    return kw


def common_llama_kwargs():
    return dict(
        vocab_size=VOCAB,
        hidden_size=HIDDEN,
        intermediate_size=INTER,
        num_hidden_layers=LAYERS,
        max_position_embeddings=MAXPOS,
        rms_norm_eps=1e-6,
        hidden_act="silu",
        attention_dropout=0.0,
    )


def make_configs():
    cfgs = {}
    cfgs["llama2"] = LlamaConfig(
        **common_llama_kwargs(),
        num_attention_heads=4,
        num_key_value_heads=4,
        tie_word_embeddings=False,
        attention_bias=False,
        mlp_bias=False,
        bos_token_id=1,
        eos_token_id=2,
        **rope_kwargs(LlamaConfig, 10000.0),
    )
    cfgs["llama3"] = LlamaConfig(
        **common_llama_kwargs(),
        num_attention_heads=4,
        num_key_value_heads=2,
        tie_word_embeddings=True,
        attention_bias=False,
        mlp_bias=False,
        bos_token_id=1,
        eos_token_id=2,
        **rope_kwargs(LlamaConfig, 500000.0, LLAMA3_SCALING),
    )
    cfgs["mistral"] = MistralConfig(
        **common_llama_kwargs(),
        num_attention_heads=4,
        num_key_value_heads=2,
        sliding_window=MISTRAL_WINDOW,
        tie_word_embeddings=False,
        bos_token_id=1,
        eos_token_id=2,
        **rope_kwargs(MistralConfig, 10000.0),
    )
    cfgs["qwen2"] = Qwen2Config(
        **common_llama_kwargs(),
        num_attention_heads=4,
        num_key_value_heads=2,
        use_sliding_window=False,
        tie_word_embeddings=False,
        bos_token_id=1,
        eos_token_id=2,
        **rope_kwargs(Qwen2Config, 1000000.0),
    )
    cfgs["qwen3"] = Qwen3Config(
        **common_llama_kwargs(),
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=32,
        attention_bias=False,
        use_sliding_window=False,
        tie_word_embeddings=False,
        bos_token_id=1,
        eos_token_id=2,
        **rope_kwargs(Qwen3Config, 1000000.0),
    )
    cfgs["gpt2"] = GPT2Config(
        vocab_size=VOCAB,
        n_positions=MAXPOS,
        n_embd=HIDDEN,
        n_layer=LAYERS,
        n_head=4,
        n_inner=INTER,
        activation_function="gelu_new",
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        layer_norm_epsilon=1e-5,
        tie_word_embeddings=True,
        bos_token_id=0,
        eos_token_id=0,
    )
    return cfgs


def reinit(model, gen):
    """Re-initialises every parameter (shared ones once) with moderate random values."""
    with torch.no_grad():
        for name, p in sorted(model.named_parameters(), key=lambda kv: kv[0]):
            leaf = name.split(".")[-1]
            parts = name.split(".")
            is_norm = any(("norm" in s) or s.startswith("ln_") for s in parts[:-1])
            if is_norm and leaf == "weight":
                v = 1.0 + STD_NORM * torch.randn(p.shape, generator=gen, dtype=torch.float64)
            elif leaf == "bias":
                v = STD_BIAS * torch.randn(p.shape, generator=gen, dtype=torch.float64)
            elif any(s in ("embed_tokens", "wte", "wpe") for s in parts):
                v = STD_EMBED * torch.randn(p.shape, generator=gen, dtype=torch.float64)
            else:
                v = STD_MATRIX * torch.randn(p.shape, generator=gen, dtype=torch.float64)
            p.copy_(v.to(p.dtype))


def layers_of(model, arch):
    return model.transformer.h if arch == "gpt2" else model.model.layers


def final_norm_of(model, arch):
    return model.transformer.ln_f if arch == "gpt2" else model.model.norm


def first(x):
    return x[0] if isinstance(x, (tuple, list)) else x


def install_hooks(model, arch, cfg, store):
    """Hooks that capture per-layer intermediates into store (a dict name -> tensor)."""
    handles = []
    H = cfg.num_attention_heads
    KV = getattr(cfg, "num_key_value_heads", H) or H
    dh = getattr(cfg, "head_dim", None) or cfg.hidden_size // H
    for l, layer in enumerate(layers_of(model, arch)):
        def put(name):
            def f(_m, _inp, out):
                store[name] = first(out).detach().clone()
            return f

        def put_in(name):
            def f(_m, inp):
                store[name] = first(inp).detach().clone()
            return f

        handles.append(layer.register_forward_hook(put(f"resid_post.{l}")))
        if arch == "gpt2":
            attn, mlp = layer.attn, layer.mlp
            handles.append(attn.c_proj.register_forward_pre_hook(put_in(f"z.{l}")))
            handles.append(mlp.c_proj.register_forward_pre_hook(put_in(f"mlp_post.{l}")))

            def qk(_m, _inp, out, l=l):
                o = first(out).detach()
                D = cfg.n_embd
                store[f"q.{l}"] = o[..., :D].reshape(*o.shape[:-1], H, D // H).clone()
                store[f"k.{l}"] = o[..., D:2 * D].reshape(*o.shape[:-1], H, D // H).clone()
            handles.append(attn.c_attn.register_forward_hook(qk))
        else:
            attn, mlp = layer.self_attn, layer.mlp
            handles.append(attn.o_proj.register_forward_pre_hook(put_in(f"z.{l}")))
            handles.append(mlp.down_proj.register_forward_pre_hook(put_in(f"mlp_post.{l}")))
            if hasattr(attn, "q_norm"):
                # Qwen3: q/k after the per-head RMSNorm, before RoPE; already [B, T, heads, dh].
                handles.append(attn.q_norm.register_forward_hook(put(f"q.{l}")))
                handles.append(attn.k_norm.register_forward_hook(put(f"k.{l}")))
            else:
                def qproj(_m, _inp, out, l=l):
                    o = first(out).detach()
                    store[f"q.{l}"] = o.reshape(*o.shape[:-1], H, dh).clone()

                def kproj(_m, _inp, out, l=l):
                    o = first(out).detach()
                    store[f"k.{l}"] = o.reshape(*o.shape[:-1], KV, dh).clone()
                handles.append(attn.q_proj.register_forward_hook(qproj))
                handles.append(attn.k_proj.register_forward_hook(kproj))
    return handles


def run_model(model, arch, cfg, tokens):
    store = {}
    handles = install_hooks(model, arch, cfg, store)
    try:
        with torch.no_grad():
            out = model(input_ids=tokens, output_attentions=True, output_hidden_states=True, use_cache=False)
    finally:
        for h in handles:
            h.remove()
    res = {"logits": out.logits.detach().clone()}
    for l, a in enumerate(out.attentions):
        res[f"attn.{l}"] = a.detach().clone()
    for i, h in enumerate(out.hidden_states):
        res[f"hidden.{i}"] = h.detach().clone()
    res.update(store)
    return res


def llama3_inv_freq_reference(theta, dh, s):
    """Independent float64 implementation of the llama3 frequency scaling."""
    inv = 1.0 / (theta ** (np.arange(0, dh, 2, dtype=np.float64) / dh))
    lo_wl = s["original_max_position_embeddings"] / s["low_freq_factor"]
    hi_wl = s["original_max_position_embeddings"] / s["high_freq_factor"]
    out, branch = [], []
    for f in inv:
        wl = 2 * math.pi / f
        if wl < hi_wl:
            out.append(f)
            branch.append("kept")
        elif wl > lo_wl:
            out.append(f / s["factor"])
            branch.append("divided")
        else:
            branch.append("interpolated")
            sm = (s["original_max_position_embeddings"] / wl - s["low_freq_factor"]) / (
                s["high_freq_factor"] - s["low_freq_factor"])
            out.append((1 - sm) * f / s["factor"] + sm * f)
    return np.array(out), inv, branch


def safetensors_header(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return json.loads(f.read(n))


def load_saved(d):
    kw = dict(attn_implementation="eager")
    try:
        return AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32, **kw)
    except TypeError:
        return AutoModelForCausalLM.from_pretrained(d, torch_dtype=torch.float32, **kw)


def set_config_dtype(cfg, name):
    for attr in ("dtype", "torch_dtype"):
        try:
            setattr(cfg, attr, name)
        except Exception:
            pass


def save_sharded(model, d, total_bytes):
    """save_pretrained into d with a max shard size that gives 2 or 3 shards."""
    for frac in (0.45, 0.55, 0.36, 0.7):
        if os.path.isdir(d):
            shutil.rmtree(d)
        model.save_pretrained(d, safe_serialization=True, max_shard_size=int(total_bytes * frac))
        idx = os.path.join(d, "model.safetensors.index.json")
        if os.path.exists(idx):
            with open(idx) as f:
                shards = set(json.load(f)["weight_map"].values())
            if 2 <= len(shards) <= 3:
                return sorted(shards)
    raise RuntimeError("could not produce a 2-3 shard checkpoint")


def highlights(arch, cfg):
    c = cfg.to_dict()
    keys = ["model_type", "architectures", "vocab_size", "hidden_size", "n_embd", "num_hidden_layers", "n_layer",
            "num_attention_heads", "n_head", "num_key_value_heads", "head_dim", "intermediate_size", "n_inner",
            "max_position_embeddings", "n_positions", "rms_norm_eps", "layer_norm_epsilon", "hidden_act",
            "activation_function", "rope_theta", "rope_scaling", "rope_parameters", "sliding_window",
            "use_sliding_window", "layer_types", "attention_bias", "tie_word_embeddings", "dtype", "torch_dtype"]
    return {k: c[k] for k in keys if k in c}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)))
    args = ap.parse_args()
    out_root = args.out
    os.makedirs(out_root, exist_ok=True)

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_default_dtype(torch.float32)
    torch.use_deterministic_algorithms(True)

    log(f"python {platform.python_version()} torch {torch.__version__} transformers {transformers.__version__} "
        f"safetensors {safetensors.__version__} numpy {np.__version__}")

    tokens = torch.randint(0, VOCAB, (BATCH, SEQ), generator=torch.Generator().manual_seed(TOKEN_SEED),
                           dtype=torch.int64)
    log("tokens:", tokens.tolist())

    manifest = {
        "generator": "make_fixtures.py",
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "safetensors": safetensors.__version__,
        "numpy": np.__version__,
        "device": "cpu",
        "compute_dtype": "float32",
        "seed": SEED,
        "token_seed": TOKEN_SEED,
        "tokens": tokens.tolist(),
        "tokens_dtype": "int64",
        "init": {"matrix_std": STD_MATRIX, "embed_std": STD_EMBED, "bias_std": STD_BIAS,
                 "norm_scale": f"1 + {STD_NORM}*N(0,1)"},
        "arches": [],
        "models": {},
    }

    cfgs = make_configs()
    for ai, (arch, cfg) in enumerate(cfgs.items()):
        log(f"\n=== {arch} ===")
        torch.manual_seed(SEED + ai)
        model = AutoModelForCausalLM.from_config(cfg, attn_implementation="eager")
        model = model.float().eval()
        reinit(model, torch.Generator().manual_seed(SEED + 100 * ai))
        if arch == "llama3":
            # Stored in bfloat16: round first so the float32 reference computes from exactly the bf16 values.
            with torch.no_grad():
                for p in model.parameters():
                    p.copy_(p.to(torch.bfloat16).to(torch.float32))
        model.tie_weights()
        H = cfg.num_attention_heads
        dh = getattr(cfg, "head_dim", None) or cfg.hidden_size // H
        checks = {}

        res = run_model(model, arch, cfg, tokens)

        # Rotary frequencies actually used (float32, as HF computes them).
        if arch != "gpt2":
            inv = model.model.rotary_emb.inv_freq.detach().clone().float()
            res["inv_freq"] = inv
            if arch == "llama3":
                ref, unscaled, branch = llama3_inv_freq_reference(500000.0, dh, LLAMA3_SCALING)
                checks["llama3_inv_freq_branches"] = branch
                assert {"kept", "interpolated", "divided"} <= set(branch), branch
                checks["llama3_inv_freq_max_rel_err_vs_independent_formula"] = float(
                    np.max(np.abs(inv.double().numpy() - ref) / ref))
                checks["llama3_inv_freq_changed_by_scaling"] = int(
                    np.sum(np.abs(ref - unscaled) / unscaled > 1e-6))
                assert checks["llama3_inv_freq_max_rel_err_vs_independent_formula"] < 1e-6, checks
            else:
                theta = {"llama2": 1e4, "mistral": 1e4, "qwen2": 1e6, "qwen3": 1e6}[arch]
                ref = 1.0 / (theta ** (np.arange(0, dh, 2, dtype=np.float64) / dh))
                checks["inv_freq_max_rel_err_vs_plain_rope"] = float(np.max(np.abs(inv.double().numpy() - ref) / ref))
                assert checks["inv_freq_max_rel_err_vs_plain_rope"] < 1e-6, checks

        # HF's last hidden state is after the final norm: check against our own block-output hook.
        with torch.no_grad():
            normed = final_norm_of(model, arch)(res[f"resid_post.{LAYERS - 1}"])
        checks["last_hidden_is_final_norm_of_last_block_output_max_abs"] = float(
            (normed - res[f"hidden.{LAYERS}"]).abs().max())
        checks["hidden_1_equals_resid_post_0"] = bool(
            (res["hidden.1"] - res["resid_post.0"]).abs().max() == 0)
        assert checks["last_hidden_is_final_norm_of_last_block_output_max_abs"] < 1e-6

        # Sliding window: which keys have non-zero probability?
        if arch == "mistral":
            ok = True
            for l in range(LAYERS):
                a = res[f"attn.{l}"]
                nz = (a != 0)
                i = torch.arange(SEQ)[:, None]
                j = torch.arange(SEQ)[None, :]
                want = (j <= i) & (j > i - MISTRAL_WINDOW)
                ok = ok and bool((nz == want).all())
            checks["sliding_window_applied_in_eager"] = ok
            checks["sliding_window_visible_keys"] = "key j visible from query i iff i - window < j <= i"
            log("mistral sliding window applied in eager attention:", ok)
            if not ok:
                log("WARNING: eager attention did not apply the sliding window")
        else:
            for l in range(LAYERS):
                a = res[f"attn.{l}"]
                i = torch.arange(SEQ)[:, None]
                j = torch.arange(SEQ)[None, :]
                assert bool(((a != 0) == (j <= i)).all()), f"{arch}: attention is not plain causal"

        # Float64 run of the same weights: the size of float32 rounding noise in the references.
        m64 = copy.deepcopy(model).double()
        r64 = run_model(m64, arch, cfg, tokens)
        checks["f32_vs_f64_max_abs"] = {
            k: float((res[k].double() - r64[k]).abs().max()) for k in
            ["logits", "attn.0", f"attn.{LAYERS - 1}", f"hidden.{LAYERS}"]}
        del m64

        # Save the checkpoint.
        d = os.path.join(out_root, arch)
        if os.path.isdir(d):
            shutil.rmtree(d)
        if arch == "llama3":
            mb = copy.deepcopy(model).to(torch.bfloat16)
            set_config_dtype(mb.config, "bfloat16")
            mb.save_pretrained(d, safe_serialization=True)
            del mb
        elif arch == "qwen2":
            set_config_dtype(model.config, "float32")
            total = sum(p.numel() * p.element_size() for p in model.parameters())
            save_sharded(model, d, total)
        else:
            set_config_dtype(model.config, "float32")
            model.save_pretrained(d, safe_serialization=True)

        # Verify what was written, and reload it to check it reproduces the references.
        files = sorted(os.listdir(d))
        st_dtypes = {}
        for fn in files:
            if fn.endswith(".safetensors"):
                hdr = safetensors_header(os.path.join(d, fn))
                st_dtypes[fn] = sorted({v["dtype"] for k, v in hdr.items() if k != "__metadata__"})
        with open(os.path.join(d, "config.json")) as f:
            saved_cfg = json.load(f)
        checks["saved_safetensors_dtypes"] = st_dtypes
        checks["saved_config_dtype"] = saved_cfg.get("dtype", saved_cfg.get("torch_dtype"))
        if arch == "llama3":
            assert all(v == ["BF16"] for v in st_dtypes.values()), st_dtypes
            assert checks["saved_config_dtype"] == "bfloat16", saved_cfg
        else:
            assert all(v == ["F32"] for v in st_dtypes.values()), st_dtypes
        reloaded = load_saved(d).float().eval()
        rr = run_model(reloaded, arch, cfg, tokens)
        checks["reload_max_abs_logits"] = float((rr["logits"] - res["logits"]).abs().max())
        checks["reload_max_abs_attn"] = float(max((rr[f"attn.{l}"] - res[f"attn.{l}"]).abs().max()
                                                  for l in range(LAYERS)))
        assert checks["reload_max_abs_logits"] < 1e-6, checks
        del reloaded

        # Expected activations.
        exp = {"tokens": tokens.clone()}
        for k, v in res.items():
            exp[k] = v.float().contiguous()
        safetensors.torch.save_file(exp, os.path.join(d, "expected.safetensors"),
                                    # One metadata key: the header of a multi-key map is written in no fixed order.
                                    metadata={"fixture": json.dumps(
                                        {"arch": arch, "transformers": transformers.__version__,
                                         "torch": torch.__version__, "tokens_dtype": "int64"}, sort_keys=True)})
        files = sorted(os.listdir(d))

        log("config.json:", json.dumps(saved_cfg, sort_keys=True))
        log("checks:", json.dumps(checks, sort_keys=True))
        manifest["arches"].append(arch)
        manifest["models"][arch] = {
            "files": {fn: os.path.getsize(os.path.join(d, fn)) for fn in files},
            "config_highlights": highlights(arch, saved_cfg_obj(saved_cfg)),
            "heads": H,
            "kv_heads": getattr(cfg, "num_key_value_heads", H) or H,
            "head_dim": dh,
            "expected": {k: {"shape": list(v.shape), "dtype": str(v.dtype).replace("torch.", "")}
                         for k, v in sorted(exp.items(), key=lambda kv: sort_key(kv[0]))},
            "checks": checks,
        }

    with open(os.path.join(out_root, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=False)
        f.write("\n")
    write_readme(out_root, manifest)
    for dirpath, _dirs, fns in os.walk(out_root):
        for fn in fns:
            if fn.endswith((".json", ".safetensors", ".md")):
                os.chmod(os.path.join(dirpath, fn), 0o644)
    log("\nwritten to", out_root)


class saved_cfg_obj:
    """Wraps a config.json dict so highlights() can read it like a config."""

    def __init__(self, d):
        self.d = d

    def to_dict(self):
        return self.d


def sort_key(name):
    base, _, idx = name.partition(".")
    return (base, int(idx) if idx.isdigit() else -1)


TENSOR_DOCS = [
    ("tokens", "[2, 24] int64", "input ids (both rows full length, no padding, no BOS added)"),
    ("logits", "[2, 24, 256]", "output logits"),
    ("attn.{l}", "[2, heads, 24, 24]", "attention probabilities of layer l (after softmax and masking)"),
    ("hidden.{i}", "[2, 24, D]", "HF output_hidden_states, i = 0..L: hidden.0 is the embedding output "
     "(GPT-2: token + position embeddings), hidden.i for 0 < i < L is the output of block i-1, and "
     "hidden.L is the output of the LAST block AFTER the final norm (HF convention)"),
    ("resid_post.{l}", "[2, 24, D]", "raw output of block l (residual stream, no final norm); "
     "resid_post.{L-1} is what hidden.L is before the final norm"),
    ("z.{l}", "[2, 24, heads*head_dim]", "attention output before the output projection (input of o_proj / c_proj)"),
    ("mlp_post.{l}", "[2, 24, intermediate]", "MLP hidden after the activation (and the gate product for SwiGLU): "
     "input of down_proj / mlp.c_proj"),
    ("q.{l}", "[2, 24, heads, head_dim]", "queries after the projection (with bias) and, for Qwen3, after q_norm; "
     "before RoPE"),
    ("k.{l}", "[2, 24, kv_heads, head_dim]", "keys, likewise before RoPE (GPT-2: heads = kv_heads = 4)"),
    ("inv_freq", "[head_dim/2]", "RoPE inverse frequencies the model used (after llama3 scaling for llama3); "
     "absent for gpt2"),
]


def write_readme(out_root, m):
    L = []
    w = L.append
    w("# Parity fixtures (HF transformers references)")
    w("")
    w("Tiny random checkpoints and the activations HF transformers computes for them, for the Go parity tests")
    w("of `sinks/transformer`. Regenerate with `python3 make_fixtures.py` (torch, transformers, safetensors,")
    w("numpy; CPU, float32, eager attention, deterministic). Generated by that script, do not edit by hand.")
    w("")
    w(f"- transformers {m['transformers']}, torch {m['torch']}, safetensors {m['safetensors']}, "
      f"python {m['python']}")
    w(f"- computed on the CPU in float32; parameters re-initialised from seed {m['seed']}: matrices "
      f"N(0, {STD_MATRIX}²), embeddings N(0, {STD_EMBED}²), biases N(0, {STD_BIAS}²), norm scales "
      f"1 + {STD_NORM}·N(0, 1)")
    w("- all models: 2 layers, hidden 64, vocab 256, intermediate 128, max positions 128")
    w(f"- tokens (seed {m['token_seed']}, stored as int64 `tokens` in every expected.safetensors):")
    for row in m["tokens"]:
        w(f"  - `{row}`")
    w("")
    w("## Tensors in `<arch>/expected.safetensors`")
    w("")
    w("All float32 except `tokens` (int64). l = 0..L-1 (L = 2).")
    w("")
    w("| name | shape | meaning |")
    w("| --- | --- | --- |")
    for n, s, d in TENSOR_DOCS:
        w(f"| `{n}` | {s} | {d} |")
    w("")
    w("## Architectures")
    for arch in m["arches"]:
        mm = m["models"][arch]
        ch = mm["checks"]
        w("")
        w(f"### {arch}")
        w("")
        w(f"transformers {m['transformers']}; heads {mm['heads']}, kv heads {mm['kv_heads']}, head_dim {mm['head_dim']}.")
        w("")
        w("Config highlights (from the saved config.json): " + ", ".join(
            f"`{k}`={json.dumps(v)}" for k, v in mm["config_highlights"].items()))
        w("")
        w("Files: " + ", ".join(f"`{fn}` ({sz} B)" for fn, sz in mm["files"].items()) + ".")
        w("")
        w("Checkpoint dtypes: " + ", ".join(f"`{fn}`: {'/'.join(v)}" for fn, v in ch["saved_safetensors_dtypes"].items())
          + f"; config dtype `{ch['saved_config_dtype']}`.")
        w("")
        w("Tensors: " + ", ".join(f"`{k}` {v['shape']}" for k, v in mm["expected"].items()) + ".")
        w("")
        f64 = ch["f32_vs_f64_max_abs"]
        w("Float32 rounding noise (max |f32 − f64| with the same weights): " + ", ".join(
            f"{k} {v:.2e}" for k, v in f64.items()) + ".")
        if arch == "llama3":
            w("")
            w("Weights are stored in bfloat16; the float32 reference used exactly the bf16-rounded values "
              "(load, upcast to float32, compare). RoPE uses llama3 frequency scaling with "
              f"original_max_position_embeddings {LLAMA3_SCALING['original_max_position_embeddings']}, chosen so "
              "that all three branches of the rule occur at head_dim "
              f"{mm['head_dim']} (per frequency: {', '.join(ch['llama3_inv_freq_branches'])}); `inv_freq` matches an independent implementation of the formula to "
              f"{ch['llama3_inv_freq_max_rel_err_vs_independent_formula']:.1e} relative error. "
              "Embeddings are tied (no lm_head.weight in the file).")
        if arch == "mistral":
            w("")
            w(f"Sliding window {MISTRAL_WINDOW}, applied by eager attention: "
              f"{ch['sliding_window_applied_in_eager']}. Key j is visible from query i iff "
              f"i − {MISTRAL_WINDOW} < j ≤ i ({MISTRAL_WINDOW} keys, the query's own position included); "
              "masked probabilities are exactly 0.")
        if arch == "qwen2":
            w("")
            w("q/k/v biases are non-zero. Saved as a sharded checkpoint (model.safetensors.index.json + "
              "model-0000X-of-0000N.safetensors). use_sliding_window is false: plain causal attention.")
        if arch == "qwen3":
            w("")
            w("head_dim 32 ≠ hidden/heads = 16, so q_proj is [128, 64] and o_proj is [64, 128]; q_norm/k_norm "
              "weights are non-trivial and `q.{l}`/`k.{l}` are taken after them (before RoPE).")
        if arch == "gpt2":
            w("")
            w("Conv1D layout ([in, out]) in the checkpoint; gelu_new (tanh approximation); all biases non-zero; "
              "tied embeddings; learned positions (`transformer.wpe.weight`). `q.{l}`/`k.{l}` are the first and "
              "second thirds of c_attn's output.")
    w("")
    w("## Conventions and caveats")
    w("")
    w("- HF `hidden_states` has L+1 entries and the last one is after the final norm (RMSNorm / ln_f), not "
      "the raw last block output; that one is `resid_post.{L-1}`. The script asserts this.")
    w("- Only the two full-length rows are run: no padding, no attention mask, no BOS added.")
    w("- Config format: these config.json files are written by transformers " + m["transformers"] + ". "
      "Since transformers 5 the RoPE settings are one `rope_parameters` object (`rope_theta`, `rope_type` and, "
      "for llama3, `factor`, `low_freq_factor`, `high_freq_factor`, `original_max_position_embeddings`) and the "
      "weight dtype is `dtype`; checkpoints saved by older versions use top-level `rope_theta`, a "
      "`rope_scaling` object with the same keys, and `torch_dtype`. A loader should accept both forms.")
    w("- Qwen2/Qwen3 configs carry `use_sliding_window: false`, `sliding_window: null`, `max_window_layers` and "
      "`layer_types` (all `full_attention`): no window applies. Mistral's `sliding_window` applies to every layer.")
    w("- GPT-2's `bos_token_id`/`eos_token_id` are set to 0 (the library default, 50256, is outside the "
      "256-token vocabulary).")
    w("- `manifest.json` holds the same information in machine-readable form (versions, tokens, shapes, checks).")
    w("")
    with open(os.path.join(out_root, "README.md"), "w") as f:
        f.write("\n".join(L))


if __name__ == "__main__":
    sys.exit(main())
