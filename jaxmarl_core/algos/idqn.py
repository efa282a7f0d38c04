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

The fixes need more than the shared runner stores: every step keeps the
behaviour probabilities of the actions taken (importance sampling) and their
leniency, and the learner state keeps the visit table the leniencies come from
(``extras``). With recurrent agents the table counts observations, not
histories (a history has no bucket of its own).
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
from jumanji.env import Environment

from jaxmarl_core.algos import value_based
from jaxmarl_core.config import Config, Param, lr_param
from jaxmarl_core.core import replay_fixes
from jaxmarl_core.core.exploration import epsilon_greedy_probs
from jaxmarl_core.core.masks import masked_mean
from jaxmarl_core.core.targets import td_target
from jaxmarl_core.types import Algorithm, HParams, Metrics, MultiAgentObservation

# EPyMARL's IQL: lr 3e-4, hidden 128, double Q, target copied every 200 updates.
PARAMS: dict[str, Param] = {
    **value_based.PARAMS,
    "hidden_size": Param(128, int, "width of the hidden layers", low=1),
    "lr": lr_param(3e-4),
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


def make_extras(env: Environment, config: Config) -> value_based.Extras:
    """IDQN's per-step fields and its visit table of (o_i, a_i) (``lenient`` only).

    Stored with every step: ``behaviour_prob`` float32[N], μ_i(a_i | h_i) of the
    epsilon-greedy policy that took the action, and ``leniency`` float32[N], the
    leniency ``1 − exp(−K T(o_i, a_i))`` at collection (0 unless lenient). Kept in
    the learner state: ``visits`` int32[N, 2**leniency_hash_bits, A] (int32[0]
    unless lenient).
    """
    obs_dim = int(env.observation_spec.agents_view.shape[-1])
    bits = config.leniency_hash_bits
    projection = replay_fixes.simhash_projection(obs_dim, bits)
    shape = (env.num_agents, 2**bits, env.num_actions) if config.lenient else (0,)

    def init() -> dict:
        return {"visits": jnp.zeros(shape, jnp.int32)}

    def record(extra: dict, obs: MultiAgentObservation, actions, probs, hparams: HParams):
        if config.lenient:
            buckets = replay_fixes.simhash(obs.agents_view, projection)  # [B, N]
            visits, leniency = replay_fixes.visit(
                extra["visits"], buckets, actions, hparams["leniency_k"], hparams["leniency_decay"]
            )
            extra = {"visits": visits}
        else:
            leniency = jnp.zeros(actions.shape, jnp.float32)
        return extra, {"behaviour_prob": probs, "leniency": leniency}

    return value_based.Extras(init=init, record=record)


def make_loss(config: Config) -> value_based.LossFn:
    """IDQN's loss under ``config`` (its fixes)."""

    def loss(
        params: dict,
        target_params: dict,
        batch: value_based.LossInput,
        hparams: HParams,
        key: chex.PRNGKey,
    ) -> tuple[chex.Array, Metrics]:
        """Independent DQN loss, per agent i (ch. 9.3.1, eq. for IDQN):

        L(θ_i) = E[w_i (r_i + γ d_i max_a' Q(h_i', a'; θ_i⁻) − Q(h_i, a_i; θ_i))²]

        averaged over the steps in the loss (``batch.mask``) and the agents; with
        ``double_q`` the max is Q(h_i', argmax_a' Q(h_i', a'; θ_i); θ_i⁻). The
        weight w_i = 1 unless IDQN's replay fixes are on: the product of the
        importance weight, the hysteretic factor and the leniency mask.
        """
        y = td_target(batch.reward, batch.discount, hparams["gamma"], batch.q_next)  # [T, B, N]
        td_error = y - batch.q_taken  # [T, B, N]

        weight = replay_fixes.hysteretic_weights(td_error, hparams["hysteretic_beta"])
        metrics = {"q_taken": masked_mean(batch.q_taken, batch.mask)}
        if config.importance_sampling:
            current = epsilon_greedy_probs(
                jax.lax.stop_gradient(batch.q), batch.obs.action_mask, batch.action, batch.epsilon
            )
            rho = replay_fixes.importance_weights(
                current, batch.extras["behaviour_prob"], hparams["importance_clip"]
            )
            weight = weight * rho
            metrics["importance_weight"] = masked_mean(rho, batch.mask)
        if config.lenient:
            leniency = batch.extras["leniency"]
            keep = replay_fixes.lenient_weights(key, td_error, leniency)
            weight = weight * keep
            metrics["leniency"] = masked_mean(leniency, batch.mask)
            metrics["ignored_fraction"] = 1.0 - masked_mean(keep, batch.mask)
        return masked_mean(weight * td_error**2, batch.mask), metrics

    return loss


def make(env: Environment, config: Config) -> Algorithm:
    return value_based.make_value_algorithm(
        env,
        config,
        value_based.make_agent_net(env, config),
        make_loss(config),
        extras=make_extras(env, config),
    )
