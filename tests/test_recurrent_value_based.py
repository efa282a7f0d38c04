"""Recurrent agents on the value-based runner: sequence targets, resets, memory.

The runner replays sequences of ``sequence_length`` steps unrolled from the
stored behaviour hidden state at their first step, masks the first ``burn_in``
steps out of the loss, and resets the hidden state where ``first`` is set.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from memory_game import MEMORYLESS, OPTIMUM, MemoryGame
from test_envs import fast_compile

import jaxmarl_core
from jaxmarl_core.algos import idqn, qmix, value_based, vdn
from jaxmarl_core.config import ConfigError
from jaxmarl_core.core import targets
from jaxmarl_core.networks.agents import make_agent_net
from jaxmarl_core.networks.mixers import QMixer
from jaxmarl_core.train import seed_keys
from jaxmarl_core.types import MultiAgentObservation

KEY = jax.random.PRNGKey(0)
N, A, D, H = 2, 3, 4, 5
GAMMA = 0.9


def hparams(algo: str, **over) -> dict:
    cfg = jaxmarl_core.make_config(algo, env="climbing", gamma=GAMMA)
    return {**cfg.hparams, **{k: jnp.float32(v) for k, v in over.items()}}


# ---------------------------------------------------------------------------
# Sequence TD targets against a plain Python loop


def sequence_batch() -> value_based.Transition:
    """Two sequences of T = 5 steps, [T, B] leading axes, with every boundary case.

    Sequence 0: an episode terminates at step 2 (discount 0) and the next one
    starts at step 3 (``first``). Sequence 1: starts mid-episode (a stored hidden
    state), is truncated at step 2 (discount 1, next_obs is the episode's last
    observation, not obs[3]) and a new episode starts at step 3.
    """
    t, b = 5, 2
    k_obs, k_next, k_carry, k_act, k_rew = jax.random.split(jax.random.PRNGKey(1), 5)
    obs = jax.random.normal(k_obs, (t, b, N, D))
    # Inside an episode the next observation is the next step's; at the end of
    # an episode it is the episode's own last observation.
    next_obs = jnp.concatenate([obs[1:], obs[:1]], axis=0)
    next_obs = next_obs.at[2].set(jax.random.normal(k_next, (b, N, D)))
    first = jnp.array([[True, False], [False, False], [False, False], [True, True], [False, False]])
    discount = jnp.ones((t, b, N)).at[2, 0].set(0.0)

    def observation(view):
        return MultiAgentObservation(
            agents_view=view,
            action_mask=jnp.ones((t, b, N, A), bool).at[..., 2].set(False),  # action 2 masked
            global_state=view.reshape(t, b, N * D)[..., :3],
            step_count=jnp.zeros((t, b), jnp.int32),
        )

    reward = jnp.broadcast_to(jax.random.normal(k_rew, (t, b, 1)), (t, b, N))
    return value_based.Transition(
        obs=observation(obs),
        first=first,
        carry=jax.random.normal(k_carry, (t, b, N, H)),
        action=jax.random.randint(k_act, (t, b, N), 0, 2),
        reward=reward,
        discount=discount,
        next_obs=observation(next_obs),
        extras={},
    )


def loop_reference(net, params, target, batch, double_q: bool):
    """Q taken and the greedy target value per step, by stepping one step at a time."""
    t_len, b_len = batch.first.shape
    q_taken = np.zeros((t_len, b_len, N))
    q_next = np.zeros((t_len, b_len, N))
    for b in range(b_len):
        h = batch.carry[0, b]  # the stored state at the sequence's first step
        h_target = batch.carry[0, b]
        for t in range(t_len):
            if batch.first[t, b]:
                h = jnp.zeros_like(h)
                h_target = jnp.zeros_like(h_target)
            h, q = net.step(params, h, batch.obs.agents_view[t, b], jnp.bool_(False))
            h_target, _ = net.step(target, h_target, batch.obs.agents_view[t, b], jnp.bool_(False))
            x_next = batch.next_obs.agents_view[t, b]
            _, q_next_target = net.step(target, h_target, x_next, jnp.bool_(False))
            _, q_next_online = net.step(params, h, x_next, jnp.bool_(False))
            selector = q_next_online if double_q else q_next_target
            for i in range(N):
                q_taken[t, b, i] = q[i, batch.action[t, b, i]]
                allowed = np.where(batch.next_obs.action_mask[t, b, i])[0]
                best = allowed[np.argmax(np.asarray(selector[i])[allowed])]
                q_next[t, b, i] = q_next_target[i, best]
    return q_taken, q_next


# The batch has 4 steps where an episode or a sequence ends: a capacity of 4
# steps only those (the unroll's own values elsewhere), 3 (the default for T = 5,
# B = 2) falls back to stepping every step in the program, 10 does so statically.
@pytest.mark.parametrize("capacity", [4, None, 10])
@pytest.mark.parametrize("param_sharing", [True, False])
@pytest.mark.parametrize("double_q", [True, False])
def test_sequence_targets_match_a_python_loop(double_q, param_sharing, capacity):
    net = make_agent_net(N, (8, H), A, param_sharing=param_sharing, recurrent=True)
    batch = sequence_batch()
    params = {"agent": net.init(jax.random.PRNGKey(2), batch.obs.agents_view[0, 0])}
    target = {"agent": net.init(jax.random.PRNGKey(3), batch.obs.agents_view[0, 0])}
    burn_in = 2

    inputs = jax.jit(value_based.loss_input, static_argnums=(0, 1, 5, 7))(
        net, double_q, params, target, batch, burn_in, jnp.float32(0.1), capacity
    )
    q_taken, q_next = loop_reference(net, params["agent"], target["agent"], batch, double_q)
    np.testing.assert_allclose(inputs.q_taken, q_taken, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(inputs.q_next, q_next, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(inputs.mask, [[0, 0], [0, 0], [1, 1], [1, 1], [1, 1]])

    # TD targets by hand: the terminated step bootstraps nothing, the truncated
    # one bootstraps from its own last observation (not from obs[3], the next
    # episode's first), every other step from the next observation.
    r = np.asarray(batch.reward)
    y = r + GAMMA * np.asarray(batch.discount) * q_next
    np.testing.assert_array_equal(y[2, 0], r[2, 0])
    mask = np.asarray(inputs.mask)[..., None]
    expected_idqn = np.sum(mask * (y - q_taken) ** 2) / (mask.sum() * N)
    value, _ = idqn.make_loss(jaxmarl_core.make_config("idqn", env="climbing"))(
        params, target, inputs, hparams("idqn"), KEY
    )
    np.testing.assert_allclose(value, expected_idqn, rtol=1e-5)

    # VDN on the same sequences: one TD error per step on the sums.
    y_team = r[..., 0] + GAMMA * np.asarray(batch.discount)[..., 0] * q_next.sum(-1)
    td = y_team - q_taken.sum(-1)
    expected_vdn = np.sum(mask[..., 0] * td**2) / mask.sum()
    value, _ = vdn.loss(params, target, inputs, hparams("vdn"), KEY)
    np.testing.assert_allclose(value, expected_vdn, rtol=1e-5)

    # The step at truncation bootstraps from next_obs; obs[3] would give another value.
    _, wrong_next = loop_reference(
        net,
        params["agent"],
        target["agent"],
        batch._replace(
            next_obs=batch.next_obs._replace(
                agents_view=jnp.roll(batch.obs.agents_view, -1, axis=0)
            )
        ),
        double_q,
    )
    assert not np.allclose(wrong_next[2, 1], q_next[2, 1])


def test_next_values_step_only_where_episodes_end():
    """next_values equals stepping every step from its hidden state, whether the
    ends fill the capacity exactly, leave padding, or overflow it."""
    t, b = 12, 3
    net = make_agent_net(N, (8, H), A, param_sharing=True, recurrent=True)
    k_obs, k_first = jax.random.split(jax.random.PRNGKey(7))
    x = jax.random.normal(k_obs, (t + 1, b, N, D))
    first = jax.random.bernoulli(k_first, 0.15, (t, b)).at[0].set(True)
    params = net.init(jax.random.PRNGKey(8), x[0, 0])
    carries, q = net.unroll(params, net.initial_carry((b,)), x[:t], first)
    # Inside an episode the next observation is the next step's; at an end, another.
    next_x = jnp.where(
        jnp.concatenate([first[1:], jnp.ones((1, b), bool)])[..., None, None], x[1:] + 1.0, x[1:]
    )
    _, every = net.step(params, carries, next_x, jnp.zeros_like(first))
    ends = int(first[1:].sum()) + b
    assert 0 < ends - b < t * b // 4
    for capacity in (ends, ends + 3, ends - 1):
        value_at = targets.stepped_values(net.step, params)
        got = jax.jit(targets.next_values, static_argnums=(0, 5))(
            value_at, carries, q, next_x, first, capacity
        )
        np.testing.assert_allclose(got, every, rtol=1e-5, atol=1e-6)
    # The unroll's own values are wrong where an episode ended: the ends matter.
    shifted = jnp.concatenate([q[1:], q[-1:]])
    assert not np.allclose(shifted, every, atol=1e-3)


def test_one_step_episodes_step_every_next_observation_without_a_cond():
    """A one-shot game's episodes last one step, so every step is an end: the
    capacity is all T * B steps and next_values steps them all, with no cond."""
    t, b = 4, 3
    assert targets.ends_capacity(t, b, episode_length=1) == t * b
    assert targets.ends_capacity(t, b) == b + 2 == targets.ends_capacity(t, b, episode_length=25)
    net = make_agent_net(N, (8, H), A, param_sharing=True, recurrent=False)
    x = jax.random.normal(jax.random.PRNGKey(0), (t, b, N, D))
    params = net.init(jax.random.PRNGKey(1), x[0, 0])
    carries, q = net.unroll(params, net.initial_carry((b,)), x, jnp.ones((t, b), bool))
    value_at = targets.stepped_values(net.step, params)
    capacity = targets.ends_capacity(t, b, episode_length=1)
    args = (carries, q, x + 1.0, jnp.ones((t, b), bool))

    def call(*args):
        return targets.next_values(value_at, *args, capacity)

    primitives = {eqn.primitive.name for eqn in jax.make_jaxpr(call)(*args).jaxpr.eqns}
    assert "cond" not in primitives
    _, every = net.step(params, carries, x + 1.0, jnp.zeros((t, b), bool))
    np.testing.assert_allclose(call(*args), every, rtol=1e-6)


def test_qmix_mixes_every_step_of_a_sequence():
    """The mixer broadcasts over [T, B]: QMIX's loss equals a loop over steps."""
    net = make_agent_net(N, (8, H), A, param_sharing=True, recurrent=True)
    batch = sequence_batch()
    mixer = QMixer(embed_dim=4, hypernet_hidden=8)
    z = batch.obs.global_state
    params = {
        "agent": net.init(jax.random.PRNGKey(2), batch.obs.agents_view[0, 0]),
        "mixer": mixer.init(jax.random.PRNGKey(4), jnp.zeros((N,)), z[0, 0]),
    }
    target = {
        "agent": net.init(jax.random.PRNGKey(3), batch.obs.agents_view[0, 0]),
        "mixer": mixer.init(jax.random.PRNGKey(5), jnp.zeros((N,)), z[0, 0]),
    }
    inputs = value_based.loss_input(net, True, params, target, batch, 1, jnp.float32(0.1))
    value, _ = qmix.make_loss(mixer)(params, target, inputs, hparams("qmix"), KEY)
    total, count = 0.0, 0
    for t in range(1, 5):  # burn-in 1
        for b in range(2):
            q_tot = mixer.apply(params["mixer"], inputs.q_taken[t, b], z[t, b])
            q_tot_next = mixer.apply(
                target["mixer"], inputs.q_next[t, b], batch.next_obs.global_state[t, b]
            )
            y = batch.reward[t, b, 0] + GAMMA * batch.discount[t, b, 0] * q_tot_next
            total, count = total + float(y - q_tot) ** 2, count + 1
    np.testing.assert_allclose(value, total / count, rtol=1e-5)


