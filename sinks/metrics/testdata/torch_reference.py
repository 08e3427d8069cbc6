#!/usr/bin/env python3
"""Reference values for the sinks/metrics statistics on the parity fixtures.

Reads sinks/transformer/testdata/parity/<arch>/expected.safetensors (activations computed by HF
transformers) and the checkpoint weights of the same directory, computes each statistic of
sinks/metrics from its definition with torch / numpy (scipy.stats for the rank statistics and the
kurtosis where it is installed), and writes torch_reference.json beside this script (float64).
torch_reference_test.go compares the Go implementations with these numbers.

Usage: python3 torch_reference.py [--parity DIR] [--out FILE]

Without torch, a small safetensors reader and numpy are used instead (recorded in the output).
"""

import argparse
import json
import math
import os
import platform
import struct
import sys
import traceback

import numpy as np

try:
    import torch
except ImportError:  # numpy-only fallback
    torch = None
try:
    import safetensors
    import safetensors.torch as st_torch
except ImportError:
    safetensors = None
    st_torch = None
try:
    import scipy
    import scipy.stats as sstats
except ImportError:
    scipy = None
    sstats = None

ARCHS = ["llama2", "llama3", "mistral", "qwen2", "qwen3", "gpt2"]
TOP_K = 5
GU_EPS = 0.3
GU_KEY = 0
LAYER = 1  # the layer of the per-layer statistics (paper Fig. 7: W_O input of layer 1)


# ---------------------------------------------------------------- loading


