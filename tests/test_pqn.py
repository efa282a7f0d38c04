"""PQN, PQN-VDN and PQN-QMIX: the Q(λ) target by hand and against a loop, the
joint values, one trace per update, vmapped seeds, and learning on the matrix games."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxmarl_core as jm
from jaxmarl_core.algos import actor_critic, pqn, pqn_qmix, pqn_vdn
from jaxmarl_core.config import ConfigError
from jaxmarl_core.core.exploration import masked_max
from jaxmarl_core.core.targets import q_learning_target
from jaxmarl_core.envs import VecEnv
from jaxmarl_core.networks.agents import make_agent_net
from jaxmarl_core.networks.mixers import QMixer
from jaxmarl_core.train import build_env, make_algorithm, seed_keys

GAMMA, LAMBDA = 0.9, 0.5


def hparams(gamma=GAMMA, lambda_=LAMBDA):
    return {"gamma": jnp.float32(gamma), "lambda_": jnp.float32(lambda_)}


def test_q_lambda_target_by_hand():
    """One environment, one agent, four steps: the episode is truncated after step 1
    (d = 1, done) and terminates at step 2 (d = 0, done); step 3 is cut by the rollout.

        G_3 = r_3 + γ v_3                                    = 1 + 0.9·4 = 4.6
        G_2 = r_2 (terminated)                               = 2
        G_1 = r_1 + γ v_1 (truncated: bootstraps, no G_2)    = 0 + 0.9·10 = 9
        G_0 = r_0 + γ [(1 − λ) v_0 + λ G_1]                  = 1 + 0.9·(0.5·6 + 0.5·9) = 7.75
    """
    reward = jnp.array([1.0, 0.0, 2.0, 1.0]).reshape(4, 1, 1)
    discount = jnp.array([1.0, 1.0, 0.0, 1.0]).reshape(4, 1, 1)
    done = jnp.array([False, True, True, False]).reshape(4, 1)
    next_value = jnp.array([6.0, 10.0, 7.0, 4.0]).reshape(4, 1, 1)
    g = pqn.q_lambda_targets(reward, discount, done, next_value, hparams())
    np.testing.assert_allclose(g[:, 0, 0], [7.75, 9.0, 2.0, 4.6], rtol=1e-6)


def loop_reference(reward, discount, done, next_value, gamma, lambda_):
    """Q(λ) by its recursion, one Python step at a time, [T, B, K] numpy arrays."""
    steps = reward.shape[0]
    g = np.zeros_like(reward)
    for t in reversed(range(steps)):
        one_step = reward[t] + gamma * discount[t] * next_value[t]
        if t == steps - 1:
            g[t] = one_step
            continue
        cont = 1.0 - done[t][..., None]
        later = (1 - lambda_) * next_value[t] + lambda_ * g[t + 1]
        g[t] = cont * (reward[t] + gamma * discount[t] * later) + (1 - cont) * one_step
    return g


@pytest.mark.parametrize("lambda_", [0.0, 0.3, 1.0])
def test_q_lambda_target_equals_a_python_loop_over_ends_of_both_kinds(lambda_):
    rng = np.random.default_rng(0)
    steps, envs, agents = 12, 5, 3
    reward = rng.normal(size=(steps, envs, agents)).astype(np.float32)
    next_value = rng.normal(size=(steps, envs, agents)).astype(np.float32)
    done = rng.random((steps, envs)) < 0.3
    terminated = done & (rng.random((steps, envs)) < 0.5)  # the others are truncations
    discount = np.broadcast_to(~terminated[..., None], reward.shape).astype(np.float32)
    assert terminated.any() and (done & ~terminated).any()
    g = pqn.q_lambda_targets(
        jnp.asarray(reward), jnp.asarray(discount), jnp.asarray(done), jnp.asarray(next_value),
        hparams(lambda_=lambda_),
    )  # fmt: skip
    expected = loop_reference(reward, discount, done, next_value, GAMMA, lambda_)
    np.testing.assert_allclose(g, expected, rtol=1e-5, atol=1e-5)


def test_lambda_zero_is_one_step_q_learning():
    rng = np.random.default_rng(1)
    reward = jnp.asarray(rng.normal(size=(6, 4, 2)), jnp.float32)
    discount = jnp.asarray(rng.random((6, 4, 2)) < 0.8, jnp.float32)
    done = jnp.asarray(rng.random((6, 4)) < 0.3)
    q_next = jnp.asarray(rng.normal(size=(6, 4, 2, 5)), jnp.float32)
    mask = jnp.asarray(rng.random((6, 4, 2, 5)) < 0.7).at[..., 0].set(True)
    next_value = jnp.max(jnp.where(mask, q_next, -1e9), axis=-1)
    g = pqn.q_lambda_targets(reward, discount, done, next_value, hparams(lambda_=0.0))
    y = q_learning_target(reward, discount, jnp.float32(GAMMA), q_next, q_next, mask)
    np.testing.assert_allclose(g, y, rtol=1e-6, atol=1e-6)


def test_pqn_vdn_joint_value_is_the_sum_of_the_agents():
    """The joint target bootstraps from Σ_i max Q_i on the team reward, and the loss
    regresses Σ_i Q(h_i, a_i) on it: by hand, two agents, two steps, λ = 0.5.

        G_1 = 1 + 0.9·(2 + 3)             = 5.5
        G_0 = 1 + 0.9·(0.5·(1 − 1) + 0.5·G_1) = 3.475
        loss_0 = (3.475 − (0.5 + 1.5))² = 2.175625
    """
    reward = jnp.ones((2, 1, 2))
    discount = jnp.ones((2, 1, 2))
    done = jnp.zeros((2, 1), bool)
    next_value = jnp.array([[[1.0, -1.0]], [[2.0, 3.0]]])
    g = pqn_vdn.targets(reward, discount, done, next_value, None, hparams())
    np.testing.assert_allclose(g[:, 0, 0], [3.475, 5.5], rtol=1e-6)
    q_taken = jnp.array([[[0.5, 1.5]], [[2.0, 2.0]]])
    np.testing.assert_allclose(pqn_vdn.loss(q_taken, g, None)[:, 0], [2.175625, 2.25], rtol=1e-6)
    independent = pqn.targets(reward, discount, done, next_value, None, hparams())
    assert independent.shape == (2, 1, 2)  # one target per agent, on its own reward


def test_pqn_qmix_bootstraps_from_and_regresses_the_mixed_value():
    """A mixer whose weights are all zero but the bias of V(z)'s output, c = 2, mixes
    any utilities into Q_tot = c. By hand, two agents, two steps, λ = 0.5, γ = 0.9:

        G_1 = 1 + 0.9·2                  = 2.8
        G_0 = 1 + 0.9·(0.5·2 + 0.5·G_1)  = 3.16
        loss_t = (G_t − 2)²              = 1.3456, 0.64

    (Σ_i max Q_i would give G_1 = 5.5). With random weights the loss is the squared
    error of f_mix(q; z), which is not the sum of the utilities."""
    mixer = QMixer(embed_dim=4, hypernet_hidden=8)
    q_next = jnp.array([[[1.0, -1.0]], [[2.0, 3.0]]])  # [T, B, N]
    z = jnp.array([[[0.3, -0.2, 1.0]], [[0.5, 0.1, -1.0]]])  # [T, B, S]
    params = mixer.init(jax.random.key(0), q_next, z)
    zero = jax.tree.map(jnp.zeros_like, params)
    bias = zero["params"]["hyper_b2"]["Dense_1"]["bias"]
    constant = jax.tree.map(lambda x: x, zero)
    constant["params"]["hyper_b2"]["Dense_1"]["bias"] = bias + 2.0
    reward, discount = jnp.ones((2, 1, 2)), jnp.ones((2, 1, 2))
    done = jnp.zeros((2, 1), bool)
    mix = pqn_qmix.mix_with(mixer)
    targets, loss = pqn.joint_targets(mix), pqn.joint_loss(mix)
    g = targets(reward, discount, done, q_next, pqn.Joint(constant, z), hparams())
    np.testing.assert_allclose(g[:, 0, 0], [3.16, 2.8], rtol=1e-6)
    q_taken = jnp.array([[[0.5, 1.5]], [[2.0, 2.0]]])
    got = loss(q_taken, g, pqn.Joint(constant, z))[:, 0]
    np.testing.assert_allclose(got, [1.3456, 0.64], rtol=1e-5)
    q_tot = mixer.apply(params, q_taken, z)
    np.testing.assert_allclose(loss(q_taken, g, pqn.Joint(params, z)), (g[..., 0] - q_tot) ** 2)
    assert not np.allclose(q_tot, q_taken.sum(-1))


@pytest.mark.parametrize("recurrent", [False, True])
@pytest.mark.parametrize("episode_length", [10, 3])
def test_targets_bootstrap_from_every_true_next_observation(recurrent, episode_length):
    """make_batch's Q(λ) targets, which take the next observation's value from the
    acting pass (feed-forward) or the unroll (recurrent) inside an episode and
    step only at episode and rollout ends, equal the targets of stepping every
    true next observation. LBF truncated at 10 steps: 16 ends in 16 x 8 steps fit
    the 23 gathered; at 3 steps, 48 do not and every step is stepped."""
    t, b = 16, 8
    config = jm.make_config(
        "pqn",
        env="lbf-8x8-2p-2f-coop",
        recurrent=recurrent,
        num_envs=b,
        rollout_length=t,
        hidden_size=16,
        env_kwargs={"episode_length": episode_length},
    )
    env = build_env(config)
    net = make_agent_net(env.num_agents, (16,), env.num_actions, True, recurrent)
    venv = VecEnv(env, b)
    setup = pqn.Setup(config, venv, net, pqn.targets, pqn.loss, optax.adam(1e-3), None)
    k_env, k_net, k_act = jax.random.split(jax.random.key(3), 3)
    env_state = venv.reset(k_env)
    params = net.init(k_net, env_state.obs.agents_view[0])
    start = net.initial_carry((b,))
    first = jnp.ones((b,), bool)
    keys = jax.random.split(k_act, t)
    *_, rollout, _ = actor_critic.collect(
        setup, params, env_state, start, first, keys, pqn.behaviour(jnp.float32(0.5))
    )
    hp = {**config.hparams, "reward_scale": jnp.float32(1.0)}
    batch = jax.jit(lambda p, r: pqn.make_batch(setup, p, {}, r, start, hp))(params, rollout)

    carries, _ = net.unroll(params, start, rollout.obs.agents_view, rollout.first)
    no_reset = jnp.zeros((t, b), bool)
    _, q_next = net.step(params, carries, rollout.next_obs.agents_view, no_reset)
    next_value = masked_max(q_next, rollout.next_obs.action_mask)
    joint = pqn.Joint({}, jnp.zeros((t, b, 0)))
    expected = pqn.targets(rollout.reward, rollout.discount, rollout.done, next_value, joint, hp)
    ends = int(rollout.first[1:].sum()) + b
    assert ends == (16 if episode_length == 10 else 48), ends
    assert bool(rollout.done[:-1].any())  # the stored values do not all apply
    np.testing.assert_allclose(batch.target.reshape(t, b, -1), expected, rtol=1e-5, atol=1e-5)


SMALL = dict(total_timesteps=2_048, num_logs=4, num_envs=8, rollout_length=8, hidden_size=16)


@pytest.mark.parametrize(
    "algo, recurrent", [("pqn", False), ("pqn_vdn", True), ("pqn_qmix", False)]
)
def test_update_traces_once_and_a_vmapped_seed_equals_the_seed_alone(algo, recurrent):
    config = jm.make_config(algo, env="climbing", recurrent=recurrent, **SMALL)
    _, algorithm = make_algorithm(config)
    state = jax.jit(algorithm.init)(jax.random.key(0), config.hparams)
    chex.clear_trace_counter()
    update = jax.jit(chex.assert_max_traces(algorithm.update, n=1))
    _, m1 = update(state, config.hparams)
    _, m2 = update(state, {**config.hparams, "lr": jnp.float32(0.1)})
    assert {"loss", "q_taken", "epsilon", "episode_return_sum", "episodes"} <= set(m1)
    if algo == "pqn_qmix":  # the mixer is trained with the agents
        after, _ = update(state, config.hparams)
        moved = jax.tree.map(lambda a, b: not np.array_equal(a, b), state.mixer, after.mixer)
        assert all(jax.tree.leaves(moved))
    assert float(m1["epsilon"]) == 1.0 and float(m1["loss"]) != float(m2["loss"])

    train = jm.make_train(config)
    keys = seed_keys(2)
    batched = jax.device_get(jax.jit(jax.vmap(train))(keys))
    for k in range(2):
        alone = jax.device_get(jax.jit(train)(keys[k]))
        seed_k = jax.tree.map(lambda x, k=k: x[k], batched)
        chex.assert_trees_all_close(seed_k.metrics, alone.metrics, rtol=1e-4, atol=1e-4)
        chex.assert_trees_all_close(seed_k.state.params, alone.state.params, rtol=1e-4, atol=1e-4)
    assert not np.array_equal(batched.metrics["loss"][0], batched.metrics["loss"][1])


def test_config_checks():
    with pytest.raises(ConfigError, match="minibatches=3 does not divide num_envs \\* rollout"):
        jm.make_config("pqn", env="climbing", num_envs=4, rollout_length=4, minibatches=3)
    with pytest.raises(ConfigError, match="minibatches=8 does not divide num_envs=4"):
        jm.make_config("pqn", env="climbing", recurrent=True, num_envs=4, minibatches=8)
    with pytest.raises(ConfigError, match="individual_rewards"):
        make_algorithm(
            jm.make_config("pqn_vdn", env="lbf-8x8-2p-2f", env_kwargs={"individual_rewards": True})
        )
    assert jm.make_config("pqn", env="climbing", minibatches=32).minibatches == 32  # 256 steps


def test_pqn_vdn_finds_the_optimum_of_penalty_0():
    """PQN-VDN at its defaults (100k steps) on penalty-0, seeds 0-4 in one program: the
    greedy policy earns the optimum, 10 per step = 250 per episode, in at least 4 of 5
    (measured: seeds 1-4 reach 250, seed 0 stays at (B, B) = 50)."""
    config = jm.make_config("pqn_vdn", env="penalty-0", num_logs=5)
    out = jax.jit(jax.vmap(jm.make_train(config)))(seed_keys(5))
    final = np.asarray(out.metrics["eval_return"][:, -1])
    assert (final >= 250.0 - 1e-3).sum() >= 4, final


@pytest.mark.slow
def test_pqn_qmix_finds_the_optimum_of_penalty_0_and_leaves_climbing_s_trap():
    """PQN-QMIX at its defaults (100k steps), seeds 0-4 in one program. Expected:
    on penalty-0 the final greedy policy earns the optimum, 250, in at least 4 of
    5 seeds (measured: all 5); on climbing every seed's greedy return rises above
    the (C,C) = 125 equilibrium IDQN and VDN end in, to at least (B,B) = 175 over
    training (measured: 275, 275, 175, 275, 275; the optimum (A,A) in 4 of 5)."""
    runs = {}
    for game in ("penalty-0", "climbing"):
        config = jm.make_config("pqn_qmix", env=game, num_logs=5)
        out = jax.jit(jax.vmap(jm.make_train(config)))(seed_keys(5))
        runs[game] = np.asarray(out.metrics["eval_return"])
    final_penalty = runs["penalty-0"][:, -1]
    assert (final_penalty >= 250.0 - 1e-3).sum() >= 4, final_penalty
    best_climbing = runs["climbing"].max(axis=1)
    assert np.all(best_climbing >= 175.0 - 1e-3), best_climbing
