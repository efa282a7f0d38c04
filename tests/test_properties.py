"""Property-based tests (hypothesis) of the environment and config contracts.

1. Random action sequences that respect the action mask keep every invariant of
   every registered environment: shapes, dtypes and bounds as the specs say,
   masks with a legal action for every agent, finite rewards and discounts, a
   step count that advances by one and an episode that ends by
   ``episode_length``, and ``VecEnv``'s auto-reset, which resets exactly the
   environments that ended and leaves the others untouched. Each
   environment is compiled once (a ``lax.scan`` over a drawn action sequence);
   hypothesis then only draws the seed and the actions.
2. Random config overrides (keys declared or not, ``env_kwargs``, values of any
   type) give a valid ``Config`` or a ``ValueError`` that names the key, never
   another exception; random LBF / RWARE names give an environment or a
   ``ValueError`` naming the name.

Below them, plain regression tests for the bugs these properties found.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from jumanji.env import Environment
from test_envs import SMALL_KWARGS

from jaxmarl_core.config import Config, Param, list_algos, make_config, params_of
from jaxmarl_core.envs import MatrixGame, VecEnv, list_envs, make_env
from jaxmarl_core.envs.wrappers import VecStep
from jaxmarl_core.types import MultiAgentObservation

INT32_MAX = int(np.iinfo(np.int32).max)
# No deadline (the first example of an environment compiles it); no example database,
# which would leave a .hypothesis/ folder in the repository.
SETTINGS: dict[str, Any] = {"deadline": None, "database": None}

# ---------------------------------------------------------------------------
# 1. Environments under random masked actions

# Every registered name: the listed ones include LBF with sight (lbf-2s-...) and
# RWARE (checked below). Each costs a compile of about 3 s on one core, so other
# pattern names are only built, by test_random_grid_names_... further down. Of
# JaxMARL's, two that exercise the adapter's padding and in-game time limit
# (test_envs.py checks every example's contract).
JAXMARL_NAMES = ["jaxmarl:MPE_simple_speaker_listener_v4", "jaxmarl:switch_riddle"]
ENV_NAMES = [n for n in list_envs() if not n.startswith("jaxmarl:")] + JAXMARL_NAMES
EPISODE_LENGTH = 4  # short, so that a drawn sequence spans several episodes and resets
NUM_STEPS = 10
NUM_ENVS = 3

# XLA:CPU spends most of a compile in LLVM; these programs run in milliseconds anyway.
# The fusion emitters off halves the compile time of these programs again (measured here).
COMPILER_OPTIONS = {
    "xla_backend_optimization_level": 0,
    "xla_llvm_disable_expensive_passes": True,
    "xla_cpu_use_fusion_emitters": False,
}


class Rollout(NamedTuple):
    """What one compiled rollout returns (T = NUM_STEPS, B = NUM_ENVS)."""

    first_obs: MultiAgentObservation  # [B]: the observation before the first step
    actions: Any  # int32[T, B, N]: the actions taken
    steps: VecStep  # [T, B]
    counters: Any  # int32[T, B]: VecEnvState.episode_length after every step


def nth_legal_action(mask: jax.Array, choice: jax.Array) -> jax.Array:
    """int32[..., N]: agent i's ``(choice_i mod #legal_i)``-th allowed action.

    Maps any drawn integer to an action that the mask allows, so hypothesis can
    draw (and shrink) plain integers while the actions stay legal.
    """
    count = mask.sum(-1)
    wanted = choice % jnp.maximum(count, 1)
    rank = jnp.cumsum(mask, -1) - 1
    return jnp.argmax(mask & (rank == wanted[..., None]), -1).astype(jnp.int32)


@functools.cache
def compiled_rollout(name: str) -> tuple[Environment, Callable[..., Rollout]]:
    """The environment ``name`` with short episodes, and its VecEnv rollout compiled once."""
    env = make_env(name, episode_length=EPISODE_LENGTH, **SMALL_KWARGS.get(name, {}))
    venv = VecEnv(env, NUM_ENVS)

    def rollout(key: jax.Array, choices: jax.Array) -> Rollout:
        state = venv.reset(key)

        def body(state, choice):
            actions = nth_legal_action(state.obs.action_mask, choice)
            state, step = venv.step(state, actions)
            return state, (actions, step, state.episode_length)

        first_obs = state.obs
        _, (actions, steps, counters) = jax.lax.scan(body, state, choices)
        return Rollout(first_obs, actions, steps, counters)

    example = (
        jax.random.key(0),
        jnp.zeros((NUM_STEPS, NUM_ENVS, env.num_agents), jnp.int32),
    )
    compiled = jax.jit(rollout).lower(*example).compile(compiler_options=COMPILER_OPTIONS)
    return env, compiled


def assert_matches_spec(spec: Any, value: np.ndarray, batch: tuple[int, ...], what: str) -> None:
    """``value`` has ``batch + spec.shape``, the spec's dtype, and lies within its bounds."""
    assert value.shape == batch + tuple(spec.shape), (what, value.shape, batch, spec.shape)
    assert value.dtype == spec.dtype, (what, value.dtype, spec.dtype)
    if hasattr(spec, "minimum"):
        assert np.all(value >= np.asarray(spec.minimum)), (what, value)
        assert np.all(value <= np.asarray(spec.maximum)), (what, value)


