"""Sweeps: one program for every (setting, seed), equal to single runs, on 1 or 4 devices."""

import json
import os
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest

import jaxmarl_core as jm
from jaxmarl_core import sweeps
from jaxmarl_core.cli import main
from jaxmarl_core.sweeps import grid, parse_spec, random_search, sweep, unpadded_batch

SMALL = dict(
    total_timesteps=2_000,
    num_logs=4,
    num_envs=4,
    learning_starts=200,
    batch_size=32,
    buffer_size=1_000,
    hidden_size=16,
    num_eval_episodes=2,
)


@pytest.fixture(scope="module")
def config():
    return jm.make_config("idqn", env="penalty-0", **SMALL)


@pytest.fixture(scope="module")
def result(config):
    settings = grid(config, {"lr": [1e-3, 1e-2], "gamma": [0.9, 0.99]})
    return sweep(config, settings, seeds=3)


def test_shapes_and_order(result):
    assert result.metrics["eval_return"].shape == (4, 3, 4)
    assert result.settings[1] == {"lr": pytest.approx(1e-3), "gamma": pytest.approx(0.99)}
    assert result.num_batches == 1 and result.batch_size == 12


def test_run_equals_single_run(config, result):
    train = jax.jit(jm.make_train(config))
    for s, k in ((0, 0), (3, 2)):
        hp = {**config.hparams, **{n: np.float32(v) for n, v in result.settings[s].items()}}
        single = jax.device_get(train(jax.random.PRNGKey(k), hp))
        for name in ("loss", "eval_return", "episode_return"):
            np.testing.assert_allclose(
                result.metrics[name][s, k], single.metrics[name], rtol=1e-4, atol=1e-3
            )


def test_split_into_batches_gives_the_same_result(config, result):
    settings = result.settings
    capped = sweep(config, settings, seeds=3, max_parallel_runs=5)
    assert (capped.batch_size, capped.num_batches) == (5, 3)
    # A tiny memory budget splits automatically, down to one run per batch.
    tiny = sweep(config, settings[:1], seeds=2, memory_budget=1.0)
    assert (tiny.batch_size, tiny.num_batches) == (1, 2)
    for name in ("loss", "eval_return"):
        # Equal up to float rounding: XLA may vectorise a batch of 1 differently.
        np.testing.assert_allclose(capped.metrics[name], result.metrics[name], rtol=1e-5)
        np.testing.assert_allclose(tiny.metrics[name][0], result.metrics[name][0, :2], rtol=1e-5)


def test_runs_that_do_not_fit_at_once_go_in_batches_without_padding(config, result, monkeypatch):
    """On one CPU device a batch's runs go one after another: 3 runs of which 2
    fit go as 3 batches of 1 (2 batches of 2 would train a padded copy of run 0),
    with the same results."""
    assert [unpadded_batch(n, b) for n, b in [(3, 2), (5, 4), (6, 4), (8, 4), (7, 7)]] == [
        1,
        1,
        3,
        4,
        7,
    ]
    compile_programs = sweeps.compile_programs

    def sized(config, batch, *args):  # every run needs one byte; two fit
        return compile_programs(config, batch, *args)._replace(bytes_needed=batch)

    monkeypatch.setattr(sweeps, "compile_programs", sized)
    split = sweep(config, result.settings[:1], seeds=3, memory_budget=2)
    assert (split.batch_size, split.num_batches) == (1, 3)
    for name in ("loss", "eval_return"):
        np.testing.assert_allclose(split.metrics[name][0], result.metrics[name][0, :3], rtol=1e-5)


def test_random_search_is_reproducible_and_in_range(config):
    a = random_search(config, {"lr": ("loguniform", 1e-4, 1e-2)}, samples=5)
    b = parse_spec(config, {"lr": "loguniform(1e-4, 1e-2)"}, samples=5)
    assert a == b and len(a) == 5
    assert all(1e-4 <= s["lr"] <= 1e-2 for s in a)


