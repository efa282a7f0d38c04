"""Networks that combine the agents' utilities Q(h_i, a_i) into a joint value.

- VDN: the sum ``Q(h, a) = Σ_i Q(h_i, a_i)``.
- QMIX: a monotonic mixing network whose weights come from hypernetworks on the
  global state z, made non-negative by an absolute value.
- QTRAN: a joint action-value network Q(h, z, a) with one output per joint action,
  and a state-value network V(h, z).

Shapes: ``[...]`` leading batch axes, ``N`` agents, ``A`` actions per agent,
``S`` global-state features, ``D`` observation features.
"""

from __future__ import annotations

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxmarl_core.networks.agents import MLP
from jaxmarl_core.networks.layers import Dense


def vdn_mix(utilities: chex.Array) -> chex.Array:
    """VDN: ``Q(h, a) = Σ_i Q(h_i, a_i)``: float32[..., N] -> float32[...]."""
    return jnp.sum(utilities, axis=-1)


class QMixer(nn.Module):
    """QMIX's mixing network (Rashid et al. 2018), EPyMARL's two-layer hypernetworks.

    ``Q_tot = w_2ᵀ elu(W_1ᵀ q + b_1) + b_2`` with ``W_1 = |f_1(z)|`` [N, E],
    ``w_2 = |f_2(z)|`` [E], ``b_1 = g_1(z)`` [E] and ``b_2 = V(z)`` []. The absolute
    values make every weight non-negative, so ``∂Q_tot/∂Q_i ≥ 0``: the greedy
    joint action of Q_tot is the agents' own greedy actions (IGM).

    Attributes:
        embed_dim: E, the mixing layer's width (EPyMARL: 32).
        hypernet_hidden: hidden width of the weight hypernetworks (EPyMARL: 64).
    """

    embed_dim: int = 32
    hypernet_hidden: int = 64

    @nn.compact
    def __call__(self, utilities: chex.Array, state: chex.Array) -> chex.Array:
        """float32[..., N], float32[..., S] -> float32[...]."""
        n, e = utilities.shape[-1], self.embed_dim

        def hyper(out: int, name: str) -> chex.Array:
            return MLP(hidden=(self.hypernet_hidden,), out=out, name=name)(state)

        w1 = jnp.abs(hyper(n * e, "hyper_w1")).reshape(state.shape[:-1] + (n, e))
        b1 = Dense(e, name="hyper_b1")(state)
        w2 = jnp.abs(hyper(e, "hyper_w2"))
        b2 = MLP(hidden=(e,), out=1, name="hyper_b2")(state)[..., 0]
        hidden = nn.elu(jnp.einsum("...n,...ne->...e", utilities, w1) + b1)
        return jnp.einsum("...e,...e->...", hidden, w2) + b2


# The layers of QMixer that produce W_1, w_2, b_1 and b_2 from their last hidden layer.
_QMIX_OUTPUT_LAYERS = (
    ("hyper_w1", "Dense_1"),
    ("hyper_w2", "Dense_1"),
    ("hyper_b1",),
    ("hyper_b2", "Dense_1"),
)


def scale_qmix_outputs(params: dict, scale: chex.Array) -> dict:
    """QMixer parameters with the hypernetworks' output layers multiplied by ``scale``.

    Applied once at initialisation, this is an orthogonal init of scale ``scale``
    for those layers (their biases start at zero): W_1, w_2, b_1 and b_2 all
    shrink by ``scale``, so the initial ``Q_tot`` shrinks by about ``scale``
    (its b_2 term) and its slope in each Q_i by ``scale**2``.
    """
    out = jax.tree_util.tree_map(lambda x: x, params)  # a copy to update
    for path in _QMIX_OUTPUT_LAYERS:
        layer = out["params"]
        for name in path[:-1]:
            layer = layer[name]
        layer[path[-1]] = jax.tree_util.tree_map(lambda x: x * scale, layer[path[-1]])
    return out


def joint_input(agents_view: chex.Array, global_state: chex.Array) -> chex.Array:
    """QTRAN's input (h, z): every agent's observation and the global state.

    float32[..., N, D], float32[..., S] -> float32[..., N * D + S].
    """
    flat = agents_view.reshape(agents_view.shape[:-2] + (-1,))
    return jnp.concatenate([flat, global_state], axis=-1)


def joint_action_index(actions: chex.Array, num_actions: int) -> chex.Array:
    """Row-major index of a joint action in ``[A]^N``: int32[..., N] -> int32[...]."""
    n = actions.shape[-1]
    strides = num_actions ** jnp.arange(n - 1, -1, -1, dtype=jnp.int32)
    return jnp.sum(actions * strides, axis=-1)


class JointActionValue(nn.Module):
    """QTRAN's Q(h, z, ·): one value per joint action, float32[..., A**N].

    Its last layer has ``hidden * A**N`` weights and a batch of B inputs gives
    ``B * A**N`` outputs, so it grows exponentially with the number of agents.

    Attributes:
        hidden: widths of the hidden layers.
        num_joint_actions: A**N.
    """

    hidden: tuple[int, ...]
    num_joint_actions: int

    @nn.compact
    def __call__(self, x: chex.Array) -> chex.Array:
        """float32[..., N * D + S] -> float32[..., A**N]."""
        return MLP(hidden=self.hidden, out=self.num_joint_actions)(x)


class StateValue(nn.Module):
    """QTRAN's V(h, z): float32[..., N * D + S] -> float32[...].

    Attributes:
        hidden: widths of the hidden layers.
    """

    hidden: tuple[int, ...]

    @nn.compact
    def __call__(self, x: chex.Array) -> chex.Array:
        return MLP(hidden=self.hidden, out=1)(x)[..., 0]
