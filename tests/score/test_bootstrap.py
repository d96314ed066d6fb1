"""Bootstrap intervals and rank stability: coverage, pairing, the scorer's formulas, real files.

Synthetic runs are written in lm-eval's own layout (results, per-item samples, the
evaluate stage's sidecar) and the intrinsic stage's (summary.jsonl + rows.parquet), so
the bootstrap reads them as it reads a real grid; one module fixture is a real lm-eval
run of tiny models on the benchmark fixtures.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from harness.errors import ConfigError
from harness.evaluate import mrewardbench
from harness.naming import INTERVALS_FILE, RANKS_FILE
from harness.score.bootstrap import bootstrap_run, bootstrap_scores, counts, draw_indices
from harness.score.inputs import read_extrinsic, read_intrinsic
from harness.score.intervals import read_intervals
from harness.score.items import ItemScores, read_items
from harness.score.pgscore import score_run, teacher_key
from harness.score.ranks import percentile_interval, tie_groups
from harness.score.rows import ExtrinsicRow
from harness.score.tables import leaderboard

STAMP = "2025-06-01T10-00-00.000001"
GMMLU, MRB = "global_mmlu_lite", "m_rewardbench"
SOURCES = ("alpacaeval-easy", "mt-bench-med", "llmbar-natural", "donotanswer", "hep-python")


def _bernoulli_interval(p: float, n: int, rng: np.random.Generator, key: str) -> tuple:
    items = ItemScores.mean(rng.random(n) < p)
    weights = counts(draw_indices(key, items.strata, 1000, seed=0))
    return percentile_interval(items.scores(weights)[1:, 0])


def test_interval_of_a_bernoulli_mean_covers_the_true_p_in_95_percent_of_experiments():
    rng = np.random.default_rng(7)
    hits = 0
    for i in range(200):
        lo, hi = _bernoulli_interval(0.3, 200, rng, f"experiment-{i}")
        hits += lo <= 0.3 <= hi
    # 200 experiments: the coverage's own sd is 1.5 points; the percentile bootstrap of a
    # mean runs a little under its level at n = 200.
    assert 0.90 <= hits / 200 <= 0.99


def test_intervals_widen_when_items_are_fewer():
    rng = np.random.default_rng(1)
    lo, hi = _bernoulli_interval(0.5, 100, rng, "few")
    lo_many, hi_many = _bernoulli_interval(0.5, 1600, rng, "many")
    # sd of a mean ~ 1/sqrt(n): 16 times the items, a quarter of the width
    assert 3.0 < (hi - lo) / (hi_many - lo_many) < 5.0


def test_draws_stay_within_strata_and_depend_only_on_seed_and_key():
    strata = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2, 2])
    idx = draw_indices("mrb/de", strata, 500, seed=3)
    assert idx.shape == (501, 10) and (idx[0] == np.arange(10)).all()  # row 0: the point
    assert (strata[idx] == strata).all()  # every item stands in for one of its own group
    assert set(np.unique(idx[1:, 3:5])) == {3, 4}
    assert (draw_indices("mrb/de", strata, 500, seed=3) == idx).all()
    assert not (draw_indices("mrb/es", strata, 500, seed=3) == idx).all()
    assert (counts(idx).sum(axis=1) == 10).all()


def test_tie_groups_chain_neighbours_not_ordered_apart():
    above = {"a": {"b": 0.99}, "b": {"c": 0.60}, "c": {"d": 0.97}}
    assert tie_groups(["a", "b", "c", "d"], above) == [["a"], ["b", "c"], ["d"]]
    assert tie_groups(["a", "b", "c", "d"], above, level=0.98) == [["a"], ["b", "c", "d"]]


def test_seeds_are_drawn_with_replacement_before_items():
    items = ItemScores.mean(np.vstack([np.ones(50), np.zeros(50)]))  # seed A all right
    row = ExtrinsicRow("student", "fam", GMMLU, "de", 0.5, teacher="t", target_language="de")
    anchors = [ExtrinsicRow(role, "fam", GMMLU, "de", s) for role, s in (("base", 0.2), ("reference", 0.8))]  # fmt: skip
    result = bootstrap_scores([row, *anchors], items={row: items}, replicates=4000)
    reps = result.samples[("fam", "t", "de")]["student_score"]
    assert reps[0] == 0.5
    values, n = np.unique(reps[1:].round(9), return_counts=True)
    assert list(values) == [0.0, 0.5, 1.0]  # both draws A, one each, both B
    assert n / 4000 == pytest.approx([0.25, 0.5, 0.25], abs=0.03)


# ---- a synthetic run in lm-eval's and the intrinsic stage's layouts ---------------------
def _sample(i: int, value: object) -> str:
    doc = {"prompt": f'item {i} says "filter": "not this one"', "answer": "A"}
    sample = {
        "doc_id": i, "doc": doc, "target": "A", "arguments": [["ctx", " A"]],
        "resps": [[[-1.0, False]]], "filtered_resps": [[-1.0, False]], "filter": "none",
        "metrics": ["acc"], "doc_hash": "d", "prompt_hash": "p", "target_hash": "t", "acc": value,
    }  # fmt: skip
    return json.dumps(sample, ensure_ascii=False) + "\n"


def write_model(root: Path, identity: dict, outcomes: dict[str, np.ndarray]) -> None:
    """One model's lm-eval folder: results, one samples file per task, the sidecar."""
    folder = root / "__".join(str(v) for v in identity.values() if v) / "model"
    folder.mkdir(parents=True)
    results, configs = {}, {}
    for (bench, lang), x in outcomes.items():
        task = f"polyglot_eval_{'gmmlu_lite' if bench == GMMLU else 'mrewardbench'}_{lang}"
        if bench == GMMLU:
            values, score, agg = [float(v) for v in x], float(np.mean(x)), "mean"
        else:  # (source, correct, divide by all four sections), as process_results writes
            values = [[SOURCES[i % len(SOURCES)], float(v), True] for i, v in enumerate(x)]
            score = mrewardbench.aggregate(values)  # what lm-eval reports with our hook
            agg = "def aggregate(items):\n    ...\n"
        results[task] = {"alias": task, "acc,none": score, "acc_stderr,none": 0.01}
        configs[task] = {"task": task, "metric_list": [{"metric": "acc", "aggregation": agg}]}
        text = "".join(_sample(i, v) for i, v in enumerate(values))
        (folder / f"samples_{task}_{STAMP}.jsonl").write_text(text, encoding="utf-8")
    data = {"results": results, "configs": configs}
    (folder / f"results_{STAMP}.json").write_text(json.dumps(data), encoding="utf-8")
    (folder / "polyglot_run.json").write_text(json.dumps(identity), encoding="utf-8")


