"""Pareto Actor-Critic (Christianos, Papoudakis, Albrecht, TMLR 2023; Albrecht,
Christianos, Schäfer, "Multi-Agent Reinforcement Learning", ch. 9.4.5 on
equilibrium selection).

In a no-conflict game the Pareto-optimal equilibrium is best for every agent,
so agent i may assume that the others will play their part of it. Its actor
therefore learns as if the others followed π_-i^+ rather than their current
policies. The critic itself learns on-policy (n-step targets, target network),
as COMA's.

π_-i^+ comes in two forms (``joint_pareto``):

- ``joint_pareto=true`` (default, :func:`joint_pareto_q`): the agents agree on
  one joint action a^+ = argmax_a Σ_j Q(h_j, z, a; θ_j) and π_-i^+ is the
  others' part a^+_-i of it. A maximiser of the sum of the agents' values is
  Pareto-optimal among joint actions, so in a no-conflict game it is the
  equilibrium every agent prefers; being one quantity for all agents, it is
  one joint action, also when several are tied. Ties follow a convention all
  agents know: the lowest joint index (agent 0's action most significant)
  among the joint actions within ``tie_tolerance`` (critic units, 0.1 by
  default) of the best. Learned values of truly tied optima differ by noise;
  with the plain argmax the agreed a^+ flipped between (A, C) and (C, A) every
  few dozen updates on penalty-100, and each flip pushes the agents off both
  A and C towards the safe B (2M steps, seeds 0-9, num_logs=10: 250 in 8 of
  10, against 10 of 10 with the tolerance). The price: a joint action with a lower index up
  to ``tie_tolerance`` worse than the best may be chosen.
- ``joint_pareto=false`` (:func:`pareto_q`, the paper's equation and code):
  a_-i^+(a_i) = argmax_{a_-i} Q(h_i, z, ⟨a_i, a_-i⟩; θ_i) for each own action
  separately, from agent i's own critic. Where two joint optima tie, as (A, C)
  and (C, A) in the penalty game, Q^{π+}_i(A) = Q^{π+}_i(C) for every agent, so
  nothing in the update separates them: each agent's policy splits its mass
  between A and C, the agents miscoordinate on a −k corner half the time, and
  the greedy policy of each agent picks A or C by noise (penalty-100, 2M steps,
  seeds 0-4: −2500 in 2 of 5; issue 12).

Limit: the maximisation enumerates the others' |A|^(N−1) joint actions, one
critic pass each per sample, so cost and memory grow exponentially with the
number of agents. ``max_joint_actions`` (default 1024: e.g. 2 agents with up
to 1024 actions, 3 agents with 32, 4 with 10, 5 with 5, 6 with 4, 11 with 2)
bounds it; beyond it ``make`` raises a ConfigError instead of running out of
memory.
"""

from __future__ import annotations

import itertools

import chex
import jax.numpy as jnp
import numpy as np
from jumanji.env import Environment

from jaxmarl_core.algos import actor_critic, coma
from jaxmarl_core.config import Config, ConfigError, Param, lr_param
from jaxmarl_core.networks.q_critics import others_joint_actions
from jaxmarl_core.types import Algorithm, HParams

# The published Pareto-AC config: lr 3e-4, entropy coefficient annealed from 20
# to 0.01 over 80% of training, 10-step critic targets, no parameter sharing.
PARAMS: dict[str, Param] = {
    **actor_critic.PARAMS,
    "lr": lr_param(3e-4),
    "param_sharing": Param(
        False, bool, "one parameter set for all agents (with an agent-id input: obs_agent_id)"
    ),
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
    "joint_pareto": Param(
        True,
        bool,
        "the agents agree on one joint action a^+ = argmax of the sum of their critics "
        "(joint_pareto_q); false: each agent maximises its own critic per own action "
        "(pareto_q, the paper's form, which splits between tied optima)",
    ),
    "tie_tolerance": Param(
        0.1, float, "joint_pareto: joint actions within this of the best count as tied", low=0.0
    ),
    "max_joint_actions": Param(
        1024, int, "most joint actions of the other agents, |A|^(N-1), maximised over", low=1
    ),
}


