#!/usr/bin/env python3
"""Builds the reference fixtures for the Go package datasets/tokenizer.

Everything is offline: tiny tokenizers are trained on the text embedded below with the
`tokenizers` library (and with `sentencepiece` when it is installed), one per tokenizer style
the Go package supports, and the ids and decoded strings the reference libraries produce for
a list of test strings are written next to them in expected.json.

Styles (one directory each):
  gpt2, gpt2_prefix_space  byte-level BPE, GPT-2 pre-tokenizer regex (merges as "a b" strings
                           in gpt2), an lstrip special token
  llama3                   byte-level BPE behind a Split with the Llama-3 regex, ignore_merges,
                           BOS from the post-processor template, a non-special added token
  qwen2                    NFC + Split with the Qwen2 regex + byte-level, no BOS
  llama2                   SentencePiece-style BPE: Prepend/Replace normalizer, byte fallback,
                           Replace/ByteFallback/Fuse/Strip decoder
  metaspace, metaspace_always  the same model behind a Metaspace pre-tokenizer / decoder
  bpe_suffix               end-of-word suffix, NFD/StripAccents/Lowercase, Whitespace and Digits
  splits                   Split behaviors, Punctuation, unknown tokens, normalized added tokens
  spm_bpe, spm_unigram     tokenizer.model files trained with sentencepiece (BPE with byte
                           fallback and user-defined symbols; unigram with nmt_nfkc)

Usage: python3 make_fixtures.py OUTDIR
Writes OUTDIR/<style>/{tokenizer.json|tokenizer.model, tokenizer_config.json, expected.json};
copy them to datasets/tokenizer/testdata/.
"""

import io
import json
import os
import random
import sys
import traceback

import tokenizers
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers
from tokenizers import pre_tokenizers, processors, trainers

CORPUS = """The quick brown fox jumps over the lazy dog. It's a classic sentence, isn't it?
We've used it for years; they'll keep using it, and I'd bet you're going to as well.
Don't worry: the fox doesn't mind, and the dog's fine.

Attention sinks are tokens that receive a large share of attention in transformer models.
The first token of a sequence often becomes a sink, even when it carries little meaning.
In 2023, researchers measured 4096 heads across 32 layers; 87.5% showed the effect.
Prices went from $12.50 to $1,234.99 between 1999 and 2024 (roughly 3x).

def attention(q, k, v):
    scores = q @ k.T / 8.0
    return softmax(scores) @ v

Spacing  matters:   two  spaces,   three   spaces, and	tabs	too.
Lines end with newlines.

Two blank lines above, and trailing spaces here.   
Le café est très bon, naïve façade, crème brûlée, à bientôt!
日本語のテキストも少し含めます。東京と京都は日本の都市です。
Emoji are bytes too: 😀 🎉 👍 and the heart ❤️ says hello.
Über-große Straßenbahnen? No: "quotes", 'single quotes', and [brackets] {braces} <angles>.
Mixed CASE words LIKE THIS and CamelCaseIdentifiers_with_underscores are common in code.
Numbers: 0 1 2 3 4 5 6 7 8 9 10 100 1000 10000 123456789 3.14159 2.71828 -42 +7.
email@example.com, https://example.org/path?query=1&x=2#frag, C:\\Users\\name\\file.txt
The end. THE END! the end?
"""

GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
LLAMA3_PATTERN = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
)
QWEN2_PATTERN = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
)

# Edge cases shared by every style. Characters such as "Ω", "🤖", "ß" and "ſ" are absent from
# the corpus on purpose (byte fallback / unknown handling).
COMMON_STRINGS = [
    "",
    " ",
    "  ",
    "   ",
    "Hello",
    " Hello",
    "  leading spaces",
    "trailing spaces   ",
    "\n",
    "\n\n",
    "a\n\nb",
    "x\n \n y",
    "line1\r\nline2\r\n",
    "  multiple   spaces  here",
    "a  b   c    d     e",
    "tab\there\t\tdouble",
    "12345",
    "1234567 89 0",
    "3.14159 and -42",
    "don't I'll we've they're he's she'd I'm",
    "DON'T I'LL WE'VE THEY'RE HE'S",
    "'s 's's ''",
    "'ſ test",
    "café",
    "cafe\u0301",
    "naïve façade",
    "日本",
    "日本語のテキスト",
    "emoji 😀🎉 done",
    "🤖",
    "Ω≈ç√∫ ß",
    "İstanbul ΟΔΟΣ ΟΔΟΣ. Σ",
    "re-enter a-b--c -x- 10-20",
    "Hello...World!! WHAT?! MixedCase iPhone",
    "mixed: café, 日本, 😀!",
    "Hello, world! How are you?",
    "The year 2024 was great.",
    "foo\u00a0bar\u3000baz",
    "¡Hola! ¿Qué tal?",
    "ﬁne ＡＢＣ ① ㍻",
    "ends with newline\n",
    "   \n   ",
    "\t",
    "The quick brown fox jumps over the lazy dog.",
    "def attention(q, k, v):\n    return q @ k\n",
    CORPUS,
]


