"""ReST-EM (Singh et al. 2023): self-training on the model's own verified samples, iterated.

From a weak start ``M0`` (SFT on a few demonstrations), each iteration ``i``:

1. **E-step** - ``M_{i-1}`` samples ``k`` trajectories per training task at temperature ``T``;
2. the samples whose episode ended solved (``info["success"]``) are kept, de-duplicated, at most
   ``max_per_task`` per task;
3. **M-step** - fine-tune *from the base model* on them (``from_base=True``, as the paper does; or continue
   from ``M_{i-1}``) for a fixed number of SFT steps, giving ``M_i``;
4. evaluate ``M_i`` (greedy) on validation tasks (early stopping: stop when it is worse than the best so far)
   and on the held-out test tasks (the learning curve).

The arms (``arm``) make the controls of the experiment, with the same step counts:

* ``"rest_em"`` - the method;
* ``"unfiltered"`` - every sample is trained on, solved or not (what the success filter buys);
* ``"demos"`` - no sampling: iteration ``i`` fine-tunes from the base on the original demonstrations for as many
  SFT steps as ReST-EM has spent by then (``steps_demo + i * steps_per_iteration``): does self-training beat just
  training longer on the demonstrations?

A run writes ``iter-<i>/`` folders (samples, SFT checkpoints, evaluations) and ``result.json`` (the curve,
the budget ledger per iteration, the held-out check); ``resume=True`` continues a killed run.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from toolgym.algorithms.ledger import Ledger
from toolgym.algorithms.models import build_model
from toolgym.algorithms.runconfig import StudentRun
from toolgym.algorithms.runio import cached_phase, read_json, write_json
from toolgym.algorithms.selftrain import agent_policy, assess_agent, demonstrations, flat_row, sft_phase, task_sets
from toolgym.algorithms.trajectories import cap_per_task, collect, dedupe, load_dataset, save_dataset, successes
from toolgym.error import ConfigError

__all__ = ["ARMS", "RestEMConfig", "run_rest_em"]

#: The arms of a ReST-EM experiment (see the module docstring).
ARMS = ("rest_em", "unfiltered", "demos")


@dataclass(frozen=True)
class RestEMConfig(StudentRun):
    """One ReST-EM run (one arm, one seed): the fields of :class:`~.runconfig.StudentRun` and these.

    Attributes:
        demo_tasks: Demonstration tasks (the first of the ``train`` split).
        train_tasks: Tasks sampled at each iteration (the next ones of the ``train`` split).
        valid_tasks: Tasks for early stopping (the ones after those, also from ``train``; never trained on).
        iterations: Self-training iterations after ``M0``.
        samples_per_task: ``k``.
        temperature: Sampling temperature of the E-step.
        max_per_task: Solved samples kept per task.
        from_base: Fine-tune each ``M_i`` from the base model (True, the paper) or from ``M_{i-1}``.
        steps_demo: SFT steps of ``M0`` on the demonstrations.
        steps_per_iteration: SFT steps of each iteration.
        early_stopping: Stop when validation success drops below the best so far.
        evaluate_base: Also evaluate the untrained base model (the curve's starting point, ``"base"``).
        arm: ``"rest_em"``, ``"unfiltered"`` or ``"demos"`` (see the module docstring).
        train: Other SFT settings (``max_steps`` is set per phase from the step counts above).
    """

    demo_tasks: int = 100
    train_tasks: int = 1000
    valid_tasks: int = 100
    iterations: int = 3
    samples_per_task: int = 4
    temperature: float = 1.0
    max_per_task: int = 10
    from_base: bool = True
    steps_demo: int = 200
    steps_per_iteration: int = 300
    early_stopping: bool = False
    evaluate_base: bool = False
    arm: str = "rest_em"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.arm not in ARMS:
            raise ConfigError(f"RestEMConfig.arm: expected one of {list(ARMS)}, got {self.arm!r}.")
        if self.iterations < 0 or self.samples_per_task < 1 or self.temperature <= 0:
            raise ConfigError(
                "RestEMConfig: expected iterations >= 0, samples_per_task >= 1 and temperature > 0, got "
                f"{self.iterations}, {self.samples_per_task}, {self.temperature}."
            )


def run_rest_em(config: RestEMConfig, out: str | Path, *, resume: bool = False) -> dict[str, Any]:
    """Run one arm of ReST-EM (see the module docstring); returns and writes ``result.json``."""
    import gymnasium as gym

    out = Path(out)
    if not resume and (out / "result.json").exists():
        raise ConfigError(f"run_rest_em: {out} holds a finished run; use another folder or resume=True.")
    out.mkdir(parents=True, exist_ok=True)
    sets = task_sets(config, caller="run_rest_em")
    demo_ids, train_ids = sets.demos, sets.train
    report = sets.report
    ledger_path = out / "ledger.json"
    ledger = Ledger.from_dict(read_json(ledger_path)) if resume and ledger_path.exists() else Ledger()
    render_env = gym.make(config.env, **dict(config.env_kwargs))  # renders training text as the policy prompts

    def policy_of(model: Any, tok: Any, *, sample: bool) -> Any:
        return agent_policy(config, model, tok, sample=sample)

    def assess_model(model: Any, tok: Any, i: int) -> dict[str, Any]:
        return assess_agent(config, model, tok, sets, ledger=ledger, phase=f"iter{i}/eval")

    def train(data: list, steps: int, i: int, start_model: tuple[Any, Any] | None) -> tuple[Any, Any, dict]:
        model, tok, summary = sft_phase(
            config.model,
            config.train,
            data,
            renderer=lambda m, t: policy_of(m, t, sample=False),
            folder=out / f"iter-{i}",
            steps=steps,
            seed=config.seed + i,
            ledger=ledger,
            env=render_env,
            phase=f"iter{i}/train",
            resume=resume,
            start=start_model,
        )
        write_json(ledger_path, ledger.to_dict())
        if summary.get("skipped") and start_model is None and i > 0:
            return prev_model[0], prev_model[1], summary
        return model, tok, summary

    base_row = None
    if config.evaluate_base:
        base_model, base_tok = build_model(config.model)
        base_row = flat_row(
            cached_phase(out / "base_eval.json", lambda: assess_model(base_model, base_tok, -1), resume=resume)
        )
        del base_model
    prev_model: list[Any] = [None, None]  # M_{i-1}, kept when an iteration has nothing to train on
    # M0: the weak start
    demos = demonstrations(config, demo_ids, ledger, out / "iter-0" / "data", resume=resume)
    model, tok, summary = train(demos, config.steps_demo, 0, None)
    curve = [
        {
            "iteration": 0,
            "data": len(demos),
            "sft_steps_total": summary["steps"],
            **flat_row(cached_phase(out / "iter-0" / "eval.json", lambda: assess_model(model, tok, 0), resume=resume)),
        }
    ]
    best, stopped_at = curve[0]["valid_success"], None
    for i in range(1, config.iterations + 1):
        total_steps = config.steps_demo + i * config.steps_per_iteration
        if config.arm == "demos":
            data = demos
            model, tok, summary = train(data, total_steps, i, None)
        else:
            sample_dir = out / f"iter-{i}" / "data"
            if resume and (sample_dir / "manifest.json").exists():
                data, manifest = load_dataset(sample_dir)
            else:
                samples = collect(
                    policy_of(model, tok, sample=True),
                    config.env,
                    train_ids,
                    k=config.samples_per_task,
                    seed=config.seed * 1000 + i,
                    num_envs=config.num_envs,
                    env_kwargs=config.env_kwargs,
                    max_steps=config.max_steps,
                    ledger=ledger,
                    phase=f"iter{i}/sample",
                )
                kept = successes(samples) if config.arm == "rest_em" else [t for t in samples if t.steps]
                data = cap_per_task(dedupe(kept), config.max_per_task)
                save_dataset(
                    sample_dir,
                    data,
                    {"phase": f"iteration {i}", "sampled": len(samples), "solved": len(successes(samples))},
                )
                write_json(ledger_path, ledger.to_dict())
            if not data:  # nothing solved: no M-step; M_i = M_{i-1} (recorded as such)
                write_json(out / f"iter-{i}" / "train.json", {"steps": 0, "skipped": "no solved sample"})
            else:
                start = None if config.from_base else (model, tok)
                prev_model[:] = [model, tok]
                model, tok, summary = train(data, config.steps_per_iteration, i, start)
        row = cached_phase(
            out / f"iter-{i}" / "eval.json", functools.partial(assess_model, model, tok, i), resume=resume
        )
        curve.append({"iteration": i, "data": len(data), "sft_steps_total": total_steps, **flat_row(row)})
        if config.early_stopping and stopped_at is None and curve[-1]["valid_success"] < best:
            stopped_at = i
            break
        best = max(best, curve[-1]["valid_success"])
    write_json(ledger_path, ledger.to_dict())
    result = {
        "method": "rest_em",
        "arm": config.arm,
        "seed": config.seed,
        "env": config.env,
        "curve": curve,
        "base": base_row,
        "stopped_at": stopped_at,
        "ledger": ledger.to_dict(),
        "held_out": report,
        "config": config.to_dict(),
    }
    write_json(out / "result.json", result)
    return result
