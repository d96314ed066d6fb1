"""The train stage end to end: real TRL steps on tiny real models, a few steps each."""

from __future__ import annotations

import argparse
import json
import math
import re
from pathlib import Path

import pytest

from harness.errors import ConfigError, EmptyDataError
from harness.naming import dataset_dir, student_run_name
from harness.schema import DATA_FILE, STRATEGIES
from harness.train import (
    TrainConfig,
    build_trainer,
    load_config,
    load_families,
    plan_run,
    train_student,
)
from harness.train.card import SIDECAR

TEACHER = "org/tiny-teacher"
ASSISTANT_ONLY = "paper+assistant_only_loss"  # the correction these masking tests need
LANG = "de"
FAST = {  # a few cheap steps: tiny batches, short sequences, no checkpoint I/O per step
    "max_length": 64,
    "per_device_train_batch_size": 2,
    "gradient_accumulation_steps": 1,
    "max_steps": 2,
    "warmup_steps": 0,
    "logging_steps": 1,
    "gradient_checkpointing": False,
}


def _row(i: int, strategy: str, valid: bool) -> dict:
    from harness.schema import sft_row

    prompt, response = f"Frage {i}: Wie viele Äpfel?", f"Antwort {i}: Es bleiben {i} Äpfel übrig."
    return dict(
        sft_row(
            prompt, response, language=LANG, strategy=strategy, teacher=TEACHER,
            seed_id=f"de-{i:04d}", valid=valid, invalid_reason=None if valid else "wrong_language",
            detected_language=LANG if valid else "en", doc_id=i, temperature=0.8, top_p=0.9,
            max_gen_toks=64, run_id="test",
        )
    )  # fmt: skip


def _write(root: Path, rows: list[dict]) -> Path:
    from datasets import Dataset

    from harness.schema import sft_features

    folder = dataset_dir(root, TEACHER, LANG)
    folder.mkdir(parents=True, exist_ok=True)
    features = sft_features()
    columns = {
        name: [row[name] for row in rows] for name in features
    }  # from_list([]) drops the schema
    Dataset.from_dict(columns, features=features).to_parquet(str(folder / DATA_FILE))
    return folder


