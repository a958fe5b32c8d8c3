"""FireAct end to end on a tiny model from scratch: held-out success goes from 0 past a threshold that the
shuffled-answers control does not reach; a killed run resumes to the same result."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from toolgym.algorithms.fireact import FireActConfig, TrainSettings, run_fireact  # noqa: E402
from toolgym.algorithms.models import ModelSpec  # noqa: E402

# thresholds fixed before writing the test's first run (the shuffled control can guess a one-digit sum at times)
LEARNED, CONTROL_MAX = 0.80, 0.30


def config(**over):
    base = {
        "env": "toolgym/ToolChoice-Arithmetic-v0",
        "env_kwargs": {"difficulty": 1},
        "teacher": "calc-teacher",
        "train_tasks": 200,  # level 1 has about 85 distinct training questions: all of them
        "eval_tasks": 40,
        "thoughts": False,
        "max_tokens": 24,
        "max_steps": 4,
        "model": ModelSpec(n_layer=2, n_embd=64, n_head=2, n_positions=256),
        "train": TrainSettings(max_steps=300, batch_size=32, learning_rate=3e-3, save_steps=100, max_length=200),
        "num_envs": 40,
    }
    base.update(over)
    return FireActConfig(**base)


@pytest.mark.slow
def test_sft_on_teacher_data_beats_the_shuffled_control(tmp_path):
    torch.set_num_threads(1)
    learned = run_fireact(config(), tmp_path / "fireact")
    control = run_fireact(config(control="shuffled"), tmp_path / "shuffled")
    assert learned["success_before"] == 0.0 and control["success_before"] == 0.0
    assert learned["success_after"] >= LEARNED, learned
    assert control["success_after"] <= CONTROL_MAX, control
    assert learned["held_out"]["held_out"] is True
    # equal budgets: same examples, same steps
    assert learned["train"]["steps"] == control["train"]["steps"] == 300
    assert learned["dataset"]["trajectories"] == control["dataset"]["trajectories"]


def test_the_shuffled_control_keeps_the_format_but_not_the_answers():
    from toolgym.agents import make_policy
    from toolgym.algorithms.fireact import shuffle_answers
    from toolgym.algorithms.trajectories import collect

    data = collect(make_policy("calc-teacher"), "toolgym/ToolChoice-Arithmetic-v0", [f"L2-{i}" for i in range(6)])
    mixed = shuffle_answers(data, seed=0)
    assert [t.steps[0] for t in mixed] == [t.steps[0] for t in data]  # the calc step is the task's own
    assert sorted(t.steps[-1].action for t in mixed) == sorted(t.steps[-1].action for t in data)
    assert sum(a.steps[-1].action != b.steps[-1].action for a, b in zip(mixed, data)) >= 4


def test_a_trained_run_is_a_policy_in_a_benchmark_suite(tmp_path):
    """The saved student loads by path: in Python and as a suite entry of `toolgym bench`."""
    import yaml

    from toolgym.agents import make_policy, rollout
    from toolgym.benchmarks.runner import run_suite

    torch.set_num_threads(1)
    cfg = config(train_tasks=20, eval_tasks=4, train=TrainSettings(max_steps=2, batch_size=4, save_steps=0))
    run_fireact(cfg, tmp_path / "run")
    final = tmp_path / "run" / "sft" / "final"
    llm = {"backend": "hf", "model": str(final)}
    ep = rollout(make_policy("fireact", llm=llm, thoughts=False, max_tokens=8), cfg.env, task_ids=["L1-0"])[0]
    assert ep.result.error is None and ep.result.tokens["completion"] > 0
    suite = {
        "name": "trained",
        "seeds": [0],
        "episodes": 2,
        "envs": [{"id": cfg.env, "kwargs": {"difficulty": 1}}],
        "policies": [
            {"name": "fireact", "label": "student", "config": {"llm": llm, "thoughts": False, "max_tokens": 8}}
        ],
    }
    (tmp_path / "suite.yaml").write_text(yaml.safe_dump(suite))
    result = run_suite(str(tmp_path / "suite.yaml"), tmp_path / "bench", workers=1)
    assert result.status == "complete" and result.recorded == 2


@pytest.mark.parametrize("style", ["text", "alpaca"])
def test_training_text_starts_with_the_prompt_the_student_sends(tmp_path, monkeypatch, style):
    """The text style puts the env's instructions in every prompt: FireAct's training text must carry them too."""
    import toolgym.algorithms.fireact as fireact
    from toolgym.agents.llm.scripted import ScriptedLLM
    from toolgym.algorithms.evaluate import evaluate

    class Captured(Exception):
        pass

    def capture(model, tok, examples, *args, **kwargs):
        raise Captured(tok.decode(next(e for e in examples if e is not None)["input_ids"]))

    monkeypatch.setattr(fireact, "run_sft", capture)
    cfg = config(style=style, train_tasks=3, eval_tasks=1, max_tokens=4, max_steps=2, num_envs=1)
    with pytest.raises(Captured) as caught:
        run_fireact(cfg, tmp_path / "run")
    text = caught.value.args[0]
    llm = ScriptedLLM(["finish[0]"], cycle=True)
    student = fireact.student_policy(llm, style=style, thoughts=False, max_tokens=4)
    evaluate(student, cfg.env, ["L1-0"], env_kwargs=cfg.env_kwargs, max_steps=2)
    sent = llm.prompts[0]
    head = sent[: sent.index("What is")]  # everything before the question: format and instructions
    assert head.strip() and head in text, (head, text[:400])