def random_strings(n, seed):
    alphabet = list("aAbBeEsStTdDlLmMrRvVzZ xy") + [" ", " ", " ", "'", "'", "\n", "\r", "\t",
                                                   "0", "1", "2", "3", "9", ".", ",", "!", "?",
                                                   "-", "\"", "é", "日", "本", "😀", "ſ", "\u00a0",
                                                   "\u3000", "ß", "İ", "<", ">", "|", "_"]
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        k = rng.randint(1, 24)
        out.append("".join(rng.choice(alphabet) for _ in range(k)))
    return out


RANDOM_STRINGS = random_strings(120, 1234)


def paragraphs():
    return [p for p in CORPUS.split("\n\n") if p]


def write_json(path, obj):
    """Compact JSON: one line per top-level key, and one line per element of top-level lists."""
    def dump(v):
        return json.dumps(v, ensure_ascii=False, separators=(",", ":"))
    lines = []
    for k, v in obj.items():
        if isinstance(v, list) and v and isinstance(v[0], dict):
            body = ",\n  ".join(dump(e) for e in v)
            lines.append(dump(k) + ": [\n  " + body + "\n ]")
        else:
            lines.append(dump(k) + ": " + dump(v))
    with open(path, "w", encoding="utf-8") as f:
        f.write("{\n " + ",\n ".join(lines) + "\n}\n")


def train_bpe(pre_tokenizer, special_tokens=(), byte_level=True, vocab_size=700, normalizer=None):
    tok = Tokenizer(models.BPE())
    if normalizer is not None:
        tok.normalizer = normalizer
    tok.pre_tokenizer = pre_tokenizer
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        show_progress=False,
        special_tokens=list(special_tokens),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet() if byte_level else [],
    )
    tok.train_from_iterator(paragraphs(), trainer=trainer)
    d = json.loads(tok.to_str())
    vocab = d["model"]["vocab"]
    merges = []
    for m in d["model"]["merges"]:
        if isinstance(m, str):
            a, b = m.split(" ")
        else:
            a, b = m
        merges.append((a, b))
    return vocab, merges


def compact_entry(e, text, ids, tokens, with_tokens, ids_special, decoded, decoded_special=None):
    """Fills an expected.json entry; fields equal to an obvious default are left out to keep
    the files small: ids_special (default: ids), decoded (default: the text),
    decoded_special (default: decoded), tokens (only for short texts)."""
    e["text"] = text
    e["ids"] = ids
    if with_tokens and len(text) <= 200:
        e["tokens"] = tokens
    if ids_special != ids:
        e["ids_special"] = ids_special
    if decoded != text:
        e["decoded"] = decoded
    if decoded_special is not None and decoded_special != decoded:
        e["decoded_special"] = decoded_special
    return e


def expected_entries(tok, strings, with_tokens=True):
    out = []
    for s in strings:
        plain = tok.encode(s, add_special_tokens=False)
        withsp = tok.encode(s, add_special_tokens=True)
        out.append(compact_entry(
            {}, s, plain.ids, plain.tokens, with_tokens, withsp.ids,
            tok.decode(plain.ids, skip_special_tokens=False),
            tok.decode(withsp.ids, skip_special_tokens=False)))
    return out


