"""The value-based runner shared by IDQN, VDN, QMIX and QTRAN.

One ``update``: act epsilon-greedily on the agents' utilities Q(h_i, a_i) in
``num_envs`` environments for ``rollout_length`` steps, append the steps to every
environment's time stream in a flashbax trajectory buffer, take ``epochs``
gradient steps (one by default; JaxMARL's SMAX setting takes 8), each on a batch
of sequences sampled from those streams, and move the target network towards the
online one. The algorithms differ only in ``loss`` (how the
utilities are combined into the TD error) and the extra networks they add:

=========  ==========================================================  ============
algorithm  TD error on                                                 extra nets
=========  ==========================================================  ============
IDQN       each agent's own ``r + γ max Q_i⁻(h_i', ·) − Q_i(h_i, a_i)``  none
VDN        the sum ``Σ_i Q_i``                                         none
QMIX       the mixture ``f(Q_1..Q_N; z)``, monotonic in each Q_i        mixer
QTRAN      a joint ``Q(h, z, a)``, tied to ``Σ_i Q_i`` by two losses     joint Q, V
=========  ==========================================================  ============

Replay of sequences (R2D2, Kapturowski et al. 2019). Every stored step keeps the
agents' behaviour hidden state before it; a sample is ``sequence_length``
consecutive steps of one environment, unrolled from the stored hidden state at
its first step (or from zeros with ``store_carry=false``, R2D2's "zero state",
which keeps the hidden states out of the buffer). The first ``burn_in`` steps
only warm the hidden state and are masked out of the loss; the ``first`` flags
reset the state where an episode starts inside the sequence. A feed-forward
agent is the same mechanism with sequences of one step (its hidden state is an
empty array). Chunks rather than EPyMARL's whole episodes: the per-environment
streams need no padding to a maximum episode length, sampling stays uniform over
steps, and a feed-forward learner is the one-step case of the same buffer. A
sequence must span the distance from what is to be remembered to where it pays:
on a memory game whose cue is 7 steps before the reward, 1-step chunks (stored
state only) fail, 8-step chunks learn, a burn-in of 4 learns faster, and 16-step
chunks learn as fast at 2.7 times the cost of an update. The runner turns a
sampled sequence into one :class:`LossInput` (utilities, greedy next values,
team reward and discount, loss mask) and hands it to the algorithm's loss.

An algorithm that stores more with every step (IDQN's behaviour probabilities
and leniencies) and keeps more in its learner state (IDQN's visit table) plugs
in an :class:`Extras` hook; the others store nothing more.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import chex
import flashbax as fbx
import jax
import jax.numpy as jnp
from jumanji.env import Environment

from jaxmarl_core.config import Config, ConfigError, Param
from jaxmarl_core.core.exploration import decayed_epsilon, epsilon_greedy, masked_argmax
from jaxmarl_core.core.optim import annealed_lr, apply_gradients, make_optimizer
from jaxmarl_core.core.targets import (
    ends_capacity,
    greedy_value,
    next_values,
    select,
    stepped_values,
)
from jaxmarl_core.envs.wrappers import VecEnv, VecEnvState
from jaxmarl_core.networks.agents import AgentNet
from jaxmarl_core.networks.agents import make_agent_net as build_agent_net
from jaxmarl_core.types import Algorithm, HParams, Metrics, MultiAgentObservation

# The sequence length of recurrent agents when ``sequence_length`` is 0 (auto).
RECURRENT_SEQUENCE_LENGTH = 20

PARAMS: dict[str, Param] = {
    "num_envs": Param(8, int, "parallel training environments", low=1),
    "buffer_size": Param(
        50_000,
        int,
        "replay capacity in steps, buffer_size // num_envs per environment "
        "(a small buffer is one of IDQN's fixes)",
        low=1,
    ),
    "batch_size": Param(
        128, int, "sampled sequences per gradient step (transitions when sequence_length=1)", low=1
    ),
    "sequence_length": Param(
        0,
        int,
        f"steps per replayed sequence; 0: 1 for feed-forward agents, "
        f"{RECURRENT_SEQUENCE_LENGTH} for recurrent ones",
        low=0,
    ),
    "burn_in": Param(
        0, int, "first steps of a sequence that only warm the hidden state (not in the loss)", low=0
    ),
    "store_carry": Param(
        True,
        bool,
        "replayed sequences start from the stored behaviour hidden state (R2D2); false: "
        "from zeros, as EPyMARL and JaxMARL unroll them, keeping no hidden state in the "
        "buffer (recurrent agents only; at hidden_size 512 it holds 71% of the buffer)",
    ),
    "epochs": Param(1, int, "gradient steps per update, each on a freshly sampled batch", low=1),
    "anneal_lr": Param(False, bool, "decay the learning rate linearly to 0 over training"),
    "reward_scale": Param(
        1.0,
        float,
        "rewards are multiplied by this in the targets (not in the reported returns)",
        low=0.0,
        low_open=True,
        traced=True,
    ),
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
    """One stored step of all agents in one environment (a sample adds [T, B] in front).

    Attributes:
        obs: MultiAgentObservation before the step.
        first: bool[]: ``obs`` is the first observation of an episode.
        carry: float32[N, H]: the agents' behaviour hidden state before reading
            ``obs`` (reset to zero where ``first`` when read; H = 0 feed-forward or
            with ``store_carry=false``).
        action: int32[N].
        reward: float32[N].
        discount: float32[N]: 0 on termination, else 1.
        next_obs: MultiAgentObservation after the step (the true last one at an
            episode's end).
        extras: what the algorithm's :class:`Extras` stores with the step ({} if none).
    """

    obs: MultiAgentObservation
    first: chex.Array
    carry: chex.Array
    action: chex.Array
    reward: chex.Array
    discount: chex.Array
    next_obs: MultiAgentObservation
    extras: Any


class LossInput(NamedTuple):
    """A sampled batch of sequences as every value-based loss reads it.

    Shapes: T steps, B sequences, N agents, A actions, S global-state features.
    Only ``q`` and ``q_taken`` carry gradient.

    Attributes:
        q: float32[T, B, N, A], Q(h_i, ·; θ) online.
        q_taken: float32[T, B, N], Q(h_i, a_i; θ) of the stored actions.
        q_next: float32[T, B, N], Q(h_i', a_i*; θ⁻) at the greedy next actions a_i*
            (chosen by the online utilities with double Q, else by the target ones).
        next_actions: int32[T, B, N], a_i*.
        action: int32[T, B, N], the stored actions a_i.
        reward, discount: float32[T, B, N], each agent's r_i and d_i.
        team_reward, team_discount: float32[T, B], the common r and d.
        obs, next_obs: MultiAgentObservation [T, B] (global states z, z' included).
        mask: float32[T, B], 1 where the step is in the loss (0 in the burn-in).
        epsilon: float32[], the exploration rate of the current behaviour policy.
        extras: what the algorithm's :class:`Extras` stored with each step, [T, B, ...].
    """

    q: chex.Array
    q_taken: chex.Array
    q_next: chex.Array
    next_actions: chex.Array
    action: chex.Array
    reward: chex.Array
    discount: chex.Array
    team_reward: chex.Array
    team_discount: chex.Array
    obs: MultiAgentObservation
    next_obs: MultiAgentObservation
    mask: chex.Array
    epsilon: chex.Array
    extras: Any


class Extras(NamedTuple):
    """What an algorithm stores with every step and keeps in its learner state.

    Attributes:
        init: ``init() -> extra_state``, kept in ``ValueState.extras``.
        record: ``record(extra_state, obs [B], actions int32[B, N], probs float32[B, N],
            hparams) -> (extra_state, per-step pytree [B, ...])``, called at every
            collection step with the epsilon-greedy actions and their behaviour
            probabilities; the per-step pytree is stored as ``Transition.extras``.
    """

    init: Callable[[], Any]
    record: Callable[..., tuple[Any, Any]]


NO_EXTRAS = Extras(init=lambda: {}, record=lambda s, obs, actions, probs, hparams: (s, {}))


class ValueState(NamedTuple):
    params: dict  # {"agent": ..., plus the algorithm's extra networks}
    target_params: dict
    opt_state: Any
    buffer: Any  # flashbax trajectory buffer: [num_envs, buffer_size // num_envs] steps
    env: VecEnvState
    carry: chex.Array  # float32[num_envs, N, H]: the agents' hidden states before env.obs
    first: chex.Array  # bool[num_envs]: env.obs is the first observation of an episode
    key: chex.PRNGKey
    num_updates: chex.Array  # int32[]
    env_steps: chex.Array  # int32[]
    extras: Any  # the algorithm's own state (IDQN: its visit table), {} if none


# loss(params, target_params, batch, hparams, key) -> (loss, metrics)
LossFn = Callable[[dict, dict, LossInput, HParams, chex.PRNGKey], tuple[chex.Array, Metrics]]
# init_extra(key, sample Transition [1], hparams) -> dict of extra parameter sets (mixer,
# joint networks)
InitExtra = Callable[[chex.PRNGKey, Transition, HParams], dict]


def make_agent_net(env: Environment, config: Config) -> AgentNet:
    """Per-agent utility network Q(h_i, ·), an MLP or a GRU agent (``config.recurrent``)."""
    return build_agent_net(
        env.num_agents,
        (config.hidden_size,) * config.num_layers,
        env.num_actions,
        config.param_sharing,
        config.recurrent,
        activation=config.activation,
        agent_ids=config.obs_agent_id,
    )


def resolved_sequence_length(values: Any) -> int:
    """``sequence_length``, with 0 (auto) resolved: 1 feed-forward, else the recurrent default."""
    get = values.get if isinstance(values, dict) else lambda k: getattr(values, k)
    if get("sequence_length"):
        return get("sequence_length")
    return RECURRENT_SEQUENCE_LENGTH if get("recurrent") else 1


def loss_input(
    agent_net: AgentNet,
    double_q: bool,
    params: dict,
    target_params: dict,
    batch: Transition,
    burn_in: int,
    epsilon: chex.Array,
    capacity: int | None = None,
) -> LossInput:
    """The agents' utilities and targets on sampled sequences ``batch`` [T, B].

    Online and target networks are both unrolled from the stored hidden state at
    the first step (``first`` resets it inside the sequence); the value at the
    true next observation of step t is the unroll's own at t + 1 inside an
    episode, and one more ``step`` from the hidden state after step t where the
    episode or the sequence ends (:func:`next_values`, ``capacity`` such steps,
    default :func:`ends_capacity`), so truncations (where ``next_obs`` is the
    episode's last observation, not the next ``obs``) bootstrap exactly.
    With ``store_carry=false`` the stored hidden states are empty and both unroll
    from zeros.
    """
    first = batch.first
    start = batch.carry[0]
    if start.shape[-1] == 0:
        start = agent_net.initial_carry(first.shape[1:])
    if capacity is None:
        capacity = ends_capacity(*first.shape)
    carries, q = agent_net.unroll(params["agent"], start, batch.obs.agents_view, first)
    target = target_params["agent"]
    target_carries, q_target = agent_net.unroll(target, start, batch.obs.agents_view, first)
    next_x = batch.next_obs.agents_view
    q_next_target = next_values(
        stepped_values(agent_net.step, target), target_carries, q_target, next_x, first, capacity
    )
    if double_q:
        online, carries_sg, q_sg = jax.lax.stop_gradient((params["agent"], carries, q))
        q_next_selector = next_values(
            stepped_values(agent_net.step, online), carries_sg, q_sg, next_x, first, capacity
        )
    else:
        q_next_selector = q_next_target
    next_mask = batch.next_obs.action_mask
    steps = jnp.arange(first.shape[0])[:, None]
    return LossInput(
        q=q,
        q_taken=select(q, batch.action),
        q_next=greedy_value(q_next_target, q_next_selector, next_mask),
        next_actions=jax.lax.stop_gradient(masked_argmax(q_next_selector, next_mask)),
        action=batch.action,
        reward=batch.reward,
        discount=batch.discount,
        # A common-reward game repeats the team reward for every agent, and
        # termination is shared.
        team_reward=batch.reward[..., 0],
        team_discount=batch.discount[..., 0],
        obs=batch.obs,
        next_obs=batch.next_obs,
        mask=jnp.broadcast_to(steps >= burn_in, first.shape).astype(jnp.float32),
        epsilon=epsilon,
        extras=batch.extras,
    )


def greedy_actions(
    agent_net: AgentNet, params: Any, obs: MultiAgentObservation, carry: chex.Array
) -> tuple[chex.Array, chex.Array]:
    """argmax_a Q(h_i, a) among the allowed actions, int32[B, N], and the hidden states
    after reading ``obs``. The caller starts every episode from ``initial_carry``, so
    nothing resets here."""
    no_reset = jnp.zeros(obs.step_count.shape, bool)
    carry, q = agent_net.step(params, carry, obs.agents_view, no_reset)
    return masked_argmax(q, obs.action_mask), carry


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
    if values["burn_in"] > 0 and not values["recurrent"]:
        raise ConfigError(
            f"burn_in={values['burn_in']} warms the hidden state of recurrent agents only; "
            "with recurrent=false burn_in must be 0"
        )
    length = resolved_sequence_length(values)
    if values["burn_in"] >= length:
        raise ConfigError(
            f"burn_in={values['burn_in']} leaves no step of a sequence of sequence_length="
            f"{length} in the loss; burn_in must be < sequence_length "
            f"(0 <= burn_in <= {length - 1})"
        )
    per_env = values["buffer_size"] // values["num_envs"]
    if per_env < length:
        raise ConfigError(
            f"buffer_size={values['buffer_size']} keeps {per_env} steps per environment "
            f"(buffer_size // num_envs={values['num_envs']}), fewer than one sequence of "
            f"sequence_length={length}; buffer_size must be >= {length * values['num_envs']}"
        )


def append_steps(buffer_state: Any, streams: Any) -> Any:
    """flashbax's trajectory-buffer ``add`` of ``streams`` [num_envs, T, ...], written
    as one ``dynamic_update_slice`` per field when the T steps cannot wrap around
    the time axis (its length a multiple of T, so the write index always is):
    flashbax writes through a scatter, which XLA:CPU runs as a serial loop (0.15
    ms of QMIX's 2.4 ms update at 1024 environments). The same state either way."""
    length = jax.tree.leaves(buffer_state.experience)[0].shape[1]
    steps = jax.tree.leaves(streams)[0].shape[1]
    if length % steps:
        return fbx.trajectory_buffer.add(buffer_state, streams)
    start = buffer_state.current_index
    experience = jax.tree.map(
        lambda stored, new: jax.lax.dynamic_update_slice_in_dim(stored, new, start, axis=1),
        buffer_state.experience,
        streams,
    )
    end = start + steps
    return buffer_state.replace(
        experience=experience,
        current_index=end % length,
        is_full=buffer_state.is_full | (end >= length),
    )


def make_value_algorithm(
    env: Environment,
    config: Config,
    agent_net: AgentNet,
    loss: LossFn,
    init_extra: InitExtra | None = None,
    extras: Extras = NO_EXTRAS,
) -> Algorithm:
    """Builds ``Algorithm(init, update, act, initial_carry)`` for a value-based learner.

    Args:
        env, config: the environment and the validated config.
        agent_net: the per-agent utility network.
        loss: the algorithm's loss, see ``LossFn``.
        init_extra: builds the algorithm's extra parameter sets from a sample step.
        extras: what the algorithm stores with every step and keeps in its state.
    """
    venv = VecEnv(env, config.num_envs)
    optimizer = make_optimizer(config.optimizer, config.adam_eps)
    length = resolved_sequence_length(config)
    per_env = config.buffer_size // config.num_envs
    # Sampling needs at least batch_size steps stored, and one sequence per environment.
    min_length = min(per_env, max(length, math.ceil(config.batch_size / config.num_envs)))
    buffer = fbx.make_trajectory_buffer(
        add_batch_size=config.num_envs,
        sample_batch_size=config.batch_size,
        sample_sequence_length=length,
        period=1,
        min_length_time_axis=min_length,
        max_length_time_axis=per_env,
    )
    steps_per_update = config.num_envs * config.rollout_length

    def stored(carry: chex.Array) -> chex.Array:
        """What the buffer keeps of the hidden states [..., N, H]: all, or nothing."""
        return carry if config.store_carry else carry[..., :0]

    def init(key: chex.PRNGKey, hparams: HParams) -> ValueState:
        key, env_key, agent_key, extra_key = jax.random.split(key, 4)
        env_state = venv.reset(env_key)
        params = {"agent": agent_net.init(agent_key, env_state.obs.agents_view[0])}
        carry = agent_net.initial_carry((config.num_envs,))
        extra_state = extras.init()
        actions = jnp.zeros((config.num_envs, env.num_agents), jnp.int32)
        probs = jnp.ones((config.num_envs, env.num_agents), jnp.float32)
        _, step_extras = extras.record(extra_state, env_state.obs, actions, probs, hparams)
        one = jax.tree_util.tree_map(lambda x: x[0], env_state.obs)
        sample = Transition(
            obs=one,
            first=jnp.ones((), bool),
            carry=stored(carry)[0],
            action=actions[0],
            reward=jnp.zeros((env.num_agents,), jnp.float32),
            discount=jnp.ones((env.num_agents,), jnp.float32),
            next_obs=one,
            extras=jax.tree_util.tree_map(lambda x: x[0], step_extras),
        )
        if init_extra is not None:
            one_step = jax.tree_util.tree_map(lambda x: x[None], sample)
            params.update(init_extra(extra_key, one_step, hparams))
        return ValueState(
            params=params,
            target_params=params,
            opt_state=optimizer.init(params),
            buffer=buffer.init(sample),
            env=env_state,
            carry=carry,
            first=jnp.ones((config.num_envs,), bool),
            key=key,
            num_updates=jnp.zeros((), jnp.int32),
            env_steps=jnp.zeros((), jnp.int32),
            extras=extra_state,
        )

    def epsilon(state: ValueState, hparams: HParams) -> chex.Array:
        return decayed_epsilon(hparams, state.env_steps, config.total_timesteps)

    def collect(state: ValueState, hparams: HParams, key: chex.PRNGKey):
        eps = epsilon(state, hparams)

        def step(loop, step_key):
            env_state, carry, first, extra_state = loop
            obs = env_state.obs
            new_carry, q = agent_net.step(state.params["agent"], carry, obs.agents_view, first)
            actions, probs = epsilon_greedy(step_key, q, obs.action_mask, eps)
            extra_state, step_extras = extras.record(extra_state, obs, actions, probs, hparams)
            env_state, out = venv.step(env_state, actions)
            transition = Transition(
                obs=obs,
                first=first,
                carry=stored(carry),
                action=actions,
                reward=out.reward,
                discount=out.discount,
                next_obs=out.next_obs,
                extras=step_extras,
            )
            # Where the episode ended, env_state.obs is the next episode's first.
            loop = (env_state, new_carry, out.done, extra_state)
            return loop, (transition, out.finished())

        keys = jax.random.split(key, config.rollout_length)
        loop = (state.env, state.carry, state.first, state.extras)
        loop, (transitions, finished) = jax.lax.scan(step, loop, keys)
        episode_stats = {**finished.metrics(), "epsilon": eps}
        return loop, transitions, episode_stats

    def gradient_step(state: ValueState, hparams: HParams, key: chex.PRNGKey, carry):
        params, opt_state = carry
        sample_key, loss_key = jax.random.split(key)
        sample = buffer.sample(state.buffer, sample_key).experience  # [B, T, ...]
        batch = jax.tree_util.tree_map(lambda x: jnp.swapaxes(x, 0, 1), sample)  # [T, B, ...]
        batch = batch._replace(reward=hparams["reward_scale"] * batch.reward)
        eps = epsilon(state, hparams)

        def objective(params):
            inputs = loss_input(
                agent_net,
                config.double_q,
                params,
                state.target_params,
                batch,
                config.burn_in,
                eps,
                ends_capacity(*batch.first.shape, env.episode_length),
            )
            return loss(params, state.target_params, inputs, hparams, loss_key)

        (value, metrics), grads = jax.value_and_grad(objective, has_aux=True)(params)
        params, opt_state = apply_gradients(
            optimizer, opt_state, params, grads, hparams["lr"], hparams["max_grad_norm"]
        )
        return (params, opt_state), {"loss": value, **metrics}

    def learn(state: ValueState, hparams: HParams, key: chex.PRNGKey):
        """``epochs`` gradient steps, each on its own sample; metrics of the mean step."""
        if config.anneal_lr:
            # The steps before this update's collection, as the other runners count.
            progress = (state.env_steps - steps_per_update) / config.total_timesteps
            hparams = annealed_lr(hparams, progress)
        # One epoch keeps the update's key whole (the single-step runner's draws).
        keys = key[None] if config.epochs == 1 else jax.random.split(key, config.epochs)
        (params, opt_state), metrics = jax.lax.scan(
            lambda carry, k: gradient_step(state, hparams, k, carry),
            (state.params, state.opt_state),
            keys,
        )
        return params, opt_state, jax.tree_util.tree_map(jnp.mean, metrics)

    # Through one jit, the metrics' shapes and the update share one trace of learn.
    learn_once = jax.jit(learn)

    def update(state: ValueState, hparams: HParams) -> tuple[ValueState, Metrics]:
        key, collect_key, learn_key = jax.random.split(state.key, 3)
        (env_state, carry, first, extra_state), transitions, episode_stats = collect(
            state, hparams, collect_key
        )
        # The buffer keeps one time stream per environment: [num_envs, rollout_length].
        streams = jax.tree_util.tree_map(lambda x: jnp.swapaxes(x, 0, 1), transitions)
        buffer_state = append_steps(state.buffer, streams)
        env_steps = state.env_steps + steps_per_update
        state = state._replace(
            buffer=buffer_state,
            env=env_state,
            carry=carry,
            first=first,
            env_steps=env_steps,
            extras=extra_state,
        )

        can_learn = (env_steps >= config.learning_starts) & buffer.can_sample(buffer_state)
        skipped = jax.eval_shape(learn_once, state, hparams, learn_key)[2]
        params, opt_state, metrics = jax.lax.cond(
            can_learn,
            lambda: learn_once(state, hparams, learn_key),
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
        return greedy_actions(agent_net, state.params["agent"], obs, carry)

    return Algorithm(
        init=init,
        update=update,
        act=act,
        initial_carry=agent_net.initial_carry,
        steps_per_update=steps_per_update,
    )