def write_intrinsic(folder: Path, cells: dict[tuple[str, str], dict], rng) -> None:
    """summary.jsonl and rows.parquet as the intrinsic stage writes them (NaN/None rows)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True)
    summary, rows = [], {"teacher": [], "language": [], "perplexity": [], "rubric_score": []}
    for (teacher, lang), spec in cells.items():
        ppl = rng.lognormal(np.log(spec["ppl"]), 0.5, 60)
        ppl[::17] = np.nan  # rows without a scorable response token
        rubric = [None if i % 13 == 0 else int(v) for i, v in enumerate(rng.integers(1, 6, 60))]
        summary.append({
            "teacher": teacher, "language": lang, "n_valid": 60, "prompt_diversity": spec["div"],
            "response_diversity": spec["div"] / 2, "perplexity": float(np.nanmean(ppl)),
            "rubric_score": float(np.mean([r for r in rubric if r is not None])),
        })  # fmt: skip
        rows["teacher"] += [teacher] * 60
        rows["language"] += [lang] * 60
        rows["perplexity"] += [None if np.isnan(v) else float(v) for v in ppl]
        rows["rubric_score"] += rubric
    (folder / "summary.jsonl").write_text("".join(json.dumps(s) + "\n" for s in summary))
    pq.write_table(pa.table(rows), folder / "rows.parquet")


TEACHERS = {"org/strong": 0.8, "org/mid-a": 0.55, "org/mid-b": 0.55}


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("synthetic")
    rng = np.random.default_rng(11)
    langs = ("de", "es")

    def outcomes(p: float) -> dict:
        return {(b, lang): rng.random(120 if b == GMMLU else 95) < p for b in (GMMLU, MRB) for lang in langs}  # fmt: skip

    for role, p in (("base", 0.35), ("reference", 0.9)):
        write_model(root / "evals", {"role": role, "student_family": "fam"}, outcomes(p))
    for teacher, p in TEACHERS.items():
        for lang in langs:
            identity = {"role": "student", "student_family": "fam", "teacher": teacher,
                        "target_language": lang}  # fmt: skip
            write_model(root / "evals", identity, {k: v for k, v in outcomes(p).items() if k[1] == lang})  # fmt: skip
    cells = {(t, lang): {"ppl": 5 + 3 * i, "div": 0.3 + 0.1 * i}
             for i, t in enumerate(TEACHERS) for lang in langs}  # fmt: skip
    write_intrinsic(root / "metrics", cells, rng)
    return {"evals": root / "evals", "metrics": root / "metrics"}


def _loop_scores(row: ExtrinsicRow, positions: np.ndarray) -> float:
    """A benchmark score from resampled items, read and aggregated without the bootstrap."""
    source, _, task = row.source.rpartition("[")
    samples = Path(source).parent / f"samples_{task[:-1]}_{STAMP}.jsonl"
    values = [json.loads(line)["acc"] for line in samples.read_text().splitlines()]
    picked = [values[i] for i in positions]
    return mrewardbench.aggregate(picked) if row.benchmark == MRB else float(np.mean(picked))


def _loop_rows(intrinsic, positions: np.ndarray, metrics: Path) -> dict[str, float]:
    import pyarrow.parquet as pq

    table = pq.read_table(metrics / "rows.parquet").to_pydict()
    keep = [i for i, (t, g) in enumerate(zip(table["teacher"], table["language"], strict=True))
            if (t, g) == (intrinsic.teacher, intrinsic.language)]  # fmt: skip
    out = {}
    for metric in ("perplexity", "rubric_score"):
        picked = [table[metric][keep[i]] for i in positions]
        out[metric] = float(np.mean([v for v in picked if v is not None]))
    return out


@pytest.mark.parametrize("pairing", ["paired", "independent"])
def test_vectorised_replicates_equal_a_per_replicate_loop_through_score_run(synthetic, pairing):
    """Each replicate equals the scorer run on that replicate's resampled inputs."""
    extrinsic = read_extrinsic(synthetic["evals"])
    intrinsic = read_intrinsic(synthetic["metrics"])
    result = bootstrap_run(
        extrinsic, intrinsic, replicates=25, seed=5, pairing=pairing, keep_draws=True
    )
    for r in range(26):
        ext = [
            dataclasses.replace(row, score=_loop_scores(row, result.draws[result.draw_keys[row]][r]))
            for row in extrinsic
        ]  # fmt: skip
        intr = []
        for row in intrinsic:
            key = result.draw_keys[(teacher_key(row.teacher), row.language)]
            values = _loop_rows(row, result.draws[key][r], synthetic["metrics"])
            intr.append(dataclasses.replace(row, **values))
        for row in score_run(ext, intr):
            got = result.samples[(row.student_family, row.teacher, row.language)]
            for name in ("student_score", "pgr", "headroom_gain", "z_score", "pg_score"):
                assert got[name][r] == pytest.approx(getattr(row, name), rel=1e-9, abs=1e-12), (r, name)  # fmt: skip
    first = result.rows[0]
    assert first["resampled"]["items"] == {"student": [GMMLU, MRB], "base": [GMMLU, MRB],
                                           "reference": [GMMLU, MRB]}  # fmt: skip
    assert first["resampled"]["intrinsic_rows"] == ["perplexity", "rubric_score"]
    assert first["resampled"]["intrinsic_fixed"] == ["prompt_diversity", "response_diversity"]


