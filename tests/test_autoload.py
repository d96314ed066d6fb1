"""Plain lm-eval finds our tasks, in this environment and in a fresh venv from the wheel."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

from harness.languages import GRID, generation_languages

REPO = Path(__file__).resolve().parents[1]

PROBE = textwrap.dedent(
    """
    import json
    from lm_eval.tasks import TaskManager
    tm = TaskManager()
    print(json.dumps({{
        "has": "polyglot_generate_{code}" in tm.all_tasks,
        "glob": tm.match_tasks(["polyglot_*"]),
        "eval_glob": tm.match_tasks(["polyglot_eval_{code}*"]),
    }}))
    """
).format(code=GRID[0])


def _probe(python: str, env: dict[str, str] | None = None) -> dict:
    out = subprocess.run(
        [python, "-c", PROBE], capture_output=True, text=True, env=env, timeout=300, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_task_manager_sees_our_tasks_and_globs_select_generation() -> None:
    result = _probe(sys.executable)
    assert result["has"]
    # The glob returns the per-language groups (which run their strategies), never both a
    # group and its members (lm-eval would refuse the duplicate), and no eval/judge task:
    # one group per language record with generation tasks (language packs included).
    assert sorted(result["glob"]) == sorted(f"polyglot_{c}" for c in generation_languages())


def test_opt_out_variable_disables_the_hook() -> None:
    env = {**os.environ, "POLYGLOT_HARNESS_AUTOLOAD": "0"}
    result = _probe(sys.executable, env)
    assert not result["has"]
    assert result["glob"] == []


MODULES = "import sys; print(' '.join(sorted(sys.modules)))"


def _start_modules(code: str, env: dict[str, str]) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    return set(out.stdout.split())


def test_start_up_imports_only_the_tiny_hook() -> None:
    """Every Python start in the environment pays for the .pth file: it may add one module.

    Not the ``harness`` package (a user's own ``harness`` would be shadowed), not
    ``importlib.metadata`` (tens of ms): benchmarks/bench_autoload.py times the difference.
    """
    on = {k: v for k, v in os.environ.items() if k != "POLYGLOT_HARNESS_AUTOLOAD"}
    off = {**on, "POLYGLOT_HARNESS_AUTOLOAD": "0"}
    added = _start_modules(MODULES, on) - _start_modules(MODULES, off)
    assert added == {"polyglot_harness_hook"}


def test_installed_hook_matches_the_source() -> None:
    """The wheel (and an editable install) copies the hook to the top level: not stale."""
    import polyglot_harness_hook

    installed = Path(polyglot_harness_hook.__file__).read_bytes()
    source = (REPO / "harness" / "polyglot_harness_hook.py").read_bytes()
    assert installed == source, "stale hook: re-run `pip install -e . --no-deps`"


def test_install_is_idempotent_across_both_copies_of_the_hook() -> None:
    import polyglot_harness_hook

    from harness import autoload

    autoload.install()
    polyglot_harness_hook.install()
    finders = [f for f in sys.meta_path if getattr(f, "_polyglot_harness_finder", False)]
    assert len(finders) == 1


def test_package_import_is_lazy_about_its_version() -> None:
    env = {**os.environ, "POLYGLOT_HARNESS_AUTOLOAD": "0"}
    assert "importlib.metadata" not in _start_modules(f"import harness; {MODULES}", env)
    from importlib.metadata import version

    import harness

    assert harness.__version__ == version("polyglot-harness")


def test_tasks_path_command_prints_the_folder() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "harness.cli.main", "tasks-path"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    folder = Path(out.stdout.strip())
    assert (folder / "polyglot" / "_polyglot_template").is_file()


@pytest.mark.slow
def test_fresh_venv_from_the_wheel(tmp_path: Path, tiny_model_dir: Path) -> None:
    """A non-editable wheel install in a new venv: `lm_eval --tasks` works without flags.

    The new venv borrows this environment's third-party packages through a path file
    (no network needed), but polyglot-harness itself comes only from the built wheel.
    """
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(dist), str(REPO)],
        check=True, capture_output=True, timeout=600,
    )  # fmt: skip
    wheel = next(dist.glob("polyglot_harness-*.whl"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    py = str(venv / "bin" / "python")
    site = subprocess.run(
        [py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    (Path(site) / "zz_borrowed_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [py, "-m", "pip", "install", "--no-deps", "--no-index", str(wheel)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    where = subprocess.run(
        [py, "-c", "import harness.paths as p; print(p.tasks_path())"],
        capture_output=True, text=True, check=True, env=env, cwd=tmp_path,
    ).stdout.strip()  # fmt: skip
    assert where.startswith(site), where  # the wheel's copy, not this checkout
    hook = subprocess.run(
        [py, "-c", "import polyglot_harness_hook as h, sys; print(h.__file__, 'harness' in sys.modules)"],
        capture_output=True, text=True, check=True, env=env, cwd=tmp_path,
    ).stdout.split()  # fmt: skip
    assert hook == [str(Path(site) / "polyglot_harness_hook.py"), "False"], hook

    assert _probe(py, env)["has"]
    out_dir = tmp_path / "runs"
    lm_eval = str(venv / "bin" / "lm_eval")
    if not Path(lm_eval).exists():
        lm_eval = str(Path(sys.executable).parent / "lm_eval")
    run = subprocess.run(
        [py, "-m", "lm_eval", "--model", "hf",
         "--model_args", f"pretrained={tiny_model_dir},dtype=float32",
         "--tasks", "polyglot_respond_de", "--limit", "2", "--batch_size", "2", "--device", "cpu",
         "--gen_kwargs", "max_gen_toks=8", "--apply_chat_template", "--log_samples",
         "--output_path", str(out_dir)],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    assert list(out_dir.rglob("samples_polyglot_respond_de_*.jsonl"))


def test_explicit_eval_globs_match_as_globs() -> None:
    from lm_eval.tasks import TaskManager

    from harness.autoload import prune_matches

    manager = TaskManager()
    names = manager.match_tasks(["polyglot_eval_*_de"])
    assert names and all(n.endswith("_de") for n in names)
    pruned = prune_matches(
        manager, ["polyglot_*", "polyglot_eval_*_de"], ["polyglot_eval_mgsm_es", *names]
    )
    assert "polyglot_eval_mgsm_es" not in pruned
