"""Recurrent (GRU) agents on the actor-critic runner: sequences, resets and memory.

- hidden states reset exactly where an episode starts: two episodes back to
  back in one rollout equal the same two episodes run apart, bit for bit;
- PPO recomputes the collecting policy exactly from the stored start states;
- every actor-critic algorithm trains with ``recurrent=true`` (smoke);
- a recurrent IPPO or MAPPO solves the memory game, a feed-forward one cannot.
"""

from __future__ import annotations

import functools
from types import SimpleNamespace

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from memory_game import MEMORYLESS, OPTIMUM, MemoryGame, MemoryState
from test_envs import fast_compile

import jaxmarl_core
from jaxmarl_core.algos import actor_critic, ippo, mappo
from jaxmarl_core.train import seed_keys

AC_ALGOS = ("ireinforce", "ia2c", "ippo", "maa2c", "mappo", "coma", "pac")


def ppo_setup(env, centralised: bool = False, **overrides) -> actor_critic.Setup:
    """IPPO's (``centralised``: MAPPO's) runner setup, as their ``make`` builds it."""
    config = jaxmarl_core.make_config(
        "mappo" if centralised else "ippo", env=env, hidden_size=16, **overrides
    )
    critic = actor_critic.state_value_critic(
        env, config, actor_critic.bootstrapped_advantages(config), centralised=centralised
    )
    return actor_critic.make_setup(
        env, config, ippo.loss, critic, epochs=config.epochs, minibatches=config.minibatches
    )


# ---------------------------------------------------------------------------
# Episode boundaries


@pytest.mark.parametrize("param_sharing", [True, False])
def test_two_episodes_in_one_rollout_equal_two_runs_apart(param_sharing):
    """MemoryGame (3-step episodes, 4 environments), recurrent MAPPO's actor and
    critic. One rollout of 6 steps holds two whole episodes per environment; the
    second episode run on its own, from hidden states filled with garbage and the
    ``first`` flags the first run ends with, gives the same actions,
    log-probabilities and values bit for bit (same batch shapes, under jit)."""
    env = MemoryGame(episode_length=3)
    setup = ppo_setup(
        env, centralised=True, num_envs=4, recurrent=True, param_sharing=param_sharing
    )
    state = jax.jit(functools.partial(actor_critic.init, setup))(
        jax.random.PRNGKey(0), setup.config.hparams
    )
    keys = jax.random.split(jax.random.PRNGKey(1), 6)
    start = actor_critic.initial_carry(setup, (4,))

    @jax.jit
    def run(env_state, carry, first, keys):
        """collect, then the critic over the same sequences."""
        env_state, _, last_first, rollout, _ = actor_critic.collect(
            setup, state.params.actor, env_state, carry.actor, first, keys
        )
        _, values = setup.critic.values(
            state.params.critic, carry.critic, rollout.obs, rollout.action, rollout.first
        )
        return env_state, last_first, rollout, values

    first = jnp.ones((4,), bool)
    _, _, both, values = run(state.env, start, first, keys)
    env_mid, first_mid, one, values_one = run(state.env, start, first, keys[:3])
    garbage = jax.tree_util.tree_map(lambda c: jnp.full_like(c, 7.0), start)
    _, _, two, values_two = run(env_mid, garbage, first_mid, keys[3:])

    np.testing.assert_array_equal(both.first[:, 0], [True, False, False, True, False, False])
    np.testing.assert_array_equal(first_mid, True)
    for name in ("action", "recorded", "reward"):
        apart = np.concatenate([getattr(one, name), getattr(two, name)])
        np.testing.assert_array_equal(getattr(both, name), apart, err_msg=name)
    np.testing.assert_array_equal(values, np.concatenate([values_one, values_two]))

    # The test can tell: without the reset at step 3 the second episode's policy differs.
    no_reset = both.first.at[3].set(False)
    _, logits = setup.actor.unroll(state.params.actor, start.actor, both.obs.agents_view, no_reset)
    _, logits_reset = setup.actor.unroll(
        state.params.actor, start.actor, both.obs.agents_view, both.first
    )
    np.testing.assert_array_equal(logits[:3], logits_reset[:3])
    assert not np.allclose(logits[3:], logits_reset[3:])


# ---------------------------------------------------------------------------
# PPO on stored hidden states


