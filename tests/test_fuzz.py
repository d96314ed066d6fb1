"""Fuzz layer: teacher outputs and mutated CLI inputs never end in a traceback.

Two promises are checked over generated inputs (``hypothesis``, derandomised and with
bounded example counts, so CI is deterministic and this file stays well under a minute):

* the pair parser and :func:`~harness.generate.validity.assess` never raise on anything a
  teacher may write, and every verdict is either a trainable pair (non-empty prompt and
  response) or carries a reason of :class:`~harness.schema.InvalidReason`;
* a command fed a mutated input (JSONL for ``score``, a collected parquet for
  ``intrinsic``, YAML for ``--config``, the teacher registry and a grid) exits 0 with the
  output its input promises (no row silently dropped), or exits 2 with exactly one line
  on stderr naming the problem. An uncaught exception fails the test, which is the point.

Commands run in-process through :func:`harness.cli.main.main`, the entry point users run.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from harness.cli.main import main
from harness.generate.parse import extract_pair
from harness.generate.validity import assess
from harness.schema import STRATEGIES, InvalidReason

# CI runs the bounded default; POLYGLOT_FUZZ_SCALE=50 fuzzes 50 times longer, locally.
_SCALE = int(os.environ.get("POLYGLOT_FUZZ_SCALE", "1"))
FUZZ = settings(
    max_examples=80 * _SCALE,
    deadline=None,
    derandomize=True,  # the same examples on every run: CI cannot flake on a new seed
    database=None,  # no example database: a failure replays from its @example or seed
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,  # each example works in a fresh sub-folder
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
REASONS = {r.value for r in InvalidReason}

# --- teacher outputs ---------------------------------------------------------------------

# Pieces teachers (and broken decoders) produce: JSON punctuation, keys the parser looks
# for, fences, smart quotes, literals JSON and Python disagree on, NUL bytes.
_FRAGMENTS = (
    "{", "}", "[", "]", '"', "'", ":", ",", "\\", "\n", "```", "```json\n", "prompt",
    "response", '"prompt"', '"response"', "'prompt'", "'answer'", '"instruction"', "null",
    "None", "true", "1e999", "NaN", "-Infinity", "\x00", "“", "”", "«", "»", "  ",
    '{"prompt": "', '", "response": "', '"}', "{1, 2}", "b'x'", "1j", "[1]:", "...",
    "Das ist gut so.", "ありがとうございます", "Это ответ", "مرحبا بالعالم",
)  # fmt: skip
# Whole answers: real text in the grid's languages, and refusals, so that every verdict
# (valid, refusal, wrong or undetermined language) is reached, not only the parse errors.
_SENTENCES = (
    "Die Photosynthese wandelt Sonnenlicht in chemische Energie um, die Pflanzen speichern.",
    "El agua hierve a cien grados Celsius cuando la presión es de una atmósfera.",
    "Fotosyntéza přeměňuje sluneční světlo na chemickou energii uloženou v rostlinách.",
    "Fotosintesis mengubah cahaya matahari menjadi energi kimia yang disimpan tumbuhan.",
    "光合成は太陽の光を化学エネルギーに変え、植物の中に蓄えます。とても大切な仕組みです。",
    "يحول التمثيل الضوئي ضوء الشمس إلى طاقة كيميائية تخزنها النباتات في أوراقها.",
    "Photosynthesis turns sunlight into chemical energy that plants store in their leaves.",
    "I'm sorry, but I can't help with that request.",
    "Lo siento, pero no puedo ayudarte con eso.",
    "Es tut mir leid, aber ich kann dabei nicht helfen.",
)
_SCRIPTS = (  # (first, last) code points of scripts lingua knows and some it does not
    (0x20, 0x7E), (0xC0, 0x24F), (0x370, 0x3FF), (0x400, 0x4FF), (0x530, 0x58F),
    (0x5D0, 0x5EA), (0x600, 0x6FF), (0x900, 0x97F), (0xE00, 0xE7F), (0x10A0, 0x10FF),
    (0x1200, 0x137F), (0x3040, 0x30FF), (0x4E00, 0x9FFF), (0xAC00, 0xD7A3),
    (0x1F300, 0x1FAFF),
)  # fmt: skip
_ANY_CHAR = st.characters(exclude_categories=("Cs",))  # every code point but surrogates


@st.composite
def _script_text(draw: st.DrawFn) -> str:
    """Text in one random script, with spaces, long enough for language ID to run."""
    first, last = draw(st.sampled_from(_SCRIPTS))
    letters = st.characters(min_codepoint=first, max_codepoint=last, exclude_categories=("Cs",))
    return draw(st.text(st.one_of(letters, st.just(" ")), min_size=0, max_size=120))


_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(_ANY_CHAR, max_size=30),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
_KEYS = ("prompt", "response", "instruction", "question", "answer", "output", "other")


@st.composite
def _jsonish(draw: st.DrawFn) -> str:
    """A teacher's JSON pair, more or less: bad values, chatter, fences, cut short."""
    values = _JSON_VALUES | _script_text() | st.sampled_from(_SENTENCES)
    obj = draw(st.dictionaries(st.sampled_from(_KEYS), values, max_size=4))
    text = json.dumps(obj, ensure_ascii=draw(st.booleans()))
    if draw(st.booleans()):
        text = text.replace('"', "'")  # single-quoted "JSON"
    if draw(st.booleans()):
        text = text[: draw(st.integers(0, len(text)))]  # ran out of tokens
    if draw(st.booleans()):
        text = f"```{draw(st.sampled_from(['', 'json', 'python']))}\n{text}\n```"
    chatter = st.text(_ANY_CHAR, max_size=20)
    return draw(chatter) + text + draw(chatter)


