"""Unit and smoke tests of the value-based family: IDQN and its replay fixes, VDN,
QMIX and QTRAN, each against values computed by hand on a tiny example.

The losses are tested through each module's loss, on the runner's
``LossInput`` of a one-step sequence, with a *tabular* agent network:
observations are one-hot state indicators and ``Q(h_i, a) = table[i, state, a]``,
so every utility is a number set by hand.
"""

from __future__ import annotations

import itertools
import math

import chex
import flashbax as fbx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_envs import fast_compile

import jaxmarl_core
from jaxmarl_core.algos import idqn, qmix, qtran, value_based, vdn
from jaxmarl_core.config import ConfigError
from jaxmarl_core.core import replay_fixes
from jaxmarl_core.core.exploration import epsilon_greedy_probs
from jaxmarl_core.core.targets import greedy_value, q_learning_target, td_target
from jaxmarl_core.envs import MatrixGame, make_env
from jaxmarl_core.networks.agents import AgentNet
from jaxmarl_core.networks.mixers import (
    JointActionValue,
    QMixer,
    StateValue,
    joint_action_index,
    joint_input,
    scale_qmix_outputs,
    vdn_mix,
)
from jaxmarl_core.train import make_algorithm, seed_keys
from jaxmarl_core.types import MultiAgentObservation

KEY = jax.random.PRNGKey(0)


def _tabular(table, x):
    return jnp.einsum("...ns,nsa->...na", x, table)


# A tabular utility network: agents_view [..., N, S] one-hot -> table [N, S, A].
TABULAR = AgentNet(
    init=None,
    initial_carry=lambda batch_shape=(): jnp.zeros(tuple(batch_shape) + (2, 0)),
    step=lambda table, carry, x, first: (carry, _tabular(table, x)),
    unroll=lambda table, carry, x, first: (jnp.zeros(x.shape[:-1] + (0,)), _tabular(table, x)),
    recurrent=False,
)


def observation(states, num_states: int, num_actions: int) -> MultiAgentObservation:
    """A batch of observations where agent i of sample b sees state ``states[b][i]``."""
    states = jnp.asarray(states)
    b, n = states.shape
    return MultiAgentObservation(
        agents_view=jax.nn.one_hot(states, num_states),
        action_mask=jnp.ones((b, n, num_actions), bool),
        global_state=jax.nn.one_hot(states[:, 0], num_states),
        step_count=jnp.zeros((b,), jnp.int32),
    )


def transition(states, actions, rewards, discounts, next_states, num_states=2, num_actions=2):
    """B one-step sequences: a stored batch [T=1, B] with IDQN's stored extras."""
    b, n = np.asarray(actions).shape
    fields = dict(
        obs=observation(states, num_states, num_actions),
        first=jnp.ones((b,), bool),
        carry=jnp.zeros((b, n, 0), jnp.float32),
        action=jnp.asarray(actions, jnp.int32),
        reward=jnp.asarray(rewards, jnp.float32),
        discount=jnp.asarray(discounts, jnp.float32),
        next_obs=observation(next_states, num_states, num_actions),
        extras={
            "behaviour_prob": jnp.ones((b, n), jnp.float32),
            "leniency": jnp.zeros((b, n), jnp.float32),
        },
    )
    return jax.tree_util.tree_map(lambda x: x[None], value_based.Transition(**fields))


def with_extras(batch, **kw):
    """``batch`` with IDQN's stored ``behaviour_prob`` or ``leniency`` [B, N] replaced."""
    new = {k: jnp.asarray(v, jnp.float32)[None] for k, v in kw.items()}
    return batch._replace(extras={**batch.extras, **new})


def run_loss(loss, double_q, params, target, batch, hp, epsilon=0.1):
    """The algorithm's loss on the runner's LossInput of ``batch`` (no burn-in)."""
    inputs = value_based.loss_input(TABULAR, double_q, params, target, batch, 0, epsilon)
    return loss(params, target, inputs, hp, KEY)


# Two agents, states {0, 1}, actions {0, 1}. Online and target tables [N, S, A].
ONLINE = jnp.array([[[1.0, 2.0], [3.0, 0.5]], [[0.0, -1.0], [4.0, 6.0]]])
TARGET = jnp.array([[[0.0, 0.0], [5.0, 7.0]], [[0.0, 0.0], [8.0, 2.0]]])
# Sample 0 truncates (discount 1), sample 1 terminates (discount 0); both go 0 -> 1.
BATCH = transition(
    states=[[0, 0], [0, 0]],
    actions=[[0, 1], [1, 0]],
    rewards=[[1.0, 1.0], [2.0, 2.0]],
    discounts=[[1.0, 1.0], [0.0, 0.0]],
    next_states=[[1, 1], [1, 1]],
)
GAMMA = 0.5


