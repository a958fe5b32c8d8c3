"""Exceptions raised by toolgym.

Every message follows one pattern: what was expected, what came, and what to do. All exceptions subclass
:class:`gymnasium.error.Error`, so code that already catches Gymnasium errors catches these too.

Malformed *actions* never raise: an environment answers them with an observation and
``info["invalid_action"] = True``. These exceptions are for programming and configuration errors.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from types import ModuleType

from gymnasium import error as gym_error

__all__ = [
    "ConfigError",
    "DataNotFoundError",
    "DependencyNotInstalled",
    "ResetNeeded",
    "StateError",
    "ToolgymError",
    "UnknownTaskError",
    "did_you_mean",
    "require",
]


def did_you_mean(value: str, choices: Iterable[str], n: int = 3) -> str:
    """Return a ``" Did you mean: a, b?"`` suffix with the closest choices, or ``""``.

    Args:
        value: What the user wrote.
        choices: The valid values.
        n: At most this many suggestions.

    Returns:
        A sentence to append to an error message (starting with a space), or an empty string.

    Example:
        >>> did_you_mean("serch", ["search", "lookup", "finish"])
        ' Did you mean: search?'
    """
    close = difflib.get_close_matches(value, list(choices), n=n, cutoff=0.5)
    return f" Did you mean: {', '.join(close)}?" if close else ""


class ToolgymError(gym_error.Error):
    """Base class of every toolgym exception."""


class ConfigError(ToolgymError, ValueError):
    """A constructor argument, option or config file is invalid."""


class UnknownTaskError(ConfigError, KeyError):
    """``options={"task_id": ...}`` names a task the environment does not have."""

    def __init__(self, task_id: object, env_name: str, known: Iterable[str] | None = None) -> None:
        """Build the message.

        Args:
            task_id: The id that was asked for.
            env_name: The environment's name, for the message.
            known: Some valid ids, for the suggestions (optional).
        """
        hint = did_you_mean(str(task_id), known) if known is not None else ""
        super().__init__(
            f"{env_name}: expected a task id of this environment, got {task_id!r}.{hint} "
            f"List the ids with env.unwrapped.task_ids()."
        )

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0])


class DataNotFoundError(ToolgymError, FileNotFoundError):
    """A dataset file is missing and could not be downloaded."""


class DependencyNotInstalled(ToolgymError, gym_error.DependencyNotInstalled):
    """An optional dependency is missing; the message says which extra to install."""


class ResetNeeded(ToolgymError, gym_error.ResetNeeded):
    """``step`` was called before ``reset`` or after the episode ended."""


class StateError(ToolgymError, ValueError):
    """``set_state`` received a state from another environment class or task source."""


def require(module: str, extra: str, purpose: str) -> ModuleType:
    """Import an optional dependency or raise :class:`DependencyNotInstalled` naming the extra.

    Args:
        module: The module to import, e.g. ``"transformers"``.
        extra: The toolgym extra that provides it, e.g. ``"llm"``.
        purpose: What needs it, for the message.

    Returns:
        The imported module.

    Raises:
        DependencyNotInstalled: The module cannot be imported.
    """
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise DependencyNotInstalled(
            f"{purpose} needs the package {module!r}, which is not installed: {exc}. "
            f'Run `pip install "toolgym[{extra}]"`.'
        ) from exc
