"""The ``toolgym`` command line: list environments, play one, run benchmark sweeps, report and compare them."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Annotated, Any

import gymnasium as gym
import numpy as np
import typer
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

import toolgym
from toolgym.core import TextEnv
from toolgym.registry import describe, env_class, toolgym_ids

app = typer.Typer(
    name="toolgym",
    help="Gymnasium environments for tool-using language agents.",
    no_args_is_help=True,
    add_completion=False,
)


def _console() -> Console:
    # Piped or redirected output (make demo | tee, CI logs) has room: give tables 160 columns, not rich's 80.
    wide = not sys.stdout.isatty() and "COLUMNS" not in os.environ
    return Console(highlight=False, soft_wrap=True, width=160 if wide else None)


@app.command("envs")
def envs_command() -> None:
    """List every registered environment with its family, data source and whether its data is here."""
    table = Table(title=f"toolgym {toolgym.__version__} environments")
    for col in ("id", "family", "data", "available", "description"):
        table.add_column(col, overflow="fold")
    for env_id in toolgym_ids():
        family, summary, status = describe(env_id)
        mark = "[green]yes[/green]" if status.available else f"[red]no[/red] {status.detail}".strip()
        table.add_row(env_id, family, status.source, mark, summary)
    _console().print(table)


def _save_images(obs: Any, folder: Path, step: int) -> list[Path]:
    from PIL import Image

    paths = []
    items = obs.items() if isinstance(obs, dict) else []
    for key, value in items:
        if isinstance(value, np.ndarray) and value.ndim == 3 and value.dtype == np.uint8 and value.any():
            path = folder / f"step{step:03d}_{key}.png"
            Image.fromarray(value).save(path)
            paths.append(path)
    return paths


def _show_observation(console: Console, env: gym.Env, obs: Any, step: int, image_dir: Path) -> None:
    if isinstance(obs, dict):
        text = "\n".join(f"{k}: {v}" for k, v in obs.items() if isinstance(v, str) and v)
        for path in _save_images(obs, image_dir, step):
            text += f"\n[image saved to {path}]"
        frame = env.render() if env.render_mode == "rgb_array" else None
        if isinstance(frame, np.ndarray):
            from PIL import Image

            path = image_dir / f"step{step:03d}_render.png"
            Image.fromarray(frame).save(path)
            text += f"\n[rendered view saved to {path}]"
    else:
        text = str(obs)
    # Text, not markup: observations hold brackets ("find[...]", "[image saved to ...]"); wrap long lines.
    console.print(Panel(Text(text), title=f"observation (step {step})", expand=False), soft_wrap=False)


@app.command("play")
def play_command(
    env_id: str = typer.Argument(..., help="A registered id, e.g. toolgym/ToolChoice-Arithmetic-v0."),
    seed: int = typer.Option(0, help="Reset seed (same seed, same task)."),
    task_id: str | None = typer.Option(None, "--task-id", help="Play this task instead of a seeded draw."),
    episodes: int = typer.Option(1, min=1, help="Episodes to play."),
) -> None:
    """Play an environment in the terminal: type actions; ':hint' shows the expert's action, ':q' quits."""
    console = _console()
    try:
        spec = gym.spec(env_id)
    except gym.error.Error as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    modes = env_class(spec.id).metadata.get("render_modes", [])
    env = gym.make(env_id, render_mode="rgb_array" if "rgb_array" in modes else None)
    base = env.unwrapped
    image_dir = Path(tempfile.mkdtemp(prefix="toolgym-play-"))
    if isinstance(base, TextEnv):
        console.print(f"[bold]{env_id}[/bold] - {base.instructions()}")
    try:
        for episode in range(episodes):
            options = {"task_id": task_id} if task_id else None
            obs, info = env.reset(seed=seed + episode, options=options)
            console.print(f"[dim]task {info['task_id']}[/dim]")
            _show_observation(console, env, obs, 0, image_dir)
            done = False
            while not done:
                if info.get("admissible_actions"):
                    console.print("[dim]admissible: " + " | ".join(info["admissible_actions"]) + "[/dim]")
                action = typer.prompt("action", prompt_suffix="> ", default="", show_default=False)
                if action.strip() == ":q":
                    return
                if action.strip() == ":hint":
                    hint = base.expert_action() if isinstance(base, TextEnv) else "(no expert)"
                    console.print(Text(f"expert: {hint}", style="cyan"))
                    continue
                obs, reward, terminated, truncated, info = env.step(action)
                _show_observation(console, env, obs, info["step"], image_dir)
                calls = ", ".join(f"{c['name']} ({c['cost']:.4g})" for c in info["tool_calls"]) or "none"
                flag = " [red]invalid action[/red]" if info["invalid_action"] else ""
                console.print(f"reward {reward:+.4f} | tool calls: {calls} | cost total {info['cost_total']:.4f}{flag}")
                done = terminated or truncated
            outcome = "[green]solved[/green]" if info["success"] else "[red]not solved[/red]"
            console.print(f"episode over: {outcome}, score {info['score']:.3f}, steps {info['step']}")
    finally:
        env.close()


