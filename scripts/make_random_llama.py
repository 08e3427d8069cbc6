#!/usr/bin/env python3
"""Writes a randomly initialised Llama checkpoint in the Hugging Face layout (config.json,
sharded model-0000k-of-0000n.safetensors and their index), for timing sinkscope's whole workflow
on a large model without downloading one.

  make_random_llama.py OUT_DIR [--shape llama2-7b|tiny] [--dtype bfloat16] [--shard-size 5GB]

llama2-7b is Llama-2-7B's shape (32 layers, d 4096, 32 heads, MLP 11008, vocab 32000, RMSNorm eps
1e-5, BOS id 1; no tokenizer, so sinkscope's main batch is random tokens); at bfloat16 with 5 GB
shards it is 13.5 GB in 3 shards. The weights are initialised on the GPU when there is one (seconds
instead of minutes on the CPU), with the transformers initialiser (N(0, 0.02)), seed 0.
"""

import argparse
import time

import torch
from transformers import LlamaConfig, LlamaForCausalLM

SHAPES = {
    "llama2-7b": dict(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
                      num_attention_heads=32, num_key_value_heads=32, vocab_size=32000),
    "tiny": dict(hidden_size=64, intermediate_size=176, num_hidden_layers=3,
                 num_attention_heads=4, num_key_value_heads=4, vocab_size=256),
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--shape", default="llama2-7b", choices=sorted(SHAPES))
    ap.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float32"])
    ap.add_argument("--shard-size", default="5GB")
    a = ap.parse_args()
    t0 = time.time()
    cfg = LlamaConfig(**SHAPES[a.shape], max_position_embeddings=4096, rms_norm_eps=1e-5,
                      bos_token_id=1, eos_token_id=2, tie_word_embeddings=False)
    torch.manual_seed(0)
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    with torch.device(dev):
        model = LlamaForCausalLM(cfg)
    model = model.to(getattr(torch, a.dtype))
    model.save_pretrained(a.out, max_shard_size=a.shard_size, safe_serialization=True)
    n = sum(p.numel() for p in model.parameters())
    print(f"wrote {a.shape} ({n / 1e9:.2f}B parameters, {a.dtype}) to {a.out} in {time.time() - t0:.1f}s", flush=True)


if __name__ == "__main__":
    main()
