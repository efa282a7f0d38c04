"""Environment contract: every registered environment, exact matrix payoffs, auto-reset.

Compilation dominates the cost here, so every environment is compiled once (a
``VecEnv`` of 3 environments stepped past several episodes, cached) and the
conformance tests read that one rollout. The programs are tiny, so they are
compiled with LLVM's optimisations off (``fast_compile``): that compiles 2-4x
faster and changes no result these tests look at.
"""

from __future__ import annotations

import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jumanji.environments.routing.robot_warehouse.utils import compute_action_mask
from jumanji.environments.routing.robot_warehouse.utils_spawn import place_entities_on_grid
from jumanji.types import StepType

from jaxmarl_core.envs import MatrixGame, VecEnv, evaluate, list_envs, make_env
from jaxmarl_core.types import MultiAgentObservation

ALL_ENVS = list_envs()
SHORT_EPISODE = 6  # episode_length used for the rollouts, so they span several episodes
ROLLOUT_STEPS = 20
NUM_ENVS = 3

# The payoff tables as DESIGN.md states them, written out independently of matrix.py.
PAYOFFS = {
    "climbing": [[11, -30, 0], [-30, 7, 0], [0, 6, 5]],
    "climbing-classic": [[11, -30, 0], [-30, 7, 6], [0, 0, 5]],
    "qtran-game": [[8, -12, -12], [-12, 0, 0], [-12, 0, 0]],
    **{f"penalty-{k}": [[-k, 0, 10], [0, 2, 0], [10, 0, -k]] for k in (0, 25, 50, 75, 100)},
}


# Smaller instances for the rollouts: the full-size generators compile for tens of seconds.
SMALL_KWARGS = {
    "jumanji:Cleaner-v0": {"num_rows": 5, "num_cols": 5},
    "jumanji:Connector-v3": {"grid_size": 5, "num_agents": 3},
}

# JaxMARL's own time limits (switch_riddle's is 4N - 6 for N = 3 agents).
JAXMARL_LENGTHS = {"switch_riddle": 6, "hanabi": 200, "overcooked": 400, "smax": 100, "MPE": 25}


def default_episode_length(name: str) -> int:
    if name in PAYOFFS:
        return 25
    if name.startswith("jaxmarl:"):
        game = name[len("jaxmarl:") :]
        return next(v for k, v in JAXMARL_LENGTHS.items() if game.startswith(k))
    jumanji = {"jumanji:Cleaner-v0": 100, "jumanji:Connector-v3": 50}  # Jumanji's defaults
    return jumanji.get(name) or (50 if name.startswith("lbf") else 500)


# XLA:CPU spends most of a compile in LLVM; these test programs run in milliseconds anyway.
FAST_COMPILE = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True}


def fast_compile(fn, *example_args):
    """``fn`` jitted and compiled for arguments shaped like ``example_args``."""
    return jax.jit(fn).lower(*example_args).compile(compiler_options=FAST_COMPILE)


def random_valid_actions(key, action_mask):
    """int32[..., N]: a uniformly random allowed action for every agent."""
    logits = jnp.where(action_mask, 0.0, -jnp.inf)
    return jax.random.categorical(key, logits).astype(jnp.int32)


def make_rollout(env, num_envs, num_steps):
    """A compiled ``key -> (initial obs, VecStep[T])`` with random valid actions."""
    venv = VecEnv(env, num_envs)

    def rollout(key):
        reset_key, key = jax.random.split(key)
        state = venv.reset(reset_key)

        def body(state, step_key):
            actions = random_valid_actions(step_key, state.obs.action_mask)
            return venv.step(state, actions)

        _, steps = jax.lax.scan(body, state, jax.random.split(key, num_steps))
        return state.obs, steps

    return fast_compile(rollout, jax.random.key(0))


@functools.cache
def short_rollout(name):
    env = make_env(name, episode_length=SHORT_EPISODE, **SMALL_KWARGS.get(name, {}))
    first_obs, steps = make_rollout(env, NUM_ENVS, ROLLOUT_STEPS)(jax.random.key(0))
    return env, jax.device_get(first_obs), jax.device_get(steps)


