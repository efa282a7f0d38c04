"""Jumanji's multi-agent grid games under the library's contract: Level-Based
Foraging, Robot Warehouse, Cleaner and Connector.

Each adapter wraps a Jumanji environment and returns ``MultiAgentObservation``
observations, float32 ``[N]`` rewards and discounts, and exactly one extra,
``team_reward``, so that every environment of the library batches and scans the
same way.

Time limits are handled here, not by Jumanji: the inner environment gets a time
limit it never reaches, and the adapter ends the episode at ``episode_length``
as a *truncation* (discount 1). Jumanji's RobotWarehouse would report its time
limit as a termination (discount 0), which would bootstrap wrongly. The inner
environment's own endings (LBF: all food eaten; RWARE: two robots collide) stay
terminations (discount 0); when a termination and the time limit coincide, the
step is a termination.
"""

from __future__ import annotations

import abc
from typing import Any

import chex
import jax
import jax.numpy as jnp
import numpy as np
from jumanji.env import Environment
from jumanji.environments import Cleaner, Connector, LevelBasedForaging, RobotWarehouse
from jumanji.environments.routing.cleaner.generator import RandomGenerator as CleanerGenerator
from jumanji.environments.routing.connector.generator import RandomWalkGenerator
from jumanji.environments.routing.lbf.generator import RandomGenerator as LbfGenerator
from jumanji.environments.routing.robot_warehouse.generator import (
    RandomGenerator as RwareGenerator,
)
from jumanji.types import TimeStep

from jaxmarl_core.envs.base import INT32_MAX, MultiAgentEnvironment, check_bool, check_int
from jaxmarl_core.types import MultiAgentObservation

# A time limit the inner environment never reaches: the adapter truncates first.
_UNREACHABLE_TIME_LIMIT = INT32_MAX


class _JumanjiAdapter(MultiAgentEnvironment):
    """A Jumanji environment under the library's contract.

    The adapter's state is the inner environment's state (it carries
    ``step_count`` and ``key``). Subclasses say how to build the observation's
    ``global_state`` and the per-agent rewards from the inner environment's output;
    the base class applies the time limit and the team reward.
    """

    inner: Environment

    def __init__(
        self, name: str, inner: Environment, episode_length: int, individual_rewards: bool = False
    ) -> None:
        self.name = name
        self.inner = inner
        self.num_agents = int(inner.action_spec.num_values.shape[0])
        self.num_actions = int(inner.action_spec.num_values[0])
        self.episode_length = episode_length
        self.individual_rewards = individual_rewards
        super().__init__()

    @abc.abstractmethod
    def _global_state(self, state: Any, agents_view: chex.Array) -> chex.Array:
        """float32[state_dim]: the centralised information z."""

    @abc.abstractmethod
    def _agent_rewards(self, inner_reward: chex.Array) -> chex.Array:
        """float32[N]: each agent's own reward from the inner environment's reward."""

    def _team_reward(self, inner_reward: chex.Array) -> chex.Array:
        """float32[]: the sum of the agents' rewards."""
        return jnp.sum(self._agent_rewards(inner_reward))

    @property
    def obs_dim(self) -> int:
        return int(np.prod(self.inner.observation_spec.agents_view.shape[1:]))

    def _observation(self, state: Any, inner_obs: Any) -> MultiAgentObservation:
        agents_view = inner_obs.agents_view.astype(jnp.float32)
        return MultiAgentObservation(
            agents_view=agents_view.reshape(self.num_agents, -1),
            action_mask=inner_obs.action_mask.astype(bool),
            global_state=self._global_state(state, agents_view),
            step_count=state.step_count.astype(jnp.int32),
        )

    def reset(self, key: chex.PRNGKey) -> tuple[Any, TimeStep]:
        state, inner_ts = self.inner.reset(key)
        return state, self.first_timestep(self._observation(state, inner_ts.observation))

    def step(self, state: Any, actions: chex.Array) -> tuple[Any, TimeStep]:
        """actions: int32[N]. Reward float32[N], discount float32[N]."""
        state, inner_ts = self.inner.step(state, actions)
        timestep = self.next_timestep(
            self._observation(state, inner_ts.observation),
            agent_rewards=self._agent_rewards(inner_ts.reward),
            team_reward=self._team_reward(inner_ts.reward),
            # The inner time limit is unreachable: any end it reports is a termination.
            terminated=inner_ts.last(),
        )
        return state, timestep


