"""Reading finished run directories and comparing them in one plot.

A run directory is what ``jaxmarl-core train`` writes (see DESIGN.md section 4):
``config.yaml`` (the resolved config, with ``algo`` and ``env``) and
``metrics.csv`` in long format, one row per (seed, logging step), with columns
``seed, env_steps, episode_return, eval_return, ...``.

:func:`read_run_metrics` is the one reader of that format; :func:`run_curves`
turns runs into the mean and a 95% interval over seeds at every logging step;
:func:`plot_runs` draws those curves into one PNG.

A sweep directory (``jaxmarl-core sweep``) stands for its best setting: its
``best/`` folder holds that setting's config and the metrics of its seeds in
the same two files.
"""

from __future__ import annotations

import csv
import math
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

PathLike = str | os.PathLike

CONFIG_FILE = "config.yaml"
METRICS_FILE = "metrics.csv"


class RunCurve(NamedTuple):
    """One run's curve of a metric against environment steps, over its seeds.

    Attributes:
        label: ``"<algo> on <env>"``, with ``" (<dir name>)"`` added when
            another run of the comparison has the same label.
        env_steps: int64[T], the logging steps.
        mean: float64[T], mean over the seeds with a finite value at that step.
        lower, upper: float64[T], the 95% interval (NaN where fewer than two
            seeds have a finite value).
        num_seeds: S, the run's number of seeds.
        run_dir: the run directory.
    """

    label: str
    env_steps: np.ndarray
    mean: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    num_seeds: int
    run_dir: Path


def _parse_float(text: str) -> float:
    return float(text) if text.strip() else math.nan


def _check_run_dir(run_dir: PathLike) -> Path:
    path = Path(run_dir)
    if (path / "sweep.json").is_file() and (path / "best").is_dir():
        path = path / "best"  # a sweep: its best setting
    if not path.exists():
        raise ValueError(f"run directory {str(path)!r} does not exist")
    if not path.is_dir():
        raise ValueError(f"{str(path)!r} is not a run directory: it is not a directory")
    missing = [f for f in (CONFIG_FILE, METRICS_FILE) if not (path / f).is_file()]
    if missing:
        raise ValueError(
            f"{str(path)!r} is not a run directory: no {' or '.join(missing)} "
            f"(written by `jaxmarl-core train`, or a sweep's best/)"
        )
    return path


