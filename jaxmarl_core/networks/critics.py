"""Critics: per-agent state-value functions V(h_i) and V(h_i, z).

A critic is two parts: what it is conditioned on (an *input* function of the
observation, one row per agent) and a Flax module applied to every agent's row
through :func:`jaxmarl_core.networks.agents.multi_agent`, with one parameter
set and a one-hot agent id (parameter sharing) or a parameter set per agent.

- independent critic V(h_i): agent i's own observation only (IA2C, IPPO);
- centralised critic V(h_i, z): agent i's observation and the global state z
  (MAA2C, MAPPO; ch. 9.4.2 of Albrecht, Christianos, Schäfer).

Critics of other kinds (action-value critics Q(h_i, z, a) for COMA and
Pareto-AC) add an input function and a head here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import chex
import flax.linen as nn
import jax.numpy as jnp

from jaxmarl_core.networks.agents import MLP, multi_agent
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


class StateValue(nn.Module):
    """V(x): an MLP with a scalar output, float32[..., D] -> float32[..., 1].

    Attributes:
        hidden: widths of the hidden layers.
    """

    hidden: Sequence[int]

    @nn.compact
    def __call__(self, x: chex.Array) -> chex.Array:
        return MLP(hidden=self.hidden, out=1, out_scale=1.0)(x)


class Critic(NamedTuple):
    """A per-agent state-value critic as pure functions.

    ``init`` and ``apply`` take the joint action as an optional last argument, so
    that a runner can call every critic alike; a state-value critic ignores it.

    Attributes:
        init: ``init(key, obs, action=None) -> params`` for one unbatched
            observation [N, ...].
        apply: ``apply(params, obs, action=None) -> float32[..., N]``, one value
            per agent.
        inputs: ``inputs(obs) -> float32[..., N, D_in]``, what the critic sees.
        sees_action: False: the value does not depend on the action.
    """

    init: Any
    apply: Any
    inputs: CriticInput
    sees_action: bool = False


def make_value_critic(
    num_agents: int,
    hidden: Sequence[int],
    param_sharing: bool,
    centralised: bool,
) -> Critic:
    """V(h_i) (``centralised=False``) or V(h_i, z) (``centralised=True``) for every agent.

    Args:
        num_agents: N.
        hidden: widths of the hidden layers.
        param_sharing: one parameter set with a one-hot agent id, or one per agent.
        centralised: condition on the global state z as well.
    """
    inputs = centralised_input if centralised else local_input
    net = multi_agent(StateValue(hidden=tuple(hidden)), num_agents, param_sharing)

    def init(key: chex.PRNGKey, obs: MultiAgentObservation, action: Any = None) -> Any:
        return net.init(key, inputs(obs))

    def apply(params: Any, obs: MultiAgentObservation, action: Any = None) -> chex.Array:
        return net.apply(params, inputs(obs))[..., 0]

    return Critic(init=init, apply=apply, inputs=inputs)