# ---------------------------------------------------------------------------------------------- sweeps
def _err_console() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def _fail(exc: BaseException, code: int) -> typer.Exit:
    _err_console().print(f"[red]error:[/red] {escape(str(exc))}")
    return typer.Exit(code)


def _setup_logging(verbose: bool) -> None:
    import logging

    from rich.logging import RichHandler

    root = logging.getLogger("toolgym")
    if not any(isinstance(h, RichHandler) for h in root.handlers):
        root.addHandler(RichHandler(console=_err_console(), show_time=False, show_path=False))
    root.setLevel(logging.INFO if verbose else logging.WARNING)


def _list_suites(console: Console) -> None:
    from toolgym.benchmarks.suite import builtin_suites

    table = Table(title="built-in suites (or give a path to a YAML file)")
    table.add_column("suite")
    table.add_column("description", overflow="fold")
    for name, description in builtin_suites().items():
        table.add_row(name, description)
    console.print(table)


def _show_plan(console: Console, plan: Any) -> None:
    table = Table(title=f"plan of suite {plan.suite} ({plan.episodes} episodes, families: {', '.join(plan.families)})")
    for col in ("env", "family", "policy", "seeds", "episodes"):
        table.add_column(col, overflow="fold")
    groups: dict[tuple[str, str], list[Any]] = {}
    for cell in plan.cells:
        groups.setdefault((cell.env, cell.policy), []).append(cell)
    for (env, policy), cells in groups.items():
        seeds = ",".join(str(c.seed) for c in cells)
        table.add_row(env, cells[0].family, policy, seeds, str(sum(len(c.episodes) for c in cells)))
    console.print(table)
    for entry, reason in plan.skipped:
        console.print(f"[yellow]skipped[/yellow] {escape(entry)}: {escape(reason)}")


def _track(console: Console, out: Path, tensorboard: bool, mlflow: bool, mlflow_uri: str | None) -> None:
    from toolgym.benchmarks.tracking import log_mlflow, log_tensorboard

    if tensorboard:
        console.print(f"TensorBoard logs: {log_tensorboard(out)}")
    if mlflow:
        uri = mlflow_uri or os.environ.get("MLFLOW_TRACKING_URI") or str(out / "mlruns")
        console.print(f"MLflow run {log_mlflow(out, uri)} logged to {uri}")


def _finish_report(console: Console, out: Path, *, html: bool) -> None:
    from toolgym.benchmarks.leaderboard import print_leaderboard

    print_leaderboard(out, console)
    if html:
        from toolgym.benchmarks.report import write_report

        console.print(f"report: [bold]{write_report(out)}[/bold]")