@pytest.mark.parametrize("recurrent", [True, False])
def test_ppo_first_epoch_recomputes_the_collecting_policy(recurrent):
    """MemoryGame, 4 environments, 8-step rollouts (3-step episodes, so episodes
    start mid-rollout and the second rollout starts mid-episode). Unrolling the
    stored start states gives log π_old exactly (ratio exactly 1 before any
    gradient step); with lr = 0 every epoch sees ratio 1 (approx_kl = 0)."""
    env = MemoryGame(episode_length=3)
    setup = ppo_setup(env, num_envs=4, rollout_length=8, recurrent=recurrent)
    hparams = setup.config.hparams
    state = jax.jit(functools.partial(actor_critic.init, setup))(jax.random.PRNGKey(0), hparams)
    update = jax.jit(functools.partial(actor_critic.update, setup))
    state, _ = update(state, hparams)

    @jax.jit
    def recompute(state):
        keys = jax.random.split(state.key, setup.num_steps)
        start = state.carry
        _, _, _, rollout, _ = actor_critic.collect(
            setup, state.params.actor, state.env, start.actor, state.first, keys
        )
        batch, *_ = actor_critic.make_batch(setup, state, rollout, start, state.key, hparams)
        log_prob = actor_critic.policy(setup, state.params.actor, batch).log_prob(batch.action)
        return batch, log_prob

    batch, log_prob = recompute(state)
    assert not bool(batch.first[0].all()), "the rollout should start mid-episode"
    if recurrent:
        assert float(jnp.abs(state.carry.actor).max()) > 0.0
    np.testing.assert_array_equal(log_prob, batch.log_prob)
    np.testing.assert_array_equal(jnp.exp(log_prob - batch.log_prob), 1.0)

    frozen = {**hparams, "lr": jnp.float32(0.0)}
    _, metrics = update(state, frozen)
    assert float(metrics["approx_kl"]) == 0.0
    assert float(metrics["clip_fraction"]) == 0.0


def test_without_bootstrap_truncation_a_time_limit_ends_the_return():
    """``lbf-2s-8x8-2p-2f-coop`` cut at 3 steps, whose episodes end by the time
    limit (discount 1), GAE(λ): with ``bootstrap_truncation=false`` the target at
    an episode's last step is its reward alone, y = r; by default it is
    r + γ V(s') with the value of the true next observation."""
    env = jaxmarl_core.make_env("lbf-2s-8x8-2p-2f-coop", episode_length=3)
    targets = {}
    for bootstrap in (True, False):
        setup = ppo_setup(
            env, num_envs=4, rollout_length=6, advantage="gae", bootstrap_truncation=bootstrap
        )
        hparams = setup.config.hparams
        state = actor_critic.init(setup, jax.random.PRNGKey(0), hparams)
        keys = jax.random.split(state.key, setup.num_steps)
        _, _, _, rollout, _ = actor_critic.collect(
            setup, state.params.actor, state.env, state.carry.actor, state.first, keys
        )
        batch, *_ = actor_critic.make_batch(setup, state, rollout, state.carry, state.key, hparams)
        targets[bootstrap] = np.asarray(batch.target)
    done = np.asarray(rollout.done)
    assert done.any() and (np.asarray(rollout.discount)[done] == 1.0).all()  # truncations
    reward = np.asarray(rollout.reward)
    np.testing.assert_allclose(targets[False][done], reward[done], rtol=1e-6)
    assert not np.allclose(targets[True][done], reward[done])  # bootstrapped by default
    assert not np.allclose(targets[True], targets[False])