def read_safetensors_numpy(path):
    """Minimal safetensors reader (F32, F16, BF16, F64) returning float64 numpy arrays."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        raw = data[b:e]
        dt = info["dtype"]
        if dt == "F32":
            a = np.frombuffer(raw, dtype="<f4").astype(np.float64)
        elif dt == "F64":
            a = np.frombuffer(raw, dtype="<f8").astype(np.float64)
        elif dt == "F16":
            a = np.frombuffer(raw, dtype="<f2").astype(np.float64)
        elif dt == "BF16":
            bits = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
            a = bits.view(np.float32).astype(np.float64)
        elif dt == "I64":
            a = np.frombuffer(raw, dtype="<i8").astype(np.float64)
        else:
            raise ValueError(f"{path}: tensor {name}: dtype {dt} not handled")
        out[name] = a.reshape(info["shape"])
    return out


def load_file(path):
    """Tensors of one safetensors file as float64 numpy arrays (values exactly as stored)."""
    if st_torch is not None and torch is not None:
        return {k: v.to(torch.float64).numpy() for k, v in st_torch.load_file(path).items()}
    return read_safetensors_numpy(path)


def load_weights(d):
    index = os.path.join(d, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            wm = json.load(f)["weight_map"]
        out = {}
        for shard in sorted(set(wm.values())):
            out.update(load_file(os.path.join(d, shard)))
        return out
    return load_file(os.path.join(d, "model.safetensors"))


# ---------------------------------------------------------------- statistics


def within_token_std(z):
    """out[p] = mean_b std_j z[b, p, j] (population std over the flattened trailing axes)."""
    z = z.reshape(z.shape[0], z.shape[1], -1)
    if torch is not None:
        return torch.from_numpy(z).std(dim=-1, correction=0).mean(dim=0).numpy()
    return z.std(axis=-1, ddof=0).mean(axis=0)


def across_sample_std(z):
    """out[p] = mean_j std_b z[b, p, j] (population std over the samples)."""
    z = z.reshape(z.shape[0], z.shape[1], -1)
    if torch is not None:
        return torch.from_numpy(z).std(dim=0, correction=0).mean(dim=-1).numpy()
    return z.std(axis=0, ddof=0).mean(axis=-1)


def fit_inverse_sqrt(y):
    """Least squares y_t ≈ σ_v · (t+1)^(-1/2), no intercept; R² around the mean of y."""
    t = np.arange(len(y), dtype=np.float64)
    g = 1.0 / np.sqrt(t + 1.0)
    sol, *_ = np.linalg.lstsq(g[:, None], y, rcond=None)
    sigma = float(sol[0])
    curve = sigma * g
    ss_res = float(np.sum((y - curve) ** 2))
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    return {"sigma_v": sigma, "r2": 1.0 - ss_res / ss_tot, "rmse": math.sqrt(ss_res / len(y)), "curve": curve.tolist()}


def kendall_tau_b_formula(a, b):
    n = len(a)
    da = np.sign(a[:, None] - a[None, :])
    db = np.sign(b[:, None] - b[None, :])
    iu = np.triu_indices(n, 1)
    da, db = da[iu], db[iu]
    n0 = n * (n - 1) / 2
    n1 = np.sum(da == 0)
    n2 = np.sum(db == 0)
    s = np.sum(da * db)
    return float(s / math.sqrt((n0 - n1) * (n0 - n2)))


def average_ranks(x):
    order = np.argsort(x, kind="stable")
    r = np.empty(len(x), dtype=np.float64)
    xs = x[order]
    i = 0
    while i < len(x):
        j = i
        while j + 1 < len(x) and xs[j + 1] == xs[i]:
            j += 1
        r[order[i : j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return r


def spearman_formula(a, b):
    return float(np.corrcoef(average_ranks(a), average_ranks(b))[0, 1])


def kurtosis_formula(x):
    d = x - x.mean()
    m2 = np.mean(d**2)
    m4 = np.mean(d**4)
    return float(m4 / m2**2 - 3.0)


def kendall_tau_b(a, b):
    if sstats is not None:
        return float(sstats.kendalltau(a, b, variant="b")[0])
    return kendall_tau_b_formula(a, b)


def spearman(a, b):
    if sstats is not None:
        return float(sstats.spearmanr(a, b)[0])
    return spearman_formula(a, b)


def kurtosis(x):
    if sstats is not None:
        return float(sstats.kurtosis(x, fisher=True, bias=True))
    return kurtosis_formula(x)


def descending(x):
    """Indices by decreasing value, ties by increasing index."""
    return np.argsort(-x, kind="stable")


def gu_scores(attn_layers, k, eps):
    alpha, layer_share = [], []
    above = total = 0
    for a in attn_layers:  # [b, h, T, T]
        T = a.shape[2]
        col = a[:, :, k:, k]  # queries i >= k of key k: [b, h, T-k]
        al = col.mean(axis=2).mean(axis=0)  # mean over queries, then over the batch
        alpha.append(al.tolist())
        n = int(np.sum(al > eps))
        layer_share.append(n / len(al))
        above += n
        total += len(al)
        assert T == a.shape[3]
    return {"k": k, "eps": eps, "alpha": alpha, "layer_share": layer_share, "share": above / total}


def row_norms(w, source, transposed):
    """w is [rows, cols]: one row per FFN neuron."""
    norms = np.sqrt(np.sum(w * w, axis=1))
    order = descending(norms)
    return {
        "source": source,
        "transposed": transposed,
        "shape": list(w.shape),
        "norms": norms.tolist(),
        "mean": float(norms.mean()),
        "top": order[:TOP_K].tolist(),
        "top_norms": norms[order[:TOP_K]].tolist(),
    }


def activation_contrast(act):
    a = np.abs(act)  # [b, p, f]
    first = a[:, 0, :].mean(axis=0)
    rest = a[:, 1:, :].mean(axis=(0, 1))
    score = first / (rest + 1e-12)
    order = descending(score)
    return {
        "score": score.tolist(),
        "first": first.tolist(),
        "rest": rest.tolist(),
        "top": order[:TOP_K].tolist(),
        "top_scores": score[order[:TOP_K]].tolist(),
    }


def down_column(col, neuron, source):
    absval = np.abs(col)
    order = descending(absval)
    return {
        "source": source,
        "neuron": int(neuron),
        "column": col.tolist(),
        "kurtosis": kurtosis(col),
        "kurtosis_formula": kurtosis_formula(col),
        "sorted_abs": absval[order].tolist(),
        "top_dims": order[:TOP_K].tolist(),
        "top_values": col[order[:TOP_K]].tolist(),
    }


def token_stats(x, pos):
    """Massive dim, disparity (per-sample mean and pooled), dominance of x[:, pos, :]."""
    v = np.abs(x[:, pos, :])  # [b, d]
    B, D = v.shape
    m = v.mean(axis=0)
    dim = int(np.argmax(m))  # first maximum
    target = v[:, dim]
    others = (v.sum(axis=1) - target) / (D - 1)
    others_direct = np.array([np.mean(np.delete(v[b], dim)) for b in range(B)])
    assert np.allclose(others, others_direct, rtol=1e-14, atol=0)
    return {
        "pos": pos,
        "massive_dim": dim,
        "massive_mean_abs": float(m[dim]),
        "disparity": float(np.mean(target / others_direct)),
        "disparity_pooled": float(target.mean() / others_direct.mean()),
        "dominance": float(np.mean(v.max(axis=1) / v.mean(axis=1))),
    }


def effective_rank(x):
    """Per sample exp(entropy of σ/Σσ), σ the singular values of x[b] ([T, d]) in float64."""
    per = []
    for b in range(x.shape[0]):
        if torch is not None:
            s = torch.linalg.svdvals(torch.from_numpy(np.ascontiguousarray(x[b])).to(torch.float64)).numpy()
        else:
            s = np.linalg.svd(x[b], compute_uv=False)
        p = s / s.sum()
        p = p[p > 0]
        per.append(float(math.exp(-np.sum(p * np.log(p)))))
    return {"per_sample": per, "mean": float(np.mean(per))}


def rank_pair(a, b, name_a, name_b):
    return {
        "a": name_a,
        "b": name_b,
        "kendall_tau_b": kendall_tau_b(a, b),
        "spearman": spearman(a, b),
        "kendall_tau_b_formula": kendall_tau_b_formula(a, b),
        "spearman_formula": spearman_formula(a, b),
    }


# ---------------------------------------------------------------- per architecture


def mlp_weights(arch, w, layer):
    """Row-per-neuron [F, D] matrices of the FFN input projections, and the down column getter."""
    if arch == "gpt2":
        pre = f"transformer.h.{layer}.mlp."
        fc = w[pre + "c_fc.weight"]  # Conv1D [in = D, out = F]
        rows = {"c_fc": row_norms(fc.T.copy(), pre + "c_fc.weight", True)}
        proj = w[pre + "c_proj.weight"]  # Conv1D [in = F, out = D]: neuron n writes row n
        return rows, (lambda n: proj[n, :].copy()), pre + "c_proj.weight"
    pre = f"model.layers.{layer}.mlp."
    rows = {
        "up": row_norms(w[pre + "up_proj.weight"], pre + "up_proj.weight", False),  # [F, D]
        "gate": row_norms(w[pre + "gate_proj.weight"], pre + "gate_proj.weight", False),
    }
    down = w[pre + "down_proj.weight"]  # nn.Linear [out = D, in = F]: neuron n is column n
    return rows, (lambda n: down[:, n].copy()), pre + "down_proj.weight"


def compute_arch(parity, arch):
    d = os.path.join(parity, arch)
    e = load_file(os.path.join(d, "expected.safetensors"))
    w = load_weights(d)
    n_layers = sum(1 for k in e if k.startswith("attn."))
    z0, z1 = e["z.0"], e[f"z.{LAYER}"]
    wt0, wt1 = within_token_std(z0), within_token_std(z1)
    res = {
        "shapes": {k: list(v.shape) for k, v in sorted(e.items())},
        "within_token_std_z0": wt0.tolist(),
        "within_token_std_z1": wt1.tolist(),
        "across_sample_std_z1": across_sample_std(z1).tolist(),
        "fit_within_token_z1": fit_inverse_sqrt(wt1),
        "rank_z0_z1": rank_pair(wt0, wt1, "within_token_std(z.0)", "within_token_std(z.1)"),
        "gu": gu_scores([e[f"attn.{l}"] for l in range(n_layers)], GU_KEY, GU_EPS),
    }
    # numpy cross-check of the torch stds (both float64)
    zz = z1.reshape(z1.shape[0], z1.shape[1], -1)
    res["within_token_std_z1_numpy_maxdiff"] = float(np.max(np.abs(zz.std(axis=-1).mean(axis=0) - wt1)))
    rows, down_col, down_name = mlp_weights(arch, w, LAYER)
    res["row_norms"] = rows
    c = activation_contrast(e[f"mlp_post.{LAYER}"])
    res["contrast_mlp_post1"] = c
    res["down_column"] = down_column(down_col(c["top"][0]), c["top"][0], down_name)
    res["token_stats_hidden1"] = token_stats(e["hidden.1"], 0)
    res["effective_rank"] = {f"hidden.{i}": effective_rank(e[f"hidden.{i}"]) for i in (1, 2)}
    return res


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("--parity", default=os.path.join(here, "..", "..", "transformer", "testdata", "parity"))
    ap.add_argument("--out", default=os.path.join(here, "torch_reference.json"))
    args = ap.parse_args()

    out = {
        "generator": "sinks/metrics/testdata/torch_reference.py",
        "versions": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "torch": torch.__version__ if torch is not None else None,
            "safetensors": safetensors.__version__ if safetensors is not None else None,
            "scipy": scipy.__version__ if scipy is not None else None,
        },
        "rank_stats_from": "scipy.stats" if sstats is not None else "numpy formulas",
        "loader": "safetensors.torch" if st_torch is not None and torch is not None else "own reader",
        "compute": "float64 on the CPU (torch for stds and svdvals, numpy for the rest)" if torch is not None else "float64 numpy",
        "params": {"top_k": TOP_K, "gu_eps": GU_EPS, "gu_key": GU_KEY, "layer": LAYER},
        "archs": {},
        "errors": {},
    }
    for arch in ARCHS:
        try:
            out["archs"][arch] = compute_arch(args.parity, arch)
            print(f"{arch}: ok")
        except Exception:  # keep going: the other architectures still get their numbers
            out["errors"][arch] = traceback.format_exc()
            print(f"{arch}: FAILED\n{out['errors'][arch]}", file=sys.stderr)
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1, allow_nan=False)
        f.write("\n")
    # a short summary for the log
    print(json.dumps(out["versions"]), out["rank_stats_from"])
    for arch, r in out["archs"].items():
        print(
            arch,
            "sigma_v=%.6g r2=%.4f" % (r["fit_within_token_z1"]["sigma_v"], r["fit_within_token_z1"]["r2"]),
            "tau=%.4f rho=%.4f" % (r["rank_z0_z1"]["kendall_tau_b"], r["rank_z0_z1"]["spearman"]),
            "gu_share=%.3f" % r["gu"]["share"],
            "contrast_top=%s" % r["contrast_mlp_post1"]["top"],
            "kurt=%.4f" % r["down_column"]["kurtosis"],
            "massive=%d" % r["token_stats_hidden1"]["massive_dim"],
            "erank1=%s" % r["effective_rank"]["hidden.1"]["per_sample"],
        )
    return 1 if out["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
