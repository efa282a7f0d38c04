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

from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp
from jumanji.types import TimeStep

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

    @property
    def obs_dim(self) -> int:
        return 2 + self.episode_length

    @property
    def state_dim(self) -> int:
        return self.episode_length

    def reset(self, key: chex.PRNGKey) -> tuple[MemoryState, TimeStep]:
        state = MemoryState(jax.random.bernoulli(key).astype(jnp.int32), jnp.int32(0))
        return state, self.first_timestep(self._observation(state.cue, state.step_count))

    def step(self, state: MemoryState, actions: chex.Array) -> tuple[MemoryState, TimeStep]:
        step_count = state.step_count + 1
        last = step_count >= self.episode_length
        team = jnp.where(last, jnp.mean((actions == state.cue).astype(jnp.float32)), 0.0)
        state = MemoryState(state.cue, step_count)
        # The game ends at its last step: a termination, nothing to bootstrap. (The
        # observation's step count stays below the limit, so it is no truncation.)
        observation = self._observation(state.cue, jnp.minimum(step_count, self.episode_length - 1))
        timestep = self.next_timestep(
            observation,
            agent_rewards=jnp.full((self.num_agents,), team, jnp.float32),
            team_reward=team,
            terminated=last,
        )
        return state, timestep
