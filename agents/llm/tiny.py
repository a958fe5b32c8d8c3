"""A tiny randomly initialised causal LM built in code: for tests, CPU benchmarks and smoke runs.

No download is involved: the tokenizer is a byte-level BPE trained here on a small embedded English text
(deterministic, about a second), the model a 2-layer GPT-2 with random weights from a fixed seed. It runs
the real transformers and PEFT code paths in milliseconds; its output is gibberish, which is what a test of
the machinery needs (scripted completions cover behaviour).
"""

from __future__ import annotations

import functools
from typing import Any

from toolgym.error import require

__all__ = ["CHAT_TEMPLATE", "TinyLM", "build_tiny_model", "build_tiny_tokenizer"]

#: The chat template given to the tiny tokenizer (so the chat-template code path runs in tests).
CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)

_CORPUS = """
Question: What is the elevation range for the area that the eastern sector of the Colorado orogeny extends into?
Thought 1: I need to search Colorado orogeny, find the area that the eastern sector extends into.
Action 1: search[Colorado orogeny]
Observation 1: The Colorado orogeny was an episode of mountain building in Colorado and surrounding areas.
Thought 2: It does not mention the eastern sector. So I need to look up eastern sector.
Action 2: lookup[eastern sector]
Observation 2: (Result 1 / 1) The eastern sector extends into the High Plains.
Thought 3: So the answer is 1,800 to 7,000 ft.
Action 3: finish[1,800 to 7,000 ft]
Observation 3: Episode finished, reward = True
Answer the arithmetic question. Actions: calc[<expression>] evaluates an arithmetic expression exactly;
finish[<answer>] submits your answer and ends the episode. What is 4837 × 219? calc[4837 * 219] 1059303
You are in the middle of a room. Looking quickly around you, you see a cabinet 1, a countertop 1, a fridge 1,
a microwave 1, a sinkbasin 1, a stoveburner 1, a toaster 1. Your task is to: put a clean apple in fridge.
> think: First I need to find an apple. > go to countertop 1 On the countertop 1, you see an apple 1.
> take apple 1 from countertop 1 You pick up the apple 1 from the countertop 1. > clean apple 1 with sinkbasin 1
Nothing happens. OK. def add(a, b): return a + b ```python print(add(1, 2)) ``` Submit: assert add(2, 3) == 5
Traceback (most recent call last): AssertionError NameError SyntaxError stdout stderr passed failed tests
How many red circles are there? find[red circle] count[blue square] answer[3] crop[0, 0, 32, 32] left right
above below colour color shape size small large green yellow purple gray triangle rectangle the a an of in on
Reflection: I should have searched for the film first, then the director. New plan: search the entity.
Previous Trial: I tried to answer directly and was wrong. The correct approach is to use the tools.
0 1 2 3 4 5 6 7 8 9 10 100 1000 + - * / ( ) [ ] { } : ; , . ? ! ' " = < > _ # % & @ ^ ~ | \\ $
"""


@functools.lru_cache(maxsize=4)
def _tokenizer_json(vocab_size: int, split_digits: bool = False) -> str:
    tokenizers = require("tokenizers", "llm", "The tiny model's tokenizer")
    from tokenizers import decoders, models, pre_tokenizers, trainers

    tok = tokenizers.Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    if split_digits:  # one token per digit (as Llama and Gemma do): numbers can be copied digit by digit
        tok.pre_tokenizer = pre_tokenizers.Sequence(
            [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
        )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<|endoftext|>", "<|pad|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator([_CORPUS] * 4, trainer=trainer)
    return tok.to_str()


def build_tiny_tokenizer(vocab_size: int = 1024, *, split_digits: bool = False) -> Any:
    """A byte-level BPE tokenizer (any text encodes) with ``vocab_size`` entries and a chat template.

    ``split_digits=True`` makes every digit its own token (the tokenizer of the learning experiments: a small
    model learns to copy numbers digit by digit far more easily than as multi-digit tokens).

    Example:
        >>> tok = build_tiny_tokenizer()
        >>> tok.decode(tok("Action 1: search[Café]")["input_ids"])
        'Action 1: search[Café]'
    """
    transformers = require("transformers", "llm", "The tiny model's tokenizer")
    from tokenizers import Tokenizer

    tok = transformers.PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer.from_str(_tokenizer_json(int(vocab_size), bool(split_digits))),
        eos_token="<|endoftext|>",
        pad_token="<|pad|>",
    )
    tok.chat_template = CHAT_TEMPLATE
    return tok


def build_tiny_model(
    tokenizer: Any = None,
    *,
    seed: int = 0,
    n_layer: int = 2,
    n_embd: int = 64,
    n_head: int = 2,
    n_positions: int = 4096,
) -> Any:
    """A randomly initialised GPT-2 (``GPT2LMHeadModel``) sized to ``tokenizer`` (default: the tiny one).

    Args:
        tokenizer: Its vocabulary size sets the model's.
        seed: Seeds the initial weights (same seed, same model).
        n_layer: Transformer blocks.
        n_embd: Width.
        n_head: Attention heads.
        n_positions: The longest context.
    """
    torch = require("torch", "llm", "The tiny model")
    transformers = require("transformers", "llm", "The tiny model")
    tokenizer = tokenizer if tokenizer is not None else build_tiny_tokenizer()
    config = transformers.GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=n_positions,
        n_embd=n_embd,
        n_layer=n_layer,
        n_head=n_head,
        activation_function="gelu_pytorch_tanh",
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = transformers.GPT2LMHeadModel(config)
    model.eval()
    return model


def TinyLM(  # noqa: N802 (a factory that reads like a class)
    *,
    seed: int = 0,
    vocab_size: int = 1024,
    n_layer: int = 2,
    n_embd: int = 64,
    n_head: int = 2,
    n_positions: int = 4096,
    batch_size: int = 16,
    prefix_cache: bool | str = "auto",
    batched_prefill: bool = True,
    engine: str = "auto",
    name: str = "tiny",
) -> Any:
    """The tiny model and tokenizer behind an :class:`~toolgym.agents.llm.hf.HFLLM` (the ``"tiny"`` backend).

    ``prefix_cache``, ``batched_prefill`` and ``engine`` are :class:`~toolgym.agents.llm.hf.HFLLM`'s (prefix
    cache on by default; ``False`` for transformers' ``generate``; ``engine="paged"`` for paged continuous batching).

    Example:
        >>> from toolgym.agents import SamplingParams
        >>> llm = TinyLM(seed=0)
        >>> c = llm.generate(["Question: What is 2 + 2?\\nThought 1:"], SamplingParams(max_tokens=5))[0]
        >>> c.completion_tokens, c.finish_reason
        (5, 'length')
    """
    from toolgym.agents.llm.hf import HFLLM

    tok = build_tiny_tokenizer(vocab_size)
    model = build_tiny_model(tok, seed=seed, n_layer=n_layer, n_embd=n_embd, n_head=n_head, n_positions=n_positions)
    return HFLLM(
        model,
        tokenizer=tok,
        batch_size=batch_size,
        prefix_cache=prefix_cache,
        batched_prefill=batched_prefill,
        engine=engine,
        name=name,
    )
