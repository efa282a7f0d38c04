"""Independent A2C (Albrecht, Christianos, Schäfer, "Multi-Agent Reinforcement
Learning", ch. 9.3.2; A2C, Mnih et al. 2016): every agent learns its own actor
π(a_i | h_i; φ_i) and critic V(h_i; θ_i) on synchronous rollouts from parallel
environments, with n-step or GAE(λ) advantages.
"""

from __future__ import annotations

import chex
from jumanji.env import Environment

from jaxmarl_core.algos import actor_critic
from jaxmarl_core.config import Config, Param, lr_param
from jaxmarl_core.types import Algorithm, HParams

# EPyMARL's IA2C: lr 5e-4, 10 parallel environments, 5-step returns, entropy 0.001,
# hidden 128.
PARAMS: dict[str, Param] = {
    **actor_critic.PARAMS,
    **actor_critic.BOOTSTRAP_PARAMS,
    "hidden_size": Param(128, int, "width of the hidden layers of actor and critic", low=1),
    "lr": lr_param(5e-4),
    "ent_coef": Param(0.001, float, "entropy bonus coefficient", low=0.0, traced=True),
}


def loss(
    log_prob: chex.Array, batch: actor_critic.Batch, hparams: HParams
) -> tuple[chex.Array, dict]:
    """The advantage actor-critic policy loss of agent i, per sample (ch. 9.3.2):

        L(φ_i) = −Adv(h_i^t, a_i^t) log π(a_i^t | h_i^t; φ_i),
        Adv(h_i^t, a_i^t) = y_i^t − V(h_i^t; θ_i),

    with y_i^t the n-step return (or Adv the GAE(λ) estimate); the critic
    minimises (y_i^t − V(h_i^t; θ_i))² in the runner.
    """
    return -batch.advantage * log_prob, {}


def make(env: Environment, config: Config) -> Algorithm:
    critic = actor_critic.state_value_critic(
        env, config, actor_critic.bootstrapped_advantages(config)
    )
    return actor_critic.make_actor_critic(env, config, loss, critic)
