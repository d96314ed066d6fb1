"""A grid file as a typed, validated tree: who teaches, in which languages, which students.

The grid file is the one thing a user writes to benchmark teachers. Each stage section
(``generation``, ``intrinsic``, ``train``, ``evaluation``) takes exactly the fields of
that stage's own config dataclass, so there is no second copy of any option here: a key
the stage does not know is an error naming the nearest one, and a bad value fails when
the grid is loaded, not an hour into the run on a cluster node.

Example (the bundled one: ``polyglot-harness run --example``)::

    name: example
    languages: [de, es]
    teachers:
      - gemma-3-4b                       # a teachers.yaml entry
      - name: mine                       # or any lm-eval model
        model: vllm
        model_args: {pretrained: my-org/my-model, tensor_parallel_size: 2}
    students: [olmo3]                    # students.yaml families, or inline entries
    evaluation: {suite: paper}
    executor: slurm
    executor_options: {partition: gpu}
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import ConfigError
from harness.grid.executors import EXECUTORS, Resources
from harness.languages import parse_languages
from harness.models.embedded import check_embedded, is_embedded
from harness.protocol import DEFAULT as DEFAULT_PROTOCOL
from harness.protocol import resolve as resolve_protocol
from harness.schema import STRATEGIES

STAGES: tuple[str, ...] = (
    "generate", "collect", "intrinsic", "reference_data", "train", "evaluate",
    "score", "leaderboard", "publish",
)  # fmt: skip
# Grid keys a stage section may not set: the grid decides them per job.
_GRID_OWNED = {
    "generation": {"model", "model_args", "languages", "strategies"},
    "intrinsic": set(),
    "train": {"dataset", "student", "out", "students_file", "overwrite"},
    "evaluation": {"out", "role", "student_family", "languages", "model_args",
                   "teacher", "target_language"},
}  # fmt: skip
TOP_LEVEL = (
    "name", "out", "languages", "strategies", "teachers", "registry", "students",
    "generation", "intrinsic", "train", "evaluation", "score", "publish", "resources",
    "executor", "executor_options", "retries", "protocol",
)  # fmt: skip
# gap rule of the scorer, then the bootstrap's replicates (0: no intervals) and seed
SCORE_KEYS = ("gap_k", "gap_floor", "replicates", "seed")
SEED_TRAINED = "seed-trained"  # a family's reference: its base fine-tuned on gold seed pairs


def _unknown(where: str, key: str, valid: set[str] | tuple[str, ...]) -> ConfigError:
    near = difflib.get_close_matches(str(key), sorted(valid), n=1)
    hint = f" (did you mean {near[0]!r}?)" if near else f" (valid: {', '.join(sorted(valid))})"
    return ConfigError(f"{where}: unknown key {key!r}{hint}")


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__}")
    return {str(k): v for k, v in value.items()}


def _stage_section(value: Any, where: str, config_cls: type, owned: set[str]) -> dict[str, Any]:
    """Keys of a stage section, checked against the stage's own config dataclass."""
    section = _mapping(value, where)
    valid = {f.name for f in dataclasses.fields(config_cls)} - owned - {"protocol"}
    for key in section:
        if key == "protocol":  # one protocol for every stage: mixed ones are not comparable
            raise ConfigError(
                f"{where}: 'protocol' is set once, at the top of the grid file, for every stage"
            )
        if key not in valid:
            raise _unknown(where, key, valid)
    return section


@dataclass(frozen=True)
class TeacherEntry:
    """One teacher of the grid: a name (its slug names every artefact) and an lm-eval model."""

    name: str
    model: str
    model_args: dict[str, Any]
    generation: dict[str, Any] = field(default_factory=dict)  # GenerationConfig overrides


@dataclass(frozen=True)
class StudentEntry:
    """One student family: a students.yaml name, or an inline definition of one."""

    name: str
    base_model: str | None = None  # None: the students.yaml family of that name
    reference_model: str | None = None  # a model id, or SEED_TRAINED
    mode: str = "full"
    chat_template: str | None = None
    train: dict[str, Any] = field(default_factory=dict)  # per-family TrainConfig overrides

    @property
    def inline(self) -> bool:
        return self.base_model is not None