# Python-literal "JSON" (the parser's lenient fallback): keys and values that
# ``ast.literal_eval`` accepts but a JSON object cannot hold.
_PY_KEYS = st.sampled_from(["'prompt'", "'response'", '"prompt"', "[1]", "{}", "1", "None", "(1,)"])
_PY_VALUES = st.sampled_from(
    ["'Wie geht es dir heute?'", "{1, 2}", "b'x'", "1j", "[1, {}]", "{}", "()", "None", "1e999",
     "-0.0", "'\\x00'", "{'a': {1, 2}}", "...", "[[[]]]", "'''x'''"]
)  # fmt: skip
_PY_LITERALS = st.lists(st.tuples(_PY_KEYS, _PY_VALUES), min_size=1, max_size=3).map(
    lambda items: "{" + ", ".join(f"{k}: {v}" for k, v in items) + "}"
)
_LONG = st.builds(
    lambda piece, n: piece * n,
    st.sampled_from(["{", "[", '{"prompt": ', '{"a": [', "{'prompt': {", "x", "é ", "{}", "\x00"]),
    st.integers(2_000, 60_000),
)
_DEEP = st.builds(  # balanced, so the parser really loads it: nesting past any recursion limit
    lambda key, n: "{" + key + ": " + "[" * n + "]" * n + ', "response": "ok"}',
    st.sampled_from(['"prompt"', "'prompt'"]),
    st.integers(1_000, 100_000),
)
TEACHER_OUTPUTS = st.one_of(
    st.sampled_from(_SENTENCES),
    st.text(_ANY_CHAR, max_size=200),
    _script_text(),
    st.lists(st.sampled_from(_FRAGMENTS) | st.text(_ANY_CHAR, max_size=4), max_size=30).map(
        "".join
    ),
    _jsonish(),
    _PY_LITERALS,
    _LONG,
    _DEEP,
)


def _check_verdict(prompt: str, response: str, ok: bool, reason: str | None) -> None:
    assert isinstance(prompt, str) and isinstance(response, str)
    if ok:
        assert reason is None
        assert prompt.strip() and response.strip(), "a trainable pair needs both halves"
    else:
        assert reason in REASONS, reason


