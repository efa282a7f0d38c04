"""Comparison plots of run directories: the reader, the interval, the PNG, the errors.

The run directories are written by hand here (config.yaml and metrics.csv in
the long format of DESIGN.md section 4), with rows in no particular order.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import yaml
from PIL import Image

from jaxmarl_core.reports import mean_and_interval, plot_runs, read_run_metrics, run_curves

# Student t quantiles t_{0.975, df} from a printed table (df = 1, 2, 3).
T975 = {1: 12.706204736, 2: 4.302652730, 3: 3.182446305}


def write_run(path, algo, env, values, episode_return=None, order="step"):
    """A run directory with ``eval_return`` = values[seed][step] at env_steps 100, 200, ..."""
    path.mkdir(parents=True)
    (path / "config.yaml").write_text(
        yaml.safe_dump({"algo": algo, "env": env, "env_kwargs": {}, "lr": 0.001})
    )
    values = np.asarray(values, float)
    seeds, steps = values.shape
    rows = []
    for s in range(seeds):
        for t in range(steps):
            ep = "nan" if episode_return is None else f"{episode_return[s][t]:g}"
            rows.append((s, t, f"{s},{100 * (t + 1)},{ep},{values[s, t]:g},{0.5 * t:g}"))
    if order == "step":  # as a driver writing while it runs would
        rows.sort(key=lambda r: (r[1], r[0]))
    else:
        rows = rows[::-1]
    lines = ["seed,env_steps,episode_return,eval_return,loss"] + [r[2] for r in rows]
    (path / "metrics.csv").write_text("\n".join(lines) + "\n")
    return path


def test_read_run_metrics_orders_rows_by_seed_and_step(tmp_path):
    values = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
    for order in ("step", "reversed"):
        run = write_run(tmp_path / order, "qmix", "climbing", values, order=order)
        config, metrics = read_run_metrics(run)
        assert config["algo"] == "qmix" and config["env"] == "climbing"
        assert set(metrics) == {"seed", "env_steps", "episode_return", "eval_return", "loss"}
        np.testing.assert_array_equal(metrics["eval_return"], values)
        np.testing.assert_array_equal(metrics["env_steps"], [[100, 200, 300]] * 2)
        np.testing.assert_array_equal(metrics["seed"], [[0, 0, 0], [1, 1, 1]])
        np.testing.assert_array_equal(metrics["loss"], [[0.0, 0.5, 1.0]] * 2)
        assert np.isnan(metrics["episode_return"]).all()


def test_interval_by_hand():
    # Step 0: seeds 1, 2, 3: mean 2, s = 1, half-width t(2) / sqrt(3).
    # Step 1: seeds 0, 4, 8: mean 4, s = 4, half-width 4 t(2) / sqrt(3).
    # Step 2: one seed is NaN, so 5 and 7: mean 6, s = sqrt(2), half t(1) * sqrt(2) / sqrt(2).
    values = np.array([[1.0, 0.0, 5.0], [2.0, 4.0, math.nan], [3.0, 8.0, 7.0]])
    mean, lower, upper = mean_and_interval(values)
    half = np.array([T975[2] / math.sqrt(3), 4 * T975[2] / math.sqrt(3), T975[1]])
    np.testing.assert_allclose(mean, [2.0, 4.0, 6.0])
    np.testing.assert_allclose(upper - mean, half, rtol=1e-8)
    np.testing.assert_allclose(mean - lower, half, rtol=1e-8)
    # 4 seeds, 3 degrees of freedom: 2, 4, 6, 8 has s = sqrt(20 / 3).
    mean, lower, upper = mean_and_interval(np.array([[2.0], [4.0], [6.0], [8.0]]))
    np.testing.assert_allclose(upper, 5.0 + T975[3] * math.sqrt(20 / 3) / 2, rtol=1e-8)


def test_interval_with_one_seed_is_only_the_line():
    mean, lower, upper = mean_and_interval(np.array([[1.0, 2.0, math.nan]]))
    np.testing.assert_array_equal(mean[:2], [1.0, 2.0])
    assert np.isnan(mean[2]) and np.isnan(lower).all() and np.isnan(upper).all()


def test_plot_runs_writes_png_of_two_runs(tmp_path):
    rng = np.random.default_rng(0)
    a = write_run(tmp_path / "qmix", "qmix", "climbing", rng.normal(size=(3, 5)))
    b = write_run(tmp_path / "idqn", "idqn", "climbing", rng.normal(size=(2, 5)), order="rev")
    out = plot_runs([a, b], tmp_path / "plots" / "compare.png")
    assert out == tmp_path / "plots" / "compare.png"
    with Image.open(out) as image:
        assert image.format == "PNG"
        width, height = image.size
        assert width > 300 and height > 200
        # Not a blank canvas: lines and a shaded interval use several colours.
        assert len(image.convert("RGB").getcolors(maxcolors=100_000)) > 20

    curves = run_curves([a, b])
    assert [c.label for c in curves] == ["qmix on climbing", "idqn on climbing"]
    assert [c.num_seeds for c in curves] == [3, 2]
    np.testing.assert_array_equal(curves[0].env_steps, [100, 200, 300, 400, 500])
    _, metrics = read_run_metrics(b)
    np.testing.assert_allclose(curves[1].mean, metrics["eval_return"].mean(0))


def test_same_label_gets_the_directory_name(tmp_path):
    a = write_run(tmp_path / "lr-small", "qmix", "climbing", [[1.0, 2.0]])
    b = write_run(tmp_path / "lr-large", "qmix", "climbing", [[3.0, 4.0]])
    c = write_run(tmp_path / "other", "vdn", "climbing", [[3.0, 4.0]])
    labels = [curve.label for curve in run_curves([a, b, c], metric="loss")]
    assert labels == [
        "qmix on climbing (lr-small)",
        "qmix on climbing (lr-large)",
        "vdn on climbing",
    ]
    # One seed only: the plot has no interval, and is still written.
    assert plot_runs([a, b, c], tmp_path / "one-seed.png", metric="loss").is_file()


def test_errors_name_the_directory_or_the_metric(tmp_path):
    run = write_run(tmp_path / "run", "qmix", "climbing", [[1.0, 2.0]])
    out = tmp_path / "out.png"

    with pytest.raises(ValueError, match="does not exist") as e:
        plot_runs([run, tmp_path / "missing"], out)
    assert "missing" in str(e.value) and "\n" not in str(e.value)

    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="is not a run directory") as e:
        plot_runs([tmp_path / "empty"], out)
    assert "empty" in str(e.value) and "metrics.csv" in str(e.value)

    only_config = tmp_path / "only-config"
    only_config.mkdir()
    (only_config / "config.yaml").write_text("algo: qmix\nenv: climbing\n")
    with pytest.raises(ValueError, match="no metrics.csv"):
        read_run_metrics(only_config)

    with pytest.raises(ValueError, match="'win_rate'") as e:
        plot_runs([run], out, metric="win_rate")
    message = str(e.value)
    assert "available: episode_return, eval_return, loss" in message and "\n" not in message

    with pytest.raises(ValueError, match=r"\.png"):
        plot_runs([run], tmp_path / "out.pdf")
    assert not out.exists() and not (tmp_path / "out.pdf").exists()


def test_malformed_metrics_are_one_line_errors(tmp_path):
    run = write_run(tmp_path / "run", "qmix", "climbing", [[1.0, 2.0], [3.0, 4.0]])
    lines = (run / "metrics.csv").read_text().splitlines()
    (run / "metrics.csv").write_text("\n".join(lines[:-1]) + "\n")  # a seed lost its last row
    with pytest.raises(ValueError, match="different logging steps"):
        read_run_metrics(run)
    (run / "metrics.csv").write_text("\n".join(lines + lines[-1:]) + "\n")
    with pytest.raises(ValueError, match="two rows for seed"):
        read_run_metrics(run)
