"""PQN-VDN (JaxMARL's strongest value-based baseline; Gallici et al. 2024 with
Sunehag et al. 2018's decomposition): PQN (:mod:`.pqn`) on the joint value
``Q(h, a) = Σ_i Q(h_i, a_i)``, one Q(λ) target per step on the common reward.
The greedy joint action of the sum is every agent's own greedy action, so agents
act alone on their utilities, as in VDN.
"""

from __future__ import annotations

import chex
from jumanji.env import Environment

from jaxmarl_core.algos import pqn, value_based
from jaxmarl_core.config import Config, Param
from jaxmarl_core.networks.mixers import vdn_mix
from jaxmarl_core.types import Algorithm, HParams

PARAMS: dict[str, Param] = dict(pqn.PARAMS)

validate = pqn.validate


def targets(
    reward: chex.Array,
    discount: chex.Array,
    done: chex.Array,
    next_value: chex.Array,
    joint: pqn.Joint,
    hparams: HParams,
) -> chex.Array:
    """The joint Q(λ) target on the team reward (:func:`pqn.q_lambda_targets`):

        G^λ_t = r_t + γ d_t [(1 − λ) Σ_i max_a Q(h'_{i,t}, a) + λ G^λ_{t+1}]

    (the greedy joint action of the sum is each agent's greedy action).

    Args: reward, discount, next_value float32[T, B, N] (a common-reward game
        repeats r and d for every agent); done bool[T, B]; no mixer (``joint``).
    Returns: float32[T, B, 1].
    """
    joint_next = vdn_mix(next_value)[..., None]
    return pqn.q_lambda_targets(reward[..., :1], discount[..., :1], done, joint_next, hparams)


def loss(q_taken: chex.Array, target: chex.Array, joint: pqn.Joint) -> chex.Array:
    """PQN-VDN's squared Q(λ) error of the joint value, per step:

        L(θ) = (G^λ_t − Σ_i Q(h_{i,t}, a_{i,t}; θ))²

    Args: q_taken float32[T, B, N]; target float32[T, B, 1]; no mixer (``joint``).
    Returns: float32[T, B].
    """
    return (target[..., 0] - vdn_mix(q_taken)) ** 2


def make(env: Environment, config: Config) -> Algorithm:
    value_based.require_common_reward(env, "pqn_vdn")
    return pqn.make_pqn(env, config, targets, loss)