class _SharedReward:
    """For games whose reward is one shared scalar: every agent receives all of
    it, so ``individual_rewards`` changes nothing, and the team reward is that
    scalar (not N times it)."""

    num_agents: int

    def _agent_rewards(self, inner_reward: chex.Array) -> chex.Array:
        return jnp.broadcast_to(inner_reward.astype(jnp.float32), (self.num_agents,))

    def _team_reward(self, inner_reward: chex.Array) -> chex.Array:
        return inner_reward.astype(jnp.float32)


class LBF(_JumanjiAdapter):
    """Level-Based Foraging (Jumanji ``LevelBasedForaging``, vector observations).

    - ``agents_view``: Jumanji's vector observation, float32[N, 3 * (F + N)]:
      (x, y, level) of every food, then of the agent itself, then of the others,
      relative to the agent's field of view; (-1, -1, 0) for what it cannot see.
    - ``global_state``: float32[3 * N + 4 * F], independent of the sight radius:
      every agent's (x, y) scaled to [0, 1] by ``grid_size - 1`` and its level,
      then every food's (x, y) scaled the same way, its level and its eaten flag.
    - reward: Jumanji's per-agent reward (normalised so that eating all food
      gives a total of 1); ``team_reward`` is the sum over agents.
    """

    def __init__(
        self,
        name: str,
        grid_size: int,
        num_agents: int,
        num_food: int,
        fov: int,
        force_coop: bool,
        episode_length: int,
        individual_rewards: bool,
        max_agent_level: int,
    ) -> None:
        inner = LevelBasedForaging(
            generator=LbfGenerator(
                grid_size=grid_size,
                num_agents=num_agents,
                num_food=num_food,
                fov=fov,
                max_agent_level=max_agent_level,
                force_coop=force_coop,
            ),
            time_limit=_UNREACHABLE_TIME_LIMIT,
        )
        self.grid_size = grid_size
        self.num_food = num_food
        super().__init__(name, inner, episode_length, individual_rewards)

    @property
    def state_dim(self) -> int:
        return 3 * self.num_agents + 4 * self.num_food

    def _global_state(self, state: Any, agents_view: chex.Array) -> chex.Array:
        scale = 1.0 / (self.grid_size - 1)
        agents, food = state.agents, state.food_items
        agent_part = jnp.concatenate(
            [agents.position * scale, agents.level[:, None]], axis=1
        )  # [N, 3]
        food_part = jnp.concatenate(
            [food.position * scale, food.level[:, None], food.eaten[:, None]], axis=1
        )  # [F, 4]
        return jnp.concatenate([agent_part.ravel(), food_part.ravel()]).astype(jnp.float32)

    def _agent_rewards(self, inner_reward: chex.Array) -> chex.Array:
        return inner_reward.astype(jnp.float32)


class RWARE(_SharedReward, _JumanjiAdapter):
    """Robot Warehouse (Jumanji ``RobotWarehouse``).

    - ``agents_view``: Jumanji's per-agent sensor observation, float32[N, obs_dim].
    - ``global_state``: the concatenation of all agents' views, float32[N * obs_dim]
      (Jumanji exposes no other compact state vector).
    - reward: Jumanji's RobotWarehouse reward is one shared scalar (+1 per requested
      shelf delivered), so ``individual_rewards=True`` gives the same as False:
      every agent receives the shared reward, and ``team_reward`` is that scalar
      (not N times it).
    - A collision of two robots is a termination (discount 0), as in Jumanji.
    """

    def __init__(
        self,
        name: str,
        generator: RwareGenerator,
        episode_length: int,
        individual_rewards: bool,
    ) -> None:
        inner = RobotWarehouse(generator=generator, time_limit=_UNREACHABLE_TIME_LIMIT)
        super().__init__(name, inner, episode_length, individual_rewards)

    @property
    def state_dim(self) -> int:
        return self.num_agents * self.obs_dim

    def _global_state(self, state: Any, agents_view: chex.Array) -> chex.Array:
        return agents_view.ravel()


