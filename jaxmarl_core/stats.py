"""Benchmark-suite statistics: the MARL evaluation protocol on top of rliable.

This module implements the aggregate statistics recommended by Agarwal et al.
(2021), "Deep RL at the edge of the statistical precipice" (the ``rliable``
library), as adopted for cooperative MARL by Gorsane et al. (2022), "Towards a
Standardised Performance Evaluation Protocol for Cooperative MARL" (the protocol
behind InstaDeep's ``marl-eval``). All bootstrap intervals and aggregates come
from ``rliable``; this module only arranges the data, fixes the random state and
draws the figures.

Data model:

* ``scores: dict[str, float[R, T]]`` maps an algorithm name (e.g. ``"ippo"`` or
  ``"jaxmarl:ippo"``) to its final scores, R runs (seeds) by T tasks. Every
  algorithm uses the same task order; R may differ between algorithms.
* ``curves: dict[str, float[R, T, K]]`` adds K evaluation points.

Aggregates, profiles and sample-efficiency curves expect *normalised* scores
(see :func:`normalise`); probability of improvement is invariant to per-task
monotone rescaling and takes raw or normalised scores alike.

Reproducibility: rliable 1.2's ``StratifiedBootstrap.update_indices`` draws its
resampling indices from numpy's *global* random generator (``np.random.choice``),
ignoring the ``random_state`` argument it forwards to ``arch`` (which, besides,
deprecates it), and ``create_performance_profile`` accepts no random state at
all. Every bootstrap here therefore runs inside :func:`_seeded_global_rng`,
which seeds the global generator and restores its previous state afterwards.
That is not thread-safe: do not run these functions concurrently with other
users of ``np.random``'s global state.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import scipy.stats
from rliable import library as rly
from rliable import metrics

__all__ = [
    "AGGREGATE_NAMES",
    "Band",
    "Interval",
    "RunRecord",
    "aggregates",
    "marl_eval_json",
    "normalise",
    "performance_profiles",
    "probability_of_improvement",
    "sample_efficiency",
    "task_interval",
    "write_figures",
]

CONFIDENCE = 0.95
AGGREGATE_NAMES = ("iqm", "mean", "median", "optimality_gap")


class Interval(NamedTuple):
    """A point estimate with its 95% bootstrap confidence interval (floats)."""

    point: float
    low: float
    high: float


class Band(NamedTuple):
    """Point estimates and 95% bootstrap intervals along an axis.

    Attributes:
        point, low, high: float64[N] each (N thresholds or evaluation points).
    """

    point: np.ndarray
    low: np.ndarray
    high: np.ndarray


@contextlib.contextmanager
def _seeded_global_rng(seed: int) -> Iterator[None]:
    """Seed numpy's global generator for the duration of the block, then restore it."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


def _check_scores(scores: Mapping[str, np.ndarray], ndim: int) -> dict[str, np.ndarray]:
    """float64 copies of ``scores``, checked to be ``ndim``-D with a common shape[1:]."""
    if not scores:
        raise ValueError("scores is empty: give at least one algorithm")
    out: dict[str, np.ndarray] = {}
    trailing: tuple[int, ...] | None = None
    for name, value in scores.items():
        array = np.asarray(value, dtype=np.float64)
        if array.ndim != ndim:
            raise ValueError(f"{name!r}: expected a {ndim}-D array, got shape {array.shape}")
        if array.shape[0] < 1 or 0 in array.shape:
            raise ValueError(f"{name!r}: empty array of shape {array.shape}")
        if not np.all(np.isfinite(array)):
            raise ValueError(f"{name!r}: scores must be finite")
        if trailing is None:
            trailing = array.shape[1:]
        elif array.shape[1:] != trailing:
            raise ValueError(
                f"{name!r}: shape {array.shape} does not match the others' "
                f"(runs, {', '.join(map(str, trailing))})"
            )
        out[name] = array
    return out


