"""What each grid job does: a call into the stage's own API, nothing more.

Every function takes the job's JSON arguments and returns counters for the cost record
(tokens, requests). No stage is implemented twice: generation is
:func:`harness.generate.runner.run_generation`, training :func:`harness.train.train_student`,
evaluation :func:`harness.evaluate.run.evaluate_model`, scoring
:func:`harness.score.score_run`, and so on. What lives here is only the glue a grid
needs: resolving ``embedded:`` models on the node that runs the job, and the two grid
rules that are not any stage's business (a teacher with no valid data has no student,
and scoring uses whatever finished).
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from harness.errors import EmptyDataError
from harness.models.embedded import resolve_model
from harness.naming import UNTRAINED

logger = logging.getLogger(__name__)


def _resolve_args(model_args: dict[str, Any]) -> str:
    """lm-eval ``model_args`` string with ``embedded:`` references made local paths."""
    return ",".join(f"{k}={resolve_model(str(v))}" for k, v in model_args.items())


def _write_json(path: Path, data: Any) -> None:
    from harness.files import atomic_write_text

    atomic_write_text(path, json.dumps(data, indent=1, default=str) + "\n")


def generate(args: dict[str, Any]) -> dict[str, Any]:
    from harness.generate.runner import GenerationConfig, run_generation
    from harness.grid.costs import generation_tokens

    if args.get("stale"):  # other settings made these: collect would mix old and new rows
        shutil.rmtree(args["runs"], ignore_errors=True)
    gen = dict(args["generation"])
    config = GenerationConfig(
        model=args["model"], model_args=_resolve_args(args["model_args"]),
        languages=[args["language"]], strategies=list(args["strategies"]), **gen,
    )  # fmt: skip
    run_generation(config, args["runs"])
    return generation_tokens(Path(args["runs"]), config.model_args)


def collect(args: dict[str, Any]) -> dict[str, Any]:
    from harness.collect import collect as collect_runs

    # The runs folder holds exactly this job's generation (cleared when its settings
    # change), so the dataset is remade from it, not merged with an older one.
    written = collect_runs(
        args["runs"], args["data"], teacher=args["teacher"], overwrite=True,
        protocol=args.get("protocol"),
    )  # fmt: skip
    return {"datasets": len(written)}


def intrinsic(args: dict[str, Any]) -> dict[str, Any]:
    from harness.intrinsic.compute import IntrinsicOptions
    from harness.intrinsic.run import compute_intrinsic

    options = dict(args["options"])
    for key in ("reference_lm", "tokenizer", "embedder"):
        if options.get(key):
            options[key] = resolve_model(str(options[key]))
    if "metrics" in options:
        options["metrics"] = tuple(options["metrics"])
    compute_intrinsic(
        args["data"], args["out"], options=IntrinsicOptions(**options), progress=False
    )
    return {}


def reference_data(args: dict[str, Any]) -> dict[str, Any]:
    """Gold seed pairs of one language as a collected dataset (a seed-trained reference)."""
    from datasets import Dataset

    from harness.evaluate.heldout import split_seed_rows
    from harness.files import atomic_write
    from harness.grid.graph import REFERENCE_TEACHER
    from harness.schema import DATA_FILE, sft_features, sft_row
    from harness.seeds import load_seed_rows

    code, folder = args["language"], Path(args["out"])
    train, _ = split_seed_rows(load_seed_rows(code, args.get("seeds")))
    rows = [
        sft_row(
            r["prompt"], r["response"], language=code, strategy="respond",
            teacher=REFERENCE_TEACHER, seed_id=r["seed_id"], category=r.get("category", ""),
            doc_id=i, source_prompt=r["prompt"], run_id="seeds",
        )
        for i, r in enumerate(train)
        if (r.get("response") or "").strip()
    ]  # fmt: skip
    if not rows:
        raise EmptyDataError(f"no gold seed pairs with answers for {code!r}")
    folder.mkdir(parents=True, exist_ok=True)
    dataset = Dataset.from_list(rows, features=sft_features())
    atomic_write(folder / DATA_FILE, lambda tmp: dataset.to_parquet(str(tmp)))
    return {"rows": len(rows)}


def _students_file(args: dict[str, Any]) -> str | None:
    """A students.yaml holding the job's inline family, its models resolved on this node."""
    if args.get("family_def") is None:
        return None
    import yaml

    entry = {k: v for k, v in args["family_def"].items() if v is not None}
    for key in ("base_model", "chat_template"):
        if key in entry:
            entry[key] = resolve_model(entry[key])
    # next to the students folder, in the grid's own .grid/ folder
    path = Path(args["out"]).parent / ".grid" / f"students-{args['family']}.yaml"
    from harness.files import atomic_write_text

    atomic_write_text(path, yaml.safe_dump({args["family"]: entry}, sort_keys=False))
    return str(path)