def test_pairing_shares_one_item_draw_per_benchmark_and_language(synthetic):
    extrinsic = read_extrinsic(synthetic["evals"])
    paired = bootstrap_run(extrinsic, replicates=10, keep_draws=True).draw_keys
    independent = bootstrap_run(extrinsic, replicates=10, pairing="independent", keep_draws=True)
    de_gmmlu = [r for r in extrinsic if (r.benchmark, r.language) == (GMMLU, "de")]
    assert len(de_gmmlu) == 5 and len({paired[r] for r in de_gmmlu}) == 1
    assert len({independent.draw_keys[r] for r in de_gmmlu}) == 5


def test_rank_stability_separates_a_clear_winner_and_ties_equal_teachers(synthetic):
    result = bootstrap_run(read_extrinsic(synthetic["evals"]), replicates=400)
    ranks = result.ranks["values"]["headroom_gain"]["fam"]
    assert ranks["teachers"][0] == "org/strong" and ranks["rank"]["org/strong"] == 1
    assert ranks["above"]["org/strong"]["org/mid-a"] > 0.99
    assert 0.05 < ranks["above"]["org/mid-a"]["org/mid-b"] < 0.95  # same p, other items
    assert ranks["groups"][0] == ["org/strong"]
    assert sorted(ranks["groups"][1]) == ["org/mid-a", "org/mid-b"]
    assert ranks["tied"] == {"org/strong": False, "org/mid-a": True, "org/mid-b": True}
    assert ranks["rank"]["org/mid-a"] == ranks["rank"]["org/mid-b"] == 2


