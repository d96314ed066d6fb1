"""A tiny real causal LM and tokenizer, built once per session without downloads."""

from __future__ import annotations

import random

import pytest

VOCABULARY = (
    "the cat sat on a mat and looked at birds in the garden while rain fell softly "
    "der Hund läuft schnell über die Straße el perro come pan con queso todos los días "
    "日本語 の 文章 です 猫 が 好き ありがとう 計算 答え は 三 です"
)


def _corpus(n: int, seed: int = 0) -> list[str]:
    rng, words = random.Random(seed), VOCABULARY.split()
    return [" ".join(rng.choices(words, k=rng.randint(3, 40))) for _ in range(n)]


@pytest.fixture(scope="session")
def tiny_lm(tmp_path_factory: pytest.TempPathFactory):
    """(model, tokenizer): a 2-layer Llama over a 400-token byte-level BPE, no pad token."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    folder = tmp_path_factory.mktemp("tiny_lm")
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(_corpus(500), trainer=trainer)
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|endoftext|>")
    tok.save_pretrained(folder)
    tok = PreTrainedTokenizerFast.from_pretrained(folder)

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        eos_token_id=tok.eos_token_id,
        bos_token_id=tok.eos_token_id,
        pad_token_id=None,
        initializer_range=0.3,  # peaked logits, so rows differ in perplexity
    )
    model = LlamaForCausalLM(config).eval()
    return model, tok


def _write_collected(folder, pairs, language: str = "de"):
    """A collected dataset of ``pairs`` (a pair with an empty response is invalid)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from harness.schema import DATA_FILE, sft_row

    rows = [
        dict(
            sft_row(
                prompt, response, language=language, strategy="generate", teacher="org/t",
                seed_id=f"{language}-{i:04d}", valid=bool(response.strip()),
                invalid_reason=None if response.strip() else "empty",
            )
        )
        for i, (prompt, response) in enumerate(pairs)
    ]  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), folder / DATA_FILE)
    return folder / DATA_FILE


@pytest.fixture
def write_collected():
    """``write_collected(folder, [(prompt, response), ...], language="de") -> data.parquet``."""
    return _write_collected
