"""A cooperative game that only an agent with memory can solve.

At the start of every episode a cue c ∈ {0, 1} is drawn and shown to every
agent in the first observation only; the later observations carry just the
time step (one-hot). Nothing is paid before the last step; at the last step
every agent whose action equals c earns its share of the team reward:

    r_T = (1/N) Σ_i [a_i = c],  all earlier rewards 0.

An agent with memory can recall c and earn the maximum team return 1. A
feed-forward agent sees the same observation at the last step whatever c was,
so any policy of it earns 0.5 in expectation, and its greedy (deterministic)
policy earns exactly 0.5 over the two cues. The global state z carries only
the time step too, so no centralised critic or mixer can recover the cue
without memory either.
"""

from __future__ import annotations

from functools import cached_property
from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp
from jumanji import specs
from jumanji.types import StepType, TimeStep

from jaxmarl_core.envs.base import MultiAgentEnvironment
from jaxmarl_core.types import MultiAgentObservation

OPTIMUM = 1.0  # the team return of the agents that recall the cue
MEMORYLESS = 0.5  # the expected team return of any feed-forward policy


class MemoryState(NamedTuple):
    cue: chex.Array  # int32[]
    step_count: chex.Array  # int32[]


class MemoryGame(MultiAgentEnvironment):
    """N agents, 2 actions, episodes of ``episode_length`` >= 2 steps."""

    def __init__(self, num_agents: int = 2, episode_length: int = 3) -> None:
        self.num_agents = num_agents
        self.num_actions = 2
        self.episode_length = episode_length
        self.name = "memory"
        super().__init__()

    def _observation(self, cue: chex.Array, step_count: chex.Array) -> MultiAgentObservation:
        shown = jnp.where(step_count == 0, jax.nn.one_hot(cue, 2), 0.0)  # [2]
        time = jax.nn.one_hot(step_count, self.episode_length)  # [L]
        view = jnp.concatenate([shown, time])
        return MultiAgentObservation(
            agents_view=jnp.broadcast_to(view, (self.num_agents, view.shape[0])),
            action_mask=jnp.ones((self.num_agents, 2), bool),
            global_state=time,
            step_count=step_count,
        )

    def reset(self, key: chex.PRNGKey) -> tuple[MemoryState, TimeStep]:
        state = MemoryState(jax.random.bernoulli(key).astype(jnp.int32), jnp.int32(0))
        timestep = TimeStep(
            step_type=StepType.FIRST,
            reward=jnp.zeros((self.num_agents,), jnp.float32),
            discount=jnp.ones((self.num_agents,), jnp.float32),
            observation=self._observation(state.cue, state.step_count),
            extras={"team_reward": jnp.float32(0.0)},
        )
        return state, timestep

    def step(self, state: MemoryState, actions: chex.Array) -> tuple[MemoryState, TimeStep]:
        step_count = state.step_count + 1
        last = step_count >= self.episode_length
        team = jnp.where(last, jnp.mean((actions == state.cue).astype(jnp.float32)), 0.0)
        state = MemoryState(state.cue, step_count)
        timestep = TimeStep(
            step_type=jnp.where(last, StepType.LAST, StepType.MID),
            reward=jnp.full((self.num_agents,), team, jnp.float32),
            # The game ends at its last step: a termination, nothing to bootstrap.
            discount=jnp.where(last, 0.0, 1.0) * jnp.ones((self.num_agents,), jnp.float32),
            observation=self._observation(
                state.cue, jnp.minimum(step_count, self.episode_length - 1)
            ),
            extras={"team_reward": team},
        )
        return state, timestep

    @cached_property
    def observation_spec(self) -> specs.Spec:
        n, length = self.num_agents, self.episode_length
        return specs.Spec(
            MultiAgentObservation,
            "MultiAgentObservation",
            agents_view=specs.Array((n, 2 + length), jnp.float32, "agents_view"),
            action_mask=specs.BoundedArray((n, 2), bool, False, True, "action_mask"),
            global_state=specs.Array((length,), jnp.float32, "global_state"),
            step_count=specs.BoundedArray((), jnp.int32, 0, length, "step_count"),
        )