def test_identical_teachers_are_above_each_other_in_half_the_replicates():
    x = (np.arange(300) % 3 == 0).astype(float)
    rows, items = [], {}
    for teacher in ("org/a", "org/b"):
        row = ExtrinsicRow("student", "fam", GMMLU, "de", float(x.mean()), teacher=teacher,
                           target_language="de")  # fmt: skip
        rows.append(row)
        items[row] = ItemScores.mean(x)
    rows += [ExtrinsicRow(role, "fam", GMMLU, "de", s) for role, s in (("base", 0.1), ("reference", 0.9))]  # fmt: skip
    ranks = bootstrap_scores(rows, items=items, replicates=200).ranks["values"]["pgr"]["fam"]
    assert ranks["above"]["org/a"]["org/b"] == 0.5  # paired draws: every replicate a tie
    assert ranks["groups"] == [["org/a", "org/b"]]


def test_samples_that_disagree_with_the_results_are_refused(synthetic, tmp_path):
    import shutil

    shutil.copytree(synthetic["evals"], tmp_path / "evals")
    results = next((tmp_path / "evals").rglob("results_*.json"))
    data = json.loads(results.read_text())
    task = next(t for t in data["results"] if "gmmlu" in t)
    data["results"][task]["acc,none"] += 0.01
    results.write_text(json.dumps(data))
    row = next(r for r in read_extrinsic(results.parent) if r.benchmark == GMMLU)
    with pytest.raises(ConfigError, match=r"items aggregate to .* re-run the evaluation"):
        read_items(row)


def test_bootstrap_run_writes_intervals_and_ranks_the_tables_show(synthetic, tmp_path):
    from harness.score.pgscore import write_scores

    extrinsic = read_extrinsic(synthetic["evals"])
    intrinsic = read_intrinsic(synthetic["metrics"])
    rows = score_run(extrinsic, intrinsic)
    write_scores(rows, tmp_path / "scores.jsonl")
    bootstrap_run(extrinsic, intrinsic, out=tmp_path, replicates=200, seed=1)
    lines = [json.loads(s) for s in (tmp_path / INTERVALS_FILE).read_text().splitlines()]
    assert len(lines) == len(rows) == 6
    for line in lines:
        assert line["pg_score_lo"] <= line["pg_score"] <= line["pg_score_hi"]
        assert (line["replicates"], line["seed"], line["pairing"]) == (200, 1, "paired")
    ranks = json.loads((tmp_path / RANKS_FILE).read_text())
    assert set(ranks["values"]) == {"student_score", "pgr", "z_score", "pg_score", "headroom_gain"}
    intervals = read_intervals(tmp_path, rows)
    board = leaderboard(rows, tablefmt="simple", intervals=intervals, values=("headroom_gain",))
    strong = next(line for line in board.splitlines() if line.startswith("org/strong"))
    assert strong.split()[1] == "1" and "[" in strong
    assert any(line.split()[1] == "=2" for line in board.splitlines() if line.startswith("org/mid"))


@pytest.fixture(scope="module")
def real_evals(tmp_path_factory, tiny_model_dir: Path, tiny_student_dir: Path) -> Path:
    """Tiny real models evaluated by lm-eval on German benchmark fixtures (MGSM's
    generation left out for time) and, for the base, on the held-out demo benchmark."""
    from harness.evaluate.run import EvalConfig, evaluate_model

    root = tmp_path_factory.mktemp("real")
    data = Path(__file__).resolve().parents[1] / "fixtures" / "benchmarks"
    runs = [
        ("base", None, tiny_student_dir, f"{GMMLU},{MRB}"),
        ("reference", None, tiny_model_dir, f"{GMMLU},{MRB}"),
        ("student", "org/t1", tiny_student_dir, f"{GMMLU},{MRB}"),
        ("student", "org/t2", tiny_model_dir, f"{GMMLU},{MRB}"),
        ("base", None, tiny_student_dir, "heldout"),
    ]
    for i, (role, teacher, model, suite) in enumerate(runs):
        evaluate_model(
            EvalConfig(
                out=str(root / ("heldout" if suite == "heldout" else "evals") / f"{role}{i}"),
                role=role, student_family="tiny", languages=["de"], limit=8 if suite == "heldout" else None,
                model_args=f"pretrained={model},dtype=float32", suite=suite,
                data_dir=str(data), device="cpu", teacher=teacher,
                target_language="de" if teacher else None,
            ),
            progress=False,
        )  # fmt: skip
    return root


