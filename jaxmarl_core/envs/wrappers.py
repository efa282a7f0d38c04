"""Batched auto-reset with episode bookkeeping, and greedy evaluation.

Every trainer steps ``B`` environments as one endless stream of steps through
:class:`VecEnv`. A naive auto-reset under ``vmap`` computes a fresh reset for
every environment at every step and selects it where an episode ended; on
Level-Based Foraging the reset (random placement of agents and food) costs
several times a step. ``VecEnv`` instead keeps, for every environment, a
*reserve* initial state generated in advance. When an episode ends the
environment swaps its reserve in (a cheap select), and at each step only
``K = ceil(refill_fraction * B)`` new resets are generated, for the first K
environments whose reserve has been used. With ``K`` above the rate at which
episodes end (the default is four times the rate of time-limited episodes, and
at least 1/16 of B, for games such as RWARE whose episodes often end early),
every episode starts from
a fresh, independent initial state; an environment that ends two episodes
before its reserve is refilled starts the second from the same initial state
as the first (still a valid draw from the reset distribution).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
from jumanji.env import Environment

from jaxmarl_core.envs.base import batched
from jaxmarl_core.envs.episodes import Policy, greedy_returns
from jaxmarl_core.types import MultiAgentObservation


class VecEnvState(NamedTuple):
    env_state: Any  # [B] environment states
    obs: MultiAgentObservation  # [B] the observation to act on
    reserve_state: Any  # [B] initial states generated in advance
    reserve_obs: MultiAgentObservation  # [B]
    stale: chex.Array  # bool[B]: the reserve was used and awaits a refill
    episode_return: chex.Array  # float32[B]: team return of the running episode
    episode_length: chex.Array  # int32[B]
    key: chex.PRNGKey


class Finished(NamedTuple):
    """What steps tell of the episodes that ended in them (any batch shape, e.g. [T, B]).

    Attributes:
        done: bool, the episode ended at this step.
        episode_return: float32, its team return where ``done``.
        won: bool, it was won, for a game that is won or lost (an environment
            with ``extras["won"]``, e.g. SMAX); None for the others.
    """

    done: chex.Array
    episode_return: chex.Array
    won: chex.Array | None

    def metrics(self) -> dict[str, chex.Array]:
        """Sums every runner reports: ``episode_return_sum``, ``episodes`` and, for a
        game that is won or lost, ``episodes_won`` (float32[] each)."""
        metrics = {
            "episode_return_sum": jnp.sum(jnp.where(self.done, self.episode_return, 0.0)),
            "episodes": jnp.sum(self.done).astype(jnp.float32),
        }
        if self.won is not None:
            metrics["episodes_won"] = jnp.sum(self.done & self.won).astype(jnp.float32)
        return metrics


class VecStep(NamedTuple):
    """One step of ``B`` environments.

    Attributes:
        obs: [B] observation to act on next (the reset observation where an
            episode ended).
        next_obs: [B] the true observation after the step (the last observation
            of an episode that ended), for bootstrapping at a truncation.
        reward: float32[B, N].
        discount: float32[B, N]: 0 on termination, 1 otherwise (a truncation too).
        done: bool[B]: the episode ended (terminated or truncated).
        team_reward: float32[B].
        episode_return: float32[B]: the finished episode's team return where done.
        episode_length: int32[B]: the finished episode's length where done.
        won: bool[B]: the finished episode was won, for a game that is won or lost;
            None for the others.
    """

    obs: MultiAgentObservation
    next_obs: MultiAgentObservation
    reward: chex.Array
    discount: chex.Array
    done: chex.Array
    team_reward: chex.Array
    episode_return: chex.Array
    episode_length: chex.Array
    won: chex.Array | None = None

    def finished(self) -> Finished:
        return Finished(self.done, self.episode_return, self.won)


def _select(mask: chex.Array, on_true: Any, on_false: Any) -> Any:
    """Per-environment select between two [B]-batched pytrees."""

    def sel(a, b):
        m = mask.reshape(mask.shape + (1,) * (a.ndim - 1))
        return jnp.where(m, a, b)

    return jax.tree_util.tree_map(sel, on_true, on_false)


class VecEnv:
    """``B`` copies of a multi-agent environment with cheap auto-reset.

    Args:
        env: a ``jumanji.Environment`` with ``MultiAgentObservation`` observations,
            ``num_agents``, ``num_actions`` and ``episode_length`` attributes.
        num_envs: B.
        refill_fraction: fraction of B reset per step; default
            ``min(1, max(4 / env.episode_length, 1 / 16))``.
    """

    def __init__(self, env: Environment, num_envs: int, refill_fraction: float | None = None):
        self.env = env
        self.num_envs = num_envs
        if refill_fraction is None:
            refill_fraction = min(1.0, max(4.0 / max(1, env.episode_length), 1.0 / 16))
        self.num_refills = max(1, min(num_envs, math.ceil(refill_fraction * num_envs)))

    def _resets(self, keys: chex.Array):
        states, timesteps = batched(self.env).reset(keys)
        return states, timesteps.observation

    def reset(self, key: chex.PRNGKey) -> VecEnvState:
        key, env_key, reserve_key = jax.random.split(key, 3)
        b = self.num_envs
        # One batch of 2B resets: one copy of the reset in the program, not two.
        keys = jnp.concatenate([jax.random.split(env_key, b), jax.random.split(reserve_key, b)])
        both = self._resets(keys)
        env_state, obs = jax.tree.map(lambda x: x[:b], both)
        reserve_state, reserve_obs = jax.tree.map(lambda x: x[b:], both)
        return VecEnvState(
            env_state=env_state,
            obs=obs,
            reserve_state=reserve_state,
            reserve_obs=reserve_obs,
            stale=jnp.zeros((b,), bool),
            episode_return=jnp.zeros((b,), jnp.float32),
            episode_length=jnp.zeros((b,), jnp.int32),
            key=key,
        )

    def step(self, state: VecEnvState, actions: chex.Array) -> tuple[VecEnvState, VecStep]:
        """actions: int32[B, N]."""
        env_state, ts = batched(self.env).step(state.env_state, actions)
        done = ts.last()
        team_reward = ts.extras["team_reward"]
        episode_return = state.episode_return + team_reward
        episode_length = state.episode_length + 1

        # Where an episode ended, the reserve initial state takes over.
        env_state = _select(done, state.reserve_state, env_state)
        obs = _select(done, state.reserve_obs, ts.observation)
        stale = state.stale | done

        # Refill the reserves of the first K environments that used theirs.
        key, refill_key = jax.random.split(state.key)
        (idx,) = jnp.nonzero(stale, size=self.num_refills, fill_value=self.num_envs)
        new_state, new_obs = self._resets(jax.random.split(refill_key, self.num_refills))

        def scatter(reserve, new):
            return reserve.at[idx].set(new, mode="drop")

        reserve_state = jax.tree_util.tree_map(scatter, state.reserve_state, new_state)
        reserve_obs = jax.tree_util.tree_map(scatter, state.reserve_obs, new_obs)
        stale = stale.at[idx].set(False, mode="drop")

        new = VecEnvState(
            env_state=env_state,
            obs=obs,
            reserve_state=reserve_state,
            reserve_obs=reserve_obs,
            stale=stale,
            episode_return=jnp.where(done, 0.0, episode_return),
            episode_length=jnp.where(done, 0, episode_length),
            key=key,
        )
        step = VecStep(
            obs=obs,
            next_obs=ts.observation,
            reward=ts.reward,
            discount=ts.discount,
            done=done,
            team_reward=team_reward,
            episode_return=episode_return,
            episode_length=episode_length,
            won=ts.extras["won"] & done if "won" in ts.extras else None,
        )
        return new, step


def evaluate(
    env: Environment,
    policy: Policy,
    key: chex.PRNGKey,
    num_episodes: int,
    carry: Any = None,
) -> chex.Array:
    """Mean team return of ``num_episodes`` episodes run in parallel with ``policy``.

    Each episode runs from its own reset for at most ``env.episode_length``
    steps; rewards after the first end of an episode are not counted. ``carry``
    is the policy's memory at the start of every episode ([num_episodes, ...];
    None for a memoryless policy), passed from step to step. The episodes are
    those of :func:`jaxmarl_core.envs.episodes.greedy_returns` for the same key.

    Returns:
        float32[]: the mean team return.
    """
    return greedy_returns(env, policy, key, num_episodes, carry).mean()