def read_run_metrics(run_dir: PathLike) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Reads a run directory's config and its metrics as seed-by-step arrays.

    The rows of ``metrics.csv`` may come in any order: they are grouped by seed
    (ascending) and ordered by ``env_steps`` within a seed. Empty cells and
    ``nan`` read as NaN (``episode_return`` is NaN where no training episode
    finished).

    Args:
        run_dir: a directory written by ``jaxmarl-core train``.

    Returns:
        ``(config, metrics)``: ``config`` is ``config.yaml`` as a dict;
        ``metrics`` maps every column of ``metrics.csv`` to an array of shape
        [S, T] (S seeds, T logging steps): ``seed`` and ``env_steps`` as int64,
        every other column as float64.

    Raises:
        ValueError: one line naming the directory, when it does not exist, is
            not a run directory, or its files are malformed (a missing column,
            seeds with different logging steps, a repeated row).
    """
    import yaml

    path = _check_run_dir(run_dir)
    name = repr(str(path))
    try:
        config = yaml.safe_load((path / CONFIG_FILE).read_text())
    except yaml.YAMLError as e:
        raise ValueError(f"{name}: {CONFIG_FILE} is not valid YAML ({type(e).__name__})") from e
    if not isinstance(config, dict):
        raise ValueError(f"{name}: {CONFIG_FILE} does not hold a mapping of config keys")

    with open(path / METRICS_FILE, newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        rows = [row for row in reader if row]
    if not header:
        raise ValueError(f"{name}: {METRICS_FILE} is empty")
    header = [h.strip() for h in header]
    for required in ("seed", "env_steps"):
        if required not in header:
            raise ValueError(f"{name}: {METRICS_FILE} has no {required!r} column")
    if not rows:
        raise ValueError(f"{name}: {METRICS_FILE} has no rows")
    seed_col, steps_col = header.index("seed"), header.index("env_steps")

    by_seed: dict[int, dict[int, list[str]]] = {}
    for line, row in enumerate(rows, start=2):
        if len(row) != len(header):
            raise ValueError(
                f"{name}: {METRICS_FILE} line {line} has {len(row)} fields, expected {len(header)}"
            )
        try:
            seed, steps = int(row[seed_col]), int(float(row[steps_col]))
        except ValueError as e:
            raise ValueError(
                f"{name}: {METRICS_FILE} line {line}: seed and env_steps must be integers"
            ) from e
        if steps in by_seed.setdefault(seed, {}):
            raise ValueError(
                f"{name}: {METRICS_FILE} has two rows for seed {seed} at env_steps {steps}"
            )
        by_seed[seed][steps] = row

    seeds = sorted(by_seed)
    steps = sorted(by_seed[seeds[0]])
    for seed in seeds[1:]:
        if sorted(by_seed[seed]) != steps:
            raise ValueError(
                f"{name}: seeds {seeds[0]} and {seed} have different logging steps in "
                f"{METRICS_FILE}"
            )

    metrics: dict[str, np.ndarray] = {}
    for c, column in enumerate(header):
        if c in (seed_col, steps_col):
            continue
        try:
            values = [[_parse_float(by_seed[s][t][c]) for t in steps] for s in seeds]
        except ValueError as e:
            raise ValueError(f"{name}: {METRICS_FILE} column {column!r} is not numeric") from e
        metrics[column] = np.asarray(values, dtype=np.float64)
    shape = (len(seeds), len(steps))
    metrics["seed"] = np.broadcast_to(np.asarray(seeds, np.int64)[:, None], shape).copy()
    metrics["env_steps"] = np.broadcast_to(np.asarray(steps, np.int64)[None, :], shape).copy()
    return config, metrics


def mean_and_interval(
    values: np.ndarray, level: float = 0.95
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean over seeds and a Student-t confidence interval for it, at every step.

    At a step with n seeds of finite value x_1..x_n (NaNs are left out):
    ``mean ± t_{(1+level)/2, n-1} * s / sqrt(n)``, with ``s`` the sample
    standard deviation (ddof 1) and ``t`` the Student t quantile. With n < 2
    the interval is NaN (only the mean is known); with n = 0 the mean is too.

    Args:
        values: float[S, T], one row per seed.
        level: the interval's confidence level, in (0, 1).

    Returns:
        ``(mean, lower, upper)``, each float64[T].
    """
    from scipy import stats  # a dependency of JAX itself

    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2:
        raise ValueError(f"values must have shape [seeds, steps], got {values.shape}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    finite = np.isfinite(values)
    n = finite.sum(axis=0)
    x = np.where(finite, values, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n > 0, x.sum(axis=0) / n, np.nan)
        sq = np.where(finite, (values - mean) ** 2, 0.0).sum(axis=0)
        std = np.sqrt(sq / (n - 1))
        quantile = stats.t.ppf(0.5 + level / 2, np.maximum(n - 1, 1))
        half = np.where(n >= 2, quantile * std / np.sqrt(n), np.nan)
    return mean, mean - half, mean + half


def _labels(configs: Sequence[dict[str, Any]], dirs: Sequence[Path]) -> list[str]:
    base = [
        f"{c['algo']} on {c['env']}" + (", best of sweep" if (d / "sweep.json").is_file() else "")
        for c, d in zip(configs, dirs, strict=True)
    ]
    labels = [
        f"{b} ({d.name})" if base.count(b) > 1 else b for b, d in zip(base, dirs, strict=True)
    ]
    # Two runs of one setting in folders of the same name: fall back to the paths.
    return [
        f"{b} ({d})" if labels.count(label) > 1 else label
        for b, d, label in zip(base, dirs, labels, strict=True)
    ]


def run_curves(dirs: Sequence[PathLike], metric: str = "eval_return") -> list[RunCurve]:
    """Every run's mean and 95% Student-t interval over seeds of ``metric``.

    Args:
        dirs: run directories written by ``jaxmarl-core train``.
        metric: a column of every run's ``metrics.csv``.

    Returns:
        One :class:`RunCurve` per directory, in the given order.

    Raises:
        ValueError: one line naming the directory or the metric (with the
            available metrics) when a directory is missing, not a run, or lacks
            ``metric``; or when ``dirs`` is empty.
    """
    if isinstance(dirs, str | os.PathLike):
        dirs = [dirs]
    if len(dirs) == 0:
        raise ValueError("no run directories given")
    paths, configs, values = [], [], []
    for d in dirs:
        config, metrics = read_run_metrics(d)
        path = Path(d)
        for key in ("algo", "env"):
            if key not in config:
                raise ValueError(f"{str(path)!r}: {CONFIG_FILE} has no {key!r} key")
        if metric not in metrics or metric == "seed":
            available = ", ".join(k for k in metrics if k not in ("seed", "env_steps"))
            raise ValueError(
                f"metric {metric!r} is not in {str(path / METRICS_FILE)!r}; available: {available}"
            )
        paths.append(path)
        configs.append(config)
        values.append((metrics["env_steps"][0], metrics[metric]))

    curves = []
    for label, path, (env_steps, y) in zip(_labels(configs, paths), paths, values, strict=True):
        mean, lower, upper = mean_and_interval(y)
        curves.append(RunCurve(label, env_steps, mean, lower, upper, y.shape[0], path))
    return curves


def plot_runs(dirs: Sequence[PathLike], out: PathLike, metric: str = "eval_return") -> Path:
    """Overlays runs' learning curves in one PNG, as one compares algorithms in a paper.

    For every run: the mean over seeds of ``metric`` against environment steps
    (one line, labelled ``"<algo> on <env>"``, with the directory name added
    when two runs share a label) and a shaded 95% confidence interval of that
    mean from the Student t distribution over seeds (:func:`mean_and_interval`;
    a run with one seed gets only its line). Drawn with matplotlib's Agg canvas,
    without pyplot, so no global backend is changed.

    Args:
        dirs: run directories written by ``jaxmarl-core train`` (not sweeps).
        out: the PNG to write (must end in ``.png``); parent folders are made.
        metric: a column of every run's ``metrics.csv``, ``eval_return`` by default.

    Returns:
        The path written.

    Raises:
        ValueError: as :func:`run_curves`, or for an ``out`` that is not a ``.png``;
            nothing is written then.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    out = Path(out)
    if out.suffix.lower() != ".png":
        raise ValueError(f"plot writes a PNG; out must end in .png, got {str(out)!r}")
    curves = run_curves(dirs, metric)

    fig = Figure(figsize=(7.5, 4.5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    colors = [f"C{i % 10}" for i in range(len(curves))]
    seeds = sorted({c.num_seeds for c in curves})
    styles = ["-", "--", ":", "-."]  # curves that coincide stay visible
    for i, (curve, color) in enumerate(zip(curves, colors, strict=True)):
        # Runs with different numbers of seeds say how many in the legend.
        label = curve.label if len(seeds) == 1 else f"{curve.label}, {curve.num_seeds} seeds"
        ax.plot(
            curve.env_steps,
            curve.mean,
            color=color,
            linestyle=styles[i % len(styles)],
            linewidth=2.2 - 0.4 * (i % len(styles)),
            label=label,
        )
        if curve.num_seeds > 1:
            ax.fill_between(
                curve.env_steps, curve.lower, curve.upper, color=color, alpha=0.2, linewidth=0
            )
    seed_text = f"{seeds[0]}" if len(seeds) == 1 else f"{seeds[0]}-{seeds[-1]}"
    ax.set_xlabel("environment steps (per seed)")
    ax.set_ylabel(metric.replace("_", " "))
    ax.set_title(f"{metric}: mean and 95% t-interval over {seed_text} seeds")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        fig.savefig(out, format="png", dpi=110)
    return out