def test_items_of_a_real_lm_eval_run_reproduce_its_scores(real_evals, tmp_path):
    rows = read_extrinsic(real_evals)
    assert {r.benchmark for r in rows} == {GMMLU, MRB, "heldout"}
    for row in rows:
        items = read_items(row)  # refuses items that do not aggregate to the reported score
        assert items is not None and items.point() == pytest.approx(row.score, abs=1e-12)
        if row.benchmark == MRB:  # resampled within RewardBench subsets, the metric's groups
            assert len(np.unique(items.strata)) > 1
        if row.benchmark == "heldout":  # bits per byte: a ratio of sums, then 1 - bpb / 8
            assert items.denominator is not None and items.numerator.shape == (1, 8)
    result = bootstrap_run(real_evals / "evals", out=tmp_path, replicates=300)
    (line,) = [r for r in result.rows if r["teacher"] == "org/t1"]
    assert line["z_score"] is None and line["pg_score_lo"] is None  # no intrinsic input
    assert line["headroom_gain_lo"] <= line["headroom_gain"] <= line["headroom_gain_hi"]
    assert line["resampled"]["items"]["base"] == [GMMLU, MRB]


def test_settings_and_unresampleable_aggregations(synthetic, tmp_path, caplog):
    import shutil

    extrinsic = read_extrinsic(synthetic["evals"])
    for bad in ({"pairing": "matched"}, {"replicates": 1}, {"level": 95}, {"seed": -1}):
        with pytest.raises(ConfigError):
            bootstrap_run(extrinsic, **bad)
    shutil.copytree(synthetic["evals"], tmp_path / "evals")
    results = next((tmp_path / "evals").rglob("results_*.json"))
    data = json.loads(results.read_text())
    task = next(t for t in data["results"] if "gmmlu" in t)
    data["configs"][task]["metric_list"][0]["aggregation"] = "median"
    results.write_text(json.dumps(data))
    row = next(r for r in read_extrinsic(results.parent) if r.benchmark == GMMLU)
    with caplog.at_level("WARNING"):
        assert read_items(row) is None  # held fixed, and the run says so
    assert "aggregation median" in caplog.text and "held fixed" in caplog.text


# ---- hostile inputs: one line naming the problem, never a silently wrong interval ------
def _copy_student_samples(synthetic, tmp_path, bench: str) -> tuple[Path, ExtrinsicRow]:
    """A copy of the run; the samples file and row of one student's ``bench`` in German."""
    import shutil

    shutil.copytree(synthetic["evals"], tmp_path / "evals")
    folder = next((tmp_path / "evals").glob("student__fam__org/mid-a__de/model"))
    task = "gmmlu_lite" if bench == GMMLU else "mrewardbench"
    samples = next(folder.glob(f"samples_polyglot_eval_{task}_de_*.jsonl"))
    row = next(r for r in read_extrinsic(folder) if r.benchmark == bench)
    return samples, row


def _edit_line(samples: Path, index: int, edit) -> None:
    lines = samples.read_text(encoding="utf-8").splitlines(keepends=True)
    obj = json.loads(lines[index])
    edit(obj)
    lines[index] = json.dumps(obj) + "\n"
    samples.write_text("".join(lines), encoding="utf-8")


@pytest.mark.parametrize(
    ("bench", "damage"),
    [
        (GMMLU, "null"),  # before: "items aggregate to nan"
        (GMMLU, "nan"),
        (MRB, "null"),  # before: held fixed, warned as an unsupported aggregation, exit 0
        (MRB, "nan_inside"),  # before: "not a fixed weighted mean of its items"
    ],
)
def test_a_null_or_nan_item_is_named_by_line_and_doc_id(synthetic, tmp_path, bench, damage):
    samples, row = _copy_student_samples(synthetic, tmp_path, bench)

    def edit(obj):
        if damage == "nan_inside":
            obj["acc"][1] = float("nan")  # json writes NaN, which lm-eval's reader accepts
        else:
            obj["acc"] = None if damage == "null" else float("nan")

    _edit_line(samples, 2, edit)
    with pytest.raises(ConfigError, match=rf"{samples.name}:3: doc_id 2 has acc = .*not a number"):
        read_items(row)


