"""Bootstrapped value targets shared by the value-based learners."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import chex
import jax
import jax.numpy as jnp

from jaxmarl_core.core.exploration import masked_argmax


def select(values: chex.Array, actions: chex.Array) -> chex.Array:
    """values[..., a]: float32[..., A], int32[...] -> float32[...]."""
    return jnp.take_along_axis(values, actions[..., None], axis=-1)[..., 0]


def greedy_value(
    q_t_target: chex.Array, q_t_selector: chex.Array, mask_t: chex.Array
) -> chex.Array:
    """``Q^-(h', argmax_a' Q_sel(h', a'))`` over the allowed actions, without gradient.

    With ``q_t_selector = q_t_target`` this is ``max_a' Q^-(h', a')`` (DQN); with
    the online network's values it is double Q-learning (van Hasselt et al. 2016).

    Args:
        q_t_target, q_t_selector: float32[..., A]. mask_t: bool[..., A].

    Returns:
        float32[...].
    """
    a_star = masked_argmax(q_t_selector, mask_t)
    return jax.lax.stop_gradient(select(q_t_target, a_star))


def td_target(
    r_t: chex.Array, discount_t: chex.Array, gamma: chex.Array, v_t: chex.Array
) -> chex.Array:
    """One-step target ``y = r + γ d v'``, without gradient.

    ``d`` is 0 where the episode terminated and 1 on a time-limit truncation, so
    a truncated episode still bootstraps from its last observation.

    Args:
        r_t, discount_t, v_t: float32[...] (the same shape). gamma: float32[].
    """
    chex.assert_equal_shape([r_t, discount_t, v_t])
    return jax.lax.stop_gradient(r_t + gamma * discount_t * v_t)


def q_learning_target(
    r_t: chex.Array,
    discount_t: chex.Array,
    gamma: chex.Array,
    q_t_target: chex.Array,
    q_t_selector: chex.Array,
    mask_t: chex.Array,
) -> chex.Array:
    """(Double) Q-learning target ``y = r + γ d Q^-(h', argmax_a' Q_sel(h', a'))``.

    :func:`td_target` of :func:`greedy_value`; the result carries no gradient.

    Args:
        r_t, discount_t: float32[...]. gamma: float32[].
        q_t_target, q_t_selector: float32[..., A]. mask_t: bool[..., A].
    """
    return td_target(r_t, discount_t, gamma, greedy_value(q_t_target, q_t_selector, mask_t))


def ends_capacity(length: int, batch: int) -> int:
    """Steps of a [T, B] batch that :func:`next_values` steps once more without
    stepping them all: every sequence's last step, and an episode's end in one
    step of eight of the rest (episodes of 8 steps or more on average)."""
    return batch + math.ceil((length - 1) * batch / 8)


def next_values(
    step: Callable,
    params: Any,
    carries: chex.Array,
    q: chex.Array,
    next_x: chex.Array,
    first: chex.Array,
    capacity: int,
) -> chex.Array:
    """Q(h_t', ·) at every step's true next observation, float32[T, B, N, A].

    ``carries`` [T, B, N, H] and ``q`` [T, B, N, A] are an unroll over the
    sequence's observations, ``next_x`` [T, B, N, D] the next observations,
    ``first`` bool[T, B]. Inside an episode the next observation is the next
    step's, which the unroll read from the same hidden state: q[t + 1] is the
    value. Only where an episode ended (``first[t + 1]``: next_x[t] is its last
    observation, which no step reads) and at each sequence's last step does the
    value need one more ``step`` from carries[t]. Up to ``capacity`` such steps
    are gathered and stepped; a batch with more, or a capacity that holds every
    step, steps every step. Under ``vmap`` both ways run (a ``cond`` becomes a
    select).
    """
    length, batch = first.shape
    ends = jnp.concatenate([first[1:], jnp.ones((1, batch), bool)])

    def every_step() -> chex.Array:
        return step(params, carries, next_x, jnp.zeros_like(first))[1]

    if capacity >= length * batch:
        return every_step()

    def at_ends() -> chex.Array:
        # Padding repeats a last step, which is stepped anyway.
        t, b = jnp.nonzero(ends, size=capacity, fill_value=(length - 1, 0))
        _, q_end = step(params, carries[t, b], next_x[t, b], jnp.zeros((capacity,), bool))
        return jnp.concatenate([q[1:], q[-1:]]).at[t, b].set(q_end)

    return jax.lax.cond(jnp.sum(ends) <= capacity, at_ends, every_step)
