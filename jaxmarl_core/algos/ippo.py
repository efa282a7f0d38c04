"""Independent PPO (Albrecht, Christianos, Schäfer, "Multi-Agent Reinforcement
Learning", ch. 9.3.2; PPO, Schulman et al. 2017): IA2C with the clipped surrogate
objective, so each rollout can be reused for several epochs of minibatch updates.
"""

from __future__ import annotations

import chex
import jax.numpy as jnp
from jumanji.env import Environment

from jaxmarl_core.algos import actor_critic
from jaxmarl_core.config import Config, Param, lr_param
from jaxmarl_core.types import Algorithm, HParams

# EPyMARL's IPPO: lr 3e-4, 4 epochs over the whole batch, clip 0.2, entropy 0.001.
PARAMS: dict[str, Param] = {
    **actor_critic.PARAMS,
    **actor_critic.BOOTSTRAP_PARAMS,
    "lr": lr_param(3e-4),
    "ent_coef": Param(0.001, float, "entropy bonus coefficient", low=0.0, traced=True),
    "epochs": Param(4, int, "passes over each rollout", low=1),
    "minibatches": Param(1, int, "minibatches per pass", low=1),
    "clip_eps": Param(
        0.2, float, "clip range of the probability ratio", low=0.0, low_open=True, traced=True
    ),
    "clip_value_loss": Param(
        False, bool, "clip the critic's change from its collection-time value by clip_eps"
    ),
}

validate = actor_critic.validate_minibatches


def clipped_surrogate(
    log_prob: chex.Array, old_log_prob: chex.Array, advantage: chex.Array, clip_eps: chex.Array
) -> chex.Array:
    """−min(ρ Adv, clip(ρ, 1 − ε, 1 + ε) Adv) with ρ = exp(log π − log π_old): float32[...]."""
    ratio = jnp.exp(log_prob - old_log_prob)
    clipped = jnp.clip(ratio, 1.0 - clip_eps, 1.0 + clip_eps)
    return -jnp.minimum(ratio * advantage, clipped * advantage)


def loss(
    log_prob: chex.Array, batch: actor_critic.Batch, hparams: HParams
) -> tuple[chex.Array, dict]:
    """The PPO clipped surrogate loss of agent i, per sample (ch. 9.3.2):

        ρ_i^t = π(a_i^t | h_i^t; φ_i) / π(a_i^t | h_i^t; φ_i^old),
        L(φ_i) = −min(ρ_i^t Adv_i^t, clip(ρ_i^t, 1 − ε, 1 + ε) Adv_i^t),

    with Adv_i^t from the old policy's rollout (n-step or GAE(λ)); the critic
    minimises (y_i^t − V(h_i^t; θ_i))² in the runner.
    """
    eps = hparams["clip_eps"]
    per_sample = clipped_surrogate(log_prob, batch.log_prob, batch.advantage, eps)
    ratio = jnp.exp(log_prob - batch.log_prob)
    extras = {
        "clip_fraction": (jnp.abs(ratio - 1.0) > eps).astype(jnp.float32),
        "approx_kl": (ratio - 1.0) - (log_prob - batch.log_prob),
    }
    return per_sample, extras


def make(env: Environment, config: Config, centralised: bool = False) -> Algorithm:
    """IPPO; with ``centralised``, MAPPO (the critic also sees the global state z)."""
    critic = actor_critic.state_value_critic(
        env, config, actor_critic.bootstrapped_advantages(config), centralised=centralised
    )
    return actor_critic.make_actor_critic(
        env,
        config,
        loss,
        critic,
        epochs=config.epochs,
        minibatches=config.minibatches,
        value_clip=config.clip_value_loss,
    )