def check_observation(env: Environment, obs: MultiAgentObservation, batch: tuple[int, ...]):
    """Spec conformance, finiteness and a legal action for every agent."""
    spec = env.observation_spec
    for field in MultiAgentObservation._fields:
        assert_matches_spec(getattr(spec, field), np.asarray(getattr(obs, field)), batch, field)
    assert obs.action_mask.shape[-2:] == (env.num_agents, env.num_actions)
    assert obs.action_mask.dtype == np.bool_
    assert obs.action_mask.any(-1).all(), "an agent has no legal action"
    assert np.isfinite(obs.agents_view).all() and np.isfinite(obs.global_state).all()


def tree_equal(a: Any, b: Any) -> bool:
    """Whether two pytrees of arrays have the same structure and equal leaves."""
    same_structure = jax.tree.structure(a) == jax.tree.structure(b)
    leaves = zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
    return same_structure and all(np.array_equal(x, y) for x, y in leaves)


def take(tree: Any, t: int, b: int | None = None) -> Any:
    """Element ``[t]`` (or ``[t, b]``) of every leaf."""
    return jax.tree.map(lambda x: x[t] if b is None else x[t, b], tree)


def check_rollout(env: Environment, r: Rollout) -> None:
    """Every invariant of the environment contract and of VecEnv's auto-reset."""
    n, a = env.num_agents, env.num_actions
    assert type(n) is int and type(a) is int and type(env.episode_length) is int
    assert env.episode_length == EPISODE_LENGTH
    assert [int(v) for v in env.action_spec.num_values] == [a] * n

    # Shapes, dtypes and bounds as the specs say, at every step.
    check_observation(env, r.first_obs, (NUM_ENVS,))
    assert (r.first_obs.step_count == 0).all()
    batch = (NUM_STEPS, NUM_ENVS)
    check_observation(env, r.steps.next_obs, batch)  # the environment's own observations
    check_observation(env, r.steps.obs, batch)  # the same, or a reset where an episode ended
    assert r.actions.shape == (*batch, n) and r.actions.dtype == env.action_spec.dtype
    for name, spec in (("reward", env.reward_spec), ("discount", env.discount_spec)):
        value = np.asarray(getattr(r.steps, name))
        assert_matches_spec(spec, value, batch, name)
        assert np.isfinite(value).all(), name
    team = np.asarray(r.steps.team_reward)
    assert team.shape == batch and team.dtype == np.float32 and np.isfinite(team).all()
    assert r.steps.done.shape == batch and r.steps.done.dtype == np.bool_
    # A common-reward team (the default): every agent receives the team reward.
    np.testing.assert_array_equal(r.steps.reward, np.broadcast_to(team[..., None], (*batch, n)))

    # Step by step, environment by environment.
    length = np.zeros(NUM_ENVS, int)  # steps since each environment's episode began
    ret = np.zeros(NUM_ENVS)
    prev_obs = r.first_obs
    for t in range(NUM_STEPS):
        step = take(r.steps, t)
        legal = np.take_along_axis(prev_obs.action_mask, r.actions[t][..., None], -1)
        assert legal.all(), f"step {t}: an action the mask forbids"
        if isinstance(env, MatrixGame):
            # The joint action's payoff; only the time limit ends the game (discount 1).
            payoff = np.asarray(env.payoff)[tuple(r.actions[t].T)]
            np.testing.assert_array_equal(step.team_reward, payoff)
            assert (step.discount == 1).all()
        length += 1
        ret += step.team_reward
        for b in range(NUM_ENVS):
            count = int(step.next_obs.step_count[b])
            done = bool(step.done[b])
            discount = step.discount[b]
            # The step count advances by one from the observation acted on.
            assert count == int(prev_obs.step_count[b]) + 1 == length[b]
            # The episode ends no later than episode_length.
            assert count <= env.episode_length
            if count == env.episode_length:
                assert done, f"step {t}, env {b}: past the time limit without an end"
            # Discount 0 only at a termination, 1 everywhere else.
            assert np.isin(discount, [0.0, 1.0]).all()
            assert done or (discount == 1).all()
            if done and count < env.episode_length:
                assert (discount == 0).all(), "an early end that is not a termination"
            if done:
                # Reset: the next observation starts a new episode.
                assert int(step.obs.step_count[b]) == 0 and int(r.counters[t, b]) == 0
                assert int(step.episode_length[b]) == length[b]
                np.testing.assert_allclose(step.episode_return[b], ret[b], rtol=1e-5, atol=1e-5)
                length[b], ret[b] = 0, 0.0
            else:
                # Untouched by the auto-reset: the observation is the step's own.
                assert tree_equal(take(r.steps.obs, t, b), take(r.steps.next_obs, t, b))
                assert int(r.counters[t, b]) == length[b]
        prev_obs = step.obs


