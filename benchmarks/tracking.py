"""Logging a run's metrics to TensorBoard or MLflow (``pip install "toolgym[tracking]"``).

For users who track experiments there:

* :func:`log_tensorboard` writes an event file: for each env x policy, the scalars
  ``<metric>/<env>/<policy>`` with one point per replicate seed (step = the seed), plus their means under
  ``mean/<metric>/<env>/<policy>`` and the overall leaderboard as text.
* :func:`log_mlflow` creates one MLflow run for the sweep (params: suite, hash, commit; metrics: the overall
  per-policy means) and one nested run per env x policy (params: env, policy, config hash; metrics: every
  metric's mean, CI bounds, and per-seed values as steps). Any tracking URI works; a local folder becomes a
  ``file:`` store.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from toolgym.benchmarks.stats import METRICS, metric_value, summarize, summarize_policies
from toolgym.benchmarks.store import read_meta, read_records
from toolgym.error import require

__all__ = ["log_mlflow", "log_tensorboard"]


def _tag(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.\-/ ]", "_", text.removeprefix("toolgym/"))


def _per_seed(records: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str], dict[int, list[Mapping[str, Any]]]]:
    out: dict[tuple[str, str], dict[int, list[Mapping[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for r in records:
        out[(r["env"], r["policy"])][int(r.get("seed") or 0)].append(r)
    return out


def log_tensorboard(root: str | os.PathLike[str], logdir: str | os.PathLike[str] | None = None) -> Path:
    """Write a run's metrics to a TensorBoard event file (default folder ``root/tensorboard``).

    Returns:
        The log folder (``tensorboard --logdir`` it).
    """
    require("tensorboard", "tracking", "TensorBoard logging")
    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.compat.proto.summary_pb2 import Summary
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    from toolgym.benchmarks.leaderboard import leaderboard

    meta = read_meta(root)
    records = read_records(root)
    folder = Path(logdir) if logdir is not None else Path(root) / "tensorboard"
    folder.mkdir(parents=True, exist_ok=True)
    writer = EventFileWriter(str(folder))
    now = time.time()

    def scalar(tag: str, value: float, step: int) -> None:
        summary = Summary(value=[Summary.Value(tag=tag, simple_value=float(value))])
        writer.add_event(Event(wall_time=now, step=step, summary=summary))

    for (env, policy), seeds in _per_seed(records).items():
        for seed, recs in sorted(seeds.items()):
            for name, _ in METRICS:
                scalar(
                    f"{name}/{_tag(env)}/{_tag(policy)}", float(np.mean([metric_value(r, name) for r in recs])), seed
                )
    for row in summarize(records):
        for name, _ in METRICS:
            scalar(f"mean/{name}/{_tag(row.env)}/{_tag(row.policy)}", row.metrics[name].mean, 0)
    text = leaderboard(root)
    tensor = _text_tensor(f"```\n{text}\n```")
    writer.add_event(
        Event(
            wall_time=now,
            step=0,
            summary=Summary(
                value=[Summary.Value(tag=f"leaderboard/{meta.get('suite')}", metadata=_text_meta(), tensor=tensor)]
            ),
        )
    )
    writer.flush()
    writer.close()
    return folder


def _text_meta() -> Any:
    from tensorboard.compat.proto.summary_pb2 import SummaryMetadata

    return SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name="text"))


def _text_tensor(text: str) -> Any:
    from tensorboard.compat.proto.tensor_pb2 import TensorProto
    from tensorboard.compat.proto.tensor_shape_pb2 import TensorShapeProto
    from tensorboard.compat.proto.types_pb2 import DT_STRING

    return TensorProto(dtype=DT_STRING, string_val=[text.encode("utf-8")], tensor_shape=TensorShapeProto(dim=[]))


def _uri(target: str | os.PathLike[str]) -> str:
    text = str(target)
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", text) or text.startswith("file:"):
        return text
    return Path(text).expanduser().resolve().as_uri()


def log_mlflow(
    root: str | os.PathLike[str], tracking_uri: str | os.PathLike[str] | None = None, *, experiment: str = "toolgym"
) -> str:
    """Log a run to MLflow: a parent run for the sweep and a nested run per env x policy.

    Args:
        root: The run folder.
        tracking_uri: An MLflow tracking URI (``sqlite:///...``, ``http://...``) or a local folder, used as an
            MLflow file store (default ``root/mlruns``; MLflow 3 keeps file stores in maintenance mode and needs
            ``MLFLOW_ALLOW_FILE_STORE``, which is set for the duration of the call).
        experiment: The experiment name.

    Returns:
        The parent MLflow run's id.
    """
    require("mlflow", "tracking", "MLflow logging")
    from mlflow.tracking import MlflowClient

    uri = _uri(tracking_uri if tracking_uri is not None else Path(root) / "mlruns")
    with _file_store_allowed(uri):
        return _log_mlflow(MlflowClient(tracking_uri=uri), root, experiment)


@contextlib.contextmanager
def _file_store_allowed(uri: str) -> Iterator[None]:
    """MLflow 3 refuses ``file:`` stores unless ``MLFLOW_ALLOW_FILE_STORE`` is set; we asked for one on purpose."""
    if not uri.startswith("file:") or "MLFLOW_ALLOW_FILE_STORE" in os.environ:
        yield
        return
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    try:
        yield
    finally:
        os.environ.pop("MLFLOW_ALLOW_FILE_STORE", None)


def _log_mlflow(client: Any, root: str | os.PathLike[str], experiment: str) -> str:
    meta = read_meta(root)
    records = read_records(root)
    exp = client.get_experiment_by_name(experiment)
    exp_id = exp.experiment_id if exp is not None else client.create_experiment(experiment)
    prov = meta.get("provenance", {})
    parent = client.create_run(
        exp_id,
        run_name=f"{meta.get('suite')} ({Path(root).name})",
        tags={"toolgym.suite": str(meta.get("suite")), "toolgym.run_dir": str(Path(root).resolve())},
    )
    pid = parent.info.run_id
    for k, v in {
        "suite": meta.get("suite"),
        "suite_hash": meta.get("suite_hash"),
        "git_commit": prov.get("git_commit"),
        "episodes": len(records),
        "status": meta.get("status"),
    }.items():
        client.log_param(pid, k, str(v))
    for row in summarize_policies(records):
        for name, _ in METRICS:
            client.log_metric(pid, f"{name}.{_tag(row.policy)}", row.metrics[name].mean)
    seeds = _per_seed(records)
    for row in summarize(records):
        child = client.create_run(
            exp_id,
            run_name=f"{row.env.removeprefix('toolgym/')} x {row.policy}",
            tags={"mlflow.parentRunId": pid, "toolgym.env": row.env, "toolgym.policy": row.policy},
        )
        cid = child.info.run_id
        first = seeds[(row.env, row.policy)]
        sample = next(iter(first.values()))[0]
        for k, v in {
            "env": row.env,
            "policy": row.policy,
            "family": row.family,
            "config_hash": sample.get("config_hash"),
            "episodes": row.episodes,
            "seeds": row.seeds,
        }.items():
            client.log_param(cid, k, str(v))
        for name, _ in METRICS:
            e = row.metrics[name]
            client.log_metric(cid, name, e.mean)
            client.log_metric(cid, f"{name}.ci_lo", e.lo)
            client.log_metric(cid, f"{name}.ci_hi", e.hi)
            for seed, recs in sorted(first.items()):
                client.log_metric(
                    cid, f"{name}.per_seed", float(np.mean([metric_value(r, name) for r in recs])), step=seed
                )
        client.set_terminated(cid)
    client.set_terminated(pid)
    return pid
