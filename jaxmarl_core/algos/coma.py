"""COMA, counterfactual multi-agent policy gradients (Foerster et al. 2018;
Albrecht, Christianos, Schäfer, "Multi-Agent Reinforcement Learning", ch. 9.4.4).

Each agent's actor π(a_i | h_i; φ_i) learns from a centralised action-value
critic Q(h_i, z, ⟨a_i, a_-i⟩; θ_i) (:mod:`jaxmarl_core.networks.q_critics`) that
outputs one value per own action with the others' actions held fixed. The
advantage compares the joint action taken with the policy-weighted average
over agent i's own alternatives, the others' actions unchanged: the
counterfactual baseline. The critic learns on-policy from n-step targets
bootstrapped with a target network.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
from jumanji.env import Environment

from jaxmarl_core.algos import actor_critic, ia2c
from jaxmarl_core.config import Config, Param
from jaxmarl_core.core import returns as rl_returns
from jaxmarl_core.networks.q_critics import make_action_value_critic
from jaxmarl_core.types import Algorithm, HParams

# EPyMARL's COMA: lr 3e-4, 10-step critic targets, entropy 0.001, 10 parallel
# environments; its hard target update every 200 updates is a Polyak rate here,
# and the hidden width is the other actor-critic learners' 128 (EPyMARL: 64).
PARAMS: dict[str, Param] = {
    **actor_critic.PARAMS,
    "lr": Param(3e-4, float, "Adam learning rate", low=0.0, low_open=True, traced=True),
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


def counterfactual_advantage(q: chex.Array, pi: chex.Array, action: chex.Array) -> chex.Array:
    """COMA's counterfactual advantage (ch. 9.4.4; Foerster et al. 2018):

        Adv_i = Q(h_i, z, ⟨a_i, a_-i⟩) − Σ_a' π(a' | h_i) Q(h_i, z, ⟨a', a_-i⟩)

    Args:
        q: float32[..., N, A], Q(h_i, z, ⟨a', a_-i⟩) for every own action a'.
        pi: float32[..., N, A], π(a' | h_i).
        action: int32[..., N], the joint action taken.

    Returns:
        float32[..., N].
    """
    chex.assert_equal_shape((q, pi))
    q_taken = jnp.take_along_axis(q, action[..., None], axis=-1)[..., 0]
    baseline = jnp.sum(pi * q, axis=-1)
    return q_taken - baseline


def advantages(config: Config) -> actor_critic.Advantages:
    """Adv_i from the online critic's action values; the critic's target is the
    n-step return bootstrapped with the target network's Q(h', z', a')."""
    n = config.n_steps

    def fn(traj: actor_critic.Trajectory, hparams: HParams):
        y = rl_returns.n_step_returns(traj.r_t, traj.discount_t, traj.done_t, traj.v_tp1, n)
        adv = counterfactual_advantage(traj.q_t, traj.pi_t, traj.a_t)
        return jax.lax.stop_gradient(adv), jax.lax.stop_gradient(y)

    return fn


# The policy loss is the policy-gradient loss −Adv_i log π(a_i | h_i) with the
# counterfactual advantage in place of IA2C's.
loss = ia2c.loss


def make(env: Environment, config: Config) -> Algorithm:
    hidden = (config.hidden_size,) * config.num_layers
    critic = make_action_value_critic(env.num_agents, env.num_actions, hidden, config.param_sharing)
    return actor_critic.make_actor_critic(
        env,
        config,
        loss,
        advantages(config),
        critic=critic,
        action_values=critic.q_values,
        target_network=True,
    )