@pytest.mark.parametrize("recurrent", [True, False])
def test_gradient_over_chunks_of_environments_is_the_minibatch_gradient(recurrent):
    """MAPPO on MemoryGame, 8 environments x 6 steps x 2 agents: the gradient and
    metrics accumulated over chunks of one environment (CPU_CHUNK_ROWS = 1) equal
    those of the whole batch in one chunk, also when the chunks hold different
    numbers of samples (a random mask, chunk 0 all masked out)."""
    env = MemoryGame(episode_length=3)
    setup = ppo_setup(env, centralised=True, num_envs=8, rollout_length=6, recurrent=recurrent)
    hparams = setup.config.hparams
    state = jax.jit(functools.partial(actor_critic.init, setup))(jax.random.PRNGKey(0), hparams)
    keys = jax.random.split(jax.random.PRNGKey(1), setup.num_steps)
    start = state.carry
    rollout = jax.jit(functools.partial(actor_critic.collect, setup))(
        state.params.actor, state.env, start.actor, state.first, keys
    )[3]
    batch = jax.jit(functools.partial(actor_critic.make_batch, setup))(
        state, rollout, start, state.key, hparams
    )[0]
    mask = jax.random.bernoulli(jax.random.PRNGKey(2), 0.6, batch.mask.shape)
    masked = batch._replace(mask=mask.at[:, 0].set(False).astype(jnp.float32))
    for b in (batch, masked):
        grads = {}
        for rows in (1, 10**9):
            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(actor_critic, "CPU_CHUNK_ROWS", rows)
                patch.setattr(actor_critic, "RECURRENT_MIN_STEP_ROWS", 0)
                assert actor_critic.envs_per_chunk(b, recurrent) == (1 if rows == 1 else 8)
                grads[rows] = jax.jit(functools.partial(actor_critic.gradient, setup))(
                    state.params, b, hparams
                )
        chex.assert_trees_all_close(grads[1], grads[10**9], rtol=1e-4, atol=1e-6)
    # Precondition of the masked case: its chunks hold different numbers of samples.
    assert not np.isclose(float(jnp.sum(masked.mask[:, 1])), float(jnp.sum(masked.mask[:, 2])))


def test_a_recurrent_chunk_holds_enough_rows_per_step():
    """Each chunk of a recurrent minibatch runs its T GRU steps in sequence: a
    chunk holds at least RECURRENT_MIN_STEP_ROWS (64) rows per step where the
    minibatch has them, however many rows that makes in all."""
    small = SimpleNamespace(mask=jnp.ones((128, 4, 3)))  # T x envs x agents: 12 per step
    assert actor_critic.envs_per_chunk(small, recurrent=False) == 1  # 384 rows per env
    assert actor_critic.envs_per_chunk(small, recurrent=True) == 4  # all of them
    wide = SimpleNamespace(mask=jnp.ones((128, 64, 2)))
    assert actor_critic.envs_per_chunk(wide, recurrent=False) == 2  # 512 rows
    assert actor_critic.envs_per_chunk(wide, recurrent=True) == 32  # 64 rows per step
    short = SimpleNamespace(mask=jnp.ones((10, 512, 2)))  # 25 envs fit 512 rows
    assert actor_critic.envs_per_chunk(short, recurrent=True) == 32  # a divisor of 512


def test_minibatches_split_environments_into_whole_sequences():
    """Minibatches take whole columns of the [T, B] batch and their start states."""
    t, b, n = 3, 4, 2
    obs = jax.tree_util.tree_map(
        lambda x: jnp.broadcast_to(x, (t, b) + x.shape),
        MemoryGame().observation_spec.generate_value(),
    )
    column = jnp.broadcast_to(jnp.arange(b, dtype=jnp.float32)[None, :, None], (t, b, n))
    batch = actor_critic.Batch(
        obs=obs,
        action=column.astype(jnp.int32),
        log_prob=column,
        advantage=column,
        target=column,
        mask=jnp.ones((t, b, n)),
        first=jnp.zeros((t, b), bool),
        start=actor_critic.ActorCritic(column[0, :, :, None], column[0, :, :, None]),
        value=column,
    )
    split = actor_critic.env_minibatches(batch, 2, jnp.array([2, 0, 3, 1]))
    assert split.log_prob.shape == (2, t, 2, n)
    np.testing.assert_array_equal(split.log_prob[:, 0, :, 0], [[2, 0], [3, 1]])
    np.testing.assert_array_equal(split.start.actor[..., 0, 0], [[2, 0], [3, 1]])
    np.testing.assert_array_equal(split.log_prob[0, :, 0, 0], [2, 2, 2])
    with pytest.raises(jaxmarl_core.config.ConfigError, match="divide num_envs=10"):
        jaxmarl_core.make_config("mappo", env="climbing", num_envs=10, minibatches=4)
    assert mappo.validate is actor_critic.validate_minibatches


# ---------------------------------------------------------------------------
# Hidden layers after the GRU (post_gru_layers)


