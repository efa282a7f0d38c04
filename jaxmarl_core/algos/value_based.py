"""The value-based runner shared by IDQN, VDN, QMIX and QTRAN.

One ``update``: act epsilon-greedily on the agents' utilities Q(h_i, a_i) in
``num_envs`` environments for ``rollout_length`` steps, store the transitions in
a flashbax replay buffer, take one gradient step on a sampled batch with the
algorithm's loss, and move the target network towards the online one. The
algorithms differ only in ``loss`` (how utilities are combined into the TD
error) and the extra networks they add (a mixer, a joint Q and V):

=========  ==========================================================  ============
algorithm  TD error on                                                 extra nets
=========  ==========================================================  ============
IDQN       each agent's own ``r + γ max Q_i⁻(h_i', ·) − Q_i(h_i, a_i)``  none
VDN        the sum ``Σ_i Q_i``                                         none
QMIX       the mixture ``f(Q_1..Q_N; z)``, monotonic in each Q_i        mixer
QTRAN      a joint ``Q(h, z, a)``, tied to ``Σ_i Q_i`` by two losses     joint Q, V
=========  ==========================================================  ============

IDQN's fixes for the non-stationary replay plug in here in two places: every
transition stores the behaviour probabilities of the actions (importance
sampling) and, with ``lenient``, the leniency of each agent's (h_i, a_i),
computed from a table of visit counts kept in the learner state; the weights
themselves (``core/replay_fixes.py``) are applied in IDQN's loss.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import chex
import flashbax as fbx
import jax
import jax.numpy as jnp
from jumanji.env import Environment

from jaxmarl_core.config import Config, ConfigError, Param
from jaxmarl_core.core import replay_fixes
from jaxmarl_core.core.exploration import epsilon_greedy, linear_schedule, masked_argmax
from jaxmarl_core.core.optim import apply_gradients, make_optimizer
from jaxmarl_core.core.targets import greedy_value, select
from jaxmarl_core.envs.wrappers import VecEnv, VecEnvState
from jaxmarl_core.networks.agents import MLP, MultiAgentNet, multi_agent
from jaxmarl_core.types import Algorithm, HParams, Metrics, MultiAgentObservation

PARAMS: dict[str, Param] = {
    "num_envs": Param(8, int, "parallel training environments", low=1),
    "buffer_size": Param(
        50_000, int, "replay capacity in transitions (a small buffer is one of IDQN's fixes)", low=1
    ),
    "batch_size": Param(128, int, "transitions per gradient step", low=1),
    "learning_starts": Param(1_000, int, "environment steps before the first gradient step", low=0),
    "target_update_period": Param(
        200, int, "updates between target-network updates (1 with tau < 1: Polyak)", low=1
    ),
    "double_q": Param(True, bool, "double Q-learning targets"),
    "eps_start": Param(1.0, float, "initial exploration rate", low=0.0, high=1.0, traced=True),
    "eps_end": Param(0.05, float, "final exploration rate", low=0.0, high=1.0, traced=True),
    "eps_decay_fraction": Param(
        0.1,
        float,
        "fraction of total_timesteps over which epsilon decays linearly",
        low=0.0,
        high=1.0,
        low_open=True,
        traced=True,
    ),
    "target_update_tau": Param(
        1.0,
        float,
        "target <- target + tau (online - target) at each target update",
        low=0.0,
        high=1.0,
        low_open=True,
        traced=True,
    ),
}


class Transition(NamedTuple):
    """One stored step of all agents (shapes of one item; a batch adds [B] in front).

    Attributes:
        obs: MultiAgentObservation before the step.
        action: int32[N].
        reward: float32[N].
        discount: float32[N]: 0 on termination, else 1.
        next_obs: MultiAgentObservation after the step (the true last one at an
            episode's end).
        behaviour_prob: float32[N]: mu_i(a_i | h_i) of the epsilon-greedy policy
            that took the action.
        leniency: float32[N]: the leniency 1 - exp(-K T(h_i, a_i)) when the
            transition was collected (0 unless the learner is lenient).
    """

    obs: MultiAgentObservation
    action: chex.Array
    reward: chex.Array
    discount: chex.Array
    next_obs: MultiAgentObservation
    behaviour_prob: chex.Array
    leniency: chex.Array


class ValueState(NamedTuple):
    params: dict  # {"agent": ..., plus the algorithm's extra networks}
    target_params: dict
    opt_state: Any
    buffer: Any
    env: VecEnvState
    key: chex.PRNGKey
    num_updates: chex.Array  # int32[]
    env_steps: chex.Array  # int32[]
    visits: chex.Array  # int32[N, 2**leniency_hash_bits, A] when lenient, else int32[0]


# loss(params, target_params, batch, hparams, key, epsilon) -> (loss, metrics); ``epsilon``
# is the exploration rate of the current behaviour policy (for importance weights).
LossFn = Callable[
    [dict, dict, Transition, HParams, chex.PRNGKey, chex.Array], tuple[chex.Array, Metrics]
]
# init_extra(key, sample_batch) -> dict of extra parameter sets (mixer, joint networks)
InitExtra = Callable[[chex.PRNGKey, Transition], dict]


def make_agent_net(env: Environment, config: Config) -> MultiAgentNet:
    """Per-agent utility network Q(h_i, .): float32[..., N, D] -> float32[..., N, A]."""
    module = MLP(hidden=(config.hidden_size,) * config.num_layers, out=env.num_actions)
    return multi_agent(module, env.num_agents, config.param_sharing)


class Utilities(NamedTuple):
    """The agents' utilities on a batch, shared by every value-based loss.

    Attributes:
        q: float32[B, N, A], Q(h_i, .; θ) online, with gradient.
        q_taken: float32[B, N], Q(h_i, a_i; θ) of the stored actions, with gradient.
        q_next: float32[B, N], Q(h_i', a_i*; θ⁻) at the greedy next actions
            a_i* (chosen by the online utilities with double Q, else by the
            target ones); no gradient.
        next_actions: int32[B, N], a_i*.
    """

    q: chex.Array
    q_taken: chex.Array
    q_next: chex.Array
    next_actions: chex.Array


def utilities(
    agent_net: MultiAgentNet, double_q: bool, params: dict, target_params: dict, batch: Transition
) -> Utilities:
    """Evaluates the agents' online and target utilities on a sampled batch."""
    q = agent_net.apply(params["agent"], batch.obs.agents_view)  # [B, N, A]
    q_next_target = agent_net.apply(target_params["agent"], batch.next_obs.agents_view)
    q_next_selector = (
        agent_net.apply(params["agent"], batch.next_obs.agents_view) if double_q else q_next_target
    )
    mask = batch.next_obs.action_mask
    return Utilities(
        q=q,
        q_taken=select(q, batch.action),
        q_next=greedy_value(q_next_target, q_next_selector, mask),
        next_actions=jax.lax.stop_gradient(masked_argmax(q_next_selector, mask)),
    )


def team_reward_and_discount(batch: Transition) -> tuple[chex.Array, chex.Array]:
    """The common reward and discount, float32[B] each, of a common-reward game.

    Every agent's reward entry is the team reward there, and termination is shared.
    """
    return batch.reward[:, 0], batch.discount[:, 0]


def require_common_reward(env: Environment, algo: str) -> None:
    """Value decomposition learns one team value: refuse individual rewards."""
    if getattr(env, "individual_rewards", False):
        raise ConfigError(
            f"{algo} learns a value of the common team reward; "
            "env_kwargs.individual_rewards=true is not allowed (use false, or idqn)"
        )


def validate(values: dict) -> None:
    """Checks shared by the value-based configs."""
    if values["batch_size"] > values["buffer_size"]:
        raise ConfigError(
            f"batch_size={values['batch_size']} is larger than buffer_size="
            f"{values['buffer_size']}; batch_size must be <= buffer_size"
        )
    per_update = values["num_envs"] * values["rollout_length"]
    if values["buffer_size"] < per_update:
        raise ConfigError(
            f"buffer_size={values['buffer_size']} is smaller than one update's "
            f"num_envs * rollout_length = {per_update}; buffer_size must be >= {per_update}"
        )


def make_value_algorithm(
    env: Environment,
    config: Config,
    agent_net: MultiAgentNet,
    loss: LossFn,
    init_extra: InitExtra | None = None,
    lenient: bool = False,
    leniency_hash_bits: int = 16,
) -> Algorithm:
    """Builds ``Algorithm(init, update, act)`` for a value-based learner.

    Args:
        env, config: the environment and the validated config.
        agent_net: the per-agent utility network.
        loss: the algorithm's loss, see ``LossFn``.
        init_extra: builds the algorithm's extra parameter sets from a sample batch.
        lenient: count visits of (h_i, a_i) in a hashed table and store each
            transition's leniency (reads ``leniency_k`` and ``leniency_decay``
            from ``hparams``).
        leniency_hash_bits: the table has ``2**leniency_hash_bits`` observation
            buckets per agent.
    """
    venv = VecEnv(env, config.num_envs)
    obs_dim = int(env.observation_spec.agents_view.shape[-1])
    projection = replay_fixes.simhash_projection(obs_dim, leniency_hash_bits)
    visits_shape = (env.num_agents, 2**leniency_hash_bits, env.num_actions) if lenient else (0,)
    optimizer = make_optimizer()
    buffer = fbx.make_item_buffer(
        max_length=config.buffer_size,
        min_length=config.batch_size,
        sample_batch_size=config.batch_size,
        add_sequences=True,
    )
    steps_per_update = config.num_envs * config.rollout_length

    def init(key: chex.PRNGKey, hparams: HParams) -> ValueState:
        key, env_key, agent_key, extra_key = jax.random.split(key, 4)
        env_state = venv.reset(env_key)
        one = jax.tree_util.tree_map(lambda x: x[0], env_state.obs)
        params = {"agent": agent_net.init(agent_key, one.agents_view)}
        sample = Transition(
            obs=one,
            action=jnp.zeros((env.num_agents,), jnp.int32),
            reward=jnp.zeros((env.num_agents,), jnp.float32),
            discount=jnp.ones((env.num_agents,), jnp.float32),
            next_obs=one,
            behaviour_prob=jnp.ones((env.num_agents,), jnp.float32),
            leniency=jnp.zeros((env.num_agents,), jnp.float32),
        )
        if init_extra is not None:
            batch = jax.tree_util.tree_map(lambda x: x[None], sample)
            params.update(init_extra(extra_key, batch))
        return ValueState(
            params=params,
            target_params=params,
            opt_state=optimizer.init(params),
            buffer=buffer.init(sample),
            env=env_state,
            key=key,
            num_updates=jnp.zeros((), jnp.int32),
            env_steps=jnp.zeros((), jnp.int32),
            visits=jnp.zeros(visits_shape, jnp.int32),
        )

    def epsilon(state: ValueState, hparams: HParams) -> chex.Array:
        decay_steps = hparams["eps_decay_fraction"] * config.total_timesteps
        return linear_schedule(
            hparams["eps_start"], hparams["eps_end"], state.env_steps / decay_steps
        )

    def visit(visits: chex.Array, obs: MultiAgentObservation, actions: chex.Array, hparams):
        """Counts this step's visits of (h_i, a_i); returns their leniency float32[B, N]."""
        if not lenient:
            return visits, jnp.zeros(actions.shape, jnp.float32)
        buckets = replay_fixes.simhash(obs.agents_view, projection)  # [B, N]
        return replay_fixes.visit(
            visits, buckets, actions, hparams["leniency_k"], hparams["leniency_decay"]
        )

    def collect(state: ValueState, hparams: HParams, key: chex.PRNGKey):
        eps = epsilon(state, hparams)

        def step(carry, step_key):
            env_state, visits = carry
            obs = env_state.obs
            q = agent_net.apply(state.params["agent"], obs.agents_view)
            actions, probs = epsilon_greedy(step_key, q, obs.action_mask, eps)
            visits, leniency = visit(visits, obs, actions, hparams)
            env_state, out = venv.step(env_state, actions)
            transition = Transition(
                obs=obs,
                action=actions,
                reward=out.reward,
                discount=out.discount,
                next_obs=out.next_obs,
                behaviour_prob=probs,
                leniency=leniency,
            )
            return (env_state, visits), (transition, out.done, out.episode_return)

        keys = jax.random.split(key, config.rollout_length)
        (env_state, visits), (transitions, done, returns) = jax.lax.scan(
            step, (state.env, state.visits), keys
        )
        episode_stats = {
            "episode_return_sum": jnp.sum(jnp.where(done, returns, 0.0)),
            "episodes": jnp.sum(done).astype(jnp.float32),
            "epsilon": eps,
        }
        return env_state, visits, transitions, episode_stats

    def learn(state: ValueState, hparams: HParams, key: chex.PRNGKey):
        sample_key, loss_key = jax.random.split(key)
        batch = buffer.sample(state.buffer, sample_key).experience
        grad_fn = jax.value_and_grad(loss, has_aux=True)
        (value, metrics), grads = grad_fn(
            state.params, state.target_params, batch, hparams, loss_key, epsilon(state, hparams)
        )
        params, opt_state = apply_gradients(
            optimizer, state.opt_state, state.params, grads, hparams["lr"], hparams["max_grad_norm"]
        )
        return params, opt_state, {"loss": value, **metrics}

    def update(state: ValueState, hparams: HParams) -> tuple[ValueState, Metrics]:
        key, collect_key, learn_key = jax.random.split(state.key, 3)
        env_state, visits, transitions, episode_stats = collect(state, hparams, collect_key)
        flat = jax.tree_util.tree_map(lambda x: x.reshape((-1,) + x.shape[2:]), transitions)
        buffer_state = buffer.add(state.buffer, flat)
        env_steps = state.env_steps + steps_per_update
        state = state._replace(
            buffer=buffer_state, env=env_state, env_steps=env_steps, visits=visits
        )

        can_learn = (env_steps >= config.learning_starts) & buffer.can_sample(buffer_state)
        skipped = jax.eval_shape(lambda: learn(state, hparams, learn_key)[2])
        params, opt_state, metrics = jax.lax.cond(
            can_learn,
            lambda: learn(state, hparams, learn_key),
            lambda: (
                state.params,
                state.opt_state,
                jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype), skipped),
            ),
        )
        num_updates = state.num_updates + can_learn.astype(jnp.int32)
        # Periodic hard copy (tau = 1) or Polyak averaging (period 1, tau < 1).
        tau = jnp.where(
            can_learn & (num_updates % config.target_update_period == 0),
            hparams["target_update_tau"],
            0.0,
        )
        target_params = jax.tree_util.tree_map(
            lambda t, o: t + tau * (o - t), state.target_params, params
        )
        state = state._replace(
            params=params,
            target_params=target_params,
            opt_state=opt_state,
            key=key,
            num_updates=num_updates,
        )
        return state, {**metrics, **episode_stats}

    def act(state: ValueState, obs: MultiAgentObservation, carry, key: chex.PRNGKey):
        q = agent_net.apply(state.params["agent"], obs.agents_view)
        return masked_argmax(q, obs.action_mask), carry

    def initial_carry(batch_shape=()):
        return jnp.zeros(tuple(batch_shape) + (env.num_agents, 0), jnp.float32)

    return Algorithm(
        init=init,
        update=update,
        act=act,
        initial_carry=initial_carry,
        steps_per_update=steps_per_update,
    )
