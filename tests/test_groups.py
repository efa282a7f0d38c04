"""Runs vmapped in groups: the same values as one vmap, whatever the group width."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmarl_core as jm
import jaxmarl_core.train as train_module
from jaxmarl_core.groups import grouped
from jaxmarl_core.train import seed_keys


def step(x, scale, table):
    """A pytree in and out, with a matrix product, a cond and a zero-size leaf."""
    y = jnp.tanh(x["a"] @ table) * scale
    y = jax.lax.cond(scale > 0.5, lambda v: v + 1.0, lambda v: v - 1.0, y)
    return {"y": y, "count": x["count"] + 1, "empty": x["empty"] * 2.0}


def inputs(runs: int):
    rng = np.random.default_rng(0)
    x = {
        "a": rng.normal(size=(runs, 3, 4)).astype(np.float32),
        "count": np.arange(runs, dtype=np.int32),
        "empty": np.zeros((runs, 0), np.float32),
    }
    scale = rng.uniform(size=(runs,)).astype(np.float32)
    table = rng.normal(size=(4, 5)).astype(np.float32)
    return x, scale, table


@pytest.mark.parametrize("runs,width", [(6, 2), (7, 2), (7, 3), (2, 4), (5, 1)])
def test_grouped_vmap_equals_one_vmap(runs, width):
    """Whole groups, a remainder, fewer runs than a group, groups of one; the
    unbatched ``table`` is shared by every run (in_axes None)."""
    x, scale, table = inputs(runs)
    expected = jax.jit(jax.vmap(step, in_axes=(0, 0, None)))(x, scale, table)
    got = jax.jit(jax.vmap(grouped(step, width), in_axes=(0, 0, None)))(x, scale, table)
    chex.assert_trees_all_equal_shapes_and_dtypes(got, expected)
    chex.assert_trees_all_close(got, expected, rtol=1e-6, atol=1e-6)


def test_grouped_function_unbatched_is_the_function():
    x, scale, table = inputs(1)
    one = jax.tree.map(lambda v: v[0], (x, scale))
    chex.assert_trees_all_equal(grouped(step, 2)(*one, table), step(*one, table))
    assert grouped(step, None) is step


def test_a_group_needs_a_run():
    with pytest.raises(ValueError, match="at least one run"):
        grouped(step, 0)


def test_train_in_groups_equals_each_seed_alone():
    """5 vmapped QMIX seeds in groups of 2 (2 + 2 + a remainder of 1) give each
    seed's metrics (to float rounding: batched products of other widths may sum
    in another order), and hyperparameters shared through in_axes=None give the
    same as the defaults."""
    config = jm.make_config(
        "qmix", env="climbing", total_timesteps=1_000, num_logs=2, learning_starts=100
    )
    keys = seed_keys(5)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(train_module, "default_width", lambda: 2)
        train = jm.make_train(config)
    batched = jax.device_get(jax.jit(jax.vmap(train))(keys))
    shared = jax.device_get(jax.jit(jax.vmap(train, in_axes=(0, None)))(keys, config.hparams))
    single = jax.jit(train)
    for k in range(5):
        alone = jax.device_get(single(keys[k]))
        seed_k = jax.tree.map(lambda v, k=k: v[k], batched.metrics)
        chex.assert_trees_all_close(seed_k, alone.metrics, rtol=1e-5, atol=1e-6)
    chex.assert_trees_all_equal(shared.metrics, batched.metrics)


@pytest.mark.parametrize("algo,recurrent", [("qtran", True), ("ippo", False)])
def test_train_in_groups_of_one_is_each_seed_alone_bit_for_bit(algo, recurrent):
    """Groups of one (the CPU default) run each seed's own unbatched program:
    3 vmapped seeds give exactly the metrics of each seed trained alone."""
    config = jm.make_config(
        algo, env="climbing", total_timesteps=600, num_logs=2, recurrent=recurrent
    )
    keys = seed_keys(3)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(train_module, "default_width", lambda: 1)
        train = jm.make_train(config)
    batched = jax.device_get(jax.jit(jax.vmap(train))(keys))
    single = jax.jit(train)
    for k in range(3):
        alone = jax.device_get(single(keys[k]))
        chex.assert_trees_all_equal(
            jax.tree.map(lambda v, k=k: v[k], batched.metrics), alone.metrics
        )