def save_hf(outdir, style, tok, config, special_strings, merges_as_strings=False):
    d = os.path.join(outdir, style)
    os.makedirs(d, exist_ok=True)
    data = json.loads(tok.to_str())
    if merges_as_strings:
        data["model"]["merges"] = [" ".join(m) if isinstance(m, list) else m for m in data["model"]["merges"]]
    text = json.dumps(data, ensure_ascii=False, indent=1)
    # Reload what is written, so the expectations come from exactly the saved file.
    tok = Tokenizer.from_str(text)
    with open(os.path.join(d, "tokenizer.json"), "w", encoding="utf-8") as f:
        f.write(text)
        f.write("\n")
    write_json(os.path.join(d, "tokenizer_config.json"), config)
    write_json(os.path.join(d, "expected.json"), {
        "library": "tokenizers " + tokenizers.__version__,
        "style": style,
        "vocab_size": tok.get_vocab_size(with_added_tokens=True),
        "strings": expected_entries(tok, COMMON_STRINGS + special_strings),
        "random": expected_entries(tok, RANDOM_STRINGS, with_tokens=False),
    })
    print(style, "vocab", tok.get_vocab_size(with_added_tokens=True))


def special(content, **kw):
    kw.setdefault("special", True)
    kw.setdefault("normalized", False)
    return AddedToken(content, **kw)


def make_gpt2(outdir):
    pre = pre_tokenizers.ByteLevel(add_prefix_space=False)
    vocab, merges = train_bpe(pre)
    for style, prefix in (("gpt2", False), ("gpt2_prefix_space", True)):
        tok = Tokenizer(models.BPE(vocab=vocab, merges=merges))
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=prefix)
        tok.decoder = decoders.ByteLevel()
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
        tok.add_special_tokens([special("<|endoftext|>"), special("<|mask|>", lstrip=True)])
        config = {"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>",
                  "add_bos_token": False, "tokenizer_class": "GPT2Tokenizer"}
        save_hf(outdir, style, tok, config, [
            "Hello<|endoftext|>world",
            "<|endoftext|>",
            "<|endoftext|><|endoftext|>",
            " <|endoftext|> ",
            "a <|mask|>b",
            "a   <|mask|> b",
            "<|mask|>",
            "<|endoftext",
        ], merges_as_strings=(style == "gpt2"))


def make_llama3(outdir):
    def pre():
        return pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(LLAMA3_PATTERN), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False),
        ])
    vocab, merges = train_bpe(pre())
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, ignore_merges=True))
    tok.pre_tokenizer = pre()
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([special("<|begin_of_text|>"), special("<|end_of_text|>")])
    tok.add_tokens([AddedToken("[NOTE]", special=False, normalized=False)])
    bos = tok.token_to_id("<|begin_of_text|>")
    tok.post_processor = processors.TemplateProcessing(
        single="<|begin_of_text|> $A",
        pair="<|begin_of_text|> $A <|begin_of_text|> $B:1",
        special_tokens=[("<|begin_of_text|>", bos)],
    )
    # No add_bos_token here: the BOS default comes from the post-processor, as for Llama-3.
    config = {"bos_token": "<|begin_of_text|>", "eos_token": "<|end_of_text|>",
              "tokenizer_class": "PreTrainedTokenizerFast"}
    save_hf(outdir, "llama3", tok, config, [
        "<|begin_of_text|>Hello",
        "hi<|end_of_text|>",
        "x [NOTE] y",
        "[NOTE][NOTE]",
        "<|begin_of_text|> <|end_of_text|>\n",
    ])


def make_qwen2(outdir):
    def pre():
        return pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(QWEN2_PATTERN), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
        ])
    vocab, merges = train_bpe(pre(), normalizer=normalizers.NFC())
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre()
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([special("<|endoftext|>"), special("<|im_start|>"), special("<|im_end|>")])
    config = {"bos_token": None, "eos_token": "<|im_end|>", "add_bos_token": False,
              "tokenizer_class": "Qwen2Tokenizer"}
    save_hf(outdir, "qwen2", tok, config, [
        "<|im_start|>user\nhi<|im_end|>\n",
        "<|endoftext|>",
        "e\u0301<|im_end|>e\u0301",
    ])


def sentencepiece_style_model():
    """Trains a SentencePiece-like BPE (▁ for spaces) and lays out its vocab as Llama-2 does:
    <unk>, <s>, </s>, the 256 byte tokens <0x00>..<0xFF>, then the learned pieces."""
    pre = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    vocab, merges = train_bpe(pre, special_tokens=["<unk>", "<s>", "</s>"], byte_level=False)
    new = {}
    for t in ["<unk>", "<s>", "</s>"]:
        new[t] = len(new)
    for b in range(256):
        new["<0x%02X>" % b] = len(new)
    for t, _ in sorted(vocab.items(), key=lambda kv: kv[1]):
        if t not in new:
            new[t] = len(new)
    return new, merges


