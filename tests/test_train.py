"""The pure train function: determinism, vmap equivalence, seeds, one compile."""

import chex
import jax
import numpy as np
import pytest

import jaxmarl_core as jm
from jaxmarl_core.train import make_algorithm, seed_keys

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
def penalty_runs():
    config = jm.make_config("idqn", env="penalty-0", **SMALL)
    train = jax.jit(jm.make_train(config))
    keys = seed_keys(2)
    alone = [jax.device_get(train(k)) for k in keys]
    again = jax.device_get(train(keys[0]))
    batched = jax.device_get(jax.jit(jax.vmap(train))(keys))
    return alone, again, batched


def test_metrics_shapes(penalty_runs):
    alone, _, batched = penalty_runs
    for name in ("env_steps", "episode_return", "eval_return", "loss", "episodes"):
        assert alone[0].metrics[name].shape == (4,)
        assert batched.metrics[name].shape == (2, 4)
    np.testing.assert_array_equal(alone[0].metrics["env_steps"], [500, 1000, 1500, 2000])


def test_same_key_is_bit_identical(penalty_runs):
    alone, again, _ = penalty_runs
    chex.assert_trees_all_equal(alone[0].metrics, again.metrics)
    chex.assert_trees_all_equal(alone[0].state.params, again.state.params)


def test_vmapped_seed_equals_single_run(penalty_runs):
    alone, _, batched = penalty_runs
    for k in range(2):
        seed_k = jax.tree_util.tree_map(lambda x, k=k: x[k], batched)
        chex.assert_trees_all_close(seed_k.metrics, alone[k].metrics, rtol=1e-4, atol=1e-4)
        chex.assert_trees_all_close(
            seed_k.state.params, alone[k].state.params, rtol=1e-4, atol=1e-4
        )


def test_different_seeds_differ(penalty_runs):
    alone, _, _ = penalty_runs
    leaves0 = jax.tree_util.tree_leaves(alone[0].state.params)
    leaves1 = jax.tree_util.tree_leaves(alone[1].state.params)
    assert any(not np.array_equal(a, b) for a, b in zip(leaves0, leaves1, strict=True))


def test_hparams_are_traced_not_recompiled():
    config = jm.make_config("idqn", env="climbing", **SMALL)
    _, algo = make_algorithm(config)

    @jax.jit
    @chex.assert_max_traces(n=1)
    def update(state, hparams):
        return algo.update(state, hparams)

    state = algo.init(jax.random.PRNGKey(0), config.hparams)
    for lr in (1e-3, 1e-2, 0.1):
        state, _ = update(state, {**config.hparams, "lr": np.float32(lr)})


def test_unknown_hparam_rejected():
    config = jm.make_config("idqn", env="climbing", **SMALL)
    with pytest.raises(ValueError, match="unknown hyperparameter 'lrr'"):
        jm.make_train(config)(jax.random.PRNGKey(0), {"lrr": 1.0})


def test_driver_writes_run_directory(tmp_path):
    import json

    config = jm.make_config("idqn", env="climbing", **SMALL)
    out = tmp_path / "run"
    result = jm.run(config, seeds=2, out=out, progress=False)
    assert sorted(p.name for p in out.iterdir()) == [
        "checkpoints",
        "config.yaml",
        "metrics.csv",
        "returns.png",
        "run.json",
        "summary.json",
    ]
    summary = json.loads((out / "summary.json").read_text())
    for key in (
        "algo",
        "env",
        "seeds",
        "env_steps",
        "final_return_mean",
        "final_return_std",
        "final_return_per_seed",
        "final_eval_return_mean",
        "final_eval_return_std",
        "final_eval_return_per_seed",
        "wall_seconds",
        "compile_seconds",
        "train_seconds",
        "env_steps_per_second",
        "env_steps_per_second_with_compile",
    ):
        assert key in summary
    assert summary["seeds"] == 2 and len(summary["final_eval_return_per_seed"]) == 2
    lines = (out / "metrics.csv").read_text().splitlines()
    assert lines[0].startswith("seed,env_steps,episode_return,eval_return")
    assert len(lines) == 1 + 2 * 4
    # The driver's chunks compute what the pure train function computes.
    single = jax.jit(jm.make_train(config))(seed_keys(1)[0])
    np.testing.assert_allclose(
        result.metrics["eval_return"][0], np.asarray(single.metrics["eval_return"]), rtol=1e-5
    )


def test_driver_refuses_non_empty_output(tmp_path):
    (tmp_path / "keep.txt").write_text("precious")
    config = jm.make_config("idqn", env="climbing", **SMALL)
    with pytest.raises(ValueError, match="exists and is not empty"):
        jm.run(config, seeds=1, out=tmp_path, progress=False)
    assert (tmp_path / "keep.txt").read_text() == "precious"
