"""Multi-agent A2C with a centralised critic (Albrecht, Christianos, Schäfer,
"Multi-Agent Reinforcement Learning", ch. 9.4.2): IA2C whose critic V(h_i, z; θ_i)
also sees the global state z during training; the actors still act on h_i alone.
"""

from __future__ import annotations

from jumanji.env import Environment

from jaxmarl_core.algos import actor_critic, ia2c
from jaxmarl_core.config import Config, Param
from jaxmarl_core.types import Algorithm

# EPyMARL's MAA2C: as IA2C, entropy 0.01, hidden 64 (its default).
PARAMS: dict[str, Param] = {
    **ia2c.PARAMS,
    "hidden_size": actor_critic.PARAMS["hidden_size"],
    "ent_coef": Param(0.01, float, "entropy bonus coefficient", low=0.0, traced=True),
}

# The policy loss is IA2C's; only the advantage's critic differs:
# Adv(h_i^t, z^t, a_i^t) = y_i^t − V(h_i^t, z^t; θ_i).
loss = ia2c.loss


def make(env: Environment, config: Config) -> Algorithm:
    critic = actor_critic.state_value_critic(
        env, config, actor_critic.bootstrapped_advantages(config), centralised=True
    )
    return actor_critic.make_actor_critic(env, config, loss, critic)
