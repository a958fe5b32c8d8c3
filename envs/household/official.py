"""ALFWorld's official engine (TextWorld's PDDL engine on Fast Downward) in a worker process.

The official engine keeps global state in a C library and is not thread-safe, so each
:class:`OfficialEngine` owns one child process (a fresh interpreter running
:mod:`toolgym.envs.household._worker`) that loads ALFWorld's game files with
TextWorld's ``PddlEnv`` wrapped in ALFWorld's ``AlfredDemangler`` - the same classes ``AlfredTWEnv`` plays
with - and answers ``load`` / ``reset`` / ``step`` / ``replay`` requests over a pipe.

``accelerate=True`` memoises three pure functions inside the worker: Fast Downward's PDDL-to-SAS translation
(per game; a reset of an already-seen game drops from ~0.9 s to ~0.15 s) and TatSu's parsing of TextWorld's
grammar templates and queries (steps get about 3x faster). The engine's behaviour is unchanged - the results
are the same objects the engine would build, copied where the engine mutates them - and a test compares both
modes step by step. The speed benchmark measures the official engine as ALFWorld ships it (``accelerate=False``).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from toolgym.core import DataStatus, Transition
from toolgym.envs.household.engine import apply as apply_action
from toolgym.envs.household.env import ALFWorldEnv, _not_admissible
from toolgym.envs.household.games import game_file
from toolgym.error import ToolgymError, require
from toolgym.parsing import ParsedAction

__all__ = ["ALFWorldOfficialEnv", "EngineReply", "OfficialEngine", "OfficialEngineError", "official_available"]

logger = logging.getLogger(__name__)


class OfficialEngineError(ToolgymError, RuntimeError):
    """The official engine's worker failed or did not answer in time."""


@dataclass(frozen=True)
class EngineReply:
    """What the official engine says after a reset or a step.

    Attributes:
        feedback: The observation text.
        admissible: The admissible commands, in the engine's order.
        won: The engine's ``won`` flag.
    """

    feedback: str
    admissible: tuple[str, ...]
    won: bool


def official_available() -> tuple[bool, str]:
    """Whether ``alfworld`` and ``textworld`` can be imported here (without importing them)."""
    import importlib.util

    missing = [m for m in ("alfworld", "textworld", "fast_downward") if importlib.util.find_spec(m) is None]
    if missing:
        return False, f'the official engine needs {missing}: run `pip install "toolgym[alfworld]"` (alfworld==0.4.2).'
    return True, ""


