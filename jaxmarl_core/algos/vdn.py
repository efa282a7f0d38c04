"""Value decomposition networks (Sunehag et al. 2018; Albrecht, Christianos,
Schäfer, "Multi-Agent Reinforcement Learning", ch. 9.5, linear value
decomposition): the joint action value is the sum of the agents' utilities,
``Q(h, a) = Σ_i Q(h_i, a_i)``, trained end to end by one TD loss on the common
reward. The greedy joint action of the sum is every agent's own greedy action,
so agents act alone on their utilities.
"""

from __future__ import annotations

import chex
from jumanji.env import Environment

from jaxmarl_core.algos import value_based
from jaxmarl_core.config import Config, Param
from jaxmarl_core.core.masks import masked_mean
from jaxmarl_core.core.targets import td_target
from jaxmarl_core.networks.mixers import vdn_mix
from jaxmarl_core.types import Algorithm, HParams, Metrics

# EPyMARL's VDN: lr 5e-4, hidden 64 (the common defaults), double Q.
PARAMS: dict[str, Param] = dict(value_based.PARAMS)

validate = value_based.validate


def loss(
    params: dict,
    target_params: dict,
    batch: value_based.LossInput,
    hparams: HParams,
    key: chex.PRNGKey,
) -> tuple[chex.Array, Metrics]:
    """VDN loss (ch. 9.5, linear value decomposition):

    L(θ) = E[(r + γ d Σ_i max_a' Q(h_i', a'; θ⁻) − Σ_i Q(h_i, a_i; θ))²]

    with one TD error per step, on the sum, averaged over the steps in the loss
    (``batch.mask``); with ``double_q`` each max is Q(h_i', argmax_a' Q(h_i', a'; θ); θ⁻).
    """
    y = td_target(batch.team_reward, batch.team_discount, hparams["gamma"], vdn_mix(batch.q_next))
    q_tot = vdn_mix(batch.q_taken)  # [T, B]
    return (
        masked_mean((y - q_tot) ** 2, batch.mask),
        {"q_tot": masked_mean(q_tot, batch.mask)},
    )


def make(env: Environment, config: Config) -> Algorithm:
    value_based.require_common_reward(env, "vdn")
    agent_net = value_based.make_agent_net(env, config)
    return value_based.make_value_algorithm(env, config, agent_net, loss)
