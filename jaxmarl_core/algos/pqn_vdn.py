"""PQN-VDN (JaxMARL's strongest value-based baseline; Gallici et al. 2024 with
Sunehag et al. 2018's decomposition): PQN (:mod:`.pqn`) on the joint value
``Q(h, a) = Σ_i Q(h_i, a_i)``, one Q(λ) target per step on the common reward.
The greedy joint action of the sum is every agent's own greedy action, so agents
act alone on their utilities, as in VDN.
"""

from __future__ import annotations

from jumanji.env import Environment

from jaxmarl_core.algos import pqn, value_based
from jaxmarl_core.config import Config, Param
from jaxmarl_core.networks.mixers import vdn_mix
from jaxmarl_core.types import Algorithm

PARAMS: dict[str, Param] = dict(pqn.PARAMS)

validate = pqn.validate


# PQN-VDN's targets and loss (:func:`pqn.joint_targets`, :func:`pqn.joint_loss`):
#     G^λ_t = r_t + γ d_t [(1 − λ) Σ_i max_a Q(h'_{i,t}, a) + λ G^λ_{t+1}]
#     L(θ) = (G^λ_t − Σ_i Q(h_{i,t}, a_{i,t}; θ))²
# The sum reads no mixer (``joint``).
targets = pqn.joint_targets(lambda joint, q: vdn_mix(q))
loss = pqn.joint_loss(lambda joint, q: vdn_mix(q))


def make(env: Environment, config: Config) -> Algorithm:
    value_based.require_common_reward(env, "pqn_vdn")
    return pqn.make_pqn(env, config, targets, loss)
