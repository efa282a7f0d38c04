"""Bootstrapped value targets shared by the value-based learners."""

from __future__ import annotations

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
