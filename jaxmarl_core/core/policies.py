"""Categorical policies over the allowed actions, through distrax.

An invalid action gets the logit ``NEG_INF`` before the softmax: its
probability is exactly 0 in float32, so it is never sampled, and its term in
the entropy is ``0 · NEG_INF = 0`` (finite, unlike ``-inf``, which would give
NaN entropies and gradients).
"""

from __future__ import annotations

import chex
import distrax
import jax.numpy as jnp

from jaxmarl_core.core.exploration import NEG_INF, masked_argmax


def masked_categorical(logits: chex.Array, mask: chex.Array) -> distrax.Categorical:
    """π(· | h) over the allowed actions.

    Args:
        logits: float32[..., A]. mask: bool[..., A], True where the action is allowed
            (at least one per row).

    Returns:
        A ``distrax.Categorical`` with batch shape [...].
    """
    chex.assert_equal_shape((logits, mask))
    return distrax.Categorical(logits=jnp.where(mask, logits, NEG_INF))


def sample_with_log_prob(
    key: chex.PRNGKey, logits: chex.Array, mask: chex.Array
) -> tuple[chex.Array, chex.Array]:
    """Samples ``a ~ π(· | h)`` among the allowed actions.

    Returns:
        (actions int32[...], log_probs float32[...]): the actions and log π(a | h).
    """
    actions, log_prob = masked_categorical(logits, mask).sample_and_log_prob(seed=key)
    return actions.astype(jnp.int32), log_prob


def greedy(logits: chex.Array, mask: chex.Array) -> chex.Array:
    """argmax_a π(a | h) among the allowed actions: float32[..., A] -> int32[...]."""
    return masked_argmax(logits, mask)