@settings(FUZZ, max_examples=150 * _SCALE)  # no language ID here: cheap, so more examples
@given(raw=st.none() | TEACHER_OUTPUTS)
# crashes the fuzz found (each raised before the fix in harness/generate/parse.py)
@example(raw="{[1]: 2}")  # TypeError: unhashable key in the literal_eval fallback
@example(raw="{'PROMPT': {0}}")  # TypeError: a set is not JSON serialisable
@example(raw='{"prompt": ' + "[" * 950 + "]" * 950 + ', "response": "ok"}')  # RecursionError
@example(raw='{"prompt": ' + "[" * 5000 + "]" * 5000 + ', "response": "ok"}')  # RecursionError
def test_parser_never_raises_and_always_gives_a_reason(raw: str | None) -> None:
    parsed = extract_pair(raw)
    reason = parsed.reason.value if parsed.reason is not None else None
    _check_verdict(parsed.prompt, parsed.response, parsed.ok, reason)


@settings(FUZZ, max_examples=150 * _SCALE)
@given(
    strategy=st.sampled_from(STRATEGIES),
    raw=st.none() | TEACHER_OUTPUTS,
    language=st.sampled_from(["ar", "cs", "de", "es", "id", "ja", "en", "fr", "zz"]),
    source_prompt=st.sampled_from(["", "   ", "Wie findest du das?", *_SENTENCES[:3]])
    | st.text(_ANY_CHAR, max_size=40),
    check_language=st.booleans(),
)
# a respond output with no seed prompt was valid: an empty user turn trained on
@example(strategy="respond", raw="0", language="de", source_prompt="", check_language=False)
def test_assess_never_raises_and_a_valid_pair_is_complete(
    strategy: str, raw: str | None, language: str, source_prompt: str, check_language: bool
) -> None:
    verdict = assess(
        strategy,
        raw,
        language,
        source_prompt=source_prompt,
        check_language=check_language,
        protocol="corrected",  # language decides validity only under langid_validity
    )
    _check_verdict(verdict.prompt, verdict.response, verdict.valid, verdict.invalid_reason)
    event(f"verdict {verdict.invalid_reason or 'valid'}")
    if verdict.valid and check_language:
        assert verdict.detected_language == language


# --- running commands --------------------------------------------------------------------


@contextlib.contextmanager
def _fresh_dir(root: Path) -> Iterator[Path]:
    """A new folder per example, also the working directory (a default ``--out`` lands there)."""
    folder = Path(tempfile.mkdtemp(dir=root))
    before = Path.cwd()
    os.chdir(folder)
    try:
        yield folder
    finally:
        os.chdir(before)


def _run(
    argv: list[str], capsys: pytest.CaptureFixture[str], *, fuzzing: bool = True
) -> tuple[int, str, str]:
    """Run the CLI; an uncaught exception propagates and fails the test."""
    capsys.readouterr()
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own errors
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    if fuzzing:  # --hypothesis-show-statistics: both outcomes must be reached
        event(f"exit {code}")
    assert code in (0, 2), (code, err[-2000:])
    if code == 2:
        lines = err.strip("\n").split("\n")
        assert len(lines) == 1, f"expected one error line, got:\n{err[-2000:]}"
        assert lines[0].startswith("polyglot-harness"), err
        assert len(lines[0]) > len("polyglot-harness: error: "), err  # it names something
    return code, out, err


# Values a hand-edited file ends up holding where another type belongs.
_SPECIAL_NUMBERS = st.sampled_from(
    [10**400, -(10**400), math.nan, math.inf, -math.inf, 1.7e308, -5e-324, 2**63, -1, 0, 0.0]
)
_WEIRD = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    _SPECIAL_NUMBERS,  # NaN, infinities, an int no float holds
    st.floats(),
    st.text(_ANY_CHAR, max_size=12),
    st.sampled_from(["", "yes", "no", "1e999", "NaN", "-1", "de", "student"]),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)
# Whole lines no serialiser writes but a torn or hand-edited file holds.
_RAW_LINES = (
    b'{"score": 1' + b"0" * 5000 + b"}",  # more digits than Python converts
    b'{"a": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",  # nesting past the stack
    b"NaN", b"[]", b"null", b'"text"', b'{"a": Infinity}', b"\xff\xfe{}", b'{"role": "student"',
)  # fmt: skip
_LINE_OPS = st.one_of(  # (op, which line, argument) on the serialised lines of a file
    st.tuples(st.just("bytes"), st.integers(0, 999), st.binary(min_size=1, max_size=4)),
    st.tuples(st.just("truncate"), st.integers(0, 999), st.integers(0, 999)),
    st.tuples(st.just("blank"), st.integers(0, 999), st.none()),
    st.tuples(st.just("dup"), st.integers(0, 999), st.none()),
    st.tuples(st.just("raw"), st.integers(0, 999), st.sampled_from(_RAW_LINES)),
)


