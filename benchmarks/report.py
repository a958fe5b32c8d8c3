"""A run folder's HTML report: one self-contained file (inline CSS, figures as base64 PNG, no scripts).

It shows the run's status and provenance, the overall and per-env leaderboards with 95% confidence
intervals, the three figures of :mod:`toolgym.benchmarks.plots`, the most frequent errors, the suite
entries that were skipped, and the suite itself.
"""

from __future__ import annotations

import base64
import contextlib
import html
import json
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from toolgym.benchmarks import plots
from toolgym.benchmarks.leaderboard import CI_NOTE, format_estimate
from toolgym.benchmarks.stats import METRICS, Row, summarize, summarize_policies
from toolgym.benchmarks.store import SUITE, StoreError, read_meta, read_records

__all__ = ["REPORT", "render_report", "write_report"]

REPORT = "report.html"

_CSS = """
body { font-family: -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; margin: 2em auto; max-width: 1200px;
       color: #1b1f23; padding: 0 1em; background: #fff; }
h1 { font-size: 1.7em; margin-bottom: 0.2em; } h2 { margin-top: 1.8em; border-bottom: 1px solid #ddd; }
.meta { color: #555; } .meta b { color: #1b1f23; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.92em; }
th, td { padding: 4px 10px; border-bottom: 1px solid #e4e4e4; text-align: right; }
th { background: #f4f6f8; } td.l, th.l { text-align: left; }
tr.first td { border-top: 2px solid #c8c8c8; }
.best { font-weight: bold; color: #116329; }
.err { color: #b31d28; } .note { color: #666; font-size: 0.85em; }
img { max-width: 100%; border: 1px solid #eee; margin: 0.5em 0; }
pre { background: #f6f8fa; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }
.status-complete { color: #116329; } .status-running, .status-stopped, .status-interrupted { color: #9a6700; }
.status-failed { color: #b31d28; }
"""


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _table(rows: Sequence[Row], *, first: str) -> str:
    head = "".join(f"<th>{_e(label)}</th>" for _, label in METRICS)
    out = [f'<table><tr><th class="l">{_e(first)}</th><th class="l">policy</th><th>n</th>{head}<th>errors</th></tr>']
    best: dict[str, float] = {}
    for r in rows:
        best[r.env] = max(best.get(r.env, float("-inf")), r.metrics["success"].mean)
    last = None
    for r in rows:
        cls = ' class="first"' if r.env != last and last is not None else ""
        env = _e(r.env.removeprefix("toolgym/")) if r.env != last else ""
        last = r.env
        cells = []
        for name, _ in METRICS:
            text = _e(format_estimate(name, r.metrics[name]))
            win = name == "success" and r.metrics[name].mean == best[r.env] and best[r.env] > 0
            cells.append(f'<td class="best">{text}</td>' if win else f"<td>{text}</td>")
        err = f'<td class="err">{r.errors}</td>' if r.errors else "<td>0</td>"
        out.append(f'<tr{cls}><td class="l">{env}</td><td class="l">{_e(r.policy)}</td><td>{r.episodes}</td>')
        out.append("".join(cells) + err + "</tr>")
    out.append("</table>")
    return "".join(out)


def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{_e(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}">'


def render_report(meta: Mapping[str, Any], records: Sequence[Mapping[str, Any]], suite_yaml: str = "") -> str:
    """The report's HTML text for a run's ``run.json`` contents and records."""
    prov = meta.get("provenance", {})
    status = str(meta.get("status", "?"))
    planned = meta.get("episodes_planned", "?")
    versions = ", ".join(f"{k} {v}" for k, v in sorted(dict(prov.get("versions", {})).items()))
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>toolgym report - {_e(meta.get('suite'))}</title><style>{_CSS}</style></head><body>",
        f"<h1>toolgym benchmark: {_e(meta.get('suite'))}</h1>",
        f'<p class="meta">{_e(meta.get("suite_definition", {}).get("description", ""))}</p>',
        f'<p class="meta"><b>{len(records)}</b> of <b>{_e(planned)}</b> episodes recorded - status '
        f'<b class="status-{_e(status)}">{_e(status)}</b> - suite hash <code>{_e(meta.get("suite_hash"))}</code> - '
        f"created {_e(meta.get('created', '?'))}<br>commit <code>{_e(prov.get('git_commit') or 'unknown')}</code>"
        f"{' (uncommitted changes)' if prov.get('git_dirty') else ''} - {_e(versions)}</p>",
    ]
    if not records:
        parts.append("<p>No episodes recorded yet.</p></body></html>")
        return "\n".join(parts)
    rows = summarize(records)
    parts += [
        "<h2>Leaderboard</h2>",
        "<h3>Overall (macro-average over environments)</h3>",
        _table(summarize_policies(records), first="envs"),
        "<h3>Per environment</h3>",
        _table(rows, first="env"),
        f'<p class="note">{_e(CI_NOTE)}</p>',
        "<h2>Figures</h2>",
        _img(plots.success_per_env(rows), "success per environment and policy"),
        _img(plots.success_vs_cost(rows), "success against tool cost"),
        _img(plots.steps_distribution(records), "distribution of episode length"),
    ]
    errors = Counter(f"{r['env']} x {r['policy']}: {r['error']}" for r in records if r.get("error"))
    if errors:
        parts.append(f"<h2>Errors ({sum(errors.values())} episodes)</h2><table>")
        parts.append('<tr><th>episodes</th><th class="l">env x policy: error</th></tr>')
        for text, n in errors.most_common(20):
            parts.append(f'<tr><td>{n}</td><td class="l err">{_e(text)}</td></tr>')
        parts.append("</table>")
    skipped = meta.get("plan", {}).get("skipped", [])
    if skipped:
        parts.append("<h2>Skipped suite entries</h2><ul>")
        parts += [f"<li><b>{_e(entry)}</b>: {_e(reason)}</li>" for entry, reason in skipped]
        parts.append("</ul>")
    if suite_yaml:
        parts.append(f"<h2>Suite</h2><pre>{_e(suite_yaml)}</pre>")
    parts.append(f'<p class="note">Generated by toolgym {_e(prov.get("versions", {}).get("toolgym", ""))}.</p>')
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(root: str | os.PathLike[str], path: str | os.PathLike[str] | None = None) -> Path:
    """Write a run folder's HTML report (default ``root/report.html``) and return its path.

    Raises:
        RunDirError: ``root`` is not a run folder.
        StoreError: The report cannot be written.
    """
    meta = read_meta(root)
    records = read_records(root)
    suite_path = Path(root) / SUITE
    suite_yaml = (
        suite_path.read_text(encoding="utf-8")
        if suite_path.is_file()
        else json.dumps(meta.get("suite_definition", {}), indent=1)
    )
    target = Path(path) if path is not None else Path(root) / REPORT
    text = render_report(meta, records, suite_yaml)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise StoreError(f"writing the report {target} failed: {exc.strerror or exc}. Choose another path.") from exc
    return target