class OfficialEngine:
    """A worker process running ALFWorld's official engine (one game at a time).

    Args:
        timeout_s: How long to wait for an answer (a first reset translates the game: about a second).
        accelerate: Memoise the engine's pure, slow functions in the worker (see the module).

    Raises:
        DependencyNotInstalled: ``alfworld`` is not installed.
    """

    def __init__(self, *, timeout_s: float = 300.0, accelerate: bool = True) -> None:
        """Start nothing yet: the worker starts on the first request."""
        ok, detail = official_available()
        if not ok:
            require("alfworld", "alfworld", "toolgym/ALFWorld-Official-v0")
        self.timeout_s = float(timeout_s)
        self.accelerate = bool(accelerate)
        self._proc: subprocess.Popen[bytes] | None = None
        self._read: Connection | None = None
        self._write: Connection | None = None
        self._loaded: str | None = None

    def _start(self) -> None:
        parent_read, child_write = os.pipe()
        child_read, parent_write = os.pipe()
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        cmd = [sys.executable, "-m", "toolgym.envs.household._worker", str(child_read), str(child_write)]
        cmd.append("1" if self.accelerate else "0")
        try:
            proc = subprocess.Popen(  # noqa: S603 - our own worker module, run by this interpreter
                cmd, pass_fds=(child_read, child_write), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, env=env
            )
        finally:
            os.close(child_read)
            os.close(child_write)
        self._proc = proc
        self._read = Connection(parent_read, writable=False)
        self._write = Connection(parent_write, readable=False)
        self._loaded = None

    def _request(self, *msg: Any) -> tuple[Any, ...]:
        if self._read is None or self._proc is None or self._proc.poll() is not None:
            self.close()
            self._start()
        read, write = self._read, self._write
        assert read is not None and write is not None
        try:
            write.send(msg)
            if not read.poll(self.timeout_s):
                self.close()
                raise OfficialEngineError(
                    f"official ALFWorld engine: expected an answer to {msg[0]!r} within {self.timeout_s:g} s, "
                    "got none; "
                    "the worker was stopped. Raise timeout_s if the machine is busy."
                )
            reply = read.recv()
        except (EOFError, BrokenPipeError, ConnectionResetError) as exc:
            self.close()
            raise OfficialEngineError(
                f"official ALFWorld engine: the worker process died while answering {msg[0]!r} ({exc}). "
                "Check that `import alfworld, textworld` works in this Python."
            ) from exc
        if reply[0] != "ok":
            raise OfficialEngineError(f"official ALFWorld engine: {msg[0]!r} failed in the worker: {reply[1]}")
        return reply

    @staticmethod
    def _reply(reply: tuple[Any, ...]) -> EngineReply:
        return EngineReply(reply[1], tuple(reply[2]), bool(reply[3]))

    def reset(self, key: str, game: Mapping[str, Any]) -> EngineReply:
        """Load a game (when it is not the loaded one) and reset it.

        Args:
            key: A name for the game (the worker reloads only when it changes).
            game: The ``game.tw-pddl`` content.
        """
        if key != self._loaded:
            self._request("load", key, dict(game))
            self._loaded = key
        return self._reply(self._request("reset"))

    def step(self, command: str) -> EngineReply:
        """Send one command (exactly as given)."""
        return self._reply(self._request("step", command))

    def replay(self, key: str, game: Mapping[str, Any], commands: Sequence[str]) -> EngineReply:
        """Reset ``game`` and send ``commands``; return the last reply."""
        if key != self._loaded:
            self._request("load", key, dict(game))
            self._loaded = key
        return self._reply(self._request("replay", tuple(commands)))

    def close(self) -> None:
        """Stop the worker (it restarts on the next request)."""
        read, write, proc = self._read, self._write, self._proc
        self._read = self._write = self._proc = None
        self._loaded = None
        if write is not None:
            try:
                if proc is not None and proc.poll() is None:
                    write.send(("close",))
                    if read is not None:
                        read.poll(5.0)
            except (OSError, EOFError, BrokenPipeError):
                pass
            write.close()
        if read is not None:
            read.close()
        if proc is not None:
            try:
                proc.wait(5.0)
            except subprocess.TimeoutExpired:
                proc.terminate()
                proc.wait(5.0)

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - never raise from a finaliser
            logger.debug("closing the official engine's worker failed", exc_info=True)


