"""Text helpers shared by the search environments: titles, sentences and the observations built from them.

The sentence splitting follows ReAct's Wikipedia environment (``wikienv.py``): a page is split into paragraphs
at newlines, each paragraph into sentences at ``". "``, and every sentence is stripped and ends with a period.
``search`` shows the first five sentences joined by spaces; ``lookup`` walks the sentences that contain a
keyword. ReAct appends a period to *every* piece, so a paragraph's last sentence (which already ends with
one) reads ``"...end.."``; ``quirks=True`` reproduces that byte for byte, the default adds the period only
where a sentence lacks a final ``.``, ``!`` or ``?`` (before any closing quotes or brackets).
"""

from __future__ import annotations

import re
import unicodedata

__all__ = [
    "clean_argument",
    "lookup_sentences",
    "normalize_title",
    "page_observation",
    "react_sentences",
]

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\ufeff\ufffe\uffff]")
_SPACE = re.compile(r"\s+")


def normalize_title(title: str) -> str:
    """The key under which an exact title search matches a page.

    Unicode NFKC, case-folded, underscores as spaces, whitespace collapsed (Wikipedia's own title matching
    is similar: ``Scott_Derrickson`` and ``scott derrickson`` reach the same page).

    Example:
        >>> normalize_title("  Scott_Derrickson ") == normalize_title("scott derrickson")
        True
    """
    text = unicodedata.normalize("NFKC", title).casefold().replace("_", " ")
    return _SPACE.sub(" ", text).strip()


def clean_argument(text: str) -> str:
    """Strip control and invisible characters and collapse whitespace in a tool argument.

    Example:
        >>> clean_argument("  Ed\\x00 Wood\\n ")
        'Ed Wood'
    """
    return _SPACE.sub(" ", _CONTROL.sub("", text)).strip()


def react_sentences(text: str, *, quirks: bool = False) -> list[str]:
    """Split a page into sentences the way ReAct's ``WikiEnv`` does.

    Args:
        text: The page text; paragraphs are separated by newlines.
        quirks: Reproduce ReAct exactly, including the doubled period after a paragraph's last sentence.

    Returns:
        The sentences, each ending with punctuation.

    Example:
        >>> react_sentences("Ed Wood is a film. It stars Johnny Depp.\\nIt won two Oscars.")
        ['Ed Wood is a film.', 'It stars Johnny Depp.', 'It won two Oscars.']
        >>> react_sentences("It stars Johnny Depp.", quirks=True)
        ['It stars Johnny Depp..']
    """
    out: list[str] = []
    for paragraph in text.split("\n"):
        paragraph = paragraph.strip()
        if not paragraph:
            continue
        for piece in paragraph.split(". "):
            piece = piece.strip()
            if not piece:
                continue
            if quirks or not piece.rstrip("\"'”’)]").endswith((".", "!", "?")):
                piece += "."
            out.append(piece)
    return out


def page_observation(sentences: list[str], n: int = 5) -> str:
    """What ``search`` shows for a page: its first ``n`` sentences joined by spaces.

    Example:
        >>> page_observation(["A.", "B.", "C."], n=2)
        'A. B.'
    """
    return " ".join(sentences[:n])


def lookup_sentences(sentences: list[str], keyword: str) -> list[str]:
    """The sentences that contain ``keyword`` (case-insensitive substring), in page order.

    Example:
        >>> lookup_sentences(["He was born in Ohio.", "He moved.", "Born again."], "born")
        ['He was born in Ohio.', 'Born again.']
    """
    key = keyword.lower()
    return [s for s in sentences if key in s.lower()]
