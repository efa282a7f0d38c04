"""Per-agent networks and how they are applied over the agent axis.

Parameter sharing (the default) applies one parameter set to every agent, with
a one-hot agent id appended to the input so agents can still differ; without
sharing, each agent has its own parameter set, stacked on a leading agent axis.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp


class MLP(nn.Module):
    """ReLU MLP with a linear output layer.

    Attributes:
        hidden: widths of the hidden layers.
        out: output width.
        out_scale: orthogonal-init scale of the last layer.
    """

    hidden: Sequence[int]
    out: int
    out_scale: float = 1.0

    @nn.compact
    def __call__(self, x: chex.Array) -> chex.Array:
        for width in self.hidden:
            x = nn.relu(nn.Dense(width, kernel_init=nn.initializers.orthogonal(2**0.5))(x))
        return nn.Dense(self.out, kernel_init=nn.initializers.orthogonal(self.out_scale))(x)


def with_agent_ids(x: chex.Array) -> chex.Array:
    """Appends a one-hot agent id: float32[..., N, D] -> float32[..., N, D + N]."""
    n = x.shape[-2]
    ids = jnp.broadcast_to(jnp.eye(n, dtype=x.dtype), x.shape[:-2] + (n, n))
    return jnp.concatenate([x, ids], axis=-1)


class MultiAgentNet(NamedTuple):
    """A Flax module applied to every agent, shared or with separate parameters.

    ``apply(params, x)`` maps float32[..., N, D] to the module's output with the
    same leading axes [..., N, ...].
    """

    init: Any
    apply: Any


def multi_agent(module: nn.Module, num_agents: int, param_sharing: bool) -> MultiAgentNet:
    """Wraps ``module`` (input float32[..., D]) for inputs float32[..., N, D]."""

    def prepare(x):
        return with_agent_ids(x) if param_sharing else x

    if param_sharing:

        def init(key, x):
            return module.init(key, prepare(x))

        def apply(params, x):
            return module.apply(params, prepare(x))

    else:

        def init(key, x):
            keys = jax.random.split(key, num_agents)
            return jax.vmap(module.init, in_axes=(0, -2))(keys, x)

        def apply(params, x):
            out = jax.vmap(module.apply, in_axes=(0, -2), out_axes=-2)(params, x)
            return out

    return MultiAgentNet(init, apply)
