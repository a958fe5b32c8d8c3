"""GRPO on toolgym envs through TRL's ``GRPOTrainer``: multi-turn episodes, the env's reward, token-exact ids.

Two ways in, both TRL 1.16's own interfaces:

* :func:`tool_environment` - a toolgym env as TRL's ``environment_factory``: the env's tools become methods
  (``calc(expression)``, ``finish(answer)``; a single ``act(action)`` for envs without named tools), ``reset``
  returns the task's question, and ``get_reward`` returns the episode's reward *with tool costs*, so
  ``GRPOTrainer(environment_factory=tool_environment(env_id))`` trains on any toolgym env unchanged. TRL parses
  tool calls with the chat template's response parser, so this path needs a model whose template TRL knows and
  that was tuned to call tools (Qwen 2.5/3, Llama 3.1/3.2, ...); the tiny models and Gemma-3-270M are not.
* :class:`EpisodeRunner` + :func:`run_grpo` - TRL's ``rollout_func`` hook driven by toolgym's own multi-turn
  loop, in a ReAct-family policy's text format (the format of toolgym's SFT data, so a model fine-tuned there
  continues here). Each turn the model generates until the policy's stop marker, the env steps on the parsed
  action, and the policy's rendering of the env's answer is appended as *context* tokens. The ids the model
  generated are kept exactly (:class:`~toolgym.algorithms.tokens.TokenTrajectory`); TRL's ``env_mask`` keeps the
  loss off the env's tokens; the reward is the episode's return (task reward minus tool costs and penalties).

:func:`run_grpo` is the experiment (``toolgym train grpo-arithmetic``): a short SFT warm start on a teacher's
demonstrations (``M0``), held-out evaluation, GRPO for ``steps`` steps, held-out evaluation again. The control
arm ``control="shuffled"`` runs the same steps with the rewards permuted within each batch (no signal about
which completion was better), so a rise that comes from anything but the reward shows up there too.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from toolgym.algorithms.fireact import TrainSettings, encode_for, student_policy
from toolgym.algorithms.ledger import Ledger
from toolgym.algorithms.models import ModelSpec, build_model
from toolgym.algorithms.tokens import TokenStep, TokenTrajectory
from toolgym.error import ConfigError, require
from toolgym.parsing import AnyOf, BracketGrammar

__all__ = [
    "ARMS",
    "EpisodeRunner",
    "GRPORunConfig",
    "GRPOSettings",
    "ToolEnvironment",
    "make_rollout_func",
    "run_grpo",
    "tool_environment",
]

logger = logging.getLogger(__name__)

#: The arms of a GRPO experiment: the method and its shuffled-reward control.
ARMS = ("grpo", "shuffled")


# ---------------------------------------------------------------------------------------------- environment_factory
class ToolEnvironment:
    """A toolgym env in the shape TRL's ``environment_factory`` wants (subclassed per env by :func:`tool_environment`).

    TRL calls ``reset(**row)`` before each rollout (the dataset row: ``task_id`` and ``seed`` columns select the
    task), exposes every public method but ``reset`` / ``get_reward`` as a tool, and calls ``get_reward()`` at the
    end. Tool methods never raise for a bad argument: the env's explanatory observation comes back, as it would
    to any agent.
    """

    env_id: str = ""
    env_kwargs: Mapping[str, Any] = {}

    def __init__(self) -> None:
        """Build the env (TRL builds one instance per concurrent rollout and reuses it)."""
        import gymnasium as gym

        self._env = gym.make(self.env_id, **dict(self.env_kwargs))
        self.episode_return = 0.0
        self.success = False
        self.done = True
        self.steps = 0
        self.tool_calls = 0

    def reset(self, **kwargs: Any) -> str:
        """Start an episode; returns the question, appended to the prompt's last user message by TRL.

        Args:
            **kwargs: The dataset row; ``task_id`` (a task of the env) and ``seed`` are used, the rest ignored.
        """
        task_id = kwargs.get("task_id")
        seed = kwargs.get("seed")
        obs, info = self._env.reset(
            seed=None if seed is None else int(seed), options={"task_id": str(task_id)} if task_id else None
        )
        self.episode_return, self.success, self.done, self.steps, self.tool_calls = 0.0, False, False, 0, 0
        return obs if isinstance(obs, str) else str(obs.get("question", obs))

    def _act(self, action: str) -> str:
        if self.done:
            return "The episode has ended; no more actions are taken."
        obs, reward, terminated, truncated, info = self._env.step(action)
        self.steps += 1
        self.tool_calls += len(info.get("tool_calls", []))
        self.episode_return += float(reward)
        self.success = bool(info.get("success", False))
        self.done = bool(terminated or truncated)
        text = obs if isinstance(obs, str) else "\n".join(str(v) for v in obs.values() if isinstance(v, str))
        return text + ("\n(The episode has ended.)" if self.done else "")

    def get_reward(self) -> float:
        """The episode's return: task reward minus the weighted tool costs and invalid-action penalties."""
        return float(self.episode_return)