def make_lbf(
    name: str,
    width: int,
    height: int,
    num_agents: int,
    num_food: int,
    sight: int | None,
    force_coop: bool,
    episode_length: int = 50,
    individual_rewards: bool = False,
    max_agent_level: int = 2,
) -> Environment:
    """Level-Based Foraging on a ``width x height`` grid (Jumanji grids are square).

    Args:
        name: the registered name, used in error messages and ``repr``.
        width, height: grid size; must be equal and at least 5.
        num_agents, num_food: N >= 1 agents and F >= 1 food items.
        sight: field of view radius; None for the full grid.
        force_coop: every food needs the levels of (up to three) agents together.
        episode_length: time limit (a truncation, discount 1).
        individual_rewards: each agent gets its own reward instead of the team's.
        max_agent_level: agents' levels are drawn from ``1..max_agent_level`` (>= 2).

    Raises:
        ValueError: naming the environment and the violated limit.
    """
    width = check_int(name, "width", width, 1)
    height = check_int(name, "height", height, 1)
    if width != height:
        raise ValueError(
            f"{name}: Jumanji's Level-Based Foraging grids are square, got width {width} != "
            f"height {height}; use e.g. lbf-{width}x{width}-..."
        )
    grid_size = width
    if grid_size < 5:
        raise ValueError(f"{name}: the LBF grid size must be at least 5, got {grid_size}")
    num_agents = check_int(name, "number of agents (<N>p)", num_agents, 1)
    num_food = check_int(name, "number of food items (<F>f)", num_food, 1)
    max_agent_level = check_int(name, "max_agent_level", max_agent_level, 2)
    episode_length = check_int(name, "episode_length", episode_length, 1)
    individual_rewards = check_bool(name, "individual_rewards", individual_rewards)
    force_coop = check_bool(name, "force_coop", force_coop)
    if num_agents * max_agent_level > _UNREACHABLE_TIME_LIMIT:
        # Jumanji's highest food level, num_agents * max_agent_level, is an int32.
        raise ValueError(
            f"{name}: the number of agents times max_agent_level must be <= "
            f"{_UNREACHABLE_TIME_LIMIT}, got {num_agents} * {max_agent_level}"
        )
    if sight is None:
        fov = grid_size
    else:
        fov = check_int(name, "sight (<S>s)", sight, 1)
        if fov > grid_size:
            raise ValueError(
                f"{name}: sight must be between 1 and the grid size {grid_size}, got {fov}"
            )
    # Jumanji places food off the edges with no two adjacent, by masking 5 cells per
    # food; with too little room it silently places food wrongly, so refuse here.
    inner_cells = (grid_size - 2) ** 2
    if inner_cells - num_agents <= 5 * num_food:
        max_food = (inner_cells - num_agents - 1) // 5
        raise ValueError(
            f"{name}: not enough room on a {grid_size}x{grid_size} grid for {num_food} food "
            f"items and {num_agents} agents: Jumanji needs (size - 2)^2 - agents > 5 * food, "
            f"so at most {max(max_food, 0)} food items with {num_agents} agents"
        )
    return LBF(
        name=name,
        grid_size=grid_size,
        num_agents=num_agents,
        num_food=num_food,
        fov=fov,
        force_coop=force_coop,
        episode_length=episode_length,
        individual_rewards=individual_rewards,
        max_agent_level=max_agent_level,
    )


# (shelf_rows, shelf_columns) as in the rware package; column_height is 8 for all.
RWARE_SIZES: dict[str, tuple[int, int]] = {
    "tiny": (1, 3),
    "small": (2, 3),
    "medium": (2, 5),
    "large": (3, 5),
}
RWARE_COLUMN_HEIGHT = 8
RWARE_SENSOR_RANGE = 1


