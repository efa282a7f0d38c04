"""What every multi-agent environment of the library shares: specs, time limit,
team reward and the ``TimeStep`` it returns.

An environment subclasses :class:`MultiAgentEnvironment`, builds its
``MultiAgentObservation`` and hands each step's per-agent rewards, team reward
and termination to :meth:`~MultiAgentEnvironment.next_timestep`. The base class
turns them into a ``TimeStep`` by one rule for all environments:

- the episode is *truncated* when ``step_count`` reaches ``episode_length``
  (discount 1: the value of the next observation is bootstrapped);
- it is *terminated* when the game itself ends (discount 0); when both happen
  at once, the step is a termination;
- every agent receives the team reward, or its own reward with
  ``individual_rewards=True``; ``extras["team_reward"]`` is always the team's.

Options that do not change shapes are *environment parameters*
(:meth:`~MultiAgentEnvironment.params`, a pytree of arrays, as gymnax's
``EnvParams``): :meth:`~MultiAgentEnvironment.with_params` gives the same
environment on other (possibly traced, batched) values, so one compiled
program can train several games at once.
"""

from __future__ import annotations

import abc
import copy
import weakref
from collections.abc import Callable
from functools import cached_property
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np
from jumanji import specs
from jumanji.env import Environment
from jumanji.types import StepType, TimeStep

from jaxmarl_core.types import MultiAgentObservation

# Sizes, counts and step counts are int32.
INT32_MAX = int(np.iinfo(np.int32).max)


def check_int(name: str, key: str, value: Any, minimum: int) -> int:
    """``value`` as an int in ``[minimum, int32 max]`` (sizes, counts and levels are int32)."""
    if (
        isinstance(value, bool | np.bool_)
        or not isinstance(value, int | np.integer)
        or not minimum <= value <= INT32_MAX
    ):
        raise ValueError(
            f"{name}: {key} must be an integer >= {minimum} and <= {INT32_MAX}, got {value!r}"
        )
    return int(value)


def check_bool(name: str, key: str, value: Any) -> bool:
    if not isinstance(value, bool | np.bool_):
        raise ValueError(f"{name}: {key} must be True or False, got {value!r}")
    return bool(value)


