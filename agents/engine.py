"""The rollout engine: one policy over one or many environments, with batched policy calls.

:func:`rollout` runs a list of episodes (seeds and optional task ids) with ``num_envs`` environments side by
side. At each round it asks the policy for the actions of every running episode in **one**
:meth:`~toolgym.agents.base.Policy.act_batch` call, so a language-model policy sends the model one batch of
``num_envs`` prompts instead of ``num_envs`` separate calls; then it steps each environment. When an episode
ends, the next one starts in its slot. Results come back in the order of the episodes asked for, whatever
``num_envs`` is.

Each episode yields an :class:`Episode`: the :class:`~toolgym.records.EpisodeResult` a benchmark records
(success, score, reward, tool costs, steps, tokens, wall time, error) and the full
:class:`~toolgym.records.Trajectory` (every step with its thought, tool calls and costs).

Budgets: ``max_steps`` caps the steps of each trial of an episode (on top of the env's own limit; a multi-trial
policy may retry a trial it cut, as one the env truncated), ``episode_time_limit_s`` its wall-clock time, and
``time_budget_s`` the whole run (no episode starts after it is spent, and the running ones stop). Failures are
contained: an exception from the policy (a language-model backend that is down) or from an env marks that
episode failed with the reason in ``EpisodeResult.error``, and the run goes on with the others.

Multi-trial policies (Reflexion) define ``end_episodes(trajectories, infos, slots) -> list[bool]``; for each
True the engine re-runs the same task (same seed and task id) in that slot, with ``info["trial"]`` counting
the trials, and the :class:`Episode` keeps every trial. A policy may also define ``trial_metadata(slot) ->
dict``, read when each trial starts and kept in that trial's ``metadata`` (Reflexion: the reflections in its
memory).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym

from toolgym.agents.base import Policy, observation_text
from toolgym.error import ConfigError
from toolgym.records import EpisodeResult, Step, Trajectory, to_jsonable

__all__ = ["Episode", "EpisodeSpec", "rollout", "run_episode"]

logger = logging.getLogger(__name__)

#: ``info`` keys copied into each :class:`~toolgym.records.Step`'s ``info``.
STEP_INFO_KEYS = ("step", "success", "score", "task_reward", "feedback", "cost_total")

EnvSource = str | gym.Env | Sequence[gym.Env] | Callable[[], gym.Env]


@dataclass(frozen=True)
class EpisodeSpec:
    """One episode to run: the reset seed and, optionally, the task.

    Attributes:
        seed: Passed to ``env.reset(seed=...)``.
        task_id: Passed as ``options={"task_id": ...}`` when given.
        options: Other reset options.
    """

    seed: int | None = None
    task_id: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)

    def reset_options(self) -> dict[str, Any] | None:
        """The ``options`` argument of ``env.reset``."""
        opts = dict(self.options)
        if self.task_id is not None:
            opts["task_id"] = self.task_id
        return opts or None


@dataclass(frozen=True)
class Episode:
    """The outcome of one episode.

    Attributes:
        result: The summary a benchmark records.
        trajectory: The (last trial's) full trajectory.
        trials: Every trial's trajectory in order, for multi-trial policies (Reflexion); ``(trajectory,)``
            otherwise.
    """

    result: EpisodeResult
    trajectory: Trajectory
    trials: tuple[Trajectory, ...] = ()


@dataclass
class _Slot:
    env: gym.Env
    index: int = -1
    spec: EpisodeSpec = field(default_factory=EpisodeSpec)
    obs: Any = None
    info: dict[str, Any] = field(default_factory=dict)
    steps: list[Step] = field(default_factory=list)
    trials: list[Trajectory] = field(default_factory=list)
    trial: int = 0
    task_id: str = ""
    question: str = ""
    start: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    llm_s: float = 0.0
    error: str | None = None
    stopped_by: str | None = None
    trial_meta: dict[str, Any] = field(default_factory=dict)

    @property
    def busy(self) -> bool:
        return self.index >= 0


def _env_id(env: gym.Env) -> str:
    spec = getattr(env, "spec", None)
    if spec is not None and getattr(spec, "id", None):
        return str(spec.id)
    return type(env.unwrapped).__name__


def _build_envs(
    env: EnvSource, num_envs: int, env_kwargs: Mapping[str, Any] | None
) -> tuple[list[gym.Env], Callable[[], gym.Env] | None, str]:
    """Return the envs, the factory that built them (``None`` for envs passed in) and the env id."""
    if isinstance(env, str):
        kwargs = dict(env_kwargs or {})
        env_id = env

        def factory() -> gym.Env:
            return gym.make(env_id, **kwargs)

        return [factory() for _ in range(num_envs)], factory, env_id
    if env_kwargs:
        raise ConfigError("rollout: env_kwargs apply only when env is an id; got an env object and env_kwargs.")
    if isinstance(env, gym.Env):
        if num_envs != 1:
            raise ConfigError(
                f"rollout: expected num_envs=1 with a single env object, got num_envs={num_envs}. Pass an env id "
                "or a factory (callable) to run several side by side, or a list of envs."
            )
        return [env], None, _env_id(env)
    if isinstance(env, Sequence) and not isinstance(env, str):
        envs = list(env)
        if not envs or not all(isinstance(e, gym.Env) for e in envs):
            raise ConfigError(f"rollout: expected a non-empty list of gymnasium envs, got {env!r}.")
        return envs, None, _env_id(envs[0])
    if callable(env):
        envs = [env() for _ in range(num_envs)]
        if not all(isinstance(e, gym.Env) for e in envs):
            raise ConfigError("rollout: expected the env factory to return gymnasium envs.")
        return envs, env, _env_id(envs[0])
    raise ConfigError(
        f"rollout: expected an env id (str), a gymnasium env, a list of envs or a factory, got {type(env).__name__}."
    )


def _episode_specs(
    episodes: int | Sequence[EpisodeSpec] | None,
    seeds: Sequence[int] | None,
    task_ids: Sequence[str] | None,
) -> list[EpisodeSpec]:
    if episodes is not None and not isinstance(episodes, int):
        specs = list(episodes)
        if seeds is not None or task_ids is not None:
            raise ConfigError("rollout: give either a list of EpisodeSpec or seeds/task_ids, not both.")
        if not all(isinstance(s, EpisodeSpec) for s in specs):
            raise ConfigError("rollout: expected episodes to be an int or a list of EpisodeSpec.")
        return specs
    if isinstance(episodes, bool) or (isinstance(episodes, int) and episodes < 0):
        raise ConfigError(f"rollout: expected episodes to be a non-negative int, got {episodes!r}.")
    n = episodes
    for name, seq in (("seeds", seeds), ("task_ids", task_ids)):
        if seq is not None:
            if n is None:
                n = len(seq)
            elif len(seq) != n:
                raise ConfigError(f"rollout: expected {n} {name} (one per episode), got {len(seq)}.")
    if n is None:
        raise ConfigError("rollout: expected episodes=N, seeds=[...] or task_ids=[...] to say what to run.")
    seed_list = list(seeds) if seeds is not None else list(range(n))
    return [EpisodeSpec(seed_list[i], None if task_ids is None else str(task_ids[i])) for i in range(n)]


def _question(text: str) -> str:
    """The task text without a leading ``Question:`` (the trajectory renders its own)."""
    stripped = text.lstrip()
    return stripped[len("question:") :].strip() if stripped.lower().startswith("question:") else text


def _describe(exc: BaseException) -> str:
    msg = str(exc).strip().replace("\n", " ")
    return f"{type(exc).__name__}: {msg[:500]}" if msg else type(exc).__name__


def rollout(
    policy: Policy,
    env: EnvSource,
    *,
    episodes: int | Sequence[EpisodeSpec] | None = None,
    seeds: Sequence[int] | None = None,
    task_ids: Sequence[str] | None = None,
    num_envs: int = 1,
    max_steps: int | None = None,
    episode_time_limit_s: float | None = None,
    time_budget_s: float | None = None,
    env_kwargs: Mapping[str, Any] | None = None,
    on_episode: Callable[[Episode], None] | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> list[Episode]:
    """Run ``policy`` on a list of episodes, ``num_envs`` at a time, with batched policy calls.

    Args:
        policy: A :class:`~toolgym.agents.base.Policy` (see :func:`toolgym.agents.make_policy`).
        env: An env id (built ``num_envs`` times with ``gym.make(env, **env_kwargs)`` and closed at the end),
            an env factory (likewise), a gymnasium env (``num_envs=1``) or a list of envs (one slot each;
            ``num_envs`` is ignored). Envs passed in are not closed.
        episodes: How many episodes (seeds ``0..N-1``), or a list of :class:`EpisodeSpec`.
        seeds: Reset seeds, one per episode.
        task_ids: Task ids, one per episode (reset with ``options={"task_id": ...}``).
        num_envs: How many episodes run side by side.
        max_steps: Stop an episode's trial after this many steps (the last step is marked truncated and the trial's
            ``metadata["stopped_by"]`` is ``"max_steps"``; a multi-trial policy may retry it); ``None`` leaves it to
            the env's own limit.
        episode_time_limit_s: Stop an episode that has run this long (``metadata["stopped_by"]``).
        time_budget_s: Stop the whole run after this long: running episodes stop, the rest never start.
        env_kwargs: Keyword arguments for ``gym.make`` when ``env`` is an id.
        on_episode: Called with each :class:`Episode` as soon as it ends (e.g. to append it to a file).
        metadata: Added to every result's ``metadata``.

    Returns:
        One :class:`Episode` per episode run, in the order asked for. Episodes the time budget never started
        are absent.

    Example:
        >>> from toolgym.agents import make_policy
        >>> eps = rollout(make_policy("expert"), "toolgym/ToolChoice-Arithmetic-v0", episodes=4, num_envs=2)
        >>> [e.result.success for e in eps]
        [True, True, True, True]
    """
    if isinstance(num_envs, bool) or not isinstance(num_envs, int) or num_envs < 1:
        raise ConfigError(f"rollout: expected num_envs to be a positive int, got {num_envs!r}.")
    if max_steps is not None and (not isinstance(max_steps, int) or max_steps < 1):
        raise ConfigError(f"rollout: expected max_steps to be a positive int or None, got {max_steps!r}.")
    for name, value in (("episode_time_limit_s", episode_time_limit_s), ("time_budget_s", time_budget_s)):
        if value is not None and (not isinstance(value, (int, float)) or value <= 0):
            raise ConfigError(f"rollout: expected {name} to be a positive number or None, got {value!r}.")
    for method in ("reset", "act_batch"):
        if not callable(getattr(policy, method, None)):
            raise ConfigError(
                f"rollout: expected a Policy with reset/act/act_batch, got {type(policy).__name__} without "
                f"{method}(). Subclass toolgym.agents.BasePolicy or build one with toolgym.agents.make_policy."
            )
    specs = _episode_specs(episodes, seeds, task_ids)
    if not specs:
        return []
    n = min(num_envs, len(specs)) if isinstance(env, str) or callable(env) else num_envs
    envs, factory, env_id = _build_envs(env, n, env_kwargs)
    engine = _Engine(
        policy,
        envs,
        env_id,
        factory=factory,
        max_steps=max_steps,
        episode_time_limit_s=episode_time_limit_s,
        time_budget_s=time_budget_s,
        on_episode=on_episode,
        metadata=dict(metadata or {}),
    )
    try:
        return engine.run(specs)
    finally:
        if factory is not None:
            for e in (s.env for s in engine.slots):
                try:
                    e.close()
                except Exception:  # closing must not hide the results
                    logger.exception("closing %s failed", env_id)


def run_episode(
    policy: Policy, env: gym.Env, *, seed: int | None = None, task_id: str | None = None, **kwargs: Any
) -> Episode:
    """Run one episode of ``policy`` in ``env`` (a shortcut for :func:`rollout` with one episode).

    Returns:
        The :class:`Episode`.
    """
    return rollout(policy, env, episodes=[EpisodeSpec(seed, task_id)], **kwargs)[0]


class _Engine:
    def __init__(
        self,
        policy: Policy,
        envs: list[gym.Env],
        env_id: str,
        *,
        factory: Callable[[], gym.Env] | None,
        max_steps: int | None,
        episode_time_limit_s: float | None,
        time_budget_s: float | None,
        on_episode: Callable[[Episode], None] | None,
        metadata: dict[str, Any],
    ) -> None:
        self.policy = policy
        self.slots = [_Slot(env=e) for e in envs]
        self.env_id = env_id
        self.factory = factory
        self.max_steps = max_steps
        self.episode_time_limit_s = episode_time_limit_s
        self.time_budget_s = time_budget_s
        self.on_episode = on_episode
        self.metadata = metadata
        self.policy_name = str(getattr(policy, "name", type(policy).__name__))
        self.deadline = float("inf")

    # -------------------------------------------------------------------------------- main loop
    def run(self, specs: list[EpisodeSpec]) -> list[Episode]:
        start = time.perf_counter()
        if self.time_budget_s is not None:
            self.deadline = start + self.time_budget_s
        queue = deque(enumerate(specs))
        done: dict[int, Episode] = {}
        for i, slot in enumerate(self.slots):
            self._fill(slot, i, queue, done)
        while any(s.busy for s in self.slots):
            now = time.perf_counter()
            for i, slot in enumerate(self.slots):
                if not slot.busy:
                    continue
                if now >= self.deadline:
                    slot.stopped_by = "time_budget"
                    self._finish(slot, i, queue, done)
                elif self.episode_time_limit_s is not None and now - slot.start >= self.episode_time_limit_s:
                    slot.stopped_by = "episode_time_limit"
                    self._finish(slot, i, queue, done)
            active = [i for i, s in enumerate(self.slots) if s.busy]
            if not active:
                break
            actions = self._act(active)
            ended: list[int] = []
            for i, action in zip(active, actions):
                slot = self.slots[i]
                if action is None:  # the policy failed for this episode
                    ended.append(i)
                    continue
                if self._step(slot, action):
                    ended.append(i)
            self._end(ended, queue, done)
        return [done[k] for k in sorted(done)]

    def _act(self, active: list[int]) -> list[Any]:
        observations = [self.slots[i].obs for i in active]
        infos = [self.slots[i].info for i in active]
        try:
            actions = list(self.policy.act_batch(observations, infos, slots=active))
            if len(actions) != len(active):
                raise ConfigError(
                    f"{type(self.policy).__name__}.act_batch: expected {len(active)} actions, got {len(actions)}."
                )
            return actions
        except Exception as exc:
            if len(active) == 1:
                self.slots[active[0]].error = _describe(exc)
                logger.warning("episode %d failed: %s", self.slots[active[0]].index, _describe(exc))
                return [None]
            logger.warning("batched act failed (%s); retrying the %d episodes one by one", _describe(exc), len(active))
        out: list[Any] = []
        for i in active:  # isolate the failing episodes
            slot = self.slots[i]
            try:
                act = getattr(self.policy, "act", None)
                if callable(act):
                    out.append(act(slot.obs, slot.info, slot=i))
                else:
                    out.append(self.policy.act_batch([slot.obs], [slot.info], slots=[i])[0])
            except Exception as exc:
                slot.error = _describe(exc)
                logger.warning("episode %d failed: %s", slot.index, slot.error)
                out.append(None)
        return out

    def _step(self, slot: _Slot, action: Any) -> bool:
        """Step one env; return whether its episode (trial) ended."""
        usage = dict(getattr(action, "usage", None) or {})
        slot.prompt_tokens += int(usage.get("prompt_tokens", 0))
        slot.completion_tokens += int(usage.get("completion_tokens", 0))
        slot.llm_s += float(usage.get("llm_s", 0.0))
        try:
            obs, reward, terminated, truncated, info = slot.env.step(action)
        except Exception as exc:
            slot.error = _describe(exc)
            logger.warning("episode %d: env.step failed: %s", slot.index, slot.error)
            return True
        info = dict(info)
        stopped = False
        if not (terminated or truncated) and self.max_steps is not None and len(slot.steps) + 1 >= self.max_steps:
            truncated, stopped = True, True
        step_info = {k: info[k] for k in STEP_INFO_KEYS if k in info}
        if usage:
            step_info["usage"] = usage
        raw = getattr(action, "raw", None)
        if raw is not None and raw != str(action):  # the model's whole output, for debugging (never trained on)
            step_info["raw"] = raw
        slot.steps.append(
            Step(
                action=str(action),
                observation=observation_text(obs),
                reward=float(reward),
                terminated=bool(terminated),
                truncated=bool(truncated),
                thought=getattr(action, "thought", None),
                cost=float(info.get("cost", 0.0)),
                tool_calls=tuple(to_jsonable(info.get("tool_calls", ()))),
                invalid_action=bool(info.get("invalid_action", False)),
                info=to_jsonable(step_info),
            )
        )
        slot.obs, slot.info = obs, info
        if stopped:
            slot.stopped_by = "max_steps"
        return bool(terminated or truncated)

    # -------------------------------------------------------------------------------- episode boundaries
    def _fill(self, slot: _Slot, i: int, queue: deque, done: dict[int, Episode]) -> None:
        """Start the next queued episode in a free slot (skipping those whose reset fails)."""
        while queue and time.perf_counter() < self.deadline:
            index, spec = queue.popleft()
            slot.index, slot.spec = index, spec
            slot.steps, slot.trials, slot.trial = [], [], 0
            slot.prompt_tokens = slot.completion_tokens = 0
            slot.llm_s = 0.0
            slot.error = slot.stopped_by = None
            slot.task_id = spec.task_id or ""
            slot.question = ""
            slot.start = time.perf_counter()
            if self._reset(slot, i):
                return
            self._record(slot, done)  # the reset failed: record the error and try the next episode
        slot.index = -1

    def _reset(self, slot: _Slot, i: int) -> bool:
        options = slot.spec.reset_options()
        if slot.trial > 0:
            options = {**(options or {}), "task_id": slot.task_id}
        try:
            obs, info = slot.env.reset(seed=slot.spec.seed, options=options)
            info = dict(info)
            if slot.trial == 0:
                slot.task_id = str(info.get("task_id", slot.task_id))
                slot.question = _question(observation_text(obs))
            slot.obs, slot.info = obs, info
            # the reset seed tells a sampling policy which episode this is (see LLMPolicy._sample_seeds)
            self.policy.reset(obs, {**info, "trial": slot.trial, "reset_seed": slot.spec.seed}, env=slot.env, slot=i)
            hook = getattr(self.policy, "trial_metadata", None)
            slot.trial_meta = dict(to_jsonable(hook(i))) if callable(hook) else {}
        except Exception as exc:
            slot.error = _describe(exc)
            logger.warning("episode %d: reset failed: %s", slot.index, slot.error)
            self._replace_env(slot)
            return False
        slot.steps = []
        return True

    def _replace_env(self, slot: _Slot) -> None:
        """After a failed reset, swap in a fresh env where the engine built them (wrapper state may be stale)."""
        if self.factory is None:
            return
        try:
            fresh = self.factory()
        except Exception:
            logger.exception("rebuilding the env of a failed reset failed; keeping the old one")
            return
        try:
            slot.env.close()
        except Exception:
            logger.exception("closing the env of a failed reset failed")
        slot.env = fresh

    def _trajectory(self, slot: _Slot) -> Trajectory:
        metadata: dict[str, Any] = {
            **slot.trial_meta,
            "policy": self.policy_name,
            "seed": slot.spec.seed,
            "trial": slot.trial,
        }
        if slot.stopped_by:
            metadata["stopped_by"] = slot.stopped_by
        traj = Trajectory(env_id=self.env_id, task_id=slot.task_id, question=slot.question, metadata=metadata)
        for step in slot.steps:
            traj = traj.with_step(step)
        if not slot.steps:  # success and score as the reset left them
            traj = Trajectory(
                traj.env_id,
                traj.task_id,
                traj.question,
                (),
                bool(slot.info.get("success", False)),
                float(slot.info.get("score", 0.0)),
                traj.metadata,
            )
        return traj

    def _end(self, ended: list[int], queue: deque, done: dict[int, Episode]) -> None:
        """Handle the episodes (trials) that ended this round: ask a multi-trial policy, then retry or finish."""
        if not ended:
            return
        for i in ended:
            self.slots[i].trials.append(self._trajectory(self.slots[i]))
        retry = [False] * len(ended)
        hook = getattr(self.policy, "end_episodes", None)
        # a trial cut by max_steps failed like one the env truncated: the policy may retry it; time limits end all
        eligible = [i for i in ended if self.slots[i].error is None and self.slots[i].stopped_by in (None, "max_steps")]
        if callable(hook) and eligible and time.perf_counter() < self.deadline:
            try:
                flags = list(
                    hook([self.slots[i].trials[-1] for i in eligible], [self.slots[i].info for i in eligible], eligible)
                )
                for i, flag in zip(eligible, flags):
                    retry[ended.index(i)] = bool(flag)
            except Exception as exc:
                for i in eligible:
                    self.slots[i].error = _describe(exc)
                logger.warning("end_episodes failed: %s", _describe(exc))
        for i, again in zip(ended, retry):
            slot = self.slots[i]
            if again:
                slot.trial += 1
                slot.stopped_by = None
                if self._reset(slot, i):
                    continue
            self._finish(slot, i, queue, done, already_appended=True)

    def _finish(
        self, slot: _Slot, i: int, queue: deque, done: dict[int, Episode], *, already_appended: bool = False
    ) -> None:
        if not already_appended:
            slot.trials.append(self._trajectory(slot))
        self._record(slot, done)
        self._fill(slot, i, queue, done)

    def _record(self, slot: _Slot, done: dict[int, Episode]) -> None:
        trials = tuple(slot.trials) or (self._trajectory(slot),)
        last = trials[-1]
        info = slot.info
        meta: dict[str, Any] = {
            **self.metadata,
            "trials": len(trials),
            "trial_success": [t.success for t in trials],
            "llm_s": round(slot.llm_s, 6),
            "invalid_actions": sum(s.invalid_action for s in last.steps),
        }
        if slot.stopped_by:
            meta["stopped_by"] = slot.stopped_by
        tokens = {}
        if slot.prompt_tokens or slot.completion_tokens:
            tokens = {"prompt": slot.prompt_tokens, "completion": slot.completion_tokens}
        result = EpisodeResult(
            env_id=self.env_id,
            task_id=slot.task_id,
            policy=self.policy_name,
            seed=slot.spec.seed,
            success=bool(last.success) if last.steps else False,
            score=float(last.score) if last.steps else 0.0,
            reward=last.total_reward,
            cost_total=float(info.get("cost_total", last.cost_total)) if last.steps else 0.0,
            cost_breakdown=dict(info.get("cost_breakdown", {})) if last.steps else {},
            steps=len(last.steps),
            tokens=tokens,
            wall_s=time.perf_counter() - slot.start,
            error=slot.error,
            metadata=to_jsonable(meta),
        )
        episode = Episode(result, last, trials)
        done[slot.index] = episode
        if self.on_episode is not None:
            self.on_episode(episode)
