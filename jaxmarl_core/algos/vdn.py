"""Value decomposition networks (Sunehag et al. 2018; Albrecht, Christianos,
Schäfer, "Multi-Agent Reinforcement Learning", ch. 9.5, linear value
decomposition): the joint action value is the sum of the agents' utilities,
``Q(h, a) = Σ_i Q(h_i, a_i)``, trained end to end by one TD loss on the common
reward. The greedy joint action of the sum is every agent's own greedy action,
so agents act alone on their utilities.
"""

from __future__ import annotations

import chex
import jax.numpy as jnp
from jumanji.env import Environment

from jaxmarl_core.algos import value_based
from jaxmarl_core.config import Config, Param
from jaxmarl_core.core.targets import td_target
from jaxmarl_core.networks.agents import MultiAgentNet
from jaxmarl_core.networks.mixers import vdn_mix
from jaxmarl_core.types import Algorithm, HParams, Metrics

# EPyMARL's VDN: lr 5e-4, hidden 64 (the common defaults), double Q.
PARAMS: dict[str, Param] = dict(value_based.PARAMS)

validate = value_based.validate


def make_loss(config: Config, agent_net: MultiAgentNet) -> value_based.LossFn:
    """VDN's loss for ``agent_net`` under ``config``."""

    def loss(
        params: dict,
        target_params: dict,
        batch: value_based.Transition,
        hparams: HParams,
        key: chex.PRNGKey,
        epsilon: chex.Array,
    ) -> tuple[chex.Array, Metrics]:
        """VDN loss (ch. 9.5, linear value decomposition):

        L(θ) = E[(r + γ d Σ_i max_a' Q(h_i', a'; θ⁻) − Σ_i Q(h_i, a_i; θ))²]

        with one TD error per transition, on the sum; with ``double_q`` each max
        is Q(h_i', argmax_a' Q(h_i', a'; θ); θ⁻).
        """
        u = value_based.utilities(agent_net, config.double_q, params, target_params, batch)
        r, d = value_based.team_reward_and_discount(batch)
        y = td_target(r, d, hparams["gamma"], vdn_mix(u.q_next))  # [B]
        q_tot = vdn_mix(u.q_taken)  # [B]
        return jnp.mean((y - q_tot) ** 2), {"q_tot": jnp.mean(q_tot)}

    return loss


def make(env: Environment, config: Config) -> Algorithm:
    value_based.require_common_reward(env, "vdn")
    agent_net = value_based.make_agent_net(env, config)
    return value_based.make_value_algorithm(env, config, agent_net, make_loss(config, agent_net))