def _tool_method(name: str, arg: str, hint: str) -> Callable[..., str]:
    def method(self: ToolEnvironment, **kwargs: str) -> str:
        return self._act(f"{name}[{kwargs[arg]}]")

    params = [
        inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD),
        inspect.Parameter(arg, inspect.Parameter.KEYWORD_ONLY, annotation=str),
    ]
    method.__signature__ = inspect.Signature(params, return_annotation=str)  # type: ignore[attr-defined]
    method.__annotations__ = {arg: str, "return": str}
    method.__name__ = method.__qualname__ = name
    method.__doc__ = (
        f"Call the environment's {name} tool.\n\nArgs:\n    {arg}: The {hint}.\n\n"
        "Returns:\n    The environment's observation."
    )
    return method


def _act_method() -> Callable[..., str]:
    def act(env: ToolEnvironment, action: str) -> str:  # noqa: D417 (env: the instance; TRL shows action only)
        """Take one action in the environment.

        Args:
            action: The action text in the environment's grammar.

        Returns:
            The environment's observation.
        """
        return env._act(action)

    return act


def _bracket_tools(grammar: Any) -> Mapping[str, str] | None:
    if isinstance(grammar, BracketGrammar):
        return grammar.tools
    if isinstance(grammar, AnyOf):
        for g in grammar.grammars:
            if isinstance(g, BracketGrammar):
                return g.tools
    return None


def tool_environment(env_id: str, **env_kwargs: Any) -> type[ToolEnvironment]:
    """A :class:`ToolEnvironment` class for ``env_id``: pass it as ``GRPOTrainer(environment_factory=...)``.

    Envs whose grammar names its tools (``calc[...]``, ``search[...]``) get one method per tool, whose single
    argument is named after the tool's grammar slot (``calc(expression)``); others get ``act(action)``.

    Args:
        env_id: A registered id.
        **env_kwargs: Passed to ``gym.make`` (e.g. ``difficulty=1``, ``cost_weight=0.5``).

    Returns:
        A class (TRL calls it with no arguments for each instance).

    Example:
        >>> Env = tool_environment("toolgym/ToolChoice-Arithmetic-v0", difficulty=1)
        >>> env = Env()
        >>> env.reset(task_id="L1-0").startswith("Question:")
        True
        >>> env.calc(expression="2 + 3"), round(env.get_reward(), 2)
        ('5', -0.1)
    """
    import gymnasium as gym

    probe = gym.make(env_id, **env_kwargs)
    tools = _bracket_tools(getattr(probe.unwrapped, "grammar", None))
    probe.close()
    namespace: dict[str, Any] = {"env_id": env_id, "env_kwargs": dict(env_kwargs)}
    if tools:
        for name, hint in tools.items():
            arg = "".join(c if c.isalnum() else "_" for c in hint.split()[0]).lower() or "argument"
            if not arg.isidentifier() or arg in ("self", "reset"):
                arg = "argument"
            namespace[name] = _tool_method(name, arg, hint)
    else:
        namespace["act"] = _act_method()
    namespace["__doc__"] = f"{env_id} as a TRL tool environment (tools: {sorted(tools) if tools else ['act']})."
    safe = "".join(c if c.isalnum() else "_" for c in env_id.split("/")[-1])
    return type(f"{safe}ToolEnvironment", (ToolEnvironment,), namespace)


