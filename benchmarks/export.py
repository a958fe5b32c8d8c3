"""Exporting a run's records to Parquet (``pip install "toolgym[parquet]"``) and to a pandas-free table.

Scalar fields become columns; ``cost_breakdown`` becomes a ``map<string, double>``; ``tokens`` is split
into ``tokens_prompt`` and ``tokens_completion``; the other nested fields (``env_kwargs``,
``policy_config``, ``versions``) are stored as JSON text.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from toolgym.benchmarks.store import PARQUET, read_records
from toolgym.error import require

__all__ = ["export_parquet", "flatten"]

_JSON_FIELDS = ("env_kwargs", "policy_config", "versions")


def flatten(record: Mapping[str, Any]) -> dict[str, Any]:
    """A record with its nested fields made tabular (see the module docstring).

    Example:
        >>> flatten({"key": "k", "tokens": {"prompt": 3}, "env_kwargs": {"split": "dev"}, "cost_breakdown": {"a": 1}})
        ... # doctest: +NORMALIZE_WHITESPACE
        {'key': 'k', 'env_kwargs': '{"split": "dev"}', 'cost_breakdown': [('a', 1.0)],
         'tokens_prompt': 3, 'tokens_completion': 0}
    """
    out: dict[str, Any] = {}
    for k, v in record.items():
        if k == "tokens":
            continue
        if k in _JSON_FIELDS:
            out[k] = json.dumps(v, sort_keys=True)
        elif k == "cost_breakdown":
            out[k] = [(str(a), float(b)) for a, b in sorted(dict(v or {}).items())]
        else:
            out[k] = v
    tokens = dict(record.get("tokens") or {})
    out["tokens_prompt"] = int(tokens.get("prompt", 0))
    out["tokens_completion"] = int(tokens.get("completion", 0))
    return out


def _table(records: Sequence[Mapping[str, Any]]) -> Any:
    pa: Any = require("pyarrow", "parquet", "Parquet export")
    rows = [flatten(r) for r in records]
    columns: list[str] = list(dict.fromkeys(k for r in rows for k in r))
    arrays = []
    fields = []
    for name in columns:
        values = [r.get(name) for r in rows]
        if name == "cost_breakdown":
            typ = pa.map_(pa.string(), pa.float64())
            arrays.append(pa.array(values, type=typ))
        else:
            if any(isinstance(v, (dict, list)) for v in values):
                values = [json.dumps(v, sort_keys=True) if v is not None else None for v in values]
            arrays.append(pa.array(values))
        fields.append(name)
    return pa.Table.from_arrays(arrays, names=fields)


def export_parquet(root: str | os.PathLike[str], path: str | os.PathLike[str] | None = None) -> Path:
    """Write a run folder's records to Parquet.

    Args:
        root: The run folder.
        path: The output file (default ``root/results.parquet``), written atomically.

    Returns:
        The file written.
    """
    pq: Any = require("pyarrow.parquet", "parquet", "Parquet export")
    target = Path(path) if path is not None else Path(root) / PARQUET
    table = _table(read_records(root))
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, target)
    return target