def test_property_env_names_include_lbf_with_sight_and_rware():
    assert any(name.startswith("rware-") for name in ENV_NAMES)
    assert any(name.startswith("lbf-") and name.split("-")[1].endswith("s") for name in ENV_NAMES)


def test_nth_legal_action_picks_only_allowed_actions():
    mask = jnp.array([[True, False, True, False], [False, False, False, True]])
    picks = [nth_legal_action(mask, jnp.array([c, c])).tolist() for c in range(4)]
    assert picks == [[0, 3], [2, 3], [0, 3], [2, 3]]


@pytest.mark.parametrize("name", ENV_NAMES)
@settings(max_examples=3, suppress_health_check=[HealthCheck.too_slow], **SETTINGS)
@given(data=st.data())
def test_random_masked_actions_keep_every_env_invariant(name: str, data: st.DataObject) -> None:
    env, rollout = compiled_rollout(name)
    seed = data.draw(st.integers(0, 2**32 - 1), label="seed")
    choices = data.draw(
        hnp.arrays(np.int32, (NUM_STEPS, NUM_ENVS, env.num_agents), elements=st.integers(0, 99)),
        label="choices",
    )
    check_rollout(env, jax.device_get(rollout(jax.random.key(seed), jnp.asarray(choices))))


# ---------------------------------------------------------------------------
# 2. Configs under random overrides

