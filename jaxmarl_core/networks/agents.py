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

from jaxmarl_core.networks.layers import Dense, GRUCell

# The hidden layers' activations a config's ``activation`` may name.
ACTIVATIONS = {"relu": nn.relu, "tanh": nn.tanh}
# What a config's ``norm`` may name: nothing, or LayerNorm (Ba et al. 2016) between
# each hidden layer's product and its activation, as PQN's networks (Gallici et al. 2024).
NORMS = ("none", "layer_norm")


def hidden_layers(
    x: chex.Array, hidden: Sequence[int], activation: str, norm: str = "none"
) -> chex.Array:
    """Dense layers of widths ``hidden``, each followed by ``norm`` and ``activation``."""
    for width in hidden:
        x = Dense(width, kernel_init=nn.initializers.orthogonal(2**0.5))(x)
        if norm == "layer_norm":
            x = nn.LayerNorm()(x)
        x = ACTIVATIONS[activation](x)
    return x


class MLP(nn.Module):
    """MLP (ReLU or tanh hidden layers) with a linear output layer.

    Attributes:
        hidden: widths of the hidden layers.
        out: output width.
        out_scale: orthogonal-init scale of the last layer.
        activation: a key of ``ACTIVATIONS``.
        norm: one of ``NORMS``.
    """

    hidden: Sequence[int]
    out: int
    out_scale: float = 1.0
    activation: str = "relu"
    norm: str = "none"

    @nn.compact
    def __call__(self, x: chex.Array) -> chex.Array:
        x = hidden_layers(x, self.hidden, self.activation, self.norm)
        return Dense(self.out, kernel_init=nn.initializers.orthogonal(self.out_scale))(x)


def with_agent_ids(x: chex.Array) -> chex.Array:
    """Appends a one-hot agent id: float32[..., N, D] -> float32[..., N, D + N]."""
    n = x.shape[-2]
    ids = jnp.broadcast_to(jnp.eye(n, dtype=x.dtype), x.shape[:-2] + (n, n))
    return jnp.concatenate([x, ids], axis=-1)


def agent_input(param_sharing: bool, agent_ids: bool):
    """What a network of every agent reads of x float32[..., N, D]: x with a
    one-hot agent id appended (shared parameters with ``agent_ids``), else x."""
    return with_agent_ids if param_sharing and agent_ids else lambda x: x


class MultiAgentNet(NamedTuple):
    """A Flax module applied to every agent, shared or with separate parameters.

    ``apply(params, x)`` maps float32[..., N, D] to the module's output with the
    same leading axes [..., N, ...].
    """

    init: Any
    apply: Any


def multi_agent(
    module: nn.Module, num_agents: int, param_sharing: bool, agent_ids: bool = True
) -> MultiAgentNet:
    """Wraps ``module`` (input float32[..., D]) for inputs float32[..., N, D]; a
    shared module reads a one-hot agent id after the input when ``agent_ids``."""
    prepare = agent_input(param_sharing, agent_ids)

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


class GRUAgent(nn.Module):
    """EPyMARL's recurrent agent: encoder (ReLU by default), GRU cell, linear head;
    with ``post``, hidden layers between the GRU and the head (JaxMARL's and Mava's
    recurrent actors and critics have one).

    ``(carry float32[..., H], x float32[..., D]) -> (carry, float32[..., out])``
    for one time step; the encoder has ``len(hidden) - 1`` layers (at least
    one) and the GRU is ``hidden[-1]`` wide.

    Attributes:
        hidden: widths; the last is the GRU's.
        out: output width.
        out_scale: orthogonal-init scale of the head.
        activation: the encoder's and the post-GRU layers', a key of ``ACTIVATIONS``.
        norm: the encoder's, one of ``NORMS``.
        post: widths of the hidden layers after the GRU (none by default).
    """

    hidden: Sequence[int]
    out: int
    out_scale: float = 1.0
    activation: str = "relu"
    norm: str = "none"
    post: Sequence[int] = ()

    @nn.compact
    def __call__(self, carry: chex.Array, x: chex.Array) -> tuple[chex.Array, chex.Array]:
        x = hidden_layers(x, self.hidden[:-1] or self.hidden, self.activation, self.norm)
        carry, y = GRUCell(features=self.hidden[-1])(carry, x)
        y = hidden_layers(y, self.post, self.activation)
        head = Dense(self.out, kernel_init=nn.initializers.orthogonal(self.out_scale))
        return carry, head(y)


