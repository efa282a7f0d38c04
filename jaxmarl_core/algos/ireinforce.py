"""Independent REINFORCE (Albrecht, Christianos, Schäfer, "Multi-Agent Reinforcement
Learning", ch. 9.3.2; REINFORCE, Williams 1992): every agent follows the
Monte-Carlo policy gradient of its own return, treating the other agents as part
of the environment. Each update runs every environment for a whole episode and
learns from complete episodes only; a learned baseline V(h_i) is optional.
"""

from __future__ import annotations

import chex
from jumanji.env import Environment

from jaxmarl_core.algos import actor_critic
from jaxmarl_core.config import Config, ConfigError, Param, lr_param
from jaxmarl_core.types import Algorithm, HParams

# EPyMARL has no REINFORCE; lr and entropy follow its IA2C.
PARAMS: dict[str, Param] = {
    **actor_critic.PARAMS,
    "rollout_length": Param(
        0,
        int,
        "steps per environment per update; 0: one episode (the environment's episode_length); "
        "REINFORCE learns from each environment's first complete episode",
        low=0,
    ),
    "baseline": Param(False, bool, "subtract a learned state-value baseline V(h_i) from G"),
    "lr": lr_param(5e-4),
    "ent_coef": Param(0.01, float, "entropy bonus coefficient", low=0.0, traced=True),
}


def loss(
    log_prob: chex.Array, batch: actor_critic.Batch, hparams: HParams
) -> tuple[chex.Array, dict]:
    """The REINFORCE loss of agent i, per sample (ch. 9.3.2):

        L(φ_i) = −(1/T) Σ_t (G_i^t − b(h_i^t)) log π(a_i^t | h_i^t; φ_i),
        G_i^t = Σ_{τ=t}^{T−1} γ^{τ−t} r_i^τ,

    with the baseline b = V(h_i^t) when ``baseline`` is set, else b = 0;
    ``batch.advantage`` holds G_i^t − b(h_i^t).
    """
    return -batch.advantage * log_prob, {}


def make(env: Environment, config: Config) -> Algorithm:
    rollout_length = config.rollout_length or env.episode_length
    if rollout_length < env.episode_length:
        raise ConfigError(
            f"rollout_length={config.rollout_length} is shorter than an episode "
            f"({env.episode_length} steps); REINFORCE needs complete episodes: use 0 "
            f"(one episode) or a value >= {env.episode_length}"
        )
    if config.total_timesteps < config.num_envs * rollout_length:
        raise ConfigError(
            f"total_timesteps={config.total_timesteps} is smaller than one update's "
            f"num_envs * rollout_length = {config.num_envs} * {rollout_length}"
        )
    if config.baseline:
        critic = actor_critic.state_value_critic(env, config, actor_critic.monte_carlo_advantages)
    else:
        critic = actor_critic.NoCritic(env.num_agents)
    return actor_critic.make_actor_critic(
        env, config, loss, critic, episodic=True, rollout_length=rollout_length
    )
