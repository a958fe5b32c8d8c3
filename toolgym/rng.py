"""Random draws shared by environments and policies, always from a seeded :class:`numpy.random.Generator`.

Example:
    >>> import numpy as np
    >>> rand_elem(np.random.default_rng(0), ("calc", "search", "finish"))
    'finish'
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import numpy as np

__all__ = ["rand_elem"]

T = TypeVar("T")


def rand_elem(rng: np.random.Generator, seq: Sequence[T]) -> T:
    """One element of ``seq``, uniformly: ``seq[rng.integers(len(seq))]``.

    Every seeded task and replay depends on this exact draw (one ``integers(len(seq))`` call), so it must
    not change.

    Args:
        rng: The generator to draw from (an env's ``self.np_random``, a policy's own generator...).
        seq: A non-empty sequence.

    Returns:
        The chosen element.
    """
    return seq[int(rng.integers(len(seq)))]
