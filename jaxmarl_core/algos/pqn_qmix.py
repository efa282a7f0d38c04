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


def mix_with(mixer: QMixer) -> pqn.Mix:
    """PQN-QMIX's joint value: f_mix(Q_1, .., Q_N; z, ψ), ψ and z from ``joint``.
    Its targets and loss (:func:`pqn.joint_targets`, :func:`pqn.joint_loss`):

        G^λ_t = r_t + γ d_t [(1 − λ) f_mix(max_a Q(h'_{1,t}, a), ..; z'_t; ψ) + λ G^λ_{t+1}]
        L(θ, ψ) = (G^λ_t − f_mix(Q(h_{1,t}, a_{1,t}; θ), ..; z_t; ψ))²
    """
    return lambda joint, q: mixer.apply(joint.params, q, joint.state)


def make(env: Environment, config: Config) -> Algorithm:
    value_based.require_common_reward(env, "pqn_qmix")
    mixer = QMixer(embed_dim=config.mixing_embed_dim, hypernet_hidden=config.hypernet_hidden)

    def init_mixer(key: chex.PRNGKey, q: chex.Array, z: chex.Array, hparams: HParams) -> dict:
        params = mixer.init(key, q, z)
        return scale_qmix_outputs(params, hparams["mixer_init_scale"])

    mix = mix_with(mixer)
    return pqn.make_pqn(
        env, config, pqn.joint_targets(mix), pqn.joint_loss(mix), pqn.Mixer(init=init_mixer)
    )
