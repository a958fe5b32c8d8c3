"""The tool-cost model: one mechanism that prices every tool call of every environment.

Each tool declares a :class:`ToolCost`: a price per call, per second of latency and per character of
output. A :class:`CostModel` prices a call into a :class:`ToolCall` record, and the environment folds the
weighted total into the reward::

    reward = task_reward - cost_weight * sum(call.cost for call in this step's calls) - invalid_penalty

Latency is priced one of two ways (``latency=`` on every environment):

* ``"nominal"`` (default): each tool's declared ``nominal_latency_s`` is charged. Rewards and ``info`` are
  then deterministic (same seed, same trajectory, same reward), and an offline tool can be priced like the
  live service it stands in for (a web search takes about a second even when the offline index answers in
  a millisecond).
* ``"measured"``: the wall-clock time of the call is charged. Rewards then vary from run to run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal, TypeVar

from toolgym.error import ConfigError, did_you_mean

__all__ = ["CostModel", "LatencyMode", "ToolCall", "ToolCost", "timed"]

LatencyMode = Literal["nominal", "measured"]
T = TypeVar("T")


@dataclass(frozen=True)
class ToolCost:
    """The price list of one tool.

    Attributes:
        per_call: Charged once per call.
        per_second: Charged per second of latency (nominal or measured, see :class:`CostModel`).
        per_char: Charged per character of the tool's output (what the agent must read).
        nominal_latency_s: The latency charged in ``"nominal"`` mode.
    """

    per_call: float = 0.0
    per_second: float = 0.0
    per_char: float = 0.0
    nominal_latency_s: float = 0.0

    def __post_init__(self) -> None:
        for name in ("per_call", "per_second", "per_char", "nominal_latency_s"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or value < 0 or value != value:
                raise ConfigError(f"ToolCost.{name}: expected a non-negative number, got {value!r}.")

    @classmethod
    def coerce(cls, value: ToolCost | Mapping[str, float] | float, *, base: ToolCost | None = None) -> ToolCost:
        """Build a ToolCost from a ToolCost, a mapping of fields, or a number (the per-call price).

        Args:
            value: The override.
            base: Fields not named in a mapping keep this cost's values.

        Returns:
            The ToolCost.
        """
        if isinstance(value, ToolCost):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return replace(base or cls(), per_call=float(value))
        if isinstance(value, Mapping):
            fields = set(cls.__dataclass_fields__)
            unknown = sorted(set(value) - fields)
            if unknown:
                raise ConfigError(
                    f"ToolCost: expected fields among {sorted(fields)}, got {unknown}."
                    + did_you_mean(unknown[0], fields)
                )
            return replace(base or cls(), **{k: float(v) for k, v in value.items()})
        raise ConfigError(
            f"ToolCost: expected a ToolCost, a mapping such as {{'per_call': 0.1}}, or a number, got {value!r}."
        )


@dataclass(frozen=True)
class ToolCall:
    """One priced tool call, as recorded in ``info["tool_calls"]``.

    Attributes:
        name: The tool's name.
        arguments: The arguments as the agent gave them.
        output_chars: Characters of output the agent receives.
        latency_s: The latency charged (nominal or measured).
        cost: The unweighted total: ``call_cost + latency_cost + output_cost``.
        call_cost: The per-call part.
        latency_cost: The per-second part.
        output_cost: The per-character part.
    """

    name: str
    arguments: Any
    output_chars: int
    latency_s: float
    cost: float
    call_cost: float
    latency_cost: float
    output_cost: float

    def to_dict(self) -> dict[str, Any]:
        """Return a fresh JSON-ready dict."""
        d = asdict(self)
        if not isinstance(d["arguments"], (str, int, float, bool, type(None), list, dict)):
            d["arguments"] = repr(d["arguments"])
        return d


@dataclass(frozen=True)
class CostModel:
    """Prices tool calls for one environment.

    Attributes:
        costs: The price list per tool name.
        weight: λ, the weight of the cost in the reward; 0 turns costs off.
        latency: ``"nominal"`` (deterministic) or ``"measured"`` (wall clock).
    """

    costs: Mapping[str, ToolCost] = field(default_factory=dict)
    weight: float = 1.0
    latency: LatencyMode = "nominal"

    def __post_init__(self) -> None:
        if not isinstance(self.weight, (int, float)) or self.weight < 0 or self.weight != self.weight:
            raise ConfigError(f"cost_weight: expected a non-negative number (λ), got {self.weight!r}.")
        if self.latency not in ("nominal", "measured"):
            raise ConfigError(f"latency: expected 'nominal' or 'measured', got {self.latency!r}.")

    @classmethod
    def build(
        cls,
        defaults: Mapping[str, ToolCost],
        overrides: Mapping[str, ToolCost | Mapping[str, float] | float] | None = None,
        *,
        weight: float = 1.0,
        latency: LatencyMode = "nominal",
    ) -> CostModel:
        """Merge an environment's default prices with user overrides.

        Args:
            defaults: The environment's documented price list.
            overrides: Per-tool overrides; a number sets the per-call price, a mapping sets named fields.
            weight: λ.
            latency: The latency mode.

        Returns:
            The cost model.

        Raises:
            ConfigError: An override names a tool the environment does not have.
        """
        costs = dict(defaults)
        for name, value in (overrides or {}).items():
            if name not in defaults:
                raise ConfigError(
                    f"tool_costs: expected tool names among {sorted(defaults)}, got {name!r}."
                    + did_you_mean(name, defaults)
                )
            costs[name] = ToolCost.coerce(value, base=defaults[name])
        return cls(costs=costs, weight=float(weight), latency=latency)

    def price(self, name: str, arguments: Any, output_chars: int, wall_s: float) -> ToolCall:
        """Price one call.

        Args:
            name: The tool's name (must be in the price list).
            arguments: The call's arguments, recorded as given.
            output_chars: Characters of output.
            wall_s: Measured wall-clock seconds of the call.

        Returns:
            The priced call.
        """
        try:
            tc = self.costs[name]
        except KeyError:
            raise ConfigError(
                f"CostModel: expected a tool among {sorted(self.costs)}, got {name!r}. "
                "Declare its ToolCost in the environment's default_tool_costs."
            ) from None
        latency = tc.nominal_latency_s if self.latency == "nominal" else float(wall_s)
        call_cost = tc.per_call
        latency_cost = tc.per_second * latency
        output_cost = tc.per_char * output_chars
        return ToolCall(
            name=name,
            arguments=arguments,
            output_chars=int(output_chars),
            latency_s=round(latency, 9),
            cost=call_cost + latency_cost + output_cost,
            call_cost=call_cost,
            latency_cost=latency_cost,
            output_cost=output_cost,
        )


def timed(fn: Callable[..., T], *args: Any, **kwargs: Any) -> tuple[T, float]:
    """Call ``fn(*args, **kwargs)`` and return its result with the wall-clock seconds it took."""
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0
