"""Benchmark records: the built-ins as the paper names them, bad records named and refused."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.evaluate.registry import (
    BENCHMARKS,
    ENV_VAR,
    benchmark_from_record,
    benchmark_of_task,
    get_benchmark,
    registry,
)

TEMPLATE = "output_type: multiple_choice\nmetric_list:\n  - metric: acc\n"


def test_builtin_records_name_the_tasks_and_scores_of_the_paper() -> None:
    assert set(BENCHMARKS) == {
        "global_mmlu_lite", "m_rewardbench", "mgsm", "belebele", "global_mmlu", "heldout",
    }  # fmt: skip
    assert all(b.builtin for b in BENCHMARKS.values())
    assert BENCHMARKS["global_mmlu_lite"].task_name("de") == "polyglot_eval_gmmlu_lite_de"
    assert BENCHMARKS["m_rewardbench"].metrics == ("acc", "weighted_acc")
    heldout = BENCHMARKS["heldout"]
    assert (heldout.metric, heldout.floor, heldout.grouped) == ("bits_per_byte", -math.inf, False)
    assert heldout.to_score(2.0) == pytest.approx(0.75)  # 1 - 2/8 by hand
    assert BENCHMARKS["mgsm"].to_score(0.4) == 0.4  # no score hook: the metric is the score


def test_task_names_find_their_benchmark_by_any_token() -> None:
    found = benchmark_of_task("polyglot_eval_gmmlu_lite_de")
    assert found is not None and (found[0].name, found[1]) == ("global_mmlu_lite", "de")
    found = benchmark_of_task("mrewardbench_es")  # the paper's bare name
    assert found is not None and (found[0].name, found[1]) == ("m_rewardbench", "es")
    assert benchmark_of_task("polyglot_eval_ext_de") is None
    assert benchmark_of_task("polyglot_eval_mystery_de") is None


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"name": "x", "template": TEMPLATE, "metirc": "acc"}, "unknown field 'metirc'; did you mean 'metric'"),
        ({"name": "x"}, "missing field.*template"),
        ({"name": "X-1", "template": TEMPLATE}, "field 'name' is 'X-1'"),
        ({"name": "ext", "template": TEMPLATE}, "not 'ext'"),
        ({"name": "x", "template": TEMPLATE, "metric": "f1"}, "metric_list has \\['acc'\\]"),
        ({"name": "x", "template": "task: x\n"}, "must not set task"),
        ({"name": "x", "template": TEMPLATE, "score": "heldout.score"}, "expected 'module:function'"),
        ({"name": "x", "template": TEMPLATE, "configs": "iso"}, "field 'configs' is 'iso'"),
    ],
)  # fmt: skip
def test_bad_records_fail_in_one_line_naming_the_field(record: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as err:
        benchmark_from_record(record, source="mine.yaml")
    assert str(err.value).startswith("benchmark record mine.yaml") and "\n" not in str(err.value)


def test_an_outside_record_may_not_take_a_builtin_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "mgsm2.yaml").write_text(
        f"name: mgsm2\nslug: mgsm\ntemplate: |\n  {TEMPLATE.replace(chr(10), chr(10) + '  ')}"
    )
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    with pytest.raises(ConfigError, match=r"mgsm2\.yaml.*already taken by .*mgsm\.yaml"):
        registry()
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match=f"\\${ENV_VAR} names .*nowhere"):
        registry()


def test_unknown_benchmark_names_the_nearest() -> None:
    with pytest.raises(ConfigError, match="did you mean 'mgsm'"):
        get_benchmark("msgm")


def test_a_language_lacking_a_fact_its_benchmark_needs_is_named() -> None:
    from harness.evaluate.benchmarks import check_language
    from harness.languages import LANGUAGES

    check_language(LANGUAGES["de"])
    broken = dataclasses.replace(LANGUAGES["de"], mgsm_instruction=None)
    with pytest.raises(ConfigError, match=r"de\.yaml: mgsm needs field 'mgsm_instruction'"):
        check_language(broken)
    typo = dataclasses.replace(LANGUAGES["de"], extended_benchmarks=("belebel",))
    with pytest.raises(ConfigError, match="unknown benchmark 'belebel'; did you mean 'belebele'"):
        check_language(typo)
