"""Unit tests of the action-value critics, COMA and Pareto-AC, and their smoke tests.

Hand-computed cases: COMA's counterfactual advantage on a 2-agent, 3-action
example and Σ_a π(a) Adv(a) = 0; Pareto-AC's π_-i^+, Q^{π+} (per agent, and
from the one joint action all agents agree on, with its tie-break), its
advantage and its loss on a tiny critic table; what the action-value critic sees; the
joint-action limit of Pareto-AC.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmarl_core
from jaxmarl_core.algos import actor_critic, coma, pac
from jaxmarl_core.config import ConfigError
from jaxmarl_core.envs import MatrixGame
from jaxmarl_core.networks.q_critics import (
    make_action_value_critic,
    others_joint_actions,
    others_one_hot,
)
from jaxmarl_core.train import seed_keys
from jaxmarl_core.types import MultiAgentObservation

# A 2-agent, 3-action critic table for agent 1 (rows: own action a_1, columns:
# the other's action a_2), and for agent 2 (rows a_2, columns a_1).
TABLE_1 = jnp.array([[4.0, -2.0, 0.0], [1.0, 3.0, 0.0], [0.0, 2.0, 1.0]])
TABLE_2 = jnp.array([[2.0, 0.0, -1.0], [0.0, 5.0, 0.0], [6.0, 0.0, 1.0]])
PI = jnp.array([[0.5, 0.25, 0.25], [0.2, 0.3, 0.5]])  # π(· | h_1), π(· | h_2)


def test_coma_advantage_by_hand():
    """Joint action (a_1, a_2) = (0, 1). Agent 1: Q(·, a_2 = 1) = [−2, 3, 2],
    baseline 0.5·(−2) + 0.25·3 + 0.25·2 = 0.25, Adv_1 = −2 − 0.25 = −2.25.
    Agent 2: Q(·, a_1 = 0) = [2, 0, 6], baseline 0.2·2 + 0.3·0 + 0.5·6 = 3.4,
    Adv_2 = 0 − 3.4 = −3.4."""
    action = jnp.array([0, 1])
    q = jnp.stack([TABLE_1[:, action[1]], TABLE_2[:, action[0]]])  # [N, A]
    adv = coma.counterfactual_advantage(q, PI, action)
    np.testing.assert_allclose(adv, [-2.25, -3.4], rtol=1e-6)
    adv_jit = jax.jit(coma.counterfactual_advantage)(q, PI, action)
    np.testing.assert_allclose(adv_jit, adv, rtol=1e-6)


def test_coma_advantage_has_zero_mean_under_the_policy():
    """Σ_a π(a | h_i) Adv_i(a) = 0 for each agent, the others' actions fixed."""
    key = jax.random.PRNGKey(0)
    q_key, pi_key = jax.random.split(key)
    q = jax.random.normal(q_key, (7, 2, 3))
    pi = jax.nn.softmax(jax.random.normal(pi_key, (7, 2, 3)))
    own = jnp.arange(3)
    # Adv for every own action a (the other agent's action, inside q, unchanged).
    adv = jax.vmap(
        lambda a: coma.counterfactual_advantage(q, pi, jnp.full((7, 2), a)), out_axes=-1
    )(own)
    np.testing.assert_allclose(jnp.sum(pi * adv, axis=-1), 0.0, atol=1e-6)


def test_pareto_others_and_q_plus_by_hand():
    """Agent 1: a_2^+(a_1) = argmax of each row of TABLE_1 = [0, 1, 1], Q^{π+} =
    [4, 3, 2]; agent 2: a_1^+(a_2) = [0, 1, 0], Q^{π+} = [2, 5, 6]."""
    joint = others_joint_actions(2, 3)  # [K = 3, N, N]
    assert joint.shape == (3, 2, 2)
    # joint_q[k, i, a_i] = Q_i(a_i, the k-th action of the other agent)
    joint_q = jnp.stack([TABLE_1.T, TABLE_2.T], axis=1)  # [K, N, A]
    q_plus, best = pac.pareto_q(joint_q)
    np.testing.assert_allclose(q_plus, [[4.0, 3.0, 2.0], [2.0, 5.0, 6.0]])
    others = [[int(joint[best[i, a], i, 1 - i]) for a in range(3)] for i in range(2)]
    assert others == [[0, 1, 1], [0, 1, 0]]


def test_joint_pareto_q_by_hand():
    """Σ_j Q_j(a_1, a_2) = TABLE_1[a_1, a_2] + TABLE_2[a_2, a_1]:
    rows a_1, columns a_2: [[6, −2, 6], [1, 8, 0], [−1, 2, 2]], so a^+ = (1, 1);
    Q^{π+}_1 = TABLE_1[:, 1] = [−2, 3, 2], Q^{π+}_2 = TABLE_2[:, 1] = [0, 5, 0]."""
    joint_q = jnp.stack([TABLE_1.T, TABLE_2.T], axis=1)  # [K, N, A]
    q_plus, best = pac.joint_pareto_q(joint_q)
    np.testing.assert_allclose(q_plus, [[-2.0, 3.0, 2.0], [0.0, 5.0, 0.0]])
    np.testing.assert_array_equal(best, [1, 1])
    # Batched and jitted: one a^+ per sample.
    batch = jnp.stack([joint_q, joint_q[:, ::-1]])  # [2, K, N, A], second: agents swapped
    q_b, best_b = jax.jit(pac.joint_pareto_q)(batch)
    np.testing.assert_allclose(q_b[0], q_plus)
    np.testing.assert_array_equal(best_b[0], [1, 1])
    assert best_b.shape == (2, 2) and q_b.shape == (2, 2, 3)


