"""QMIX (Rashid et al. 2018; Albrecht, Christianos, Schäfer, "Multi-Agent
Reinforcement Learning", ch. 9.5, monotonic value decomposition): the joint
action value is a monotonic mixture of the agents' utilities,
``Q(h, z, a) = f_mix(Q(h_1, a_1), ..., Q(h_N, a_N); z)`` with ``∂f_mix/∂Q_i ≥ 0``,
whose non-negative weights come from hypernetworks on the global state z
(``networks/mixers.py``). Monotonicity keeps the greedy joint action the agents'
own greedy actions, so agents act alone on their utilities.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
from jumanji.env import Environment

from jaxmarl_core.algos import value_based
from jaxmarl_core.config import Config, Param
from jaxmarl_core.core.masks import masked_mean
from jaxmarl_core.core.targets import td_target
from jaxmarl_core.networks.mixers import QMixer, scale_qmix_outputs
from jaxmarl_core.types import Algorithm, HParams, Metrics

# EPyMARL's QMIX: lr 5e-4, hidden 64 (the common defaults), double Q, mixing
# embedding 32, hypernetwork hidden 64.
# mixer_init_scale: with a plain orthogonal init the initial Q_tot on LBF is 2 to
# 50 (mean 12) where no return exceeds 1 (VDN's initial sum: 0.5 to 3). With sparse
# rewards and bootstrapped time limits only gamma per target update shrinks that
# bias (q_tot fell 13 -> 0.7 over 600k steps, ~0.58 per 100k), and until then the
# greedy actions follow it. At 0.1 the initial Q_tot is ~0.1: on
# lbf-2s-8x8-2p-2f-coop (feed-forward, seeds 0-2, 600k steps) the greedy return
# rose from 0.17 / 0.05 / 0.06 to 0.63 / 0.45 / 0.70 (0.01: 0.59 / 0.44 / 0.78).
PARAMS: dict[str, Param] = {
    **value_based.PARAMS,
    "mixing_embed_dim": Param(32, int, "width E of QMIX's mixing layer", low=1),
    "hypernet_hidden": Param(64, int, "hidden width of QMIX's weight hypernetworks", low=1),
    "mixer_init_scale": Param(
        0.1,
        float,
        "init scale of the hypernetworks' output layers (W_1, w_2, b_1, b_2); "
        "1.0 is a plain orthogonal init",
        low=0.0,
        low_open=True,
        traced=True,
    ),
}

validate = value_based.validate


def make_loss(mixer: QMixer) -> value_based.LossFn:
    """QMIX's loss with ``mixer`` (parameters ``params["mixer"]``)."""

    def loss(
        params: dict,
        target_params: dict,
        batch: value_based.LossInput,
        hparams: HParams,
        key: chex.PRNGKey,
    ) -> tuple[chex.Array, Metrics]:
        """QMIX loss (ch. 9.5, monotonic value decomposition):

        L(θ) = E[(r + γ d f_mix(max_a' Q(h_i', a'; θ⁻) ..; z'; θ⁻)
                  − f_mix(Q(h_i, a_i; θ) ..; z; θ))²]

        with one TD error per step on the mixed value, averaged over the steps
        in the loss (``batch.mask``); with ``double_q`` each max is
        Q(h_i', argmax_a' Q(h_i', a'; θ); θ⁻).
        """
        z, z_next = batch.obs.global_state, batch.next_obs.global_state  # [T, B, S]
        q_tot_next = mixer.apply(target_params["mixer"], batch.q_next, z_next)  # [T, B]
        y = td_target(
            batch.team_reward,
            batch.team_discount,
            hparams["gamma"],
            jax.lax.stop_gradient(q_tot_next),
        )
        q_tot = mixer.apply(params["mixer"], batch.q_taken, z)  # [T, B]
        return (
            masked_mean((y - q_tot) ** 2, batch.mask),
            {"q_tot": masked_mean(q_tot, batch.mask)},
        )

    return loss


def make(env: Environment, config: Config) -> Algorithm:
    value_based.require_common_reward(env, "qmix")
    agent_net = value_based.make_agent_net(env, config)
    mixer = QMixer(embed_dim=config.mixing_embed_dim, hypernet_hidden=config.hypernet_hidden)

    def init_extra(key: chex.PRNGKey, sample: value_based.Transition, hparams: HParams) -> dict:
        q = jnp.zeros(sample.action.shape, jnp.float32)  # [1, N]
        params = mixer.init(key, q, sample.obs.global_state)
        return {"mixer": scale_qmix_outputs(params, hparams["mixer_init_scale"])}

    return value_based.make_value_algorithm(
        env, config, agent_net, make_loss(mixer), init_extra=init_extra
    )
