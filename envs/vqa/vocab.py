"""The words of the VQA environments: colours, shapes, sizes and spatial relations.

Both task sources (the procedural ShapesVQA scenes and the easy-VQA images) and the visual tools share this
vocabulary, so a tool's output can be compared with a gold answer word for word.

Example:
    >>> COLORS["teal"]
    (0, 128, 128)
    >>> singular_shape("triangles")
    'triangle'
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = [
    "COLORS",
    "EASY_VQA_COLORS",
    "GENERIC_NOUNS",
    "RELATIONS",
    "SHAPES",
    "SIZES",
    "SYNONYMS",
    "plural",
    "singular_shape",
]

#: Named colours and their RGB values. The first eight are easy-VQA's palette (its ``Color`` enum); ShapesVQA
#: adds purple and orange. The colour tool answers with the nearest of these names.
COLORS: Mapping[str, tuple[int, int, int]] = {
    "red": (255, 0, 0),
    "green": (0, 255, 0),
    "blue": (0, 0, 255),
    "yellow": (255, 255, 0),
    "teal": (0, 128, 128),
    "brown": (165, 42, 42),
    "black": (0, 0, 0),
    "gray": (128, 128, 128),
    "purple": (128, 0, 128),
    "orange": (255, 165, 0),
}

#: The colours that occur in easy-VQA.
EASY_VQA_COLORS: tuple[str, ...] = ("red", "green", "blue", "yellow", "teal", "brown", "black", "gray")

#: Shape names (easy-VQA's three; ShapesVQA uses the same).
SHAPES: tuple[str, ...] = ("circle", "rectangle", "triangle")

#: Size classes of ShapesVQA objects.
SIZES: tuple[str, ...] = ("small", "large")

#: Spatial relations (image coordinates: x grows to the right, y grows downwards, so "above" is smaller y).
RELATIONS: tuple[str, ...] = ("left", "right", "above", "below")

#: Nouns that name any object in queries ("find[red object]").
GENERIC_NOUNS: frozenset[str] = frozenset(
    {"object", "objects", "shape", "shapes", "thing", "things", "item", "items", "one", "ones"}
)

#: Words accepted for vocabulary words, in queries and answers (documented in docs/vqa.md).
SYNONYMS: Mapping[str, str] = {
    "grey": "gray",
    "colour": "color",
    "circles": "circle",
    "rectangles": "rectangle",
    "triangles": "triangle",
    "big": "large",
    "tiny": "small",
    "little": "small",
}


def singular_shape(word: str) -> str:
    """Map a shape word or its plural (or a synonym) to the vocabulary word; other words come back unchanged."""
    return SYNONYMS.get(word, word)


def plural(shape: str) -> str:
    """The plural of a shape name, or ``"objects"`` for ``None``/``"object"``.

    Example:
        >>> plural("circle"), plural(None)
        ('circles', 'objects')
    """
    if shape in (None, "object"):
        return "objects"
    return f"{shape}s"