def _apply_line_op(lines: list[bytes], op: tuple[str, int, Any]) -> None:
    kind, which, arg = op
    if not lines:
        return
    i = which % len(lines)
    if kind == "bytes":  # non-UTF-8 (or odd UTF-8) bytes spliced into a line
        cut = len(lines[i]) // 2
        lines[i] = lines[i][:cut] + arg + lines[i][cut:]
    elif kind == "truncate":  # a line cut short (a torn write)
        lines[i] = lines[i][: arg % max(1, len(lines[i]))] + b"\n"
    elif kind == "blank":
        lines.insert(i, b"\n")
    elif kind == "raw":
        lines.insert(i, arg + b"\n")
    else:
        lines.insert(i, lines[i])


# --- score: mutated JSONL ----------------------------------------------------------------


def _score_inputs() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A valid run: 1 family x 2 languages x 2 benchmarks, 3 teachers."""
    extrinsic: list[dict[str, Any]] = []
    intrinsic: list[dict[str, Any]] = []
    for lang in ("de", "es"):
        for bench in ("mgsm", "belebele"):
            common = {"student_family": "fam", "benchmark": bench, "language": lang}
            extrinsic += [
                {**common, "role": "base", "score": 0.30, "stderr": 0.01},
                {**common, "role": "reference", "score": 0.70, "stderr": 0.01},
            ]
            extrinsic += [
                {**common, "role": "student", "score": 0.35 + 0.1 * i, "stderr": 0.01,
                 "teacher": teacher, "target_language": lang}
                for i, teacher in enumerate(("t1", "t2", "t3"))
            ]  # fmt: skip
        intrinsic += [
            {"teacher": teacher, "language": lang, "prompt_diversity": 0.2 + 0.1 * i,
             "response_diversity": 0.5 - 0.1 * i, "rubric_score": 3.0 + i, "perplexity": 9.0 + i,
             "prompt_length": 20.0 + i, "response_length": 80.0 - i}
            for i, teacher in enumerate(("t1", "t2", "t3"))
        ]  # fmt: skip
    return extrinsic, intrinsic


_FIELDS = (  # every field of both files, so a mutation hits the ones that matter
    "role", "student_family", "benchmark", "language", "score", "stderr", "teacher",
    "target_language", "prompt_diversity", "response_diversity", "rubric_score", "perplexity",
    "prompt_length", "response_length", "extra",
)  # fmt: skip
_ROW_OPS = st.one_of(  # (op, which row, field, value) on the rows as dicts
    st.tuples(st.just("drop"), st.integers(0, 999), st.sampled_from(_FIELDS), st.none()),
    st.tuples(st.just("set"), st.integers(0, 999), st.sampled_from(_FIELDS), _WEIRD),
    st.tuples(st.just("dup"), st.integers(0, 999), st.none(), st.none()),
)


def _apply_row_op(rows: list[dict[str, Any]], op: tuple[str, int, str | None, Any]) -> None:
    kind, which, key, value = op
    if not rows:
        return
    row = rows[which % len(rows)]
    if kind == "dup":
        rows.insert(which % len(rows), dict(row))
    elif kind == "drop":
        row.pop(key, None)
    else:
        row[key] = value


def _write_lines(path: Path, rows: list[dict[str, Any]], line_ops: list) -> Path:
    lines = [json.dumps(r, ensure_ascii=False).encode() + b"\n" for r in rows]  # NaN as NaN
    for op in line_ops:
        _apply_line_op(lines, op)
    path.write_bytes(b"".join(lines))
    return path


def _strict_rows(path: Path) -> list[dict[str, Any]]:
    """The file's rows as a strict reader sees them (fails on what a scorer must refuse)."""
    return [json.loads(line) for line in path.read_bytes().decode("utf-8").splitlines() if line.strip()]  # fmt: skip


