"""Perplexity: length-bucketed vs in-order batching, and the lm-eval path, at equal batch size.

A tiny LlamaForCausalLM (hidden 64, 2 layers) over a byte-level BPE tokenizer trained
here on generated text (no downloads) scores rows whose lengths vary from a few dozen
tokens to ~1,000 (log-uniform responses), as synthetic SFT rows do. Three runs of the
per-row rule (``per_row_fluency``) over the same rows and the same in-memory model:

* transformers, in input order;
* transformers, length-bucketed (a batch pads to its own longest row);
* lm-eval: the ``polyglot_fluency`` task on lm-eval's ``hf`` backend wrapping the same
  model (lm-eval sorts by length itself), task set-up and request building included.

All three must give the same per-row values (checked). Prints tokens/s (real tokens fed to
the model per second), padding fractions where known, and the speed ratios: bucketed /
in order (goal >= 1.5x) and lm-eval / bucketed (the transformers per-row path is kept
only while it is faster on CPU; ``fluency_backend="auto"`` follows this result).

Run: python benchmarks/bench_perplexity.py [--rows 256] [--batch-size 8]
"""

from __future__ import annotations

import argparse
import math
import random
import time

VOCABULARY = (
    "the cat sat on a mat and looked at birds in the garden while rain fell softly "
    "der Hund läuft schnell über die Straße el perro come pan con queso todos los días "
    "日本語 の 文章 です 猫 が 好き ありがとう 計算 答え は 三 です 1 2 3 4 5 + = ?"
)


def text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choices(VOCABULARY.split(), k=words))


def build_tiny_lm(seed: int = 0):
    """A 2-layer Llama and a byte-level BPE (at most 1,000 tokens) trained on generated text."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    rng = random.Random(seed)
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=1000,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator((text(rng, rng.randint(3, 60)) for _ in range(2000)), trainer)
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|endoftext|>")
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=64,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=4096,
        eos_token_id=tok.eos_token_id,
    )
    return LlamaForCausalLM(config).eval(), tok


def make_rows(n: int, seed: int = 1) -> tuple[list[str], list[str]]:
    """Prompts of 5-150 words, responses log-uniform over 3-1,000 words."""
    rng = random.Random(seed)
    prompts = [text(rng, rng.randint(5, 150)) for _ in range(n)]
    responses = [
        " " + text(rng, int(math.exp(rng.uniform(math.log(3), math.log(1000))))) for _ in range(n)
    ]
    return prompts, responses


def main(n_rows: int, batch_size: int, threads: int) -> None:
    import torch

    from harness.intrinsic import score_perplexities

    if threads > 0:
        torch.set_num_threads(threads)
    model, tok = build_tiny_lm()
    prompts, responses = make_rows(n_rows)
    lengths = [
        len(ids)
        for ids in tok([p + r for p, r in zip(prompts, responses, strict=True)])["input_ids"]
    ]
    per_row = "paper+per_row_fluency"  # bucketing needs per-row losses (the paper's mode has none)
    score_perplexities(
        model, tok, prompts[:16], responses[:16], batch_size, progress=False, protocol=per_row
    )  # warm-up

    from lm_eval.models.huggingface import HFLM

    from harness.intrinsic.fluency_lm_eval import score_perplexities_lm_eval

    lm = HFLM(pretrained=model, tokenizer=tok, batch_size=batch_size, max_length=16384)
    score_perplexities_lm_eval(lm, prompts[:16], responses[:16])  # warm-up

    results = {}
    t0 = time.perf_counter()
    results["lm-eval"] = (
        score_perplexities_lm_eval(lm, prompts, responses),
        time.perf_counter() - t0,
    )
    for name, bucket in (("in order", False), ("bucketed", True)):
        t0 = time.perf_counter()
        res = score_perplexities(
            model,
            tok,
            prompts,
            responses,
            batch_size,
            progress=False,
            bucket=bucket,
            protocol=per_row,
        )
        results[name] = (res, time.perf_counter() - t0)

    base, bucketed = results["in order"][0], results["bucketed"][0]
    worst = max(abs(a / b - 1) for a, b in zip(base.values, bucketed.values, strict=True))
    if worst > 1e-4:
        raise SystemExit(f"bucketing changed per-row values (max rel. diff {worst:.1e})")
    via_lm_eval = results["lm-eval"][0].values
    worst_lm_eval = max(abs(a / b - 1) for a, b in zip(via_lm_eval, bucketed.values, strict=True))
    if worst_lm_eval > 1e-4:
        raise SystemExit(f"lm-eval's per-row values differ (max rel. diff {worst_lm_eval:.1e})")

    real = sum(lengths)
    print(
        f"perplexity, tiny Llama (hidden 64, 2 layers, vocab {len(tok)}), {n_rows} rows, "
        f"batch size {batch_size}, {torch.get_num_threads()} CPU threads"
    )
    print(
        f"row lengths: min {min(lengths)}, median {sorted(lengths)[len(lengths) // 2]}, max {max(lengths)} tokens; {real:,} tokens in all"
    )
    header = (
        f"{'batching':<10} | {'seconds':>8} | {'tokens/s':>9} | {'positions':>10} | {'padding':>8}"
    )
    print(header)
    print("-" * len(header))
    for name, (res, secs) in results.items():
        known = res.total_positions > 0  # lm-eval pads inside its own batches, unreported
        positions = f"{res.total_positions:>10,}" if known else f"{'-':>10}"
        padding = f"{res.padding_fraction:>7.1%}" if known else f"{'-':>7}"
        print(f"{name:<10} | {secs:>8.2f} | {real / secs:>9,.0f} | {positions} | {padding}")
    speedup = results["in order"][1] / results["bucketed"][1]
    print(
        f"speed-up bucketed / in order: {speedup:.2f}x (goal >= 1.5x); per-row values equal (max rel. diff {worst:.1e})"
    )
    ratio = results["lm-eval"][1] / results["bucketed"][1]
    faster = "transformers (bucketed)" if ratio > 1 else "lm-eval"
    print(
        f"time lm-eval / bucketed: {ratio:.2f} ({faster} is faster on CPU); per-row values equal "
        f"(max rel. diff {worst_lm_eval:.1e})"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads; 1 keeps timings stable on a shared machine, 0 = torch default",
    )
    args = parser.parse_args()
    main(args.rows, args.batch_size, args.threads)
