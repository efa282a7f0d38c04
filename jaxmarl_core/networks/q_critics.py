"""Centralised action-value critics Q(h_i, z, ⟨a_i, a_-i⟩) (COMA, Pareto-AC).

The critic of agent i sees its own observation h_i, the global state z and the
other agents' actions a_-i (one-hot, agent i's own block zeroed), and outputs
one value per own action a_i (Albrecht, Christianos, Schäfer, ch. 9.4.3-9.4.5):

    Q(h_i, z, ⟨·, a_-i⟩): float32[A].

So one forward pass gives Q for every own action with the others' actions held
fixed, which is what COMA's counterfactual baseline needs; Pareto-AC evaluates
it for every joint action of the others (:func:`others_joint_actions`), whose
number |A|^(N−1) grows exponentially with the number of agents.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any, NamedTuple

import chex
import jax.numpy as jnp
import numpy as np

from jaxmarl_core.networks.agents import MLP, multi_agent
from jaxmarl_core.types import MultiAgentObservation


def others_one_hot(action: chex.Array, num_actions: int) -> chex.Array:
    """a_-i for every agent i: int32[..., N] -> float32[..., N, N * A].

    Row i is the concatenated one-hot actions of all agents with agent i's own
    block zeroed, so the critic cannot see the action it is asked to value.
    """
    n = action.shape[-1]
    one_hot = jnp.eye(num_actions, dtype=jnp.float32)[action]  # [..., N, A]
    others = (1.0 - jnp.eye(n, dtype=jnp.float32))[..., None]  # [N(i), N(j), 1]
    rows = one_hot[..., None, :, :] * others  # [..., N(i), N(j), A]
    return rows.reshape(rows.shape[:-2] + (n * num_actions,))


def action_value_input(obs: MultiAgentObservation, action: chex.Array, num_actions: int):
    """(h_i, z, a_-i) for every agent: float32[..., N, D + S + N * A]."""
    z = obs.global_state[..., None, :].astype(obs.agents_view.dtype)
    z = jnp.broadcast_to(z, obs.agents_view.shape[:-1] + z.shape[-1:])
    return jnp.concatenate([obs.agents_view, z, others_one_hot(action, num_actions)], axis=-1)


def others_joint_actions(num_agents: int, num_actions: int) -> np.ndarray:
    """Every joint action of the others, for every agent: int32[K, N(i), N(j)].

    K = |A|^(N−1); entry [k, i] is a joint action whose own slot j = i is 0 (the
    critic never sees it) and whose other slots run over the k-th combination.
    """
    combos = np.array(
        list(itertools.product(range(num_actions), repeat=num_agents - 1)), np.int32
    ).reshape(-1, num_agents - 1)
    return np.stack([np.insert(combos, i, 0, axis=1) for i in range(num_agents)], axis=1)


class ActionValueCritic(NamedTuple):
    """A per-agent action-value critic as pure functions.

    Attributes:
        init: ``init(key, obs, action) -> params`` for one unbatched step [N, ...].
        q_values: ``q_values(params, obs, action) -> float32[..., N, A]``:
            Q(h_i, z, ⟨a', a_-i⟩) for every own action a', others as in ``action``.
        joint_q_values: ``joint_q_values(params, obs) -> float32[..., K, N, A]``:
            the same for every joint action of the others (K = |A|^(N−1), in the
            order of :func:`others_joint_actions`).
        apply: ``apply(params, obs, action) -> float32[..., N]``: Q(h_i, z, a) of
            the joint action taken.
    """

    init: Any
    q_values: Any
    joint_q_values: Any
    apply: Any


def make_action_value_critic(
    num_agents: int,
    num_actions: int,
    hidden: Sequence[int],
    param_sharing: bool,
    activation: str = "relu",
    agent_ids: bool = True,
) -> ActionValueCritic:
    """Q(h_i, z, ⟨·, a_-i⟩) for every agent: an MLP with |A| outputs.

    Args:
        num_agents: N. num_actions: |A|.
        hidden: widths of the hidden layers.
        param_sharing: one parameter set for all agents, or one per agent.
        activation: of the hidden layers, ``relu`` or ``tanh``.
        agent_ids: a shared parameter set reads a one-hot agent id.
    """
    mlp = MLP(hidden=tuple(hidden), out=num_actions, activation=activation)
    net = multi_agent(mlp, num_agents, param_sharing, agent_ids)

    def init(key: chex.PRNGKey, obs: MultiAgentObservation, action: chex.Array) -> Any:
        return net.init(key, action_value_input(obs, action, num_actions))

    def q_values(params: Any, obs: MultiAgentObservation, action: chex.Array) -> chex.Array:
        return net.apply(params, action_value_input(obs, action, num_actions))

    def joint_q_values(params: Any, obs: MultiAgentObservation) -> chex.Array:
        joint = jnp.asarray(others_joint_actions(num_agents, num_actions))  # [K, N, N]
        others = (1.0 - jnp.eye(num_agents))[..., None] * jnp.eye(num_actions)[joint]
        others = others.reshape(joint.shape[:2] + (num_agents * num_actions,))  # [K, N, N*A]
        z = obs.global_state[..., None, :].astype(obs.agents_view.dtype)
        own = jnp.concatenate(
            [obs.agents_view, jnp.broadcast_to(z, obs.agents_view.shape[:-1] + z.shape[-1:])], -1
        )[..., None, :, :]  # [..., 1, N, D + S]
        own = jnp.broadcast_to(own, own.shape[:-3] + (joint.shape[0],) + own.shape[-2:])
        others = jnp.broadcast_to(others, own.shape[:-1] + others.shape[-1:])
        return net.apply(params, jnp.concatenate([own, others], axis=-1))

    def apply(params: Any, obs: MultiAgentObservation, action: chex.Array) -> chex.Array:
        q = q_values(params, obs, action)
        return jnp.take_along_axis(q, action[..., None], axis=-1)[..., 0]

    return ActionValueCritic(
        init=init, q_values=q_values, joint_q_values=joint_q_values, apply=apply
    )
