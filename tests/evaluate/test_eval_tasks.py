"""The generated polyglot_eval leaves and templates: our prompts match lm-eval's.

Whether the checked-in files are current is tests/test_taskgen.py's.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from harness.evaluate.benchmarks import BENCHMARKS
from harness.languages import LANGUAGES

REPO = Path(__file__).resolve().parents[2]
CHECKED_IN = REPO / "tasks" / "polyglot_eval"


def test_every_language_and_benchmark_has_a_template() -> None:
    for benchmark in BENCHMARKS.values():
        folder = REPO / "tasks" / benchmark.folder
        assert (folder / benchmark.template_file).is_file(), benchmark.template_file
    assert set(
        p.name
        for p in CHECKED_IN.iterdir()
        if p.is_dir() and p.name not in ("__pycache__", "benchmarks")
    ) == set(LANGUAGES)


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        ("_gmmlu_lite_template_yaml", "global_mmlu/default/de/_de_template_yaml"),
        ("_gmmlu_template_yaml", "global_mmlu/full/cs/_cs_template_yaml"),
        ("_belebele_template_yaml", "belebele/_default_template_yaml"),
    ],
)
def test_prompts_match_lm_eval_tasks(ours: str, theirs: str) -> None:
    """We copy lm-eval's prompt instead of `include:`-ing it (its install path varies,
    and its dataset loading is not configurable); this keeps the copy honest."""
    import lm_eval

    lm_eval_tasks = Path(lm_eval.__file__).parent / "tasks"
    their_cfg = yaml.safe_load((lm_eval_tasks / theirs).read_text(encoding="utf-8"))
    text = (CHECKED_IN / ours).read_text(encoding="utf-8")
    our_cfg = yaml.safe_load(text.replace("!function ", ""))
    if ours != "_gmmlu_lite_template_yaml":  # the paper localises its cue words per leaf
        assert our_cfg["doc_to_text"] == their_cfg["doc_to_text"]
    assert our_cfg["doc_to_choice"] == their_cfg["doc_to_choice"]
    assert our_cfg["output_type"] == their_cfg["output_type"]


def test_mgsm_leaf_prompt_ends_with_native_instruction() -> None:
    for code in ("de", "es", "ja"):
        cfg = yaml.safe_load(
            (CHECKED_IN / code / f"polyglot_eval_mgsm_{code}.yaml").read_text(encoding="utf-8")
        )
        lines = cfg["doc_to_text"].splitlines()
        assert lines[-2] == LANGUAGES[code].mgsm_instruction
        assert lines[-1].endswith(":")
