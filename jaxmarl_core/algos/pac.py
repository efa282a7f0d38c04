"""Pareto Actor-Critic (Christianos, Papoudakis, Albrecht, TMLR 2023; Albrecht,
Christianos, Schäfer, "Multi-Agent Reinforcement Learning", ch. 9.4.5 on
equilibrium selection).

In a no-conflict game the Pareto-optimal equilibrium is best for every agent,
so agent i may assume that the others will play their part of it. Its actor
therefore learns as if the others followed π_-i^+, the joint action that
maximises its centralised critic Q(h_i, z, ⟨a_i, a_-i⟩; θ_i) given its own
action, rather than their current policies. The critic itself learns on-policy
(n-step targets, target network), as COMA's.

Limit: the maximisation enumerates the others' |A|^(N−1) joint actions, one
critic pass each per sample, so cost and memory grow exponentially with the
number of agents. ``max_joint_actions`` (default 1024: e.g. 2 agents with up
to 1024 actions, 3 agents with 32, 4 with 10, 5 with 5, 6 with 4, 11 with 2)
bounds it; beyond it ``make`` raises a ConfigError instead of running out of
memory.
"""

from __future__ import annotations

import chex
import jax.numpy as jnp
from jumanji.env import Environment

from jaxmarl_core.algos import actor_critic, coma
from jaxmarl_core.config import Config, ConfigError, Param
from jaxmarl_core.networks.q_critics import make_action_value_critic, others_joint_actions
from jaxmarl_core.types import Algorithm, HParams

# The published Pareto-AC config: lr 3e-4, entropy coefficient annealed from 20
# to 0.01 over 80% of training, 10-step critic targets, no parameter sharing.
PARAMS: dict[str, Param] = {
    **actor_critic.PARAMS,
    "lr": Param(3e-4, float, "Adam learning rate", low=0.0, low_open=True, traced=True),
    "param_sharing": Param(False, bool, "one parameter set for all agents, with an agent-id input"),
    "ent_coef": Param(
        20.0, float, "entropy coefficient at the start of training", low=0.0, traced=True
    ),
    "ent_coef_end": Param(
        0.01, float, "entropy coefficient at the end of its annealing", low=0.0, traced=True
    ),
    "ent_anneal_fraction": Param(
        0.8,
        float,
        "fraction of training over which ent_coef anneals linearly to ent_coef_end",
        low=0.0,
        low_open=True,
        high=1.0,
        traced=True,
    ),
    "n_steps": Param(10, int, "steps of the critic's n-step targets", low=1),
    "target_tau": coma.PARAMS["target_tau"],
    "max_joint_actions": Param(
        1024, int, "most joint actions of the other agents, |A|^(N-1), maximised over", low=1
    ),
}


def pareto_q(joint_q: chex.Array) -> tuple[chex.Array, chex.Array]:
    """Q^{π+} and π_-i^+ from the critic over all of the others' joint actions:

        a_-i^+(a_i) = argmax_{a_-i} Q(h_i, z, ⟨a_i, a_-i⟩),
        Q^{π+}(h_i, z, a_i) = Q(h_i, z, ⟨a_i, a_-i^+(a_i)⟩).

    Args:
        joint_q: float32[..., K, N, A], indexed as
            :func:`jaxmarl_core.networks.q_critics.others_joint_actions`.

    Returns:
        (Q^{π+} float32[..., N, A], the index k of a_-i^+ int32[..., N, A]).
    """
    return joint_q.max(axis=-3), jnp.argmax(joint_q, axis=-3).astype(jnp.int32)


# The Pareto-AC advantage of agent i (Christianos et al. 2023) is COMA's body
# with Q^{π+} in place of Q(h_i, z, ⟨·, a_-i⟩):
#     Adv_i = Q^{π+}(h_i, z, a_i) − V^{π+}(h_i, z),  V^{π+} = Σ_a' π(a' | h_i) Q^{π+}(h_i, z, a').
pareto_advantage = actor_critic.action_value_advantage

# The policy loss is COMA's, with the Pareto advantage:
#     L(φ_i) = −(Q^{π+}(h_i, z, a_i) − V^{π+}(h_i, z)) log π(a_i | h_i; φ_i);
# the runner subtracts the annealed entropy bonus.
loss = coma.loss


def annealed_entropy(hparams: HParams, progress: chex.Array) -> HParams:
    """ent_coef moves linearly from its start value to ``ent_coef_end`` over the
    first ``ent_anneal_fraction`` of training (``progress`` in [0, 1]), then stays."""
    frac = jnp.clip(progress / hparams["ent_anneal_fraction"], 0.0, 1.0)
    ent = hparams["ent_coef"] + frac * (hparams["ent_coef_end"] - hparams["ent_coef"])
    return {**hparams, "ent_coef": ent}


def check_joint_actions(num_agents: int, num_actions: int, limit: int) -> int:
    """|A|^(N−1), or a ConfigError if it exceeds ``limit``."""
    count = num_actions ** (num_agents - 1)
    if count > limit:
        raise ConfigError(
            f"pac maximises its critic over the other agents' {num_actions}^{num_agents - 1} = "
            f"{count} joint actions, more than max_joint_actions={limit}; its cost grows "
            f"exponentially with the number of agents. Use fewer agents or actions, or raise "
            f"max_joint_actions if memory allows (about num_envs * rollout_length * N * "
            f"hidden_size * |A|^(N-1) floats per critic pass)"
        )
    return count


def make(env: Environment, config: Config) -> Algorithm:
    check_joint_actions(env.num_agents, env.num_actions, config.max_joint_actions)
    hidden = actor_critic.hidden_sizes(config)
    net = make_action_value_critic(
        env.num_agents, env.num_actions, hidden, config.param_sharing, config.activation
    )

    def q_plus(params, obs, action):
        return pareto_q(net.joint_q_values(params, obs))[0]

    critic = actor_critic.QCritic(net, q_plus, env.num_agents, config.n_steps)
    return actor_critic.make_actor_critic(env, config, loss, critic, schedule=annealed_entropy)


__all__ = ["PARAMS", "loss", "make", "others_joint_actions", "pareto_advantage", "pareto_q"]