def add_llama_specials(tok):
    tok.add_special_tokens([special("<unk>"), special("<s>"), special("</s>")])
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", 1)])


LLAMA_SPECIAL_STRINGS = [
    "<s>Hello</s>",
    "Hello <s> world",
    " <s>",
    "<unk>",
    "a</s>b</s>",
]


def make_llama2(outdir, vocab, merges):
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="<unk>", fuse_unk=True,
                               byte_fallback=True))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(),
                                     decoders.Fuse(), decoders.Strip(" ", 1, 0)])
    add_llama_specials(tok)
    config = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>",
              "add_bos_token": True, "add_eos_token": False, "tokenizer_class": "LlamaTokenizer"}
    save_hf(outdir, "llama2", tok, config, LLAMA_SPECIAL_STRINGS)


def make_metaspace(outdir, vocab, merges):
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="<unk>", fuse_unk=True,
                               byte_fallback=True))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=True)
    tok.decoder = decoders.Sequence([
        decoders.Metaspace(replacement="▁", prepend_scheme="first", split=True),
        decoders.ByteFallback(), decoders.Fuse()])
    add_llama_specials(tok)
    # bos/eos from special_tokens_map.json instead of tokenizer_config.json.
    d = os.path.join(outdir, "metaspace")
    save_hf(outdir, "metaspace", tok, {"tokenizer_class": "LlamaTokenizer"}, LLAMA_SPECIAL_STRINGS)
    write_json(os.path.join(d, "special_tokens_map.json"), {
        "bos_token": {"content": "<s>", "lstrip": False, "normalized": False, "rstrip": False,
                      "single_word": False},
        "eos_token": {"content": "</s>", "lstrip": False, "normalized": False, "rstrip": False,
                      "single_word": False},
    })


def make_metaspace_always(outdir, vocab, merges):
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="<unk>", fuse_unk=True,
                               byte_fallback=True))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=False)
    tok.decoder = decoders.Sequence([
        decoders.Metaspace(replacement="▁", prepend_scheme="always", split=False),
        decoders.ByteFallback(), decoders.Fuse()])
    add_llama_specials(tok)
    save_hf(outdir, "metaspace_always", tok, {"bos_token": "<s>", "eos_token": "</s>",
                                              "add_bos_token": False}, LLAMA_SPECIAL_STRINGS)


def make_suffix(outdir):
    """BPE with an end-of-word suffix (as CLIP), lowercasing and accent stripping, whitespace
    and digit pre-tokenizers, and the BPE decoder."""
    norm = normalizers.Sequence([normalizers.NFD(), normalizers.StripAccents(), normalizers.Lowercase()])
    pre = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Whitespace(),
                                   pre_tokenizers.Digits(individual_digits=True)])
    tok = Tokenizer(models.BPE(unk_token="[UNK]", end_of_word_suffix="</w>"))
    tok.normalizer = norm
    tok.pre_tokenizer = pre
    trainer = trainers.BpeTrainer(vocab_size=500, min_frequency=2, show_progress=False,
                                  special_tokens=["[UNK]", "[BOS]"], end_of_word_suffix="</w>")
    tok.train_from_iterator(paragraphs(), trainer=trainer)
    tok.decoder = decoders.Sequence([decoders.BPEDecoder(suffix="</w>"), decoders.Fuse(),
                                     decoders.Strip(" ", 2, 0)])
    tok.post_processor = processors.TemplateProcessing(
        single="[BOS] $A", pair="[BOS] $A [BOS] $B", special_tokens=[("[BOS]", tok.token_to_id("[BOS]"))])
    save_hf(outdir, "bpe_suffix", tok, {"bos_token": "[BOS]"}, ["[BOS] x [UNK]", "Ünïcödé ÀÉÎ"])