def _expected_students(rows: list[dict[str, Any]]) -> int:
    """Students the scorer promises to score: each (family, teacher, target language)."""
    from harness.score.pgscore import family_key, teacher_key

    return len(
        {
            (family_key(r["student_family"]), teacher_key(r["teacher"]), r["language"].lower())
            for r in rows
            if r["role"] == "student" and r["language"].lower() == r["target_language"].lower()
        }
    )


@FUZZ
@given(
    row_ops=st.lists(st.tuples(st.booleans(), _ROW_OPS), max_size=3),
    line_ops=st.lists(st.tuples(st.booleans(), _LINE_OPS), max_size=2),
)
# crashes the fuzz found (tracebacks before the fixes in harness/score/rows.py, jsonl.py)
@example(row_ops=[(True, ("set", 2, "target_language", 5))], line_ops=[])  # AttributeError
@example(row_ops=[(True, ("set", 2, "teacher", [1]))], line_ops=[])
@example(row_ops=[(True, ("set", 2, "score", 10**400))], line_ops=[])  # OverflowError
@example(row_ops=[(False, ("set", 0, "perplexity", -(10**400)))], line_ops=[])
@example(row_ops=[], line_ops=[(True, ("raw", 0, _RAW_LINES[0]))])  # ValueError: 5,000 digits
@example(row_ops=[], line_ops=[(False, ("raw", 0, _RAW_LINES[1]))])  # RecursionError
def test_score_on_mutated_jsonl(
    row_ops: list, line_ops: list, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    extrinsic, intrinsic = _score_inputs()
    for on_extrinsic, op in row_ops:
        _apply_row_op(extrinsic if on_extrinsic else intrinsic, op)
    with _fresh_dir(tmp_path) as here:
        ext = _write_lines(here / "evals.jsonl", extrinsic, [o for e, o in line_ops if e])
        intr = _write_lines(here / "summary.jsonl", intrinsic, [o for e, o in line_ops if not e])
        out = here / "scores"
        argv = ["score", "--extrinsic", str(ext), "--intrinsic", str(intr), "--out", str(out)]
        code, stdout, _ = _run(argv, capsys)
        if code == 2:
            assert not out.exists(), "nothing is written from a bad input"
            return
        expected = _expected_students(_strict_rows(ext))
        scored = _strict_rows(out / "scores.jsonl")
        assert len(scored) == expected, "a student row was dropped without a word"
        assert f"scored {expected} students" in stdout
        for row in scored:  # strict JSON out: json.loads above would map NaN silently
            for value in row.values():
                assert not (isinstance(value, float) and not math.isfinite(value)), row


# --- YAML: tree mutations shared by --config, the registry and grids ----------------------

_TREE_OPS = st.one_of(  # (op, which node, argument) on a loaded YAML tree
    st.tuples(st.just("delete"), st.integers(0, 9999), st.none()),
    st.tuples(
        st.just("rename"),
        st.integers(0, 9999),
        st.sampled_from(["x", "_", "-", "S", "", "upper", 1, None, True]),
    ),
    st.tuples(st.just("swap"), st.integers(0, 9999), _WEIRD),
)
_FILE_OPS = st.one_of(  # applied to the dumped text's bytes
    st.tuples(st.just("bytes"), st.integers(0, 99_999), st.binary(min_size=1, max_size=3)),
    st.tuples(st.just("truncate"), st.integers(0, 99_999), st.none()),
)


def _nodes(tree: Any, prefix: tuple = ()) -> Iterator[tuple]:
    """The path of every key and list item in ``tree``."""
    items = (
        tree.items()
        if isinstance(tree, dict)
        else enumerate(tree)
        if isinstance(tree, list)
        else ()
    )
    for key, value in items:
        yield (*prefix, key)
        yield from _nodes(value, (*prefix, key))


def _mutate_tree(tree: Any, ops: list) -> Any:
    tree = copy.deepcopy(tree)
    for kind, which, arg in ops:
        paths = list(_nodes(tree))
        if not paths:
            return tree
        *parent_path, key = paths[which % len(paths)]
        parent = tree
        for part in parent_path:
            parent = parent[part]
        if kind == "delete":
            del parent[key]
        elif kind == "swap":
            parent[key] = arg
        elif isinstance(parent, dict):  # rename: a typo, another case, a non-string key
            if isinstance(arg, str):
                new = (
                    str(key).upper() if arg == "upper" else f"{key}{arg}" if arg else str(key)[:-1]
                )
            else:
                new = arg
            parent[new] = parent.pop(key)
    return tree


def _write_yaml(path: Path, tree: Any, file_ops: list) -> Path:
    data = yaml.safe_dump(tree, allow_unicode=True, sort_keys=False).encode()
    for kind, where, arg in file_ops:
        cut = where % (len(data) + 1)
        data = data[:cut] + arg + data[cut:] if kind == "bytes" else data[:cut]
    path.write_bytes(data)
    return path


@FUZZ
@given(
    tree_ops=st.lists(_TREE_OPS, max_size=3),
    file_ops=st.lists(_FILE_OPS, max_size=1),
    before=st.booleans(),
)
@example(tree_ops=[], file_ops=[("bytes", 0, b"\x80")], before=True)  # UnicodeDecodeError
@example(tree_ops=[("delete", 0, None)], file_ops=[], before=False)  # a usage block, 5 lines
def test_score_with_a_mutated_config(
    tree_ops: list, file_ops: list, before: bool, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    extrinsic, intrinsic = _score_inputs()
    with _fresh_dir(tmp_path) as here:
        config = {
            "extrinsic": str(_write_lines(here / "evals.jsonl", extrinsic, [])),
            "intrinsic": str(_write_lines(here / "summary.jsonl", intrinsic, [])),
            "out": str(here / "scores"),
            "gap_k": 2.0,
            "gap_floor": 0.02,
            "ceiling": 1.0,
        }
        path = _write_yaml(here / "score.yaml", _mutate_tree(config, tree_ops), file_ops)
        argv = ["--config", str(path), "score"] if before else ["score", "--config", str(path)]
        code, stdout, _ = _run(argv, capsys)
        if code == 0:
            assert f"scored {_expected_students(extrinsic)} students" in stdout


# --- teachers: a mutated registry ---------------------------------------------------------


def _registry() -> dict[str, Any]:
    from harness.paths import teachers_path

    bundled = yaml.safe_load(teachers_path().read_text(encoding="utf-8"))["teachers"]
    names = ["gemma-3-4b", "gpt-4o-mini", "granite-4.0-1b"]
    return {"teachers": {name: bundled[name] for name in names}}


@FUZZ
@given(tree_ops=st.lists(_TREE_OPS, max_size=3), file_ops=st.lists(_FILE_OPS, max_size=1))
def test_teachers_with_a_mutated_registry(
    tree_ops: list, file_ops: list, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with _fresh_dir(tmp_path) as here:
        tree = _mutate_tree(_registry(), tree_ops)
        path = _write_yaml(here / "teachers.yaml", tree, file_ops)
        code, stdout, _ = _run(["teachers", "--registry", str(path)], capsys)
        if code == 0:  # every entry of the file is listed, none dropped or merged
            names = list(yaml.safe_load(path.read_bytes().decode("utf-8"))["teachers"])
            listed = [line.split()[0] for line in stdout.splitlines()[2:] if line.strip()]
            assert listed == [str(n) for n in names]


# --- run --dry-run: a mutated grid --------------------------------------------------------


@FUZZ
@given(
    tree_ops=st.lists(_TREE_OPS, min_size=1, max_size=3), file_ops=st.lists(_FILE_OPS, max_size=1)
)
def test_dry_run_with_a_mutated_grid(
    tree_ops: list, file_ops: list, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from harness.grid.spec import example_path, load_grid

    example = yaml.safe_load(example_path().read_text(encoding="utf-8"))
    with _fresh_dir(tmp_path) as here:
        path = _write_yaml(here / "grid.yaml", _mutate_tree(example, tree_ops), file_ops)
        code, stdout, _ = _run(["run", str(path), "--dry-run"], capsys)
        if code == 0:  # the plan covers every teacher and language of the file
            spec = load_grid(path)
            head = f"{len(spec.teachers)} teachers x {len(spec.languages)} languages"
            assert head in stdout.splitlines()[0]
            assert not (here / "grid-out").exists(), "a dry run writes nothing"


# --- intrinsic: a mutated collected dataset -----------------------------------------------

_COLUMN_KINDS = ("string", "float", "int", "bool", "null", "list")
_PARQUET_OPS = st.one_of(
    st.tuples(st.just("null"), st.integers(0, 999), st.integers(0, 99)),
    st.tuples(st.just("retype"), st.integers(0, 99), st.sampled_from(_COLUMN_KINDS)),
    st.tuples(st.just("drop"), st.integers(0, 99), st.none()),
    st.tuples(st.just("same_seed"), st.none(), st.none()),
    st.tuples(st.just("dup_rows"), st.integers(1, 5), st.none()),
    st.tuples(st.just("no_rows"), st.none(), st.none()),
)
_RAW_OPS = st.one_of(
    st.tuples(st.just("empty_file"), st.none()),
    st.tuples(st.just("garbage"), st.binary(max_size=64)),
    st.tuples(st.just("truncate"), st.integers(0, 99_999)),
)


def _collected_table() -> Any:
    """A valid collected dataset: six German rows, two of them invalid."""
    import pyarrow as pa

    from harness.schema import sft_features, sft_row

    pairs = [
        ("Wie viele Äpfel bleiben übrig, wenn ich fünf habe?", "Es bleiben drei Äpfel übrig."),
        ("Was ist die Hauptstadt von Deutschland?", "Berlin ist die Hauptstadt Deutschlands."),
        ("Nenne eine Farbe.", ""),
        ("Erkläre kurz, was Photosynthese ist.", "Pflanzen wandeln Licht in Energie um."),
        ("What is two plus two?", "Four."),
        ("Warum ist der Himmel blau?", "Das Sonnenlicht wird an der Luft gestreut."),
    ]
    reasons = {2: "empty", 4: "wrong_language"}
    rows = [
        dict(sft_row(p, r, language="de", strategy="generate", teacher="org/tiny-teacher",
                     seed_id=f"de-{i:04d}", valid=i not in reasons,
                     invalid_reason=reasons.get(i), doc_id=i))
        for i, (p, r) in enumerate(pairs)
    ]  # fmt: skip
    return pa.Table.from_pylist(rows, schema=sft_features().arrow_schema)


def _retyped(table: Any, name: str, kind: str) -> Any:
    import pyarrow as pa

    n = table.num_rows
    values = {
        "string": lambda: pa.array([str(v) for v in table.column(name).to_pylist()]),
        "float": lambda: pa.array([math.nan if i % 2 else 1.0 for i in range(n)], pa.float64()),
        "int": lambda: pa.array(list(range(n)), pa.int64()),
        "bool": lambda: pa.array([i % 2 == 0 for i in range(n)]),
        "null": lambda: pa.nulls(n),
        "list": lambda: pa.array([[i] for i in range(n)]),
    }[kind]()
    return table.set_column(table.schema.get_field_index(name), name, values)


def _mutated_table(table: Any, ops: list) -> Any:
    import pyarrow as pa

    for kind, a, b in ops:
        names = table.column_names
        if kind == "null" and table.num_rows and names:
            name = names[b % len(names)]
            values = table.column(name).to_pylist()
            values[a % len(values)] = None
            column = pa.array(values, table.schema.field(name).type)
            table = table.set_column(names.index(name), name, column)
        elif kind == "retype" and names:
            table = _retyped(table, names[a % len(names)], b)
        elif kind == "drop" and names:
            table = table.drop_columns([names[a % len(names)]])
        elif kind == "same_seed" and "seed_id" in names:
            table = _retyped(table, "seed_id", "string")
            column = pa.array(["de-0000"] * table.num_rows, pa.string())
            table = table.set_column(names.index("seed_id"), "seed_id", column)
        elif kind == "dup_rows":
            table = pa.concat_tables([table, table.slice(0, a)])
        elif kind == "no_rows":
            table = table.slice(0, 0)
    return table


@FUZZ
@given(ops=st.lists(_PARQUET_OPS, max_size=3), raw_ops=st.lists(_RAW_OPS, max_size=1))
def test_intrinsic_on_a_mutated_dataset(
    ops: list, raw_ops: list, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import pyarrow.parquet as pq

    from harness.schema import DATA_FILE

    with _fresh_dir(tmp_path) as here:
        folder = here / "data" / "org__tiny-teacher" / "de"
        folder.mkdir(parents=True)
        table = _mutated_table(_collected_table(), ops)
        pq.write_table(table, folder / DATA_FILE)
        for kind, arg in raw_ops:
            data = (folder / DATA_FILE).read_bytes()
            if kind == "truncate":  # a torn copy
                data = data[: arg % (len(data) + 1)]
            (folder / DATA_FILE).write_bytes(
                b"" if kind == "empty_file" else arg if kind == "garbage" else data
            )
        out = here / "metrics"
        argv = ["intrinsic", str(here / "data"), "--out", str(out),
                "--metrics", "validity,lengths", "--no-progress"]  # fmt: skip
        code, _, _ = _run(argv, capsys)
        if code == 0:  # every row counted: none dropped, no null or NaN read as valid
            written = pq.read_table(folder / DATA_FILE)
            (summary,) = _strict_rows(out / "summary.jsonl")
            valid = written.column("valid").to_pylist()
            assert summary["n_rows"] == written.num_rows
            assert summary["n_valid"] == sum(v is True for v in valid)


# --- the crashes the fuzz found, pinned ---------------------------------------------------


def _grid_with(**changes: Any) -> dict[str, Any]:
    from harness.grid.spec import example_path

    return {**yaml.safe_load(example_path().read_text(encoding="utf-8")), **changes}


def _score_config(here: Path, **changes: Any) -> dict[str, Any]:
    extrinsic, intrinsic = _score_inputs()
    config = {
        "extrinsic": str(_write_lines(here / "evals.jsonl", extrinsic, [])),
        "intrinsic": str(_write_lines(here / "summary.jsonl", intrinsic, [])),
        "out": str(here / "scores"),
    }
    return {k: v for k, v in {**config, **changes}.items() if v != "<delete>"}


# case -> (command, YAML tree or raw bytes, what the one line must say); each raised a
# traceback (or printed a usage block or a two-line YAML message) before its fix.
_PINNED: dict[str, tuple[str, Any, str]] = {
    "grid strategies: 1": ("run", _grid_with(strategies=1), "'strategies' must be a list"),
    "grid languages: false": ("run", _grid_with(languages=False), "languages must be a list"),
    "grid executor: [local]": ("run", _grid_with(executor=["local"]), "executor: unknown key"),
    "grid with a NUL byte": ("run", b"name: x\x00\n", "not valid YAML"),
    "registry field named 1": (
        "teachers", {"teachers": {"mine": {"id": "org/m", "family": "m", "size_b": 1, 1: 2}}},
        "teacher 'mine' has unknown field '1'",
    ),
    "registry top-level keys 1 and x": (
        "teachers", {"teachers": {}, 1: 2, "x": 3}, "unknown top-level key '1'",
    ),
    "registry with a NUL byte": ("teachers", b"teachers:\x00\n", "not valid YAML"),
    "config gap_k: null": ("score", {"gap_k": None}, "'gap_k' must be a number, not None"),
    "config without extrinsic": (
        "score", {"extrinsic": "<delete>"}, "the following arguments are required: --extrinsic",
    ),
    "config not UTF-8": ("score", b"out: \xff\n", "cannot read --config"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(_PINNED))
def test_inputs_the_fuzz_found_end_in_one_line(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    command, content, needle = _PINNED[case]
    with _fresh_dir(tmp_path) as here:
        if command == "score" and isinstance(content, dict):
            content = _score_config(here, **content)
        path = here / "input.yaml"
        path.write_bytes(
            content if isinstance(content, bytes) else yaml.safe_dump(content).encode()
        )
        argv = {
            "run": ["run", str(path), "--dry-run"],
            "teachers": ["teachers", "--registry", str(path)],
            "score": ["score", "--config", str(path)],
        }[command]
        code, _, err = _run(argv, capsys, fuzzing=False)
    assert code == 2
    assert needle in err, err
