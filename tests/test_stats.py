"""Benchmark statistics (jaxmarl_core.stats): hand-computed aggregates, intervals, the
marl-eval JSON schema and the figure files.

Expected values are worked out by hand in the comments; the bootstraps use few
resamples to stay fast.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from jaxmarl_core.stats import (
    Interval,
    RunRecord,
    aggregates,
    improvement_probability,
    marl_eval_json,
    normalise,
    performance_profiles,
    probability_of_improvement,
    sample_efficiency,
    task_interval,
    write_figures,
)

REPS = 300

# 4 runs x 3 tasks, skewed so that IQM, mean, median and optimality gap all differ.
A = np.array(
    [
        [0.0, 0.4, 0.9],
        [0.1, 0.5, 1.0],
        [0.2, 0.5, 1.2],
        [0.3, 0.6, 2.0],
    ]
)
# IQM: the 12 scores sorted are 0.0 0.1 0.2 | 0.3 0.4 0.5 0.5 0.6 0.9 | 1.0 1.2 2.0;
# the 25% trimmed mean drops 3 at each end: (0.3+0.4+0.5+0.5+0.6+0.9)/6 = 3.2/6.
A_IQM = 3.2 / 6
# Task means 0.15, 0.5, 1.275: mean = 1.925/3, median = 0.5.
A_MEAN = 1.925 / 3
A_MEDIAN = 0.5
# Optimality gap, threshold 1: mean of max(1 - x, 0) =
# (1.0+0.6+0.1 + 0.9+0.5+0 + 0.8+0.5+0 + 0.7+0.4+0)/12 = 5.5/12.
A_GAP = 5.5 / 12


def test_aggregates_point_estimates_match_hand_values():
    constant = np.full((4, 3), 0.25)
    out = aggregates({"a": A, "b": constant}, reps=REPS, seed=0)
    assert set(out) == {"a", "b"}
    assert set(out["a"]) == {"iqm", "mean", "median", "optimality_gap"}
    assert out["a"]["iqm"].point == pytest.approx(A_IQM)
    assert out["a"]["mean"].point == pytest.approx(A_MEAN)
    assert out["a"]["median"].point == pytest.approx(A_MEDIAN)
    assert out["a"]["optimality_gap"].point == pytest.approx(A_GAP)
    for stat, interval in out["a"].items():
        assert interval.low <= interval.point <= interval.high, stat
        assert interval.low < interval.high, stat  # the runs differ: a real interval
    # Constant scores: every resample is the same, zero-width intervals; gap = 1 - 0.25.
    assert out["b"]["iqm"] == Interval(0.25, 0.25, 0.25)
    assert out["b"]["optimality_gap"] == pytest.approx(Interval(0.75, 0.75, 0.75))


def test_aggregates_are_seeded_and_leave_the_global_rng_alone():
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    first = aggregates({"a": A}, reps=REPS, seed=7)
    assert np.array_equal(np.random.get_state()[1], before)
    assert aggregates({"a": A}, reps=REPS, seed=7) == first
    assert aggregates({"a": A}, reps=REPS, seed=8) != first


def test_bootstrap_interval_contains_the_true_mean():
    rng = np.random.default_rng(0)
    samples = rng.normal(loc=5.0, scale=1.0, size=40)
    interval = task_interval(samples, reps=REPS, seed=0)
    assert interval.point == pytest.approx(samples.mean())
    assert interval.low <= interval.point <= interval.high
    assert interval.low < 5.0 < interval.high
    # About 2 * 1.96 / sqrt(40) = 0.62 wide; certainly not degenerate or huge.
    assert 0.3 < interval.high - interval.low < 1.0

    # The same through the stratified aggregate: 30 runs x 4 tasks, all of mean 0.7.
    scores = rng.normal(loc=0.7, scale=0.2, size=(30, 4))
    mean = aggregates({"x": scores}, reps=REPS, seed=0)["x"]["mean"]
    assert mean.low <= mean.point <= mean.high
    assert mean.low < 0.7 < mean.high


def test_task_interval_is_zero_width_on_constant_data_and_one_run():
    assert task_interval(np.full(5, 3.5), reps=REPS) == Interval(3.5, 3.5, 3.5)
    assert task_interval(np.array([2.0]), reps=REPS) == Interval(2.0, 2.0, 2.0)
    spread = task_interval(np.array([1.0, 2.0, 3.0, 4.0]), reps=REPS)
    assert spread.point == pytest.approx(2.5)
    assert spread.low < spread.high


def test_probability_of_improvement_of_dominated_scores():
    low = A[:, :2]
    high = low + 10.0  # every run of "high" beats every run of "low" on every task
    same = low.copy()
    out = probability_of_improvement({"high": high, "low": low, "same": same}, reps=50)
    assert set(out) == {
        ("high", "low"),
        ("low", "high"),
        ("high", "same"),
        ("same", "high"),
        ("low", "same"),
        ("same", "low"),
    }
    assert out[("high", "low")] == Interval(1.0, 1.0, 1.0)
    assert out[("low", "high")] == Interval(0.0, 0.0, 0.0)
    # Identical scores: rliable counts P = 0.5 on each task.
    assert out[("low", "same")].point == pytest.approx(0.5)


def test_probability_of_improvement_partial_overlap():
    # One task; x = [1, 3], y = [2, 0]: of the 4 pairs x beats y in (1,0), (3,2), (3,0): 3/4.
    out = probability_of_improvement(
        {"x": np.array([[1.0], [3.0]]), "y": np.array([[2.0], [0.0]])}, reps=100
    )
    assert out[("x", "y")].point == pytest.approx(0.75)
    assert out[("y", "x")].point == pytest.approx(0.25)


def test_normalise_maps_each_task_min_and_max_over_algorithms():
    x = np.array([[0.0, 10.0, 5.0], [2.0, 30.0, 5.0]])
    y = np.array([[4.0, 20.0, 5.0], [1.0, 50.0, 5.0]])
    out = normalise({"x": x, "y": y})
    both = np.concatenate([out["x"], out["y"]])
    # Task 0: min 0 (x), max 4 (y); task 1: min 10 (x), max 50 (y); task 2 constant -> 0.
    np.testing.assert_allclose(both.min(axis=0), [0.0, 0.0, 0.0])
    np.testing.assert_allclose(both.max(axis=0), [1.0, 1.0, 0.0])
    np.testing.assert_allclose(out["x"], [[0.0, 0.0, 0.0], [0.5, 0.5, 0.0]])
    np.testing.assert_allclose(out["y"], [[1.0, 0.25, 0.0], [0.25, 1.0, 0.0]])
    assert np.array_equal(x[0], [0.0, 10.0, 5.0])  # inputs untouched

    # Explicit bounds for task 1 (e.g. random and expert returns); task 0 stays data-driven.
    out = normalise({"x": x, "y": y}, bounds={1: (0.0, 100.0)})
    np.testing.assert_allclose(out["y"][:, 1], [0.2, 0.5])
    np.testing.assert_allclose(out["y"][:, 0], [1.0, 0.25])
    with pytest.raises(ValueError):
        normalise({"x": x}, bounds={1: (3.0, 3.0)})
    with pytest.raises(ValueError):
        normalise({"x": x}, bounds={3: (0.0, 1.0)})

    # Curves [R, T, K]: bounds over runs and evaluation points.
    curves = np.stack([x, 2 * x], axis=-1)  # task 0 spans 0..4, task 1 10..60
    normed = normalise({"c": curves})["c"]
    assert normed.shape == curves.shape
    np.testing.assert_allclose(normed[1, :2, 1], [1.0, 1.0])
    np.testing.assert_allclose(normed[0, 1, 0], 0.0)


def test_performance_profile_is_the_fraction_of_runs_above_tau():
    taus = np.array([0.0, 0.45, 1.0, 2.0])
    band = performance_profiles({"a": A}, taus, reps=REPS)["a"]
    # Scores > 0: 11 of 12; > 0.45: 0.5 0.5 0.6 0.9 1.0 1.2 2.0 = 7; > 1: 1.2, 2.0 = 2; > 2: 0.
    np.testing.assert_allclose(band.point, [11 / 12, 7 / 12, 2 / 12, 0.0])
    assert np.all(band.low <= band.point + 1e-12) and np.all(band.point <= band.high + 1e-12)
    assert band.high[-1] == 0.0


def test_performance_profiles_equal_rliables_own_bit_for_bit():
    """Our one-comparison score distribution inside rliable's bootstrap gives
    rliable's default profile and intervals exactly, at the same random state."""
    from rliable import library as rly

    from jaxmarl_core.stats import _seeded_global_rng

    rng = np.random.default_rng(1)
    scores = {"x": rng.uniform(size=(5, 3)), "y": rng.uniform(size=(5, 3))}
    taus = np.linspace(0.0, 1.0, 21)
    with _seeded_global_rng(0):
        points, intervals = rly.create_performance_profile(scores, taus, reps=REPS)
    ours = performance_profiles(scores, taus, reps=REPS, seed=0)
    for name in scores:
        np.testing.assert_array_equal(ours[name].point, points[name])
        np.testing.assert_array_equal(ours[name].low, intervals[name][0])
        np.testing.assert_array_equal(ours[name].high, intervals[name][1])


