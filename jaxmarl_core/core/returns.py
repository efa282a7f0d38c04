"""Returns and advantages over a rollout: Monte-Carlo, n-step, λ-returns and GAE.

Every function is time-major: inputs have shape ``[T, ...]`` (any trailing axes,
e.g. ``[T, B, N]``) and step ``t`` holds

- ``r_t``: the reward received after acting at step t;
- ``discount_t``: ``γ · d_t``, where ``d_t`` is 0 if the episode *terminated*
  at step t and 1 otherwise (a time-limit *truncation* keeps ``d_t = 1``);
- ``done_t``: 1 where the episode ended at step t (terminated or truncated), so
  no return flows from the next episode back into this one;
- ``v_t``: V(s_t), the value of the observation acted on at step t;
- ``v_tp1``: V(s'_t), the value of the *true* next observation of step t. Where
  an episode ended, s'_t is its last observation (``VecStep.next_obs``), not
  the reset observation that follows, so a truncation bootstraps correctly; at
  the rollout's last step it is the value that bootstraps the cut.

The names follow rlax (``r_t``, ``discount_t``, ``v_t``); ``done_t`` and the
explicit ``v_tp1`` are what make them correct across episode ends inside one
rollout. Every function is pure, jit-able and vmap-able.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp


def _check(*arrays: chex.Array) -> None:
    chex.assert_equal_shape(arrays)
    chex.assert_rank(arrays[0], {1, 2, 3, 4})


def lambda_returns(
    r_t: chex.Array,
    discount_t: chex.Array,
    done_t: chex.Array,
    v_tp1: chex.Array,
    lambda_: chex.Array | float,
) -> chex.Array:
    """λ-returns, the target of TD(λ) (Sutton and Barto, eq. 12.3, recursive form).

        G^λ_t = r_t + discount_t · [ V(s'_t) + λ (1 − done_t) (G^λ_{t+1} − V(s'_t)) ]

    with ``G^λ_T := V(s'_{T−1})`` (the rollout's cut bootstraps). λ = 0 gives the
    one-step target ``r_t + discount_t V(s'_t)``; λ = 1 gives the discounted sum
    of rewards to the episode's end, bootstrapped from V(s'_t) at a truncation and
    at the rollout's end.

    Args:
        r_t, discount_t, done_t, v_tp1: float32[T, ...] (see the module docstring).
        lambda_: float32[] in [0, 1].

    Returns:
        float32[T, ...]: G^λ_t.
    """
    _check(r_t, discount_t, done_t, v_tp1)
    done_t = jnp.asarray(done_t, r_t.dtype)

    def step(g_tp1, xs):
        r, discount, done, v_next = xs
        g = r + discount * (v_next + lambda_ * (1.0 - done) * (g_tp1 - v_next))
        return g, g

    _, g = jax.lax.scan(step, v_tp1[-1], (r_t, discount_t, done_t, v_tp1), reverse=True)
    return g


def monte_carlo_returns(r_t: chex.Array, discount_t: chex.Array, done_t: chex.Array) -> chex.Array:
    """Monte-Carlo returns: the discounted sum of rewards to the end of the episode.

        G_t = Σ_{τ=t}^{t_end} (Π_{k=t}^{τ−1} discount_k) r_τ,
        i.e.  G_t = r_t + discount_t (1 − done_t) G_{t+1},   G_T := 0,

    where ``t_end`` is the step at which the episode of step t ends (terminated or
    truncated). Nothing is bootstrapped: a truncated episode's return is its
    rewards up to the time limit, as in REINFORCE. Steps whose episode continues
    past the rollout's end get a partial sum; the caller must not use them.

    Args:
        r_t, discount_t, done_t: float32[T, ...].

    Returns:
        float32[T, ...]: G_t.
    """
    return lambda_returns(r_t, discount_t, done_t, jnp.zeros_like(r_t), 1.0)


def n_step_returns(
    r_t: chex.Array,
    discount_t: chex.Array,
    done_t: chex.Array,
    v_tp1: chex.Array,
    n: int,
) -> chex.Array:
    """n-step bootstrapped returns, cut at the episode's end and at the rollout's end.

        G^(n)_t = Σ_{k=0}^{m−1} (Π_{j=0}^{k−1} discount_{t+j}) r_{t+k}
                  + (Π_{j=0}^{m−1} discount_{t+j}) V(s'_{t+m−1}),

    with ``m = min(n, steps to the episode's end (inclusive), T − t)``. Built by
    ``n`` vectorised applications of the recursion

        G^(1)_t = r_t + discount_t V(s'_t),
        G^(k)_t = r_t + discount_t [c_t G^(k−1)_{t+1} + (1 − c_t) V(s'_t)],

    where ``c_t = 1 − done_t`` and ``c_{T−1} = 0``.

    Args:
        r_t, discount_t, done_t, v_tp1: float32[T, ...].
        n: the number of steps, a Python int >= 1 (static).

    Returns:
        float32[T, ...]: G^(n)_t.
    """
    _check(r_t, discount_t, done_t, v_tp1)
    if n < 1:
        raise ValueError(f"n must be an integer >= 1, got {n!r}")
    cont = 1.0 - jnp.asarray(done_t, r_t.dtype)
    cont = cont.at[-1].set(0.0)

    def extend(_, g):
        g_tp1 = jnp.concatenate([g[1:], jnp.zeros_like(g[:1])], axis=0)
        return r_t + discount_t * (cont * g_tp1 + (1.0 - cont) * v_tp1)

    one_step = r_t + discount_t * v_tp1
    return jax.lax.fori_loop(1, n, extend, one_step)


def td_errors(
    r_t: chex.Array, discount_t: chex.Array, v_t: chex.Array, v_tp1: chex.Array
) -> chex.Array:
    """One-step TD errors ``δ_t = r_t + discount_t V(s'_t) − V(s_t)``: float32[T, ...]."""
    _check(r_t, discount_t, v_t, v_tp1)
    return r_t + discount_t * v_tp1 - v_t


def generalized_advantage_estimation(
    r_t: chex.Array,
    discount_t: chex.Array,
    done_t: chex.Array,
    v_t: chex.Array,
    v_tp1: chex.Array,
    lambda_: chex.Array | float,
) -> chex.Array:
    """GAE(λ) (Schulman et al. 2016, eq. 16), reset at every episode end.

        δ_t = r_t + discount_t V(s'_t) − V(s_t)
        A_t = δ_t + discount_t · λ · (1 − done_t) · A_{t+1},   A_T := 0.

    ``A_t + V(s_t)`` equals the λ-return ``G^λ_t`` of :func:`lambda_returns`.

    Args:
        r_t, discount_t, done_t, v_t, v_tp1: float32[T, ...].
        lambda_: float32[] in [0, 1].

    Returns:
        float32[T, ...]: A_t.
    """
    _check(r_t, discount_t, done_t, v_t, v_tp1)
    delta = td_errors(r_t, discount_t, v_t, v_tp1)
    cont = discount_t * lambda_ * (1.0 - jnp.asarray(done_t, r_t.dtype))

    def step(a_tp1, xs):
        d, c = xs
        a = d + c * a_tp1
        return a, a

    _, adv = jax.lax.scan(step, jnp.zeros_like(delta[0]), (delta, cont), reverse=True)
    return adv