def hparams(algo: str, **over) -> dict:
    cfg = jaxmarl_core.make_config(algo, env="climbing", gamma=GAMMA)
    return {**cfg.hparams, **{k: jnp.float32(v) for k, v in over.items()}}


def params_of(table):
    return {"agent": table}


# ---------------------------------------------------------------------------
# TD targets


def test_td_target_dqn_double_q_termination_truncation():
    r = jnp.array([1.0, 2.0])
    d = jnp.array([1.0, 0.0])  # truncation bootstraps, termination does not
    q_target = jnp.array([[1.0, 5.0, 3.0], [2.0, 0.0, 4.0]])
    q_online = jnp.array([[4.0, 1.0, 0.0], [0.0, 0.0, 9.0]])
    mask = jnp.ones((2, 3), bool)
    # DQN: max of the target values, 5 and 4.
    dqn = q_learning_target(r, d, 0.9, q_target, q_target, mask)
    np.testing.assert_allclose(dqn, [1.0 + 0.9 * 5.0, 2.0])
    # Double Q: the online argmax (0, 2) evaluated by the target: 1 and 4.
    double = q_learning_target(r, d, 0.9, q_target, q_online, mask)
    np.testing.assert_allclose(double, [1.0 + 0.9 * 1.0, 2.0])
    # A masked action is never the argmax.
    masked = jnp.array([[True, False, True], [True, True, True]])
    np.testing.assert_allclose(greedy_value(q_target, q_target, masked), [3.0, 4.0])
    # Targets carry no gradient.
    g = jax.grad(lambda q: td_target(r, d, 0.9, q).sum())(jnp.ones(2))
    np.testing.assert_allclose(g, 0.0)


@pytest.mark.parametrize("double_q", [True, False])
def test_idqn_loss_by_hand(double_q):
    cfg = jaxmarl_core.make_config("idqn", env="climbing", double_q=double_q)
    loss = idqn.make_loss(cfg)
    value, _ = run_loss(
        loss, double_q, params_of(ONLINE), params_of(TARGET), BATCH, hparams("idqn")
    )
    # Next state 1. Agent 0: online [3, .5] picks 0, target [5, 7]; agent 1:
    # online [4, 6] picks 1, target [8, 2].
    next_value = [5.0, 2.0] if double_q else [7.0, 8.0]
    y = [
        [1.0 + GAMMA * next_value[0], 1.0 + GAMMA * next_value[1]],  # truncated
        [2.0, 2.0],  # terminated
    ]
    q_taken = [[1.0, -1.0], [2.0, 0.0]]
    expected = np.mean((np.array(y) - np.array(q_taken)) ** 2)
    np.testing.assert_allclose(value, expected, rtol=1e-6)


# ---------------------------------------------------------------------------
# IDQN's replay fixes


def test_hysteretic_weights_and_update_scale_negative_errors_by_beta():
    td = jnp.array([-2.0, 0.0, 3.0])
    np.testing.assert_allclose(replay_fixes.hysteretic_weights(td, 0.25), [0.25, 1.0, 1.0])

    # Through IDQN's loss: the gradient on Q(h, a) of a negative TD error is
    # beta times the plain one, that of a positive error unchanged.
    cfg = jaxmarl_core.make_config("idqn", env="climbing", double_q=False)
    loss = idqn.make_loss(cfg)

    def grad(beta, online=ONLINE):
        hp = hparams("idqn", hysteretic_beta=beta)
        return jax.grad(
            lambda t: run_loss(loss, False, params_of(t), params_of(TARGET), BATCH, hp)[0]
        )(online)

    # DQN targets y = [[4.5, 5], [2, 2]], Q taken = [[1, -1], [2, 0]]: errors
    # [[3.5, 6], [0, 2]], none negative, so beta changes nothing. The mean over 4
    # entries gives dL/dQ = -2 w δ / 4 at each taken entry.
    plain, hyst = grad(1.0), grad(0.25)
    np.testing.assert_allclose(plain[0, 0, 0], -2 * 3.5 / 4)
    np.testing.assert_allclose(hyst, plain)

    # Raise agent 0's Q(state 0, action 0) to 10: its error in sample 0 is 4.5 - 10 < 0.
    high = ONLINE.at[0, 0, 0].set(10.0)
    g1, gb = grad(1.0, high), grad(0.25, high)
    np.testing.assert_allclose(g1[0, 0, 0], -2 * (-5.5) / 4)
    np.testing.assert_allclose(gb[0, 0, 0], 0.25 * -2 * (-5.5) / 4)
    np.testing.assert_allclose(gb[1], g1[1])  # agent 1's errors are positive: unchanged