class AgentNet(NamedTuple):
    """A per-agent network over sequences, feed-forward or recurrent, one interface.

    The hidden state (carry) of agent i in environment b is float32[H] (H = 0 for
    a feed-forward network, whose carry is an empty array). It is reset to zero
    where ``first`` is set, i.e. at the first observation of an episode, before
    the observation is read, so a history never spans two episodes.

    Attributes:
        init: ``init(key, x float32[N, D]) -> params``.
        initial_carry: ``initial_carry(batch_shape) -> float32[*batch_shape, N, H]`` (zeros).
        step: ``step(params, carry [..., N, H], x [..., N, D], first bool[...])
            -> (carry [..., N, H], out [..., N, O])``: one time step.
        unroll: ``unroll(params, carry [B, N, H], x [T, B, N, D], first bool[T, B])
            -> (carries [T, B, N, H], out [T, B, N, O])``: ``carries[t]`` is the
            hidden state after reading ``x[t]``, so ``carries[-1]`` continues the
            sequence and ``step(params, carries[t], x', False)`` extends the
            history of step t by one more observation x'.
        recurrent: whether the carry is used at all.
    """

    init: Any
    initial_carry: Any
    step: Any
    unroll: Any
    recurrent: bool


def make_agent_net(
    num_agents: int,
    hidden: Sequence[int],
    out: int,
    param_sharing: bool,
    recurrent: bool,
    out_scale: float = 1.0,
    activation: str = "relu",
    norm: str = "none",
    post_gru: Sequence[int] = (),
    agent_ids: bool = True,
) -> AgentNet:
    """An MLP (``recurrent=False``) or a :class:`GRUAgent` for every agent.

    Args:
        num_agents: N.
        hidden: hidden widths (the GRU's is the last).
        out: output width O per agent.
        param_sharing: one parameter set for all agents, or one per agent.
        recurrent: GRU agents with a hidden state per environment and agent.
        out_scale: orthogonal-init scale of the last layer.
        activation: of the hidden layers (the encoder's for a GRU), a key of ``ACTIVATIONS``.
        norm: after each hidden layer's product (the encoder's for a GRU), one of ``NORMS``.
        post_gru: widths of a GRU agent's hidden layers between the GRU and the
            output layer (ignored by an MLP, whose hidden layers are ``hidden``).
        agent_ids: a shared parameter set reads a one-hot agent id after each
            agent's input (EPyMARL's ``obs_agent_id``).
    """
    if not recurrent:
        mlp = MLP(tuple(hidden), out, out_scale, activation, norm)
        net = multi_agent(mlp, num_agents, param_sharing, agent_ids)

        def ff_carry(batch_shape: tuple[int, ...] = ()) -> chex.Array:
            return jnp.zeros(tuple(batch_shape) + (num_agents, 0), jnp.float32)

        def ff_step(params, carry, x, first):
            return carry, net.apply(params, x)

        def ff_unroll(params, carry, x, first):
            carries = jnp.zeros(x.shape[:-1] + (0,), jnp.float32)
            return carries, net.apply(params, x)

        return AgentNet(net.init, ff_carry, ff_step, ff_unroll, recurrent=False)

    module = GRUAgent(tuple(hidden), out, out_scale, activation, norm, tuple(post_gru))
    width = hidden[-1]
    prepare = agent_input(param_sharing, agent_ids)

    def initial_carry(batch_shape: tuple[int, ...] = ()) -> chex.Array:
        return jnp.zeros(tuple(batch_shape) + (num_agents, width), jnp.float32)

    if param_sharing:

        def init(key, x):
            return module.init(key, initial_carry(x.shape[:-2]), prepare(x))

        def cell(params, carry, x):
            return module.apply(params, carry, prepare(x))

    else:

        def init(key, x):
            keys = jax.random.split(key, num_agents)
            carry = initial_carry(x.shape[:-2])
            return jax.vmap(module.init, in_axes=(0, -2, -2))(keys, carry, x)

        def cell(params, carry, x):
            return jax.vmap(module.apply, in_axes=(0, -2, -2), out_axes=-2)(params, carry, x)

    def step(params, carry, x, first):
        carry = jnp.where(first[..., None, None], 0.0, carry)
        return cell(params, carry, x)

    def unroll(params, carry, x, first):
        # The whole step stays inside the scan. Computing the encoder, the GRU's
        # input product and the head for all steps at once, outside it, was
        # slower on the CPU (GRU IPPO, lbf-8x8-2p-2f-coop: 0.89x at 64
        # environments, 0.81x at 1024): a step's activations stay in cache, a
        # whole sequence's [T, B, N, 3H] do not. It also made a step's output
        # depend in its last bits on the sequence's length (the products' row
        # count), which the bit-exact episode-boundary test caught.
        def body(carry, inputs):
            carry, out = step(params, carry, *inputs)
            return carry, (carry, out)

        _, (carries, outs) = jax.lax.scan(body, carry, (x, first))
        return carries, outs

    return AgentNet(init, initial_carry, step, unroll, recurrent=True)