ALGOS = list_algos()
CONFIG_ENVS = [
    "climbing",
    "penalty-100",
    "lbf-8x8-2p-2f-coop",
    "lbf-2s-8x8-2p-2f",
    "rware-tiny-2ag",
]
ENV_KWARG_NAMES = ["episode_length", "individual_rewards", "max_agent_level"]
# make_config's own arguments: as override keys they are a Python call error, not a config key.
OWN_ARGUMENTS = {"algo", "env"}

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([0, 1, -1, 2, 8, INT32_MAX, INT32_MAX + 1, 2**63, 10**400, -(10**400)]),
    st.floats(),  # nan, inf, subnormals, huge
    st.sampled_from([1e-50, 1e39, -0.0, 0.5, 1.0 - 1e-12, 1.0 + 1e-12, 1e300]),
    st.text(max_size=8),
    st.sampled_from(["true", "False", "1", "0.5", "nan", "inf", "", "csv", "gae"]),
)
any_values = st.one_of(
    scalars,
    st.lists(scalars, max_size=3),
    st.dictionaries(st.text(max_size=6), scalars, max_size=2),
)
env_kwarg_names = st.one_of(st.sampled_from(ENV_KWARG_NAMES), st.text(max_size=8))


def plausible_values(param: Param) -> st.SearchStrategy:
    """Values of the declared type, mostly in range, so that some configs succeed."""
    options = [st.just(param.default)]
    if param.choices is not None:
        options.append(st.sampled_from(param.choices))
    if param.kind is bool:
        options.append(st.booleans())
    elif param.kind is int:
        low = None if param.low is None else int(param.low)
        options.append(st.integers(min_value=low, max_value=None if low is None else low + 100))
    elif param.kind is float:
        options.append(
            st.floats(
                min_value=param.low,
                max_value=param.high,
                exclude_min=param.low_open and param.low is not None,
                exclude_max=param.high_open and param.high is not None,
                allow_nan=False,
            )
        )
    return st.one_of(options)


def overrides_of(algo: str) -> st.SearchStrategy:
    """One ``(key, value)`` override: declared, unknown, ``env_kwargs.<name>`` or ``env_kwargs``."""
    params = params_of(algo)
    declared = st.sampled_from(sorted(params)).flatmap(
        lambda key: st.tuples(st.just(key), st.one_of(plausible_values(params[key]), any_values))
    )
    unknown = st.tuples(
        st.text(max_size=12).filter(
            lambda key: (
                key not in params
                and key not in OWN_ARGUMENTS
                and key != "env_kwargs"
                and not key.startswith("env_kwargs.")
            )
        ),
        any_values,
    )
    env_kwarg = st.tuples(env_kwarg_names.map(lambda name: f"env_kwargs.{name}"), any_values)
    env_kwargs = st.tuples(
        st.just("env_kwargs"),
        st.one_of(any_values, st.dictionaries(env_kwarg_names, scalars, max_size=2)),
    )
    return st.one_of(declared, declared, unknown, env_kwarg, env_kwargs)


def names_of(key: str, value: Any) -> list[str]:
    """The names an error about the override ``key=value`` may use to name it."""
    if key.startswith("env_kwargs."):
        return [key, key.split(".", 1)[1]]
    if key == "env_kwargs" and isinstance(value, Mapping):
        return ["env_kwargs", *(k for k in value if isinstance(k, str))]
    return [key]


def assert_names_one_of(err: ValueError, names: list[str]) -> None:
    """The message contains one of ``names`` (as is, or as its repr)."""
    message = str(err)
    assert any(name in message or repr(name) in message for name in names), (names, message)


def in_range(param: Param, value: float) -> bool:
    """Whether ``value`` lies within the declared bounds (written out here, not reused)."""
    if param.low is not None:
        if value < param.low or (param.low_open and value == param.low):
            return False
    if param.high is not None:
        if value > param.high or (param.high_open and value == param.high):
            return False
    return True