def test_post_gru_layers_sit_between_the_gru_and_the_head():
    """With ``post_gru_layers=1`` the actor and the V critic compute
    head(relu(W h' + b)), h' the GRU's new hidden state: checked against that
    composition from the parameters; with 0 the parameter trees are as before."""
    from jaxmarl_core.networks.agents import GRUAgent, with_agent_ids
    from jaxmarl_core.networks.layers import GRUCell

    env = jaxmarl_core.make_env("lbf-2s-8x8-2p-2f-coop")
    plain = ppo_setup(env, centralised=True, recurrent=True)
    post = ppo_setup(env, centralised=True, recurrent=True, post_gru_layers=1)
    obs = jax.jit(env.reset)(jax.random.PRNGKey(0))[1].observation
    x = with_agent_ids(obs.agents_view)  # what the shared actor reads
    module = GRUAgent((16, 16), env.num_actions, 0.01, "relu", post=(16,))
    params = post.actor.init(jax.random.PRNGKey(1), obs.agents_view)
    assert jax.tree_util.tree_structure(params) == jax.tree_util.tree_structure(
        module.init(jax.random.PRNGKey(1), jnp.zeros((env.num_agents, 16)), x)
    )
    carry = jax.random.normal(jax.random.PRNGKey(2), (env.num_agents, 16))
    new_carry, logits = post.actor.step(params, carry, obs.agents_view, jnp.bool_(False))
    p = params["params"]
    encoded = jax.nn.relu(x @ p["Dense_0"]["kernel"] + p["Dense_0"]["bias"])
    h, _ = GRUCell(features=16).apply({"params": p["GRUCell_0"]}, carry, encoded)
    hidden = jax.nn.relu(h @ p["Dense_1"]["kernel"] + p["Dense_1"]["bias"])
    by_hand = hidden @ p["Dense_2"]["kernel"] + p["Dense_2"]["bias"]
    np.testing.assert_allclose(new_carry, h, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(logits, by_hand, rtol=1e-5, atol=1e-6)
    # One more [16, 16] layer in the actor and in the critic; none without the key.
    size = lambda tree: sum(x.size for x in jax.tree_util.tree_leaves(tree))  # noqa: E731
    plain_actor = plain.actor.init(jax.random.PRNGKey(1), obs.agents_view)
    assert size(params) - size(plain_actor) == 16 * 16 + 16
    assert set(plain_actor["params"]) == {"Dense_0", "GRUCell_0", "Dense_1"}
    critic_gap = size(post.critic.net.init(jax.random.PRNGKey(1), obs)) - size(
        plain.critic.net.init(jax.random.PRNGKey(1), obs)
    )
    assert critic_gap == 16 * 16 + 16


# ---------------------------------------------------------------------------
# Smoke: every actor-critic algorithm with recurrent agents


# Every algorithm on climbing; on LBF (about 30 s of compiling each, most of it
# Jumanji's reset and step) two in the default run: MAPPO (shared parameters, a
# recurrent centralised critic, epochs of minibatches) and COMA (separate
# parameters, its own feed-forward critic); the other five with ``-m slow``.
LBF_DEFAULT = ("mappo", "coma")
SMOKE_CASES = [("climbing", algo) for algo in AC_ALGOS] + [
    pytest.param(
        "lbf-2s-8x8-2p-2f-coop",
        algo,
        marks=() if algo in LBF_DEFAULT else pytest.mark.slow,
        id=f"lbf-2s-8x8-2p-2f-coop-{algo}",
    )
    for algo in AC_ALGOS
]


@pytest.mark.parametrize(("env", "algo"), SMOKE_CASES)
def test_recurrent_smoke(env, algo):
    """Tiny recurrent configs (separate parameters for the odd-numbered algorithms,
    and for pac by default): finite metrics, hidden states [B, N, H] in the state."""
    overrides = dict(
        num_envs=4,
        rollout_length=5,
        hidden_size=8,
        num_logs=2,
        num_eval_episodes=2,
        recurrent=True,
        env_kwargs={"episode_length": 5},
    )
    if algo == "ireinforce":
        overrides.pop("rollout_length")
    if AC_ALGOS.index(algo) % 2:
        overrides["param_sharing"] = False
    if algo in ("ippo", "mappo"):
        overrides.update(minibatches=2, epochs=2)
    config = jaxmarl_core.make_config(algo, env=env, total_timesteps=80, **overrides)
    key = jax.random.PRNGKey(0)
    out = fast_compile(jaxmarl_core.make_train(config), key)(key)
    for name in ("eval_return", "actor_loss", "critic_loss", "entropy", "advantage"):
        assert out.metrics[name].shape == (2,), name
        assert bool(jnp.isfinite(out.metrics[name]).all()), name
    assert out.state.carry.actor.shape == (4, 2, 8)
    assert out.state.first.shape == (4,)
    # COMA's and Pareto-AC's critic is feed-forward; REINFORCE has none by default.
    critic_width = 8 if algo in ("ia2c", "ippo", "maa2c", "mappo") else 0
    assert out.state.carry.critic.shape == (4, 2, critic_width)


# ---------------------------------------------------------------------------
# Memory


def greedy_return_over_cues(env: MemoryGame, algo, state) -> jax.Array:
    """The greedy team return averaged over the two cues, one episode each: exact,
    no sampling. Any feed-forward policy gets exactly MEMORYLESS here."""
    cue = jnp.array([0, 1], jnp.int32)
    env_state = MemoryState(cue, jnp.zeros((2,), jnp.int32))
    obs = jax.vmap(env._observation)(cue, env_state.step_count)
    carry = algo.initial_carry((2,))
    total = jnp.zeros((2,))
    for _ in range(env.episode_length):
        actions, carry = algo.act(state, obs, carry, jax.random.PRNGKey(0))
        env_state, ts = jax.vmap(env.step)(env_state, actions)
        obs, total = ts.observation, total + ts.extras["team_reward"]
    return total.mean()


@pytest.mark.slow
@pytest.mark.parametrize("algo", ["ippo", "mappo"])
def test_memory_game_needs_memory(algo):
    """MemoryGame (2 agents, 3 steps: the cue is shown at the first step and paid
    for at the last), seeds 0-4 in one vmapped program, 4000 steps per seed
    (16 environments, 12-step rollouts, hidden 32, lr 3e-3, else defaults).

    Recurrent: greedy return 1.0 in at least 4 of 5 seeds, both on the 32 random
    evaluation episodes of training and on the two cues exactly. Feed-forward:
    exactly 0.5 on the two cues in every seed (its greedy action cannot depend
    on the cue). On the 32 random evaluation episodes a feed-forward seed's
    greedy return is 0.5 only in expectation (both agents may play the same
    action, so an episode pays 0 or 1: one standard deviation is 0.09 per seed),
    so there only the mean over the 5 seeds is checked, at most 0.5 + 0.15.

    Measured (CPU, jax 0.10.2), seeds 0-4, IPPO and MAPPO alike: recurrent 1.0
    in 5 of 5 seeds on the random episodes and on the cues (1.0 already at
    2000 steps); feed-forward [0.47, 0.5, 0.56, 0.5, 0.62] on the random
    episodes (mean 0.53) and 0.5 on the cues in 5 of 5. About 70 s per
    algorithm on 2 shared cores (four programs compiled), hence slow.
    """
    env = MemoryGame()
    returns = {}
    for recurrent in (True, False):
        config = jaxmarl_core.make_config(
            algo,
            env=env,
            num_envs=16,
            rollout_length=12,
            hidden_size=32,
            lr=3e-3,
            total_timesteps=4000,
            num_logs=2,
            num_eval_episodes=32,
            recurrent=recurrent,
        )
        train = jaxmarl_core.make_train(config)
        _, learner = jaxmarl_core.train.make_algorithm(config)

        @jax.jit
        def run(keys, train=train, learner=learner):
            out = jax.vmap(train)(keys)
            exact = jax.vmap(lambda s: greedy_return_over_cues(env, learner, s))(out.state)
            return out.metrics["eval_return"][:, -1], exact

        returns[recurrent] = jax.device_get(run(seed_keys(5)))
        print(algo, "recurrent" if recurrent else "feed-forward", returns[recurrent])
    sampled, exact = returns[True]
    assert np.sum(sampled == OPTIMUM) >= 4, sampled
    assert np.sum(exact == OPTIMUM) >= 4, exact
    sampled, exact = returns[False]
    np.testing.assert_array_equal(exact, MEMORYLESS)
    assert sampled.mean() <= MEMORYLESS + 0.15, sampled
