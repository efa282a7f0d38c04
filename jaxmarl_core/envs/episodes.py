"""Greedy episodes for evaluation: per-episode returns, joint-action counts, a GIF.

One loop runs the episodes (:func:`_greedy_episodes`): ``num_episodes``
episodes in parallel, each from its own reset, for ``env.episode_length`` steps
of one ``lax.scan``. An episode is *alive* until the first step that ends it;
what happens after that step (the adapters do not reset) is never counted.
:func:`greedy_returns` (with :func:`greedy_outcomes`, the wins too),
:func:`joint_action_counts` and :func:`render_episode` read different things off
that same loop, and
:func:`jaxmarl_core.envs.wrappers.evaluate` is the mean of :func:`greedy_returns`.

Nothing here writes a file except :func:`render_episode`, which writes the GIF
it is asked for.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np
from jumanji.env import Environment

from jaxmarl_core.envs.base import batched
from jaxmarl_core.envs.matrix import MatrixGame
from jaxmarl_core.types import MultiAgentObservation

# policy(obs [B], carry, key) -> (actions int32[B, N], carry): the carry is the
# agents' memory (hidden states; an empty array for feed-forward agents).
Policy = Callable[[MultiAgentObservation, Any, chex.PRNGKey], tuple[chex.Array, Any]]

# record(env_state [B], actions int32[B, N], alive bool[B]) -> any pytree, stacked over steps.
Record = Callable[[Any, chex.Array, chex.Array], Any]

MATRIX_RENDER_MESSAGE = "render is for grid games; matrix games print their joint-action table"


def why_not_renderable(env: Any) -> str | None:
    """Why ``render_episode`` cannot draw ``env`` (one line), or None if it can:
    it draws Jumanji-backed games (LBF, RWARE, Cleaner, Connector) through the
    inner Jumanji environment's ``animate``."""
    if isinstance(env, MatrixGame):
        return MATRIX_RENDER_MESSAGE
    inner = getattr(env, "inner", None)
    if inner is None or not callable(getattr(inner, "animate", None)):
        return (
            f"cannot render {env!r}: render draws Jumanji-backed games "
            "(LBF, RWARE, Cleaner, Connector) through Jumanji's animate"
        )
    return None


def _check_num_episodes(num_episodes: Any) -> int:
    if isinstance(num_episodes, bool) or not isinstance(num_episodes, int | np.integer):
        raise ValueError(f"num_episodes must be an integer >= 1, got {num_episodes!r}")
    if num_episodes < 1:
        raise ValueError(f"num_episodes must be an integer >= 1, got {num_episodes}")
    return int(num_episodes)


class Episodes(NamedTuple):
    """What one loop of greedy episodes gives.

    Attributes:
        env_state: the environments' states after reset [B].
        returns: float32[B], each episode's team return.
        won: bool[B], whether each episode was won, for a game that is won or
            lost (its steps' extras hold ``won``); None for the others.
        records: what ``record`` kept, stacked to [T, B, ...], or None.
    """

    env_state: Any
    returns: chex.Array
    won: chex.Array | None
    records: Any


def _greedy_episodes(
    env: Environment,
    policy: Policy,
    key: chex.PRNGKey,
    num_episodes: int,
    carry: Any,
    record: Record | None = None,
) -> Episodes:
    """Runs ``B = num_episodes`` episodes in parallel for ``T = env.episode_length`` steps.

    Args:
        carry: the policy's memory at the start of every episode ([B, ...]; None
            for a memoryless policy), passed from step to step.
        record: what to keep from every step, given the environment states after
            the step [B], the actions taken int32[B, N] and whether each episode
            was alive when it took them, bool[B]. None keeps nothing.

    Returns:
        The :class:`Episodes`.
    """
    reset_key, key = jax.random.split(key)
    env_state, ts = batched(env).reset(jax.random.split(reset_key, num_episodes))
    reports_wins = "won" in ts.extras

    def body(loop, step_key):
        env_state, obs, memory, alive, total, won = loop
        actions, memory = policy(obs, memory, step_key)
        env_state, ts = batched(env).step(env_state, actions)
        kept = None if record is None else record(env_state, actions, alive)
        total = total + jnp.where(alive, ts.extras["team_reward"], 0.0)
        if reports_wins:
            won = won | (alive & ts.extras["won"])
        alive = alive & ~ts.last()
        return (env_state, ts.observation, memory, alive, total, won), kept

    init = (
        env_state,
        ts.observation,
        carry,
        jnp.ones((num_episodes,), bool),
        jnp.zeros((num_episodes,), jnp.float32),
        jnp.zeros((num_episodes,), bool) if reports_wins else None,
    )
    (*_, total, won), records = jax.lax.scan(body, init, jax.random.split(key, env.episode_length))
    return Episodes(env_state, total, won, records)