def test_epsilon_greedy_probs_by_hand():
    q = jnp.array([[1.0, 3.0, 2.0], [1.0, 3.0, 2.0]])
    mask = jnp.array([[True, True, True], [True, False, True]])
    probs = epsilon_greedy_probs(q, mask, jnp.array([1, 0]), 0.3)
    # Row 0: greedy 1 -> 0.3/3 + 0.7. Row 1: greedy 2 (1 masked), action 0 -> 0.3/2.
    np.testing.assert_allclose(probs, [0.1 + 0.7, 0.15], rtol=1e-6)


def test_importance_weights_by_hand():
    current = jnp.array([[0.5, 0.2, 1.0]])
    stored = jnp.array([[0.25, 0.4, 0.5]])
    # Ratios (2, 0.5, 2); agent i's weight is the product of the others' ratios:
    # 0.5*2 = 1, 2*2 = 4 -> truncated at 3, 2*0.5 = 1.
    np.testing.assert_allclose(
        replay_fixes.importance_weights(current, stored, 3.0), [[1.0, 3.0, 1.0]], rtol=1e-6
    )
    np.testing.assert_allclose(
        replay_fixes.importance_weights(current, stored, 10.0), [[1.0, 4.0, 1.0]], rtol=1e-6
    )


def test_idqn_loss_with_importance_weights_by_hand():
    # Stored behaviour probabilities (0.5, 0.25) per sample; with epsilon 0.2 and two
    # actions, the current policy gives 0.9 to the greedy action and 0.1 to the other.
    # Greedy at state 0: agent 0 -> 1 (Q = [1, 2]), agent 1 -> 0 (Q = [0, -1]).
    batch = with_extras(BATCH, behaviour_prob=[[0.5, 0.25], [0.5, 0.25]])
    cfg = jaxmarl_core.make_config("idqn", env="climbing", double_q=False, importance_sampling=True)
    loss = idqn.make_loss(cfg)
    hp = hparams("idqn", importance_clip=100.0)
    value, metrics = run_loss(loss, False, params_of(ONLINE), params_of(TARGET), batch, hp, 0.2)
    # Sample 0 actions (0, 1): current (0.1, 0.1); ratios (0.2, 0.4).
    # Sample 1 actions (1, 0): current (0.9, 0.9); ratios (1.8, 3.6).
    # Agent 0 is weighted by agent 1's ratio and vice versa.
    w = np.array([[0.4, 0.2], [3.6, 1.8]])
    td = np.array([[4.5 - 1.0, 5.0 + 1.0], [2.0 - 2.0, 2.0 - 0.0]])
    np.testing.assert_allclose(value, np.mean(w * td**2), rtol=1e-5)
    np.testing.assert_allclose(metrics["importance_weight"], w.mean(), rtol=1e-5)


def test_leniency_from_visits_by_hand():
    visits = jnp.array([0, 10, 100])
    expected = [1 - math.exp(-2.0 * 0.9**n) for n in (0, 10, 100)]
    np.testing.assert_allclose(replay_fixes.leniency(visits, 2.0, 0.9), expected, rtol=1e-5)


def test_visit_table_counts_and_stores_leniency_before_the_visit():
    counts = jnp.zeros((2, 4, 3), jnp.int32)  # [N, buckets, A]
    buckets = jnp.array([[1, 2], [1, 2]])  # two environments, same buckets
    actions = jnp.array([[0, 1], [0, 2]])
    counts, lenient = replay_fixes.visit(counts, buckets, actions, 2.0, 0.5)
    np.testing.assert_allclose(lenient, 1 - math.exp(-2.0), rtol=1e-6)
    assert counts[0, 1, 0] == 2 and counts[1, 2, 1] == 1 and counts[1, 2, 2] == 1
    assert counts.sum() == 4
    _, lenient = replay_fixes.visit(counts, buckets, actions, 2.0, 0.5)
    # Agent 0's (bucket 1, action 0) has 2 visits: T = 0.25; agent 1's have 1: T = 0.5.
    np.testing.assert_allclose(lenient[:, 0], 1 - math.exp(-2.0 * 0.25), rtol=1e-6)
    np.testing.assert_allclose(lenient[:, 1], 1 - math.exp(-2.0 * 0.5), rtol=1e-6)