def assert_valid(config: Config, algo: str) -> None:
    """Every key of the right type and in range, also as the float32 the program sees."""
    params = params_of(algo)
    assert config.algo == algo
    assert set(config.static) | set(config.hparams_defaults) == set(params)
    for name, param in params.items():
        value = getattr(config, name)
        assert type(value) is param.kind, (name, value)
        if param.choices is not None:  # a ``many`` key: a comma-separated set of them
            assert set(value.split(",") if param.many else [value]) <= set(param.choices), (
                name,
                value,
            )
        if param.kind in (int, float):
            assert in_range(param, value), (name, value)
        if param.kind is int:
            assert abs(value) <= INT32_MAX, (name, value)
        if param.kind is float:
            assert math.isfinite(value), (name, value)
    for name, value in config.hparams.items():
        as_float32 = float(value)
        assert value.dtype == jnp.float32 and math.isfinite(as_float32), (name, value)
        assert in_range(params[name], as_float32), (name, value)
    env = make_env(config.env, **config.env_kwargs)
    assert type(env.episode_length) is int and 1 <= env.episode_length <= INT32_MAX
    assert config.replace().to_dict() == config.to_dict()


def make_or_value_error(algo: str, env: str, overrides: dict[str, Any]) -> Config | ValueError:
    """``make_config``'s result, or the ValueError it raised (any other error propagates)."""
    try:
        return make_config(algo, env=env, **overrides)
    except ValueError as err:
        return err


@settings(max_examples=200, **SETTINGS)
@given(data=st.data())
def test_one_random_override_gives_a_config_or_a_value_error_naming_the_key(
    data: st.DataObject,
) -> None:
    algo = data.draw(st.sampled_from(ALGOS), label="algo")
    env = data.draw(st.sampled_from(CONFIG_ENVS), label="env")
    key, value = data.draw(overrides_of(algo), label="override")
    result = make_or_value_error(algo, env, {key: value})
    if isinstance(result, ValueError):
        assert_names_one_of(result, names_of(key, value))
    else:
        assert_valid(result, algo)


@settings(max_examples=120, **SETTINGS)
@given(data=st.data())
def test_random_overrides_give_a_config_or_a_value_error_naming_one_of_them(
    data: st.DataObject,
) -> None:
    algo = data.draw(st.sampled_from(ALGOS), label="algo")
    env = data.draw(st.sampled_from(CONFIG_ENVS), label="env")
    items = data.draw(st.lists(overrides_of(algo), min_size=1, max_size=4), label="overrides")
    overrides = dict(items)
    result = make_or_value_error(algo, env, overrides)
    if isinstance(result, ValueError):
        names = [name for key, value in overrides.items() for name in names_of(key, value)]
        assert_names_one_of(result, names)
    else:
        assert_valid(result, algo)


# Small counts, and counts beyond int32 that must be refused cleanly. (Valid huge
# grids build, but Jumanji then allocates specs of num_agents * 3 * (agents + food)
# bounds: a huge food count on a huge grid asks for gigabytes; left out here.)
small_counts = st.integers(0, 12)
huge_counts = st.integers(INT32_MAX + 1, 2**64)
counts = st.one_of(small_counts, small_counts, huge_counts)


@st.composite
def grid_names(draw: st.DrawFn) -> str:
    """A well-formed LBF or RWARE name with random (possibly huge or zero) numbers."""
    if draw(st.booleans()):
        sight = draw(st.one_of(st.just(""), counts.map(lambda s: f"-{s}s")))
        width = draw(st.one_of(counts, st.just(INT32_MAX)))
        height = draw(st.one_of(st.just(width), counts))
        coop = draw(st.sampled_from(["", "-coop"]))
        return f"lbf{sight}-{width}x{height}-{draw(counts)}p-{draw(counts)}f{coop}"
    size = draw(st.sampled_from(["tiny", "small", "medium", "large"]))
    difficulty = draw(st.sampled_from(["", "-easy", "-hard"]))
    return f"rware-{size}-{draw(counts)}ag{difficulty}"


