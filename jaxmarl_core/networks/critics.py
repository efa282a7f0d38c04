"""Critics: per-agent state-value functions V(h_i) and V(h_i, z), feed-forward or recurrent.

A critic is two parts: what it is conditioned on (an *input* function of the
observation, one row per agent) and a per-agent network with one output,
:func:`jaxmarl_core.networks.agents.make_agent_net` (an MLP, or a GRU whose
hidden state summarises the history h_i), with one parameter set and a one-hot
agent id (parameter sharing) or a parameter set per agent.

- independent critic V(h_i): agent i's own observations only (IA2C, IPPO);
- centralised critic V(h_i, z): agent i's observations and the global state z
  (MAA2C, MAPPO; ch. 9.4.2 of Albrecht, Christianos, Schäfer).

The action-value critics Q(h_i, z, ⟨a_i, a_-i⟩) of COMA and Pareto-AC are in
:mod:`jaxmarl_core.networks.q_critics`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import chex
import jax.numpy as jnp

from jaxmarl_core.networks.agents import make_agent_net
from jaxmarl_core.types import MultiAgentObservation

CriticInput = Callable[[MultiAgentObservation], chex.Array]


def local_input(obs: MultiAgentObservation) -> chex.Array:
    """h_i: every agent's own observation, float32[..., N, D]."""
    return obs.agents_view


def centralised_input(obs: MultiAgentObservation) -> chex.Array:
    """(h_i, z): agent i's observation beside the global state, float32[..., N, D + S]."""
    z = obs.global_state[..., None, :]  # [..., 1, S]
    n = obs.agents_view.shape[-2]
    z = jnp.broadcast_to(z, z.shape[:-2] + (n, z.shape[-1]))
    return jnp.concatenate([obs.agents_view, z.astype(obs.agents_view.dtype)], axis=-1)


class ValueCritic(NamedTuple):
    """A per-agent state-value critic over sequences, as pure functions.

    The hidden state (carry) is float32[..., N, H], H = 0 for a feed-forward
    critic; it is reset to zero where ``first`` is set, as the agents' is
    (:class:`jaxmarl_core.networks.agents.AgentNet`).

    Attributes:
        init: ``init(key, obs) -> params`` for one unbatched observation [N, ...].
        initial_carry: ``initial_carry(batch_shape) -> float32[*batch_shape, N, H]``.
        step: ``step(params, carry, obs [...], first bool[...]) -> (carry, v float32[..., N])``.
        unroll: ``unroll(params, carry [B, N, H], obs [T, B], first bool[T, B])
            -> (carries [T, B, N, H], v float32[T, B, N])``; ``carries[t]`` is the
            hidden state after reading ``obs[t]``.
        apply: ``apply(params, obs) -> float32[..., N]``: the value of ``obs`` read
            from a fresh hidden state (any observation for a feed-forward critic;
            the first observation of an episode for a recurrent one).
        inputs: ``inputs(obs) -> float32[..., N, D_in]``, what the critic sees.
        recurrent: whether the carry is used.
    """

    init: Any
    initial_carry: Any
    step: Any
    unroll: Any
    apply: Any
    inputs: CriticInput
    recurrent: bool


def make_value_critic(
    num_agents: int,
    hidden: Sequence[int],
    param_sharing: bool,
    centralised: bool,
    recurrent: bool = False,
    activation: str = "relu",
    post_gru: Sequence[int] = (),
    agent_ids: bool = True,
) -> ValueCritic:
    """V(h_i) (``centralised=False``) or V(h_i, z) (``centralised=True``) for every agent.

    Args:
        num_agents: N.
        hidden: hidden widths (the GRU's is the last).
        param_sharing: one parameter set for all agents, or one per agent.
        centralised: condition on the global state z as well.
        recurrent: a GRU with a hidden state per environment and agent.
        activation: of the hidden layers, ``relu`` or ``tanh``.
        post_gru: a recurrent critic's hidden layers after the GRU.
        agent_ids: a shared parameter set reads a one-hot agent id.
    """
    inputs = centralised_input if centralised else local_input
    net = make_agent_net(
        num_agents,
        hidden,
        1,
        param_sharing,
        recurrent,
        activation=activation,
        post_gru=post_gru,
        agent_ids=agent_ids,
    )

    def init(key: chex.PRNGKey, obs: MultiAgentObservation) -> Any:
        return net.init(key, inputs(obs))

    def step(params: Any, carry: chex.Array, obs: MultiAgentObservation, first: chex.Array):
        carry, v = net.step(params, carry, inputs(obs), first)
        return carry, v[..., 0]

    def unroll(params: Any, carry: chex.Array, obs: MultiAgentObservation, first: chex.Array):
        carries, v = net.unroll(params, carry, inputs(obs), first)
        return carries, v[..., 0]

    def apply(params: Any, obs: MultiAgentObservation) -> chex.Array:
        batch = obs.agents_view.shape[:-2]
        return step(params, net.initial_carry(batch), obs, jnp.ones(batch, bool))[1]

    return ValueCritic(init, net.initial_carry, step, unroll, apply, inputs, recurrent)
