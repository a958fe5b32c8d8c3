"""Benchmark suites as data: which environments, which policies, how many seeds and episodes, what budgets.

A suite is a YAML file (or a dict, or a :class:`Suite` built in Python)::

    name: my-sweep
    seeds: [0, 1, 2]          # replicates; confidence intervals are taken over them
    episodes: 10              # per env x policy x seed (reset seeds seed*100000 + i)
    max_steps: 30             # optional step cap per episode (the env's own limit otherwise)
    num_envs: 4               # episodes side by side in one worker (one batched model call per round)
    envs:
      - id: toolgym/ToolChoice-Arithmetic-v0
        kwargs: {difficulty: [3, 4, 5]}
      - id: toolgym/HotpotQA-v0
        kwargs: {split: react500}
        tasks: {first: 100}     # or "all", a list of task ids, or {sample: 100, seed: 0}
        optional: true          # skip (with a note) when not registered or its data is missing
      - id: "toolgym/*"           # a pattern: every registered id it matches
        uncovered_families: true  # ... but only one per env family the suite does not cover yet
    policies:
      - name: expert
      - name: random
      - name: react
        label: react-tiny
        config: {llm: tiny, max_tokens: 48}
        max_steps: 8
        families: [tools, search]

Built-in suites ship as package data (``toolgym/benchmarks/suites/*.yaml``): see :func:`builtin_suites`.
Structure is validated here (unknown keys name the valid ones, with the line of the file); what depends
on the registries (env ids, policy names and options, data availability) is checked when the suite is
resolved into a plan (:mod:`toolgym.benchmarks.plan`).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from toolgym.benchmarks.yamlio import LineMap, load_yaml
from toolgym.error import ConfigError, did_you_mean

__all__ = [
    "EnvEntry",
    "PolicyEntry",
    "Suite",
    "TaskSelection",
    "builtin_suites",
    "load_suite",
    "suite_hash",
]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TaskSelection(_Model):
    """A selection from an env's ``task_ids()``: the ``first`` N, or a seeded ``sample`` of N.

    Attributes:
        first: Take the first N task ids.
        sample: Take N task ids drawn without replacement (in the env's order) with ``seed``.
        seed: The seed of ``sample``.
    """

    first: int | None = Field(default=None, ge=1)
    sample: int | None = Field(default=None, ge=1)
    seed: int = 0

    @model_validator(mode="after")
    def _one(self) -> TaskSelection:
        if (self.first is None) == (self.sample is None):
            raise ValueError("expected exactly one of 'first' or 'sample'")
        return self


class EnvEntry(_Model):
    """One environment (or a pattern of them) in a suite.

    Attributes:
        id: A registered id, or a pattern with ``*``/``?`` matching several (``"toolgym/*"``).
        label: The name results use (default: the id). Needed when one id appears twice with other kwargs.
        kwargs: Keyword arguments for ``gymnasium.make`` (splits, difficulty, cost weights...).
        tasks: ``"all"`` of ``task_ids()``, a list of task ids, or a :class:`TaskSelection`; ``None`` draws
            tasks from reset seeds.
        episodes: Episodes per policy and seed (overrides the suite's); ignored when ``tasks`` is given.
        max_steps: A step cap for this env's episodes.
        optional: Skip the entry (with a note) when the id is not registered or its data is not available,
            instead of failing.
        uncovered_families: For a pattern: keep only the first matching id of each env family that no other
            entry of the suite covers (so a suite covers every family, including ones added later).
        exclude: For a pattern: ids (or patterns) to leave out.
    """

    id: str
    label: str | None = None
    kwargs: dict[str, Any] = Field(default_factory=dict)
    tasks: Any = None
    episodes: int | None = Field(default=None, ge=1, le=100_000)
    max_steps: int | None = Field(default=None, ge=1)
    optional: bool = False
    uncovered_families: bool = False
    exclude: list[str] = Field(default_factory=list)

    @property
    def is_pattern(self) -> bool:
        """Whether :attr:`id` is a pattern."""
        return any(c in self.id for c in "*?[")

    @field_validator("tasks")
    @classmethod
    def _tasks(cls, value: Any) -> Any:
        if value is None or value == "all":
            return value
        if isinstance(value, list):
            if not value or not all(isinstance(t, (str, int)) and not isinstance(t, bool) for t in value):
                raise ValueError(f"expected a non-empty list of task ids, got {value!r}")
            return [str(t) for t in value]
        if isinstance(value, Mapping):
            try:
                return TaskSelection(**value)
            except ValidationError as exc:
                raise ValueError(
                    f"expected {{first: N}} or {{sample: N, seed: S}}, got {dict(value)!r} ({exc.errors()[0]['msg']})"
                ) from None
        if isinstance(value, TaskSelection):
            return value
        raise ValueError(f"expected 'all', a list of task ids, {{first: N}} or {{sample: N, seed: S}}, got {value!r}")

    @model_validator(mode="after")
    def _pattern_options(self) -> EnvEntry:
        if not self.is_pattern and (self.uncovered_families or self.exclude):
            raise ValueError("'uncovered_families' and 'exclude' apply only to a pattern id (with * or ?)")
        if self.is_pattern and self.label:
            raise ValueError("a pattern id matches several envs; it cannot have one label")
        return self


class PolicyEntry(_Model):
    """One policy in a suite.

    Attributes:
        name: A registered policy name (see ``toolgym.agents.list_policies()``).
        label: The name results use (default: the name). Needed when one policy appears twice.
        config: The policy's options (``make_policy(name, **config)``). When the policy takes a ``seed``
            option and the config does not set it, each replicate passes its suite seed.
        envs: Run only on envs whose id or label matches one of these patterns.
        families: Run only on envs of these families.
        episodes: Cap the episodes per env and seed (e.g. fewer for an expensive model).
        seeds: Replicate seeds for this policy (default: the suite's).
        max_steps: A step cap for this policy's episodes.
        num_envs: Episodes side by side (overrides the suite's).
    """

    name: str
    label: str | None = None
    config: dict[str, Any] = Field(default_factory=dict)
    envs: list[str] | None = None
    families: list[str] | None = None
    episodes: int | None = Field(default=None, ge=1, le=100_000)
    seeds: list[int] | None = None
    max_steps: int | None = Field(default=None, ge=1)
    num_envs: int | None = Field(default=None, ge=1)

    @property
    def key(self) -> str:
        """The label results use."""
        return self.label or self.name

    @field_validator("label")
    @classmethod
    def _label(cls, value: str | None) -> str | None:
        if value is not None and not _NAME.match(value):
            raise ValueError(f"expected letters, digits and . _ + - only, got {value!r}")
        return value

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, value: list[int] | None) -> list[int] | None:
        return _check_seeds(value) if value is not None else None


def _check_seeds(value: list[int]) -> list[int]:
    if not value:
        raise ValueError("expected at least one seed")
    if len(set(value)) != len(value):
        raise ValueError(f"expected distinct seeds, got {value}")
    if any(s < 0 for s in value):
        raise ValueError(f"expected non-negative seeds, got {value}")
    return value


class Suite(_Model):
    """A benchmark sweep: environments x policies x seeds, with episode counts and budgets.

    Attributes:
        name: The suite's name (letters, digits, ``. _ + -``).
        description: One or two sentences for listings and reports.
        seeds: Replicate seeds (confidence intervals are taken over them).
        episodes: Episodes per env, policy and seed (when the env entry gives no ``tasks``).
        max_steps: A step cap for every episode (the env's own limit otherwise).
        episode_time_limit_s: Stop an episode after this many seconds (recorded as ``stopped_by``).
        time_budget_s: Stop starting new work after this many seconds of the run (``--resume`` finishes it).
        num_envs: Episodes side by side within a worker (a model policy batches their calls).
        chunk_size: Episodes per unit of work sent to a worker (default ``2 * num_envs``, at least 4).
        envs: The environments.
        policies: The policies.

    Example:
        >>> s = Suite.from_dict({"name": "t", "envs": [{"id": "toolgym/ToolChoice-Arithmetic-v0"}],
        ...                      "policies": [{"name": "expert"}]})
        >>> s.seeds, s.episodes
        ([0], 1)
        >>> Suite.from_dict({"name": "t", "envs": [], "policies": [{"nam": "expert"}]})
        Traceback (most recent call last):
        ...
        toolgym.error.ConfigError: suite 't' has 3 problems:
          <suite>: envs: expected at least 1 item(s), got [].
          <suite>: policies[0].name: missing; this key is required.
          <suite>: policies[0].nam: unknown key; expected one of [...]. Did you mean: name?
    """

    name: str
    description: str = ""
    seeds: list[int] = Field(default_factory=lambda: [0])
    episodes: int = Field(default=1, ge=1, le=100_000)
    max_steps: int | None = Field(default=None, ge=1)
    episode_time_limit_s: float | None = Field(default=None, gt=0)
    time_budget_s: float | None = Field(default=None, gt=0)
    num_envs: int = Field(default=1, ge=1)
    chunk_size: int | None = Field(default=None, ge=1)
    envs: list[EnvEntry] = Field(min_length=1)
    policies: list[PolicyEntry] = Field(min_length=1)

    _lines: LineMap = PrivateAttr(default_factory=LineMap)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(f"expected letters, digits and . _ + - only, got {value!r}")
        return value

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, value: list[int]) -> list[int]:
        return _check_seeds(value)

    @model_validator(mode="after")
    def _unique_labels(self) -> Suite:
        seen: dict[str, int] = {}
        for i, p in enumerate(self.policies):
            if p.key in seen:
                raise ValueError(
                    f"policies[{i}] and policies[{seen[p.key]}] are both named {p.key!r}; give each a distinct label"
                )
            seen[p.key] = i
        return self

    # ------------------------------------------------------------------------------------------ building
    @classmethod
    def from_dict(cls, data: Any, *, lines: LineMap | None = None) -> Suite:
        """Validate a plain mapping (e.g. parsed YAML) into a suite.

        Raises:
            ConfigError: Listing every problem with its place (file line when ``lines`` is given).
        """
        lines = lines or LineMap()
        if not isinstance(data, Mapping):
            raise ConfigError(
                f"{lines.where(())}: expected a mapping with name, envs and policies, got {type(data).__name__}."
            )
        try:
            suite = cls(**data)
        except ValidationError as exc:
            raise ConfigError(_describe_errors(exc, data, lines)) from None
        suite._lines = lines
        return suite

    @classmethod
    def from_yaml(cls, text: str, *, source: str = "<string>") -> Suite:
        """Parse and validate a YAML suite (errors give ``source`` and the line)."""
        data, lines = load_yaml(text, source=source)
        return cls.from_dict(data, lines=lines)

    @classmethod
    def from_file(cls, path: str | Path) -> Suite:
        """Read a YAML suite file."""
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"suite file {p}: expected a readable YAML file, got {exc.strerror or exc}.") from exc
        return cls.from_yaml(text, source=str(p))

    @property
    def lines(self) -> LineMap:
        """Where each value came from (empty for suites built in Python)."""
        return self._lines

    def to_dict(self) -> dict[str, Any]:
        """The suite as plain data (what :func:`suite_hash` hashes and run folders store)."""
        return self.model_dump(mode="json", exclude_defaults=False)

    def to_yaml(self) -> str:
        """The suite as YAML (defaults dropped)."""
        import yaml

        return yaml.safe_dump(self.model_dump(mode="json", exclude_defaults=True), sort_keys=False)

    def with_llm(self, llm: str) -> Suite:
        """A copy whose language-model policies (those with an ``llm`` option in their config) use ``llm``."""
        policies = [
            p.model_copy(update={"config": {**p.config, "llm": llm}}) if "llm" in p.config else p for p in self.policies
        ]
        out = self.model_copy(update={"policies": policies})
        out._lines = self._lines
        return out


def suite_hash(suite: Suite) -> str:
    """A short stable hash of a suite's definition (name, entries, seeds, budgets).

    Example:
        >>> s = Suite.from_dict({"name": "t", "envs": [{"id": "a"}], "policies": [{"name": "expert"}]})
        >>> suite_hash(s) == suite_hash(Suite.from_dict(s.to_dict())) and len(suite_hash(s))
        16
    """
    blob = json.dumps(suite.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


# ---------------------------------------------------------------------------------------------- errors
def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    if not loc:
        return Suite
    if len(loc) == 2 and loc[0] == "envs" and isinstance(loc[1], int):
        return EnvEntry
    if len(loc) == 2 and loc[0] == "policies" and isinstance(loc[1], int):
        return PolicyEntry
    return None


def dotted(loc: tuple[Any, ...]) -> str:
    """``("policies", 1, "config")`` as ``policies[1].config``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _describe_errors(exc: ValidationError, data: Mapping[str, Any], lines: LineMap) -> str:
    problems = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        kind = err["type"]
        if kind == "extra_forbidden":
            model = _model_at(loc[:-1])
            valid = sorted(model.model_fields) if model is not None else []
            msg = f"unknown key; expected one of {valid}.{did_you_mean(str(loc[-1]), valid)}"
        elif kind == "missing":
            msg = "missing; this key is required."
        elif kind in ("value_error", "assertion_error"):
            msg = str(err["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ") + "."
        elif kind == "too_short":
            msg = f"expected at least {err.get('ctx', {}).get('min_length', 1)} item(s), got {err.get('input')!r}."
        else:
            what = str(err["msg"])
            if what.startswith("Input should be "):
                what = what[len("Input should be ") :].split(", unable to")[0]
            else:
                what = what[0].lower() + what[1:]
            msg = f"expected {what}, got {err.get('input')!r}."
        problems.append(f"{lines.where(loc)}: {dotted(loc)}: {msg}")
    name = data.get("name", "?") if isinstance(data, Mapping) else "?"
    if len(problems) == 1:
        return f"suite {name!r}: {problems[0]}"
    return f"suite {name!r} has {len(problems)} problems:\n  " + "\n  ".join(problems)


# ---------------------------------------------------------------------------------------------- loading
def _builtin_dir() -> Any:
    return resources.files("toolgym.benchmarks").joinpath("suites")


def builtin_suites() -> dict[str, str]:
    """The built-in suites and their descriptions.

    Example:
        >>> {"smoke", "quick", "paper"} <= set(builtin_suites())
        True
    """
    out = {}
    for item in sorted(_builtin_dir().iterdir(), key=lambda p: p.name):
        if item.name.endswith(".yaml"):
            name = item.name[: -len(".yaml")]
            data, _ = load_yaml(item.read_text(encoding="utf-8"), source=item.name)
            out[name] = str(data.get("description", "")).strip() if isinstance(data, Mapping) else ""
    return out


def load_suite(source: str | Path | Mapping[str, Any] | Suite) -> Suite:
    """Load a suite: a built-in name (``"quick"``), a YAML file path, a mapping or a :class:`Suite`.

    Raises:
        ConfigError: Unknown built-in name (with the close matches), unreadable file, invalid YAML or structure.

    Example:
        >>> load_suite("smoke").name
        'smoke'
        >>> load_suite("quik")
        Traceback (most recent call last):
        ...
        toolgym.error.ConfigError: suite: expected a built-in suite name among [...] or a path to a YAML file,
        got 'quik'. Did you mean: quick?
    """
    if isinstance(source, Suite):
        return source
    if isinstance(source, Mapping):
        return Suite.from_dict(source)
    text = str(source)
    path = Path(text).expanduser()
    if path.is_file():
        return Suite.from_file(path)
    if text.endswith((".yaml", ".yml")) or "/" in text or "\\" in text:
        raise ConfigError(f"suite file {text}: expected an existing YAML file, got no such file.")
    names = list(builtin_suites())
    if text not in names:
        raise ConfigError(
            f"suite: expected a built-in suite name among {names} or a path to a YAML file, got {text!r}."
            + did_you_mean(text, names)
        )
    item = _builtin_dir().joinpath(f"{text}.yaml")
    return Suite.from_yaml(item.read_text(encoding="utf-8"), source=f"{text}.yaml (built-in)")