def _request_queue_size(difficulty: str, num_agents: int) -> int:
    if difficulty == "easy":
        return 2 * num_agents
    if difficulty == "hard":
        return max(1, num_agents // 2)
    return num_agents


def make_rware(
    name: str,
    size: str,
    num_agents: int,
    difficulty: str,
    episode_length: int = 500,
    individual_rewards: bool = False,
) -> Environment:
    """Robot Warehouse with the layouts and request queues of the rware package.

    Args:
        name: the registered name, used in error messages and ``repr``.
        size: ``tiny``, ``small``, ``medium`` or ``large``.
        num_agents: N >= 1 robots.
        difficulty: ``normal`` (N requests), ``easy`` (2N) or ``hard`` (max(1, N // 2)).
        episode_length: time limit (a truncation, discount 1).
        individual_rewards: accepted for symmetry with LBF; RWARE's reward is
            shared, so every agent receives it either way.

    Raises:
        ValueError: naming the environment and the violated limit.
    """
    if size not in RWARE_SIZES:
        raise ValueError(f"{name}: unknown RWARE size {size!r}; allowed: {list(RWARE_SIZES)}")
    if difficulty not in ("normal", "easy", "hard"):
        raise ValueError(
            f"{name}: unknown RWARE difficulty {difficulty!r}; allowed: normal, easy, hard"
        )
    num_agents = check_int(name, "number of agents (<N>ag)", num_agents, 1)
    episode_length = check_int(name, "episode_length", episode_length, 1)
    individual_rewards = check_bool(name, "individual_rewards", individual_rewards)
    shelf_rows, shelf_columns = RWARE_SIZES[size]
    queue = _request_queue_size(difficulty, num_agents)

    def generator_for(robots: int, requests: int) -> RwareGenerator:
        return RwareGenerator(
            shelf_rows=shelf_rows,
            shelf_columns=shelf_columns,
            column_height=RWARE_COLUMN_HEIGHT,
            num_agents=robots,
            sensor_range=RWARE_SENSOR_RANGE,
            request_queue_size=requests,
        )

    # The layout does not depend on the robots or the queue: check against it before
    # Jumanji computes with them (it overflows int32 on huge counts).
    layout = generator_for(1, 1)
    rows, cols = layout.grid_size
    if num_agents > rows * cols:
        raise ValueError(
            f"{name}: {num_agents} robots do not fit on the {rows}x{cols} {size} warehouse; "
            f"at most {rows * cols}"
        )
    num_shelves = int(layout.shelf_ids.shape[0])
    if queue >= num_shelves:
        raise ValueError(
            f"{name}: a request queue of {queue} shelves ({difficulty}, {num_agents} robots) "
            f"needs more than {queue} shelves, but the {size} warehouse has {num_shelves}"
        )
    generator = generator_for(num_agents, queue)
    return RWARE(
        name=name,
        generator=generator,
        episode_length=episode_length,
        individual_rewards=individual_rewards,
    )


def _one_hot_grid(grid: chex.Array, num_values: int) -> chex.Array:
    """float32[num_values * H * W]: each cell's value (0..num_values-1) one-hot, channel-major."""
    return jax.nn.one_hot(grid, num_values, axis=0, dtype=jnp.float32).reshape(-1)


class CleanerEnv(_SharedReward, _JumanjiAdapter):
    """Cleaner (Jumanji ``Cleaner``): agents in a maze clean the dirty tiles they visit.

    Every agent sees the whole maze, so ``agents_view`` is the same for all but
    for the agent's own position:

    - ``agents_view``: float32[N, 3 * R * C + 2 + 2 * N]: the grid one-hot
      (dirty, clean, wall), the agent's own (row, col) and every agent's
      (row, col), positions scaled to [0, 1];
    - ``global_state``: the grid one-hot and every agent's position;
    - reward: Jumanji's one shared scalar (tiles cleaned this step minus a
      penalty of ``penalty_per_timestep``, 0.5 by default); every agent receives
      it and ``team_reward`` is that scalar;
    - the episode terminates when every tile is clean (or, as in Jumanji, when an
      agent takes a masked action: the learners never do).
    """

    def __init__(
        self,
        name: str,
        num_rows: int,
        num_cols: int,
        num_agents: int,
        episode_length: int,
    ) -> None:
        inner = Cleaner(
            generator=CleanerGenerator(num_rows, num_cols, num_agents),
            time_limit=_UNREACHABLE_TIME_LIMIT,
        )
        self._scale = jnp.array([num_rows - 1, num_cols - 1], jnp.float32)
        self._grid_size = num_rows * num_cols
        super().__init__(name, inner, episode_length)

    @property
    def obs_dim(self) -> int:
        return 3 * self._grid_size + 2 + 2 * self.num_agents

    @property
    def state_dim(self) -> int:
        return 3 * self._grid_size + 2 * self.num_agents

    def _global_state(self, state: Any, agents_view: chex.Array) -> chex.Array:
        return agents_view[0, jnp.r_[: 3 * self._grid_size, 3 * self._grid_size + 2 : self.obs_dim]]

    def _observation(self, state: Any, inner_obs: Any) -> MultiAgentObservation:
        grid = _one_hot_grid(inner_obs.grid.astype(jnp.int32), 3)
        positions = inner_obs.agents_locations / self._scale  # [N, 2]
        n = self.num_agents
        agents_view = jnp.concatenate(
            [
                jnp.broadcast_to(grid, (n, grid.shape[0])),
                positions,
                jnp.broadcast_to(positions.reshape(-1), (n, 2 * n)),
            ],
            axis=1,
        )
        return MultiAgentObservation(
            agents_view=agents_view,
            action_mask=inner_obs.action_mask.astype(bool),
            global_state=self._global_state(state, agents_view),
            step_count=state.step_count.astype(jnp.int32),
        )


class ConnectorEnv(_JumanjiAdapter):
    """Connector (Jumanji ``Connector``): every agent draws a path from its start
    to its target on a shared grid without crossing the others' paths.

    Jumanji's grid codes agent k's path, head and target as 1 + 3k, 2 + 3k, 3 + 3k:

    - ``agents_view``: float32[N, 6 * G * G], the grid from the agent's side:
      its own path, head and target, then the others' paths, heads and targets,
      each a G x G plane;
    - ``global_state``: float32[4 * G * G]: the kind of every cell (path, head,
      target; one-hot) and its owner's index scaled to (0, 1];
    - reward: Jumanji's per-agent reward (+1 on connecting, a small cost per step
      before); ``team_reward`` is the sum;
    - an agent that has connected or is blocked can only stay (Jumanji's mask);
      the episode terminates when every agent is.
    """

    def __init__(
        self,
        name: str,
        grid_size: int,
        num_agents: int,
        episode_length: int,
        individual_rewards: bool,
    ) -> None:
        inner = Connector(
            generator=RandomWalkGenerator(grid_size=grid_size, num_agents=num_agents),
            time_limit=_UNREACHABLE_TIME_LIMIT,
        )
        self.grid_size = grid_size
        super().__init__(name, inner, episode_length, individual_rewards)

    @property
    def obs_dim(self) -> int:
        return 6 * self.grid_size**2

    @property
    def state_dim(self) -> int:
        return 4 * self.grid_size**2

    def _cells(self, grid: chex.Array) -> tuple[chex.Array, chex.Array]:
        """Each cell's owner (int32, -1 for empty) and kind (0 path, 1 head, 2 target)."""
        occupied = grid > 0
        owner = jnp.where(occupied, (grid - 1) // 3, -1)
        kind = jnp.where(occupied, (grid - 1) % 3, -1)
        return owner, kind

    def _global_state(self, state: Any, agents_view: chex.Array) -> chex.Array:
        owner, kind = self._cells(state.grid)
        kinds = jax.nn.one_hot(kind, 3, axis=0, dtype=jnp.float32).reshape(-1)
        owners = ((owner + 1) / self.num_agents).astype(jnp.float32).reshape(-1)
        return jnp.concatenate([kinds, owners])

    def _observation(self, state: Any, inner_obs: Any) -> MultiAgentObservation:
        owner, kind = self._cells(inner_obs.grid)
        kinds = jax.nn.one_hot(kind, 3, axis=0, dtype=jnp.float32)  # [3, G, G]
        mine = owner[None] == jnp.arange(self.num_agents)[:, None, None]  # [N, G, G]
        own = kinds[None] * mine[:, None]  # [N, 3, G, G]
        others = kinds[None] * (~mine & (owner >= 0)[None])[:, None]
        agents_view = jnp.concatenate([own, others], axis=1).reshape(self.num_agents, -1)
        return MultiAgentObservation(
            agents_view=agents_view,
            action_mask=inner_obs.action_mask.astype(bool),
            global_state=self._global_state(state, agents_view),
            step_count=state.step_count.astype(jnp.int32),
        )

    def _agent_rewards(self, inner_reward: chex.Array) -> chex.Array:
        return inner_reward.astype(jnp.float32)


def make_cleaner(
    name: str,
    num_rows: int = 10,
    num_cols: int = 10,
    num_agents: int = 3,
    episode_length: int = 100,
) -> Environment:
    """Jumanji's Cleaner: an ``num_rows x num_cols`` maze (odd sizes >= 3 give a
    proper maze) cleaned by ``num_agents`` agents; Jumanji's defaults (10 x 10,
    3 agents, 100 steps).

    Raises:
        ValueError: naming the environment and the violated limit.
    """
    num_rows = check_int(name, "num_rows", num_rows, 3)
    num_cols = check_int(name, "num_cols", num_cols, 3)
    num_agents = check_int(name, "num_agents", num_agents, 1)
    episode_length = check_int(name, "episode_length", episode_length, 1)
    return CleanerEnv(name, num_rows, num_cols, num_agents, episode_length)


def make_connector(
    name: str,
    grid_size: int = 10,
    num_agents: int = 10,
    episode_length: int = 50,
    individual_rewards: bool = False,
) -> Environment:
    """Jumanji's Connector on a ``grid_size`` square grid with ``num_agents`` paths to
    draw; Jumanji's defaults (10 x 10, 10 agents, 50 steps).

    Raises:
        ValueError: naming the environment and the violated limit.
    """
    grid_size = check_int(name, "grid_size", grid_size, 3)
    num_agents = check_int(name, "num_agents", num_agents, 1)
    episode_length = check_int(name, "episode_length", episode_length, 1)
    individual_rewards = check_bool(name, "individual_rewards", individual_rewards)
    if 2 * num_agents > grid_size**2:
        raise ValueError(
            f"{name}: {num_agents} agents need a start and a target each, more than the "
            f"{grid_size**2} cells of a {grid_size}x{grid_size} grid"
        )
    return ConnectorEnv(name, grid_size, num_agents, episode_length, individual_rewards)