def make_splits(outdir):
    """Non-byte-level BPE with unknown tokens behind a chain of Split behaviors, and no
    decoder (tokens are joined with spaces)."""
    norm = normalizers.Sequence([normalizers.Strip(left=True, right=True),
                                 normalizers.Replace(Regex(" {2,}"), " "), normalizers.NFKC(),
                                 normalizers.Prepend("^")])
    pre = pre_tokenizers.Sequence([
        pre_tokenizers.Split(" ", behavior="merged_with_previous"),
        pre_tokenizers.Split(Regex(r"\d"), behavior="contiguous"),
        pre_tokenizers.Split(Regex("[.,!?]+"), behavior="removed"),
        pre_tokenizers.Split(Regex("[A-Z]"), behavior="merged_with_next"),
        pre_tokenizers.Split(Regex("-"), behavior="isolated", invert=True),
        pre_tokenizers.Punctuation(behavior="contiguous"),
    ])
    tok = Tokenizer(models.BPE(unk_token="[UNK]", fuse_unk=False))
    tok.normalizer = norm
    tok.pre_tokenizer = pre
    trainer = trainers.BpeTrainer(vocab_size=400, min_frequency=2, show_progress=False,
                                  special_tokens=["[UNK]"], limit_alphabet=60)
    tok.train_from_iterator(paragraphs(), trainer=trainer)
    tok.add_tokens([AddedToken("hello world", normalized=True), AddedToken("[X]", special=False, rstrip=True, normalized=False)])
    save_hf(outdir, "splits", tok, {}, ["say hello world", "a [X]   b", "say  hello   world"])


def make_sentencepiece(outdir):
    try:
        import sentencepiece as spm
    except ImportError:
        print("sentencepiece not installed: no tokenizer.model fixtures")
        return
    lines = [l for l in CORPUS.split("\n") if l.strip()]
    variants = [
        ("spm_bpe", dict(model_type="bpe", byte_fallback=True, normalization_rule_name="identity",
                         remove_extra_whitespaces=False, add_dummy_prefix=True,
                         allow_whitespace_only_pieces=True, split_digits=True,
                         character_coverage=1.0, user_defined_symbols=["<|user|>"]),
         (600, 500, 400, 350)),
        ("spm_unigram", dict(model_type="unigram", character_coverage=0.995, pad_id=3),
         (300, 250, 200, 150)),
    ]
    for style, kw, sizes in variants:
        blob, err = None, None
        for size in sizes:
            try:
                buf = io.BytesIO()
                spm.SentencePieceTrainer.train(sentence_iterator=iter(lines), model_writer=buf,
                                               vocab_size=size, hard_vocab_limit=False, **kw)
                blob = buf.getvalue()
                break
            except Exception as e:  # corpus too small for this size: try a smaller one
                err = e
        if blob is None:
            print(style, "failed:", err)
            continue
        sp = spm.SentencePieceProcessor(model_proto=blob)
        d = os.path.join(outdir, style)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "tokenizer.model"), "wb") as f:
            f.write(blob)

        def entries(strings, with_tokens=True):
            out = []
            for s in strings:
                ids = sp.encode(s, out_type=int)
                out.append(compact_entry(
                    {}, s, ids, sp.encode(s, out_type=str), with_tokens,
                    sp.encode(s, out_type=int, add_bos=True), sp.decode(ids)))
            return out

        extra = ["<|user|>hi", "a<|user|>b <|user|>", "<s>Hello</s>", "<unk>"]
        write_json(os.path.join(d, "expected.json"), {
            "library": "sentencepiece " + spm.__version__,
            "style": style,
            "vocab_size": sp.get_piece_size(),
            "bos_id": sp.bos_id(),
            "eos_id": sp.eos_id(),
            "unk_id": sp.unk_id(),
            "pieces": [sp.id_to_piece(i) for i in range(sp.get_piece_size())],
            "strings": entries(COMMON_STRINGS + extra),
            "random": entries(RANDOM_STRINGS, with_tokens=False),
        })
        print(style, "vocab", sp.get_piece_size(), "bytes", len(blob))


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else "."
    os.makedirs(outdir, exist_ok=True)
    print("tokenizers", tokenizers.__version__)
    steps = [make_gpt2, make_llama3, make_qwen2, make_suffix, make_splits, make_sentencepiece]
    failed = False
    for step in steps:
        try:
            step(outdir)
        except Exception:
            failed = True
            traceback.print_exc()
    try:
        vocab, merges = sentencepiece_style_model()
        make_llama2(outdir, vocab, merges)
        make_metaspace(outdir, vocab, merges)
        make_metaspace_always(outdir, vocab, merges)
    except Exception:
        failed = True
        traceback.print_exc()
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