def test_sample_efficiency_is_the_iqm_at_each_point():
    factors = np.array([0.5, 1.0, 2.0])
    curves = A[..., None] * factors  # [4, 3, 3]; the IQM scales with the factor
    band = sample_efficiency({"a": curves}, reps=REPS)["a"]
    np.testing.assert_allclose(band.point, A_IQM * factors)
    assert np.all(band.low <= band.point) and np.all(band.point <= band.high)
    assert np.all(band.low < band.high)


def test_marl_eval_json_schema_and_round_trip():
    records = [
        RunRecord(
            env="SMAX",
            task="3m",
            algo="jaxmarl:ippo",
            seed=0,
            steps=np.array([1000, 2000]),
            returns=np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.5]]),
            absolute=np.array([7.0, 8.0]),
            elapsed=np.array([0.0, 12.5]),
        ),
        RunRecord(
            env="SMAX",
            task="3m",
            algo="jaxmarl:ippo",
            seed=1,
            steps=np.array([1000, 2000], dtype=np.int32),
            returns=np.array([[0.5], [1.5]], dtype=np.float32),
        ),
    ]
    out = marl_eval_json(records)
    assert list(out) == ["SMAX"]
    runs = out["SMAX"]["3m"]["jaxmarl:ippo"]
    assert list(runs) == ["seed_0", "seed_1"]
    assert list(runs["seed_0"]) == ["step_0", "step_1", "absolute_metrics"]
    assert runs["seed_0"]["step_1"] == {
        "step_count": 2000,
        "elapsed_time": 12.5,
        "return": [4.0, 5.0, 6.5],
    }
    assert type(runs["seed_0"]["step_1"]["step_count"]) is int
    assert all(type(v) is float for v in runs["seed_0"]["step_0"]["return"])
    assert runs["seed_0"]["absolute_metrics"] == {"return": [7.0, 8.0]}
    # No elapsed times: the field is left out; no absolute metric: the last evaluation's.
    assert runs["seed_1"]["step_0"] == {"step_count": 1000, "return": [0.5]}
    assert type(runs["seed_1"]["step_0"]["step_count"]) is int
    assert runs["seed_1"]["absolute_metrics"] == {"return": [1.5]}
    assert json.loads(json.dumps(out)) == out

    assert list(
        marl_eval_json(records[:1], metric="win_rate")["SMAX"]["3m"]["jaxmarl:ippo"]["seed_0"][
            "step_0"
        ]
    ) == ["step_count", "elapsed_time", "win_rate"]


