"""Bootstrapped value targets shared by the value-based learners."""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp

from jaxmarl_core.core.exploration import masked_argmax


def select(values: chex.Array, actions: chex.Array) -> chex.Array:
    """values[..., a]: float32[..., A], int32[...] -> float32[...]."""
    return jnp.take_along_axis(values, actions[..., None], axis=-1)[..., 0]


def q_learning_target(
    r_t: chex.Array,
    discount_t: chex.Array,
    gamma: chex.Array,
    q_t_target: chex.Array,
    q_t_selector: chex.Array,
    mask_t: chex.Array,
) -> chex.Array:
    """(Double) Q-learning target ``y = r + gamma * d * Q^-(h', argmax_a' Q_sel(h', a'))``.

    ``d`` is 0 where the episode terminated and 1 on a time-limit truncation, so
    a truncated episode still bootstraps from its last observation. With
    ``q_t_selector = q_t_target`` this is the DQN target ``max_a' Q^-(h', a')``;
    with the online network's values it is double Q-learning (van Hasselt et al.
    2016). The result carries no gradient.

    Args:
        r_t, discount_t: float32[...]. gamma: float32[].
        q_t_target, q_t_selector: float32[..., A]. mask_t: bool[..., A].
    """
    a_star = masked_argmax(q_t_selector, mask_t)
    y = r_t + gamma * discount_t * select(q_t_target, a_star)
    return jax.lax.stop_gradient(y)
