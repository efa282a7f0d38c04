"""PQN-QMIX: PQN (:mod:`.pqn`; Gallici et al. 2024) on QMIX's joint value
(Rashid et al. 2018), ``Q(h, z, a) = f_mix(Q(h_1, a_1), ..., Q(h_N, a_N); z, ψ)``,
a monotonic mixture whose non-negative weights come from hypernetworks on the
global state z (:class:`jaxmarl_core.networks.mixers.QMixer`). The mixer ψ is
trained with the agents θ, by the same Adam steps, and like them has no target
copy: the Q(λ) targets are computed once per rollout with the (θ, ψ) that acted.
Monotonicity makes the greedy joint action every agent's own greedy action, so
agents act alone on their utilities and the bootstrap mixes their maxima.
"""

from __future__ import annotations

import chex
import jax.numpy as jnp
from jumanji.env import Environment

from jaxmarl_core.algos import pqn, qmix, value_based
from jaxmarl_core.config import Config, Param
from jaxmarl_core.networks.mixers import QMixer, scale_qmix_outputs
from jaxmarl_core.types import Algorithm, HParams

# PQN's keys and QMIX's mixer keys (EPyMARL's widths; see qmix.py for the init scale).
PARAMS: dict[str, Param] = {
    **pqn.PARAMS,
    **{k: qmix.PARAMS[k] for k in ("mixing_embed_dim", "hypernet_hidden", "mixer_init_scale")},
}

validate = pqn.validate


def make_targets(mixer: QMixer) -> pqn.Targets:
    """PQN-QMIX's targets with ``mixer``."""

    def targets(
        reward: chex.Array,
        discount: chex.Array,
        done: chex.Array,
        next_value: chex.Array,
        joint: pqn.Joint,
        hparams: HParams,
    ) -> chex.Array:
        """The joint Q(λ) target on the team reward (:func:`pqn.q_lambda_targets`):

            G^λ_t = r_t + γ d_t [(1 − λ) f_mix(max_a Q(h'_{1,t}, a), ..; z'_t; ψ) + λ G^λ_{t+1}]

        (the greedy joint action of a monotonic mixture is each agent's greedy action).

        Args: reward, discount, next_value float32[T, B, N] (a common-reward game
            repeats r and d for every agent); done bool[T, B]; ``joint``: ψ and the
            true next states z' float32[T, B, S].
        Returns: float32[T, B, 1].
        """
        joint_next = mixer.apply(joint.params, next_value, joint.state)[..., None]
        return pqn.q_lambda_targets(reward[..., :1], discount[..., :1], done, joint_next, hparams)

    return targets


def make_loss(mixer: QMixer) -> pqn.Loss:
    """PQN-QMIX's loss with ``mixer``."""

    def loss(q_taken: chex.Array, target: chex.Array, joint: pqn.Joint) -> chex.Array:
        """PQN-QMIX's squared Q(λ) error of the mixed value, per step:

            L(θ, ψ) = (G^λ_t − f_mix(Q(h_{1,t}, a_{1,t}; θ), ..; z_t; ψ))²

        Args: q_taken float32[T, B, N]; target float32[T, B, 1]; ``joint``: ψ
            and the states z float32[T, B, S].
        Returns: float32[T, B].
        """
        return (target[..., 0] - mixer.apply(joint.params, q_taken, joint.state)) ** 2

    return loss


def make(env: Environment, config: Config) -> Algorithm:
    value_based.require_common_reward(env, "pqn_qmix")
    mixer = QMixer(embed_dim=config.mixing_embed_dim, hypernet_hidden=config.hypernet_hidden)

    def init_mixer(key: chex.PRNGKey, q: chex.Array, z: chex.Array, hparams: HParams) -> dict:
        params = mixer.init(key, jnp.zeros_like(q), z)
        return scale_qmix_outputs(params, hparams["mixer_init_scale"])

    return pqn.make_pqn(
        env, config, make_targets(mixer), make_loss(mixer), pqn.Mixer(init=init_mixer)
    )