def greedy_returns(
    env: Environment,
    policy: Policy,
    key: chex.PRNGKey,
    num_episodes: int,
    carry: Any = None,
) -> chex.Array:
    """Team return of each of ``num_episodes`` episodes run in parallel with ``policy``.

    Each episode runs from its own reset for at most ``env.episode_length``
    steps; rewards after the first end of an episode are not counted. Pure and
    jittable (``env``, ``policy`` and ``num_episodes`` are static).

    Args:
        env: an environment of the library (``team_reward`` in its extras).
        policy: ``policy(obs [B], carry, key) -> (int32[B, N], carry)``, B = num_episodes.
        key: the episodes' randomness (resets and the policy's keys).
        num_episodes: B >= 1.
        carry: the policy's memory at the start of every episode ([B, ...]), or None.

    Returns:
        float32[num_episodes]: the team return of every episode.
    """
    return greedy_outcomes(env, policy, key, num_episodes, carry)[0]


def greedy_outcomes(
    env: Environment,
    policy: Policy,
    key: chex.PRNGKey,
    num_episodes: int,
    carry: Any = None,
) -> tuple[chex.Array, chex.Array | None]:
    """:func:`greedy_returns`, and for a game that is won or lost (SMAX) whether
    each episode was won.

    Returns:
        (float32[num_episodes] team returns, bool[num_episodes] won, or None for
        a game without wins).
    """
    num_episodes = _check_num_episodes(num_episodes)
    episodes = _greedy_episodes(env, policy, key, num_episodes, carry)
    return episodes.returns, episodes.won


def joint_action_counts(
    env: Environment,
    policy: Policy,
    key: chex.PRNGKey,
    num_episodes: int,
    carry: Any = None,
) -> chex.Array:
    """How often each joint action was played in ``num_episodes`` greedy episodes.

    Counts every step of every episode while it is alive (the step that ends an
    episode included, nothing after it), so on a matrix game the counts sum to
    ``num_episodes * env.episode_length``. The same ``key`` gives the same
    episodes as :func:`greedy_returns`. Pure and jittable.

    Args:
        env: an environment with ``num_agents`` N and ``num_actions`` A
            (meant for matrix games, :class:`MatrixGame`).
        policy, key, num_episodes, carry: as for :func:`greedy_returns`.

    Returns:
        int32[A, ..., A] (N axes): ``counts[a_1, ..., a_N]`` = number of steps
        with that joint action.
    """
    num_episodes = _check_num_episodes(num_episodes)

    def record(env_state, actions, alive):
        return actions, alive

    actions, alive = _greedy_episodes(env, policy, key, num_episodes, carry, record).records
    # actions int32[T, B, N], alive bool[T, B]
    shape = (env.num_actions,) * env.num_agents
    index = tuple(actions[..., i] for i in range(env.num_agents))
    return jnp.zeros(shape, jnp.int32).at[index].add(alive.astype(jnp.int32))