def test_simhash_is_a_deterministic_bucket():
    projection = replay_fixes.simhash_projection(5, 8)
    obs = jax.random.normal(KEY, (100, 5))
    buckets = replay_fixes.simhash(obs, projection)
    assert buckets.dtype == jnp.int32 and buckets.shape == (100,)
    assert int(buckets.min()) >= 0 and int(buckets.max()) < 2**8
    np.testing.assert_array_equal(buckets, replay_fixes.simhash(obs, projection))
    assert len(np.unique(buckets)) > 10  # different observations spread out
    # Positive rescaling keeps the bucket (signs of a linear projection).
    np.testing.assert_array_equal(buckets, replay_fixes.simhash(3.0 * obs, projection))


def test_leniency_ignores_negative_updates_with_the_stated_probability():
    n = 200_000
    lenient = jnp.full((n,), 0.3)
    negative = replay_fixes.lenient_weights(jax.random.PRNGKey(7), -jnp.ones(n), lenient)
    ignored = 1.0 - float(negative.mean())
    # Binomial standard error sqrt(0.3 * 0.7 / n) ~ 0.001: allow 5 of them.
    assert abs(ignored - 0.3) < 0.005, ignored
    positive = replay_fixes.lenient_weights(jax.random.PRNGKey(7), jnp.ones(n), lenient)
    assert float(positive.min()) == 1.0  # positive errors are never ignored
    # Through IDQN's loss: with leniency 1 every negative error is dropped.
    cfg = jaxmarl_core.make_config("idqn", env="climbing", double_q=False, lenient=True)
    loss = idqn.make_loss(cfg)
    high = ONLINE.at[0, 0, 0].set(10.0)  # agent 0's errors negative
    batch = with_extras(BATCH, leniency=jnp.ones((2, 2)))
    value, metrics = run_loss(
        loss, False, params_of(high), params_of(TARGET), batch, hparams("idqn")
    )
    td_agent1 = np.array([5.0 + 1.0, 2.0 - 0.0])
    np.testing.assert_allclose(value, np.sum(td_agent1**2) / 4, rtol=1e-6)
    np.testing.assert_allclose(metrics["ignored_fraction"], 0.25)  # 1 of 4 errors


def test_small_buffer_keeps_only_the_newest_transitions():
    # 8 environments, 16 transitions kept: after 5 updates, only the last two
    # steps of every environment (step counts 3 and 4 of the matrix game) remain.
    cfg = jaxmarl_core.make_config(
        "idqn",
        env="climbing",
        buffer_size=16,
        batch_size=8,
        num_envs=8,
        learning_starts=0,
        hidden_size=8,
        total_timesteps=40,
    )
    env = jaxmarl_core.make_env("climbing")
    algo = idqn.make(env, cfg)
    state = algo.init(KEY, cfg.hparams)
    update = jax.jit(algo.update)
    for _ in range(5):
        state, _ = update(state, cfg.hparams)
    stored = state.buffer.experience.obs.step_count
    assert stored.size == 16
    np.testing.assert_array_equal(np.sort(np.asarray(stored).ravel()), [3] * 8 + [4] * 8)


def test_buffer_smaller_than_an_update_is_refused():
    with pytest.raises(ConfigError, match="buffer_size"):
        jaxmarl_core.make_config("idqn", env="climbing", buffer_size=4, batch_size=4, num_envs=8)


# ---------------------------------------------------------------------------
# VDN, QMIX, QTRAN


def test_vdn_sum_and_loss_by_hand():
    np.testing.assert_allclose(vdn_mix(jnp.array([[1.0, 2.0, 3.0], [0.5, -1.0, 0.0]])), [6, -0.5])
    value, _ = run_loss(vdn.loss, True, params_of(ONLINE), params_of(TARGET), BATCH, hparams("vdn"))
    # Team reward = agent 0's entry; double-Q next values 5 + 2 = 7.
    y = np.array([1.0 + GAMMA * 7.0, 2.0])
    q_tot = np.array([1.0 - 1.0, 2.0 + 0.0])
    np.testing.assert_allclose(value, np.mean((y - q_tot) ** 2), rtol=1e-6)


