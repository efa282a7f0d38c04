"""The optimiser: global-norm clipping, then Adam or RAdam, with the learning rate
and the clip norm given per update."""

import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxmarl_core as jm
from jaxmarl_core.config import ConfigError
from jaxmarl_core.core.optim import apply_gradients, make_optimizer


@pytest.mark.parametrize("name", ["adam", "radam"])
def test_first_steps_by_hand(name):
    """Two steps on w = [1, 2] with gradients g1 = [3, 4] (norm 5, clipped to 2.5:
    [1.5, 2]) and g2 = [0.6, -0.8] (norm 1, unclipped), lr 0.1.

    Adam: m̂ = g and v̂ = g² after one step, so the first step is -lr·sign(g) =
    [-0.1, -0.1]. RAdam (β2 = 0.999): ρ∞ = 2/(1-β2) - 1 = 1999 and
    ρ_t = ρ∞ - 2tβ2ᵗ/(1-β2ᵗ) is 1 at t = 1 and 1.998 at t = 2, below its
    threshold 5, so both steps are momentum SGD: -lr·m̂ with m̂ the
    bias-corrected mean, g1 at t = 1 and (0.9·0.1·g1 + 0.1·g2)/(1 - 0.81) at t = 2.
    """
    optimizer = make_optimizer(name)
    params = jnp.array([1.0, 2.0])
    state = optimizer.init(params)
    g1_clipped = np.array([1.5, 2.0])
    g2 = np.array([0.6, -0.8])
    lr, clip = jnp.float32(0.1), jnp.float32(2.5)
    p1, state = apply_gradients(optimizer, state, params, jnp.array([3.0, 4.0]), lr, clip)
    p2, _ = apply_gradients(optimizer, state, p1, jnp.asarray(g2), lr, clip)
    if name == "adam":
        np.testing.assert_allclose(p1, [0.9, 1.9], rtol=1e-6)
        m = 0.9 * 0.1 * g1_clipped + 0.1 * g2
        v = 0.999 * 0.001 * g1_clipped**2 + 0.001 * g2**2
        step2 = (m / (1 - 0.81)) / (np.sqrt(v / (1 - 0.999**2)) + 1e-8)
        np.testing.assert_allclose(p2, np.array([0.9, 1.9]) - 0.1 * step2, rtol=1e-5)
    else:
        np.testing.assert_allclose(p1, np.array([1.0, 2.0]) - 0.1 * g1_clipped, rtol=1e-6)
        m_hat = (0.9 * 0.1 * g1_clipped + 0.1 * g2) / (1 - 0.81)
        np.testing.assert_allclose(p2, p1 - 0.1 * m_hat, rtol=1e-5)


def test_radam_is_optax_radam_after_clipping():
    """Past the warm-up (t > 5) RAdam rescales Adam's step; 20 steps agree with optax's own."""
    rng = np.random.default_rng(0)
    grads = rng.normal(size=(20, 3)).astype(np.float32) * 4
    ours = make_optimizer("radam")
    theirs = optax.chain(optax.clip_by_global_norm(1.0), optax.radam(0.01))
    p_ours = p_theirs = jnp.zeros(3)
    s_ours, s_theirs = ours.init(p_ours), theirs.init(p_theirs)
    for g in grads:
        p_ours, s_ours = apply_gradients(
            ours, s_ours, p_ours, jnp.asarray(g), jnp.float32(0.01), jnp.float32(1.0)
        )
        update, s_theirs = theirs.update(jnp.asarray(g), s_theirs, p_theirs)
        p_theirs = optax.apply_updates(p_theirs, update)
    np.testing.assert_allclose(p_ours, p_theirs, rtol=1e-5, atol=1e-7)


def test_optimizer_key():
    assert jm.make_config("vdn", env="climbing").optimizer == "adam"
    assert jm.make_config("pqn_vdn", env="climbing", optimizer="radam").optimizer == "radam"
    with pytest.raises(ConfigError, match="optimizer"):
        jm.make_config("ippo", env="climbing", optimizer="sgd")


def test_eps_enters_adams_denominator():
    """Adam's first step is -lr·g/(|g| + eps): with eps = 1 and g = [1, 3] (unclipped),
    lr 0.1, it is -0.1·[1/2, 3/4]; the ``adam_eps`` key reaches every family."""
    optimizer = make_optimizer("adam", eps=1.0)
    params = jnp.zeros(2)
    p1, _ = apply_gradients(
        optimizer, optimizer.init(params), params, jnp.array([1.0, 3.0]), 0.1, 10.0
    )
    np.testing.assert_allclose(p1, [-0.05, -0.075], rtol=1e-5)
    for algo in ("mappo", "vdn", "pqn_vdn"):
        assert jm.make_config(algo, env="climbing", adam_eps=1e-5).adam_eps == 1e-5
    with pytest.raises(ConfigError, match="adam_eps"):
        jm.make_config("ippo", env="climbing", adam_eps=-1.0)
