"""IDQN's fixes for a non-stationary replay buffer, as pure functions.

Independent learners see the other agents as part of the environment, and the
other agents keep changing, so old transitions in the replay buffer describe an
environment that no longer exists (Albrecht, Christianos, Schäfer, ch. 9.3.1).
Besides a small buffer (a config value: ``buffer_size``), three fixes reweight
each agent's squared TD error ``δ_i²`` by a weight ``w_i``; they compose by
multiplying their weights:

- importance sampling (Foerster et al. 2017, "Stabilising experience replay for
  deep multi-agent RL"): ``w_i = min(c, Π_{j≠i} π_j(a_j|h_j) / μ_j(a_j|h_j))``,
  current over stored (behaviour) probabilities of the other agents' actions;
- hysteretic Q-learning (Matignon et al. 2007): ``w_i = β`` where ``δ_i < 0``,
  else 1: a smaller learning rate ``β α`` for negative TD errors;
- leniency (Panait et al. 2006; lenient DQN, Palmer et al. 2018): a negative
  update is ignored (``w_i = 0``) with probability ``l = 1 − exp(−K T(h_i, a_i))``,
  where the temperature ``T = decay^n`` falls with the number ``n`` of earlier
  visits of ``(h_i, a_i)``; ``l`` is computed when the transition is collected
  and stored with it. Observations are counted in a hashed table (SimHash of
  the observation, as lenient DQN counts its states).

All weights carry no gradient: they scale the TD error, they are not learnt.
Shapes: ``B`` sampled transitions, ``N`` agents, ``A`` actions, ``D`` features.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np


def hysteretic_weights(td_error: chex.Array, beta: chex.Array) -> chex.Array:
    """Hysteretic Q-learning: ``w = β`` for a negative TD error, 1 otherwise.

    Scaling the squared error by ``w`` scales that error's gradient, so the
    effective learning rate is ``β α`` for negative errors and ``α`` for positive
    ones (with Adam this holds for the relative weight within a batch).

    Args:
        td_error: float32[...] TD errors ``δ = y − Q(h, a)``.
        beta: float32[], in (0, 1]; 1 switches hysteresis off.

    Returns:
        float32[...] weights, without gradient.
    """
    w = jnp.where(td_error < 0.0, beta, 1.0)
    return jax.lax.stop_gradient(w)


def importance_weights(
    current_prob: chex.Array, behaviour_prob: chex.Array, clip: chex.Array
) -> chex.Array:
    """Truncated multi-agent importance weights (Foerster et al. 2017, sec. 4.1).

    ``ρ_i = min(c, Π_{j≠i} π_j(a_j|h_j) / μ_j(a_j|h_j))``: how much more (or less)
    likely the *other* agents' stored actions are under their current policies π
    than under the behaviour policies μ that took them. The agent's own ratio is
    left out: its own action is conditioned on, as in any off-policy Q-learning.

    Args:
        current_prob: float32[B, N], π_j(a_j | h_j) now.
        behaviour_prob: float32[B, N], μ_j(a_j | h_j) when stored.
        clip: float32[], the truncation level c > 0.

    Returns:
        float32[B, N] weights, without gradient.
    """
    chex.assert_equal_shape([current_prob, behaviour_prob])
    log_ratio = jnp.log(current_prob) - jnp.log(behaviour_prob)  # [B, N]
    others = jnp.sum(log_ratio, axis=-1, keepdims=True) - log_ratio
    w = jnp.minimum(jnp.exp(others), clip)
    return jax.lax.stop_gradient(w)


def leniency(visits: chex.Array, k: chex.Array, decay: chex.Array) -> chex.Array:
    """Leniency ``l = 1 − exp(−K T)`` with temperature ``T = decay^visits``.

    ``T`` starts at 1 and is multiplied by ``decay`` at each visit of (h, a), so
    ``l`` starts at ``1 − exp(−K)`` and falls towards 0 as (h, a) is visited.

    Args:
        visits: int32[...] earlier visits of (h, a). k, decay: float32[].

    Returns:
        float32[...] in [0, 1).
    """
    temperature = decay ** visits.astype(jnp.float32)
    return -jnp.expm1(-k * temperature)  # 1 - exp(-K T), accurate for small K T


def lenient_weights(key: chex.PRNGKey, td_error: chex.Array, leniency: chex.Array) -> chex.Array:
    """Leniency: ignore a negative TD error with probability ``leniency``.

    ``w = 0`` where ``δ < 0`` and ``u < l`` (``u ~ U[0, 1)``, one draw per entry),
    else 1. Positive errors are never ignored.

    Args:
        key: PRNG key of this gradient step.
        td_error, leniency: float32[...], the same shape.

    Returns:
        float32[...] weights in {0, 1}, without gradient.
    """
    chex.assert_equal_shape([td_error, leniency])
    u = jax.random.uniform(key, td_error.shape)
    ignore = (td_error < 0.0) & (u < leniency)
    return jax.lax.stop_gradient(jnp.where(ignore, 0.0, 1.0))


def simhash_projection(obs_dim: int, bits: int, seed: int = 0) -> chex.Array:
    """A fixed Gaussian projection float32[D, bits] for :func:`simhash`."""
    rng = np.random.default_rng(seed)
    return jnp.asarray(rng.standard_normal((obs_dim, bits)), jnp.float32)


def simhash(obs: chex.Array, projection: chex.Array) -> chex.Array:
    """SimHash bucket of an observation: the signs of a random projection as bits.

    Similar observations tend to share a bucket (Charikar 2002; used by lenient
    DQN to count visits of non-tabular states). A constant observation, as in a
    matrix game, is one bucket.

    Args:
        obs: float32[..., D]. projection: float32[D, bits].

    Returns:
        int32[...] in [0, 2**bits).
    """
    bits = (obs @ projection > 0.0).astype(jnp.int32)  # [..., bits]
    powers = 2 ** jnp.arange(projection.shape[-1], dtype=jnp.int32)
    return jnp.sum(bits * powers, axis=-1)


def visit(
    counts: chex.Array,
    buckets: chex.Array,
    actions: chex.Array,
    k: chex.Array,
    decay: chex.Array,
) -> tuple[chex.Array, chex.Array]:
    """Records one step's visits and returns the leniency of each visited (h_i, a_i).

    The leniency uses the count *before* this step (the temperature at the time
    of the visit, as lenient DQN stores it with the transition); several
    environments visiting the same (h_i, a_i) in one step all see that count.

    Args:
        counts: int32[N, H, A], visits per agent, observation bucket and action.
        buckets: int32[B, N], the bucket of each agent's observation.
        actions: int32[B, N].
        k, decay: float32[], leniency moderation factor K and temperature decay.

    Returns:
        (counts int32[N, H, A] after the step, leniency float32[B, N]).
    """
    agent = jnp.broadcast_to(jnp.arange(counts.shape[0]), buckets.shape)
    before = counts[agent, buckets, actions]
    counts = counts.at[agent, buckets, actions].add(1)
    return counts, leniency(before, k, decay)