def random_mixer(key, n=3, s=4):
    mixer = QMixer(embed_dim=8, hypernet_hidden=16)
    params = mixer.init(key, jnp.zeros((1, n)), jnp.zeros((1, s)))
    return mixer, params


def test_qmix_is_monotonic_in_every_utility():
    @jax.jit  # one program for the five seeds
    def utility_gradients(key):
        pkey, qkey, skey = jax.random.split(key, 3)
        mixer, params = random_mixer(pkey)
        q = 5.0 * jax.random.normal(qkey, (64, 3))
        z = jax.random.normal(skey, (64, 4))
        return jax.vmap(jax.grad(mixer.apply, argnums=1), in_axes=(None, 0, 0))(params, q, z)

    for seed in range(5):
        grads = utility_gradients(jax.random.PRNGKey(seed))
        assert grads.shape == (64, 3)
        assert float(grads.min()) >= 0.0


def test_qmix_greedy_joint_action_is_the_agents_greedy_actions():
    n, a = 3, 4
    joint = jnp.array(list(itertools.product(range(a), repeat=n)))  # [A**N, N]
    for seed in range(5):
        pkey, qkey, skey = jax.random.split(jax.random.PRNGKey(100 + seed), 3)
        mixer, params = random_mixer(pkey, n=n)
        utilities = jax.random.normal(qkey, (n, a))
        z = jax.random.normal(skey, (4,))
        chosen = utilities[jnp.arange(n), joint]  # [A**N, N]
        q_tot = mixer.apply(params, chosen, jnp.broadcast_to(z, (joint.shape[0], 4)))
        np.testing.assert_array_equal(joint[jnp.argmax(q_tot)], jnp.argmax(utilities, -1))


def test_qmix_loss_uses_target_mixer_on_next_state():
    mixer, mparams = random_mixer(KEY, n=2, s=2)
    _, tparams = random_mixer(jax.random.PRNGKey(1), n=2, s=2)
    loss = qmix.make_loss(mixer)
    params = {"agent": ONLINE, "mixer": mparams}
    target = {"agent": TARGET, "mixer": tparams}
    value, _ = run_loss(loss, True, params, target, BATCH, hparams("qmix"))
    z, z_next = BATCH.obs.global_state[0], BATCH.next_obs.global_state[0]
    q_next = mixer.apply(tparams, jnp.array([[5.0, 2.0], [5.0, 2.0]]), z_next)
    y = jnp.array([1.0, 2.0]) + GAMMA * jnp.array([1.0, 0.0]) * q_next
    q_tot = mixer.apply(mparams, jnp.array([[1.0, -1.0], [2.0, 0.0]]), z)
    np.testing.assert_allclose(value, jnp.mean((y - q_tot) ** 2), rtol=1e-5)


def test_qmix_mixer_init_scale_scales_the_hypernetwork_outputs_by_hand():
    """With the output layers scaled by s: Q_tot = s w_2ᵀ elu(s (W_1ᵀ q + b_1)) + s b_2,
    W_1, w_2, b_1, b_2 those of the unscaled mixer (hypernetwork hidden layers unchanged)."""
    mixer = QMixer(embed_dim=2, hypernet_hidden=3)
    params = mixer.init(KEY, jnp.zeros((1, 2)), jnp.zeros((1, 2)))
    q, z = jnp.array([0.5, -2.0]), jnp.array([0.3, -0.7])
    p = params["params"]

    def hidden(layer):  # the hypernetwork's ReLU hidden layer, unscaled
        return jax.nn.relu(z @ layer["Dense_0"]["kernel"] + layer["Dense_0"]["bias"])

    def out(layer, x):
        return x @ layer["kernel"] + layer["bias"]

    w1 = jnp.abs(out(p["hyper_w1"]["Dense_1"], hidden(p["hyper_w1"]))).reshape(2, 2)
    w2 = jnp.abs(out(p["hyper_w2"]["Dense_1"], hidden(p["hyper_w2"])))
    b1 = out(p["hyper_b1"], z)
    b2 = out(p["hyper_b2"]["Dense_1"], hidden(p["hyper_b2"]))[0]
    for s in (1.0, 0.1):
        scaled = scale_qmix_outputs(params, jnp.float32(s))
        expected = s * w2 @ jax.nn.elu(s * (q @ w1 + b1)) + s * b2
        np.testing.assert_allclose(mixer.apply(scaled, q, z), expected, rtol=1e-5, atol=1e-7)
    # Scale 1 is the mixer as initialised, bit for bit; the input is not modified.
    chex.assert_trees_all_equal(scale_qmix_outputs(params, jnp.float32(1.0)), params)
    chex.assert_trees_all_equal(params, mixer.init(KEY, jnp.zeros((1, 2)), jnp.zeros((1, 2))))


