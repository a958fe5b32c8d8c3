"""A bounded LRU store of past key/values keyed by token-id prefixes, for :class:`~toolgym.agents.llm.hf.HFLLM`.

A ReAct prompt is the previous step's prompt plus the step's completion, observation and next ``Thought i:``;
the few-shot examples are shared by every episode. Keeping the key/values of past prompts lets a step
compute only its new tokens. :class:`PrefixCache` holds them: each entry is the token ids of a prompt prefix
and the model's key/values for them; :meth:`PrefixCache.lookup` finds the entry with the longest common
prefix (of token ids, so a different tokenisation at the completion/observation boundary is harmless), and
:meth:`PrefixCache.put` stores one, evicting the least recently used entries beyond ``max_entries`` or
``max_bytes``.

Exactness. Floating-point results depend on how a sequence is cut into forward calls (a prompt computed in
one call and the same prompt computed as ``[0, p)`` then ``[p, L)`` differ in the last bits, and so do
key/values made one token at a time while decoding). So the prompt is always computed in the same
*canonical chunks*, whose cuts depend only on the tokens before them (:func:`chunk_cuts`: after a token that
ends a line once a chunk has ``min_chunk`` tokens, or at ``max_chunk`` tokens), and an entry is only reused
up to one of its cuts. A prompt then goes through exactly the same forward calls whether its prefix comes
from the store or not, and the completions are bit-for-bit the same with the cache as without it. Entries
end at a cut and hold key/values computed by prefill only (never the decoded tokens').
This holds for the decoder's one-by-one prefill; its batched prefill computes all prompts of a call together
(fewer, larger forward calls), stores whole prompts (cuts ``(0, len)``) and reuses any stored prefix, with
results equal within floating-point tolerance instead.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from toolgym.error import ConfigError

__all__ = ["CacheEntry", "PrefixCache", "PrefixCacheStats", "chunk_cuts"]


def chunk_cuts(
    ids: Sequence[int] | np.ndarray, breaks: np.ndarray, *, min_chunk: int, max_chunk: int, start: int = 0
) -> list[int]:
    """The canonical chunk cuts of ``ids`` after ``start`` (itself a cut), in order.

    A cut falls after a token whose text ends a line (``breaks[token]``) once the chunk since the last cut
    has at least ``min_chunk`` tokens, or after ``max_chunk`` tokens. Each cut depends only on the tokens
    before it, so two prompts with a common prefix have the same cuts inside it.

    Args:
        ids: Token ids.
        breaks: A boolean per vocabulary id: the token ends a line.
        min_chunk: The fewest tokens of a chunk cut at a line end.
        max_chunk: The most tokens of a chunk.
        start: A cut of ``ids`` to continue from (0, or a cut found earlier).

    Returns:
        The cuts ``c`` with ``start < c <= len(ids)``.

    Example:
        >>> breaks = np.zeros(10, bool); breaks[9] = True  # token 9 is a newline
        >>> chunk_cuts([1, 2, 9, 3, 4, 5, 6, 9, 7], breaks, min_chunk=2, max_chunk=4)
        [3, 7]
    """
    cuts = []
    last = start
    n_vocab = len(breaks)
    for i in range(start, len(ids)):
        n = i + 1 - last
        t = int(ids[i])
        if n >= max_chunk or (n >= min_chunk and 0 <= t < n_vocab and breaks[t]):
            cuts.append(i + 1)
            last = i + 1
    return cuts


@dataclass
class PrefixCacheStats:
    """Counters of a :class:`PrefixCache` (read them to see how much prefill the cache saved).

    Attributes:
        lookups: Prompts looked up.
        hits: Lookups that reused an entry.
        reused_tokens: Prompt tokens taken from the store.
        computed_tokens: Prompt tokens computed (prefill).
        stored: Entries stored.
        evicted: Entries dropped to stay within the bounds (entries that a longer one made redundant are
            not counted).
        prefill_s: Seconds spent computing prompts (the decoder fills this in).
        decode_s: Seconds spent generating new tokens (likewise).
    """

    lookups: int = 0
    hits: int = 0
    reused_tokens: int = 0
    computed_tokens: int = 0
    stored: int = 0
    evicted: int = 0
    prefill_s: float = 0.0
    decode_s: float = 0.0

    def as_dict(self) -> dict[str, float]:
        """The counters as a plain dict."""
        return asdict(self)


@dataclass(frozen=True)
class CacheEntry:
    """One stored prefix.

    Attributes:
        ids: The token ids (int64), ending at a canonical cut.
        kv: Per layer ``(keys, values)``, each ``[1, heads, len(ids), head_dim]``.
        cuts: The canonical cuts of ``ids`` (``0`` first, ``len(ids)`` last).
        nbytes: The bytes of ``kv``.
    """

    ids: np.ndarray
    kv: tuple[tuple[Any, Any], ...]
    cuts: tuple[int, ...]
    nbytes: int


class PrefixCache:
    """An LRU store of key/values keyed by token-id prefixes, bounded by entries and bytes.

    Args:
        max_entries: The most entries kept (0 keeps none).
        max_bytes: The most bytes of key/values kept (an entry larger than this is not stored).

    Example:
        >>> cache = PrefixCache(max_entries=2, max_bytes=1 << 20)
        >>> cache.put(np.array([1, 2, 3]), [(np.zeros((1, 1, 3, 2)), np.zeros((1, 1, 3, 2)))], (0, 3))
        True
        >>> lcp, entry = cache.lookup(np.array([1, 2, 4, 5]))
        >>> lcp, entry.ids.tolist()
        (2, [1, 2, 3])
        >>> len(cache), cache.nbytes
        (1, 96)
    """

    def __init__(self, max_entries: int = 64, max_bytes: int = 1 << 30) -> None:
        """Create an empty store (see the class docstring)."""
        for name, value in (("max_entries", max_entries), ("max_bytes", max_bytes)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ConfigError(f"PrefixCache.{name}: expected an int >= 0, got {value!r}.")
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.stats = PrefixCacheStats()
        self._entries: OrderedDict[int, CacheEntry] = OrderedDict()
        self._next_key = 0
        self._nbytes = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def nbytes(self) -> int:
        """The bytes of key/values held."""
        return self._nbytes

    @property
    def enabled(self) -> bool:
        """Whether anything can be stored."""
        return self.max_entries > 0 and self.max_bytes > 0

    def entries(self) -> list[CacheEntry]:
        """The entries, least recently used first."""
        with self._lock:
            return list(self._entries.values())

    def clear(self) -> None:
        """Drop every entry (call it after changing the model's weights; the counters are kept)."""
        with self._lock:
            self._entries.clear()
            self._nbytes = 0

    def lookup(self, ids: np.ndarray) -> tuple[int, CacheEntry | None]:
        """The entry sharing the longest token prefix with ``ids``, and that prefix's length.

        The entry becomes the most recently used. Returns ``(0, None)`` when no entry shares a token.
        """
        ids = np.asarray(ids, dtype=np.int64)
        best, best_key, best_lcp = None, None, 0
        with self._lock:
            for key, entry in self._entries.items():
                lcp = _common_prefix(entry.ids, ids)
                if lcp > best_lcp:
                    best, best_key, best_lcp = entry, key, lcp
            if best_key is not None:
                self._entries.move_to_end(best_key)
        return best_lcp, best

    def put(self, ids: np.ndarray, kv: Sequence[tuple[Any, Any]], cuts: Sequence[int]) -> bool:
        """Store the key/values of the prefix ``ids`` (which ends at a canonical cut).

        Entries whose ids are a prefix of ``ids`` are dropped (the new one serves every lookup they would),
        then the least recently used ones until the bounds hold.

        Returns:
            Whether the entry was stored (not when the store is disabled or the entry alone is too large).
        """
        ids = np.asarray(ids, dtype=np.int64)
        nbytes = sum(_nbytes(k) + _nbytes(v) for k, v in kv)
        if not self.enabled or nbytes > self.max_bytes or len(ids) == 0:
            return False
        entry = CacheEntry(ids, tuple((k, v) for k, v in kv), tuple(int(c) for c in cuts), nbytes)
        with self._lock:
            for key in [k for k, e in self._entries.items() if len(e.ids) <= len(ids) and _is_prefix(e.ids, ids)]:
                self._nbytes -= self._entries.pop(key).nbytes
            self._entries[self._next_key] = entry
            self._next_key += 1
            self._nbytes += nbytes
            self.stats.stored += 1
            while len(self._entries) > self.max_entries or self._nbytes > self.max_bytes:
                _, old = self._entries.popitem(last=False)
                self._nbytes -= old.nbytes
                self.stats.evicted += 1
        return True

    def __repr__(self) -> str:
        return (
            f"PrefixCache(entries={len(self)}/{self.max_entries}, bytes={self._nbytes}/{self.max_bytes}, "
            f"hits={self.stats.hits}/{self.stats.lookups})"
        )


def _common_prefix(a: np.ndarray, b: np.ndarray) -> int:
    n = min(len(a), len(b))
    if n == 0:
        return 0
    diff = np.flatnonzero(a[:n] != b[:n])
    return int(diff[0]) if len(diff) else n


def _is_prefix(a: np.ndarray, b: np.ndarray) -> bool:
    return len(a) <= len(b) and _common_prefix(a, b) == len(a)


def _nbytes(t: Any) -> int:
    if hasattr(t, "untyped_storage"):  # a torch tensor: count its whole storage (a view keeps it alive)
        return int(t.untyped_storage().nbytes())
    return int(getattr(t, "nbytes", 0))