def test_marl_eval_json_rejects_what_marl_eval_cannot_read():
    base = RunRecord("env", "task", "algo", 0, np.array([10]), np.array([[1.0]]))
    with pytest.raises(ValueError, match="comma"):
        marl_eval_json([base._replace(algo="a,b")])
    with pytest.raises(ValueError, match="two records"):
        marl_eval_json([base, base])
    with pytest.raises(ValueError, match="lower-cases"):
        marl_eval_json([base, base._replace(algo="ALGO", seed=1)])
    with pytest.raises(ValueError):
        marl_eval_json([base._replace(returns=np.array([1.0]))])  # not [K, E]
    with pytest.raises(ValueError):
        marl_eval_json([base._replace(steps=np.array([10, 20]))])  # K mismatch


def test_write_figures_writes_the_files_it_returns(tmp_path):
    rng = np.random.default_rng(0)
    scores = {"ippo": rng.normal(10, 2, (3, 2)), "mappo": rng.normal(12, 2, (3, 2))}
    curves = {n: np.stack([s * f for f in (0.2, 0.6, 1.0)], axis=-1) for n, s in scores.items()}
    steps = np.array([100, 200, 300])
    paths = write_figures(tmp_path / "figs", scores, curves, steps, prefix="smax_", reps=50)
    names = sorted(p.name for p in paths)
    stems = ["aggregates", "performance_profiles", "probability_of_improvement"]
    stems.append("sample_efficiency")
    assert names == sorted(f"smax_{s}.{e}" for s in stems for e in ("png", "json"))
    for path in paths:
        assert path.parent == tmp_path / "figs"
        assert path.stat().st_size > 0
        if path.suffix == ".png":
            assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = json.loads((tmp_path / "figs" / "smax_sample_efficiency.json").read_text())
    assert data["steps"] == [100, 200, 300]
    assert len(data["iqm"]["mappo"]["point"]) == 3
    agg = json.loads((tmp_path / "figs" / "smax_aggregates.json").read_text())
    assert set(agg["aggregates"]["ippo"]) == {"iqm", "mean", "median", "optimality_gap"}

    # One algorithm, no curves: no pairs to compare, no sample-efficiency figure.
    single = write_figures(tmp_path / "one", {"ippo": scores["ippo"]}, reps=50)
    assert sorted(p.stem for p in single) == sorted(["aggregates", "performance_profiles"] * 2)
    assert all(p.exists() for p in single)


def test_the_vectorised_improvement_probability_is_rliables():
    """The metric the intervals are taken of equals rliable's own (scipy's
    Mann-Whitney U per task), ties and identical runs included."""
    from rliable import metrics

    rng = np.random.default_rng(3)
    cases = [
        (rng.normal(size=(5, 3)), rng.normal(size=(4, 3))),
        (np.round(rng.normal(size=(6, 2))), np.round(rng.normal(size=(6, 2)))),  # ties
        (np.ones((3, 2)), np.ones((3, 2))),  # identical: 0.5
    ]
    for x, y in cases:
        assert improvement_probability(x, y) == pytest.approx(
            metrics.probability_of_improvement(x, y), abs=1e-12
        )