class ALFWorldOfficialEnv(ALFWorldEnv):
    """ALFWorld's real games on ALFWorld's *official* engine, behind the same API as ``toolgym/ALFWorld-v0``.

    ## Description

    The reference the native engine is measured against: the official TextWorld/PDDL engine of
    ``alfworld==0.4.2`` (extra ``alfworld``), run in a worker process because it is not thread-safe. About
    15-50 steps per second and about a second per reset of a new game. Observations, admissible commands and
    ``won`` come from the official engine; a native shadow of the game follows every command so that the
    expert planner and ``state_key()`` work as in ``toolgym/ALFWorld-v0``.

    ## Action Space

    As ``toolgym/ALFWorld-v0`` (the same normalisation; ``think: ...`` answers ``OK.`` without reaching the
    engine; ``toggle X`` is sent as ``use X``). A command the engine does not admit gets its
    "Nothing happens." and ``info["invalid_action"] = True``.

    ## Observation Space

    Text: the official engine's feedback; ``info["admissible_actions"]`` (the engine's list), ``info["won"]``,
    ``info["task_type"]``.

    ## Rewards

    1 on the step the engine reports ``won``, else 0 (no priced tools).

    ## Episode End

    Terminated when won; truncated after ``max_steps`` (default 50) steps.

    ## Arguments

    * ``split``, ``task_types`` - as ``toolgym/ALFWorld-v0``.
    * ``timeout_s`` - how long to wait for the worker (default 300 s).
    * ``accelerate`` - memoise the engine's pure, slow functions in the worker (default True: about 3x
      faster steps and 6x faster repeated resets, same behaviour; see :mod:`toolgym.envs.household.official`).
    * plus the shared :class:`~toolgym.core.TextEnv` arguments.

    Snapshots work by replay: ``set_state`` records the command history and the worker replays it before the
    next step. The env holds a process, so it is not picklable; ``close()`` stops the worker.

    ## Version History

    * v0: initial version.
    """

    picklable = False
    heavy = True

    def __init__(
        self,
        split: str = "valid_unseen",
        task_types: Sequence[str | int] | str | int | None = None,
        timeout_s: float = 300.0,
        accelerate: bool = True,
        **kwargs: Any,
    ) -> None:
        """Create the env (see the class docstring for the arguments); the worker starts at the first reset."""
        super().__init__(split=split, task_types=task_types, **kwargs)
        self.engine = OfficialEngine(timeout_s=timeout_s, accelerate=accelerate)
        self._history: tuple[str, ...] = ()
        self._official_adm: tuple[str, ...] = ()
        self._synced = True

    @classmethod
    def data_status(cls, split: str = "valid_unseen", **kwargs: Any) -> DataStatus:
        """Available when the split's archive is present and ``alfworld`` is installed."""
        status = ALFWorldEnv.data_status(split)
        ok, detail = official_available()
        if not ok:
            return DataStatus(status.source + " + official engine", False, detail)
        return DataStatus(status.source + " + official engine (alfworld 0.4.2)", status.available, status.detail)

    def _reset_task(self, task_id: str | None, options: Mapping[str, Any]) -> tuple[str, str]:
        _, tid = super()._reset_task(task_id, options)
        rec = self.record(tid)
        reply = self.engine.reset(rec.task_id, game_file(rec))
        self._history = ()
        self._official_adm = reply.admissible
        self._won = reply.won
        self._synced = True
        return reply.feedback, tid

    def _act(self, action: ParsedAction) -> Transition:
        if action.name == "think":
            return Transition(observation="OK.")
        world, hs = self._world, self.house_state
        assert world is not None and hs is not None
        cmd = action.argument
        if not self._synced:
            rec = self.record(self._task_id)
            self.engine.replay(rec.task_id, game_file(rec), self._history)
            self._synced = True
        adm_before = self._official_adm
        admissible = cmd in adm_before
        reply = self.engine.step(cmd)
        self._history = (*self._history, cmd)
        self._official_adm = reply.admissible
        act = self._options().get(cmd)
        if act is not None:  # keep the native shadow in step (for the expert and state keys)
            self._hs = apply_action(world, hs, act)[0]
        self._won = reply.won
        if not admissible:
            return Transition(observation=reply.feedback, invalid=True, feedback=_not_admissible(cmd, adm_before))
        if reply.won:
            return Transition(
                observation=reply.feedback,
                reward=1.0,
                terminated=True,
                success=True,
                score=1.0,
                feedback=f"The task is done: {world.task}",
            )
        return Transition(observation=reply.feedback)

    def admissible_actions(self) -> list[str] | None:
        """The official engine's admissible commands."""
        return list(self._official_adm) if self.house_state is not None else None

    def _get_state(self) -> tuple[Any, ...]:
        return (*super()._get_state(), self._history, self._official_adm)

    def _set_state(self, state: tuple[Any, ...]) -> None:
        *native, history, adm = state
        super()._set_state((native[0], native[1], native[2]))
        if history != self._history:
            self._synced = False
        self._history, self._official_adm = history, adm

    def close(self) -> None:
        """Stop the worker process."""
        self.engine.close()
        super().close()

    def __getstate__(self) -> dict[str, Any]:
        raise TypeError(f"{type(self).__name__} holds a worker process and cannot be pickled.")