# ---------------------------------------------------------------------------
# Collection resets the hidden state exactly at episode boundaries


def test_hidden_state_resets_exactly_at_episode_boundaries():
    """Two MemoryGame episodes collected back to back in one environment give the
    same hidden states and Q-values as each episode run alone from a zero state
    (bit for bit, jitted, the same batch shape [1])."""
    env = MemoryGame(num_agents=2, episode_length=3)
    cfg = jaxmarl_core.make_config(
        "vdn",
        env=env,
        recurrent=True,
        num_envs=1,
        rollout_length=6,
        buffer_size=12,
        batch_size=1,
        sequence_length=3,
        learning_starts=10_000,
        total_timesteps=12,
        hidden_size=8,
        eps_start=0.5,
    )
    algo = vdn.make(env, cfg)
    net = value_based.make_agent_net(env, cfg)
    state = jax.jit(algo.update)(algo.init(KEY, cfg.hparams), cfg.hparams)[0]
    stored = jax.tree_util.tree_map(lambda x: x[0, :6], state.buffer.experience)  # env 0
    np.testing.assert_array_equal(stored.first, [True, False, False, True, False, False])
    np.testing.assert_array_equal(stored.obs.step_count, [0, 1, 2, 0, 1, 2])

    @jax.jit
    def run(params, views, first):  # views [T, N, D]: net.step in a scan, batch shape [1]
        def body(carry, inputs):
            x, f = inputs
            carry, q = net.step(params, carry, x[None], f[None])
            return carry, (carry[0], q[0])

        return jax.lax.scan(body, net.initial_carry((1,)), (views, first))[1]

    params = state.params["agent"]  # no gradient step yet: the behaviour parameters
    views = stored.obs.agents_view
    carries, q = run(params, views, stored.first)  # the two episodes as one stream
    # The collected hidden states (stored before each step) are the stream's.
    np.testing.assert_array_equal(stored.carry[1:], carries[:-1])
    starts = jnp.array([True, False, False])
    for episode in (slice(0, 3), slice(3, 6)):
        ref_carries, ref_q = run(params, views[episode], starts)
        np.testing.assert_array_equal(q[episode], ref_q)
        np.testing.assert_array_equal(carries[episode], ref_carries)
    # The state stored before the second episode's first step is the first
    # episode's last one (reset when read), and it is not zero.
    assert np.abs(stored.carry[3]).max() > 0


