"""Thin adapters for the RL engines users outgrow one machine with: veRL's ``AgentLoop`` and SkyRL-gym's text env.

Neither engine installs here (both want Ray, vLLM/SGLang and CUDA), so each adapter is written against the
engine's *published interface* and tested against a minimal stand-in that calls it the way the engine does
(``tests/algorithms/test_engines.py``). When the engine is importable, the adapter subclasses its real base
class and returns its real output type; otherwise it is a plain class with the same methods.

* :class:`SkyRLTextEnv` - SkyRL-gym's ``BaseTextEnv``: ``__init__(env_config, extras)``, ``init(prompt) ->
  (prompt, metadata)``, ``step(action) -> {"observations", "reward", "done", "metadata"}``, ``close()``. The
  dataset row's ``extras`` name the toolgym task (``env_id``, ``task_id``, ``env_kwargs``); each step's reward
  is the env's reward (tool costs included), and the env's answer comes back as a user message.
* :class:`VerlAgentLoop` - veRL's ``AgentLoopBase``: ``async run(sampling_params, **kwargs) -> AgentLoopOutput``
  with ``prompt_ids``, ``response_ids``, ``response_mask`` (1 on the model's tokens, 0 on the env's),
  ``num_turns`` and ``metrics``; generation goes through ``server_manager.generate(request_id=..., prompt_ids=...,
  sampling_params=...)``, the env's answers are appended as token ids rendered by the chat template, and the
  episode's return is ``reward_score``. Register it under a name with :func:`register_verl_agent_loop`.

Example configs are in ``docs/training.md``.
"""

from __future__ import annotations

import importlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import gymnasium as gym

from toolgym.error import ConfigError

__all__ = [
    "AgentLoopOutput",
    "SkyRLTextEnv",
    "VerlAgentLoop",
    "register_skyrl_env",
    "register_verl_agent_loop",
]


def _optional(module: str, name: str) -> Any:
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return None


def _task(extras: Mapping[str, Any] | None, where: str) -> tuple[str, dict[str, Any], str | None, int | None]:
    extras = dict(extras or {})
    info = dict(extras.get("extra_info") or {}) | extras  # veRL nests dataset columns under extra_info
    env_id = info.get("env_id")
    if not env_id:
        raise ConfigError(
            f"{where}: expected the dataset row to name a toolgym env (extras/extra_info 'env_id', e.g. "
            f"'toolgym/ToolChoice-Arithmetic-v0'), got keys {sorted(info)}; add an env_id column."
        )
    seed = info.get("seed")
    return str(env_id), dict(info.get("env_kwargs") or {}), info.get("task_id"), None if seed is None else int(seed)


def _text(obs: Any) -> str:
    if isinstance(obs, str):
        return obs
    return "\n".join(f"{k}: {v}" for k, v in dict(obs).items() if isinstance(v, str) and v)


# ---------------------------------------------------------------------------------------------- SkyRL-gym
_SkyBase: Any = _optional("skyrl_gym.envs.base_text_env", "BaseTextEnv") or object


class SkyRLTextEnv(_SkyBase):
    """A toolgym env as a SkyRL-gym text env (see the module docstring).

    Args:
        env_config: SkyRL's per-env config (``max_turns`` is read; others ignored).
        extras: The dataset row's extras: ``env_id`` (required), ``task_id``, ``seed``, ``env_kwargs``.
    """

    def __init__(self, env_config: Any = None, extras: Mapping[str, Any] | None = None) -> None:
        """Build the env named by ``extras`` (no reset yet: SkyRL calls :meth:`init`)."""
        if _SkyBase is not object:
            super().__init__()
        self.env_id, self.env_kwargs, self.task_id, self.seed = _task(extras, "SkyRLTextEnv")
        max_turns = getattr(env_config, "max_turns", None) if env_config is not None else None
        if max_turns is None and isinstance(env_config, Mapping):
            max_turns = env_config.get("max_turns")
        if max_turns is not None:
            self.env_kwargs.setdefault("max_steps", int(max_turns))
        self.env = gym.make(self.env_id, **self.env_kwargs)
        self.turns = 0
        self.episode_return = 0.0
        self.chat_history: list[dict[str, str]] = []

    def init(self, prompt: list[dict[str, str]]) -> tuple[list[dict[str, str]], dict[str, Any]]:
        """Reset the env; the question is appended to the prompt's last user message (or as a new one).

        Returns:
            The prompt to generate from and metadata (``task_id``).
        """
        obs, info = self.env.reset(seed=self.seed, options={"task_id": self.task_id} if self.task_id else None)
        instructions = getattr(self.env.unwrapped, "instructions", lambda: "")()
        prompt = [dict(m) for m in (prompt or [])]
        text = _text(obs)
        if prompt and prompt[-1].get("role") == "user":
            prompt[-1]["content"] = f"{prompt[-1]['content']}\n{text}".strip()
        else:
            prompt.append({"role": "user", "content": f"{instructions}\n{text}".strip()})
        self.turns, self.episode_return, self.chat_history = 0, 0.0, list(prompt)
        return prompt, {"task_id": info["task_id"]}

    def step(self, action: str) -> dict[str, Any]:
        """One model turn: the env steps on it; the reward includes tool costs (``BaseTextEnvStepOutput``)."""
        self.turns += 1
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.episode_return += float(reward)
        done = bool(terminated or truncated)
        self.chat_history.append({"role": "assistant", "content": action})
        observations = [] if done else [{"role": "user", "content": _text(obs)}]
        self.chat_history += observations
        return {
            "observations": observations,
            "reward": float(reward),
            "done": done,
            "metadata": {
                "success": bool(info["success"]),
                "cost": float(info["cost"]),
                "cost_total": float(info["cost_total"]),
                "invalid_action": bool(info["invalid_action"]),
                "episode_return": self.episode_return,
            },
            "postprocessed_action": None,
        }

    def close(self) -> None:
        """Close the env."""
        self.env.close()


