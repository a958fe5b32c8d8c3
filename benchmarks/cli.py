"""The ``toolgym`` command line: list environments, play one in the terminal (and, later, run sweeps)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import typer
from rich.console import Console
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
    return Console(highlight=False, soft_wrap=True)


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


def main() -> None:
    """Entry point of the ``toolgym`` console script."""
    app()


if __name__ == "__main__":
    main()