def train(args: dict[str, Any]) -> dict[str, Any]:
    from harness.train import TrainConfig, train_student

    run_dir = Path(args["run_dir"])
    config = TrainConfig(
        dataset=args["dataset"], student=args["family"], out=args["out"],
        students_file=_students_file(args), overwrite=bool(args.get("stale")),
        **args["train"],
    )  # fmt: skip
    try:
        result = train_student(config)
    except EmptyDataError as exc:
        # No valid row: nothing to train; the student *is* its base (PGR 0), and scoring
        # says so instead of dropping the teacher.
        logger.warning("no student for %s: %s", args["dataset"], exc)
        run_dir.mkdir(parents=True, exist_ok=True)
        _write_json(run_dir / UNTRAINED, {"reason": str(exc), "dataset": args["dataset"]})
        return {"trained": False}
    (run_dir / UNTRAINED).unlink(missing_ok=True)
    return {"trained": True, "global_step": result.metadata.get("global_step")}


def _family_model(args: dict[str, Any]) -> str:
    from harness.train.families import load_families

    if args.get("family_def") is not None:
        model = args["family_def"][args["family_model"]]
    else:
        model = getattr(load_families()[args["family"]], args["family_model"])
    return resolve_model(model)


def evaluate(args: dict[str, Any]) -> dict[str, Any]:
    from harness.evaluate.configs import config_for_student
    from harness.evaluate.run import EvalConfig, evaluate_model

    out = Path(args["out"])
    common = {"out": str(out), "languages": list(args["languages"]), **args["evaluation"]}
    if args.get("student_run"):
        run = Path(args["student_run"])
        if (run / UNTRAINED).is_file():
            out.mkdir(parents=True, exist_ok=True)
            _write_json(out / UNTRAINED, {"role": args["role"], "family": args["family"],
                                          "teacher": args.get("teacher"),
                                          "language": args["languages"][0]})  # fmt: skip
            return {}
        config = config_for_student(run, **common)
        if args["role"] == "reference":  # a seed-trained reference is a student run
            config = replace(config, role="reference", teacher=None, target_language=None)
    else:
        config = EvalConfig(
            role=args["role"], student_family=args["family"],
            model_args=f"pretrained={_family_model(args)}", **common,
        )  # fmt: skip
    (out / UNTRAINED).unlink(missing_ok=True)
    result = evaluate_model(config, progress=False)
    return {
        "n_requests": result.n_requests,
        "prompt_tokens": result.prompt_tokens,
        "generated_tokens": result.generated_tokens,
    }


STAGES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "generate": generate,
    "collect": collect,
    "intrinsic": intrinsic,
    "reference_data": reference_data,
    "train": train,
    "evaluate": evaluate,
}


def run_stage(stage: str, args: dict[str, Any]) -> dict[str, Any]:
    """Run one job's stage call; the late stages live in :mod:`harness.grid.finish`."""
    if stage in STAGES:
        return STAGES[stage](args)
    from harness.grid import finish

    return finish.STAGES[stage](args)