def test_qmix_init_applies_mixer_init_scale():
    env = MatrixGame(jnp.eye(2), 1)
    config = jaxmarl_core.make_config("qmix", env=env)
    init = jax.jit(qmix.make(env, config).init)  # one program for both scales
    plain = init(KEY, {**config.hparams, "mixer_init_scale": jnp.float32(1.0)})
    small = init(KEY, {**config.hparams, "mixer_init_scale": jnp.float32(0.01)})
    expected = scale_qmix_outputs(plain.params["mixer"], 0.01)
    chex.assert_trees_all_close(small.params["mixer"], expected)
    chex.assert_trees_all_equal(small.params["agent"], plain.params["agent"])


def test_qtran_losses_by_hand():
    # L_td: Q(h, z, a) = (1, 2) against targets (2, 5): (1 + 9) / 2.
    np.testing.assert_allclose(qtran.td_loss(jnp.array([1.0, 2.0]), jnp.array([2.0, 5.0])), 5.0)
    # L_opt: Σ Q_i(ā) = 3, Q(ā) = 5, V = 1: (3 - 5 + 1)^2 = 1.
    np.testing.assert_allclose(qtran.opt_loss(jnp.array([3.0]), jnp.array([5.0]), 1.0), 1.0)
    # L_nopt: Σ Q_i(a) - Q(a) + V = (1 - 4 + 1, 5 - 2 + 1) = (-2, 4) -> min(0, .)^2 = (4, 0).
    s, q, v = jnp.array([1.0, 5.0]), jnp.array([4.0, 2.0]), jnp.array([1.0, 1.0])
    np.testing.assert_allclose(qtran.nopt_loss(s, q, v), 2.0)
    # Q̂ is held fixed in L_opt and L_nopt: no gradient reaches the joint network.
    np.testing.assert_allclose(jax.grad(qtran.opt_loss, argnums=1)(s, q, v), 0.0)
    np.testing.assert_allclose(jax.grad(qtran.nopt_loss, argnums=1)(s, q, v), 0.0)
    np.testing.assert_allclose(jax.grad(qtran.nopt_loss, argnums=2)(s, q, v), [-2.0, 0.0])


def test_qtran_total_loss_by_hand():
    """QTRAN's loss on the tabular batch with joint Q and V given as tables."""
    joint_q = JointActionValue(hidden=(4,), num_joint_actions=4)
    state_value = StateValue(hidden=(4,))
    loss = qtran.make_loss(joint_q, state_value, num_actions=2)
    step = jax.tree_util.tree_map(lambda x: x[0], BATCH)  # the one step of every sequence
    x = joint_input(step.obs.agents_view, step.obs.global_state)
    key_q, key_v = jax.random.split(KEY)
    params = {
        "agent": ONLINE,
        "joint_q": joint_q.init(key_q, x),
        "value": state_value.init(key_v, x),
    }
    target = {**params, "agent": TARGET}
    hp = hparams("qtran", lambda_opt=0.5, lambda_nopt=2.0)
    value, m = run_loss(loss, True, params, target, BATCH, hp)

    q_jt = joint_q.apply(params["joint_q"], x)  # [B, 4], index = 2 a_0 + a_1
    x_next = joint_input(step.next_obs.agents_view, step.next_obs.global_state)
    q_jt_next = joint_q.apply(params["joint_q"], x_next)
    v = state_value.apply(params["value"], x)
    # Taken (0, 1) -> 1 and (1, 0) -> 2; greedy at state 0: (1, 0) -> 2 with
    # utilities 2 + 0; greedy at next state 1 (online): (0, 1) -> 1.
    y = np.array([1.0, 2.0]) + GAMMA * np.array([1.0, 0.0]) * q_jt_next[:, 1]
    q_taken = np.array([q_jt[0, 1], q_jt[1, 2]])
    l_td = np.mean((y - q_taken) ** 2)
    l_opt = np.mean((2.0 - q_jt[:, 2] + v) ** 2)
    l_nopt = np.mean(np.minimum(0.0, np.array([1.0 - 1.0, 2.0 + 0.0]) - q_taken + v) ** 2)
    np.testing.assert_allclose(m["td_loss"], l_td, rtol=1e-5)
    np.testing.assert_allclose(m["opt_loss"], l_opt, rtol=1e-5)
    np.testing.assert_allclose(m["nopt_loss"], l_nopt, rtol=1e-5)
    np.testing.assert_allclose(value, l_td + 0.5 * l_opt + 2.0 * l_nopt, rtol=1e-5)