def pareto_q(joint_q: chex.Array) -> tuple[chex.Array, chex.Array]:
    """Q^{π+} and π_-i^+ of the paper, from each agent's own critic over all of
    the others' joint actions, per own action (``joint_pareto=false``):

        a_-i^+(a_i) = argmax_{a_-i} Q(h_i, z, ⟨a_i, a_-i⟩),
        Q^{π+}(h_i, z, a_i) = Q(h_i, z, ⟨a_i, a_-i^+(a_i)⟩).

    Args:
        joint_q: float32[..., K, N, A], indexed as
            :func:`jaxmarl_core.networks.q_critics.others_joint_actions`.

    Returns:
        (Q^{π+} float32[..., N, A], the index k of a_-i^+ int32[..., N, A]).
    """
    return joint_q.max(axis=-3), jnp.argmax(joint_q, axis=-3).astype(jnp.int32)


def joint_action_tables(num_agents: int, num_actions: int) -> tuple[np.ndarray, np.ndarray]:
    """Every joint action and where each agent's critic holds it.

    Returns:
        (joint actions int32[J, N], J = |A|^N in lexicographic order (agent 0
        most significant); the index k of a_-i in
        :func:`others_joint_actions` for each joint action and agent, int32[J, N]).
    """
    joint = np.array(
        list(itertools.product(range(num_actions), repeat=num_agents)), np.int32
    ).reshape(-1, num_agents)
    # k of agent i: the others' actions in agent order as base-|A| digits.
    later = np.triu(np.ones((num_agents, num_agents), np.int32), 1)  # [j, j'] = j' > j
    others = 1 - np.eye(num_agents, dtype=np.int32)  # [i, j]
    digits = others[:, None, :] * later[None] * others[:, :, None]  # [i, j, j']
    weight = others * num_actions ** digits.sum(-1)  # [i, j]: |A|^(others after j)
    return joint, (joint @ weight.T).astype(np.int32)


def joint_pareto_q(
    joint_q: chex.Array, tolerance: float | chex.Array = 0.0
) -> tuple[chex.Array, chex.Array]:
    """Q^{π+} and the one joint action a^+ that all agents agree on:

        Q̄(a) = (1/N) Σ_j Q(h_j, z, a; θ_j)         for every joint action a,
        a^+ = min {a : Q̄(a) ≥ max_a' Q̄(a') − ε}     (the lowest joint index),
        Q^{π+}(h_i, z, a_i) = Q(h_i, z, ⟨a_i, a^+_-i⟩; θ_i).

    With ε = 0, a^+ = argmax_a Q̄(a), the lowest joint index on exact ties.
    Joint actions are indexed lexicographically with agent 0 most significant
    (:func:`joint_action_tables`), so on penalty-100's tie between (A, C) and
    (C, A) both agents take (A, C).

    Args:
        joint_q: float32[..., K, N, A], indexed as
            :func:`jaxmarl_core.networks.q_critics.others_joint_actions`.
        tolerance: ε ≥ 0, in the critic's units.

    Returns:
        (Q^{π+} float32[..., N, A], a^+ int32[..., N]).
    """
    num_agents, num_actions = joint_q.shape[-2:]
    joint, k_of = joint_action_tables(num_agents, num_actions)  # [J, N] each
    agents = np.arange(num_agents)[None, :]
    q_joint = joint_q[..., k_of, agents, joint]  # [..., J, N]: Q_i(a) for every a
    q_mean = q_joint.mean(axis=-1)  # [..., J]
    tied = q_mean >= q_mean.max(axis=-1, keepdims=True) - tolerance
    best = jnp.argmax(tied, axis=-1)  # [...]: the first of the (near-)maximisers
    k_best = jnp.asarray(k_of)[best]  # [..., N]: a^+_-i for each agent
    q_plus = jnp.take_along_axis(joint_q, k_best[..., None, :, None], axis=-3)[..., 0, :, :]
    return q_plus, jnp.asarray(joint)[best]


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
    net = actor_critic.action_value_critic(env, config)

    def q_plus(params, obs, action):
        if config.joint_pareto:
            return joint_pareto_q(net.joint_q_values(params, obs), config.tie_tolerance)[0]
        return pareto_q(net.joint_q_values(params, obs))[0]

    critic = actor_critic.QCritic(net, q_plus, env.num_agents, config.n_steps)
    return actor_critic.make_actor_critic(env, config, loss, critic, schedule=annealed_entropy)


__all__ = [
    "PARAMS",
    "joint_action_tables",
    "joint_pareto_q",
    "loss",
    "make",
    "others_joint_actions",
    "pareto_advantage",
    "pareto_q",
]
