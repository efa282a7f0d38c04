"""Independent DQN (Albrecht, Christianos, Schäfer, "Multi-Agent Reinforcement
Learning", ch. 9.3.1): every agent learns its own Q(h_i, a_i) by DQN on local
observations, treating the other agents as part of the environment.

The other agents keep learning, so the replay buffer holds transitions of an
environment that has since changed. IDQN's options against that, which compose
(each is a weight on an agent's squared TD error, see ``core/replay_fixes.py``):

- ``buffer_size``: a small buffer holds only recent, less outdated transitions;
- ``importance_sampling``: weight by the other agents' current over stored
  action probabilities, truncated at ``importance_clip``;
- ``hysteretic_beta`` < 1: a smaller learning rate for negative TD errors;
- ``lenient``: ignore a negative TD error with probability
  ``1 − exp(−leniency_k · leniency_decay^visits(h_i, a_i))``.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
from jumanji.env import Environment

from jaxmarl_core.algos import value_based
from jaxmarl_core.config import Config, Param
from jaxmarl_core.core import replay_fixes
from jaxmarl_core.core.exploration import epsilon_greedy_probs
from jaxmarl_core.core.targets import td_target
from jaxmarl_core.networks.agents import MultiAgentNet
from jaxmarl_core.types import Algorithm, HParams, Metrics

# EPyMARL's IQL: lr 3e-4, hidden 128, double Q, target copied every 200 updates.
PARAMS: dict[str, Param] = {
    **value_based.PARAMS,
    "hidden_size": Param(128, int, "width of the hidden layers", low=1),
    "lr": Param(3e-4, float, "Adam learning rate", low=0.0, low_open=True, traced=True),
    "importance_sampling": Param(
        False, bool, "weight TD errors by the other agents' current/stored action probabilities"
    ),
    "importance_clip": Param(
        1.0,
        float,
        "truncation level of the importance weights",
        low=0.0,
        low_open=True,
        traced=True,
    ),
    "hysteretic_beta": Param(
        1.0,
        float,
        "learning-rate factor for negative TD errors (hysteretic Q-learning; 1.0 = off)",
        low=0.0,
        high=1.0,
        low_open=True,
        traced=True,
    ),
    "lenient": Param(
        False, bool, "ignore negative TD errors with a probability that decays per (h, a) visit"
    ),
    "leniency_k": Param(
        2.0,
        float,
        "leniency moderation factor K: l = 1 - exp(-K T(h, a))",
        low=0.0,
        low_open=True,
        traced=True,
    ),
    "leniency_decay": Param(
        0.9999,
        float,
        "temperature decay per visit: T(h, a) = leniency_decay ** visits(h, a)",
        low=0.0,
        high=1.0,
        low_open=True,
        traced=True,
    ),
    "leniency_hash_bits": Param(
        16,
        int,
        "observation buckets per agent of the visit table: 2**bits (SimHash)",
        low=1,
        high=24,
    ),
}

validate = value_based.validate


def make_loss(config: Config, agent_net: MultiAgentNet) -> value_based.LossFn:
    """IDQN's loss for ``agent_net`` under ``config`` (its ``double_q`` and fixes)."""

    def loss(
        params: dict,
        target_params: dict,
        batch: value_based.Transition,
        hparams: HParams,
        key: chex.PRNGKey,
        epsilon: chex.Array,
    ) -> tuple[chex.Array, Metrics]:
        """Independent DQN loss, per agent i (ch. 9.3.1, eq. for IDQN):

        L(θ_i) = E[w_i (r_i + γ d max_a' Q(h_i', a'; θ_i⁻) − Q(h_i, a_i; θ_i))²]

        averaged over the batch and the agents; with ``double_q`` the max is
        Q(h_i', argmax_a' Q(h_i', a'; θ_i); θ_i⁻). The weight w_i = 1 unless
        IDQN's replay fixes are on: the product of the importance weight, the
        hysteretic factor and the leniency mask.
        """
        u = value_based.utilities(agent_net, config.double_q, params, target_params, batch)
        y = td_target(batch.reward, batch.discount, hparams["gamma"], u.q_next)  # [B, N]
        td_error = y - u.q_taken  # [B, N]

        weight = replay_fixes.hysteretic_weights(td_error, hparams["hysteretic_beta"])
        metrics = {"q_taken": jnp.mean(u.q_taken)}
        if config.importance_sampling:
            current = epsilon_greedy_probs(
                jax.lax.stop_gradient(u.q), batch.obs.action_mask, batch.action, epsilon
            )
            rho = replay_fixes.importance_weights(
                current, batch.behaviour_prob, hparams["importance_clip"]
            )
            weight = weight * rho
            metrics["importance_weight"] = jnp.mean(rho)
        if config.lenient:
            keep = replay_fixes.lenient_weights(key, td_error, batch.leniency)
            weight = weight * keep
            metrics["leniency"] = jnp.mean(batch.leniency)
            metrics["ignored_fraction"] = 1.0 - jnp.mean(keep)
        return jnp.mean(weight * td_error**2), metrics

    return loss


def make(env: Environment, config: Config) -> Algorithm:
    agent_net = value_based.make_agent_net(env, config)
    return value_based.make_value_algorithm(
        env,
        config,
        agent_net,
        make_loss(config, agent_net),
        lenient=config.lenient,
        leniency_hash_bits=config.leniency_hash_bits,
    )