@dataclass(frozen=True)
class GridSpec:
    """The whole grid, validated. ``source`` is the file it came from (for messages)."""

    name: str
    out: Path
    languages: tuple[str, ...]
    strategies: tuple[str, ...]
    teachers: tuple[TeacherEntry, ...]
    students: tuple[StudentEntry, ...]
    generation: dict[str, Any] = field(default_factory=dict)
    intrinsic: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)
    evaluation: dict[str, Any] = field(default_factory=dict)
    score: dict[str, Any] = field(default_factory=dict)
    publish: dict[str, Any] | None = None
    resources: dict[str, Resources] = field(default_factory=dict)
    executor: str = "local"
    executor_options: dict[str, Any] = field(default_factory=dict)
    retries: int = 1
    protocol: str = DEFAULT_PROTOCOL  # canonical (harness.protocol); every stage runs under it
    source: str = "<memory>"

    def resources_for(self, stage: str) -> Resources:
        """A stage's resources: its own entry, else ``default``, else one CPU."""
        return self.resources.get(stage) or self.resources.get("default") or Resources()


def _teacher(entry: Any, index: int, registry: str | None) -> TeacherEntry:
    where = f"teachers[{index}]"
    if isinstance(entry, str):
        from harness.teachers import get_teacher, load_teachers

        spec = get_teacher(entry, load_teachers(registry))
        from harness.naming import parse_model_args

        return TeacherEntry(
            name=spec.name,
            model=spec.backend,
            model_args=parse_model_args(spec.lm_eval_model_args()),
        )
    entry = _mapping(entry, where)
    valid = {"name", "model", "model_args", "generation"}
    for key in entry:
        if key in ("size_b", "family"):  # one teacher table: analysis reads teachers.yaml
            raise ConfigError(
                f"{where}: {key!r} belongs in a teachers.yaml entry (name it with the grid's "
                "'registry:' and list the teacher by name), not in the grid file"
            )
        if key not in valid:
            raise _unknown(where, key, valid)
    for key in ("name", "model"):
        if not isinstance(entry.get(key), str) or not entry[key].strip():
            raise ConfigError(f"{where}: field {key!r} is required (a non-empty string)")
    args = _mapping(entry.get("model_args"), f"{where}.model_args")
    from harness.redact import is_secret_key

    secret = [k for k in args if is_secret_key(k)]
    if secret:
        raise ConfigError(
            f"{where} ({entry['name']}): model_args holds {secret[0]!r}; pass secrets through "
            "the environment (e.g. OPENAI_API_KEY), never the grid file"
        )
    for value in args.values():
        if is_embedded(str(value)):
            check_embedded(str(value))
    from harness.generate.runner import GenerationConfig

    generation = _stage_section(entry.get("generation"), f"{where}.generation", GenerationConfig,
                                _GRID_OWNED["generation"])  # fmt: skip
    return TeacherEntry(name=entry["name"], model=entry["model"], model_args=args,
                        generation=generation)  # fmt: skip