def test_joint_action_index_is_row_major():
    actions = jnp.array(list(itertools.product(range(3), repeat=2)))
    np.testing.assert_array_equal(joint_action_index(actions, 3), np.arange(9))


def test_qtran_refuses_too_many_joint_actions():
    big = MatrixGame(np.zeros([2] * 13), name="13-agents")  # 8192 joint actions
    cfg = jaxmarl_core.make_config("qtran", env=big, total_timesteps=100)
    with pytest.raises(ConfigError, match="8192 joint actions.*4096"):
        jaxmarl_core.make_train(cfg)
    ok = MatrixGame(np.zeros([2] * 12), name="12-agents")  # 4096: allowed
    jaxmarl_core.make_train(jaxmarl_core.make_config("qtran", env=ok, total_timesteps=100))


@pytest.mark.parametrize("algo", ["vdn", "qmix", "qtran"])
def test_value_decomposition_refuses_individual_rewards(algo):
    cfg = jaxmarl_core.make_config(
        algo, env="lbf-8x8-2p-2f-coop", **{"env_kwargs.individual_rewards": True}
    )
    with pytest.raises(ConfigError, match="individual_rewards"):
        jaxmarl_core.make_train(cfg)


# ---------------------------------------------------------------------------
# Smoke tests: every algorithm runs, jitted and vmapped, and is deterministic.

TINY = dict(
    total_timesteps=256,
    num_envs=4,
    batch_size=16,
    buffer_size=64,
    learning_starts=32,
    hidden_size=8,
    num_logs=2,
    num_eval_episodes=2,
)


@pytest.mark.parametrize(
    "algo,options",
    [
        ("idqn", {}),
        ("idqn", dict(importance_sampling=True, hysteretic_beta=0.5, lenient=True)),
        ("vdn", {}),
        ("qmix", {}),
        ("qtran", {}),
    ],
)
def test_smoke_matrix_game(algo, options):
    cfg = jaxmarl_core.make_config(algo, env="climbing", **TINY, **options)
    keys = seed_keys(2)
    out = fast_compile(jax.vmap(jaxmarl_core.make_train(cfg)), keys)(keys)
    assert out.metrics["eval_return"].shape == (2, 2)
    for name, values in out.metrics.items():
        if name != "episode_return":
            assert np.all(np.isfinite(values)), name
    assert float(out.metrics["loss"][:, -1].min()) > 0.0  # gradient steps were taken
    leaves = jax.tree_util.tree_leaves(out.state.params)
    assert any(not np.allclose(x[0], x[1]) for x in leaves)  # two seeds differ
    if options.get("lenient"):
        # Every step of every environment is one visit per agent, all in one
        # bucket (the matrix game's observation is constant).
        visits = out.state.extras["visits"]  # [seeds, N, buckets, A]
        np.testing.assert_array_equal(visits.sum(axis=(2, 3)), 256)
        assert np.all((visits.sum(axis=(1, 3)) > 0).sum(-1) == 1)
        assert float(out.metrics["leniency"][0, -1]) < 1 - math.exp(-cfg.leniency_k)


def test_smoke_lbf_qtran_and_same_seed_same_result():
    """QTRAN on LBF: global state, joint input (6**2 joint actions), masks."""
    cfg = jaxmarl_core.make_config("qtran", env="lbf-8x8-2p-2f-coop", **TINY)
    train = fast_compile(jaxmarl_core.make_train(cfg), KEY)
    a, b = train(KEY), train(KEY)
    chex.assert_trees_all_equal(a.metrics, b.metrics)
    assert np.all(np.isfinite(a.metrics["loss"]))


