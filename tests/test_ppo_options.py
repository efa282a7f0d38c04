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


def test_learning_rates_annealing_and_vf_coef_reach_the_update():
    """IPPO with lr 1e-3, critic_lr 5e-3, anneal_lr and vf_coef 0, three updates:
    the third (at progress p = 2 x 40/2000) steps the actor with 1e-3 (1 − p) and
    the critic with 5e-3 (1 − p); vf_coef 0 leaves the critic's parameters
    unchanged (zero gradients give Adam a zero step) while the actor moves."""
    config = jm.make_config(
        "ippo", env="climbing", **SMALL, lr=1e-3, critic_lr=5e-3, anneal_lr=True, vf_coef=0.0
    )
    _, algo = make_algorithm(config)
    start = algo.init(jax.random.PRNGKey(0), config.hparams)
    step = jax.jit(algo.update)
    state = start
    for _ in range(3):
        state, _ = step(state, config.hparams)
    decay = 1.0 - 2 * config.num_envs * config.rollout_length / config.total_timesteps
    np.testing.assert_allclose(
        state.opt_state.actor.hyperparams["learning_rate"], 1e-3 * decay, rtol=1e-6
    )
    np.testing.assert_allclose(
        state.opt_state.critic.hyperparams["learning_rate"], 5e-3 * decay, rtol=1e-6
    )
    assert _equal(start.params.critic, state.params.critic)
    assert not _equal(start.params.actor, state.params.actor)


def _equal(a, b) -> bool:
    return all(jax.tree.leaves(jax.tree.map(lambda x, y: bool(jnp.array_equal(x, y)), a, b)))


def test_all_options_together_train():
    """MAPPO (a centralised critic) with every option on, minibatches of 2."""
    config = jm.make_config(
        "mappo",
        env="climbing",
        **SMALL,
        clip_value_loss=True,
        normalise_advantages=True,
        vf_coef=0.5,
        critic_lr=1e-3,
        anneal_lr=True,
        minibatches=2,
        activation="tanh",
    )
    out = jax.jit(jm.make_train(config))(jax.random.PRNGKey(0))
    assert np.all(np.isfinite(np.asarray(out.metrics["critic_loss"])))
    assert np.all(np.isfinite(np.asarray(out.metrics["eval_return"])))


def test_tanh_activation_by_hand():
    """``activation=tanh``: the agent MLP is tanh(tanh(x W0 + b0) W1 + b1) W2 + b2
    (x with the one-hot agent id); the GRU agent's encoder changes with it too."""
    from jaxmarl_core.networks.agents import make_agent_net

    x = jax.random.normal(jax.random.PRNGKey(1), (5, 2, 4))
    first = jnp.zeros((5,), bool)
    net = make_agent_net(2, (8, 8), 3, True, False, activation="tanh")
    params = net.init(jax.random.PRNGKey(0), x[0])
    _, out = net.step(params, net.initial_carry((5,)), x, first)
    h = np.concatenate([np.asarray(x), np.broadcast_to(np.eye(2), (5, 2, 2))], -1)
    for i in range(3):
        layer = params["params"][f"Dense_{i}"]
        h = h @ np.asarray(layer["kernel"]) + np.asarray(layer["bias"])
        h = np.tanh(h) if i < 2 else h
    np.testing.assert_allclose(out, h, rtol=1e-5, atol=1e-6)

    def gru_out(activation):
        gru = make_agent_net(2, (8, 8), 3, True, True, activation=activation)
        gru_params = gru.init(jax.random.PRNGKey(0), x[0])  # same parameters for both
        return gru.step(gru_params, gru.initial_carry((5,)), x, first)[1]

    assert not np.allclose(gru_out("tanh"), gru_out("relu"))


def test_value_clipping_is_a_ppo_option_only():
    with pytest.raises(ValueError, match="unknown config key 'clip_value_loss'"):
        jm.make_config("ia2c", env="climbing", clip_value_loss=True)