# ---------------------------------------------------------------------------------------------- rollouts
def _bos(tokenizer: Any) -> list[int]:
    probe = tokenizer("x", add_special_tokens=True)["input_ids"]
    return (
        [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None and probe[:1] == [tokenizer.bos_token_id] else []
    )


class EpisodeRunner:
    """Runs multi-turn episodes of a ReAct-family policy's text format with a Hugging Face model, id for id.

    The prompt text of each turn comes from the policy (``policy._prompt``, as in any toolgym rollout); the model
    sees the first prompt's ids, then its own generated ids and the ids of what the policy appends after them
    (the env's answer and the next cue). So the ids it is trained on are the ids it sampled: nothing is
    re-tokenised. Where the policy's rendering of the next prompt does not extend the text the model wrote, the
    step's ``drift`` says how (the model's ids are kept; the context is the policy's).

    Args:
        env_id: A registered id.
        env_kwargs: Passed to ``gym.make``.
        policy_factory: ``llm -> policy`` (a ReAct-family policy, e.g. :func:`student_policy` with its options).
        tokenizer: The model's tokenizer.
        max_new_tokens: Tokens per turn.
        max_length: Episodes stop (truncated) before the sequence would exceed this many tokens.
    """

    def __init__(
        self,
        env_id: str,
        env_kwargs: Mapping[str, Any],
        policy_factory: Callable[[Any], Any],
        tokenizer: Any,
        *,
        max_new_tokens: int = 24,
        max_length: int = 512,
    ) -> None:
        """See the class docstring."""
        self.env_id = env_id
        self.env_kwargs = dict(env_kwargs)
        self.policy_factory = policy_factory
        self.tokenizer = tokenizer
        self.max_new_tokens = max_new_tokens
        self.max_length = max_length
        self._envs: list[Any] = []
        self._bos = _bos(tokenizer)
        self.episodes = 0
        self.env_steps = 0
        self.completion_tokens = 0
        self.prompt_tokens = 0

    def _env(self, i: int) -> Any:
        import gymnasium as gym

        while len(self._envs) <= i:
            self._envs.append(gym.make(self.env_id, **self.env_kwargs))
        return self._envs[i]

    def encode(self, text: str) -> list[int]:
        """A prompt's ids as :func:`~toolgym.algorithms.sft.encode_segments` makes them (BOS where it adds one)."""
        return self._bos + list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def first_prompt(self, task_id: str, seed: int = 0) -> str:
        """The policy's first prompt for a task (what a GRPO dataset row holds)."""
        env = self._env(0)
        obs, info = env.reset(seed=seed, options={"task_id": task_id})
        policy = self.policy_factory(None)
        policy.reset(obs, info, env=env.unwrapped, slot=0)
        return policy._prompt(0)

    def _generate(self, model: Any, batch: list[list[int]], temperature: float, seed: int) -> list[list[int]]:
        import torch

        pad = self.tokenizer.pad_token_id
        width = max(len(b) for b in batch)
        ids = torch.full((len(batch), width), pad, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for r, b in enumerate(batch):
            ids[r, width - len(b) :] = torch.as_tensor(b)
            mask[r, width - len(b) :] = 1
        device = next(model.parameters()).device
        kwargs: dict[str, Any] = {"do_sample": False}
        if temperature > 0:
            kwargs = {"do_sample": True, "temperature": temperature, "top_k": 0, "top_p": 1.0}
        was_training = model.training
        model.eval()
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []), torch.no_grad():
            torch.manual_seed(seed)
            out = model.generate(
                input_ids=ids.to(device),
                attention_mask=mask.to(device),
                max_new_tokens=self.max_new_tokens,
                pad_token_id=pad,
                eos_token_id=self.tokenizer.eos_token_id,
                **kwargs,
            )
        if was_training:
            model.train()
        return [row[width:].tolist() for row in out.cpu()]

    def _cut(self, gen: list[int], stops: Sequence[str]) -> tuple[list[int], str, str]:
        """The generated ids through the stop (or EOS), their text, and the text before the stop marker."""
        eos = self.tokenizer.eos_token_id
        for k in range(1, len(gen) + 1):
            if gen[k - 1] == eos:
                text = self.tokenizer.decode(gen[: k - 1])
                return gen[:k], text, text
            text = self.tokenizer.decode(gen[:k])
            hits = [text.find(s) for s in stops if s in text]
            if hits:
                return gen[:k], text, text[: min(hits)]
        text = self.tokenizer.decode(gen)
        return gen, text, text

    def run(
        self, model: Any, task_ids: Sequence[str], *, temperature: float = 1.0, seed: int = 0, reset_seed: int = 0
    ) -> list[TokenTrajectory]:
        """One episode per task id (repeats allowed), all turns batched across the episodes still running.

        Args:
            model: A causal LM (left in the mode it was in).
            task_ids: The tasks.
            temperature: Sampling temperature (0: greedy).
            seed: Seeds the sampling (the global generator is restored afterwards).
            reset_seed: The env's reset seed.

        Returns:
            The episodes as token-exact trajectories.
        """
        from toolgym.agents.base import Completion

        n = len(task_ids)
        policy = self.policy_factory(None)
        ids: list[list[int]] = []
        texts: list[str] = []
        steps: list[list[TokenStep]] = [[] for _ in range(n)]
        returns = [0.0] * n
        success = [False] * n
        for i, tid in enumerate(task_ids):
            env = self._env(i)
            obs, info = env.reset(seed=reset_seed, options={"task_id": tid})
            policy.reset(obs, info, env=env.unwrapped, slot=i)
            texts.append(policy._prompt(i))
            ids.append(self.encode(texts[-1]))
        active = list(range(n))
        turn = 0
        while active:
            fits = [i for i in active if len(ids[i]) + self.max_new_tokens <= self.max_length]
            active = fits
            if not active:
                break
            gens = self._generate(model, [ids[i] for i in active], temperature, seed * 1_000_003 + turn)
            turn += 1
            still = []
            for i, gen in zip(active, gens):
                stops = tuple(policy._stop(i))
                comp, comp_text, before_stop = self._cut(gen, stops)
                self.prompt_tokens += len(ids[i])
                self.completion_tokens += len(comp)
                action = policy._parse(i, Completion(text=before_stop, completion_tokens=len(comp)))
                action = policy._commit(i, action)
                obs, reward, terminated, truncated, info = self._env(i).step(str(action))
                self.env_steps += 1
                returns[i] += float(reward)
                success[i] = bool(info.get("success", False))
                policy._observe(i, obs)
                prompt_ids = tuple(ids[i])
                obs_text = obs if isinstance(obs, str) else str(obs)
                if terminated or truncated:
                    steps[i].append(
                        TokenStep(prompt_ids, tuple(comp), (), comp_text, str(action), float(reward), "", obs_text)
                    )
                    continue
                nxt = policy._prompt(i)
                context, drift = self._context(texts[i], comp_text, nxt, stops)
                ctx_ids = list(self.tokenizer(context, add_special_tokens=False)["input_ids"]) if context else []
                steps[i].append(
                    TokenStep(
                        prompt_ids, tuple(comp), tuple(ctx_ids), comp_text, str(action), float(reward), drift, obs_text
                    )
                )
                ids[i] = ids[i] + comp + ctx_ids
                texts[i] = nxt
                still.append(i)
            active = still
        self.episodes += n
        for i in range(n):
            policy._episodes.pop(i, None)
        return [
            TokenTrajectory(tid, tuple(steps[i]), returns[i], success[i], {"env": self.env_id})
            for i, tid in enumerate(task_ids)
            if steps[i]
        ]

    @staticmethod
    def _context(prev: str, comp_text: str, nxt: str, stops: Sequence[str]) -> tuple[str, str]:
        """The text to append after the model's completion so the sequence reads as the policy's next prompt."""
        if nxt.startswith(prev + comp_text):
            return nxt[len(prev) + len(comp_text) :], ""
        delta = nxt[len(prev) :] if nxt.startswith(prev) else nxt
        hits = [(delta.find(s), s) for s in stops if delta.find(s) >= 0]
        cut = min(hits)[0] + len(min(hits)[1]) if hits else 0
        rendered_agent, context = delta[:cut], delta[cut:]
        if comp_text.startswith(rendered_agent):  # the last token ran past the stop marker
            extra = comp_text[len(rendered_agent) :]
            if context.startswith(extra):
                return context[len(extra) :], ""
        return context, f"the policy renders the step as {rendered_agent[:80]!r}, the model wrote {comp_text[:80]!r}"


def make_rollout_func(
    runner: EpisodeRunner,
    prompt_tasks: Mapping[str, str],
    *,
    temperature: float = 1.0,
    seed: int = 0,
    on_rollouts: Callable[[list[TokenTrajectory]], None] | None = None,
) -> Callable[[list[Any], Any], dict[str, Any]]:
    """A TRL ``rollout_func``: multi-turn episodes of the prompts' tasks, the env's return as ``env_reward``.

    Args:
        runner: Runs the episodes.
        prompt_tasks: Prompt text (a dataset row's ``prompt``) -> task id.
        temperature: Sampling temperature.
        seed: Seeds the sampling (each call advances it).
        on_rollouts: Called with each batch's trajectories (logging, saving).

    Returns:
        ``rollout_func(prompts, trainer) -> {"prompt_ids", "completion_ids", "logprobs": None, "env_mask",
        "env_reward", "env_success"}``.
    """
    calls = [0]

    def rollout_func(prompts: list[Any], trainer: Any) -> dict[str, Any]:
        unknown = [p for p in prompts if p not in prompt_tasks]
        if unknown:
            raise ConfigError(
                f"rollout_func: expected prompts of the GRPO dataset, got {str(unknown[0])[:80]!r}; build the "
                "dataset and the rollout function from the same task list."
            )
        model = trainer.accelerator.unwrap_model(trainer.model) if hasattr(trainer, "accelerator") else trainer.model
        trajs = runner.run(
            model, [prompt_tasks[p] for p in prompts], temperature=temperature, seed=seed * 7919 + calls[0]
        )
        calls[0] += 1
        if len(trajs) != len(prompts):
            raise ConfigError(
                f"rollout_func: expected one episode per prompt ({len(prompts)}), got {len(trajs)}; raise "
                "max_length so the first prompt and one completion fit."
            )
        if on_rollouts is not None:
            on_rollouts(trajs)
        comps = [t.completion() for t in trajs]
        return {
            "prompt_ids": [t.prompt_ids for t in trajs],
            "completion_ids": [c[0] for c in comps],
            "logprobs": None,
            "env_mask": [c[1] for c in comps],
            "env_reward": [t.episode_return for t in trajs],
            "env_success": [float(t.success) for t in trajs],
        }

    return rollout_func


def env_reward(completions: list[Any], env_reward: list[float], **kwargs: Any) -> list[float]:
    """TRL reward function: the episode's return recorded by the rollout (tool costs included)."""
    return [float(r) for r in env_reward]


def shuffled_reward(seed: int) -> Callable[..., list[float]]:
    """The control's reward function: the batch's returns in a random order (same values, no credit)."""
    rng = np.random.default_rng(seed)

    def shuffled_env_reward(completions: list[Any], env_reward: list[float], **kwargs: Any) -> list[float]:
        values = [float(r) for r in env_reward]
        return [values[int(j)] for j in rng.permutation(len(values))]

    return shuffled_env_reward


# ---------------------------------------------------------------------------------------------- the experiment
@dataclass(frozen=True)
class GRPOSettings:
    """GRPO's settings (TRL's ``GRPOConfig`` under the hood).

    Attributes:
        steps: Optimizer steps.
        tasks_per_step: Distinct tasks per step.
        generations: Episodes per task (the group; GRPO's G).
        learning_rate: Adam's learning rate.
        beta: KL coefficient against the reference model (0: none, no reference model kept).
        epsilon: The clipping range.
        temperature: Sampling temperature of the rollouts.
        max_new_tokens: Tokens per turn.
        loss_type: TRL's ``loss_type`` (``"dapo"``, ``"grpo"``, ``"dr_grpo"``, ...).
        scale_rewards: TRL's ``scale_rewards`` (``"group"``, ``"batch"``, ``"none"``).
        log_every: Steps between logged training rewards.
    """

    steps: int = 60
    tasks_per_step: int = 8
    generations: int = 4
    learning_rate: float = 3e-4
    beta: float = 0.0
    epsilon: float = 0.2
    temperature: float = 1.0
    max_new_tokens: int = 20
    loss_type: str = "dapo"
    scale_rewards: str = "group"
    log_every: int = 1


@dataclass(frozen=True)
class GRPORunConfig:
    """One GRPO run (one arm, one seed).

    Attributes:
        env: The env.
        env_kwargs: Its arguments (demonstrations, GRPO tasks).
        eval_env_kwargs: Its arguments for the held-out test tasks (default ``env_kwargs``).
        teacher: The policy whose demonstrations warm-start the model (``M0``), or a mapping ``name -> weight``:
            the demonstration tasks are dealt to the teachers in those proportions (a seeded draw).
        filter_demos: Keep only the successful demonstrations (``False``: imitate them all, as from unverified logs).
        demo_tasks: Demonstration tasks (the first of the ``train`` split).
        train_tasks: GRPO's tasks (the first of the ``train`` split: they may include the demonstration tasks).
        eval_tasks: Held-out tasks (the ``test`` split).
        style: The policy's text format: ``"alpaca"`` or ``"text"``.
        thoughts: Whether the policy writes thoughts.
        max_steps: Env steps per episode.
        model: The model.
        train: The warm start's SFT settings.
        grpo: GRPO's settings (a mapping of :class:`GRPOSettings` fields).
        control: ``None`` or ``"shuffled"`` (rewards permuted within each batch).
        update: ``"grpo"`` (TRL's ``GRPOTrainer``) or ``"rft"``: the baseline that spends the same episodes and
            steps on rejection-sampling fine-tuning (an Adam step on each batch's successes, failures dropped).
        eval_samples: Besides the greedy evaluation, this many episodes per held-out task at the rollouts'
            temperature (the policy GRPO trains; 0: none).
        seed: Seeds tasks, the warm start, sampling and GRPO.
    """

    env: str = "toolgym/ToolChoice-Arithmetic-v0"
    env_kwargs: Mapping[str, Any] = field(default_factory=lambda: {"difficulty": 1})
    eval_env_kwargs: Mapping[str, Any] | None = None
    teacher: str | Mapping[str, float] = "calc-teacher"
    filter_demos: bool = True
    demo_tasks: int = 200
    train_tasks: int = 400
    eval_tasks: int = 100
    style: str = "alpaca"
    thoughts: bool = False
    max_steps: int = 4
    model: ModelSpec = field(default_factory=lambda: ModelSpec(n_layer=2, n_embd=128, n_positions=512))
    train: TrainSettings = field(default_factory=lambda: TrainSettings(max_steps=60, save_steps=0))
    grpo: Mapping[str, Any] = field(default_factory=dict)
    control: str | None = None
    update: str = "grpo"
    eval_samples: int = 0
    seed: int = 0

    def __post_init__(self) -> None:
        weights = self.teachers()
        if not weights or any(not (w > 0) for w in weights.values()):
            raise ConfigError(
                f"GRPORunConfig.teacher: expected a policy name or a mapping name -> positive weight, got "
                f"{self.teacher!r}."
            )
        if self.update not in ("grpo", "rft"):
            raise ConfigError(f"GRPORunConfig.update: expected 'grpo' or 'rft', got {self.update!r}.")
        if self.update == "rft" and self.control is not None:
            raise ConfigError("GRPORunConfig: control='shuffled' permutes GRPO's rewards; the rft update has none.")
        if self.control not in (None, "shuffled"):
            raise ConfigError(f"GRPORunConfig.control: expected None or 'shuffled', got {self.control!r}.")
        if self.style not in ("alpaca", "text"):
            raise ConfigError(f"GRPORunConfig.style: expected 'alpaca' or 'text', got {self.style!r}.")
        self.settings()  # fail early on unknown keys

    def teachers(self) -> dict[str, float]:
        """The teachers and their weights (one teacher: weight 1)."""
        if isinstance(self.teacher, str):
            return {self.teacher: 1.0}
        return {str(k): float(v) for k, v in dict(self.teacher).items()}

    def settings(self) -> GRPOSettings:
        """The GRPO settings as a dataclass."""
        names = set(GRPOSettings.__dataclass_fields__)
        unknown = sorted(set(self.grpo) - names)
        if unknown:
            raise ConfigError(f"GRPORunConfig.grpo: expected keys among {sorted(names)}, got {unknown}.")
        defaults = GRPOSettings()
        values: dict[str, Any] = {}
        for key, value in dict(self.grpo).items():
            kind = type(getattr(defaults, key))
            try:  # YAML reads 1e-4 (no dot) as a string: numbers written so are taken
                ok = not isinstance(value, bool) and (kind is str) == isinstance(value, str)
                values[key] = kind(value) if ok or (kind is float and isinstance(value, str)) else None
            except ValueError:
                values[key] = None
            if values[key] is None or (kind is int and float(value) != values[key]):
                article = "an" if kind is int else "a"
                raise ConfigError(
                    f"GRPORunConfig.grpo.{key}: expected {article} {kind.__name__}, got {value!r}; e.g. "
                    f"{key}={getattr(defaults, key)!r}."
                )
        return GRPOSettings(**values)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return asdict(self)


def _episode_stats(trajs: Sequence[TokenTrajectory]) -> dict[str, Any]:
    returns = [t.episode_return for t in trajs]
    calls = [sum(1 for s in t.steps if s.action.lower().startswith("calc")) for t in trajs]
    return {
        "episodes": len(trajs),
        "success": float(np.mean([t.success for t in trajs])) if trajs else 0.0,
        "reward": float(np.mean(returns)) if returns else 0.0,
        "calc_calls": float(np.mean(calls)) if calls else 0.0,
        "drift_steps": sum(1 for t in trajs for s in t.steps if s.drift),
    }


def _evaluate(
    runner: EpisodeRunner, model: Any, tasks: Sequence[str], *, samples: int = 0, temperature: float = 1.0
) -> dict[str, Any]:
    """Greedy held-out statistics; with ``samples``, also ``sampled`` ones (that many episodes per task)."""
    result = _episode_stats(runner.run(model, tasks, temperature=0.0, seed=0))
    if samples > 0:
        repeated = [t for t in tasks for _ in range(samples)]
        result["sampled"] = _episode_stats(runner.run(model, repeated, temperature=temperature, seed=10_007))
    return result


def _deal(task_ids: Sequence[str], weights: Mapping[str, float], seed: int) -> dict[str, list[str]]:
    """Deal tasks to teachers in proportion to their weights (largest remainders; a seeded shuffle).

    Example:
        >>> {k: len(v) for k, v in _deal([f"t{i}" for i in range(10)], {"a": 0.3, "b": 0.7}, 0).items()}
        {'a': 3, 'b': 7}
    """
    names = list(weights)
    if len(names) == 1:
        return {names[0]: list(task_ids)}
    total = sum(weights.values())
    exact = [len(task_ids) * weights[n] / total for n in names]
    counts = [int(x) for x in exact]
    for j in sorted(range(len(names)), key=lambda j: counts[j] - exact[j])[: len(task_ids) - sum(counts)]:
        counts[j] += 1
    order = [task_ids[int(j)] for j in np.random.default_rng([seed, 2]).permutation(len(task_ids))]
    dealt, start = {}, 0
    for name, count in zip(names, counts):
        dealt[name] = order[start : start + count]
        start += count
    return dealt


def _train_grpo(
    model: Any, tok: Any, dataset: Any, rollout: Callable[..., Any], config: GRPORunConfig, out: Path
) -> tuple[Any, int, list[dict[str, Any]]]:
    """GRPO through TRL's ``GRPOTrainer``: the trained model, its step count and TRL's log of rewards and losses."""
    import torch
    import trl

    settings = config.settings()
    reward_fn: Callable[..., Any] = shuffled_reward(config.seed) if config.control == "shuffled" else env_reward
    batch = settings.tasks_per_step * settings.generations
    args = trl.GRPOConfig(
        output_dir=str(out / "grpo"),
        max_steps=settings.steps,
        per_device_train_batch_size=batch,
        num_generations=settings.generations,
        learning_rate=settings.learning_rate,
        beta=settings.beta,
        epsilon=settings.epsilon,
        temperature=settings.temperature,
        loss_type=settings.loss_type,
        scale_rewards=settings.scale_rewards,
        max_completion_length=settings.max_new_tokens * config.max_steps * 4,
        # a multi-turn completion ends at the policy's stop marker, not at EOS: TRL logs it as "clipped"; it must
        # not be masked out of the loss
        mask_truncated_completions=False,
        logging_steps=settings.log_every,
        save_strategy="no",
        report_to=[],
        seed=config.seed,
        use_cpu=not torch.cuda.is_available(),
        bf16=False,
        lr_scheduler_type="constant",
        warmup_steps=0,
        disable_tqdm=True,
        dataloader_num_workers=0,
    )
    model.train()
    trainer = trl.GRPOTrainer(
        model=model,
        reward_funcs=[reward_fn],
        args=args,
        train_dataset=dataset,
        processing_class=tok,
        rollout_func=rollout,
    )
    trained: Any = trainer.model
    trained.train()  # GRPOTrainer leaves a given model's mode alone; TRL reads it to tell train from eval
    trainer.train()
    log = [r for r in trainer.state.log_history if "reward" in r or "loss" in r]
    return trained, int(trainer.state.global_step), log


def _train_rft(
    model: Any,
    runner: EpisodeRunner,
    prompt_tasks: Mapping[str, str],
    settings: GRPOSettings,
    seed: int,
    on_rollouts: Callable[[list[TokenTrajectory]], None],
) -> tuple[Any, int, list[dict[str, Any]]]:
    """The baseline at GRPO's budget: each step samples the same episodes, then one Adam step on the successes.

    Online rejection-sampling fine-tuning (RFT; ReST-EM's filter, one step per batch): the loss is the mean
    negative log-likelihood of the model's own tokens in the successful episodes (the env's tokens masked, the ids
    as sampled); failures are dropped, where GRPO also pushes down on them. Same optimizer (Adam, no weight
    decay), learning rate, steps, tasks per step, group size and temperature as GRPO.
    """
    import torch

    from toolgym.algorithms.sft import _pad_batch, masked_lm_loss

    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=settings.learning_rate, weight_decay=0.0)
    tasks = list(dict.fromkeys(prompt_tasks.values()))
    rng = np.random.default_rng([seed, 3])
    device = next(model.parameters()).device
    pad = runner.tokenizer.pad_token_id
    log: list[dict[str, Any]] = []
    for step in range(settings.steps):
        picks = rng.choice(len(tasks), size=min(settings.tasks_per_step, len(tasks)), replace=False)
        batch = [tasks[int(j)] for j in picks for _ in range(settings.generations)]
        trajs = runner.run(model, batch, temperature=settings.temperature, seed=seed * 7919 + step)
        on_rollouts(trajs)
        rows = [t.to_tensors() for t in trajs if t.success]
        entry: dict[str, Any] = {"step": step + 1, "reward": float(np.mean([t.episode_return for t in trajs]))}
        if rows:
            model.train()  # right-padded: the positions are those the ids were sampled at
            inputs = {k: v.to(device) for k, v in _pad_batch(rows, pad).items()}
            total, count = masked_lm_loss(model, inputs)
            loss = total / max(int(count), 1)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            entry["loss"] = float(loss.detach())
        entry["kept"] = len(rows)
        log.append(entry)
    return model, settings.steps, log


