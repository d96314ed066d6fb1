"""An intrinsic metric added in one file outside the package: found, cached, summarised.

The plugin is written into a temporary folder and reached three ways: a file path in
``extra_metrics``, an importable module name, and an installed distribution's entry point
(a ``*.dist-info`` folder on ``sys.path``, as pip would leave it).
"""

from __future__ import annotations

import logging
import textwrap
from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.intrinsic.compute import IntrinsicOptions
from harness.intrinsic.metric import ENTRY_POINT_GROUP
from harness.intrinsic.run import ROWS_FILE, compute_intrinsic, read_summary

PAIRS = [("Wie viel ist 2 + 2?", "Vier."), ("Nenne eine Farbe.", ""), ("Hallo?", "Guten Tag!")]

PLUGIN = '''
"""Characters per response: a metric in one file."""
from harness.intrinsic.metric import IntrinsicMetric


def compute(rows, context):
    chars = [len(r) for r in rows.responses]
    scale = context.options.max_length  # options reach the metric
    return (
        {"{name}": sum(chars) / len(chars), "{name}_scale": scale},
        {"row_index": rows.index, "{name}": chars},
    )


METRIC = IntrinsicMetric(
    "{name}", compute, summary_fields=("{name}",), row_fields=("{name}",),
    params=lambda options, language: {"max_length": options.max_length},
)
'''


def write_plugin(folder: Path, name: str, module: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{module or name}.py"
    path.write_text(PLUGIN.replace("{name}", name), encoding="utf-8")
    return path


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from harness.schema import DATA_FILE, sft_row

    folder = tmp_path / "data" / "org__t" / "de"
    folder.mkdir(parents=True)
    rows = [
        dict(sft_row(p, r, language="de", strategy="generate", teacher="org/t",
                     seed_id=f"de-{i}", valid=bool(r), invalid_reason=None if r else "empty"))
        for i, (p, r) in enumerate(PAIRS)
    ]  # fmt: skip
    pq.write_table(pa.Table.from_pylist(rows), folder / DATA_FILE)
    return tmp_path / "data"


def test_one_file_metric_outside_the_package_lands_in_the_summary(
    data_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import pyarrow.parquet as pq

    caplog.set_level(logging.INFO, logger="harness.intrinsic.run")
    plugin = write_plugin(tmp_path / "elsewhere", "response_chars")
    out = tmp_path / "metrics"
    options = {"metrics": ("validity",), "extra_metrics": (str(plugin),), "progress": False}
    compute_intrinsic(data_dir, out, **options)
    [row] = read_summary(out)
    assert row["response_chars"] == (len("Vier.") + len("Guten Tag!")) / 2  # valid rows only
    assert row["response_chars_scale"] == 16384 and row["valid_rate"] == 2 / 3
    keys = list(row)
    assert keys.index("contamination_rate") < keys.index("response_chars") < keys.index("protocol")
    per_row = pq.read_table(out / ROWS_FILE).to_pydict()
    assert per_row["response_chars"] == [5, 10] and per_row["row_index"] == [0, 2]
    assert (out / "org__t" / "de" / "response_chars.json").is_file()

    caplog.clear()  # cached like a built-in: a rerun computes nothing ...
    compute_intrinsic(data_dir, out, **options)
    assert "0 computed, 2 cached" in caplog.text
    compute_intrinsic(data_dir, out, max_length=7, **options)  # ... until its params change
    assert "computed response_chars" in caplog.text
    assert read_summary(out)[0]["response_chars_scale"] == 7


def test_metric_by_module_name_and_by_entry_point(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    write_plugin(site, "prompt_chars", module="my_prompt_metric")
    write_plugin(site, "installed_chars", module="installed_metric")
    dist = site / "installed_metric-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: installed-metric\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        f"[{ENTRY_POINT_GROUP}]\ninstalled_chars = installed_metric\n"
    )
    monkeypatch.syspath_prepend(str(site))

    by_name = IntrinsicOptions(extra_metrics=("my_prompt_metric",))
    names = by_name.metric_names()  # default metrics: built-ins, installed, then extra
    assert names[:8] == IntrinsicOptions().metrics
    assert set(names[8:]) == {"installed_chars", "prompt_chars"}
    only = IntrinsicOptions(metrics=("validity",), extra_metrics=("my_prompt_metric",))
    assert only.metric_names() == ("validity", "prompt_chars")  # listed metrics: no others
    listed = IntrinsicOptions(metrics=("validity", "installed_chars"))
    assert listed.metric_names() == ("validity", "installed_chars")

    out = tmp_path / "metrics"
    compute_intrinsic(data_dir, out, metrics=("installed_chars",), progress=False)
    assert read_summary(out)[0]["installed_chars"] == 7.5


def test_bad_plugins_fail_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        IntrinsicOptions(extra_metrics=(str(tmp_path / "missing.py"),))
    empty = tmp_path / "empty.py"
    empty.write_text("x = 1\n")
    with pytest.raises(ConfigError, match=r"must be a module with METRIC = IntrinsicMetric"):
        IntrinsicOptions(extra_metrics=(str(empty),))
    clash = write_plugin(tmp_path, "fluency", module="clash")
    with pytest.raises(ConfigError, match=r"'fluency' .* is already defined"):
        IntrinsicOptions(extra_metrics=(str(clash),))
    with pytest.raises(ConfigError, match="cannot load intrinsic metric 'no_such_module_x'"):
        IntrinsicOptions(extra_metrics=("no_such_module_x",))
    with pytest.raises(ConfigError, match=r"unknown metric 'fluncy' \(did you mean fluency\?\)"):
        IntrinsicOptions(metrics=("fluncy",))
    bad_name = tmp_path / "bad_name.py"
    bad_name.write_text(
        "from harness.intrinsic.metric import IntrinsicMetric\n"
        "METRIC = IntrinsicMetric('Bad Name', lambda rows, ctx: ({}, None))\n"
    )
    with pytest.raises(ConfigError, match="lower_snake_case"):
        IntrinsicOptions(extra_metrics=(str(bad_name),))


def test_builtin_summary_fields_are_the_summary_columns() -> None:
    """The built-ins' declared fields are the columns the summary has always had."""
    from harness.intrinsic.metric import builtin_metrics
    from harness.intrinsic.run import ROW_COLUMNS, SUMMARY_KEYS

    metrics = builtin_metrics()
    assert tuple(metrics) == IntrinsicOptions().metrics
    declared = {f for m in metrics.values() for f in m.summary_fields}
    assert declared <= set(SUMMARY_KEYS)
    assert {f for m in metrics.values() for f in m.row_fields} <= set(ROW_COLUMNS)


def test_plugin_fields_in_a_one_file_module_are_documented_example() -> None:
    """The module docstring's example is a working metric (users copy it)."""
    import harness.intrinsic.metric as metric_module

    doc = metric_module.__doc__ or ""
    example = textwrap.dedent(doc.split("A one-file metric::", 1)[1].split("\n\nA new")[0])
    namespace: dict = {}
    exec(compile(example, "<example>", "exec"), namespace)
    metric = namespace["METRIC"]
    from harness.intrinsic.options import DatasetRows

    rows = DatasetRows("de", 2, [True, True], ["de", "de"], [0, 1], ["a", "b"], ["xy", "xyz"],
                       Path("-"))  # fmt: skip
    values, per_row = metric.compute(rows, None)
    assert values == {"response_chars": 2.5} and per_row["response_chars"] == [2, 3]
