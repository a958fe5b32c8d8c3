"""Looking up toolgym's registered environments without constructing them."""

from __future__ import annotations

import inspect
from typing import Any

import gymnasium as gym

from toolgym.core import DataStatus, TextEnv
from toolgym.error import DependencyNotInstalled

__all__ = ["EnvDescription", "describe", "env_class", "family_of", "toolgym_ids"]


def toolgym_ids() -> list[str]:
    """Every registered ``toolgym/`` id, sorted."""
    return sorted(i for i in gym.registry if i.startswith("toolgym/"))


def env_class(env_id: str) -> type[gym.Env[Any, Any]]:
    """The class behind a registered id, imported but not constructed."""
    entry = gym.spec(env_id).entry_point
    creator: Any = gym.envs.registration.load_env_creator(entry) if isinstance(entry, str) else entry
    return creator


def family_of(env_id: str) -> str:
    """The family of a registered id (``"search"``, ``"code"``...).

    ``"other"`` for an env without one, an unregistered id, or one whose extra is not installed.
    """
    try:
        return str(getattr(env_class(env_id), "family", "other"))
    except (DependencyNotInstalled, gym.error.Error):
        return "other"


class EnvDescription(tuple):
    """``(family, summary, status)`` of a registered id."""

    __slots__ = ()

    def __new__(cls, family: str, summary: str, status: DataStatus) -> EnvDescription:
        """Bundle the three fields."""
        return super().__new__(cls, (family, summary, status))

    @property
    def family(self) -> str:
        """The env family (``"search"``, ``"code"``...)."""
        return self[0]

    @property
    def summary(self) -> str:
        """The first line of the env class's docstring."""
        return self[1]

    @property
    def status(self) -> DataStatus:
        """Where the tasks come from and whether they are here."""
        return self[2]


def describe(env_id: str) -> EnvDescription:
    """Family, one-line summary and data status of a registered id (the class is imported, not built)."""
    try:
        cls = env_class(env_id)
    except DependencyNotInstalled as exc:  # its family's extra is not installed
        return EnvDescription("other", "", DataStatus("needs an extra", False, str(exc)))
    spec = gym.spec(env_id)
    summary = (inspect.getdoc(cls) or "").strip().split("\n", 1)[0]
    if isinstance(cls, type) and issubclass(cls, TextEnv):
        return EnvDescription(cls.family, summary, cls.data_status(**spec.kwargs))
    return EnvDescription("other", summary, DataStatus("unknown", True))