def run_grpo(config: GRPORunConfig, out: str | Path, *, resume: bool = False) -> dict[str, Any]:
    """Warm start, then GRPO through TRL's ``GRPOTrainer``; held-out reward and success before and after.

    Args:
        config: The run.
        out: Its folder (``result.json``, ``curve.json``, the warm start's SFT folder).
        resume: Return the finished result in ``out`` if there is one (an unfinished run starts over).

    Returns:
        The result: held-out ``reward_before`` / ``reward_after`` / ``success_before`` / ``success_after`` (greedy,
        tool costs in the reward), the training curve (mean episode return per step, the true returns also in the
        control), step counts, the ledger and the held-out check.
    """
    import gymnasium as gym

    from toolgym.algorithms.evaluate import held_out_report
    from toolgym.algorithms.runio import read_json, write_json
    from toolgym.algorithms.sft import run_sft
    from toolgym.algorithms.trajectories import collect, successes
    from toolgym.splits import task_split

    torch = require("torch", "llm", "GRPO")
    require("trl", "train", "GRPO")  # fail before the warm start
    datasets = require("datasets", "train", "GRPO")
    out = Path(out)
    if (out / "result.json").exists():
        if resume:
            return read_json(out / "result.json")
        raise ConfigError(f"run_grpo: expected an empty folder, got a finished run in {out}; use resume=True.")
    out.mkdir(parents=True, exist_ok=True)
    settings = config.settings()
    if config.train.threads:
        torch.set_num_threads(int(config.train.threads))
    ledger = Ledger()
    eval_kwargs = dict(config.eval_env_kwargs if config.eval_env_kwargs is not None else config.env_kwargs)
    env_kwargs = {**dict(config.env_kwargs), "max_steps": config.max_steps}
    env = gym.make(config.env, **dict(config.env_kwargs))
    # Both training phases draw from the train split (they may share tasks: level-1 arithmetic has ~85 train
    # questions); the test tasks share none with either (held_out_report below).
    demo_ids = task_split(env, "train", config.demo_tasks, max_scan=50 * config.demo_tasks + 5000)
    rl_ids = task_split(env, "train", config.train_tasks, max_scan=50 * config.train_tasks + 5000)
    test_ids = task_split(
        gym.make(config.env, **eval_kwargs), "test", config.eval_tasks, max_scan=50 * config.eval_tasks + 5000
    )
    report = held_out_report(
        config.env,
        eval_kwargs,
        {"demos": demo_ids, "grpo": rl_ids, "test": test_ids},
        set_env_kwargs={"demos": dict(config.env_kwargs), "grpo": dict(config.env_kwargs)},
    )

    # M0: SFT on the teacher's successful demonstrations
    start = time.perf_counter()
    from toolgym.agents.factory import make_policy

    demos = []
    for teacher, ids in _deal(demo_ids, config.teachers(), config.seed).items():
        demos += collect(
            make_policy(teacher),
            config.env,
            ids,
            k=1,
            seed=config.seed,
            env_kwargs=dict(config.env_kwargs),
            max_steps=config.max_steps,
            ledger=ledger,
            phase="teacher",
        )
    demo_success = float(np.mean([t.success for t in demos])) if demos else 0.0
    if config.filter_demos:
        demos = successes(demos)
    model, tok = build_model(config.model)

    from toolgym.agents.llm.scripted import ScriptedLLM

    def policy_factory(_: Any) -> Any:
        # the runner and the SFT renderer use the policy's prompts and parser only: a scripted stand-in LLM keeps the
        # model's train/eval mode untouched (TRL reads it to tell training from evaluation)
        return student_policy(ScriptedLLM(["unused"]), style=config.style, thoughts=config.thoughts, max_tokens=1)

    examples = encode_for(policy_factory(None), demos, tok, config.train.max_length, env=env)
    sft = run_sft(model, tok, examples, config.train.sft_config(out / "warmstart", config.seed))
    model = sft.model
    ledger.add("warmstart", train_tokens=sft.train_tokens, train_steps=sft.steps, wall_s=time.perf_counter() - start)
    runner = EpisodeRunner(
        config.env,
        env_kwargs,
        policy_factory,
        tok,
        max_new_tokens=settings.max_new_tokens,
        max_length=config.model.n_positions // 2,  # TRL pads prompts and completions apart: both must fit
    )
    eval_runner = EpisodeRunner(
        config.env,
        {**eval_kwargs, "max_steps": config.max_steps},
        policy_factory,
        tok,
        max_new_tokens=settings.max_new_tokens,
        max_length=config.model.n_positions // 2,
    )
    evaluate = partial(_evaluate, samples=config.eval_samples, temperature=settings.temperature)
    before = evaluate(eval_runner, model, test_ids)
    logger.info("M0 held-out: %s", before)

    # GRPO
    prompt_tasks: dict[str, str] = {}
    for tid in rl_ids:
        prompt_tasks.setdefault(runner.first_prompt(tid), tid)
    dataset = datasets.Dataset.from_dict({"prompt": list(prompt_tasks)})
    curve: list[dict[str, Any]] = []

    def on_rollouts(trajs: list[TokenTrajectory]) -> None:
        curve.append(
            {
                "step": len(curve) + 1,
                "reward": float(np.mean([t.episode_return for t in trajs])),
                "success": float(np.mean([t.success for t in trajs])),
                "drift_steps": sum(1 for t in trajs for s in t.steps if s.drift),
            }
        )

    batch = settings.tasks_per_step * settings.generations
    start = time.perf_counter()
    if config.update == "rft":
        model, steps, log = _train_rft(model, runner, prompt_tasks, settings, config.seed, on_rollouts)
    else:
        rollout = make_rollout_func(
            runner, prompt_tasks, temperature=settings.temperature, seed=config.seed, on_rollouts=on_rollouts
        )
        model, steps, log = _train_grpo(model, tok, dataset, rollout, config, out)
    model.eval()
    ledger.add(
        "grpo",
        episodes=runner.episodes,
        env_steps=runner.env_steps,
        prompt_tokens=runner.prompt_tokens,
        completion_tokens=runner.completion_tokens,
        train_steps=steps,
        wall_s=time.perf_counter() - start,
    )
    after = evaluate(eval_runner, model, test_ids)
    logger.info("after GRPO held-out: %s", after)
    result = {
        "method": "grpo",
        "update": config.update,
        "control": config.control,
        "seed": config.seed,
        "env": config.env,
        "reward_before": before["reward"],
        "reward_after": after["reward"],
        "success_before": before["success"],
        "success_after": after["success"],
        **(
            {
                "sampled_reward_before": before["sampled"]["reward"],
                "sampled_reward_after": after["sampled"]["reward"],
                "sampled_success_before": before["sampled"]["success"],
                "sampled_success_after": after["sampled"]["success"],
            }
            if config.eval_samples > 0
            else {}
        ),
        "eval_before": before,
        "eval_after": after,
        "eval_tasks": len(test_ids),
        "demos": len(demos),
        "demo_success": demo_success,
        "warmstart_steps": sft.steps,
        "grpo_steps": steps,
        "episodes_per_step": batch,
        "curve": curve,
        "trl_log": log,
        "ledger": ledger.to_dict(),
        "held_out": report,
        "config": config.to_dict(),
    }
    write_json(out / "result.json", result)
    return result
