"""Student training under the protocol: which tokens carry labels, OLMo's template, LoRA.

The paper trains on the whole rendered conversation, renders OLMo-3 with the Llama 3.1
chat template and puts LoRA on every linear layer; ``assistant_only_loss`` labels the
assistant's tokens only. Labels are read from the dataset and collator TRL really built;
the expected positions are found here, independently, from the texts.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.naming import dataset_dir
from harness.schema import DATA_FILE, STRATEGIES
from harness.train import TrainConfig, build_trainer, load_families, plan_run, train_student
from harness.train.card import SIDECAR
from harness.train.plan import protocol_record

TEACHER = "org/tiny-teacher"
LANG = "de"
ASSISTANT_ONLY = "paper+assistant_only_loss"
SYSTEM = "Du bist ein hilfreicher Assistent."
FAST = {
    "max_length": 256,
    "per_device_train_batch_size": 2,
    "gradient_accumulation_steps": 1,
    "max_steps": 2,
    "warmup_steps": 0,
    "logging_steps": 1,
    "gradient_checkpointing": False,
}
LLAMA_31_HEADER = (  # Llama 3.1's layout as the paper's Unsloth template renders it
    "<|start_header_id|>system<|end_header_id|>\n\n"
    "Cutting Knowledge Date: December 2023\nToday Date: 26 July 2024\n\n"
)


def _rows(n: int = 12) -> list[dict]:
    """Conversations with a system turn; answers of different lengths (so batches pad)."""
    from harness.schema import sft_row

    rows = []
    for i in range(n):
        prompt, response = f"Frage {i}: Wie viele Äpfel?", "Es bleiben " + "viele " * i + "Äpfel."
        messages = [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": prompt},
            {"role": "assistant", "content": response},
        ]
        rows.append(
            dict(
                sft_row(
                    prompt, response, language=LANG, strategy=STRATEGIES[i % 3],
                    teacher=TEACHER, seed_id=f"de-{i:04d}", doc_id=i, messages=messages,
                )
            )
        )  # fmt: skip
    return rows


@pytest.fixture(scope="module")
def collected(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from datasets import Dataset

    from harness.schema import sft_features

    folder = dataset_dir(tmp_path_factory.mktemp("data"), TEACHER, LANG)
    folder.mkdir(parents=True)
    rows = _rows()
    columns = {name: [row[name] for row in rows] for name in sft_features()}
    Dataset.from_dict(columns, features=sft_features()).to_parquet(str(folder / DATA_FILE))
    return folder


@pytest.fixture(scope="module")
def olmo_like(tmp_path_factory: pytest.TempPathFactory, tiny_student_dir: Path) -> Path:
    """A students.yaml whose ``olmo3`` is the bundled family on a tiny base (OLMo is offline)."""
    olmo = load_families()["olmo3"]
    entry = {k: v for k, v in dataclasses.asdict(olmo).items() if k not in ("name", "registered")}
    entry["base_model"] = str(tiny_student_dir)
    path = tmp_path_factory.mktemp("families") / "students.yaml"
    path.write_text(json.dumps({"olmo3": entry}))  # JSON is YAML
    return path


def _config(data: Path, student: str, out: Path, **kw) -> TrainConfig:
    return TrainConfig(dataset=str(data), student=student, out=str(out), **{**FAST, **kw})


def _find(haystack: list[int], needle: list[int]) -> int:
    """Start of the last occurrence of ``needle`` in ``haystack``."""
    for start in range(len(haystack) - len(needle), -1, -1):
        if haystack[start : start + len(needle)] == needle:
            return start
    raise AssertionError(f"{needle} not found in {haystack}")


def _labelled(example: dict) -> set[int]:
    return {i for i, label in enumerate(example["labels"]) if label != -100}


# --- which tokens carry labels ------------------------------------------------------


def test_paper_protocol_labels_every_token_but_padding(collected, tiny_student_dir, tmp_path):
    plan = plan_run(_config(collected, str(tiny_student_dir), tmp_path))
    trainer, info = build_trainer(plan)
    assert plan.protocol.name == "paper" and info["loss_mask"] == "full"
    tokenizer = trainer.processing_class
    examples = [trainer.train_dataset[i] for i in (0, len(plan.rows) - 1)]
    for example, row in zip(examples, [plan.rows[0], plan.rows[len(plan.rows) - 1]], strict=True):
        # the whole rendered conversation, system and user turns included
        text = tokenizer.apply_chat_template(row["messages"], tokenize=False)
        assert SYSTEM in text and row["prompt"] in text
        assert example["input_ids"] == tokenizer(text, add_special_tokens=False)["input_ids"]
        assert example["labels"] == example["input_ids"]

    batch = trainer.data_collator(examples)
    width = batch["input_ids"].shape[1]
    lengths = [len(example["input_ids"]) for example in examples]
    assert min(lengths) < width  # one of them is padded
    for row, n in enumerate(lengths):
        ids, labels = batch["input_ids"][row].tolist(), batch["labels"][row].tolist()
        assert labels[:n] == ids[:n] and labels[n:] == [-100] * (width - n)


def test_assistant_only_loss_labels_only_the_answer(collected, tiny_student_dir, tmp_path):
    plan = plan_run(_config(collected, str(tiny_student_dir), tmp_path, protocol=ASSISTANT_ONLY))
    trainer, info = build_trainer(plan)
    assert info["loss_mask"] == "assistant"
    tokenizer = trainer.processing_class
    examples = [trainer.train_dataset[i] for i in (0, len(plan.rows) - 1)]
    rows = [plan.rows[0], plan.rows[len(plan.rows) - 1]]
    for example, row in zip(examples, rows, strict=True):
        ids = example["input_ids"]
        # the tiny template's assistant turn: answer + <|im_end|> inside {% generation %}
        answer = tokenizer(row["response"] + "<|im_end|>", add_special_tokens=False)["input_ids"]
        start = _find(ids, answer)
        assert _labelled(example) == set(range(start, start + len(answer)))
        for turn in (SYSTEM, row["prompt"]):  # system and user tokens carry no label
            part = tokenizer(turn, add_special_tokens=False)["input_ids"]
            at = _find(ids, part)
            assert all(example["labels"][i] == -100 for i in range(at, at + len(part)))

    batch = trainer.data_collator(examples)  # padding carries no label either
    width = batch["labels"].shape[1]
    for row, example in enumerate(examples):
        padding = [-100] * (width - len(example["input_ids"]))
        assert batch["labels"][row].tolist() == example["labels"] + padding


# --- OLMo's chat template -----------------------------------------------------------


def test_olmo_family_renders_with_the_llama_31_template(tiny_student_dir):
    from transformers import AutoTokenizer

    from harness.train.families import apply_chat_template

    olmo = load_families()["olmo3"]
    assert olmo.replace_base_template and Path(olmo.chat_template).is_file()
    tokenizer = AutoTokenizer.from_pretrained(tiny_student_dir)
    assert "<|im_start|>" in tokenizer.chat_template  # the base ships its own (ChatML) one
    size = len(tokenizer)
    family = dataclasses.replace(olmo, base_model=str(tiny_student_dir))
    _, source = apply_chat_template(None, tokenizer, family)
    assert source.endswith("llama-3.1.jinja")

    messages = [
        {"role": "user", "content": "Wie viele Äpfel?"},
        {"role": "assistant", "content": "Drei Äpfel."},
    ]
    assert tokenizer.apply_chat_template(messages, tokenize=False) == (
        "<|endoftext|>"  # the tokenizer's own BOS
        + LLAMA_31_HEADER
        + "<|eot_id|>"  # empty default system message
        + "<|start_header_id|>user<|end_header_id|>\n\nWie viele Äpfel?<|eot_id|>"
        + "<|start_header_id|>assistant<|end_header_id|>\n\nDrei Äpfel.<|eot_id|>"
    )
    with_system = [{"role": "system", "content": SYSTEM}, *messages]
    assert LLAMA_31_HEADER + SYSTEM + "<|eot_id|>" in tokenizer.apply_chat_template(
        with_system, tokenize=False
    )
    assert tokenizer.apply_chat_template(
        messages[:1], tokenize=False, add_generation_prompt=True
    ).endswith("<|start_header_id|>assistant<|end_header_id|>\n\n")
    # No Llama header token exists in this vocabulary: they are read as ordinary text
    # (as in the paper's run), and nothing is added to the tokenizer or the embeddings.
    assert len(tokenizer) == size and "<|eot_id|>" not in tokenizer.get_vocab()
    assert len(tokenizer("<|eot_id|>", add_special_tokens=False)["input_ids"]) > 1


@pytest.mark.parametrize("protocol", ["paper", ASSISTANT_ONLY])
def test_olmo_student_trains_a_real_step_under_each_protocol(
    protocol, collected, olmo_like, tmp_path
):
    cfg = _config(collected, "olmo3", tmp_path, students_file=str(olmo_like), protocol=protocol)
    plan = plan_run(cfg)
    trainer, info = build_trainer(plan)
    example = trainer.train_dataset[0]
    tokenizer = trainer.processing_class
    text = tokenizer.decode(example["input_ids"])
    assert LLAMA_31_HEADER + SYSTEM + "<|eot_id|>" in text and "<|im_start|>" not in text
    if protocol == "paper":
        assert info["loss_mask"] == "full" and example["labels"] == example["input_ids"]
    else:  # the answer and Llama's end-of-turn marker, nothing else
        answer = plan.rows[0]["response"] + "<|eot_id|>"
        answer_ids = tokenizer(answer, add_special_tokens=False)["input_ids"]
        start = _find(example["input_ids"], answer_ids)
        assert info["loss_mask"] == "assistant"
        assert _labelled(example) == set(range(start, start + len(answer_ids)))

    result = train_student(cfg)
    meta = result.metadata
    assert meta["global_step"] == 2 and math.isfinite(meta["train_loss"])
    corrections = [] if protocol == "paper" else ["assistant_only_loss"]
    assert meta["protocol"] == {"name": protocol, "corrections": corrections, "deviations": {}}
    assert meta["loss_mask"] == info["loss_mask"]
    assert meta["chat_template_source"].endswith("llama-3.1.jinja")
    card = (result.run_dir / "README.md").read_text()
    assert f"Protocol: `{protocol}`" in card and f"name: {protocol}" in card


# --- LoRA -----------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", ["paper", "corrected"])
def test_lora_wraps_every_linear_layer_but_the_head(
    protocol, collected, tiny_student_dir, tmp_path
):
    import torch
    from peft.tuners.lora import LoraLayer
    from transformers import AutoModelForCausalLM

    plain = AutoModelForCausalLM.from_pretrained(tiny_student_dir)
    linear = {
        name
        for name, module in plain.named_modules()
        if isinstance(module, torch.nn.Linear) and name != "lm_head"
    }
    assert len(linear) == 2 * 7  # 2 layers x (q, k, v, o, gate, up, down)

    cfg = _config(collected, str(tiny_student_dir), tmp_path, lora=True, protocol=protocol)
    trainer, _ = build_trainer(plan_run(cfg))
    inner = trainer.model.get_base_model()
    wrapped = {name for name, module in inner.named_modules() if isinstance(module, LoraLayer)}
    assert wrapped == linear and "lm_head" not in wrapped


# --- the protocol is part of what a checkpoint and a finished run were trained on ------


def test_changing_the_protocol_restarts_instead_of_resuming(
    collected, tiny_student_dir, tmp_path, caplog
):
    from transformers import TrainerCallback

    class Interrupt(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):
            if state.global_step == 2:
                raise KeyboardInterrupt  # killed after checkpoint-2

    base = str(tiny_student_dir)
    paper = _config(collected, base, tmp_path, max_steps=3, save_steps=1)
    with pytest.raises(KeyboardInterrupt):
        train_student(paper, callbacks=[Interrupt()])
    checkpoints = next(tmp_path.glob("*/checkpoints"))
    stored = json.loads((checkpoints / "polyglot_fingerprint.json").read_text())
    assert stored["protocol"]["name"] == "paper"

    corrected = _config(
        collected, base, tmp_path, max_steps=3, save_steps=1, protocol=ASSISTANT_ONLY
    )
    result = train_student(corrected)
    assert result.resumed_from is None and result.metadata["global_step"] == 3
    assert "the protocol changed (paper -> paper+assistant_only_loss)" in caplog.text

    # A finished student of another protocol is refused, not skipped to.
    with pytest.raises(
        ConfigError, match=r"under protocol 'paper\+assistant_only_loss', not 'paper'"
    ):
        train_student(_config(collected, base, tmp_path, max_steps=1))
    redone = train_student(_config(collected, base, tmp_path, max_steps=1, overwrite=True))
    assert redone.metadata["protocol"]["name"] == "paper"
    assert json.loads((result.run_dir / SIDECAR).read_text())["protocol"]["name"] == "paper"


# --- configuration --------------------------------------------------------------------


def test_protocol_field_is_validated_and_canonical():
    assert TrainConfig().protocol == "paper"
    assert TrainConfig(protocol="paper+" + "+".join(["assistant_only_loss"])).protocol == (
        ASSISTANT_ONLY
    )
    assert TrainConfig(protocol="corrected").loss_mask == "auto"
    with pytest.raises(ConfigError, match="did you mean assistant_only_loss"):
        TrainConfig(protocol="paper+assistant_only_los")
    with pytest.raises(ConfigError, match=r"--protocol paper\+assistant_only_loss"):
        TrainConfig(loss_mask="assistant")  # the paper's loss is the whole conversation
    with pytest.raises(ConfigError, match="assistant_only_loss correction"):
        TrainConfig(protocol="corrected", loss_mask="full")
    assert TrainConfig(protocol="paper", loss_mask="full").loss_mask == "full"


def test_cli_has_a_protocol_flag():
    import argparse

    from harness.cli import train as cli

    parser = argparse.ArgumentParser()
    cli.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["train", "data/x/de", "--protocol", "corrected"])
    assert cli.build_config(args).protocol == "corrected"
    assert cli.build_config(parser.parse_args(["train", "data/x/de"])).protocol == "paper"


def test_settings_off_the_protocol_are_recorded_as_deviations(
    collected, tiny_student_dir, tmp_path
):
    base = str(tiny_student_dir)
    assert protocol_record(plan_run(_config(collected, base, tmp_path)))["deviations"] == {}
    plan = plan_run(
        _config(collected, base, tmp_path, total_rows=6, lora=True, lora_target_modules="q_proj")
    )
    assert protocol_record(plan)["deviations"] == {"total_rows": 6, "lora_target_modules": "q_proj"}


def test_training_rows_are_drawn_with_the_protocols_fixed_seed(
    collected, tiny_student_dir, tmp_path
):
    base = str(tiny_student_dir)
    # 12 valid rows, 4 per strategy; 6 wanted -> 2 per strategy, whatever the run's seed
    a = plan_run(_config(collected, base, tmp_path, total_rows=6, seed=3407)).rows
    b = plan_run(_config(collected, base, tmp_path, total_rows=6, seed=1)).rows
    assert a["seed_id"] == b["seed_id"] and len(a) == 6
    assert sorted(a["strategy"]) == sorted([*STRATEGIES, *STRATEGIES])
