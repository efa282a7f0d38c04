"""Means over the entries that count, shared by both runners."""

from __future__ import annotations

import chex
import jax.numpy as jnp


def masked_mean(x: chex.Array, mask: chex.Array) -> chex.Array:
    """Mean of ``x`` [..., ...] over the entries where ``mask`` is 1: float32[].

    ``mask`` has ``x``'s leading axes (for example [T, B] for ``x`` [T, B, N]) or
    its whole shape; it is broadcast over the trailing axes of ``x``.
    """
    mask = jnp.broadcast_to(mask.reshape(mask.shape + (1,) * (x.ndim - mask.ndim)), x.shape)
    return jnp.sum(x * mask) / jnp.maximum(jnp.sum(mask), 1.0)