def task_interval(values: np.ndarray, reps: int = 2000, seed: int = 0) -> Interval:
    """Mean over the runs of one task, with a 95% percentile-bootstrap interval.

    Args:
        values: float[R] (or float[R, 1]), one task's score for each of R runs.
        reps: bootstrap resamples.
        seed: seed of the resampling.

    Returns:
        ``Interval(mean, low, high)``. With one run there is nothing to resample:
        ``low == high == point``.
    """
    column = np.asarray(values, dtype=np.float64).reshape(-1, 1)  # [R, 1]
    if column.shape[0] == 0:
        raise ValueError("task_interval needs at least one run")
    if column.shape[0] == 1:
        point = float(column[0, 0])
        return Interval(point, point, point)
    with _seeded_global_rng(seed):
        points, intervals = rly.get_interval_estimates(
            {"task": column},
            lambda x: np.array([metrics.aggregate_mean(x)]),
            reps=reps,
            confidence_interval_size=CONFIDENCE,
        )
    return Interval(
        float(points["task"][0]), float(intervals["task"][0, 0]), float(intervals["task"][1, 0])
    )


def _task_bounds(arrays: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Per-task minimum and maximum over every array's runs (and trailing axes).

    Args:
        arrays: float[R_i, T, ...] each.

    Returns:
        (low, high), float64[T] each.
    """
    lows = [a.reshape(a.shape[0], a.shape[1], -1).min(axis=(0, 2)) for a in arrays]
    highs = [a.reshape(a.shape[0], a.shape[1], -1).max(axis=(0, 2)) for a in arrays]
    return np.min(lows, axis=0), np.max(highs, axis=0)


def _apply_bounds(
    scores: Mapping[str, np.ndarray], low: np.ndarray, high: np.ndarray
) -> dict[str, np.ndarray]:
    """``(x - low[t]) / (high[t] - low[t])`` on task axis 1; 0 where ``high == low``."""
    span = high - low
    degenerate = span <= 0
    safe = np.where(degenerate, 1.0, span)
    out = {}
    for name, array in scores.items():
        shape = (1, -1) + (1,) * (array.ndim - 2)
        normed = (array - low.reshape(shape)) / safe.reshape(shape)
        out[name] = np.where(degenerate.reshape(shape), 0.0, normed)
    return out


def normalise(
    scores: Mapping[str, np.ndarray],
    bounds: Mapping[int, tuple[float, float]] | None = None,
) -> dict[str, np.ndarray]:
    """Min-max normalise each task over all algorithms' runs (marl-eval's convention).

    For each task t, the minimum and the maximum of ``scores[a][:, t]`` over every
    algorithm a and run map to 0 and 1: ``(x - min_t) / (max_t - min_t)``.
    A task where ``max_t == min_t`` (every algorithm and run scored the same)
    maps to 0 everywhere: it separates no algorithm, and 0 is also what
    marl-eval's ``(x - min) / (max - min + 1e-6)`` gives there. (marl-eval adds
    that 1e-6 to every denominator, so its maximum maps to just under 1; here it
    maps to exactly 1.)

    marl-eval takes each task's minimum and maximum over every logged per-episode
    value of the whole training run, not only over final scores; to reproduce
    that, or to normalise by known reference scores (e.g. random and expert
    returns), pass ``bounds``.

    Args:
        scores: algorithm -> float[R, T] (or float[R, T, ...], e.g. curves
            float[R, T, K]; the minimum and maximum then also run over the
            trailing axes).
        bounds: optional task index -> (low, high), used instead of the data's
            minimum and maximum for those tasks; needs ``high > low``. Values
            outside the bounds map outside [0, 1].

    Returns:
        algorithm -> float64 array of the input's shape.
    """
    arrays = {name: np.asarray(v, dtype=np.float64) for name, v in scores.items()}
    if not arrays:
        raise ValueError("scores is empty: give at least one algorithm")
    shapes = {a.shape[1:] for a in arrays.values()}
    if any(a.ndim < 2 for a in arrays.values()) or len(shapes) != 1:
        raise ValueError(f"expected arrays [runs, tasks, ...] sharing shape[1:], got {shapes}")
    low, high = _task_bounds(list(arrays.values()))
    num_tasks = low.shape[0]
    for task, (lo, hi) in (bounds or {}).items():
        if not 0 <= task < num_tasks:
            raise ValueError(f"bounds names task {task}, but there are {num_tasks} tasks")
        if not hi > lo:
            raise ValueError(f"bounds for task {task}: need high > low, got ({lo}, {hi})")
        low[task], high[task] = lo, hi
    return _apply_bounds(arrays, low, high)


class Normalised(NamedTuple):
    """Scores and curves normalised on one scale, and its per-task bounds."""

    scores: dict[str, np.ndarray]  # algorithm -> float64[R, T]
    curves: dict[str, np.ndarray]  # algorithm -> float64[R, T, K]; {} without curves
    low: np.ndarray  # float64[T]
    high: np.ndarray  # float64[T]


def normalise_together(
    scores: Mapping[str, np.ndarray], curves: Mapping[str, np.ndarray] | None = None
) -> Normalised:
    """Scores float[R, T] and curves float[R, T, K] min-max normalised with one
    set of per-task bounds, taken over both (marl-eval's convention: over
    everything logged), so the statistics and the figures share one scale."""
    raw = _check_scores(scores, 2)
    raw_curves = _check_scores(curves, 3) if curves else {}
    if raw_curves and next(iter(raw_curves.values())).shape[1] != next(iter(raw.values())).shape[1]:
        raise ValueError("curves and scores must have the same number of tasks")
    low, high = _task_bounds(list(raw.values()) + list(raw_curves.values()))
    return Normalised(
        _apply_bounds(raw, low, high), _apply_bounds(raw_curves, low, high), low, high
    )


def _all_aggregates(x: np.ndarray) -> np.ndarray:
    """float[4]: IQM, mean, median, optimality gap (threshold 1) of float[R, T] scores."""
    return np.array(
        [
            metrics.aggregate_iqm(x),
            metrics.aggregate_mean(x),
            metrics.aggregate_median(x),
            metrics.aggregate_optimality_gap(x, 1.0),
        ]
    )


def aggregates(
    normalised: Mapping[str, np.ndarray], reps: int = 2000, seed: int = 0
) -> dict[str, dict[str, Interval]]:
    """IQM, mean, median and optimality gap with stratified-bootstrap 95% intervals.

    As in rliable: the mean and the median are over the T per-task means; the IQM
    is the 25%-trimmed mean of all R*T scores; the optimality gap is
    ``mean(max(1 - x, 0))`` over all R*T scores (threshold 1, lower is better).
    The bootstrap resamples runs within each task (rliable's stratified
    bootstrap); the four statistics share the same resamples.

    Args:
        normalised: algorithm -> float[R, T] normalised scores.
        reps: bootstrap resamples.
        seed: seed of the resampling.

    Returns:
        algorithm -> {"iqm", "mean", "median", "optimality_gap"} -> Interval.
    """
    data = _check_scores(normalised, 2)
    with _seeded_global_rng(seed):
        points, intervals = rly.get_interval_estimates(
            data, _all_aggregates, reps=reps, confidence_interval_size=CONFIDENCE
        )
    return {
        name: {
            stat: Interval(
                float(points[name][i]), float(intervals[name][0, i]), float(intervals[name][1, i])
            )
            for i, stat in enumerate(AGGREGATE_NAMES)
        }
        for name in data
    }


def improvement_probability(scores_x: np.ndarray, scores_y: np.ndarray) -> float:
    """rliable's ``metrics.probability_of_improvement``, vectorised: per task the
    share of (run of X, run of Y) pairs in which X scores more, ties counting one
    half (the Mann-Whitney U statistic over ``R_x * R_y``, which rliable takes
    from scipy one task at a time, 21 s a pair at 2000 resamples on this
    project's CPU), averaged over tasks. float[R_x, T], float[R_y, T] -> float."""
    x, y = scores_x[:, None, :], scores_y[None, :, :]
    return float(np.mean((x > y).mean(axis=(0, 1)) + 0.5 * (x == y).mean(axis=(0, 1))))


def probability_of_improvement(
    scores: Mapping[str, np.ndarray], reps: int = 2000, seed: int = 0
) -> dict[tuple[str, str], Interval]:
    """P(X > Y) for every ordered pair of algorithms, with 95% bootstrap intervals.

    rliable's definition: for each task, the Mann-Whitney U statistic of X's runs
    against Y's, divided by ``R_x * R_y`` (the probability that a random run of X
    beats a random run of Y, ties counting one half), averaged over tasks. The
    interval comes from resampling each algorithm's runs independently within
    each task. A pair's reverse is one minus it at the point estimate.

    Args:
        scores: algorithm -> float[R, T] scores (raw or normalised).
        reps: bootstrap resamples.
        seed: seed of the resampling.

    Returns:
        (x, y) -> Interval of P(X > Y), for every x != y, in the order of ``scores``.
    """
    data = _check_scores(scores, 2)
    pairs = {(x, y): [data[x], data[y]] for x in data for y in data if x != y}
    if not pairs:
        return {}
    with _seeded_global_rng(seed):
        points, intervals = rly.get_interval_estimates(
            pairs,
            improvement_probability,
            reps=reps,
            confidence_interval_size=CONFIDENCE,
        )
    return {
        pair: Interval(
            float(np.squeeze(points[pair])),
            float(np.squeeze(intervals[pair][0])),
            float(np.squeeze(intervals[pair][1])),
        )
        for pair in pairs
    }


def _band(point: np.ndarray, interval: np.ndarray) -> Band:
    """rliable's point estimates [N] and interval [2, N] as a Band."""
    return Band(
        np.asarray(point, np.float64),
        np.asarray(interval[0], np.float64),
        np.asarray(interval[1], np.float64),
    )


def performance_profiles(
    normalised: Mapping[str, np.ndarray], taus: np.ndarray, reps: int = 2000, seed: int = 0
) -> dict[str, Band]:
    """Score distributions: the fraction of runs (over all tasks) scoring above each tau.

    Args:
        normalised: algorithm -> float[R, T] normalised scores.
        taus: float[N] thresholds.
        reps: bootstrap resamples.
        seed: seed of the resampling.

    Returns:
        algorithm -> Band(point, low, high), float64[N] each: the fraction of the
        R*T scores strictly greater than each tau, with 95% intervals.
    """
    data = _check_scores(normalised, 2)
    tau_list = np.asarray(taus, dtype=np.float64).reshape(-1)

    def score_distribution(scores: np.ndarray, taus: np.ndarray) -> np.ndarray:  # [N]
        # rliable's score distribution (the fraction of scores above each tau)
        # at every tau in one comparison instead of one per tau: the same values.
        return np.mean(scores.reshape(-1, 1) > taus.reshape(1, -1), axis=0)

    with _seeded_global_rng(seed):
        profiles, cis = rly.create_performance_profile(
            data,
            tau_list,
            custom_profile_func=score_distribution,
            reps=reps,
            confidence_interval_size=CONFIDENCE,
        )
    return {name: _band(profiles[name], cis[name]) for name in data}


def sample_efficiency(
    curves_normalised: Mapping[str, np.ndarray], reps: int = 2000, seed: int = 0
) -> dict[str, Band]:
    """IQM at each evaluation point, with stratified-bootstrap 95% intervals.

    As in rliable's sample-efficiency curves, the array is resampled as a whole
    (runs resampled within each task and evaluation point) and the IQM taken over
    the R*T scores at each point.

    Args:
        curves_normalised: algorithm -> float[R, T, K] normalised scores at K
            evaluation points.
        reps: bootstrap resamples.
        seed: seed of the resampling.

    Returns:
        algorithm -> Band(point, low, high), float64[K] each.
    """
    data = _check_scores(curves_normalised, 3)

    def iqm_per_point(x: np.ndarray) -> np.ndarray:  # [R, T, K] -> [K]
        # rliable's aggregate_iqm (a 25% trimmed mean over all R*T scores) at
        # every point in one call: 13x faster than a call per point, equal to
        # float rounding (1e-16), and the table's statistics' largest cost.
        return scipy.stats.trim_mean(x.reshape(-1, x.shape[-1]), 0.25, axis=0)

    with _seeded_global_rng(seed):
        points, intervals = rly.get_interval_estimates(
            data, iqm_per_point, reps=reps, confidence_interval_size=CONFIDENCE
        )
    return {name: _band(points[name], intervals[name]) for name in data}


# --------------------------------------------------------------------------- figures


def _interval_dict(interval: Interval) -> dict[str, float]:
    return {"point": interval.point, "low": interval.low, "high": interval.high}


def _band_dict(band: Band) -> dict[str, list[float]]:
    return {"point": band.point.tolist(), "low": band.low.tolist(), "high": band.high.tolist()}


def _new_figure(width: float, height: float, ncols: int = 1) -> tuple[Any, list[Any]]:
    """A matplotlib Figure on an Agg canvas (no pyplot state) and its axes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    axes = [fig.add_subplot(1, ncols, i + 1) for i in range(ncols)]
    return fig, axes


def _save(fig: Any, data: Any, directory: Path, stem: str) -> list[Path]:
    """Write ``stem.png`` and ``stem.json`` (the data behind the figure)."""
    png, js = directory / f"{stem}.png", directory / f"{stem}.json"
    fig.savefig(png, format="png", dpi=110)
    js.write_text(json.dumps(data, indent=2) + "\n")
    return [png, js]


def write_figures(
    directory: Path,
    scores: Mapping[str, np.ndarray],
    curves: Mapping[str, np.ndarray] | None = None,
    steps: np.ndarray | None = None,
    prefix: str = "",
    *,
    reps: int = 2000,
    seed: int = 0,
) -> list[Path]:
    """Draw the protocol's figures as PNGs, each with a JSON of the data behind it.

    Scores (and curves) are min-max normalised per task first (:func:`normalise`),
    with each task's bounds taken over the scores and the curves together, so the
    two share one scale. Files, all named ``<prefix><stem>``:

    * ``aggregates``: IQM, mean, median, optimality gap per algorithm, with intervals;
    * ``probability_of_improvement``: P(X > Y) for every ordered pair (only with
      two or more algorithms);
    * ``performance_profiles``: fraction of runs above tau, tau in [0, 1];
    * ``sample_efficiency``: IQM against ``steps`` (only when ``curves`` are given).

    Args:
        directory: output folder (created if missing).
        scores: algorithm -> float[R, T] raw scores.
        curves: optional algorithm -> float[R, T, K] raw scores at K evaluation points.
        steps: int[K], the environment steps of the evaluation points (default 0..K-1).
        prefix: prepended to every file name.
        reps: bootstrap resamples for every interval.
        seed: seed of the resampling.

    Returns:
        The paths written, PNG then JSON for each figure.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    together = normalise_together(scores, curves)
    normed, low, high = together.scores, together.low, together.high
    names = list(normed)
    colours = {name: f"C{i % 10}" for i, name in enumerate(names)}
    written: list[Path] = []
    bounds_json = {"task_low": low.tolist(), "task_high": high.tolist()}

    # Aggregates: one panel per statistic, one interval bar per algorithm.
    aggs = aggregates(normed, reps=reps, seed=seed)
    fig, axes = _new_figure(
        3.0 * len(AGGREGATE_NAMES), 0.6 * len(names) + 1.5, len(AGGREGATE_NAMES)
    )
    for ax, stat in zip(axes, AGGREGATE_NAMES, strict=True):
        for row, name in enumerate(names):
            iv = aggs[name][stat]
            ax.barh(row, iv.high - iv.low, left=iv.low, height=0.6, color=colours[name], alpha=0.5)
            ax.plot([iv.point, iv.point], [row - 0.3, row + 0.3], color="black", lw=1.5)
        ax.set_yticks(range(len(names)), names if stat == AGGREGATE_NAMES[0] else [])
        ax.set_title(stat.replace("_", " ") + (" (lower is better)" if stat[0] == "o" else ""))
        ax.set_xlabel("normalised score")
        ax.grid(axis="x", alpha=0.3)
        ax.invert_yaxis()  # first algorithm on top
    data = {"aggregates": {n: {s: _interval_dict(i) for s, i in aggs[n].items()} for n in names}}
    written += _save(fig, data | bounds_json, directory, f"{prefix}aggregates")

    # Probability of improvement: one interval bar per ordered pair.
    if len(names) > 1:
        poi = probability_of_improvement(normed, reps=reps, seed=seed)
        pairs = list(poi)
        fig, (ax,) = _new_figure(6.0, 0.4 * len(pairs) + 1.2)
        for row, (x, y) in enumerate(pairs):
            iv = poi[(x, y)]
            ax.barh(row, iv.high - iv.low, left=iv.low, height=0.6, color=colours[x], alpha=0.5)
            ax.plot([iv.point, iv.point], [row - 0.3, row + 0.3], color="black", lw=1.5)
        ax.set_yticks(range(len(pairs)), [f"P({x} > {y})" for x, y in pairs])
        ax.axvline(0.5, color="grey", ls="--", lw=1)
        ax.set_xlim(0.0, 1.0)
        ax.set_xlabel("probability of improvement")
        ax.invert_yaxis()
        data = {
            "probability_of_improvement": [
                {"x": x, "y": y} | _interval_dict(poi[(x, y)]) for x, y in pairs
            ]
        }
        written += _save(fig, data, directory, f"{prefix}probability_of_improvement")

    # Performance profiles: fraction of runs above tau, with a shaded interval.
    taus = np.linspace(0.0, 1.0, 101)
    profiles = performance_profiles(normed, taus, reps=reps, seed=seed)
    fig, (ax,) = _new_figure(6.0, 4.0)
    for name in names:
        band = profiles[name]
        ax.plot(taus, band.point, color=colours[name], label=name)
        ax.fill_between(taus, band.low, band.high, color=colours[name], alpha=0.2)
    ax.set_xlabel(r"normalised score $\tau$")
    ax.set_ylabel(r"fraction of runs with score $> \tau$")
    ax.legend()
    ax.grid(alpha=0.3)
    data = {"taus": taus.tolist(), "profiles": {n: _band_dict(profiles[n]) for n in names}}
    written += _save(fig, data | bounds_json, directory, f"{prefix}performance_profiles")

    # Sample efficiency: IQM against environment steps.
    if together.curves:
        normed_curves = together.curves
        num_points = next(iter(normed_curves.values())).shape[2]
        x = np.arange(num_points) if steps is None else np.asarray(steps).reshape(-1)
        if x.shape[0] != num_points:
            raise ValueError(f"steps has {x.shape[0]} entries, the curves {num_points} points")
        efficiency = sample_efficiency(normed_curves, reps=reps, seed=seed)
        fig, (ax,) = _new_figure(6.0, 4.0)
        for name in efficiency:
            band = efficiency[name]
            ax.plot(x, band.point, color=colours.get(name, None), label=name, marker=".")
            ax.fill_between(x, band.low, band.high, color=colours.get(name, None), alpha=0.2)
        ax.set_xlabel("environment steps" if steps is not None else "evaluation")
        ax.set_ylabel("IQM normalised score")
        ax.legend()
        ax.grid(alpha=0.3)
        data = {"steps": x.tolist(), "iqm": {n: _band_dict(b) for n, b in efficiency.items()}}
        written += _save(fig, data | bounds_json, directory, f"{prefix}sample_efficiency")
    return written


# --------------------------------------------------------------------------- marl-eval JSON


class RunRecord(NamedTuple):
    """One run (seed) of one algorithm on one task, for :func:`marl_eval_json`.

    Attributes:
        env: environment name (marl-eval's first level, e.g. "smax").
        task: task name within the environment (e.g. "3m").
        algo: algorithm name; marl-eval forbids commas in it.
        seed: the run's seed; its key is ``f"seed_{seed}"``.
        steps: int[K], environment steps at the K evaluations.
        returns: float[K, E], the metric at each evaluation, one value per
            evaluation episode (E may be 1, e.g. for a win rate).
        absolute: float[E'] or None, the absolute metric (Gorsane et al.: the best
            policy re-evaluated, conventionally over 10x the episodes). None writes
            the final evaluation's values (marl-eval cannot read a run without it).
        elapsed: float[K] or None, seconds at each evaluation (marl-eval's
            JsonLogger counts from the first evaluation, so its first is 0).
            None leaves ``elapsed_time`` out.
    """

    env: str
    task: str
    algo: str
    seed: int
    steps: np.ndarray
    returns: np.ndarray
    absolute: np.ndarray | None = None
    elapsed: np.ndarray | None = None


def _float_list(values: np.ndarray) -> list[float]:
    array = np.asarray(values, dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(array)):
        raise ValueError("marl-eval values must be finite")
    return [float(v) for v in array]


def _run_entry(record: RunRecord, metric: str) -> dict[str, Any]:
    """The ``{"step_k": {...}, ..., "absolute_metrics": {...}}`` object of one run."""
    steps = np.asarray(record.steps).reshape(-1)
    returns = np.asarray(record.returns, dtype=np.float64)
    where = f"{record.env}/{record.task}/{record.algo}/seed {record.seed}"
    if returns.ndim != 2 or returns.shape[0] != steps.shape[0] or returns.shape[0] == 0:
        raise ValueError(f"{where}: returns must be [K, E] with K = len(steps) >= 1")
    if returns.shape[1] == 0:
        raise ValueError(f"{where}: returns has no episodes")
    if not np.all(np.equal(np.mod(steps, 1), 0)):
        raise ValueError(f"{where}: steps must be integers")
    elapsed = None
    if record.elapsed is not None:
        elapsed = np.asarray(record.elapsed, dtype=np.float64).reshape(-1)
        if elapsed.shape != steps.shape:
            raise ValueError(f"{where}: elapsed must have one entry per step")
    run: dict[str, Any] = {}
    for k in range(steps.shape[0]):
        entry: dict[str, Any] = {"step_count": int(steps[k])}
        if elapsed is not None:
            entry["elapsed_time"] = float(elapsed[k])
        entry[metric] = _float_list(returns[k])
        run[f"step_{k}"] = entry
    absolute = returns[-1] if record.absolute is None else record.absolute
    absolute_list = _float_list(absolute)
    if not absolute_list:
        raise ValueError(f"{where}: absolute has no values")
    run["absolute_metrics"] = {metric: absolute_list}
    return run


def marl_eval_json(records: Sequence[RunRecord], metric: str = "return") -> dict[str, Any]:
    """Runs as marl-eval's raw-experiment JSON (``json.dump`` the result to a file).

    The schema, as checked against instadeepai/marl-eval (snapshot 5675ad6, Nov
    2024): ``README.md`` ("Data Structure for Raw Experiment data") and the writer
    ``marl_eval/json_tools/json_logger.py`` (``JsonLogger``)::

        {env: {task: {algo: {"seed_<seed>": {
            "step_<k>": {"step_count": int, "elapsed_time": float, metric: [float, ...]},
            ...,
            "absolute_metrics": {metric: [float, ...]},
        }}}}}

    * run keys are ``f"seed_{seed}"`` and step keys ``f"step_{k}"`` with k counting
      evaluations from 0, as ``JsonLogger`` writes them (the README allows any
      run name, e.g. a seed);
    * each step holds ``step_count`` (environment steps, int), ``elapsed_time``
      (``JsonLogger`` always writes it; here only when the record has it) and the
      metric as a list: one value per evaluation episode, or a single value;
    * ``absolute_metrics`` holds the same metric; marl-eval's reader
      (``marl_eval/utils/data_processing_utils.py``) finds it by the word
      "absolute", requires it, and also normalises it, so it is always written
      (from the final evaluation when the record has none). Steps are written in
      order and ``absolute_metrics`` last, since the reader takes dict order as
      time order.

    The reader lower-cases every key and rejects algorithm names containing
    commas; both are checked here so that the file reads back as written.

    Args:
        records: the runs; (env, task, algo, seed) must be unique.
        metric: the metric's name (marl-eval's usual one is "return").

    Returns:
        The nested dict, of str, int, float and lists only.
    """
    if not metric or "step_count" in metric.lower() or metric.lower() == "elapsed_time":
        raise ValueError(f"metric name {metric!r} clashes with marl-eval's step fields")
    out: dict[str, Any] = {}
    seen: dict[tuple[str, ...], tuple[str, ...]] = {}
    for record in records:
        if "," in record.algo:
            raise ValueError(f"marl-eval forbids commas in algorithm names: {record.algo!r}")
        seed_key = f"seed_{int(record.seed)}"
        path = (record.env, record.task, record.algo, seed_key)
        for depth in range(1, 5):
            lowered = tuple(p.lower() for p in path[:depth])
            if seen.setdefault(lowered, path[:depth]) != path[:depth]:
                raise ValueError(
                    f"{'/'.join(path[:depth])} and {'/'.join(seen[lowered])} are the same "
                    "once marl-eval lower-cases them"
                )
        runs = (
            out.setdefault(record.env, {}).setdefault(record.task, {}).setdefault(record.algo, {})
        )
        if seed_key in runs:
            raise ValueError(f"two records for {'/'.join(path)}")
        runs[seed_key] = _run_entry(record, metric)
    return out