def _student(entry: Any, index: int) -> StudentEntry:
    where = f"students[{index}]"
    if isinstance(entry, str):
        from harness.train.families import load_families

        families = load_families()
        if entry not in families:
            near = difflib.get_close_matches(entry, list(families), n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise ConfigError(
                f"{where}: {entry!r} is not a students.yaml family{hint}; or write it inline "
                "with name, base_model and reference_model"
            )
        return StudentEntry(name=entry)
    entry = _mapping(entry, where)
    valid = {"name", "base_model", "reference_model", "mode", "chat_template", "train"}
    for key in entry:
        if key not in valid:
            raise _unknown(where, key, valid)
    for key in ("name", "base_model", "reference_model"):
        if not isinstance(entry.get(key), str) or not entry[key].strip():
            raise ConfigError(f"{where}: field {key!r} is required (a non-empty string)")
    for key in ("base_model", "reference_model", "chat_template"):
        value = entry.get(key)
        if isinstance(value, str) and is_embedded(value):
            check_embedded(value)
    if entry.get("mode", "full") not in ("full", "lora"):
        raise ConfigError(f"{where}: field 'mode' is {entry['mode']!r}; use full or lora")
    from harness.train.config import TrainConfig

    train = _stage_section(entry.get("train"), f"{where}.train", TrainConfig, _GRID_OWNED["train"])
    return StudentEntry(
        name=entry["name"], base_model=entry["base_model"],
        reference_model=entry["reference_model"], mode=entry.get("mode", "full"),
        chat_template=entry.get("chat_template"), train=train,
    )  # fmt: skip


def _resources(value: Any) -> dict[str, Resources]:
    out = {}
    valid_fields = {f.name for f in dataclasses.fields(Resources)}
    for stage, entry in _mapping(value, "resources").items():
        if stage not in (*STAGES, "default"):
            raise _unknown("resources", stage, (*STAGES, "default"))
        entry = _mapping(entry, f"resources.{stage}")
        for key in entry:
            if key not in valid_fields:
                raise _unknown(f"resources.{stage}", key, valid_fields)
        for key in ("gpus", "cpus", "time_min"):
            v = entry.get(key)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
                raise ConfigError(
                    f"resources.{stage}.{key}: expected a whole number >= 0, got {v!r}"
                )
        mem = entry.get("mem_gb")
        if mem is not None and (
            isinstance(mem, bool) or not isinstance(mem, (int, float)) or mem <= 0
        ):
            raise ConfigError(f"resources.{stage}.mem_gb: expected a number > 0, got {mem!r}")
        if entry.get("partition") is not None and not isinstance(entry["partition"], str):
            raise ConfigError(f"resources.{stage}.partition: expected a partition name")
        out[stage] = Resources(**entry)
    return out


def _protocol(value: Any, source: str) -> str:
    if value is not None and not isinstance(value, str):
        raise ConfigError(f"{source}: 'protocol' must be a string such as paper or corrected")
    try:
        return resolve_protocol(value).name
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from exc


def stage_settings(spec: GridSpec, section: dict[str, Any]) -> dict[str, Any]:
    """A stage section as its config takes it: the grid's protocol added to its own keys."""
    return {**section, "protocol": spec.protocol}


def _check_stage_values(spec: GridSpec) -> None:
    """Build each stage's config once, so a bad value fails now, naming the section."""
    from harness.evaluate.run import EvalConfig
    from harness.generate.runner import GenerationConfig
    from harness.intrinsic.compute import IntrinsicOptions

    checks = (
        ("generation", lambda: GenerationConfig(**stage_settings(spec, spec.generation))),
        ("intrinsic", lambda: IntrinsicOptions(**{
            k: tuple(v) if k == "metrics" else v
            for k, v in stage_settings(spec, spec.intrinsic).items()})),
        ("evaluation", lambda: EvalConfig(
            out="-", role="base", student_family="-", languages=list(spec.languages),
            **stage_settings(spec, spec.evaluation))),
    )  # fmt: skip
    from harness.train.config import TrainConfig

    for teacher in spec.teachers:  # the grid's generation section with a teacher's overrides
        if teacher.generation:
            checks += ((f"teachers ({teacher.name}).generation", lambda t=teacher: GenerationConfig(
                **stage_settings(spec, {**spec.generation, **t.generation}))),)  # fmt: skip
    for family in spec.students:  # the grid's train section with each family's overrides
        checks += ((f"train ({family.name})",
                    lambda f=family: TrainConfig(**stage_settings(spec, {**spec.train, **f.train}))),)  # fmt: skip
    for section, build in checks:
        try:
            build()
        except (ConfigError, TypeError, ValueError) as exc:
            raise ConfigError(f"{spec.source}: {section}: {exc}") from exc


def parse_grid(data: Any, *, source: str = "<memory>", base_dir: Path | None = None) -> GridSpec:
    """Validate a loaded grid mapping.

    Raises:
        ConfigError: an unknown key (with the nearest valid one), a missing or bad value.
    """
    data = _mapping(data, source)
    for key in data:
        if key not in TOP_LEVEL:
            raise _unknown(source, key, TOP_LEVEL)
    teachers_in = data.get("teachers")
    if not isinstance(teachers_in, list) or not teachers_in:
        raise ConfigError(f"{source}: 'teachers' must be a non-empty list")
    students_in = data.get("students")
    if not isinstance(students_in, list) or not students_in:
        raise ConfigError(f"{source}: 'students' must be a non-empty list")
    teachers = tuple(_teacher(t, i, data.get("registry")) for i, t in enumerate(teachers_in))
    students = tuple(_student(s, i) for i, s in enumerate(students_in))
    from harness.naming import slug

    for kind, names in (("teacher", [slug(t.name) for t in teachers]),
                        ("student family", [slug(s.name) for s in students])):  # fmt: skip
        dup = next((n for n in names if names.count(n) > 1), None)
        if dup:
            raise ConfigError(f"{source}: two {kind}s are named {dup!r}; names must be unique")
    languages = tuple(lang.code for lang in parse_languages(data.get("languages")))
    if not languages:
        raise ConfigError(f"{source}: 'languages' names no language")
    strategies_in = data.get("strategies") or STRATEGIES
    if not isinstance(strategies_in, (list, tuple)):  # tuple() of a number raised TypeError
        raise ConfigError(f"{source}: 'strategies' must be a list of {', '.join(STRATEGIES)}")
    strategies = tuple(strategies_in)
    bad = [s for s in strategies if s not in STRATEGIES]
    if bad:
        raise ConfigError(f"{source}: unknown strategy {bad[0]!r}; use {', '.join(STRATEGIES)}")
    from harness.evaluate.run import EvalConfig
    from harness.generate.runner import GenerationConfig
    from harness.intrinsic.compute import IntrinsicOptions
    from harness.train.config import TrainConfig

    executor = data.get("executor", "local")
    if not isinstance(executor, str) or executor not in EXECUTORS:  # a list is unhashable
        raise _unknown(f"{source}: executor", executor, tuple(EXECUTORS))
    retries = data.get("retries", 1)
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ConfigError(f"{source}: 'retries' must be a whole number >= 0, got {retries!r}")
    score = _mapping(data.get("score"), "score")
    for key in score:
        if key not in SCORE_KEYS:
            raise _unknown("score", key, SCORE_KEYS)
        value = score[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ConfigError(f"{source}: score.{key}: expected a number >= 0, got {value!r}")
        if key in ("replicates", "seed") and not isinstance(value, int):
            raise ConfigError(f"{source}: score.{key}: expected a whole number, got {value!r}")
    publish = data.get("publish")
    if publish is not None:
        from harness.publish.run import PublishConfig

        publish = _stage_section(publish, "publish", PublishConfig, {"inputs", "dry_run"})
        if not publish.get("org"):
            raise ConfigError(f"{source}: publish needs 'org' (the Hub namespace)")
    out = Path(str(data.get("out") or f"grid-{slug(str(data.get('name') or 'run'))}"))
    if base_dir is not None and not out.is_absolute():
        out = base_dir / out
    spec = GridSpec(
        name=str(data.get("name") or out.name),
        out=out,
        languages=languages,
        strategies=strategies,
        teachers=teachers,
        students=students,
        generation=_stage_section(data.get("generation"), "generation", GenerationConfig,
                                  _GRID_OWNED["generation"]),
        intrinsic=_stage_section(data.get("intrinsic"), "intrinsic", IntrinsicOptions, set()),
        train=_stage_section(data.get("train"), "train", TrainConfig, _GRID_OWNED["train"]),
        evaluation=_stage_section(data.get("evaluation"), "evaluation", EvalConfig,
                                  _GRID_OWNED["evaluation"]),
        score=score,
        publish=publish,
        resources=_resources(data.get("resources")),
        executor=executor,
        executor_options=_mapping(data.get("executor_options"), "executor_options"),
        retries=retries,
        protocol=_protocol(data.get("protocol"), source),
        source=source,
    )  # fmt: skip
    _check_stage_values(spec)
    return spec


def load_grid(path: str | Path, *, out: str | Path | None = None) -> GridSpec:
    """Read and validate a grid file; ``out`` overrides its output folder.

    A relative ``out`` in the file is taken relative to the current directory, like
    every other path a command is given.

    Raises:
        ConfigError: the file is missing, not YAML, or invalid (the message names the key).
    """
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"grid file {path} does not exist") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read grid file {path}: {exc}") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}{line}: not valid YAML ({getattr(exc, 'problem', exc)})") from exc
    if out is not None:
        data = {**_mapping(data, str(path)), "out": str(out)}
    return parse_grid(data, source=str(path))


def example_path() -> Path:
    """The bundled example grid (the embedded default, offline, on CPU)."""
    return Path(__file__).resolve().parent / "example.yaml"