def test_a_doc_id_twice_with_two_values_is_named(synthetic, tmp_path):
    samples, row = _copy_student_samples(synthetic, tmp_path, GMMLU)
    lines = samples.read_text(encoding="utf-8").splitlines(keepends=True)
    again = json.loads(lines[3])
    again["acc"] = 1.0 - again["acc"]
    samples.write_text("".join([*lines, json.dumps(again) + "\n"]), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"doc_id 3 appears again \(first at line 4\)"):
        read_items(row)
    # the same line twice is one item: the score still matches and nothing is refused
    samples.write_text("".join([*lines, lines[3]]), encoding="utf-8")
    assert read_items(row).point() == pytest.approx(row.score, abs=1e-12)


def _rows_file(synthetic, tmp_path) -> Path:
    import shutil

    shutil.copytree(synthetic["metrics"], tmp_path / "metrics")
    return tmp_path / "metrics" / "rows.parquet"


@pytest.mark.parametrize("damage", ["truncated", "no_column", "row_twice"])
def test_a_damaged_rows_parquet_is_one_named_error(synthetic, tmp_path, damage):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = _rows_file(synthetic, tmp_path)
    table = pq.read_table(rows)
    if damage == "truncated":  # before: pyarrow's ArrowInvalid traceback
        rows.write_bytes(rows.read_bytes()[: rows.stat().st_size // 2])
        message = "not a readable parquet file"
    elif damage == "no_column":
        pq.write_table(table.drop(["rubric_score"]), rows)
        message = "no column rubric_score"
    else:  # the intrinsic stage's row_index, and one dataset's rows concatenated twice:
        # its means stay those of the summary, so before this was accepted and every draw
        # counted each row twice (intervals too narrow by sqrt 2)
        counts_ = {}
        index = []
        for t, g in zip(table["teacher"].to_pylist(), table["language"].to_pylist(), strict=True):
            index.append(counts_.setdefault((t, g), 0))
            counts_[(t, g)] += 1
        table = table.append_column("row_index", pa.array(index, pa.int64()))
        first = table.filter(pa.compute.equal(table["teacher"], "org/strong"))
        pq.write_table(pa.concat_tables([table, first]), rows)
        message = r"row_index 0 of org/strong (de|es) appears twice"
    intrinsic = read_intrinsic(tmp_path / "metrics")
    with pytest.raises(ConfigError, match=message):
        bootstrap_run(read_extrinsic(synthetic["evals"]), intrinsic, replicates=10)


def test_the_same_row_index_in_two_datasets_is_no_duplicate(synthetic, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = _rows_file(synthetic, tmp_path)
    table = pq.read_table(rows)
    index = np.arange(table.num_rows) % 60  # every dataset counts from 0
    pq.write_table(table.append_column("row_index", pa.array(index, pa.int64())), rows)
    result = bootstrap_run(
        read_extrinsic(synthetic["evals"]), read_intrinsic(tmp_path / "metrics"), replicates=10
    )
    assert result.rows[0]["resampled"]["intrinsic_rows"] == ["perplexity", "rubric_score"]


def test_more_replicates_than_memory_is_one_line_not_a_numpy_traceback(synthetic):
    # 10^10 replicates of 120 items: 4.8 TB of draw positions; before, numpy's
    # _ArrayMemoryError escaped as a traceback after the scoring
    with pytest.raises(ConfigError, match=r"10000000000 replicates .*use fewer replicates"):
        bootstrap_run(read_extrinsic(synthetic["evals"]), replicates=10**10)


def test_cli_refuses_one_replicate_before_writing_anything(synthetic, tmp_path, capsys):
    from harness.cli.main import main

    out = tmp_path / "scores"
    argv = ["score", "--extrinsic", str(synthetic["evals"]), "--out", str(out)]
    assert main([*argv, "--replicates", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "replicates is 1, which gives no interval" in err
    assert not (out / "scores.jsonl").exists()  # before: scored and written, then refused
