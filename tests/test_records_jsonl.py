"""toolgym.records.iter_jsonl, the one JSON-lines reader, and read_jsonl on top of it."""

from __future__ import annotations

import gzip

import pytest

from toolgym.error import ConfigError
from toolgym.records import EpisodeResult, append_jsonl, iter_jsonl, read_jsonl


def test_iter_jsonl_numbers_lines_and_skips_blank_ones(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text('{"a": 1}\n\n  \n[2]\n"x"\n', encoding="utf-8")
    assert list(iter_jsonl(path)) == [(1, {"a": 1}), (4, [2]), (5, "x")]


def test_iter_jsonl_reads_gzip(tmp_path):
    path = tmp_path / "a.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write('{"a": 1}\n{"b": 2}\n')
    assert [v for _, v in iter_jsonl(path)] == [{"a": 1}, {"b": 2}]


def test_iter_jsonl_names_the_bad_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"a": 1}\nnot json\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad.jsonl, line 2: .*invalid JSON"):
        list(iter_jsonl(path))


def test_torn_tail_is_skipped_only_when_asked(tmp_path, caplog):
    path = tmp_path / "runs.jsonl"
    results = [EpisodeResult("env", f"t{i}", "expert", i, True, 1.0, 1.0) for i in (1, 2)]
    append_jsonl(path, results, fsync=False)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write('{"task_id": "t3", "succ')  # an interrupted append
    assert [r.task_id for r in read_jsonl(path, EpisodeResult)] == ["t1", "t2"]
    assert "incomplete last line" in caplog.text
    with pytest.raises(ConfigError, match="line 3"):
        list(iter_jsonl(path))