@settings(max_examples=25, **SETTINGS)
@given(name=grid_names())
def test_random_grid_names_give_an_env_or_a_value_error_naming_them(name: str) -> None:
    try:
        env = make_env(name)
    except ValueError as err:
        assert name in str(err), str(err)
        return
    assert env.name == name and 1 <= env.num_agents <= INT32_MAX
    assert env.observation_spec.step_count.maximum == env.episode_length


# ---------------------------------------------------------------------------
# Regression tests for what the properties found (each raised another exception,
# or was accepted and broke the compiled program later).


def test_float_key_given_a_huge_int_is_a_value_error():
    # Was an OverflowError from float().
    with pytest.raises(ValueError, match="lr"):
        make_config("idqn", lr=10**400)


@pytest.mark.parametrize(
    ("key", "value"), [("lr", 1e-50), ("lr", 1e39), ("eps_decay_fraction", 1e-50)]
)
def test_float_key_is_checked_as_the_float32_the_program_sees(key: str, value: float):
    # Was accepted: 1e-50 became 0 (out of range) and 1e39 became inf in the traced hparams.
    with pytest.raises(ValueError, match=f"{key}.*float32"):
        make_config("idqn", **{key: value})


def test_small_float_that_float32_keeps_is_still_accepted():
    assert make_config("idqn", lr=1e-30).hparams["lr"] > 0


@pytest.mark.parametrize("value", [1e300, INT32_MAX + 1, -(2**70)])
def test_int_key_beyond_int32_is_a_value_error(value: float):
    # Was accepted (hidden_size=1e300 became a 301-digit int).
    with pytest.raises(ValueError, match="hidden_size"):
        make_config("ippo", hidden_size=value)


@pytest.mark.parametrize("value", [5, True, [1, 2], "abc"])
def test_env_kwargs_that_is_not_a_mapping_is_a_value_error_naming_it(value: Any):
    # Was a TypeError (5, True, [1, 2]) or a ValueError about a "dictionary update sequence".
    with pytest.raises(ValueError, match="env_kwargs"):
        make_config("vdn", env="climbing", env_kwargs=value)
    assert make_config("vdn", env="climbing", env_kwargs=None).env_kwargs == {}


@pytest.mark.parametrize("env", ["climbing", "lbf-8x8-2p-2f", "rware-tiny-2ag"])
@pytest.mark.parametrize("value", [True, 10**30, INT32_MAX + 1])
def test_episode_length_must_be_a_true_int32(env: str, value: Any):
    # A matrix game took True as 1; 10**30 was an OverflowError on every game.
    with pytest.raises(ValueError, match="episode_length"):
        make_config("qmix", env=env, **{"env_kwargs.episode_length": value})
    with pytest.raises(ValueError, match="episode_length"):
        make_env(env, episode_length=value)


@pytest.mark.parametrize("value", [2**30, 2**40, INT32_MAX])
def test_lbf_max_agent_level_beyond_int32_is_a_value_error(value: int):
    # Was an OverflowError: Jumanji's highest food level num_agents * max_agent_level is int32.
    with pytest.raises(ValueError, match="max_agent_level"):
        make_config("idqn", env="lbf-8x8-2p-2f", **{"env_kwargs.max_agent_level": value})


@pytest.mark.parametrize(
    "name",
    [
        "lbf-99999999999999999999x99999999999999999999-2p-2f",
        "lbf-1s-2147483647x2147483647-2147483647p-2147483647f",
        "rware-tiny-99999999999999999999ag",
        "rware-tiny-2147483647ag-easy",
    ],
)
def test_huge_counts_in_grid_names_are_value_errors(name: str):
    # Were OverflowErrors (LBF, RWARE easy) or a TypeError from JAX (RWARE).
    with pytest.raises(ValueError, match=name):
        make_env(name)
