"""Send every step's numbers where people watch runs: JSON lines, CSV, TensorBoard, MLflow.

This module lets you log a :class:`~gradtrack.types.CustomLossOutput` each
step with one call, ``logger.log(output, step)``. Every logger writes the
flat scalars of :func:`to_scalars` (``loss/total``, ``grad/total_norm``,
``reg/<name>/grad_norm`` …), flushes at every step (a killed process loses
nothing already logged), and closes with ``close()`` or a ``with`` block.

* :class:`JSONLLogger` — one strict JSON object per line (NaN and
  infinities written as ``null``).
* :class:`CSVLogger` — a ``step`` column plus one column per key; a key
  that first appears later adds a column (the file is rewritten once then).
* :class:`TensorBoardLogger` (extra ``tensorboard``) — event files
  TensorBoard reads, one scalar tag per key.
* :class:`MLflowLogger` (extra ``mlflow``) — one MLflow run, one metric per key.

Examples
--------
>>> import json, tempfile
>>> from pathlib import Path
>>> from gradtrack.types import CustomLossOutput
>>> path = Path(tempfile.mkdtemp()) / "metrics.jsonl"
>>> with JSONLLogger(path) as logger:
...     logger.log(CustomLossOutput.build(2.5, {"nll": float("nan")}, []), step=1)
>>> json.loads(path.read_text())
{'step': 1, 'loss/total': 2.5, 'loss/base': 2.5, 'loss/regularizers': 0.0, 'base/nll': None}
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from gradtrack.types import CustomLossOutput
from gradtrack.types.scalars import to_scalars

__all__ = [
    "CSVLogger",
    "JSONLLogger",
    "MLflowLogger",
    "MetricLogger",
    "TensorBoardLogger",
    "missing_packages",
    "mlflow_store_problem",
    "open_logger",
    "parse_log_to",
    "to_scalars",
]


class MetricLogger:
    """What every logger shares: ``log(output, step)``, ``close()``, ``with``.

    Subclasses implement ``_write(scalars, step)`` (which must flush) and
    ``_close()``. ``prefix`` is put before every key (``"train/"`` gives
    ``train/loss/total``).

    Examples
    --------
    >>> class Printer(MetricLogger):
    ...     def _write(self, scalars, step):
    ...         print(step, scalars["loss/total"])
    >>> Printer().log(CustomLossOutput.build(1.5, None, []), step=3)
    3 1.5
    """

    def __init__(self, prefix: str = "") -> None:
        if not isinstance(prefix, str):
            raise TypeError(f"prefix must be a str, got {type(prefix).__name__}")
        self.prefix = prefix
        self.closed = False

    def log(self, output: CustomLossOutput, step: int) -> None:
        """Write ``output``'s scalars for ``step`` and flush them.

        Raises
        ------
        TypeError
            ``output`` is not a CustomLossOutput, or ``step`` not an int.
        ValueError
            ``step`` is negative, or the logger is closed.
        """
        if not isinstance(output, CustomLossOutput):
            raise TypeError(f"output must be a CustomLossOutput, got {type(output).__name__}")
        if isinstance(step, bool) or not isinstance(step, int):
            raise TypeError(f"step must be an int, got {type(step).__name__}")
        if step < 0:
            raise ValueError(f"step must be >= 0, got {step}")
        if self.closed:
            raise ValueError(f"{type(self).__name__} is closed")
        self._write(to_scalars(output, self.prefix), step)

    def close(self) -> None:
        """Flush and release the destination; closing twice is harmless."""
        if not self.closed:
            self.closed = True
            self._close()

    def __enter__(self) -> MetricLogger:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _write(self, scalars: dict[str, float], step: int) -> None:
        raise NotImplementedError

    def _close(self) -> None:
        """Nothing to release by default."""


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


class JSONLLogger(MetricLogger):
    """One strict JSON object per step: ``{"step": n, <to_scalars keys>}``.

    The file is created (or truncated) when the logger is made. NaN and
    infinite values are written as ``null``, so every line is standard JSON.

    Examples
    --------
    >>> import os, tempfile
    >>> logger = JSONLLogger(os.path.join(tempfile.mkdtemp(), "run.jsonl"))
    >>> logger.log(CustomLossOutput.build(1.0, None, []), step=0)
    >>> logger.close()
    """

    def __init__(self, path: str | os.PathLike[str], *, prefix: str = "") -> None:
        super().__init__(prefix)
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("w", encoding="utf-8")

    def _write(self, scalars: dict[str, float], step: int) -> None:
        record: dict[str, Any] = {"step": step}
        record.update({key: _finite_or_none(value) for key, value in scalars.items()})
        self._file.write(json.dumps(record, allow_nan=False) + "\n")
        self._file.flush()

    def _close(self) -> None:
        self._file.close()


class CSVLogger(MetricLogger):
    """A CSV file: a ``step`` column, then one column per key in order of first appearance.

    A step without some key leaves its cell empty. When a key first appears
    after rows were written, the file is rewritten once with the wider
    header (atomically: a crash leaves the old or the new file, whole).
    NaN and infinities are written as ``nan``, ``inf``, ``-inf``.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> path = Path(tempfile.mkdtemp()) / "run.csv"
    >>> with CSVLogger(path) as logger:
    ...     logger.log(CustomLossOutput.build(1.0, None, []), step=0)
    >>> path.read_text().splitlines()
    ['step,loss/total,loss/base,loss/regularizers', '0,1.0,1.0,0.0']
    """

    def __init__(self, path: str | os.PathLike[str], *, prefix: str = "") -> None:
        super().__init__(prefix)
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._columns: list[str] = []
        self._file = self.path.open("w", encoding="utf-8", newline="")

    def _write(self, scalars: dict[str, float], step: int) -> None:
        new = [key for key in scalars if key not in self._columns]
        if new:
            self._widen(new)
        row = {"step": step, **{key: repr(float(value)) for key, value in scalars.items()}}
        csv.DictWriter(self._file, ["step", *self._columns]).writerow(row)
        self._file.flush()

    def _widen(self, new: list[str]) -> None:
        self._file.close()
        with self.path.open(encoding="utf-8", newline="") as old:
            rows = list(csv.DictReader(old)) if self._columns else []
        self._columns += new
        handle, scratch = tempfile.mkstemp(dir=self.path.parent, suffix=".csv")
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
            writer = csv.DictWriter(out, ["step", *self._columns])
            writer.writeheader()
            writer.writerows(rows)
        os.replace(scratch, self.path)
        self._file = self.path.open("a", encoding="utf-8", newline="")

    def _close(self) -> None:
        self._file.close()


class TensorBoardLogger(MetricLogger):
    """TensorBoard event files in ``logdir``, one scalar tag per key (extra ``tensorboard``).

    Open the run with ``tensorboard --logdir <logdir>``.

    Raises
    ------
    ImportError
        The ``tensorboard`` package is not installed (``pip install 'gradtrack[tensorboard]'``).
    """

    def __init__(self, logdir: str | os.PathLike[str], *, prefix: str = "") -> None:
        super().__init__(prefix)
        try:
            from tensorboard.compat.proto.event_pb2 import Event
            from tensorboard.compat.proto.summary_pb2 import Summary
            from tensorboard.summary.writer.event_file_writer import EventFileWriter
        except ImportError as exc:
            raise ImportError(
                "TensorBoardLogger needs the tensorboard package: "
                "pip install 'gradtrack[tensorboard]'"
            ) from exc
        self.logdir = Path(logdir)
        self.logdir.mkdir(parents=True, exist_ok=True)
        self._event, self._summary = Event, Summary
        self._writer = EventFileWriter(str(self.logdir))

    def _write(self, scalars: dict[str, float], step: int) -> None:
        values = [self._summary.Value(tag=k, simple_value=v) for k, v in scalars.items()]
        event = self._event(wall_time=time.time(), step=step, summary=self._summary(value=values))
        self._writer.add_event(event)
        self._writer.flush()

    def _close(self) -> None:
        self._writer.close()


# MLflow metric names allow these characters only.
_MLFLOW_UNSAFE = re.compile(r"[^\w\-. /:]")
_MLFLOW_BATCH = 1000  # the most metrics one log_batch request may carry


class MLflowLogger(MetricLogger):
    """One MLflow run; each key is a metric logged at each step (extra ``mlflow``).

    Characters MLflow does not allow in a metric name are replaced by ``_``.
    ``run_id`` names the run; ``close()`` marks it finished.

    Parameters
    ----------
    tracking_uri : str, optional
        Where MLflow stores runs; ``None`` is the installed MLflow's default
        (with ``mlflow-skinny`` that default needs SQLAlchemy: pass a
        ``file:`` URI instead). For a ``file:`` URI or a plain directory
        MLflow's file store is allowed for this process (recent MLflow
        refuses it unless ``MLFLOW_ALLOW_FILE_STORE`` is set).
    run_name : str, optional
        The run's name in the MLflow UI.
    experiment_name : str, optional
        Created if missing; the default experiment otherwise.
    prefix : str
        Put before every key.

    Raises
    ------
    ImportError
        MLflow is not installed (``pip install 'gradtrack[mlflow]'``).
    """

    def __init__(
        self,
        tracking_uri: str | None = None,
        run_name: str | None = None,
        *,
        experiment_name: str | None = None,
        prefix: str = "",
    ) -> None:
        super().__init__(prefix)
        if tracking_uri is not None and _is_file_store(tracking_uri):
            # The file store works; MLflow only wants an explicit opt-in to use it.
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        try:
            from mlflow import MlflowClient
            from mlflow.entities import Metric
        except ImportError as exc:
            raise ImportError("MLflowLogger needs MLflow: pip install 'gradtrack[mlflow]'") from exc
        self._metric = Metric
        self.client = MlflowClient(tracking_uri)
        experiment_id = "0"
        if experiment_name is not None:
            found = self.client.get_experiment_by_name(experiment_name)
            experiment_id = (
                found.experiment_id
                if found is not None
                else self.client.create_experiment(experiment_name)
            )
        self.run_id: str = self.client.create_run(experiment_id, run_name=run_name).info.run_id

    def _write(self, scalars: dict[str, float], step: int) -> None:
        stamp = int(time.time() * 1000)
        metrics = [
            self._metric(_MLFLOW_UNSAFE.sub("_", key), float(value), stamp, step)
            for key, value in scalars.items()
        ]
        for start in range(0, len(metrics), _MLFLOW_BATCH):
            # log_batch returns once the store has the metrics: nothing is buffered here.
            self.client.log_batch(self.run_id, metrics=metrics[start : start + _MLFLOW_BATCH])

    def _close(self) -> None:
        self.client.set_terminated(self.run_id)


def _is_file_store(uri: str) -> bool:
    return uri.startswith("file:") or (
        "://" not in uri
        and not uri.startswith(("databricks", "sqlite:", "postgresql", "mysql", "mssql", "http"))
    )


# ------------------------------------------------------- from the command line

LOG_KINDS = ("jsonl", "csv", "tensorboard", "mlflow")
"""The destinations :func:`parse_log_to` knows, by name."""

_EXTRA_OF = {"tensorboard": "tensorboard", "mlflow": "mlflow"}


def parse_log_to(text: str) -> list[tuple[str, str | None]]:
    """``"tensorboard:DIR,mlflow[:URI],csv:FILE,jsonl:FILE"`` as ``[(kind, target), ...]``.

    Each item is a kind, then (after the first ``:``) its target: a folder
    for ``tensorboard``, a file for ``csv`` and ``jsonl`` (all required), an
    optional tracking URI for ``mlflow``. The check needs no optional package.

    Raises
    ------
    ValueError
        An empty item, an unknown kind, a missing target, a kind given twice.

    Examples
    --------
    >>> parse_log_to("tensorboard:runs/tb,mlflow,csv:m.csv")
    [('tensorboard', 'runs/tb'), ('mlflow', None), ('csv', 'm.csv')]
    >>> parse_log_to("mlflow:file:///tmp/mlruns")
    [('mlflow', 'file:///tmp/mlruns')]
    >>> parse_log_to("wandb:x")
    Traceback (most recent call last):
    ...
    ValueError: unknown destination 'wandb' in 'wandb:x'; choose from jsonl, csv, tensorboard, mlflow
    """  # noqa: E501
    if not isinstance(text, str):
        raise TypeError(f"expected a str, got {type(text).__name__}")
    targets: list[tuple[str, str | None]] = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            raise ValueError(f"empty destination in {text!r}")
        kind, _, target = item.partition(":")
        if kind not in LOG_KINDS:
            raise ValueError(
                f"unknown destination {kind!r} in {item!r}; choose from {', '.join(LOG_KINDS)}"
            )
        if not target and kind != "mlflow":
            raise ValueError(f"{kind} needs a target: {kind}:PATH")
        if any(kind == seen for seen, _ in targets):
            raise ValueError(f"{kind} is given twice in {text!r}")
        targets.append((kind, target or None))
    return targets


def missing_packages(targets: list[tuple[str, str | None]]) -> list[str]:
    """The optional packages the destinations need and this environment lacks.

    Examples
    --------
    >>> missing_packages([("csv", "m.csv")])
    []
    """
    import importlib.util

    return [
        _EXTRA_OF[kind]
        for kind, _ in targets
        if kind in _EXTRA_OF and importlib.util.find_spec(_EXTRA_OF[kind]) is None
    ]


def mlflow_store_problem(targets: list[tuple[str, str | None]]) -> str | None:
    """Why an ``mlflow`` destination without a URI cannot open here, or ``None``.

    Without a URI (and without ``MLFLOW_TRACKING_URI``) MLflow uses its default
    store, a SQLite database that needs SQLAlchemy, which ``mlflow-skinny``
    does not bring.

    Examples
    --------
    >>> mlflow_store_problem([("csv", "m.csv")]) is None
    True
    """
    import importlib.util

    for kind, target in targets:
        if kind != "mlflow" or target is not None or os.environ.get("MLFLOW_TRACKING_URI"):
            continue
        if importlib.util.find_spec("sqlalchemy") is None:
            return (
                "mlflow without a URI uses MLflow's default SQLite store, which needs "
                "SQLAlchemy (not part of mlflow-skinny); give a store, e.g. mlflow:file:./mlruns"
            )
    return None


def open_logger(kind: str, target: str | None, *, run_name: str | None = None) -> MetricLogger:
    """The logger for one parsed destination of :func:`parse_log_to`.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> logger = open_logger("csv", str(Path(tempfile.mkdtemp()) / "m.csv"))
    >>> type(logger).__name__
    'CSVLogger'
    >>> logger.close()
    """
    if kind == "jsonl":
        return JSONLLogger(str(target))
    if kind == "csv":
        return CSVLogger(str(target))
    if kind == "tensorboard":
        return TensorBoardLogger(str(target))
    if kind == "mlflow":
        return MLflowLogger(target, run_name=run_name)
    raise ValueError(f"unknown destination {kind!r}; choose from {', '.join(LOG_KINDS)}")
