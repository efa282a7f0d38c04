"""QTRAN-base (Son et al. 2019; Albrecht, Christianos, Schäfer, "Multi-Agent
Reinforcement Learning", ch. 9.5, beyond monotonic value decomposition):
per-agent utilities Q(h_i, a_i), a joint action-value network Q(h, z, a) and a
state-value network V(h, z). The joint network learns the team's action values
by TD; two more losses tie the sum of the utilities to it, so that the agents'
own greedy actions form the greedy joint action (IGM) without restricting
Q(h, z, a) to be monotonic in them:

    Σ_i Q(h_i, a_i) − Q(h, z, a) + V(h, z)   = 0  at the greedy joint action ā,
                                             ≥ 0  at every other joint action.

The joint network has one output per joint action (``networks/mixers.py``), so
its last layer and its outputs grow as A**N. Up to ``MAX_JOINT_ACTIONS`` = 4096
joint actions (2 agents with up to 64 actions, 3 with 16, 4 with 8, 6 with 4,
12 with 2) it is cheap; beyond that the [batch, A**N] outputs of every gradient
step (times seeds and a sweep under ``vmap``) take memory in the gigabytes, and
each joint action is updated only by the transitions that took it, so most
entries are never learnt. ``make`` refuses larger games with a ConfigError:
use VDN or QMIX there.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
from jumanji.env import Environment

from jaxmarl_core.algos import value_based
from jaxmarl_core.config import Config, ConfigError, Param
from jaxmarl_core.core.exploration import masked_argmax
from jaxmarl_core.core.masks import masked_mean
from jaxmarl_core.core.targets import select, td_target
from jaxmarl_core.networks.mixers import (
    JointActionValue,
    StateValue,
    joint_action_index,
    joint_input,
)
from jaxmarl_core.types import Algorithm, HParams, Metrics

MAX_JOINT_ACTIONS = 4096

# EPyMARL's QTRAN: lr 5e-4, hidden 64, joint networks 64 wide, opt_loss 1,
# nopt_min_loss 0.1.
PARAMS: dict[str, Param] = {
    **value_based.PARAMS,
    "joint_hidden_size": Param(64, int, "width of QTRAN's joint Q and V networks", low=1),
    "lambda_opt": Param(1.0, float, "weight of QTRAN's L_opt", low=0.0, traced=True),
    "lambda_nopt": Param(0.1, float, "weight of QTRAN's L_nopt", low=0.0, traced=True),
}

validate = value_based.validate


def _mean(x: chex.Array, mask: chex.Array | None) -> chex.Array:
    return jnp.mean(x) if mask is None else masked_mean(x, mask)


def td_loss(q_jt: chex.Array, y: chex.Array, mask: chex.Array | None = None) -> chex.Array:
    """QTRAN's L_td (ch. 9.5): ``E[(r + γ d Q(h', z', ā'; θ⁻) − Q(h, z, a; θ))²]``.

    Args:
        q_jt: float32[...], Q(h, z, a) of the stored joint actions.
        y: float32[...], the target ``r + γ d Q(h', z', ā'; θ⁻)`` with ā' the
            utilities' greedy joint action at h' (no gradient).
        mask: float32[...] or None: 1 where the step is in the loss (None: all).
    """
    return _mean((jax.lax.stop_gradient(y) - q_jt) ** 2, mask)


def opt_loss(
    utility_sum: chex.Array, q_jt: chex.Array, v: chex.Array, mask: chex.Array | None = None
) -> chex.Array:
    """QTRAN's L_opt (ch. 9.5): ``E[(Σ_i Q(h_i, ā_i) − Q̂(h, z, ā) + V(h, z))²]``.

    ā is the utilities' greedy joint action; Q̂ is the joint network's value held
    fixed (no gradient), so this loss trains the utilities and V.

    Args:
        utility_sum: float32[...], Σ_i Q(h_i, ā_i). q_jt: float32[...], Q(h, z, ā).
        v: float32[...], V(h, z). mask: as in :func:`td_loss`.
    """
    return _mean((utility_sum - jax.lax.stop_gradient(q_jt) + v) ** 2, mask)


def nopt_loss(
    utility_sum: chex.Array, q_jt: chex.Array, v: chex.Array, mask: chex.Array | None = None
) -> chex.Array:
    """QTRAN's L_nopt (ch. 9.5): ``E[min(0, Σ_i Q(h_i, a_i) − Q̂(h, z, a) + V(h, z))²]``.

    At the stored joint actions a; only a sum that falls short of Q̂ − V is
    penalised. Q̂ is held fixed (no gradient).

    Args:
        utility_sum: float32[...], Σ_i Q(h_i, a_i). q_jt: float32[...], Q(h, z, a).
        v: float32[...], V(h, z). mask: as in :func:`td_loss`.
    """
    return _mean(jnp.minimum(0.0, utility_sum - jax.lax.stop_gradient(q_jt) + v) ** 2, mask)


def make_loss(
    joint_q: JointActionValue, state_value: StateValue, num_actions: int
) -> value_based.LossFn:
    """QTRAN's loss; parameters ``params["joint_q"]`` and ``params["value"]``."""

    def loss(
        params: dict,
        target_params: dict,
        batch: value_based.LossInput,
        hparams: HParams,
        key: chex.PRNGKey,
    ) -> tuple[chex.Array, Metrics]:
        """QTRAN-base loss (ch. 9.5): ``L = L_td + λ_opt L_opt + λ_nopt L_nopt``,

        each averaged over the steps in the loss (``batch.mask``). The joint
        networks read the observations and the global state (h, z) of each step.
        """
        mask = batch.mask
        x = joint_input(batch.obs.agents_view, batch.obs.global_state)  # [T, B, N * D + S]
        x_next = joint_input(batch.next_obs.agents_view, batch.next_obs.global_state)

        q_jt = joint_q.apply(params["joint_q"], x)  # [T, B, A**N]
        taken = joint_action_index(batch.action, num_actions)  # [T, B]
        greedy_actions = jax.lax.stop_gradient(masked_argmax(batch.q, batch.obs.action_mask))
        greedy = joint_action_index(greedy_actions, num_actions)
        v = state_value.apply(params["value"], x)  # [T, B]

        q_jt_next = joint_q.apply(target_params["joint_q"], x_next)
        next_greedy = joint_action_index(batch.next_actions, num_actions)
        y = td_target(
            batch.team_reward,
            batch.team_discount,
            hparams["gamma"],
            jax.lax.stop_gradient(select(q_jt_next, next_greedy)),
        )

        l_td = td_loss(select(q_jt, taken), y, mask)
        l_opt = opt_loss(select(batch.q, greedy_actions).sum(-1), select(q_jt, greedy), v, mask)
        l_nopt = nopt_loss(batch.q_taken.sum(-1), select(q_jt, taken), v, mask)
        total = l_td + hparams["lambda_opt"] * l_opt + hparams["lambda_nopt"] * l_nopt
        metrics = {
            "td_loss": l_td,
            "opt_loss": l_opt,
            "nopt_loss": l_nopt,
            "v": masked_mean(v, mask),
        }
        return total, metrics

    return loss


def check_size(env: Environment) -> int:
    """The number of joint actions A**N; ConfigError beyond ``MAX_JOINT_ACTIONS``."""
    num_joint = env.num_actions**env.num_agents
    if num_joint > MAX_JOINT_ACTIONS:
        raise ConfigError(
            f"qtran's joint network has one output per joint action; {env!r} has "
            f"{env.num_actions}**{env.num_agents} = {num_joint} joint actions, more than the "
            f"{MAX_JOINT_ACTIONS} qtran allows; use vdn or qmix for this environment"
        )
    return num_joint


def make(env: Environment, config: Config) -> Algorithm:
    value_based.require_common_reward(env, "qtran")
    num_joint = check_size(env)
    agent_net = value_based.make_agent_net(env, config)
    hidden = (config.joint_hidden_size,) * config.num_layers
    joint_q = JointActionValue(hidden=hidden, num_joint_actions=num_joint)
    state_value = StateValue(hidden=hidden)

    def init_extra(key: chex.PRNGKey, sample: value_based.Transition, hparams: HParams) -> dict:
        q_key, v_key = jax.random.split(key)
        x = joint_input(sample.obs.agents_view, sample.obs.global_state)
        return {"joint_q": joint_q.init(q_key, x), "value": state_value.init(v_key, x)}

    loss = make_loss(joint_q, state_value, env.num_actions)
    return value_based.make_value_algorithm(env, config, agent_net, loss, init_extra=init_extra)