@app.command("bench")
def bench_command(
    suite: Annotated[
        str | None, typer.Argument(help="A built-in suite (smoke, quick, paper...) or a YAML file.")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Run folder (default runs/<suite>-<time>).")] = None,
    workers: Annotated[int | None, typer.Option("--workers", "-w", min=1, help="Workers (default: CPU cores).")] = None,
    backend: Annotated[str, typer.Option(help="local (process pool) or ray.")] = "local",
    resume: Annotated[bool, typer.Option(help="Finish the run in --out, skipping recorded episodes.")] = False,
    retry_errors: Annotated[bool, typer.Option(help="With --resume, rerun the episodes that ended in error.")] = False,
    llm: Annotated[str | None, typer.Option(help="Model for every LLM policy (e.g. openai:gpt-4o-mini).")] = None,
    ray_address: Annotated[str | None, typer.Option(help="Ray cluster address (default: a local Ray).")] = None,
    dry_run: Annotated[bool, typer.Option(help="Show the plan and exit.")] = False,
    list_suites: Annotated[bool, typer.Option("--list", help="List the built-in suites and exit.")] = False,
    html: Annotated[bool, typer.Option(help="Write the HTML report at the end.")] = True,
    tensorboard: Annotated[bool, typer.Option(help="Also log the metrics to TensorBoard (OUT/tensorboard).")] = False,
    mlflow: Annotated[bool, typer.Option(help="Also log the metrics to MLflow.")] = False,
    mlflow_uri: Annotated[str | None, typer.Option(help="MLflow tracking URI (default OUT/mlruns).")] = None,
    progress: Annotated[bool, typer.Option(help="Show the progress bar.")] = True,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log more.")] = False,
) -> None:
    """Run a benchmark suite: envs x policies x seeds, recorded episode by episode into a resumable run folder."""
    import time

    from toolgym.benchmarks.backends import BackendError
    from toolgym.benchmarks.runner import plan_suite, run_suite
    from toolgym.benchmarks.store import RunDirError, StoreError
    from toolgym.error import ConfigError

    console = _console()
    _setup_logging(verbose)
    if list_suites or suite is None:
        _list_suites(console)
        return
    try:
        s, plan = plan_suite(suite, llm=llm)
    except ConfigError as exc:
        raise _fail(exc, 2) from None
    if dry_run:
        _show_plan(console, plan)
        return
    out = out or Path("runs") / f"{s.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    for entry, reason in plan.skipped:
        _err_console().print(f"[yellow]skipped[/yellow] {escape(entry)}: {escape(reason)}")
    observers = []
    if progress:
        from toolgym.benchmarks.progress import RichProgress

        observers.append(RichProgress(_err_console()))
    try:
        result = run_suite(
            s, out, workers=workers, backend=backend, resume=resume, retry_errors=retry_errors,
            ray_address=ray_address, observers=observers,
        )  # fmt: skip
    except (RunDirError, ConfigError) as exc:
        raise _fail(exc, 2) from None
    except (StoreError, BackendError) as exc:
        raise _fail(exc, 1) from None
    console.print(
        f"{result.status}: {result.recorded}/{result.plan.episodes} episodes in {out} "
        f"({result.ran} run now, {result.resumed_from} resumed) in {result.elapsed_s:.1f} s"
    )
    try:
        _finish_report(console, out, html=html)
        _track(console, out, tensorboard, mlflow, mlflow_uri)
    except (StoreError, ConfigError) as exc:
        raise _fail(exc, 1) from None
    if result.status != "complete":
        console.print(f"[yellow]not finished[/yellow]: rerun with `toolgym bench {suite} --out {out} --resume`")
        raise typer.Exit(130 if result.status == "interrupted" else 3)


@app.command("tool-choice")
def tool_choice_command(
    experiment: Annotated[str, typer.Argument(help="arithmetic or multihop.")] = "arithmetic",
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Output folder (default runs/tool-choice-<exp>).")
    ] = None,
    seeds: Annotated[int, typer.Option(min=1, help="Training seeds (0..n-1).")] = 3,
    budget: Annotated[int | None, typer.Option(min=1, help="Decisions per learner (default: the recipe's).")] = None,
) -> None:
    """Learned vs fixed tool choosers over λ on held-out tasks: writes results.json, table.md and pareto.png."""
    from dataclasses import replace

    from toolgym.benchmarks.tool_choice import ArithmeticBenchConfig, MultiHopBenchConfig, run_arithmetic, run_multihop

    runners: dict[str, Any] = {
        "arithmetic": (ArithmeticBenchConfig, run_arithmetic),
        "multihop": (MultiHopBenchConfig, run_multihop),
    }
    if experiment not in runners:
        raise _fail(ValueError(f"expected an experiment among {sorted(runners)}, got {experiment!r}."), 2)
    make, run = runners[experiment]
    config = replace(make(), seeds=tuple(range(seeds)))
    if budget is not None:
        config = replace(config, budget=budget)
    out = out or Path("runs") / f"tool-choice-{experiment}"
    run(config, out)
    console = _console()
    console.print((out / "table.md").read_text(encoding="utf-8"), markup=False)
    console.print(f"Results: {out / 'results.json'}; plot: {out / 'pareto.png'}")


