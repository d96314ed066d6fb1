"""Tiny real Llama models with a real BPE tokenizer and chat template, built offline.

Tests, benchmarks and the embedded default need causal LMs that load with
``from_pretrained`` like any Hub model but cost seconds on a CPU: a deliberately bad
(random-init) teacher, and small students for TRL training. The chat template carries
``{% generation %}`` markers so TRL's assistant-only loss works on them.
"""

from __future__ import annotations

import json
from pathlib import Path

CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{%- if message['role'] == 'assistant' %}"
    "{{ '<|im_start|>assistant\\n' }}{% generation %}{{ message['content'] + '<|im_end|>' }}"
    "{% endgeneration %}{{ '\\n' }}"
    "{%- else %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{%- endif %}"
)
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<pad>"]

# A few lines in each grid language and English, so byte-level merges cover the scripts.
_CORPUS = [
    "The quick brown fox jumps over the lazy dog. How many apples are left?",
    "Answer the question step by step and give the final number.",
    "Der schnelle braune Fuchs springt über den faulen Hund. Wie viele Äpfel bleiben übrig?",
    "Rychlá hnědá liška skáče přes líného psa. Kolik jablek zbývá?",
    "El rápido zorro marrón salta sobre el perro perezoso. ¿Cuántas manzanas quedan?",
    "Rubah cokelat yang cepat melompati anjing yang malas. Berapa apel yang tersisa?",
    "الثعلب البني السريع يقفز فوق الكلب الكسول. كم تفاحة بقيت؟",
    "素早い茶色の狐がのろまな犬を飛び越える。りんごはいくつ残っていますか？",
    '{"prompt": "Frage", "response": "Antwort"} 0 1 2 3 4 5 6 7 8 9 A B C D',
]


def build_tokenizer(vocab_size: int = 1024):
    """A byte-level BPE tokenizer (any UTF-8 text encodes) with ChatML specials."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_CORPUS * 20, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<|endoftext|>",
        eos_token="<|im_end|>",
        pad_token="<pad>",
        unk_token=None,
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def build_tiny_model(
    out_dir: str | Path,
    *,
    seed: int = 0,
    hidden_size: int = 64,
    num_layers: int = 2,
    vocab_size: int = 1024,
    max_positions: int = 4096,
) -> Path:
    """Write a random-init tiny Llama + tokenizer to ``out_dir`` (reused if present).

    Args:
        out_dir: destination; an existing complete model there is returned as is.
        seed: torch seed, so two builds with the same seed are identical.
        hidden_size: width; 64 gives ~0.2M parameters besides embeddings.
        num_layers: decoder layers.
        vocab_size: BPE vocabulary size to train.
        max_positions: context length the config declares.

    Returns:
        The folder, loadable with ``AutoModelForCausalLM.from_pretrained``.
    """
    out = Path(out_dir)
    marker = out / "polyglot_tiny.json"
    if marker.is_file() and (out / "model.safetensors").is_file():
        return out
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = build_tokenizer(vocab_size)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=num_layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=max_positions,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    marker.write_text(json.dumps({"seed": seed, "hidden_size": hidden_size, "layers": num_layers}))
    return out