@pytest.mark.parametrize(
    "spec, message",
    [
        ({"lrr": "1,2"}, "unknown hyperparameter 'lrr'"),
        ({"num_envs": "4,8"}, "num_envs is a structural key"),
        ({"lr": ""}, "the list of values to sweep is empty"),
        ({"lr": "loguniform(1e-2, 1e-4)"}, "low must be <= high"),
        ({"lr": "-1,1"}, "lr=-1.0 is not allowed"),
        ({"lr": "a,b"}, "expected a list of numbers"),
    ],
)
def test_bad_specs(config, spec, message):
    with pytest.raises(ValueError, match=message):
        parse_spec(config, spec, samples=3)


def test_cli_sweep_writes_outputs(tmp_path, capsys):
    out = tmp_path / "sweep"
    args = ["sweep", "algo=idqn", "env=penalty-0", "seeds=2", "lr=1e-3,1e-2", f"out={out}"]
    args += [f"{k}={v}" for k, v in SMALL.items()]
    assert main(args) == 0
    files = sorted(p.name for p in out.iterdir())
    assert files == [
        "batches",
        "best",
        "best_config.yaml",
        "config.yaml",
        "plan.json",
        "sweep.csv",
        "sweep.json",
        "sweep.png",
        "sweep_summary.csv",
    ]
    rows = (out / "sweep.csv").read_text().splitlines()
    assert rows[0] == "setting,lr,seed,final_return,final_eval_return" and len(rows) == 5
    summary = (out / "sweep_summary.csv").read_text().splitlines()
    assert summary[0].split(",")[-5:] == [
        "mean_final_eval_return",
        "std_final_eval_return",
        "ci95_low",
        "ci95_high",
        "rank",
    ]
    assert json.loads((out / "sweep.json").read_text())["settings"] == 2
    # A sweep plots as its best setting's learning curve.
    from jaxmarl_core.reports import run_curves

    (curve,) = run_curves([out])
    assert curve.label == "idqn on penalty-0, best of sweep" and curve.num_seeds == 2
    best = (out / "best" / "metrics.csv").read_text().splitlines()
    assert best[0].startswith("seed,env_steps,episode_return,eval_return") and len(best) == 9