def check_bookkeeping(steps, episode_limit):
    """Replays the stream of steps in Python and checks the VecEnv bookkeeping.

    Returns the number of (truncated, terminated) episodes seen.
    """
    num_steps, num_envs = steps.done.shape
    truncated = terminated = 0
    for b in range(num_envs):
        ret, length = 0.0, 0
        for t in range(num_steps):
            ret += float(steps.team_reward[t, b])
            length += 1
            step_count = int(steps.next_obs.step_count[t, b])
            discount = steps.discount[t, b]
            assert step_count == length <= episode_limit
            assert np.all(discount == discount[0]) and discount[0] in (0.0, 1.0)
            ends_by_time = length == episode_limit
            assert bool(steps.done[t, b]) == (ends_by_time or discount[0] == 0.0)
            if steps.done[t, b]:
                assert int(steps.episode_length[t, b]) == length
                np.testing.assert_allclose(steps.episode_return[t, b], ret, rtol=1e-5, atol=1e-5)
                # The next episode starts from a valid initial state.
                assert int(steps.obs.step_count[t, b]) == 0
                assert steps.obs.action_mask[t, b].any(axis=-1).all()
                truncated += discount[0] == 1.0
                terminated += discount[0] == 0.0
                ret, length = 0.0, 0
            else:
                assert int(steps.obs.step_count[t, b]) == length
    return truncated, terminated


def test_registry_lists_the_contract_names():
    for name in ["climbing", "climbing-classic", "qtran-game", "lbf-8x8-2p-2f-coop"]:
        assert name in ALL_ENVS
    assert {f"penalty-{k}" for k in (0, 25, 50, 75, 100)} <= set(ALL_ENVS)
    assert any(name.startswith("rware-") for name in ALL_ENVS)


@pytest.mark.parametrize("name", ALL_ENVS)
def test_conformance(name):
    env, first_obs, steps = short_rollout(name)
    n, a = env.num_agents, env.num_actions
    for attr in ("num_agents", "num_actions", "episode_length"):
        assert type(getattr(env, attr)) is int
    assert env.name == name
    assert make_env(name).episode_length == default_episode_length(name)

    # Unbatched, traced as jit traces it.
    state, ts = jax.eval_shape(env.reset, jax.random.key(1))
    _, ts_next = jax.eval_shape(env.step, state, jax.ShapeDtypeStruct((n,), jnp.int32))
    assert jax.tree.structure(ts) == jax.tree.structure(ts_next)
    for t in (ts, ts_next):
        obs = t.observation
        assert isinstance(obs, MultiAgentObservation)
        assert obs.agents_view.dtype == jnp.float32 and obs.agents_view.shape[0] == n
        assert obs.agents_view.ndim == 2
        assert obs.action_mask.dtype == jnp.bool_ and obs.action_mask.shape == (n, a)
        assert obs.global_state.dtype == jnp.float32 and obs.global_state.ndim == 1
        assert obs.step_count.dtype == jnp.int32 and obs.step_count.shape == ()
        assert t.reward.dtype == jnp.float32 and t.reward.shape == (n,)
        assert t.discount.dtype == jnp.float32 and t.discount.shape == (n,)
        # "won" (bool[]) in every step of a game that is won or lost, nowhere else.
        assert set(t.extras) == {"team_reward"} | ({"won"} if env.reports_wins else set())
        assert ("won" in t.extras) is name.startswith("jaxmarl:smax")
        assert t.extras["team_reward"].dtype == jnp.float32
        assert t.extras["team_reward"].shape == ()

    # Specs match what the environment returns.
    spec = env.observation_spec
    assert spec.agents_view.shape == ts.observation.agents_view.shape
    assert spec.global_state.shape == ts.observation.global_state.shape
    assert env.reward_spec.shape == (n,) and env.discount_spec.shape == (n,)
    assert [int(v) for v in env.action_spec.num_values] == [a] * n

    # Batched under jit(vmap): 3 environments, real values.
    assert first_obs.agents_view.shape == (NUM_ENVS, *ts.observation.agents_view.shape)
    assert (first_obs.step_count == 0).all()
    for b in range(NUM_ENVS):
        spec.validate(jax.tree.map(lambda x, b=b: jnp.asarray(x[b]), first_obs))
    assert steps.reward.shape == (ROLLOUT_STEPS, NUM_ENVS, n)
    assert steps.reward.dtype == np.float32 and steps.discount.dtype == np.float32
    assert np.isfinite(steps.next_obs.agents_view).all()
    assert np.isfinite(steps.next_obs.global_state).all()


