"""Turning sandbox results and test grades into the text an agent reads."""

from __future__ import annotations

from toolgym.envs.code.grading import Grade
from toolgym.sandbox import ExecResult, Limits

__all__ = ["cut", "format_result", "format_tests", "stop_reason"]


def cut(text: str, limit: int, *, keep: str = "head", what: str = "output") -> str:
    """Shorten ``text`` to about ``limit`` characters with a marker saying how much was cut.

    Args:
        text: The text.
        limit: Characters to keep.
        keep: ``"head"`` (keep the start) or ``"tail"`` (keep the end, for tracebacks).
        what: The noun in the marker.

    Example:
        >>> cut("abcdefghij", 4)
        'abcd\\n... [output cut: 6 more characters]'
    """
    if len(text) <= limit:
        return text
    n = len(text) - limit
    if keep == "tail":
        return f"... [{what} cut: {n} earlier characters]\n" + text[-limit:]
    return text[:limit] + f"\n... [{what} cut: {n} more characters]"


def stop_reason(res: ExecResult, limits: Limits | None = None) -> str:
    """Why an execution stopped, naming the configured limit (never a measured time, so it is reproducible).

    Example:
        >>> stop_reason(ExecResult(status="timeout", limit="wall_time"), Limits(wall_s=5))
        'stopped: the wall-clock limit of 5 s was reached'
    """
    lim = limits or Limits()
    if res.limit == "wall_time":
        return f"stopped: the wall-clock limit of {lim.wall_s:g} s was reached"
    if res.limit == "cpu_time":
        return f"stopped: the CPU time limit of {lim.cpu_s:g} s was reached"
    if res.limit == "output":
        return f"stopped: the output limit of {lim.output_limit_bytes} bytes was exceeded"
    if res.limit == "memory" and res.status != "error":
        return f"stopped: the memory limit of {lim.memory_mb} MiB was reached"
    return res.summary()


def format_result(
    res: ExecResult,
    *,
    max_output_chars: int = 2000,
    max_traceback_chars: int = 2000,
    limits: Limits | None = None,
) -> str:
    """The observation of one execution: output, the last expression's value, the error, how it ended.

    Example:
        >>> format_result(ExecResult(status="ok", stdout="hi\\n", value="42"))
        'hi\\nOut: 42'
    """
    parts: list[str] = []
    if res.stdout:
        out = cut(res.stdout, max_output_chars)
        if res.stdout_bytes > len(res.stdout.encode("utf-8", "replace")):
            out += f"\n... [{res.stdout_bytes} bytes written to stdout in total]"
        parts.append(out.rstrip("\n"))
    if res.stderr:
        parts.append("[stderr]\n" + cut(res.stderr, max_output_chars).rstrip("\n"))
    if res.value is not None:
        parts.append("Out: " + cut(res.value, max_output_chars))
    if res.traceback:
        parts.append(cut(res.traceback, max_traceback_chars, keep="tail", what="traceback").rstrip("\n"))
    if res.status in ("timeout", "killed", "exited", "rejected", "sandbox_error"):
        parts.append(f"[{stop_reason(res, limits)}]")
    elif res.limit is not None:  # e.g. a MemoryError from the memory limit: say which limit it was
        parts.append(f"[{res.limit.replace('_', ' ')} limit reached]")
    return "\n".join(parts) if parts else "(no output)"


def format_tests(grade: Grade, *, title: str = "Visible tests", max_chars: int = 4000) -> str:
    """A test report: the count, then one line per test (``PASS``/``FAIL``, and why it failed).

    Example:
        >>> from toolgym.envs.code.grading import TestOutcome
        >>> print(format_tests(Grade(1, 2, True, True, "", (TestOutcome("assert f(1) == 1", True),
        ...     TestOutcome("assert f(2) == 4", False, "output: 3")))))
        Visible tests: 1/2 passed.
        PASS assert f(1) == 1
        FAIL assert f(2) == 4  # output: 3
    """
    lines = [f"{title}: {grade.passed}/{grade.total} passed."]
    if grade.error:
        lines.append(grade.error[:500])
    for o in grade.outcomes:
        test = o.test.strip().replace("\n", "\n     ")
        lines.append(f"PASS {test}" if o.passed else f"FAIL {test}  # {o.detail[:300]}")
    return cut("\n".join(lines), max_chars, what="report")