class MultiAgentEnvironment(Environment):
    """A ``jumanji.Environment`` with ``num_agents`` agents of ``num_actions`` actions,
    float32[N] rewards and discounts, a time limit and a team reward.

    Subclasses set ``name``, ``num_agents``, ``num_actions``, ``episode_length`` (and
    ``individual_rewards`` where agents have rewards of their own, ``reports_wins``
    for a game that is won or lost) and give the lengths of ``agents_view`` and
    ``global_state`` as ``obs_dim`` and ``state_dim``.
    """

    name: str
    num_agents: int
    num_actions: int
    episode_length: int
    individual_rewards: bool = False
    # Every TimeStep's extras hold "won" (bool[]: the team won at this step).
    reports_wins: bool = False

    @property
    @abc.abstractmethod
    def obs_dim(self) -> int:
        """Length of each agent's ``agents_view``."""

    @property
    @abc.abstractmethod
    def state_dim(self) -> int:
        """Length of ``global_state``."""

    def params(self) -> Any:
        """The options that do not change shapes, as a pytree of arrays (``{}``:
        none). Subclasses with such options override it and read them from the
        attributes that :meth:`with_params` replaces."""
        return {}

    def with_params(self, params: Any) -> MultiAgentEnvironment:
        """A copy of this environment on ``params`` (a pytree shaped as
        :meth:`params`; its leaves may be tracers, e.g. one run's slice of a
        batch under ``vmap``). Raises ValueError if the structure or a shape differs."""
        own = self.params()
        mine = jax.tree.structure(own)
        given = jax.tree.structure(params)
        if mine != given:
            raise ValueError(
                f"{self.name}: environment parameters must be shaped as "
                f"{jax.tree.map(jnp.shape, own)}, got {jax.tree.map(jnp.shape, params)}"
            )
        for name, a, b in zip(
            _leaf_names(own), jax.tree.leaves(own), jax.tree.leaves(params), strict=True
        ):
            if jnp.shape(a) != jnp.shape(b):
                raise ValueError(
                    f"{self.name}: environment parameter {name} must have shape "
                    f"{jnp.shape(a)}, got {jnp.shape(b)}"
                )
        bound = copy.copy(self)
        bound._set_params(params)
        return bound

    def _set_params(self, params: Any) -> None:
        """Stores ``params`` where :meth:`params` reads them (subclasses with parameters)."""

    def first_timestep(self, observation: MultiAgentObservation) -> TimeStep:
        """The ``TimeStep`` of a reset: no reward, discount 1."""
        return TimeStep(
            step_type=StepType.FIRST,
            reward=jnp.zeros((self.num_agents,), jnp.float32),
            discount=jnp.ones((self.num_agents,), jnp.float32),
            observation=observation,
            extras=self._extras(jnp.zeros((), jnp.float32), None),
        )

    def _extras(self, team_reward: chex.Array, won: chex.Array | None) -> dict:
        """``team_reward``, and ``won`` (False where not given) for a game that is won or lost."""
        extras = {"team_reward": jnp.asarray(team_reward, jnp.float32)}
        if self.reports_wins:
            extras["won"] = jnp.zeros((), bool) if won is None else jnp.asarray(won, bool)
        return extras

    def next_timestep(
        self,
        observation: MultiAgentObservation,
        agent_rewards: chex.Array,
        team_reward: chex.Array,
        terminated: chex.Array,
        won: chex.Array | None = None,
    ) -> TimeStep:
        """The ``TimeStep`` after a step.

        Args:
            observation: the observation after the step; its ``step_count``
                decides the truncation.
            agent_rewards: float32[N], each agent's own reward.
            team_reward: float32[], the team's reward.
            terminated: bool[], the game itself ended.
            won: bool[], the team won the game at this step (``extras["won"]`` where
                ``reports_wins``; ignored elsewhere).
        """
        truncated = observation.step_count >= self.episode_length
        reward = (
            agent_rewards
            if self.individual_rewards
            else jnp.broadcast_to(team_reward, (self.num_agents,))
        )
        return TimeStep(
            step_type=jnp.where(terminated | truncated, StepType.LAST, StepType.MID),
            reward=reward.astype(jnp.float32),
            discount=jnp.full((self.num_agents,), jnp.where(terminated, 0.0, 1.0), jnp.float32),
            observation=observation,
            extras=self._extras(team_reward, won),
        )

    @cached_property
    def observation_spec(self) -> specs.Spec:
        n = self.num_agents
        return specs.Spec(
            MultiAgentObservation,
            "MultiAgentObservation",
            agents_view=specs.Array((n, self.obs_dim), jnp.float32, "agents_view"),
            action_mask=specs.BoundedArray((n, self.num_actions), bool, False, True, "action_mask"),
            global_state=specs.Array((self.state_dim,), jnp.float32, "global_state"),
            step_count=specs.BoundedArray((), jnp.int32, 0, self.episode_length, "step_count"),
        )

    @cached_property
    def action_spec(self) -> specs.MultiDiscreteArray:
        return specs.MultiDiscreteArray(
            num_values=jnp.full((self.num_agents,), self.num_actions, jnp.int32),
            name="action",
        )

    @cached_property
    def reward_spec(self) -> specs.Array:
        return specs.Array((self.num_agents,), jnp.float32, "reward")

    @cached_property
    def discount_spec(self) -> specs.BoundedArray:
        return specs.BoundedArray((self.num_agents,), jnp.float32, 0.0, 1.0, "discount")

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.name}, agents={self.num_agents}, "
            f"actions={self.num_actions}, episode_length={self.episode_length})"
        )


def _leaf_names(tree: Any) -> list[str]:
    return [jax.tree_util.keystr(path) for path, _ in jax.tree_util.tree_leaves_with_path(tree)]


class Batched(NamedTuple):
    """An environment's ``reset`` and ``step`` vmapped over a batch of B environments:
    ``reset(keys [B]) -> (states [B], TimeStep [B])`` and
    ``step(states [B], actions int32[B, N]) -> (states [B], TimeStep [B])``."""

    reset: Callable[[chex.Array], tuple[Any, TimeStep]]
    step: Callable[[Any, chex.Array], tuple[Any, TimeStep]]


_BATCHED: weakref.WeakKeyDictionary[Environment, Batched] = weakref.WeakKeyDictionary()


def batched(env: Environment) -> Batched:
    """``env``'s :class:`Batched` reset and step, one pair per environment object.

    Both go through one ``jax.jit`` each, shared by every place that batches this
    object (the training step, its reserve resets, the greedy evaluation), so a
    program traces the environment once per shape instead of once per place: jit's
    trace cache hands the second place the first one's jaxpr, which ``vmap`` then
    batches without calling Python again. Tracing Jumanji's LBF reset or step takes
    about 0.4 s each; the compiled program is the same (XLA inlines the calls).
    """
    found = _BATCHED.get(env)
    if found is None:

        def reset(key: chex.PRNGKey) -> tuple[Any, TimeStep]:
            # A state fresh from reset may hold weakly typed leaves (a Python 0
            # for a step counter) where a stepped one does not; typed alike,
            # a step after a reset and a step after a step share one trace.
            return jax.tree.map(_strongly_typed, env.reset(key))

        found = Batched(jax.vmap(jax.jit(reset)), jax.vmap(jax.jit(env.step)))
        _BATCHED[env] = found
    return found


def _strongly_typed(x: Any) -> Any:
    return jax.lax.convert_element_type(x, x.dtype) if jax.typeof(x).weak_type else x
