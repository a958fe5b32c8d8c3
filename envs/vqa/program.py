"""Program mode: run an agent's Python program against the image API in the code sandbox.

The agent writes a program (ViperGPT / Re-ReST style) that either defines ``execute_command(image)`` and
returns the answer, or prints it (the last printed line counts). :func:`build_program` wraps it in a short
harness that rebuilds the image inside the sandbox (from base64 text, so no file needs to travel), hands the
program an :class:`~toolgym.envs.vqa.api.ImagePatch`-ready ``image`` and, at the end, prints one marker line
with the result, the tool calls the program made through the image API and any error. The marker carries a
random nonce, so a program cannot forge it. :func:`read_program_output` splits the sandbox's stdout back into
what the program printed and the marker's report; :func:`run_program` does the whole round trip and returns
the tool calls to price: one ``program`` call (per run, plus its latency) and one call of each tool per API
call. It knows no env: the env charges the calls it returns.

The observation is the program's printed output, then its result or its error (a traceback limited to the
program's own lines), so a reflector can repair the program.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

__all__ = [
    "OUTPUT_LIMIT",
    "Execution",
    "ProgramCall",
    "ProgramReport",
    "ProgramRun",
    "ProgramRunner",
    "build_program",
    "default_runner",
    "describe_run",
    "read_program_output",
    "run_program",
]

#: Printed output longer than this many characters is cut (with a marker) in the observation.
OUTPUT_LIMIT = 2_000

_HARNESS = """\
import base64 as _b64, json as _json, linecache as _lc, sys as _sys, traceback as _tb
import numpy as _np
from toolgym.envs.vqa.api import ImagePatch, TrackedImage, bool_to_yesno, distance
image = TrackedImage.wrap(
    _np.frombuffer(_b64.b64decode({pixels!r}), dtype=_np.uint8).reshape({height}, {width}, 3), {threshold!r}
)
_source = {source!r}
_lc.cache["<program>"] = (len(_source), None, _source.splitlines(True), "<program>")
_report = {{"result": None, "has_result": False, "error": None}}
try:
    exec(compile(_source, "<program>", "exec"), globals())
    if callable(globals().get("execute_command")):
        _value = execute_command(image)
        _report["result"] = None if _value is None else str(_value)
        _report["has_result"] = _value is not None
except BaseException as _e:  # the program's own errors, SystemExit included, are its observation
    _frames = [f for f in _tb.extract_tb(_e.__traceback__) if f.filename == "<program>"]
    _lines = ["Traceback (most recent call last):\\n"] + _tb.format_list(_frames) if _frames else []
    _report["error"] = "".join(_lines) + "".join(_tb.format_exception_only(type(_e), _e))