# ---------------------------------------------------------------------------
# Config validation


@pytest.mark.parametrize(
    "overrides,match",
    [
        (dict(recurrent=True, sequence_length=4, burn_in=4), r"burn_in=4 .*burn_in must be < "),
        (
            dict(recurrent=True, sequence_length=40, num_envs=8, buffer_size=256, batch_size=8),
            r"buffer_size=256 keeps 32 steps per environment.*sequence_length=40.*>= 320",
        ),
        (dict(burn_in=1), r"burn_in=1 .*recurrent=false burn_in must be 0"),
        (dict(sequence_length=-1), r"sequence_length=-1 is not allowed"),
    ],
)
def test_impossible_sequence_settings_are_refused(overrides, match):
    with pytest.raises(ConfigError, match=match):
        jaxmarl_core.make_config("qmix", env="climbing", **overrides)


def test_sequence_length_auto():
    ff = jaxmarl_core.make_config("idqn", env="climbing")
    rnn = jaxmarl_core.make_config("idqn", env="climbing", recurrent=True)
    assert value_based.resolved_sequence_length(ff) == 1
    assert value_based.resolved_sequence_length(rnn) == value_based.RECURRENT_SEQUENCE_LENGTH


# ---------------------------------------------------------------------------
# Smoke tests: every value-based algorithm trains with recurrent agents

