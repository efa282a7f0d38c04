"""COMA, counterfactual multi-agent policy gradients (Foerster et al. 2018;
Albrecht, Christianos, Schäfer, "Multi-Agent Reinforcement Learning", ch. 9.4.4).

Each agent's actor π(a_i | h_i; φ_i) learns from a centralised action-value
critic Q(h_i, z, ⟨a_i, a_-i⟩; θ_i) (:mod:`jaxmarl_core.networks.q_critics`) that
outputs one value per own action with the others' actions held fixed. The
advantage compares the joint action taken with the policy-weighted average
over agent i's own alternatives, the others' actions unchanged: the
counterfactual baseline. The critic learns on-policy from n-step targets
bootstrapped with a target network (:class:`jaxmarl_core.algos.actor_critic.QCritic`).

With ``recurrent=true`` the actors are GRUs on their own histories h_i, and the
critic stays feed-forward on (o_i, z, a): it is used only in training, the
global state z carries the centralised information a recurrent critic would
recover, and a memoryless critic is what lets Pareto-AC, which shares it,
enumerate the others' joint actions per sample without a hidden state per
joint action.
"""

from __future__ import annotations

import chex
from jumanji.env import Environment

from jaxmarl_core.algos import actor_critic
from jaxmarl_core.config import Config, Param, lr_param
from jaxmarl_core.types import Algorithm, HParams

# EPyMARL's COMA: lr 3e-4, 10-step critic targets, entropy 0.001, 10 parallel
# environments; its hard target update every 200 updates is a Polyak rate here,
# and the hidden width is the other actor-critic learners' 128 (EPyMARL: 64).
PARAMS: dict[str, Param] = {
    **actor_critic.PARAMS,
    "lr": lr_param(3e-4),
    "ent_coef": Param(0.001, float, "entropy bonus coefficient", low=0.0, traced=True),
    "n_steps": Param(10, int, "steps of the critic's n-step targets", low=1),
    "target_tau": Param(
        0.01,
        float,
        "Polyak rate of the critic's target network (1 = no target network)",
        low=0.0,
        low_open=True,
        high=1.0,
        traced=True,
    ),
}


# COMA's counterfactual advantage (ch. 9.4.4; Foerster et al. 2018):
#     Adv_i = Q(h_i, z, ⟨a_i, a_-i⟩) − Σ_a' π(a' | h_i) Q(h_i, z, ⟨a', a_-i⟩),
# the action-value advantage with the others' taken actions a_-i held fixed.
counterfactual_advantage = actor_critic.action_value_advantage


def loss(
    log_prob: chex.Array, batch: actor_critic.Batch, hparams: HParams
) -> tuple[chex.Array, dict]:
    """The COMA policy loss of agent i, per sample (ch. 9.4.4):

        L(φ_i) = −Adv_i log π(a_i | h_i; φ_i),
        Adv_i = Q(h_i, z, ⟨a_i, a_-i⟩) − Σ_a' π(a' | h_i) Q(h_i, z, ⟨a', a_-i⟩),

    with ``batch.advantage`` = Adv_i (no gradient); the critic minimises
    (y_i − Q(h_i, z, a))² on n-step targets y_i in the runner.
    """
    return -batch.advantage * log_prob, {}


def make(env: Environment, config: Config) -> Algorithm:
    net = actor_critic.action_value_critic(env, config)
    critic = actor_critic.QCritic(net, net.q_values, env.num_agents, config.n_steps)
    return actor_critic.make_actor_critic(env, config, loss, critic)