def register_skyrl_env(name: str = "toolgym") -> None:
    """Register :class:`SkyRLTextEnv` with SkyRL-gym under ``name`` (``environment.env_class=<name>``).

    Raises:
        DependencyNotInstalled: skyrl-gym is not installed.
    """
    from toolgym.error import require

    envs = require("skyrl_gym.envs", "skyrl", "Registering toolgym with SkyRL-gym")
    envs.register(id=name, entry_point="toolgym.algorithms.engines:SkyRLTextEnv")


# ---------------------------------------------------------------------------------------------- veRL
_VerlBase: Any = _optional("verl.experimental.agent_loop.agent_loop", "AgentLoopBase") or object
_VerlOutput: Any = _optional("verl.experimental.agent_loop.agent_loop", "AgentLoopOutput")


@dataclass
class AgentLoopOutput:
    """veRL's ``AgentLoopOutput`` fields (the real class is returned when veRL is installed).

    Attributes:
        prompt_ids: The first prompt's ids.
        response_ids: Every id after it: the model's and the env's, in order.
        response_mask: 1 on the model's ids, 0 on the env's (the loss mask).
        num_turns: Model turns plus env turns, as veRL counts them.
        metrics: Per-episode metrics.
        reward_score: The episode's return (tool costs included).
        extra_fields: Success and costs.
    """

    prompt_ids: list[int]
    response_ids: list[int]
    response_mask: list[int]
    num_turns: int = 0
    metrics: dict[str, Any] = field(default_factory=dict)
    reward_score: float | None = None
    extra_fields: dict[str, Any] = field(default_factory=dict)


