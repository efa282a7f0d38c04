"""The PPO options of the actor-critic runner: value clipping, per-minibatch
advantage normalisation, the critic's loss coefficient and learning rate, and
learning-rate annealing (the details the MAPPO paper and both peers expose)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmarl_core as jm
from jaxmarl_core.algos import actor_critic
from jaxmarl_core.train import make_algorithm

SMALL = dict(total_timesteps=2000, num_envs=4, rollout_length=10, num_logs=2, hidden_size=16)


def test_value_loss_by_hand():
    """y = 1, V_old = 0, ε = 0.2. V = 0.5: unclipped 0.25, clipped V 0.2 -> 0.64,
    the max is 0.64. V = 0.1 (inside the clip range): both 0.81. V = -0.5:
    unclipped 2.25, clipped V -0.2 -> 1.44, the max is 2.25."""
    value = jnp.array([0.5, 0.1, -0.5])
    target, old = jnp.ones(3), jnp.zeros(3)
    np.testing.assert_allclose(
        actor_critic.value_loss(value, target, old, None), [0.25, 0.81, 2.25], rtol=1e-6
    )
    np.testing.assert_allclose(
        actor_critic.value_loss(value, target, old, jnp.float32(0.2)), [0.64, 0.81, 2.25], rtol=1e-6
    )


def test_standardise_counts_only_masked_samples():
    """x = [1, 3, 100], mask [1, 1, 0]: mean 2, std 1 over the first two."""
    out = actor_critic.standardise(jnp.array([1.0, 3.0, 100.0]), jnp.array([1.0, 1.0, 0.0]))
    np.testing.assert_allclose(out[:2], [-1.0, 1.0], rtol=1e-6)


def _one_update(algo_name: str, **overrides):
    config = jm.make_config(algo_name, env="climbing", **SMALL, **overrides)
    _, algo = make_algorithm(config)
    state = algo.init(jax.random.PRNGKey(0), config.hparams)
    return config, algo, state, jax.jit(algo.update)(state, config.hparams)


def test_critic_lr_and_annealing_reach_the_optimisers():
    """critic_lr sets the critic's Adam step size apart from the actor's; with
    anneal_lr both decay linearly: the update at progress p uses lr (1 − p)."""
    _, _, _, (state, metrics) = _one_update("ippo", lr=1e-3, critic_lr=5e-3)
    assert np.isclose(state.opt_state.actor.hyperparams["learning_rate"], 1e-3)
    assert np.isclose(state.opt_state.critic.hyperparams["learning_rate"], 5e-3)

    config, algo, start, _ = _one_update("ippo", lr=1e-3, anneal_lr=True)
    step = jax.jit(algo.update)
    state = start
    for _ in range(3):  # updates at progress 0, 40/2000, 80/2000
        state, _ = step(state, config.hparams)
    per_update = config.num_envs * config.rollout_length / config.total_timesteps
    expected = 1e-3 * (1.0 - 2 * per_update)
    for opt in (state.opt_state.actor, state.opt_state.critic):  # critic_lr 0: lr's
        np.testing.assert_allclose(opt.hyperparams["learning_rate"], expected, rtol=1e-6)


def test_vf_coef_zero_leaves_the_critic_unchanged():
    _, _, start, (state, _) = _one_update("mappo", vf_coef=0.0)
    same = jax.tree.map(
        lambda a, b: bool(jnp.array_equal(a, b)), start.params.critic, state.params.critic
    )
    assert all(jax.tree.leaves(same))
    moved = jax.tree.map(
        lambda a, b: bool(jnp.array_equal(a, b)), start.params.actor, state.params.actor
    )
    assert not all(jax.tree.leaves(moved))


@pytest.mark.parametrize("algo_name", ["ippo", "mappo"])
def test_all_options_together_train(algo_name):
    config = jm.make_config(
        algo_name,
        env="climbing",
        **SMALL,
        clip_value_loss=True,
        normalise_advantages=True,
        vf_coef=0.5,
        critic_lr=1e-3,
        anneal_lr=True,
        minibatches=2,
    )
    out = jax.jit(jm.make_train(config))(jax.random.PRNGKey(0))
    assert np.all(np.isfinite(np.asarray(out.metrics["critic_loss"])))
    assert np.all(np.isfinite(np.asarray(out.metrics["eval_return"])))


def test_value_clipping_is_a_ppo_option_only():
    with pytest.raises(ValueError, match="unknown config key 'clip_value_loss'"):
        jm.make_config("ia2c", env="climbing", clip_value_loss=True)