TINY = dict(
    recurrent=True,
    sequence_length=4,
    burn_in=1,
    total_timesteps=256,
    num_envs=4,
    batch_size=8,
    buffer_size=128,
    learning_starts=64,
    hidden_size=8,
    num_logs=2,
    num_eval_episodes=2,
)


# Compiled with LLVM's optimisations off (test_envs.fast_compile): the LBF programs
# compile in about 15 s instead of over a minute, and a smoke run only checks values.
@pytest.mark.parametrize("env", ["climbing", "lbf-2s-8x8-2p-2f-coop"])
@pytest.mark.parametrize(
    "algo,options",
    [
        ("idqn", dict(importance_sampling=True, hysteretic_beta=0.5, lenient=True)),
        ("vdn", dict(param_sharing=False)),
        ("qmix", {}),
        ("qtran", dict(param_sharing=False)),
    ],
)
def test_recurrent_smoke(algo, options, env):
    cfg = jaxmarl_core.make_config(algo, env=env, **TINY, **options)
    out = fast_compile(jaxmarl_core.make_train(cfg), KEY)(KEY)
    for name, values in out.metrics.items():
        if name != "episode_return":
            assert np.all(np.isfinite(values)), name
    assert float(out.metrics["loss"][-1]) > 0.0  # gradient steps were taken
    assert out.state.carry.shape == (4, 2, 8)  # [num_envs, N, H]
    assert np.abs(np.asarray(out.state.carry)).max() > 0