_report["calls"] = dict(image.session.calls)
_sys.stdout.flush()
print("\\n{marker}" + _json.dumps(_report))
"""


def build_program(code: str, image: np.ndarray, *, large_threshold: float | None = None, marker: str = "") -> str:
    """Wrap an agent's program in the harness (see the module docstring).

    Args:
        code: The agent's Python source.
        image: The task's ``H x W x 3`` uint8 image.
        large_threshold: The size tool's threshold, as in the env.
        marker: The report line's prefix (a random nonce by default).

    Returns:
        A self-contained Python script that imports numpy and toolgym only.
    """
    arr = np.ascontiguousarray(image, dtype=np.uint8)
    return _HARNESS.format(
        pixels=base64.b64encode(arr.tobytes()).decode("ascii"),
        height=arr.shape[0],
        width=arr.shape[1],
        threshold=None if large_threshold is None else float(large_threshold),
        source=code,
        marker=marker or _new_marker(),
    )


def _new_marker() -> str:
    return f"@@toolgym-vqa-{secrets.token_hex(8)}@@"


@dataclass(frozen=True)
class ProgramReport:
    """What the harness reported, read back from the sandbox's stdout.

    Attributes:
        printed: What the program printed (the marker line removed).
        result: ``execute_command``'s return value as text, else the last line the program printed, else None.
        error: The program's traceback, or None.
        calls: Image-API calls per tool name.
        completed: Whether the marker line came back (False: the run was killed, timed out or crashed hard).
    """

    printed: str
    result: str | None
    error: str | None
    calls: dict[str, int] = field(default_factory=dict)
    completed: bool = True


def read_program_output(stdout: str, marker: str) -> ProgramReport:
    """Split the sandbox's stdout into the program's printed output and the harness report."""
    at = stdout.rfind(marker)
    if at < 0:
        printed = stdout
        return ProgramReport(printed, _last_line(printed), None, {}, completed=False)
    printed = stdout[:at].rstrip("\n")
    line = stdout[at + len(marker) :].split("\n", 1)[0]
    try:
        report: dict[str, Any] = json.loads(line)
    except json.JSONDecodeError:
        return ProgramReport(printed, _last_line(printed), None, {}, completed=False)
    calls = {str(k): int(v) for k, v in dict(report.get("calls") or {}).items()}
    result = report.get("result") if report.get("has_result") else None
    if result is None and report.get("error") is None:
        result = _last_line(printed)
    return ProgramReport(printed, result, report.get("error"), calls)


def _last_line(text: str) -> str | None:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else None


def _clip(text: str, limit: int = OUTPUT_LIMIT) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n... [output cut: {len(text) - limit} more characters]"


@dataclass(frozen=True)
class ProgramCall:
    """One tool call of a program run, for the env to price (the arguments of ``TextEnv.record_tool_call``).

    Attributes:
        name: The tool's name (``"program"`` for the run itself).
        arguments: The arguments as recorded.
        output_chars: Characters of output the agent receives.
        wall_s: Measured wall-clock seconds.
    """

    name: str
    arguments: str
    output_chars: int = 0
    wall_s: float = 0.0


@dataclass(frozen=True)
class ProgramRun:
    """A program run as the env uses it.

    Attributes:
        observation: What the agent sees.
        answer: The program's result (the answer it gives when submitted), or None.
        feedback: A sentence for a reflector.
        boxes: Boxes to draw in the render (none for programs).
        report: The harness report.
        calls: The tool calls to price, in order: the ``program`` run, then one per image-API call.
    """

    observation: str
    answer: str | None
    feedback: str
    boxes: tuple[tuple[int, int, int, int], ...] = ()
    report: ProgramReport | None = None
    calls: tuple[ProgramCall, ...] = ()


def describe_run(report: ProgramReport, *, stderr: str = "", status: str = "") -> tuple[str, str]:
    """The observation and feedback texts of a run."""
    parts = []
    if report.printed.strip():
        parts.append("Program output:\n" + _clip(report.printed))
    if report.error:
        parts.append("Program error:\n" + _clip(report.error.rstrip()))
        last = report.error.strip().splitlines()[-1]
        feedback = f"The program raised an error: {last}"
    elif not report.completed:
        detail = status or "it was stopped before finishing"
        tail = ("\n" + _clip(stderr.strip())) if stderr.strip() else ""
        parts.append(f"Program did not finish: {detail}.{tail}")
        feedback = f"The program did not finish: {detail}."
    elif report.result is None:
        parts.append(
            "The program returned nothing and printed nothing: define execute_command(image) that returns "
            "the answer, or print it."
        )
        feedback = "The program gave no answer."
    else:
        parts.append(f"Result: {report.result!r}")
        feedback = f"The program returned {report.result!r}."
    return "\n".join(parts), feedback


@dataclass(frozen=True)
class Execution:
    """What a runner returns for one script.

    Attributes:
        stdout: Everything the script printed.
        stderr: Its standard error.
        status: Empty when the script ran to its end; otherwise why it stopped (``"timed out after 10 s"``).
        wall_s: Wall-clock seconds of the run.
    """

    stdout: str
    stderr: str = ""
    status: str = ""
    wall_s: float = 0.0


@runtime_checkable
class ProgramRunner(Protocol):
    """Runs a self-contained Python script in isolation (the env's ``program_runner``)."""

    def run(self, script: str, timeout_s: float) -> Execution:
        """Run ``script`` with a wall-clock limit and return what it printed."""
        ...

    def close(self) -> None:
        """Release the runner's processes."""
        ...


def default_runner() -> ProgramRunner:
    """The default runner: the code sandbox (:mod:`toolgym.sandbox`)."""
    from toolgym.envs.vqa.sandbox_runner import SandboxRunner

    return SandboxRunner()


_SAFE = re.compile(r"[^\x09\x0a\x20-\x7e\u00a0-\uffff]")


def run_program(
    code: str,
    image: np.ndarray,
    runner: ProgramRunner,
    timeout_s: float,
    *,
    large_threshold: float | None = None,
) -> ProgramRun:
    """Run ``code`` against ``image`` with ``runner`` and describe the outcome and the calls to price.

    Args:
        code: The agent's program.
        image: The task's ``H x W x 3`` uint8 image.
        runner: Runs the script (see :class:`ProgramRunner`).
        timeout_s: Wall-clock limit of the run.
        large_threshold: The size tool's threshold, as in the env.

    Returns:
        The run; its ``calls`` are one ``program`` call (its latency is the run's wall-clock time) and one
        call of each tool per image-API call the program made, for the caller to price.
    """
    marker = _new_marker()
    script = build_program(code, image, large_threshold=large_threshold, marker=marker)
    outcome = runner.run(script, timeout_s)
    report = read_program_output(_SAFE.sub("?", outcome.stdout), marker)
    observation, feedback = describe_run(report, stderr=outcome.stderr, status=outcome.status)
    calls = [ProgramCall("program", code[:200], len(observation), outcome.wall_s)]
    for tool, n in sorted(report.calls.items()):
        calls.extend(ProgramCall(tool, "(from the program)") for _ in range(n))
    answer = report.result if report.completed and not report.error else None
    return ProgramRun(observation, answer, feedback, report=report, calls=tuple(calls))