class VerlAgentLoop(_VerlBase):
    """A toolgym episode as a veRL agent loop (see the module docstring).

    veRL constructs it with its own keyword arguments (``trainer_config`` / ``config``, ``server_manager``,
    ``tokenizer``, ...); the dataset row (``extra_info``) names the env and task.

    Args:
        server_manager: veRL's async generation client (``await generate(request_id=, prompt_ids=, sampling_params=)``
            returning token ids, or an object with ``token_ids``).
        tokenizer: The model's tokenizer (with a chat template).
        max_turns: Model turns per episode at most (default: the env's step limit).
        response_length: Stop when the response would exceed this many ids.
        **kwargs: Passed to veRL's ``AgentLoopBase`` when it is installed.
    """

    def __init__(
        self,
        *args: Any,
        server_manager: Any = None,
        tokenizer: Any = None,
        max_turns: int | None = None,
        response_length: int = 4096,
        **kwargs: Any,
    ) -> None:
        """See the class docstring."""
        if _VerlBase is not object:
            super().__init__(*args, server_manager=server_manager, tokenizer=tokenizer, **kwargs)
        if server_manager is None or tokenizer is None:
            raise ConfigError(
                "VerlAgentLoop: expected server_manager= and tokenizer= (veRL passes both), got "
                f"server_manager={server_manager!r}, tokenizer={tokenizer!r}."
            )
        self.server_manager = server_manager
        self.tokenizer = tokenizer
        self.max_turns = max_turns
        self.response_length = response_length

    def _template(self, messages: list[dict[str, str]], generation: bool) -> list[int]:
        return list(
            self.tokenizer.apply_chat_template(
                messages, add_generation_prompt=generation, tokenize=True, return_dict=False
            )
        )

    def _env_turn(self, messages: list[dict[str, str]], action: str, observation: str) -> tuple[list[int], int]:
        """The ids of the env's turn: what the template adds after the assistant's end of turn.

        The template renders the conversation with and without the env's message; the difference, taken after
        the assistant turn's EOS (which the model generated itself; a newline the template puts after it is the
        env's), is appended, so the model's ids stay as generated. Returns the ids and 1 if the template
        re-rendered earlier turns (drift), else 0.
        """
        before = self._template(messages + [{"role": "assistant", "content": action}], False)
        after = self._template(
            messages + [{"role": "assistant", "content": action}, {"role": "user", "content": observation}], True
        )
        eos = self.tokenizer.eos_token_id
        ends = [i for i, t in enumerate(before) if t == eos]
        head = before[: ends[-1] + 1] if ends else before
        if after[: len(head)] == head:
            return after[len(head) :], 0
        # the template re-rendered the assistant turn (e.g. Qwen 3 drops the empty think block from all but the
        # last assistant turn): take the env's turn after the assistant's end of turn in the full rendering
        ends_after = [i for i, t in enumerate(after) if t == eos]
        start = ends_after[-2] + 1 if len(ends_after) >= 2 else len(head)
        return after[start:], 1

    async def run(self, sampling_params: dict[str, Any], **kwargs: Any) -> Any:
        """Run one episode; returns veRL's ``AgentLoopOutput`` (or :class:`AgentLoopOutput` without veRL)."""
        env_id, env_kwargs, task_id, seed = _task(kwargs, "VerlAgentLoop")
        env = gym.make(env_id, **env_kwargs)
        try:
            obs, info = env.reset(seed=seed, options={"task_id": task_id} if task_id else None)
            instructions = getattr(env.unwrapped, "instructions", lambda: "")()
            messages = [dict(m) for m in (kwargs.get("raw_prompt") or [])]
            messages.append({"role": "user", "content": f"{instructions}\n{_text(obs)}".strip()})
            prompt_ids = self._template(messages, True)
            response: list[int] = []
            mask: list[int] = []
            ret, turns, done, drift = 0.0, 0, False, 0
            limit: int = self.max_turns or cast(int, getattr(env.unwrapped, "max_steps", 20))
            request_id = uuid.uuid4().hex
            while not done and turns < limit and len(response) < self.response_length:
                out = await self.server_manager.generate(
                    request_id=request_id, prompt_ids=prompt_ids + response, sampling_params=sampling_params
                )
                ids = list(getattr(out, "token_ids", out))
                response += ids
                mask += [1] * len(ids)
                turns += 1
                action = self.tokenizer.decode(ids, skip_special_tokens=True)
                obs, reward, terminated, truncated, info = env.step(action)
                ret += float(reward)
                done = bool(terminated or truncated)
                if not done:
                    env_ids, drifted = self._env_turn(messages, action, _text(obs))
                    messages = messages + [
                        {"role": "assistant", "content": action},
                        {"role": "user", "content": _text(obs)},
                    ]
                    drift += drifted
                    response += env_ids
                    mask += [0] * len(env_ids)
            response, mask = response[: self.response_length], mask[: self.response_length]
            extra = {
                "success": bool(info["success"]),
                "cost_total": float(info["cost_total"]),
                "task_id": info["task_id"],
            }
            fields: dict[str, Any] = {
                "prompt_ids": prompt_ids,
                "response_ids": response,
                "response_mask": mask,
                "num_turns": 2 * turns,
                "metrics": {"template_drift": drift},
                "reward_score": ret,
                "extra_fields": extra,
            }
            if _VerlOutput is not None:
                names = set(getattr(_VerlOutput, "model_fields", {}) or fields)
                return _VerlOutput(**{k: v for k, v in fields.items() if k in names})
            return AgentLoopOutput(**fields)
        finally:
            env.close()


def register_verl_agent_loop(name: str = "toolgym_agent") -> None:
    """Register :class:`VerlAgentLoop` with veRL under ``name`` (the name the rollout config's agent loop names).

    Raises:
        DependencyNotInstalled: veRL is not installed.
    """
    from toolgym.error import require

    module = require("verl.experimental.agent_loop.agent_loop", "verl", "Registering toolgym with veRL")
    module.register(name)(VerlAgentLoop)