# ---------------------------------------------------------------------------
# Memory: only recurrent agents solve the memory game

MEMORY = dict(
    total_timesteps=8_000,
    num_envs=16,
    batch_size=32,
    buffer_size=4_000,
    learning_starts=500,
    hidden_size=32,
    lr=1e-3,
    eps_decay_fraction=0.5,
    target_update_period=50,
    num_logs=4,
    num_eval_episodes=256,
)
# The greedy feed-forward return is the fraction of the 256 evaluation episodes
# whose cue is the one its fixed last action matches: 0.5 in expectation, with a
# standard deviation of 1/32 over the cue draws; 0.1 is over three of them.
TOLERANCE = 0.1


def memory_returns(algo: str, **overrides) -> np.ndarray:
    """float[5]: the final greedy return of seeds 0-4, run one after the other
    through one compiled program. (Five vmapped recurrent QMIX seeds hung once in
    jaxlib 0.10.2's CPU runtime, every XLA thread idle, despite the flags of
    ``jaxmarl_core._xla_flags``; a seed's result is the same either way.)"""
    cfg = jaxmarl_core.make_config(algo, env=MemoryGame(), **MEMORY, **overrides)
    train = jax.jit(jaxmarl_core.make_train(cfg))
    return np.array([float(train(key).metrics["eval_return"][-1]) for key in seed_keys(5)])


# The budget is small (a few seconds of running); most of each test is compiling.


@pytest.mark.parametrize("algo", ["qmix", "idqn"])
def test_memory_game_recurrent_agents_reach_the_optimum(algo):
    """MemoryGame (2 agents, 3 steps, the cue shown at the first step only),
    8k steps (16 envs, batch 32 sequences, hidden 32, lr 1e-3, epsilon over 4k),
    seeds 0-4, GRU agents replaying sequences of 3 steps without burn-in: the
    greedy return (256 episodes) is the optimum 1.0 in >= 4 of 5 seeds.

    Measured: QMIX 1.0 in 5 of 5, IDQN 1.0 in 5 of 5 (both already at 2k steps).
    """
    returns = memory_returns(algo, recurrent=True, sequence_length=3)
    assert np.sum(returns >= OPTIMUM - 1e-6) >= 4, returns


@pytest.mark.parametrize("algo", ["qmix", "idqn"])
def test_memory_game_feed_forward_agents_cannot(algo):
    """The same game, budget and seeds with feed-forward agents: the greedy return
    stays at <= 0.5 + TOLERANCE in every seed (0.5 is the cap in expectation).

    Measured: QMIX 0.512, 0.477, 0.535, 0.484, 0.5; IDQN 0.488, 0.477, 0.535,
    0.484, 0.523.
    """
    returns = memory_returns(algo)
    assert np.all(returns <= MEMORYLESS + TOLERANCE), returns