def test_cli_sweep_bad_spec_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["sweep", "algo=idqn", "env=climbing", "num_envs=4,8"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "structural key" in err[0]
    assert not (tmp_path / "runs").exists()


FOUR_DEVICES = textwrap.dedent(
    """
    import jax, numpy as np
    import jaxmarl_core as jm
    import jaxmarl_core.sweeps as sw
    import jaxmarl_core.chunks as chunks

    traces = [0]
    make_chunk = chunks.make_chunk

    def counting(*args):
        chunk = make_chunk(*args)

        def wrapped(*a):
            traces[0] += 1
            return chunk(*a)

        return wrapped

    chunks.make_chunk = counting
    assert len(jax.devices()) == 4
    config = jm.make_config("idqn", env="penalty-0", **SMALL)
    settings = sw.grid(config, {"lr": [1e-3, 1e-2, 3e-2]})
    one = sw.sweep(config, settings, seeds=2, devices=jax.devices()[:1])
    traces[0] = 0
    # All four by name: by default a sweep leaves out host devices beyond the cores.
    four = sw.sweep(config, settings, seeds=2, max_parallel_runs=4, devices=jax.devices())
    print("TRACES", traces[0], four.num_devices, four.num_batches)
    for name in ("loss", "eval_return", "episode_return"):
        np.testing.assert_allclose(one.metrics[name], four.metrics[name], rtol=1e-5, atol=1e-5)
    print("SAME")
    # Games as data: each run's payoff sharded with it, the padded last batch included.
    from jaxmarl_core.envs.registry import make_env
    params = [make_env(g).params() for g in ("penalty-100", "climbing", "qtran-game")]
    one = sw.sweep(config, [{}] * 3, seeds=2, devices=jax.devices()[:1], env_params=params)
    four = sw.sweep(config, [{}] * 3, seeds=2, max_parallel_runs=4, env_params=params,
                    devices=jax.devices())
    assert four.num_batches == 2
    for name in ("loss", "eval_return", "episode_return"):
        np.testing.assert_allclose(one.metrics[name], four.metrics[name], rtol=1e-5, atol=1e-5)
    assert not np.allclose(one.metrics["episode_return"][0], one.metrics["episode_return"][1])
    print("GAMES SAME")
    """
)


def test_one_and_four_devices_agree_and_compile_once():
    """With 4 host devices, 6 runs in batches of 4 (2 batches, the last padded):
    one trace of the chunk, results equal to the same sweep on one device; and
    the same for three games as data (their payoffs sharded with the runs)."""
    env = {
        **os.environ,
        "XLA_FLAGS": "--xla_force_host_platform_device_count=4",
        "JAX_PLATFORMS": "cpu",
    }
    code = f"SMALL = {SMALL!r}\n" + FOUR_DEVICES
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "TRACES 1 4 2" in proc.stdout and "SAME" in proc.stdout, proc.stdout
    assert "GAMES SAME" in proc.stdout, proc.stdout


def test_sweep_killed_in_its_second_batch_resumes_without_rerunning_the_first(tmp_path, capsys):
    """SIGKILL in batch 2 of 3, after its checkpoint at logging step 2: ``sweep
    resume=`` reads batch 1 back, resumes batch 2 from its checkpoint, runs
    batch 3, and writes the same outputs as an uninterrupted sweep (timings in
    sweep.json apart)."""
    import signal
    import subprocess
    import time

    args = ["sweep", "algo=idqn", "env=penalty-0", "seeds=2", "lr=1e-3,3e-3,1e-2"]
    args += ["max_parallel_runs=2", "total_timesteps=20000", "num_logs=8", "hidden_size=16"]
    args += ["checkpoint_every=2"]
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    code = "import sys; from jaxmarl_core.cli import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *args, f"out={killed}"], stderr=subprocess.DEVNULL
    )
    mid = killed / "batches" / "running-1" / "checkpoints" / "2" / "digest.json"
    while not mid.exists() and proc.poll() is None:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=60) == -signal.SIGKILL
    assert (killed / "batches" / "0.npz").exists()
    assert not (killed / "sweep.json").exists() and not (killed / "batches" / "1.npz").exists()
    batch_seconds = lambda b: json.loads((killed / "batches" / f"{b}.json").read_text())  # noqa: E731
    first = batch_seconds(0)["train_seconds"]
    # What the killed process had spent on batch 2 when it wrote checkpoint 2.
    meta = json.loads((mid.parent / "meta" / "metadata").read_text())
    assert first > 0 and meta["train_seconds"] > 0
    assert main([*args, f"out={whole}"]) == 0  # the uninterrupted sweep
    capsys.readouterr()

    assert main(["sweep", f"resume={killed}"]) == 0
    err = capsys.readouterr().err
    assert "batch 1/3 was done before; read back" in err
    assert "batch 2/3 resumes from logging step" in err
    assert "batch 3/3 done" in err
    for name in ("sweep.csv", "sweep_summary.csv", "best_config.yaml"):
        assert (killed / name).read_bytes() == (whole / name).read_bytes(), name
    a, b = (json.loads((d / "sweep.json").read_text()) for d in (whole, killed))
    for timing in ("compile_seconds", "wall_seconds"):
        a.pop(timing), b.pop(timing)
    assert a == b
    # The killed process's seconds count: batch 1's as recorded, batch 2's from its checkpoint.
    assert batch_seconds(0)["train_seconds"] == first
    assert batch_seconds(1)["train_seconds"] > meta["train_seconds"]
    total = sum(batch_seconds(b)["train_seconds"] for b in range(3))
    assert json.loads((killed / "sweep.json").read_text())["wall_seconds"] == pytest.approx(total)
    assert not list((killed / "batches").glob("running-*"))  # recorded batches drop checkpoints
    assert main(["sweep", f"resume={killed}"]) == 0  # finished: nothing to do
    assert "already finished" in capsys.readouterr().out
