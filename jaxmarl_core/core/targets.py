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


def ends_capacity(length: int, batch: int, episode_length: int | None = None) -> int:
    """Steps of a [T, B] batch that :func:`next_values` steps once more without
    stepping them all: every sequence's last step, and an episode's end in one
    step of eight of the rest (episodes of 8 steps or more on average). Where
    every episode lasts one step (``episode_length`` 1: a one-shot game) every
    step is an end, and the capacity is all ``T * B`` steps (no ``cond``)."""
    if episode_length == 1:
        return length * batch
    return batch + math.ceil((length - 1) * batch / 8)


# value_at(carries [M..., N, H], next_x [M..., ...] (a pytree), reset bool[M...]) ->
# the values float32[M..., ...] at next_x after the hidden states ``carries``
ValueAt = Callable[[chex.Array, Any, chex.Array], chex.Array]


def stepped_values(step: Callable, params: Any) -> ValueAt:
    """The ``value_at`` of a network's ``step(params, carry, x, reset) -> (carry, q)``:
    its outputs q float32[M..., N, A]."""
    return lambda carries, next_x, reset: step(params, carries, next_x, reset)[1]


def next_values(
    value_at: ValueAt,
    carries: chex.Array,
    values: chex.Array,
    next_x: Any,
    first: chex.Array,
    capacity: int,
) -> chex.Array:
    """The values at every step's true next observation, float32[T, B, ...].

    ``values`` [T, B, ...] are those at the sequence's own observations (an
    unroll's, or what the acting pass recorded), read after the hidden states
    before each step; ``carries`` [T, B, N, H] the hidden states after each step;
    ``next_x`` [T, B, ...] (a pytree) the next observations; ``first`` bool[T, B].
    Inside an episode the next observation is the next step's, read from the
    same hidden state: values[t + 1] is the value. Only where an episode ended
    (``first[t + 1]``: next_x[t] is its last observation, which no step reads) and
    at each sequence's last step does the value need ``value_at`` from carries[t].
    Up to ``capacity`` such steps are gathered and evaluated; a batch with more,
    or a capacity that holds every step, evaluates every step. Under ``vmap``
    both ways run (a ``cond`` becomes a select).
    """
    length, batch = first.shape
    ends = jnp.concatenate([first[1:], jnp.ones((1, batch), bool)])

    def every_step() -> chex.Array:
        return value_at(carries, next_x, jnp.zeros_like(first))

    if capacity >= length * batch:
        return every_step()

    def at_ends() -> chex.Array:
        # Padding repeats a last step, which is evaluated anyway.
        t, b = jnp.nonzero(ends, size=capacity, fill_value=(length - 1, 0))
        x_end = jax.tree_util.tree_map(lambda x: x[t, b], next_x)
        v_end = value_at(carries[t, b], x_end, jnp.zeros((capacity,), bool))
        return jnp.concatenate([values[1:], values[-1:]]).at[t, b].set(v_end)

    return jax.lax.cond(jnp.sum(ends) <= capacity, at_ends, every_step)