def format_joint_action_table(counts: Any, top: int = 10) -> str:
    """A text table of joint-action frequencies, in percent of all counted steps.

    Args:
        counts: int[A_1, ..., A_N], as returned by :func:`joint_action_counts`.
        top: for N != 2, how many of the most frequent joint actions to list.

    Returns:
        For two agents, a grid with agent 1's action as rows and agent 2's as
        columns; otherwise the ``top`` most frequent joint actions, one a line.
        Actions are numbered from 0.

    Raises:
        ValueError: if ``counts`` is empty, negative or sums to zero.
    """
    counts = np.asarray(counts)
    if counts.ndim < 1 or counts.size == 0:
        raise ValueError(f"counts must have one axis per agent, got shape {counts.shape}")
    if (counts < 0).any():
        raise ValueError("counts must be non-negative")
    total = int(counts.sum())
    if total == 0:
        raise ValueError("counts sum to 0: no steps were counted")
    percent = 100.0 * counts / total
    header = f"joint actions over {total} steps (percent of steps)"
    if counts.ndim == 2:
        rows, cols = counts.shape
        corner = "agent 1 \\ agent 2"
        width = max(7, len(corner))
        lines = [header, corner.ljust(width) + "".join(f"{j:>8d}" for j in range(cols))]
        for i in range(rows):
            cells = "".join(f"{p:8.1f}" for p in percent[i])
            lines.append(f"{i:<{width}d}{cells}")
        return "\n".join(lines)
    order = np.argsort(-counts, axis=None, kind="stable")[: max(1, top)]
    lines = [header, f"{'joint action':<20}{'percent':>8}{'steps':>10}"]
    for flat in order:
        if counts.flat[flat] == 0:
            break
        joint = np.unravel_index(flat, counts.shape)
        label = "(" + ", ".join(str(int(a)) for a in joint) + ")"
        lines.append(f"{label:<20}{percent.flat[flat]:8.1f}{int(counts.flat[flat]):>10d}")
    shown = len(lines) - 2
    nonzero = int((counts > 0).sum())
    if shown < nonzero:
        lines.append(f"... {nonzero - shown} more joint actions played")
    return "\n".join(lines)


def render_episode(
    env: Environment,
    policy: Policy,
    key: chex.PRNGKey,
    carry: Any,
    path: str | os.PathLike,
    interval: int = 200,
) -> Path:
    """Runs one greedy episode of a grid game and writes it as an animated GIF.

    The episode runs in one jitted ``lax.scan`` that keeps every state; the host
    then draws the reset state and the state after every step up to the one
    that ends the episode (1 + its length frames) through the inner Jumanji
    environment's own ``animate``, with matplotlib's Pillow writer (pinned here:
    matplotlib's default writer is ffmpeg, which may be absent). Pillow merges
    consecutive identical frames into one longer frame.

    Args:
        env: a Jumanji-backed game (LBF, RWARE, Cleaner, Connector) holding its Jumanji
            environment as ``env.inner``; its state is the inner state.
        policy: ``policy(obs [1], carry, key) -> (int32[1, N], carry)``.
        key: the episode's randomness.
        carry: the policy's memory at the episode start ([1, ...]), or None.
        path: where to write the GIF (must end in ``.gif``).
        interval: milliseconds per frame.

    Returns:
        The path written.

    Raises:
        ValueError: for an environment that cannot be rendered (matrix games
            included) or a path that does not end in ``.gif``.
    """
    reason = why_not_renderable(env)
    if reason is not None:
        raise ValueError(reason)
    path = Path(path)
    if path.suffix.lower() != ".gif":
        raise ValueError(f"render writes an animated GIF; the path must end in .gif, got {path}")

    def record(env_state, actions, alive):
        return env_state, alive

    @jax.jit
    def episode(key, carry):
        episodes = _greedy_episodes(env, policy, key, 1, carry, record)
        states, alive = episodes.records
        return episodes.env_state, states, alive

    first, states, alive = jax.device_get(episode(key, carry))
    # first: [1] state; states: [T, 1] states after each step; alive: bool[T, 1]
    steps = int(np.asarray(alive)[:, 0].sum())
    frames = [jax.tree_util.tree_map(lambda x: x[0], first)]
    frames += [jax.tree_util.tree_map(lambda x, t=t: x[t, 0], states) for t in range(steps)]

    import matplotlib

    path.parent.mkdir(parents=True, exist_ok=True)
    with matplotlib.rc_context({"animation.writer": "pillow"}):
        env.inner.animate(frames, interval=interval, save_path=str(path))
    return path
