"""Returns and advantages against hand-computed values and a plain Python loop.

The rollout used throughout has an episode that *terminates* at step 2 and one
that is *truncated* by a time limit at step 5, and is cut mid-episode at its end
(step 7), so every function is checked across both kinds of episode end.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxmarl_core.core import returns

GAMMA = 0.9
T = 8
TERMINATED = np.array([0, 0, 1, 0, 0, 0, 0, 0], bool)
TRUNCATED = np.array([0, 0, 0, 0, 0, 1, 0, 0], bool)
DONE = TERMINATED | TRUNCATED


def rollout(seed: int = 0, shape: tuple[int, ...] = ()):
    """Rewards and values of the rollout above, with extra trailing axes ``shape``."""
    rng = np.random.default_rng(seed)
    r = rng.normal(size=(T, *shape)).astype(np.float32)
    v_t = rng.normal(size=(T, *shape)).astype(np.float32)
    v_tp1 = rng.normal(size=(T, *shape)).astype(np.float32)
    # Inside an episode the next observation is the one acted on next: V(s'_t) = V(s_{t+1}).
    same = ~DONE[:-1]
    v_t[1:][same] = v_tp1[:-1][same]
    expand = (slice(None),) + (None,) * len(shape)
    discount = np.broadcast_to((GAMMA * (1.0 - TERMINATED))[expand], r.shape).astype(np.float32)
    done = np.broadcast_to(DONE[expand].astype(np.float32), r.shape)
    return r, discount, done, v_t, v_tp1


# ---------------------------------------------------------------------------
# Plain Python references, written from the definitions, one step t at a time.


def ref_monte_carlo(r, discount, done):
    out = np.zeros(T)
    for t in range(T):
        g, scale = 0.0, 1.0
        for tau in range(t, T):
            g += scale * r[tau]
            if done[tau]:
                break
            scale *= discount[tau]
        out[t] = g
    return out


def ref_n_step(r, discount, done, v_tp1, n):
    out = np.zeros(T)
    for t in range(T):
        g, scale = 0.0, 1.0
        for j in range(n):
            tau = t + j
            g += scale * r[tau]
            scale *= discount[tau]
            if done[tau] or tau == T - 1 or j == n - 1:
                g += scale * v_tp1[tau]  # 0 after a termination: discount 0
                break
        out[t] = g
    return out


def ref_lambda(r, discount, done, v_tp1, lam):
    """G^λ_t = (1 − λ) Σ_{n<m} λ^{n−1} G^(n)_t + λ^{m−1} G^(m)_t, m = steps to the end."""
    out = np.zeros(T)
    for t in range(T):
        m = next(j + 1 for j in range(T - t) if done[t + j] or t + j == T - 1)
        g_n = [ref_n_step(r, discount, done, v_tp1, n)[t] for n in range(1, m + 1)]
        out[t] = (
            sum((1 - lam) * lam ** (n - 1) * g_n[n - 1] for n in range(1, m))
            + lam ** (m - 1) * g_n[m - 1]
        )
    return out


def ref_gae(r, discount, done, v_t, v_tp1, lam):
    delta = r + discount * v_tp1 - v_t
    out = np.zeros(T)
    for t in range(T):
        a, scale = 0.0, 1.0
        for tau in range(t, T):
            a += scale * delta[tau]
            if done[tau]:
                break
            scale *= discount[tau] * lam
        out[t] = a
    return out


# ---------------------------------------------------------------------------


def test_hand_computed_three_steps():
    """r = [1, 2, 3], γ = 0.5, termination at step 1, V(s'_2) = 4."""
    r = jnp.array([1.0, 2.0, 3.0])
    discount = jnp.array([0.5, 0.0, 0.5])
    done = jnp.array([0.0, 1.0, 0.0])
    v_t = jnp.array([0.5, 1.0, 2.0])
    v_tp1 = jnp.array([7.0, 9.0, 4.0])
    # MC: G_2 = 3, G_1 = 2 (terminated), G_0 = 1 + 0.5 * 2.
    np.testing.assert_allclose(returns.monte_carlo_returns(r, discount, done), [2.0, 2.0, 3.0])
    # 1-step: r + discount V(s').
    np.testing.assert_allclose(returns.n_step_returns(r, discount, done, v_tp1, 1), [4.5, 2.0, 5.0])
    # 2-step: G_0 = 1 + 0.5 * 2 (the episode ends at step 1); G_2 = 3 + 0.5 * 4 (rollout end).
    np.testing.assert_allclose(returns.n_step_returns(r, discount, done, v_tp1, 2), [2.0, 2.0, 5.0])
    # GAE(λ = 0.5): δ = [4.0, 1.0, 3.0]; A_1 = 1, A_0 = 4 + 0.5 * 0.5 * 1.
    np.testing.assert_allclose(
        returns.generalized_advantage_estimation(r, discount, done, v_t, v_tp1, 0.5),
        [4.25, 1.0, 3.0],
    )


@pytest.mark.parametrize("jit", [False, True])
def test_monte_carlo_matches_python_loop(jit):
    r, discount, done, _, _ = rollout()
    fn = jax.jit(returns.monte_carlo_returns) if jit else returns.monte_carlo_returns
    np.testing.assert_allclose(
        fn(r, discount, done), ref_monte_carlo(r, discount, done), rtol=1e-5, atol=1e-6
    )


@pytest.mark.parametrize("jit", [False, True])
@pytest.mark.parametrize("n", [1, 2, 3, 5, 10])
def test_n_step_matches_python_loop(n, jit):
    r, discount, done, _, v_tp1 = rollout()
    fn = jax.jit(returns.n_step_returns, static_argnums=4) if jit else returns.n_step_returns
    np.testing.assert_allclose(
        fn(r, discount, done, v_tp1, n),
        ref_n_step(r, discount, done, v_tp1, n),
        rtol=1e-5,
        atol=1e-6,
    )


@pytest.mark.parametrize("jit", [False, True])
@pytest.mark.parametrize("lam", [0.0, 0.5, 0.95, 1.0])
def test_lambda_returns_and_gae_match_python_loop(lam, jit):
    r, discount, done, v_t, v_tp1 = rollout()
    lam_fn = jax.jit(returns.lambda_returns) if jit else returns.lambda_returns
    gae_fn = (
        jax.jit(returns.generalized_advantage_estimation)
        if jit
        else returns.generalized_advantage_estimation
    )
    g = lam_fn(r, discount, done, v_tp1, lam)
    adv = gae_fn(r, discount, done, v_t, v_tp1, lam)
    np.testing.assert_allclose(g, ref_lambda(r, discount, done, v_tp1, lam), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(
        adv, ref_gae(r, discount, done, v_t, v_tp1, lam), rtol=1e-5, atol=1e-5
    )
    # GAE(λ) + V(s_t) is the λ-return.
    np.testing.assert_allclose(adv + v_t, g, rtol=1e-5, atol=1e-5)


def test_special_cases_agree():
    r, discount, done, _, v_tp1 = rollout(seed=3)
    one_step = returns.n_step_returns(r, discount, done, v_tp1, 1)
    np.testing.assert_allclose(one_step, r + discount * v_tp1, rtol=1e-6)
    np.testing.assert_allclose(
        returns.lambda_returns(r, discount, done, v_tp1, 0.0), one_step, rtol=1e-6
    )
    # n >= T: every step runs to its episode's end or the rollout's end: the λ = 1 return.
    np.testing.assert_allclose(
        returns.n_step_returns(r, discount, done, v_tp1, T),
        returns.lambda_returns(r, discount, done, v_tp1, 1.0),
        rtol=1e-5,
        atol=1e-6,
    )


def test_truncation_bootstraps_from_true_last_observation():
    """At the truncation (step 5) the target uses V(s'_5) of the true last observation;
    the value of the next episode's first observation (V(s_6)) and its rewards never
    reach steps <= 5. At the termination (step 2) nothing is bootstrapped."""
    r, discount, done, v_t, v_tp1 = rollout(seed=1)
    fns = {
        "nstep": lambda r, v_t, v_tp1: returns.n_step_returns(r, discount, done, v_tp1, 5),
        "lambda": lambda r, v_t, v_tp1: returns.lambda_returns(r, discount, done, v_tp1, 0.9),
        "gae": lambda r, v_t, v_tp1: returns.generalized_advantage_estimation(
            r, discount, done, v_t, v_tp1, 0.9
        ),
    }
    for name, fn in fns.items():
        base = np.asarray(fn(r, v_t, v_tp1))
        later = r.copy()
        later[6:] += 100.0
        v_next_episode = v_t.copy()
        v_next_episode[6] += 100.0
        np.testing.assert_allclose(fn(later, v_t, v_tp1)[:6], base[:6], err_msg=name)
        np.testing.assert_allclose(fn(r, v_next_episode, v_tp1)[:6], base[:6], err_msg=name)
        v_last = v_tp1.copy()
        v_last[5] += 1.0
        changed = np.asarray(fn(r, v_t, v_last))
        np.testing.assert_allclose(changed[5] - base[5], GAMMA, rtol=1e-5, err_msg=name)
        assert np.all(changed[3:5] != base[3:5]), name
        # Terminated episode (steps 0..2): no value after it matters.
        v_term = v_tp1.copy()
        v_term[2] += 100.0
        np.testing.assert_allclose(fn(r, v_t, v_term)[:3], base[:3], err_msg=name)
    # Monte-Carlo: the truncated episode's return stops at the time limit.
    g = returns.monte_carlo_returns(r, discount, done)
    np.testing.assert_allclose(g[5], r[5], rtol=1e-6)
    np.testing.assert_allclose(g[4], r[4] + GAMMA * r[5], rtol=1e-5)


def test_batched_axes_match_per_column():
    """[T, B, N] inputs give the same as each (b, n) column alone."""
    r, discount, done, v_t, v_tp1 = rollout(seed=2, shape=(3, 2))
    adv = returns.generalized_advantage_estimation(r, discount, done, v_t, v_tp1, 0.8)
    nstep = returns.n_step_returns(r, discount, done, v_tp1, 3)
    for b in range(3):
        for n in range(2):
            col = (slice(None), b, n)
            np.testing.assert_allclose(
                adv[col],
                ref_gae(r[col], discount[col], done[col], v_t[col], v_tp1[col], 0.8),
                rtol=1e-5,
                atol=1e-5,
            )
            np.testing.assert_allclose(
                nstep[col],
                ref_n_step(r[col], discount[col], done[col], v_tp1[col], 3),
                rtol=1e-5,
                atol=1e-5,
            )


def test_traced_lambda_under_vmap():
    r, discount, done, v_t, v_tp1 = rollout(seed=4)
    lams = jnp.array([0.0, 0.5, 1.0])
    out = jax.jit(
        jax.vmap(
            lambda lam: returns.generalized_advantage_estimation(r, discount, done, v_t, v_tp1, lam)
        )
    )(lams)
    for i, lam in enumerate([0.0, 0.5, 1.0]):
        np.testing.assert_allclose(
            out[i], ref_gae(r, discount, done, v_t, v_tp1, lam), rtol=1e-5, atol=1e-5
        )