def test_joint_pareto_q_breaks_the_penalty_tie_for_all_agents():
    """penalty-100 as both critics: (A, C) and (C, A) tie at 10 + 10 = 20. The
    paper's per-agent form leaves every agent tied between A and C
    (Q^{π+} = [10, 2, 10] for both); the joint form takes the lowest joint index,
    (A, C) = 2 before (C, A) = 6, for both agents: Q^{π+}_1 = P[:, C] =
    [10, 0, −100] (A best), Q^{π+}_2 = P[A, :] = [−100, 0, 10] (C best).
    Near-ties within the tolerance follow the same convention."""
    p = jnp.array([[-100.0, 0.0, 10.0], [0.0, 2.0, 0.0], [10.0, 0.0, -100.0]])
    joint_q = jnp.stack([p.T, p], axis=1)  # joint_q[k, 0, a_1] = P[a_1, k], [k, 1, a_2] = P[k, a_2]
    q_paper, _ = pac.pareto_q(joint_q)
    np.testing.assert_allclose(q_paper, [[10.0, 2.0, 10.0], [10.0, 2.0, 10.0]])
    q_plus, best = pac.joint_pareto_q(joint_q)
    np.testing.assert_array_equal(best, [0, 2])
    np.testing.assert_allclose(q_plus, [[10.0, 0.0, -100.0], [-100.0, 0.0, 10.0]])
    np.testing.assert_array_equal(jnp.argmax(q_plus, axis=-1), best)
    # A learned near-tie: (C, A) 0.05 above (A, C). The plain argmax takes
    # (C, A); within the tolerance 0.1 both count as tied and (A, C) is first.
    noisy = joint_q.at[0, 0, 2].add(0.05).at[2, 1, 0].add(0.05)  # Q_1(C, A), Q_2(C, A)
    np.testing.assert_array_equal(pac.joint_pareto_q(noisy)[1], [2, 0])
    np.testing.assert_array_equal(pac.joint_pareto_q(noisy, 0.1)[1], [0, 2])
    np.testing.assert_array_equal(pac.joint_pareto_q(noisy, 0.01)[1], [2, 0])


@pytest.mark.parametrize(("n", "a"), [(2, 3), (3, 2), (3, 3), (4, 2)])
def test_joint_action_tables_find_each_joint_action_in_every_critic(n, a):
    """Row k_of[j, i] of others_joint_actions, for agent i, is joint action j
    with agent i's own slot zeroed; joint actions run lexicographically."""
    joint, k_of = pac.joint_action_tables(n, a)
    assert joint.shape == k_of.shape == (a**n, n)
    np.testing.assert_array_equal(joint[1], [0] * (n - 1) + [1])
    np.testing.assert_array_equal(joint[-1], [a - 1] * n)
    others = others_joint_actions(n, a)
    for i in range(n):
        hidden = joint.copy()
        hidden[:, i] = 0
        np.testing.assert_array_equal(others[k_of[:, i], i], hidden)


def test_pareto_advantage_and_loss_by_hand():
    """Actions (a_1, a_2) = (1, 2). V^{π+}_1 = 0.5·4 + 0.25·3 + 0.25·2 = 3.25,
    Adv_1 = 3 − 3.25 = −0.25; V^{π+}_2 = 0.2·2 + 0.3·5 + 0.5·6 = 4.9,
    Adv_2 = 6 − 4.9 = 1.1. Loss = −Adv log π(a_i): 0.25 log 0.25, −1.1 log 0.5."""
    q_plus = jnp.array([[4.0, 3.0, 2.0], [2.0, 5.0, 6.0]])
    action = jnp.array([1, 2])
    adv = pac.pareto_advantage(q_plus, PI, action)
    np.testing.assert_allclose(adv, [-0.25, 1.1], rtol=1e-5)
    log_prob = jnp.log(PI[jnp.arange(2), action])
    batch = actor_critic.Batch(
        obs=None,
        action=action,
        log_prob=log_prob,
        advantage=adv,
        target=jnp.zeros(2),
        mask=jnp.ones(2),
        first=None,
        start=None,
        value=jnp.zeros(2),
    )
    per_sample, _ = pac.loss(log_prob, batch, {})
    np.testing.assert_allclose(per_sample, [0.25 * np.log(0.25), -1.1 * np.log(0.5)], rtol=1e-5)
    # Its gradient raises π(a_2 = 2 | h_2), whose Q^{π+} beats V^{π+}.
    grad = jax.grad(lambda lp: pac.loss(lp, batch, {})[0].sum())(log_prob)
    np.testing.assert_allclose(grad, -adv, rtol=1e-6)


