"""Repeated common-payoff matrix games as ``jumanji.Environment``s.

A matrix game is stateless: every step all N agents pick an action, every agent
receives the payoff of the joint action, and the game repeats for
``episode_length`` steps before a time-limit truncation (discount 1). The
observation and the global state are constants.

The payoff tensor is the game's environment parameter: games of one shape
(``climbing``, ``penalty-k``, ``qtran-game`` are all 2 agents x 3 actions) are
one environment on different data, ``game.with_params({"payoff": p})``.
"""

from __future__ import annotations

from typing import NamedTuple

import chex
import jax.numpy as jnp
import numpy as np
from jumanji.types import TimeStep

from jaxmarl_core.envs.base import MultiAgentEnvironment, check_int
from jaxmarl_core.types import MultiAgentObservation


class MatrixState(NamedTuple):
    step_count: chex.Array  # int32[]
    key: chex.PRNGKey


class MatrixGame(MultiAgentEnvironment):
    """An N-agent common-payoff game on a payoff tensor of shape ``[A] * N``.

    Args:
        payoff: array-like of shape ``[A] * N``; ``payoff[a_1, ..., a_N]`` is what
            every agent receives for the joint action.
        episode_length: number of repetitions of the game in one episode.
        name: shown in ``repr`` and in run directories.
    """

    def __init__(self, payoff, episode_length: int = 25, name: str = "matrix-game") -> None:
        payoff = np.asarray(payoff, dtype=np.float32)
        if payoff.ndim < 1 or len(set(payoff.shape)) != 1 or payoff.shape[0] < 1:
            raise ValueError(
                f"payoff must have shape [A]*N with the same number of actions A for every "
                f"agent, got shape {payoff.shape}"
            )
        self.payoff: chex.Array = jnp.asarray(payoff)  # float32[A] * N
        self.num_agents: int = payoff.ndim
        self.num_actions: int = payoff.shape[0]
        self.episode_length: int = check_int(name, "episode_length", episode_length, 1)
        self.name = name
        super().__init__()

    def params(self) -> dict[str, chex.Array]:
        """``{"payoff": float32[A] * N}``."""
        return {"payoff": self.payoff}

    def _set_params(self, params: dict[str, chex.Array]) -> None:
        self.payoff = params["payoff"]

    @property
    def obs_dim(self) -> int:
        return 1

    @property
    def state_dim(self) -> int:
        return 1

    def _observation(self, step_count: chex.Array) -> MultiAgentObservation:
        return MultiAgentObservation(
            agents_view=jnp.ones((self.num_agents, 1), jnp.float32),
            action_mask=jnp.ones((self.num_agents, self.num_actions), bool),
            global_state=jnp.ones((1,), jnp.float32),
            step_count=step_count,
        )

    def reset(self, key: chex.PRNGKey) -> tuple[MatrixState, TimeStep]:
        step_count = jnp.zeros((), jnp.int32)
        return MatrixState(step_count, key), self.first_timestep(self._observation(step_count))

    def step(self, state: MatrixState, actions: chex.Array) -> tuple[MatrixState, TimeStep]:
        """actions: int32[N]. Reward float32[N]: the joint action's payoff for everyone.
        Only the time limit ends a matrix game (a truncation)."""
        step_count = state.step_count + 1
        team_reward = self.payoff[tuple(actions[i] for i in range(self.num_agents))]
        timestep = self.next_timestep(
            self._observation(step_count),
            agent_rewards=jnp.full((self.num_agents,), team_reward, jnp.float32),
            team_reward=team_reward,
            terminated=jnp.zeros((), bool),
        )
        return MatrixState(step_count, state.key), timestep


CLIMBING = [[11, -30, 0], [-30, 7, 0], [0, 6, 5]]
CLIMBING_CLASSIC = [[11, -30, 0], [-30, 7, 6], [0, 0, 5]]
QTRAN_GAME = [[8, -12, -12], [-12, 0, 0], [-12, 0, 0]]


def penalty(k: float) -> list[list[float]]:
    """The penalty game with corner payoff -k (Claus and Boutilier 1998)."""
    return [[-k, 0, 10], [0, 2, 0], [10, 0, -k]]


MATRIX_GAMES: dict[str, list] = {
    "climbing": CLIMBING,
    "climbing-classic": CLIMBING_CLASSIC,
    "qtran-game": QTRAN_GAME,
    **{f"penalty-{k}": penalty(k) for k in (0, 25, 50, 75, 100)},
}