@app.command("trials")
def trials_command(
    env: Annotated[str, typer.Argument(help="The env id.")] = "toolgym/ToolChoice-Arithmetic-v0",
    llm: Annotated[str, typer.Option(help="Model spec: tiny, gemma, hf:..., openai:..., or a JSON dict.")] = "tiny",
    trials: Annotated[int, typer.Option(min=1, help="Trials per task (N).")] = 3,
    tasks: Annotated[int, typer.Option(min=1, help="Held-out tasks, the first of the test split (K).")] = 10,
    seeds: Annotated[int, typer.Option(min=1, help="Replicate seeds (0..S-1).")] = 3,
    arms: Annotated[str, typer.Option(help="Comma-separated arms among memory, retry, repair.")] = "memory,retry",
    base: Annotated[str, typer.Option(help="Each trial's method: react, act, cot or io.")] = "react",
    temperature: Annotated[float, typer.Option(min=0.0, help="Sampling temperature (> 0).")] = 0.7,
    max_tokens: Annotated[int, typer.Option(min=1, help="Completion tokens per model call.")] = 128,
    examples: Annotated[str, typer.Option(help="Few-shot examples: auto, published, written, expert, none.")] = "auto",
    max_steps: Annotated[int | None, typer.Option(min=1, help="The env's step limit per trial.")] = None,
    num_envs: Annotated[int, typer.Option(min=1, help="Episodes side by side (batched model calls).")] = 4,
    env_kwargs: Annotated[str, typer.Option(help="The env's arguments as JSON, e.g. '{\"difficulty\": 2}'.")] = "{}",
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Output folder (default runs/trials).")] = None,
    resume: Annotated[bool, typer.Option(help="Continue a killed run in --out.")] = False,
) -> None:
    """Reflexion as a learning curve: success by trial, reflection memory vs plain retries, 95% CIs over seeds."""
    import json

    from toolgym.benchmarks.trials import TrialsConfig, run_trials, verdict_line
    from toolgym.error import ConfigError

    try:
        config = TrialsConfig(
            env=env,
            env_kwargs=json.loads(env_kwargs),
            llm=json.loads(llm) if llm.lstrip().startswith("{") else llm,
            trials=trials,
            tasks=tasks,
            seeds=tuple(range(seeds)),
            arms=tuple(a.strip() for a in arms.split(",") if a.strip()),
            base=base,
            temperature=temperature,
            max_tokens=max_tokens,
            examples=examples,
            max_steps=max_steps,
            num_envs=num_envs,
        )
        out = out or Path("runs") / "trials"
        console = _console()
        summary = run_trials(
            config, out, resume=resume, on_run=lambda arm, seed, _: console.print(f"done: {arm} seed {seed}")
        )
    except (ConfigError, json.JSONDecodeError) as exc:
        raise _fail(exc, 2) from None
    console.print((out / "report.md").read_text(encoding="utf-8"), markup=False)
    console.print(verdict_line(summary), markup=False)
    console.print(f"Results: {out / 'summary.json'}; plot: {out / 'trials.png'}")