def test_entropy_coefficient_anneals_linearly_then_stays():
    h = {"ent_coef": 20.0, "ent_coef_end": 0.01, "ent_anneal_fraction": 0.8}
    at = [float(pac.annealed_entropy(h, jnp.float32(p))["ent_coef"]) for p in (0, 0.4, 0.8, 1)]
    np.testing.assert_allclose(at, [20.0, 10.005, 0.01, 0.01], rtol=1e-5, atol=1e-6)


def test_others_one_hot_hides_the_own_action():
    rows = others_one_hot(jnp.array([2, 0, 1]), 3)  # [N, N * A]
    expect = np.array(
        [
            [0, 0, 0, 1, 0, 0, 0, 1, 0],
            [0, 0, 1, 0, 0, 0, 0, 1, 0],
            [0, 0, 1, 1, 0, 0, 0, 0, 0],
        ],
        np.float32,
    )
    np.testing.assert_array_equal(rows, expect)


@pytest.mark.parametrize("param_sharing", [True, False])
def test_joint_q_values_match_q_values_for_every_joint_action(param_sharing):
    """joint_q_values enumerates exactly the inputs q_values sees, in its order."""
    n, a = 3, 2
    critic = make_action_value_critic(n, a, (8,), param_sharing)
    obs = MultiAgentObservation(
        agents_view=jax.random.normal(jax.random.PRNGKey(1), (5, n, 4)),
        action_mask=jnp.ones((5, n, a), bool),
        global_state=jax.random.normal(jax.random.PRNGKey(2), (5, 6)),
        step_count=jnp.zeros((5,), jnp.int32),
    )
    params = critic.init(
        jax.random.PRNGKey(0), jax.tree_util.tree_map(lambda x: x[0], obs), jnp.zeros(n, jnp.int32)
    )
    joint_q = critic.joint_q_values(params, obs)  # [5, K, N, A]
    joint = others_joint_actions(n, a)
    assert joint_q.shape == (5, a ** (n - 1), n, a)
    for k in range(joint.shape[0]):
        for i in range(n):
            q = critic.q_values(params, obs, jnp.broadcast_to(joint[k, i], (5, n)))
            np.testing.assert_allclose(joint_q[:, k, i], q[:, i], rtol=1e-5, atol=1e-6)


def test_pac_refuses_too_many_joint_actions():
    """|A|^(N−1) = 3^10 joint actions of the others exceeds the default limit 1024."""
    game = MatrixGame(jnp.zeros((3,) * 11), episode_length=1)
    cfg = jaxmarl_core.make_config("pac", env=game, total_timesteps=100)
    with pytest.raises(ConfigError, match="max_joint_actions=1024"):
        jaxmarl_core.make_train(cfg)
    assert pac.check_joint_actions(2, 3, 1024) == 3
    assert pac.check_joint_actions(6, 4, 1024) == 1024


def test_pac_defaults_are_the_published_config():
    cfg = jaxmarl_core.make_config("pac", env="climbing")
    assert cfg.param_sharing is False
    assert (cfg.lr, cfg.ent_coef, cfg.ent_coef_end, cfg.ent_anneal_fraction) == (
        3e-4,
        20.0,
        0.01,
        0.8,
    )
    assert cfg.n_steps == 10
    assert (cfg.joint_pareto, cfg.tie_tolerance) == (True, 0.1)  # issue 12, not the paper


# ---------------------------------------------------------------------------
# Smoke tests


@pytest.mark.parametrize("algo", ["coma", "pac"])
@pytest.mark.parametrize(
    "env", ["climbing", pytest.param("lbf-8x8-2p-2f-coop", marks=pytest.mark.slow)]
)
def test_smoke(algo, env):
    cfg = jaxmarl_core.make_config(
        algo,
        env=env,
        total_timesteps=160,
        num_envs=4,
        rollout_length=4,
        hidden_size=8,
        num_logs=2,
        num_eval_episodes=1,
        env_kwargs={"episode_length": 5} if env == "climbing" else {},
    )
    train = jax.jit(jax.vmap(jaxmarl_core.make_train(cfg)))
    out, again = train(seed_keys(2)), train(seed_keys(2))
    np.testing.assert_array_equal(out.metrics["critic_loss"], again.metrics["critic_loss"])
    # The target network is a copy of the critic, moved toward it by target_tau.
    assert jax.tree_util.tree_structure(out.state.target_critic) == jax.tree_util.tree_structure(
        out.state.params.critic
    )
    for name in ("eval_return", "critic_loss", "actor_loss", "entropy"):
        assert np.isfinite(np.asarray(out.metrics[name])).all(), name
    a, b = jax.tree_util.tree_leaves(out.state.params.critic)[0]
    assert not np.allclose(a, b), "two seeds gave the same critic"
