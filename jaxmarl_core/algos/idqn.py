"""Independent DQN (Albrecht, Christianos, Schäfer, "Multi-Agent Reinforcement
Learning", ch. 9.3.1): every agent learns its own Q(h_i, a_i) by DQN on local
observations, treating the other agents as part of the environment.
"""

from __future__ import annotations

import chex
import jax.numpy as jnp
from jumanji.env import Environment

from jaxmarl_core.algos import value_based
from jaxmarl_core.config import Config, Param
from jaxmarl_core.core.targets import q_learning_target, select
from jaxmarl_core.types import Algorithm, HParams, Metrics

# EPyMARL's IQL: lr 3e-4, hidden 128, double Q, target copied every 200 updates.
PARAMS: dict[str, Param] = {
    **value_based.PARAMS,
    "hidden_size": Param(128, int, "width of the hidden layers", low=1),
    "lr": Param(3e-4, float, "Adam learning rate", low=0.0, low_open=True, traced=True),
}

validate = value_based.validate


def make(env: Environment, config: Config) -> Algorithm:
    agent_net = value_based.make_agent_net(env, config)

    def loss(
        params: dict,
        target_params: dict,
        batch: value_based.Transition,
        hparams: HParams,
        key: chex.PRNGKey,
    ) -> tuple[chex.Array, Metrics]:
        """Independent DQN loss, per agent i (ch. 9.3.1, eq. for IDQN):

        L(θ_i) = E[(r_i + γ d max_a' Q(h_i', a'; θ_i⁻) − Q(h_i, a_i; θ_i))²]

        averaged over the batch and the agents; with ``double_q`` the max is
        Q(h_i', argmax_a' Q(h_i', a'; θ_i); θ_i⁻).
        """
        q_tm1 = agent_net.apply(params["agent"], batch.obs.agents_view)  # [B, N, A]
        q_t_target = agent_net.apply(target_params["agent"], batch.next_obs.agents_view)
        q_t_selector = (
            agent_net.apply(params["agent"], batch.next_obs.agents_view)
            if config.double_q
            else q_t_target
        )
        y = q_learning_target(
            batch.reward,
            batch.discount,
            hparams["gamma"],
            q_t_target,
            q_t_selector,
            batch.next_obs.action_mask,
        )
        td_error = y - select(q_tm1, batch.action)  # [B, N]
        return jnp.mean(td_error**2), {"q_taken": jnp.mean(select(q_tm1, batch.action))}

    return value_based.make_value_algorithm(env, config, agent_net, loss)