@app.command("report")
def report_command(
    run_dir: Annotated[Path, typer.Argument(help="A run folder written by `toolgym bench`.")],
    html: Annotated[bool, typer.Option(help="Write the HTML report.")] = True,
    html_path: Annotated[Path | None, typer.Option(help="Where to write it (default RUN_DIR/report.html).")] = None,
    parquet: Annotated[bool, typer.Option(help="Also export the records to RUN_DIR/results.parquet.")] = False,
    tensorboard: Annotated[bool, typer.Option(help="Log the metrics to TensorBoard (RUN_DIR/tensorboard).")] = False,
    mlflow: Annotated[bool, typer.Option(help="Log the metrics to MLflow.")] = False,
    mlflow_uri: Annotated[str | None, typer.Option(help="MLflow tracking URI (default RUN_DIR/mlruns).")] = None,
) -> None:
    """Print a run's leaderboard (95% CIs over seeds) and write its self-contained HTML report."""
    from toolgym.benchmarks.leaderboard import print_leaderboard
    from toolgym.benchmarks.store import StoreError
    from toolgym.error import ConfigError

    console = _console()
    try:
        print_leaderboard(run_dir, console)
        if html:
            from toolgym.benchmarks.report import write_report

            console.print(f"report: [bold]{write_report(run_dir, html_path)}[/bold]")
        if parquet:
            from toolgym.benchmarks.export import export_parquet

            console.print(f"parquet: {export_parquet(run_dir)}")
        _track(console, run_dir, tensorboard, mlflow, mlflow_uri)
    except ConfigError as exc:
        raise _fail(exc, 2) from None
    except StoreError as exc:
        raise _fail(exc, 1) from None


@app.command("compare")
def compare_command(
    dir_a: Annotated[Path, typer.Argument(help="Run folder A.")],
    dir_b: Annotated[Path, typer.Argument(help="Run folder B.")],
) -> None:
    """Compare two runs: per env x policy, each metric's change from A to B with a 95% CI."""
    from toolgym.benchmarks.compare import compare_runs, comparison_table
    from toolgym.benchmarks.store import StoreError
    from toolgym.error import ConfigError

    console = _console()
    try:
        c = compare_runs(dir_a, dir_b)
    except ConfigError as exc:
        raise _fail(exc, 2) from None
    except StoreError as exc:
        raise _fail(exc, 1) from None
    if not c.same_suite:
        console.print("[yellow]note:[/yellow] the runs used different suite definitions; compare with care.")
    if c.cells:
        console.print(comparison_table(c))
        console.print(
            "[dim]Δ = B - A ± half-width of the 95% CI (t over paired seeds, else bootstrap); green/red: the CI "
            "excludes 0 (better/worse), dim: it does not.[/dim]"
        )
    else:
        console.print("[yellow]the runs have no env x policy in common[/yellow]")
    for name, cells in (("A", c.only_a), ("B", c.only_b)):
        if cells:
            console.print(f"only in {name}: " + ", ".join(f"{e} x {p}" for e, p in cells))


def _list_recipes(console: Console) -> None:
    from toolgym.benchmarks.training import builtin_recipes

    table = Table(title="built-in training recipes (or give a path to a YAML file)")
    table.add_column("recipe")
    table.add_column("description", overflow="fold")
    for name, description in builtin_recipes().items():
        table.add_row(name, description)
    console.print(table)


