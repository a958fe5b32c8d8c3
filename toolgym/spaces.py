"""Spaces for text environments."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium import spaces

__all__ = ["Utf8Text"]

_SAMPLE_ALPHABET = np.array(list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 []{}()\":,.-_'?!\n"))


class Utf8Text(spaces.Space[str]):
    """A space of Unicode strings of bounded length.

    Gymnasium's :class:`~gymnasium.spaces.Text` checks every character against a charset (by default
    alphanumeric, so ``"search[Paris]"`` and ``"Café"`` are outside it). Language-model actions and
    observations are free text, so this space accepts *any* ``str`` whose length lies in
    ``[min_length, max_length]``.

    ``sample()`` draws from the space's own generator (seed it with ``space.seed(n)``): a random length
    and random characters from a small alphabet that includes brackets, braces and quotes, so samples
    sometimes look like tool calls. Samples are valid members of the space; environments answer those
    that do not parse with an invalid-action observation.

    Example:
        >>> space = Utf8Text(64)
        >>> "search[Café au lait]" in space
        True
        >>> "x" * 65 in space
        False
        >>> _ = space.seed(0)
        >>> isinstance(space.sample(), str)
        True
    """

    def __init__(self, max_length: int, *, min_length: int = 0, seed: int | np.random.Generator | None = None):
        """Create the space.

        Args:
            max_length: The longest string in the space.
            min_length: The shortest string in the space.
            seed: Optional seed for :meth:`sample`.
        """
        if not isinstance(max_length, int) or max_length < 1:
            raise ValueError(f"Utf8Text: expected max_length to be a positive int, got {max_length!r}.")
        if not 0 <= min_length <= max_length:
            raise ValueError(
                f"Utf8Text: expected 0 <= min_length <= max_length ({max_length}), got min_length={min_length!r}."
            )
        self.max_length = max_length
        self.min_length = min_length
        super().__init__(shape=None, dtype=str, seed=seed)

    @property
    def is_np_flattenable(self) -> bool:
        """Text cannot be flattened into a numpy vector."""
        return False

    def sample(self, mask: Any = None, probability: Any = None) -> str:
        """Draw a random string (lengths up to 64 characters keep samples cheap).

        Args:
            mask: Unsupported; must be ``None``.
            probability: Unsupported; must be ``None``.

        Returns:
            A string in the space.
        """
        if mask is not None or probability is not None:
            raise ValueError("Utf8Text.sample: masks and probabilities are not supported; pass neither.")
        hi = min(self.max_length, 64)
        lo = min(self.min_length, hi)
        length = int(self.np_random.integers(lo, hi + 1))
        chars = self.np_random.choice(_SAMPLE_ALPHABET, size=length)
        return "".join(chars.tolist())

    def contains(self, x: Any) -> bool:
        """Return whether ``x`` is a ``str`` of allowed length."""
        return isinstance(x, str) and self.min_length <= len(x) <= self.max_length

    def __repr__(self) -> str:
        return f"Utf8Text(min_length={self.min_length}, max_length={self.max_length})"

    def __eq__(self, other: Any) -> bool:
        return (
            isinstance(other, Utf8Text) and other.max_length == self.max_length and other.min_length == self.min_length
        )

    def __hash__(self) -> int:
        return hash((Utf8Text, self.min_length, self.max_length))

    def to_jsonable(self, sample_n: Any) -> list[str]:
        """Convert a batch of samples to JSON (they already are strings)."""
        return list(sample_n)

    def from_jsonable(self, sample_n: list[str]) -> list[str]:
        """Convert JSON back to samples."""
        return list(sample_n)


# ---------------------------------------------------------------------------------------------- vector envs
# Gymnasium's AsyncVectorEnv keeps observations in shared memory by default (``shared_memory=True``), through
# three single-dispatch functions with no case for a custom space. These register Utf8Text with them (as
# Gymnasium does for its Text space), so ``gym.make_vec(id, vectorization_mode="async")`` works with the
# defaults: each string is stored as its length and its code points (UTF-32), ``max_length`` slots per env.
def _create_shared(space: Utf8Text, n: int = 1, ctx: Any = None) -> Any:
    import multiprocessing as mp

    ctx = ctx or mp
    return ctx.Array(np.dtype(np.int32).char, n * (space.max_length + 1))


class SharedStrings(Sequence[str]):
    """The strings of ``n`` envs in shared memory, read when accessed (the counterpart of a numpy view).

    AsyncVectorEnv builds its observation container once and relies on it seeing the workers' writes, which a
    tuple of ``str`` cannot; this sequence reads the shared array at each access. ``copy.deepcopy`` (what the
    vector env returns by default, ``copy=True``) gives a plain tuple of the current strings.
    """

    def __init__(self, space: Utf8Text, shared_memory: Any, n: int) -> None:
        """Wrap ``n`` slots of ``space.max_length + 1`` int32 (a length, then the code points)."""
        self._data = np.frombuffer(shared_memory.get_obj(), dtype=np.int32).reshape((n, space.max_length + 1))

    def __len__(self) -> int:
        return len(self._data)

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return tuple(self[k] for k in range(*i.indices(len(self))))
        row = self._data[i]
        return row[1 : 1 + int(row[0])].astype("<u4").tobytes().decode("utf-32-le")

    def __deepcopy__(self, memo: dict[int, Any]) -> tuple[str, ...]:
        return tuple(self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and tuple(self) == tuple(other)

    def __repr__(self) -> str:
        return repr(tuple(self))


def _read_shared(space: Utf8Text, shared_memory: Any, n: int = 1) -> SharedStrings:
    return SharedStrings(space, shared_memory, n)


def _write_shared(space: Utf8Text, index: int, value: str, shared_memory: Any) -> None:
    if not isinstance(value, str) or len(value) > space.max_length:
        raise ValueError(
            f"Utf8Text shared memory: expected a str of at most {space.max_length} characters, got "
            f"{type(value).__name__} of length {len(value) if isinstance(value, str) else '?'}."
        )
    width = space.max_length + 1
    codes = np.frombuffer(value.encode("utf-32-le"), dtype="<u4").astype(np.int32)
    data = np.frombuffer(shared_memory.get_obj(), dtype=np.int32)
    data[index * width] = len(codes)
    data[index * width + 1 : index * width + 1 + len(codes)] = codes


def _register_vector_hooks() -> None:
    from gymnasium.vector.utils import shared_memory as sm

    sm.create_shared_memory.register(Utf8Text)(_create_shared)
    sm.read_from_shared_memory.register(Utf8Text)(_read_shared)
    sm.write_to_shared_memory.register(Utf8Text)(_write_shared)


_register_vector_hooks()