@pytest.mark.parametrize("name", ALL_ENVS)
def test_auto_reset_and_truncation(name):
    env, _, steps = short_rollout(name)
    truncated, terminated = check_bookkeeping(steps, SHORT_EPISODE)
    # Several episodes per environment: the stream goes on past every episode end.
    assert truncated + terminated >= NUM_ENVS * (ROLLOUT_STEPS // SHORT_EPISODE)
    assert truncated >= 1  # the time limit ends with done and discount 1
    if name in PAYOFFS:
        assert terminated == 0
    # A common-reward team: every agent receives the team reward.
    np.testing.assert_allclose(
        steps.reward, np.broadcast_to(steps.team_reward[..., None], steps.reward.shape)
    )


def test_lbf_global_state_does_not_depend_on_sight():
    # Same keys and the same action masks, so the same random actions and trajectories.
    _, _, full = short_rollout("lbf-10x10-3p-3f")
    _, _, near = short_rollout("lbf-2s-10x10-3p-3f")
    np.testing.assert_array_equal(full.obs.global_state, near.obs.global_state)
    np.testing.assert_array_equal(full.obs.action_mask, near.obs.action_mask)
    assert not np.array_equal(full.obs.agents_view, near.obs.agents_view)
    # With sight 2, something is out of view: (-1, -1, 0) entries appear.
    assert (near.obs.agents_view == -1).any()


def test_many_lbf_envs_reset_to_valid_initial_states():
    env = make_env("lbf-8x8-2p-2f", individual_rewards=True)
    _, steps = make_rollout(env, 64, 200)(jax.random.key(3))
    steps = jax.device_get(steps)
    truncated, _ = check_bookkeeping(steps, env.episode_length)
    assert truncated >= 64 * 3
    # Individual rewards: the team reward is the sum of the agents' rewards.
    np.testing.assert_allclose(steps.team_reward, steps.reward.sum(-1), rtol=1e-6, atol=1e-6)
    assert (steps.reward != 0).any()


def test_lbf_all_food_eaten_is_a_termination():
    env = make_env("lbf-8x8-2p-2f", episode_length=3)

    def reset_then_step(key, step_count, all_eaten):
        state, _ = env.reset(key)
        food = state.food_items
        state = state.replace(
            food_items=food.replace(eaten=food.eaten | all_eaten), step_count=step_count
        )
        return env.step(state, jnp.zeros((env.num_agents,), jnp.int32))[1]

    key, no = jax.random.key(0), jnp.bool_(False)
    run = fast_compile(reset_then_step, key, jnp.int32(0), no)
    ts = run(key, jnp.int32(0), jnp.bool_(True))
    assert ts.step_type == StepType.LAST and (ts.discount == 0).all()
    assert int(ts.observation.step_count) == 1
    # Termination at the time limit is still a termination.
    ts = run(key, jnp.int32(2), jnp.bool_(True))
    assert ts.step_type == StepType.LAST and (ts.discount == 0).all()
    # Without it, the time limit is a truncation.
    ts = run(key, jnp.int32(2), no)
    assert ts.step_type == StepType.LAST and (ts.discount == 1).all()
    assert int(ts.observation.step_count) == 3
    ts = run(key, jnp.int32(0), no)
    assert ts.step_type == StepType.MID and (ts.discount == 1).all()


def test_rware_collision_is_a_termination():
    env = make_env("rware-tiny-2ag", episode_length=10)

    def reset_then_step(key, actions):
        state, _ = env.reset(key)
        # Agent 0 at (0, 0) facing right (direction 1), agent 1 just to its right.
        agents = state.agents._replace(
            position=state.agents.position._replace(
                x=jnp.zeros_like(state.agents.position.x),
                y=jnp.array([0, 1], state.agents.position.y.dtype),
            ),
            direction=jnp.array([1, 0], state.agents.direction.dtype),
            is_carrying=jnp.zeros_like(state.agents.is_carrying),
        )
        grid = place_entities_on_grid(jnp.zeros_like(state.grid), agents, state.shelves)
        mask = compute_action_mask(grid, agents)
        state = state.replace(grid=grid, agents=agents, action_mask=mask)
        return env.step(state, actions)[1]

    key = jax.random.key(0)
    run = fast_compile(reset_then_step, key, jnp.zeros((2,), jnp.int32))
    ts = run(key, jnp.array([1, 0], jnp.int32))  # agent 0 drives into agent 1
    assert ts.step_type == StepType.LAST and (ts.discount == 0).all()
    assert int(ts.observation.step_count) == 1
    ts = run(key, jnp.array([0, 0], jnp.int32))
    assert ts.step_type == StepType.MID and (ts.discount == 1).all()


def test_connector_views_split_own_and_others_cells():
    """Jumanji codes agent k's path, head and target as 1 + 3k, 2 + 3k, 3 + 3k;
    agent i's view has its own three planes, then the others' three."""
    env = make_env("jumanji:Connector-v3", grid_size=5, num_agents=3)
    state, ts = jax.jit(env.reset)(jax.random.key(0))
    grid = np.asarray(state.grid)
    view = np.asarray(ts.observation.agents_view).reshape(3, 6, 5, 5)
    for i in range(3):
        for kind in range(3):  # path, head, target
            mine = grid == 1 + kind + 3 * i
            others = np.isin(grid, [1 + kind + 3 * k for k in range(3) if k != i])
            np.testing.assert_array_equal(view[i, kind], mine)
            np.testing.assert_array_equal(view[i, 3 + kind], others)
    assert view[:, 1].sum() == 3 and view[:, 2].sum() == 3  # one head and target each
    owners = np.asarray(ts.observation.global_state)[3 * 25 :].reshape(5, 5)
    np.testing.assert_allclose(owners, np.where(grid > 0, ((grid - 1) // 3 + 1) / 3, 0))


def test_cleaner_view_is_the_maze_and_the_agents_positions():
    env = make_env("jumanji:Cleaner-v0", num_rows=5, num_cols=5, num_agents=2)
    state, ts = jax.jit(env.reset)(jax.random.key(0))
    grid, view = np.asarray(state.grid), np.asarray(ts.observation.agents_view)
    one_hot = np.stack([grid == v for v in range(3)]).reshape(-1)  # dirty, clean, wall
    positions = np.asarray(state.agents_locations) / 4.0
    for i in range(2):
        np.testing.assert_array_equal(view[i, :75], one_hot)
        np.testing.assert_allclose(view[i, 75:77], positions[i])
        np.testing.assert_allclose(view[i, 77:], positions.reshape(-1))
    np.testing.assert_allclose(
        ts.observation.global_state, np.concatenate([one_hot, positions.reshape(-1)])
    )


def payoffs_of_every_joint_action(env):
    """float32[A**N, N] rewards and [A**N] team rewards, joint actions in row-major order."""
    joint = np.array(
        list(itertools.product(range(env.num_actions), repeat=env.num_agents)), np.int32
    )

    def step_all(key, joint):
        state, _ = env.reset(key)
        return jax.vmap(env.step, in_axes=(None, 0))(state, joint)[1]

    ts = fast_compile(step_all, jax.random.key(0), joint)(jax.random.key(0), joint)
    return joint, np.asarray(ts.reward), np.asarray(ts.extras["team_reward"])


@pytest.mark.parametrize("name", sorted(PAYOFFS))
def test_matrix_payoffs(name):
    env = make_env(name)
    expected = np.asarray(PAYOFFS[name], np.float32)
    joint, reward, team = payoffs_of_every_joint_action(env)
    assert len(joint) == 9
    for (i, j), r, t in zip(joint, reward, team, strict=True):
        np.testing.assert_array_equal(r, [expected[i, j]] * 2)
        assert t == expected[i, j]


def test_three_agent_matrix_game_from_random_payoff():
    payoff = np.random.default_rng(0).normal(size=(4, 4, 4)).astype(np.float32)
    env = MatrixGame(payoff, episode_length=3)
    assert (env.num_agents, env.num_actions) == (3, 4)
    joint, reward, team = payoffs_of_every_joint_action(env)
    assert len(joint) == 64
    for action, r, t in zip(joint, reward, team, strict=True):
        np.testing.assert_array_equal(r, [payoff[tuple(action)]] * 3)
        assert t == payoff[tuple(action)]


def test_evaluate_fixed_policy_on_climbing():
    env = make_env("climbing")

    def mean_return(joint):
        def policy(obs, carry, key):
            return jnp.broadcast_to(joint, obs.action_mask.shape[:-1]), carry

        return evaluate(env, policy, jax.random.key(0), num_episodes=4)

    run = fast_compile(mean_return, jnp.zeros((2,), jnp.int32))
    for joint in [(0, 0), (2, 2), (0, 1), (2, 1)]:
        got = float(run(jnp.array(joint, jnp.int32)))
        assert got == 25 * PAYOFFS["climbing"][joint[0]][joint[1]]


@pytest.mark.parametrize(
    "name, message",
    [
        ("lbf-8x8-0p-2f", "number of agents"),
        ("lbf-8x9-2p-2f", "square"),
        ("lbf-8x8-2p", "malformed LBF name"),
        ("lbf-8x8-2p-0f", "number of food"),
        ("lbf-5x5-2p-2f", "not enough room"),
        ("lbf-9s-8x8-2p-2f", "sight"),
        ("lbf-4x4-1p-1f", "at least 5"),
        ("rware-huge-2ag", "malformed RWARE name"),
        ("rware-tiny-0ag", "number of agents"),
        ("rware-tiny-30ag-easy", "request queue"),
        ("foo", "unknown environment"),
    ],
)
def test_bad_names_raise(name, message):
    with pytest.raises(ValueError, match=message):
        make_env(name)


@pytest.mark.parametrize(
    "name, kwargs, message",
    [
        ("climbing", {"episode_lenght": 3}, "not understood"),
        ("lbf-8x8-2p-2f", {"max_agent_levl": 3}, "not understood"),
        ("rware-tiny-2ag", {"max_agent_level": 3}, "not understood"),
        ("lbf-8x8-2p-2f", {"episode_length": 0}, "episode_length"),
        ("lbf-8x8-2p-2f", {"max_agent_level": 1}, "max_agent_level"),
        ("rware-tiny-2ag", {"individual_rewards": "yes"}, "individual_rewards"),
    ],
)
def test_bad_env_kwargs_raise(name, kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_env(name, **kwargs)


def test_registry_families_build_their_examples_and_refuse_foreign_options():
    """Every example name of every family builds through ``make_env``; an option
    of another family is refused, naming the allowed ones."""
    from jaxmarl_core.envs.registry import FAMILIES

    for family in FAMILIES:
        for name in family.examples[:2]:
            env = make_env(name)
            assert family.pattern.match(name) and env.num_agents >= 2, name
        with pytest.raises(ValueError, match="not understood by"):
            make_env(family.examples[0], not_an_option=1)
    with pytest.raises(ValueError, match="max_agent_level"):
        make_env("climbing", max_agent_level=2)
