"""Checkpoints, exact resume after SIGKILL and SIGTERM, and runs that stop early."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest

import jaxmarl_core as jm
from jaxmarl_core.checkpoints import CheckpointError, Checkpoints
from jaxmarl_core.chunks import RunStopped
from jaxmarl_core.driver import TIMING_KEYS, load_run
from jaxmarl_core.train import make_algorithm, seed_keys

# Small runs whose logging steps take long enough to be killed between them.
KILLABLE = {
    "idqn": "total_timesteps=24000 num_logs=12 checkpoint_every=2 hidden_size=16",
    "ippo": "total_timesteps=24000 num_logs=12 checkpoint_every=2 hidden_size=16 num_envs=16 "
    "rollout_length=25 logger=marl_eval",
    # The PQN runner with a trained mixer (its state in the checkpoint too), recurrent.
    "pqn_qmix": "total_timesteps=24576 num_logs=12 checkpoint_every=2 hidden_size=16 "
    "recurrent=true",
}


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-c", "import sys; from jaxmarl_core.cli import main; "
            "sys.exit(main(sys.argv[1:]))", *args]  # fmt: skip


def _train_args(algo: str, out: Path) -> list[str]:
    return [
        "train",
        f"algo={algo}",
        "env=climbing",
        "seeds=2",
        f"out={out}",
        *KILLABLE[algo].split(),
    ]


def _final_state(run_dir: Path):
    config, seeds, first_seed = load_run(run_dir)
    _, algo = make_algorithm(config)
    init_v = jax.vmap(algo.init, in_axes=(0, None))
    abstract = jax.eval_shape(init_v, seed_keys(seeds, first_seed), config.hparams)
    return Checkpoints(run_dir).restore(abstract, move_aside=False)


@pytest.mark.parametrize(
    "algo,sig",
    [("idqn", signal.SIGKILL), ("ippo", signal.SIGTERM), ("pqn_qmix", signal.SIGTERM)],
)
def test_killed_run_resumes_bit_identical(tmp_path, algo, sig):
    """A run stopped after its first checkpoint (SIGKILL: no warning; SIGTERM: it
    checkpoints and exits) and resumed ends with the same metrics.csv, summary
    (timings apart) and final learner state, bit for bit, as an uninterrupted run."""
    whole, stopped = tmp_path / "whole", tmp_path / "stopped"
    reference = subprocess.Popen(_cli(*_train_args(algo, whole)), stderr=subprocess.DEVNULL)
    proc = subprocess.Popen(_cli(*_train_args(algo, stopped)), stderr=subprocess.PIPE, text=True)
    first = stopped / "checkpoints" / "2" / "digest.json"
    while not first.exists() and proc.poll() is None:
        time.sleep(0.01)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert reference.wait(timeout=300) == 0
    if sig == signal.SIGKILL:
        assert proc.returncode == -signal.SIGKILL
    else:
        assert proc.returncode == 128 + signal.SIGTERM, err
        assert "stopped by SIGTERM" in err and f"resume={stopped}" in err
    assert not (stopped / "summary.json").exists()  # it really stopped before the end
    rows = (stopped / "metrics.csv").read_text().splitlines()
    assert 1 + 2 * 2 <= len(rows) < 1 + 2 * 12  # the curve so far is kept

    done = subprocess.run(_cli("train", f"resume={stopped}"), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (stopped / "metrics.csv").read_bytes() == (whole / "metrics.csv").read_bytes()
    a, b = (json.loads((d / "summary.json").read_text()) for d in (whole, stopped))
    assert b["sessions"] == 2 and a["sessions"] == 1
    assert {k: v for k, v in a.items() if k not in TIMING_KEYS} == {
        k: v for k, v in b.items() if k not in TIMING_KEYS
    }
    if "logger=marl_eval" in KILLABLE[algo]:  # the whole curve, each step once
        a, b = (
            _without_times(json.loads((d / "marl_eval.json").read_text())) for d in (whole, stopped)
        )
        assert a == b and len(a["matrix"]["climbing"][algo]["seed_1"]) == 12 + 1
    ref, got = _final_state(whole), _final_state(stopped)
    assert ref.step == got.step == 12
    same = jax.tree.map(lambda x, y: bool(np.array_equal(x, y)), ref.state, got.state)
    assert all(jax.tree.leaves(same))


def _without_times(tree):
    if isinstance(tree, dict):
        return {k: _without_times(v) for k, v in tree.items() if k != "elapsed_time"}
    return tree


def _small_state(seeds: int = 2):
    config = jm.make_config("idqn", env="climbing", total_timesteps=2000, hidden_size=8)
    _, algo = make_algorithm(config)
    init_v = jax.jit(jax.vmap(algo.init, in_axes=(0, None)))
    state = init_v(seed_keys(seeds), config.hparams)
    return state, jax.eval_shape(init_v, seed_keys(seeds), config.hparams)


def test_truncated_checkpoint_is_detected_and_the_previous_used(tmp_path, capsys):
    state, abstract = _small_state()
    ckpts = Checkpoints(tmp_path, keep=2)
    for step in (1, 2, 3):
        history = {"eval_return": np.full((2, step), step, np.float32)}
        ckpts.save(step, state, history, {"train_seconds": float(step)})
    ckpts.close()
    assert ckpts.steps() == [2, 3]  # keep=2
    newest = tmp_path / "checkpoints" / "3"
    victim = max((p for p in newest.rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)
    victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 2])

    found = Checkpoints(tmp_path).restore(abstract, report=sys.stdout)
    assert found.step == 2 and found.meta["train_seconds"] == 2.0
    np.testing.assert_array_equal(found.metrics["eval_return"], np.full((2, 2), 2.0))
    same = jax.tree.map(lambda x, y: bool(np.array_equal(x, y)), state, found.state)
    assert all(jax.tree.leaves(same))
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and "checkpoint 3 is corrupt" in out[0]
    assert (tmp_path / "checkpoints" / "corrupt-3").is_dir()  # moved aside, not deleted


def test_checkpoint_without_digest_counts_as_absent(tmp_path):
    state, abstract = _small_state()
    ckpts = Checkpoints(tmp_path)
    ckpts.save(1, state, {"eval_return": np.zeros((2, 1), np.float32)}, {})
    ckpts.save(2, state, {"eval_return": np.zeros((2, 2), np.float32)}, {})
    ckpts.close()
    (tmp_path / "checkpoints" / "2" / "digest.json").unlink()  # killed before the digest
    assert Checkpoints(tmp_path).restore(abstract, report=open(os.devnull, "w")).step == 1
    with pytest.raises(CheckpointError, match="no checkpoint 7"):
        Checkpoints(tmp_path).restore(abstract, step=7)


def test_failed_checkpoint_write_is_one_error_and_keeps_the_previous(tmp_path, monkeypatch):
    """A full disk while writing checkpoint 2: a one-line CheckpointError, and
    checkpoint 1 is still whole."""
    import orbax.checkpoint as ocp

    real_save = ocp.CheckpointManager.save

    def save(self, step, *args, **kwargs):
        if step == 2:
            raise OSError(28, "No space left on device")
        return real_save(self, step, *args, **kwargs)

    monkeypatch.setattr(ocp.CheckpointManager, "save", save)
    config = jm.make_config(
        "idqn", env="climbing", total_timesteps=800, num_logs=4, checkpoint_every=1
    )
    with pytest.raises(CheckpointError) as info:
        jm.run(config, seeds=1, out=tmp_path / "run", progress=False)
    assert "No space left on device" in str(info.value) and "\n" not in str(info.value)
    assert Checkpoints(tmp_path / "run").steps() == [1]
    assert _final_state(tmp_path / "run").step == 1


def test_non_finite_values_stop_the_run_naming_step_seed_and_metric(tmp_path):
    config = jm.make_config(
        "idqn", env="climbing", total_timesteps=4000, num_logs=8, checkpoint_every=1, lr=1e30
    )
    with pytest.raises(RunStopped) as info:
        jm.run(config, seeds=2, out=tmp_path / "run", progress=False)
    message = str(info.value)
    assert "non-finite" in message and "logging step" in message and "in seed" in message
    assert info.value.exit_code == 1
    kept = Checkpoints(tmp_path / "run").steps()
    rows = (tmp_path / "run" / "metrics.csv").read_text().splitlines() if kept else []
    if kept:  # the checkpoints kept hold only finite values, as does metrics.csv
        assert f"the last good checkpoint is {kept[-1]}" in message
        assert "nan" not in "".join(rows).lower() or "episode_return" in rows[0]
    assert not (tmp_path / "run" / "summary.json").exists()
