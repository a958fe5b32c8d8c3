"""Checks that a tokenizer converted from a GGUF file tokenizes as the model was trained.

Some transformers releases convert a GGUF file's tokenizer wrongly and say nothing: with transformers 5.17,
Gemma-3-270M's tokenizer adds no ``<bos>`` and splits ``"The capital of France is"`` into ten pieces
(``[818, 505, 670, 509, 514, 529, 2102, 508, 588, 563]``: ``▁c ap it al``) instead of
``[2, 818, 5279, 529, 7001, 563]``; the model then answers ``" is is is is"``. The weights load correctly, so
every result computed that way is silently garbage. :func:`tokenizer_problems` catches it, from known
answers for known vocabularies and, for any SentencePiece or byte-level vocabulary, from words the vocabulary
holds whole but the tokenizer splits.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from toolgym.agents.base import LLMError

__all__ = [
    "KNOWN_ANSWERS",
    "PROBE",
    "load_checked_tokenizer",
    "save_gguf_tokenizer",
    "saved_tokenizer_dir",
    "tokenizer_problems",
]

logger = logging.getLogger(__name__)

#: The sentence every check encodes.
PROBE = "The capital of France is"

#: Known correct encodings of :data:`PROBE` (special tokens added), by (tokenizer class prefix, vocabulary size).
KNOWN_ANSWERS: Mapping[tuple[str, int], tuple[int, ...]] = {
    ("Gemma", 262_144): (2, 818, 5279, 529, 7001, 563),  # Gemma 3 (270M to 27B share it)
}

_WORD_MARKERS = ("▁", "Ġ")  # SentencePiece, byte-level BPE


def _known(tokenizer: Any) -> tuple[int, ...] | None:
    name = type(tokenizer).__name__
    n = len(tokenizer)
    for (prefix, size), ids in KNOWN_ANSWERS.items():
        if name.startswith(prefix) and n == size:
            return ids
    return None


def tokenizer_problems(tokenizer: Any, *, expect_bos: bool | None = None) -> list[str]:
    """What is wrong with ``tokenizer`` (an empty list when nothing is).

    Args:
        tokenizer: A transformers tokenizer.
        expect_bos: Whether encodings must start with the BOS token (default: when the tokenizer has one and a
            known answer says so).

    Returns:
        One sentence per problem, naming what was expected and what came.
    """
    ids: Sequence[int] = list(tokenizer(PROBE)["input_ids"])
    problems = []
    known = _known(tokenizer)
    if known is not None and tuple(ids) != known:
        problems.append(
            f"{PROBE!r} encodes to {list(ids)} ({tokenizer.convert_ids_to_tokens(list(ids))}), expected {list(known)}"
        )
    bos = getattr(tokenizer, "bos_token_id", None)
    if expect_bos is None:
        expect_bos = known is not None and bos is not None and known[:1] == (bos,)
    if expect_bos and (bos is None or ids[:1] != [bos]):
        problems.append(f"no BOS token (id {bos}) is added at the start of an encoding")
    vocab = tokenizer.get_vocab()
    pieces = set(tokenizer.convert_ids_to_tokens(list(ids)))
    for i, word in enumerate(PROBE.split()):
        # the first word has no space before it: whole as itself, or with SentencePiece's dummy prefix
        forms = [word, "▁" + word] if i == 0 else [m + word for m in _WORD_MARKERS]
        whole = [f for f in forms if f in vocab]
        if whole and not any(f in pieces for f in whole):
            problems.append(f"the vocabulary holds {whole[0]!r} whole, but the tokenizer splits {word!r}")
            break
    return problems


def saved_tokenizer_dir(model_dir: str | Path, gguf_file: str) -> Path:
    """Where a checked tokenizer of a GGUF model is kept: ``<model_dir>/<gguf stem>.tokenizer/``."""
    return Path(model_dir) / (Path(gguf_file).stem + ".tokenizer")


def save_gguf_tokenizer(model_dir: str | Path, gguf_file: str, dest: str | Path | None = None) -> Path:
    """Convert a GGUF file's tokenizer with this transformers, check it, and save it for releases that cannot.

    Run it once where transformers converts the tokenizer correctly (>= 5.25 for Gemma 3); ``HFLLM`` then loads
    the saved one wherever its own conversion fails the check (e.g. the transformers 5.17 of common CUDA images).

    Args:
        model_dir: The folder that holds the GGUF file.
        gguf_file: Its file name.
        dest: Where to save (default :func:`saved_tokenizer_dir`).

    Returns:
        The folder written.

    Raises:
        LLMError: This transformers converts the tokenizer wrongly too.
    """
    import transformers

    tok = transformers.AutoTokenizer.from_pretrained(str(model_dir), gguf_file=gguf_file)
    problems = tokenizer_problems(tok)
    if problems:
        raise LLMError(
            f"save_gguf_tokenizer: transformers {transformers.__version__} converts the tokenizer of {gguf_file} "
            f"wrongly too ({'; '.join(problems)}). Run it with transformers >= 5.25."
        )
    out = Path(dest) if dest is not None else saved_tokenizer_dir(model_dir, gguf_file)
    tok.save_pretrained(str(out))
    return out


def load_checked_tokenizer(tokenizer: Any, model_dir: str, gguf_file: str, *, given: bool) -> Any:
    """Return ``tokenizer`` if it passes :func:`tokenizer_problems`, else a saved one that does, else raise.

    Args:
        tokenizer: The tokenizer transformers made from the GGUF file (or the one the user gave).
        model_dir: The folder of the GGUF file.
        gguf_file: Its name.
        given: Whether the user passed the tokenizer (then it is never replaced).

    Raises:
        LLMError: The tokenizer is wrong and no saved one can replace it; the message names the transformers
            version and the fixes.
    """
    import transformers

    problems = tokenizer_problems(tokenizer)
    if not problems:
        return tokenizer
    saved = saved_tokenizer_dir(model_dir, gguf_file)
    if not given and (saved / "tokenizer_config.json").is_file():
        replacement = transformers.AutoTokenizer.from_pretrained(str(saved))
        if not tokenizer_problems(replacement):
            logger.warning(
                "transformers %s converts the tokenizer of %s wrongly (%s); using the checked one saved in %s",
                transformers.__version__,
                gguf_file,
                "; ".join(problems),
                saved,
            )
            return replacement
    raise LLMError(
        f"HFLLM: the tokenizer of {gguf_file} is wrong ({'; '.join(problems)}): "
        + (
            "the tokenizer passed with tokenizer= does not match the model. "
            if given
            else f"transformers {transformers.__version__} converts this GGUF tokenizer wrongly, and the model "
            "would only produce garbage. "
        )
        + "Fix: install the tested versions (pip install -r requirements/lock.txt; transformers >= 5.25), or, "
        "with such a version, run toolgym.agents.llm.tokenizer_check.save_gguf_tokenizer("
        f"{str(model_dir)!r}, {gguf_file!r}) once (it saves a checked tokenizer to {saved}, which this loader then "
        "uses), or pass tokenizer=<a folder with a correct tokenizer>."
    )