@pytest.mark.parametrize("per_env,steps", [(12, 3), (10, 3), (8, 1)])
def test_append_steps_equals_flashbax_add(per_env, steps):
    """Writes that fit the time axis (12 / 3, 8 / 1) and writes that wrap around it
    (10 / 3, flashbax's own add) leave the same buffer state as flashbax's add,
    through nine adds (the buffer fills and wraps)."""
    buffer = fbx.make_trajectory_buffer(
        add_batch_size=2,
        sample_batch_size=2,
        sample_sequence_length=1,
        period=1,
        min_length_time_axis=1,
        max_length_time_axis=per_env,
    )
    theirs = ours = buffer.init({"x": jnp.zeros((3,)), "y": jnp.zeros((), jnp.int32)})
    append = jax.jit(value_based.append_steps)
    for i in range(9):
        steps_added = {
            "x": jnp.full((2, steps, 3), i, jnp.float32) + jnp.arange(steps)[None, :, None],
            "y": jnp.full((2, steps), i, jnp.int32),
        }
        theirs, ours = buffer.add(theirs, steps_added), append(ours, steps_added)
        chex.assert_trees_all_equal(ours, theirs)


# ---------------------------------------------------------------------------
# Options of the update: epochs, anneal_lr, reward_scale, store_carry

UPDATES = dict(TINY, learning_starts=0, batch_size=4, total_timesteps=640)


def updated(env, updates: int, **options):
    """The VDN learner state after ``updates`` jitted updates (learning from the first)."""
    cfg = jaxmarl_core.make_config("vdn", env=env, **UPDATES, **options)
    _, algo = make_algorithm(cfg)
    state = algo.init(KEY, cfg.hparams)
    step = jax.jit(algo.update)
    for _ in range(updates):
        state, metrics = step(state, cfg.hparams)
    return cfg, state, metrics


def test_epochs_take_that_many_gradient_steps_and_anneal_lr_decays_per_update():
    """epochs=3, anneal_lr, lr 1e-3, three updates of 4 x 16 = 64 of 640 steps:
    Adam has counted 9 steps, and the third update's rate is 1e-3 (1 − 2·64/640)."""
    cfg, state, _ = updated("climbing", 3, epochs=3, anneal_lr=True, lr=1e-3)
    adam = state.opt_state.inner_state[1][0]
    assert int(adam.count) == 9
    assert int(state.num_updates) == 3
    decay = 1.0 - 2 * cfg.num_envs * cfg.rollout_length / cfg.total_timesteps
    np.testing.assert_allclose(state.opt_state.hyperparams["learning_rate"], 1e-3 * decay)


def test_reward_scale_is_the_game_with_scaled_payoffs():
    """reward_scale=2 on climbing trains exactly as climbing with its payoffs doubled
    (both exact in float32), while the reported returns stay the game's own."""
    climbing = MatrixGame(np.asarray(make_env("climbing").payoff), episode_length=25)
    doubled = MatrixGame(2.0 * np.asarray(climbing.payoff), episode_length=25)
    _, scaled, m_scaled = updated(climbing, 4, reward_scale=2.0)
    _, plain, m_plain = updated(doubled, 4)
    chex.assert_trees_all_equal(scaled.params, plain.params)
    np.testing.assert_array_equal(m_scaled["loss"], m_plain["loss"])
    assert np.any(np.asarray(scaled.buffer.experience.reward) != 0)
    np.testing.assert_array_equal(
        2.0 * scaled.buffer.experience.reward, plain.buffer.experience.reward
    )


def test_store_carry_false_keeps_no_hidden_state_and_unrolls_from_zeros():
    """store_carry=false: the buffer holds hidden states of width 0, and the loss
    input of a batch without them equals that of the same batch whose stored
    states are zeros."""
    cfg, state, metrics = updated(
        "climbing", 2, recurrent=True, sequence_length=4, store_carry=False
    )
    assert state.buffer.experience.carry.shape[-1] == 0
    assert state.carry.shape[-1] == cfg.hidden_size
    assert np.isfinite(float(metrics["loss"]))
    net = value_based.make_agent_net(make_env("climbing"), cfg)
    sample = jax.tree_util.tree_map(
        lambda x: jnp.swapaxes(x[:2, :4], 0, 1), state.buffer.experience
    )
    zeros = sample._replace(carry=jnp.zeros(sample.carry.shape[:-1] + (cfg.hidden_size,)))
    args = (state.params, state.target_params)
    empty = value_based.loss_input(net, True, *args, sample, 0, jnp.float32(0.1))
    zero = value_based.loss_input(net, True, *args, zeros, 0, jnp.float32(0.1))
    chex.assert_trees_all_close(empty, zero)