@app.command("train")
def train_command(
    recipe: Annotated[str | None, typer.Argument(help="A built-in recipe (see --list) or a YAML file.")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Run folder (default runs/<recipe>-<time>).")] = None,
    resume: Annotated[bool, typer.Option(help="Continue the run in --out (after a crash or kill -9).")] = False,
    seeds: Annotated[str | None, typer.Option(help="Replicate seeds, e.g. 0,1,2 (default: the recipe's).")] = None,
    arms: Annotated[str | None, typer.Option(help="Only these arms, e.g. fireact,shuffled.")] = None,
    overrides: Annotated[
        list[str] | None, typer.Option("--set", help="Override a recipe value: config.train.max_steps=200.")
    ] = None,
    list_recipes: Annotated[bool, typer.Option("--list", help="List the built-in recipes and exit.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log more.")] = False,
) -> None:
    """Train agents with a recipe (FireAct, ReST-EM...): arms x seeds, held-out evaluation, report with CIs."""
    import time

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from toolgym.benchmarks.training import load_recipe, report_markdown, run_recipe
    from toolgym.error import ConfigError

    console = _console()
    _setup_logging(verbose)
    if list_recipes or recipe is None:
        _list_recipes(console)
        return
    sets = list(overrides or [])
    if seeds:
        sets.append(f"seeds=[{seeds}]")
    try:
        r = load_recipe(recipe, sets)
        if arms:
            wanted = [a.strip() for a in arms.split(",") if a.strip()]
            missing = [a for a in wanted if a not in r.arms]
            if missing:
                raise ConfigError(f"--arms: expected arms among {list(r.arms)}, got {missing}.")
            r.arms = {a: r.arms[a] for a in wanted}
    except ConfigError as exc:
        raise _fail(exc, 2) from None
    out = out or Path("runs") / f"{r.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    total = len(r.arms) * len(r.seeds)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=_err_console(), transient=True) as bar:
        task = bar.add_task(f"{r.name}: arms x seeds", total=total)

        def on_run(arm: str, seed: int, result: dict[str, Any]) -> None:
            bar.advance(task)
            bar.console.print(f"done {arm} seed {seed}")

        try:
            summary = run_recipe(r, out, resume=resume, on_run=on_run)
        except ConfigError as exc:
            raise _fail(exc, 2) from None
        except KeyboardInterrupt:
            console.print(f"[yellow]interrupted[/yellow]: continue with `toolgym train {recipe} --out {out} --resume`")
            raise typer.Exit(130) from None
    console.print(report_markdown(summary))
    console.print(f"run folder: {out} (summary.json, report.md, learning_curve.png)")


@app.command("serve")
def serve_command(
    env_id: Annotated[str, typer.Argument(help="A registered id, e.g. toolgym/ToolChoice-Arithmetic-v0.")],
    port: Annotated[int, typer.Option(help="Port to listen on (0: any free port).")] = 8000,
    host: Annotated[
        str, typer.Option(help="Interface to bind (loopback by default; 0.0.0.0 exposes it).")
    ] = "127.0.0.1",
    max_sessions: Annotated[int, typer.Option(min=1, help="Sessions open at once (one env each).")] = 64,
    session_timeout: Annotated[float, typer.Option(help="Seconds before an idle session may be closed.")] = 600.0,
    env_kwargs: Annotated[
        str | None, typer.Option("--env-kwargs", help="JSON env arguments, e.g. '{\"difficulty\": 1}'.")
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log more.")] = False,
) -> None:
    """Serve an environment over HTTP in OpenEnv's shape (reset/step/state, sessions); see docs/training.md."""
    import json

    from toolgym.error import ConfigError
    from toolgym.server import EnvServer

    _setup_logging(verbose)
    try:
        kwargs = json.loads(env_kwargs) if env_kwargs else {}
        if not isinstance(kwargs, dict):
            raise ConfigError(f"--env-kwargs: expected a JSON object, got {env_kwargs!r}.")
        server = EnvServer(
            env_id,
            env_kwargs=kwargs,
            host=host,
            port=port,
            max_sessions=max_sessions,
            session_timeout_s=session_timeout,
        )
    except json.JSONDecodeError as exc:
        raise _fail(ConfigError(f"--env-kwargs: expected a JSON object, got {env_kwargs!r} ({exc})."), 2) from None
    except ConfigError as exc:
        raise _fail(exc, 2) from None
    _err_console().print(f"serving {env_id} at http://{host}:{port} (Ctrl-C stops)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        raise typer.Exit(0) from None


def main() -> None:
    """Entry point of the ``toolgym`` console script."""
    app()


if __name__ == "__main__":
    main()
