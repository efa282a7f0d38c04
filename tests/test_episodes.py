"""Greedy-episode helpers: per-episode returns, joint-action counts and tables, GIFs.

Matrix games give hand-computable returns and counts; LBF gives the GIF. The
payoffs below are written out from DESIGN.md, independently of matrix.py.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from jaxmarl_core.envs import MatrixGame, evaluate, make_env
from jaxmarl_core.envs.episodes import (
    format_joint_action_table,
    greedy_returns,
    joint_action_counts,
    render_episode,
)

CLIMBING = np.array([[11, -30, 0], [-30, 7, 0], [0, 6, 5]], np.float32)
NUM_EPISODES = 6


def fixed_policy(joint):
    """Every agent always plays its action in ``joint``; the carry is left alone."""

    def policy(obs, carry, key):
        return jnp.broadcast_to(jnp.asarray(joint, jnp.int32), obs.action_mask.shape[:-1]), carry

    return policy


def random_policy(obs, carry, key):
    """A uniformly random allowed action for every agent, int32[B, N]; no memory."""
    logits = jnp.where(obs.action_mask, 0.0, -jnp.inf)
    return jax.random.categorical(key, logits).astype(jnp.int32), carry


class LongerScan:
    """A matrix game scanned for more steps than its episodes last.

    The inner game ends after ``env.episode_length`` steps and keeps paying
    afterwards; what is paid or played after the end must not be counted.
    """

    def __init__(self, env: MatrixGame, scan_length: int):
        self.env = env
        self.num_agents, self.num_actions = env.num_agents, env.num_actions
        self.episode_length = scan_length

    def reset(self, key):
        return self.env.reset(key)

    def step(self, state, actions):
        return self.env.step(state, actions)


def test_greedy_returns_of_fixed_joint_actions_on_climbing():
    env = make_env("climbing")
    assert env.episode_length == 25
    returns = jax.jit(
        lambda k, joint: greedy_returns(env, fixed_policy(joint), k, NUM_EPISODES),
    )
    for joint in [(0, 0), (1, 1), (0, 1), (2, 1)]:
        got = np.asarray(returns(jax.random.key(0), jnp.array(joint)))
        assert got.shape == (NUM_EPISODES,) and got.dtype == np.float32
        np.testing.assert_array_equal(got, [25 * CLIMBING[joint]] * NUM_EPISODES)


def test_greedy_returns_follow_the_step_count_and_stop_at_the_end():
    # Both agents play step_count % 3: payoffs 11, 7, 5 for the 3-step game.
    def diagonal(obs, carry, key):
        a = (obs.step_count % 3).astype(jnp.int32)[:, None]
        return jnp.broadcast_to(a, obs.action_mask.shape[:-1]), carry

    game = MatrixGame(CLIMBING, episode_length=3)
    got = greedy_returns(game, diagonal, jax.random.key(1), 2)
    np.testing.assert_array_equal(got, [23.0, 23.0])
    # Scanned for 5 steps, the 2 steps after the episode's end are not counted.
    got = greedy_returns(LongerScan(game, 5), fixed_policy((0, 0)), jax.random.key(1), 2)
    np.testing.assert_array_equal(got, [33.0, 33.0])


def test_evaluate_is_the_mean_of_greedy_returns():
    env = make_env("climbing", episode_length=4)
    key = jax.random.key(3)
    per_episode = greedy_returns(env, random_policy, key, 16)
    assert len(set(np.asarray(per_episode).tolist())) > 1  # the episodes differ
    assert float(evaluate(env, random_policy, key, 16)) == pytest.approx(
        float(per_episode.mean()), abs=0
    )


def test_joint_action_counts_of_a_fixed_policy():
    env = make_env("climbing")
    counts = jax.jit(lambda k: joint_action_counts(env, fixed_policy((2, 1)), k, NUM_EPISODES))(
        jax.random.key(0)
    )
    assert counts.shape == (3, 3) and jnp.issubdtype(counts.dtype, jnp.integer)
    expected = np.zeros((3, 3), int)
    expected[2, 1] = NUM_EPISODES * 25
    np.testing.assert_array_equal(counts, expected)
    # Steps after an episode's end are not counted.
    game = MatrixGame(CLIMBING, episode_length=3)
    counts = joint_action_counts(LongerScan(game, 5), fixed_policy((0, 2)), jax.random.key(0), 4)
    assert int(counts.sum()) == 4 * 3 and int(counts[0, 2]) == 12


def test_joint_action_counts_match_the_returns_of_the_same_episodes():
    # The same key gives the same episodes: sum(counts * payoff) = sum of the returns.
    env = make_env("climbing", episode_length=5)
    key = jax.random.key(7)
    counts = np.asarray(joint_action_counts(env, random_policy, key, 20))
    returns = np.asarray(greedy_returns(env, random_policy, key, 20))
    assert counts.sum() == 20 * 5 and (counts > 0).sum() > 3
    assert float((counts * CLIMBING).sum()) == float(returns.sum())


def test_three_agent_counts_and_table():
    game = MatrixGame(np.zeros((2, 2, 2)), episode_length=4)
    counts = joint_action_counts(game, fixed_policy((1, 0, 1)), jax.random.key(0), 3)
    assert counts.shape == (2, 2, 2) and int(counts[1, 0, 1]) == 12 and int(counts.sum()) == 12
    table = format_joint_action_table(counts)
    assert "12 steps" in table
    assert "(1, 0, 1)" in table and "100.0" in table
    assert "(0, 0, 0)" not in table  # joint actions never played are not listed


def test_two_agent_table_is_a_grid_of_percentages():
    table = format_joint_action_table(np.array([[3, 1, 0], [0, 0, 0], [0, 0, 4]]))
    lines = table.splitlines()
    assert "8 steps" in lines[0]
    assert lines[1].split()[-3:] == ["0", "1", "2"]
    assert lines[2].split() == ["0", "37.5", "12.5", "0.0"]
    assert lines[3].split() == ["1", "0.0", "0.0", "0.0"]
    assert lines[4].split() == ["2", "0.0", "0.0", "50.0"]
    with pytest.raises(ValueError, match="sum to 0"):
        format_joint_action_table(np.zeros((3, 3), int))


def test_render_episode_writes_an_animated_gif(tmp_path):
    length, interval = 8, 100
    env = make_env("lbf-8x8-2p-2f-coop", episode_length=length)
    path = render_episode(
        env, random_policy, jax.random.key(0), None, tmp_path / "ep.gif", interval
    )
    assert path == tmp_path / "ep.gif"
    with Image.open(path) as gif:
        assert gif.format == "GIF"
        assert gif.n_frames > 1
        durations = []
        for i in range(gif.n_frames):
            gif.seek(i)
            durations.append(gif.info["duration"])
    # Pillow merges identical consecutive frames, so the durations, not the
    # frames, count the 1 + length states (this key's episode does not end early).
    assert sum(durations) == interval * (1 + length)


def test_render_refuses_what_it_cannot_draw(tmp_path):
    with pytest.raises(ValueError, match="render is for grid games; matrix games print"):
        render_episode(
            make_env("climbing"), random_policy, jax.random.key(0), None, tmp_path / "a.gif"
        )
    with pytest.raises(ValueError, match="cannot render"):
        game = LongerScan(make_env("climbing"), 3)
        render_episode(game, random_policy, jax.random.key(0), None, tmp_path / "b.gif")
    with pytest.raises(ValueError, match=r"\.gif"):
        lbf = make_env("lbf-8x8-2p-2f-coop")
        render_episode(lbf, random_policy, jax.random.key(0), None, tmp_path / "c.mp4")
    assert list(tmp_path.iterdir()) == []


def test_num_episodes_must_be_positive():
    with pytest.raises(ValueError, match="num_episodes"):
        greedy_returns(make_env("climbing"), random_policy, jax.random.key(0), 0)


def test_what_can_be_rendered_is_known_before_any_episode_runs():
    from jaxmarl_core.envs.episodes import MATRIX_RENDER_MESSAGE, why_not_renderable

    assert why_not_renderable(make_env("climbing")) == MATRIX_RENDER_MESSAGE
    assert why_not_renderable(make_env("lbf-8x8-2p-2f-coop")) is None
    assert why_not_renderable(make_env("jumanji:Connector-v3")) is None
    assert "Jumanji-backed" in why_not_renderable(make_env("jaxmarl:MPE_simple_spread_v3"))