@pytest.fixture(scope="module")
def collected(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """18 rows over 3 strategies; every third row invalid (6 invalid, 12 valid)."""
    rows = [_row(i, STRATEGIES[i % 3], valid=(i // 3) % 3 != 2) for i in range(18)]
    return _write(tmp_path_factory.mktemp("data"), rows)


def _config(data: Path, base: Path, out: Path, **kw) -> TrainConfig:
    return TrainConfig(dataset=str(data), student=str(base), out=str(out), **{**FAST, **kw})


def test_full_training_writes_model_card_and_sidecar(collected, tiny_student_dir, tmp_path):
    from safetensors.torch import load_file

    result = train_student(_config(collected, tiny_student_dir, tmp_path))
    run = tmp_path / student_run_name(str(tiny_student_dir), TEACHER, LANG)
    assert result.run_dir == run and not result.skipped
    meta = json.loads((run / SIDECAR).read_text())
    assert (
        meta["role"] == "student" and meta["teacher"] == TEACHER and meta["target_language"] == LANG
    )
    assert meta["base_model"] == str(tiny_student_dir) and meta["dataset"] == str(collected)
    assert (meta["n_rows"], meta["n_invalid"], meta["n_train_rows"]) == (18, 6, 12)
    assert meta["strategy_counts"] == {s: 4 for s in STRATEGIES}
    assert meta["global_step"] == 2 and math.isfinite(meta["train_loss"])
    assert meta["loss_mask"] == "full" and meta["hyperparameters"]["weight_decay"] == 0.001
    assert meta["protocol"] == {"name": "paper", "corrections": [], "deviations": {}}
    assert meta["hyperparameters"]["optim"] == "adamw_torch"  # 8-bit falls back on CPU
    assert meta["hyperparameters"]["learning_rate"] == 5e-5 and meta["harness_version"]
    before, after = (
        load_file(tiny_student_dir / "model.safetensors"),
        load_file(run / "model.safetensors"),
    )
    assert any(not before[k].equal(after[k]) for k in before)
    assert not (run / "checkpoints").exists()  # dropped once finished
    card = (run / "README.md").read_text()
    assert f"base_model: {tiny_student_dir}" in card and TEACHER in card and "- de" in card
    assert "Protocol: `paper`" in card

    again = train_student(_config(collected, tiny_student_dir, tmp_path))
    assert again.skipped and again.metadata == meta
    redone = train_student(
        _config(collected, tiny_student_dir, tmp_path, overwrite=True, max_steps=1)
    )
    assert not redone.skipped and redone.metadata["global_step"] == 1


def test_assistant_only_mask_labels_prompt_tokens(collected, tiny_student_dir, tmp_path):
    plan = plan_run(_config(collected, tiny_student_dir, tmp_path, protocol=ASSISTANT_ONLY))
    trainer, info = build_trainer(plan)
    assert info["loss_mask"] == "assistant"
    example = trainer.train_dataset[0]
    tokenizer = trainer.processing_class
    labels, ids = example["labels"], example["input_ids"]
    user = tokenizer.apply_chat_template(
        [plan.rows[0]["messages"][0]], tokenize=True, return_dict=False
    )
    n_prompt = len(user) + len(tokenizer("<|im_start|>assistant\n")["input_ids"])
    assert all(label == -100 for label in labels[:n_prompt])
    trained = [token for token, label in zip(ids, labels, strict=True) if label != -100]
    assert tokenizer.decode(trained) == plan.rows[0]["response"] + "<|im_end|>"


def test_base_without_template_gets_the_family_template(
    collected, tiny_model_dir, tiny_student_dir, tmp_path
):
    import shutil

    base = tmp_path / "bare-base"
    shutil.copytree(tiny_student_dir, base)
    (base / "chat_template.jinja").unlink()
    families = tmp_path / "students.yaml"
    families.write_text(
        f"tiny:\n  base_model: {base}\n  reference_model: org/tiny-instruct\n"
        f"  chat_template: {tiny_model_dir}\n  mode: full\n"
    )
    cfg = _config(collected, base, tmp_path, students_file=str(families), protocol=ASSISTANT_ONLY)
    cfg.student = "tiny"
    plan = plan_run(cfg)
    assert plan.run_dir.name == student_run_name("tiny", TEACHER, LANG)
    trainer, info = build_trainer(plan)
    assert info == {
        "loss_mask": "assistant",
        "chat_template_source": f"tokenizer of {tiny_model_dir}",
    }
    assert "generation" in trainer.processing_class.chat_template


def test_template_without_markers_falls_back_to_completion_loss(
    collected, tiny_student_dir, tmp_path, caplog
):
    from harness.models.tiny import CHAT_TEMPLATE

    plain = CHAT_TEMPLATE.replace("{% generation %}", "").replace("{% endgeneration %}", "")
    plan = plan_run(
        _config(collected, tiny_student_dir, tmp_path, chat_template=plain, protocol=ASSISTANT_ONLY)
    )
    trainer, info = build_trainer(plan)
    assert info["loss_mask"] == "completion" and "generation" in caplog.text
    labels = trainer.train_dataset[0]["labels"]
    assert labels[0] == -100 and labels[-1] != -100


def test_lora_adapter_loads_with_peft(collected, tiny_student_dir, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    result = train_student(
        _config(collected, tiny_student_dir, tmp_path, lora=True, merge_lora=True)
    )
    meta = result.metadata
    assert meta["mode"] == "lora" and meta["hyperparameters"]["learning_rate"] == 5e-6
    assert (result.run_dir / "adapter_config.json").is_file()
    base = AutoModelForCausalLM.from_pretrained(tiny_student_dir)
    model = PeftModel.from_pretrained(base, str(result.run_dir))
    assert any("lora_" in name for name, _ in model.named_parameters())
    assert AutoModelForCausalLM.from_pretrained(result.run_dir / meta["merged_model"]) is not None


def test_interrupted_run_resumes_from_last_checkpoint(collected, tiny_student_dir, tmp_path):
    from transformers import TrainerCallback

    class Interrupt(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):
            if state.global_step == 2:
                raise KeyboardInterrupt  # a killed job: checkpoint written, run unfinished

    cfg = _config(collected, tiny_student_dir, tmp_path, max_steps=3, save_steps=1)
    with pytest.raises(KeyboardInterrupt):
        train_student(cfg, callbacks=[Interrupt()])
    run = tmp_path / student_run_name(str(tiny_student_dir), TEACHER, LANG)
    assert (run / "checkpoints" / "checkpoint-2").is_dir() and not (run / SIDECAR).exists()
    result = train_student(cfg)
    assert result.resumed_from == "checkpoint-2" and result.metadata["global_step"] == 3


def test_no_valid_rows_is_an_empty_data_error(tiny_student_dir, tmp_path):
    folder = _write(tmp_path / "data", [_row(i, STRATEGIES[i % 3], valid=False) for i in range(3)])
    with pytest.raises(EmptyDataError, match=str(folder)):
        plan_run(_config(folder, tiny_student_dir, tmp_path / "out"))
    empty = _write(tmp_path / "empty", [])
    with pytest.raises(EmptyDataError, match="no rows"):
        plan_run(_config(empty, tiny_student_dir, tmp_path / "out"))


def test_config_errors_name_the_field(tmp_path):
    with pytest.raises(ConfigError, match="learning_rate"):
        TrainConfig(learning_rate=-1.0)
    bad = tmp_path / "cfg.yaml"
    bad.write_text("learning_rat: 5e-5\n")
    with pytest.raises(ConfigError, match=r"learning_rat.*did you mean 'learning_rate'"):
        load_config(bad)
    good = tmp_path / "ok.yaml"
    good.write_text("learning_rate: 5e-5\nmax_steps: 3\n")
    assert load_config(good, {"max_steps": 4}).learning_rate == 5e-5
    assert load_config(good, {"max_steps": 4}).max_steps == 4
    families = tmp_path / "students.yaml"
    families.write_text("x:\n  base_model: a/b\n  reference_model: a/c\n  lora_rank: 8\n")
    with pytest.raises(ConfigError, match=r"'x'.*'lora_rank'"):
        load_families(families)


def test_bundled_families_and_cli_flags(collected, tiny_student_dir, tmp_path):
    from harness.cli import train as cli

    families = load_families()
    assert set(families) == {"olmo3", "gemma3-4b", "llama3.1-8b", "qwen3-8b"}
    assert families["olmo3"].reference_model == "allenai/Olmo-3-7B-Instruct-SFT"
    assert families["olmo3"].mode == "full" and families["qwen3-8b"].load_in_4bit

    parser = argparse.ArgumentParser()
    cli.add_parser(parser.add_subparsers(dest="command"))
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text("student: qwen3-8b\nlearning_rate: 1e-4\n")
    args = parser.parse_args(
        ["train", "data/x/de", "--config", str(cfg_file), "--lora", "--max-length", "32"]
    )
    cfg = cli.build_config(args)
    assert (cfg.dataset, cfg.student, cfg.lora, cfg.max_length) == (
        "data/x/de",
        "qwen3-8b",
        True,
        32,
    )
    assert cfg.learning_rate == 1e-4 and cfg.seed == 3407
    with pytest.raises(ConfigError, match="lora_dropout"):
        cli.build_config(parser.parse_args(["train", "d", "--lora-dropout", "2"]))
    with pytest.raises(ConfigError, match="load_in_4bit"):
        TrainConfig(load_in_4bit=True, lora=False)
    import torch

    if not torch.cuda.is_available():  # explicit 4-bit where it cannot run is an error
        with pytest.raises(ConfigError, match="CUDA GPU and bitsandbytes"):
            plan_run(_config(collected, tiny_student_dir, tmp_path, lora=True, load_in_4bit=True))


# --- resume holes, schema on read, models that do not resolve (issue 12) ---------------


def _interrupted_run(data: Path, base: Path, out: Path) -> tuple[TrainConfig, Path]:
    """A run killed after checkpoint-2 of 3 steps (checkpoints 1 and 2 on disk)."""
    from transformers import TrainerCallback

    class Interrupt(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):
            if state.global_step == 2:
                raise KeyboardInterrupt

    cfg = _config(data, base, out, max_steps=3, save_steps=1)
    with pytest.raises(KeyboardInterrupt):
        train_student(cfg, callbacks=[Interrupt()])
    return cfg, out / student_run_name(str(base), TEACHER, LANG) / "checkpoints"


def _rows18() -> list[dict]:
    return [_row(i, STRATEGIES[i % 3], valid=(i // 3) % 3 != 2) for i in range(18)]


def test_incomplete_checkpoint_is_skipped_and_identical_data_resumes(
    tiny_student_dir, tmp_path, caplog
):
    import os

    folder = _write(tmp_path / "data", _rows18())
    cfg, checkpoints = _interrupted_run(folder, tiny_student_dir, tmp_path / "out")
    # A kill while checkpoint-2 was being written: weights there, trainer_state.json not yet.
    (checkpoints / "checkpoint-2" / "trainer_state.json").unlink()
    # `collect` run again: byte-identical data, new mtime; the checkpoints stay valid.
    parquet = folder / DATA_FILE
    parquet.write_bytes(parquet.read_bytes())
    os.utime(parquet, ns=(parquet.stat().st_atime_ns, parquet.stat().st_mtime_ns + 10**10))

    result = train_student(cfg)
    assert result.resumed_from == "checkpoint-1" and result.metadata["global_step"] == 3
    assert "checkpoint-2 is incomplete" in caplog.text


def test_changed_dataset_restarts_from_scratch_saying_so(tiny_student_dir, tmp_path, caplog):
    rows = _rows18()
    folder = _write(tmp_path / "data", rows)
    cfg, checkpoints = _interrupted_run(folder, tiny_student_dir, tmp_path / "out")
    assert (checkpoints / "polyglot_fingerprint.json").is_file()
    rows[0]["response"] = rows[0]["messages"][1]["content"] = "Antwort: ganz anders."
    _write(tmp_path / "data", rows)

    result = train_student(cfg)
    assert result.resumed_from is None and result.metadata["global_step"] == 3
    assert "the dataset changed" in caplog.text and "training from scratch" in caplog.text


def _write_table(folder: Path, **columns) -> Path:
    """A collected dataset whose named columns are replaced (or, with None, dropped)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pylist(_rows18())
    for name, values in columns.items():
        table = table.drop_columns([name])
        if values is not None:
            table = table.append_column(name, values)
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, folder / DATA_FILE)
    return folder / DATA_FILE


@pytest.mark.parametrize(
    "columns, message",
    [
        ({"valid": "nan"}, r"column 'valid' is double, expected bool"),
        ({"valid": "null"}, r"column 'valid' holds 6 null value\(s\) of 18"),
        ({"seed_id": None}, r"column\(s\) 'seed_id' missing"),
        ({"teacher": "bad-utf8"}, r"column 'teacher' holds invalid UTF-8"),
    ],
)
def test_broken_dataset_is_one_line_naming_file_and_column(
    columns, message, tiny_student_dir, tmp_path, capsys
):
    import pyarrow as pa

    from harness.cli.main import main

    made = {
        "nan": pa.array([1.0 if (i // 3) % 3 != 2 else math.nan for i in range(18)]),
        "null": pa.array([True if (i // 3) % 3 != 2 else None for i in range(18)], pa.bool_()),
        "bad-utf8": pa.array([b"org/tiny-teacher\xff"] * 18).view(pa.string()),
        None: None,
    }
    ((name, kind),) = columns.items()
    path = _write_table(tmp_path / "data", **{name: made[kind]})
    out = tmp_path / "out"
    argv = ["train", str(path.parent), "--student", str(tiny_student_dir), "--out", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(path) in err
    assert re.search(message, err), err
    assert not out.exists()


@pytest.mark.parametrize("student", ["org/missing", "no-such-family", "empty-folder"])
def test_student_that_does_not_resolve_is_one_line_and_no_folder(
    student, collected, tmp_path, capsys
):
    from harness.cli.main import main

    if student == "empty-folder":  # exists, but from_pretrained would fail in it
        student = str(tmp_path / student)
        Path(student).mkdir()
    out = tmp_path / "students"
    assert main(["train", str(collected), "--student", student, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and repr(student) in err and "--student" in err
    if "/" not in student:  # an unknown family: the registered ones are named
        assert "olmo3" in err
    assert not out.exists()
