"""Reading YAML while remembering where each value came from, for error messages with line numbers.

:func:`load_yaml` returns the data (as :func:`yaml.safe_load` would) and a :class:`LineMap` from each value's
path (``("policies", 1, "config", "seed")``) to its line in the file, so a validation error deep inside a
suite can say ``suite.yaml line 14``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from toolgym.error import ConfigError

__all__ = ["LineMap", "load_yaml"]

Path_ = tuple[Any, ...]


@dataclass
class LineMap:
    """Where each value of a YAML document starts (1-based lines).

    Attributes:
        source: The file name (or ``"<string>"``) used in messages.
        lines: Path of a value (keys and list indices) to its line.
    """

    source: str = "<suite>"
    lines: dict[Path_, int] = field(default_factory=dict)

    def line(self, path: Sequence[Any]) -> int | None:
        """The line of ``path``, or of its closest ancestor that has one."""
        p = tuple(path)
        while p:
            if p in self.lines:
                return self.lines[p]
            p = p[:-1]
        return self.lines.get((), None)

    def where(self, path: Sequence[Any]) -> str:
        """``"suite.yaml line 12"`` for ``path`` (``"suite.yaml"`` when the line is unknown).

        Example:
            >>> data, lines = load_yaml("name: x\\npolicies:\\n  - name: expert\\n", source="s.yaml")
            >>> lines.where(("policies", 0, "name"))
            's.yaml line 3'
        """
        line = self.line(path)
        return f"{self.source} line {line}" if line is not None else self.source


def _walk(node: yaml.Node, path: Path_, out: dict[Path_, int]) -> None:
    out.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            out[path + (key,)] = key_node.start_mark.line + 1
            _walk(value_node, path + (key,), out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, path + (i,), out)


def load_yaml(text: str, *, source: str = "<string>") -> tuple[Any, LineMap]:
    """Parse YAML text and map every value's path to its line.

    Args:
        text: The YAML document.
        source: The name shown in messages (usually the file path).

    Returns:
        ``(data, line_map)``.

    Raises:
        ConfigError: The text is not valid YAML; the message gives the line and column.

    Example:
        >>> load_yaml("a: [1, 2]\\nb:\\n  c: 3\\n")[1].lines[("b", "c")]
        3
        >>> load_yaml("a: [1, 2\\n", source="bad.yaml")
        Traceback (most recent call last):
        ...
        toolgym.error.ConfigError: bad.yaml line 2, column 1: expected valid YAML, got ...
    """
    try:
        data = yaml.safe_load(text)
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source} line {mark.line + 1}, column {mark.column + 1}" if mark is not None else source
        problem = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        raise ConfigError(f"{where}: expected valid YAML, got a syntax error ({problem}). Fix the file.") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: expected valid YAML, got {exc}. Fix the file.") from exc
    lines: dict[Path_, int] = {}
    if node is not None:
        _walk(node, (), lines)
    return data, LineMap(source, lines)
