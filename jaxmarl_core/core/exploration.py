"""Action selection: masked greedy, masked uniform and epsilon-greedy."""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp

NEG_INF = -1e9


def masked_argmax(values: chex.Array, mask: chex.Array) -> chex.Array:
    """Greedy action among the allowed ones: float32[..., A], bool[..., A] -> int32[...]."""
    return jnp.argmax(jnp.where(mask, values, NEG_INF), axis=-1).astype(jnp.int32)


def masked_max(values: chex.Array, mask: chex.Array) -> chex.Array:
    """Maximum over the allowed actions: float32[..., A] -> float32[...]."""
    return jnp.max(jnp.where(mask, values, NEG_INF), axis=-1)


def linear_schedule(start: chex.Array, end: chex.Array, fraction: chex.Array) -> chex.Array:
    """``start`` moving linearly to ``end`` as ``fraction`` goes 0 -> 1, then ``end``."""
    return start + (end - start) * jnp.clip(fraction, 0.0, 1.0)


def decayed_epsilon(hparams: dict, env_steps: chex.Array, total_timesteps: int) -> chex.Array:
    """ε after ``env_steps`` steps: ``eps_start`` moving linearly to ``eps_end`` over
    ``eps_decay_fraction`` of ``total_timesteps``, then ``eps_end`` (float32[])."""
    decay_steps = hparams["eps_decay_fraction"] * total_timesteps
    return linear_schedule(hparams["eps_start"], hparams["eps_end"], env_steps / decay_steps)


def epsilon_greedy(
    key: chex.PRNGKey, q: chex.Array, mask: chex.Array, epsilon: chex.Array
) -> tuple[chex.Array, chex.Array]:
    """Epsilon-greedy over the allowed actions.

    Args:
        q: float32[..., A] action values. mask: bool[..., A]. epsilon: float32[].

    Returns:
        (actions int32[...], probs float32[...]): the actions, and the probability
        mu(a | h) that the epsilon-greedy policy gave each chosen action.
    """
    explore_key, random_key = jax.random.split(key)
    greedy = masked_argmax(q, mask)
    uniform_logits = jnp.where(mask, 0.0, NEG_INF)
    random = jax.random.categorical(random_key, uniform_logits).astype(jnp.int32)
    explore = jax.random.uniform(explore_key, greedy.shape) < epsilon
    actions = jnp.where(explore, random, greedy)
    return actions, epsilon_greedy_probs(q, mask, actions, epsilon)


def epsilon_greedy_probs(
    q: chex.Array, mask: chex.Array, actions: chex.Array, epsilon: chex.Array
) -> chex.Array:
    """mu(a | h) of the epsilon-greedy policy on ``q``: eps / |allowed| + (1 - eps) [a greedy].

    Args:
        q: float32[..., A]. mask: bool[..., A]. actions: int32[...]. epsilon: float32[].

    Returns:
        float32[...]: the probability of each given action.
    """
    num_allowed = mask.sum(-1)
    greedy = masked_argmax(q, mask)
    return epsilon / num_allowed + (1.0 - epsilon) * (actions == greedy)
