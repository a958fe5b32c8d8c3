"""Process reward models: an LM backbone with a scalar head, trained on step-level value labels.

A PRM reads a partial solution, ``"Problem: <question>\\nSolution:\\n<steps so far>"`` (:func:`render_solution`),
and predicts its value in [0, 1]: how likely, and how soon, it leads to a correct answer (the labels come from
:func:`toolgym.algorithms.rest_mcts.infer_value_labels`). The model is
``AutoModelForSequenceClassification(num_labels=1, problem_type="regression")`` (ReST-MCTS* puts a linear head on
the backbone's last position; transformers' sequence-classification heads do the same on the last non-pad
token), trained with transformers' :class:`~transformers.Trainer` on the mean squared error. Scores are clipped
to [0, 1] at inference, as in ReST-MCTS*.

* :func:`build_prm` - a PRM from a Hugging Face id or folder, or ``"tiny"`` (a 2-layer GPT-2 built in code with
  the tiny tokenizer: for tests and CPU experiments);
* :func:`train_prm` - the entry function: fit a PRM on ``(text, value)`` samples with :class:`PRMConfig`;
* :class:`ProcessRewardModel` - ``score(texts)``; :class:`PRMValue` - a PRM as an MCTS evaluator;
* :func:`value_accuracy` - ReST-MCTS*'s "test accuracy": the share of predictions within 0.1 of the label.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from toolgym.agents.base import observation_text
from toolgym.error import ConfigError, require

if TYPE_CHECKING:
    from toolgym.algorithms.mcts import Node, SearchContext

__all__ = [
    "PRMConfig",
    "PRMValue",
    "ProcessRewardModel",
    "build_prm",
    "render_solution",
    "train_prm",
    "value_accuracy",
]


def render_solution(question: str, steps: Sequence[tuple[str | None, str, str]], *, max_obs_chars: int = 300) -> str:
    """The PRM's input text: the problem and the steps so far (each action and what it returned).

    Args:
        question: The task text.
        steps: ``(thought, action, observation)`` per step (:attr:`toolgym.algorithms.mcts.Node.history`).
        max_obs_chars: Clip each observation to this many characters.

    Example:
        >>> print(render_solution("What is 2 + 3?", [(None, "calc[2+3]", "5")]))
        Problem: What is 2 + 3?
        Solution:
        Step 1: calc[2+3]
        Result: 5
    """
    lines = [f"Problem: {question.strip()}", "Solution:"]
    for i, (thought, action, obs) in enumerate(steps, start=1):
        if thought:
            lines.append(f"Thought {i}: {thought.strip()}")
        lines.append(f"Step {i}: {action.strip()}")
        text = " ".join(str(obs).split())
        if text:
            lines.append(f"Result: {text[:max_obs_chars]}")
    return "\n".join(lines)


def value_accuracy(predictions: Sequence[float], labels: Sequence[float], tol: float = 0.1) -> float:
    """The share of predictions within ``tol`` of their labels (ReST-MCTS*'s PRM "test accuracy").

    Example:
        >>> value_accuracy([0.5, 0.9, 0.0], [0.45, 0.5, 0.05])
        0.6666666666666666
    """
    p, y = np.asarray(predictions, dtype=float), np.asarray(labels, dtype=float)
    if p.shape != y.shape or not len(p):
        raise ConfigError(f"value_accuracy: expected two equal non-empty lists, got {p.shape} and {y.shape}.")
    return float(np.mean(np.abs(p - y) <= tol + 1e-12))


@dataclass(frozen=True)
class PRMConfig:
    """Settings of :func:`train_prm`.

    Attributes:
        epochs: Passes over the samples (ReST-MCTS*: 2-3).
        learning_rate: AdamW learning rate (a from-scratch tiny backbone needs about 1e-3; a pretrained 7B 3e-6).
        batch_size: Samples per step.
        max_length: Tokens per sample (longer ones keep their end: the latest steps matter most).
        weight_decay: AdamW weight decay.
        warmup_ratio: Share of steps with a linear warm-up.
        seed: Seeds the initial head, the shuffling and dropout.
        num_threads: ``torch.set_num_threads`` during training and scoring (1 on a shared CPU; ``None`` leaves it).
        output_dir: Trainer's folder (default: a temporary one; nothing is saved unless you save the model).
    """

    epochs: float = 3.0
    learning_rate: float = 1e-3
    batch_size: int = 16
    max_length: int = 256
    weight_decay: float = 0.0
    warmup_ratio: float = 0.05
    seed: int = 0
    num_threads: int | None = 1
    output_dir: str | None = None

    def __post_init__(self) -> None:
        if self.epochs <= 0 or self.learning_rate <= 0 or self.batch_size < 1 or self.max_length < 8:
            raise ConfigError(
                "PRMConfig: expected epochs > 0, learning_rate > 0, batch_size >= 1 and max_length >= 8, got "
                f"{self.epochs}, {self.learning_rate}, {self.batch_size} and {self.max_length}."
            )


class ProcessRewardModel:
    """A sequence-classification model with one output, read as a value in [0, 1].

    Args:
        model: A ``*ForSequenceClassification`` model with ``num_labels=1``.
        tokenizer: Its tokenizer (with a pad token).
        max_length: Tokens per text (left-truncated: the end of a solution is kept).
        device: Where to run it.
    """

    def __init__(self, model: Any, tokenizer: Any, *, max_length: int = 256, device: str = "cpu") -> None:
        """Wrap a model (see the class docstring)."""
        if getattr(model.config, "num_labels", None) != 1:
            raise ConfigError(
                f"ProcessRewardModel: expected a model with num_labels=1 (a scalar head), got "
                f"{getattr(model.config, 'num_labels', None)}. Build it with build_prm()."
            )
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        tokenizer.truncation_side = "left"
        model.config.pad_token_id = tokenizer.pad_token_id
        self.model = model.to(device)
        self.tokenizer = tokenizer
        self.max_length = int(max_length)
        self.device = device

    def encode(self, texts: Sequence[str]) -> dict[str, Any]:
        """Tokenise ``texts`` (left-truncated to :attr:`max_length`, right-padded)."""
        return self.tokenizer(
            list(texts), truncation=True, max_length=self.max_length, padding=True, return_tensors="pt"
        )

    def score(self, texts: Sequence[str], *, batch_size: int = 32) -> np.ndarray:
        """The value of each text, clipped to [0, 1] (the model in eval mode, no gradients)."""
        torch = require("torch", "llm", "Scoring with a PRM")
        if not len(texts):
            return np.zeros(0)
        self.model.eval()
        out = []
        with torch.no_grad():
            for i in range(0, len(texts), batch_size):
                batch = {k: v.to(self.device) for k, v in self.encode(texts[i : i + batch_size]).items()}
                out.append(self.model(**batch).logits.reshape(-1).float().cpu().numpy())
        return np.clip(np.concatenate(out), 0.0, 1.0)


def build_prm(
    backbone: str = "tiny",
    *,
    seed: int = 0,
    max_length: int = 256,
    n_layer: int = 2,
    n_embd: int = 64,
    device: str = "cpu",
    **from_pretrained: Any,
) -> ProcessRewardModel:
    """A PRM with a fresh scalar head on ``backbone``.

    Args:
        backbone: ``"tiny"`` (a GPT-2 built in code, random weights, the tiny tokenizer) or a Hugging Face id or
            folder (loaded with ``AutoModelForSequenceClassification.from_pretrained(num_labels=1)``).
        seed: Seeds the new weights.
        max_length: Tokens per text.
        n_layer: Layers of the tiny backbone.
        n_embd: Width of the tiny backbone.
        device: Where to run it.
        **from_pretrained: Passed to ``from_pretrained`` (``gguf_file=``, ``torch_dtype=``...).
    """
    torch = require("torch", "llm", "A PRM")
    transformers = require("transformers", "llm", "A PRM")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if backbone == "tiny":
            from toolgym.agents.llm.tiny import build_tiny_tokenizer

            tok = build_tiny_tokenizer()
            config = transformers.GPT2Config(
                vocab_size=len(tok),
                n_positions=max(512, max_length),
                n_embd=n_embd,
                n_layer=n_layer,
                n_head=2,
                num_labels=1,
                problem_type="regression",
                pad_token_id=tok.pad_token_id,
                bos_token_id=tok.eos_token_id,
                eos_token_id=tok.eos_token_id,
            )
            model = transformers.GPT2ForSequenceClassification(config)
        else:
            tok = transformers.AutoTokenizer.from_pretrained(backbone, **from_pretrained)
            model = transformers.AutoModelForSequenceClassification.from_pretrained(
                backbone, num_labels=1, problem_type="regression", **from_pretrained
            )
    return ProcessRewardModel(model, tok, max_length=max_length, device=device)


class _Samples:
    """A torch-style dataset of tokenised ``(text, value)`` samples."""

    def __init__(self, prm: ProcessRewardModel, texts: Sequence[str], values: Sequence[float] | np.ndarray) -> None:
        enc = prm.tokenizer(list(texts), truncation=True, max_length=prm.max_length)
        self.items = [
            {"input_ids": ids, "attention_mask": mask, "labels": float(v)}
            for ids, mask, v in zip(enc["input_ids"], enc["attention_mask"], values)
        ]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.items[i]


def train_prm(
    prm: ProcessRewardModel,
    texts: Sequence[str],
    values: Sequence[float],
    config: PRMConfig | None = None,
) -> dict[str, float]:
    """Fit ``prm`` on ``(text, value)`` samples with transformers' ``Trainer`` (mean squared error).

    Args:
        prm: The model to train (changed in place; left in eval mode).
        texts: :func:`render_solution` texts.
        values: Their labels in [0, 1].
        config: Settings (default :class:`PRMConfig`).

    Returns:
        ``train_loss``, ``steps``, ``samples`` and ``seconds``.

    Raises:
        ConfigError: No samples, or labels outside [0, 1].
    """
    config = config or PRMConfig()
    torch = require("torch", "llm", "Training a PRM")
    transformers = require("transformers", "llm", "Training a PRM")
    if len(texts) != len(values) or not len(texts):
        raise ConfigError(f"train_prm: expected as many texts as values (> 0), got {len(texts)} and {len(values)}.")
    v = np.asarray(values, dtype=float)
    if np.any(v < 0) or np.any(v > 1) or np.any(~np.isfinite(v)):
        raise ConfigError("train_prm: expected value labels in [0, 1], got some outside. Clip or re-infer them.")
    threads = torch.get_num_threads()
    if config.num_threads is not None:
        torch.set_num_threads(config.num_threads)
    try:
        with tempfile.TemporaryDirectory(prefix="toolgym-prm-") as tmp:
            args = transformers.TrainingArguments(
                output_dir=config.output_dir or tmp,
                num_train_epochs=config.epochs,
                learning_rate=config.learning_rate,
                per_device_train_batch_size=config.batch_size,
                weight_decay=config.weight_decay,
                warmup_steps=int(config.warmup_ratio * math.ceil(len(texts) / config.batch_size) * config.epochs),
                lr_scheduler_type="linear",
                logging_strategy="no",
                save_strategy="no",
                report_to=[],
                seed=config.seed,
                data_seed=config.seed,
                use_cpu=prm.device == "cpu",
                dataloader_num_workers=0,
                disable_tqdm=True,
            )
            trainer = transformers.Trainer(
                model=prm.model,
                args=args,
                train_dataset=_Samples(prm, texts, v),
                data_collator=transformers.DataCollatorWithPadding(prm.tokenizer),
            )
            trainer.remove_callback(transformers.PrinterCallback)  # no prints from library code
            out = trainer.train()
    finally:
        if config.num_threads is not None:
            torch.set_num_threads(threads)
    prm.model.eval()
    return {
        "train_loss": float(out.training_loss),
        "steps": int(out.global_step),
        "samples": len(texts),
        "seconds": float(out.metrics.get("train_runtime", 0.0)),
    }


class PRMValue:
    """A PRM as an MCTS evaluator: the value of a node is the PRM's score of its partial solution.

    Args:
        prm: The model.
        question: The task text (default: the root observation's text).
        render: ``(question, node) -> text`` (default :func:`render_solution` of the node's history).
    """

    def __init__(
        self,
        prm: ProcessRewardModel,
        *,
        question: str | None = None,
        render: Callable[[str, Node], str] | None = None,
    ) -> None:
        """Create the evaluator (see the class docstring)."""
        self.prm = prm
        self.question = question
        self.render = render or (lambda q, node: render_solution(q, node.history))
        self.calls = 0

    def evaluate(self, nodes: Sequence[Node], ctx: SearchContext) -> list[float]:
        """The PRM's score of each node."""
        question = self.question
        if question is None:
            question = observation_text(ctx.root.observation) if ctx.root is not None else ""
        self.calls += 1
        return [float(x) for x in self.prm.score([self.render(question, n) for n in nodes])]
