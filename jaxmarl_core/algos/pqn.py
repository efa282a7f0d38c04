"""PQN, parallelised Q-learning (Gallici et al. 2024, "Simplifying Deep Temporal
Difference Learning"): Q(λ) over rollouts of many parallel environments, with
no replay buffer and no target network; LayerNorm keeps the bootstrapped
regression stable without them. ``pqn`` is its independent form, every agent
learning its own Q(h_i, a_i) on its own reward; ``pqn_vdn`` (:mod:`.pqn_vdn`)
learns the sum Σ_i Q(h_i, a_i) on the team reward, as JaxMARL's PQN-VDN;
``pqn_qmix`` (:mod:`.pqn_qmix`) their monotonic mixture, weighted from the
global state by a mixer trained with the agents.

One ``update`` is the actor-critic runner's sequence (:mod:`.actor_critic`,
whose rollouts, minibatches and chunked gradients it shares):

1. collect ``rollout_length`` steps in ``num_envs`` environments, every agent
   ε-greedy on its utilities, ε annealed linearly from ``eps_start`` to
   ``eps_end`` over ``eps_decay_fraction`` of training;
2. the Q(λ) targets of the whole rollout, once, with the parameters that acted
   (the algorithm's ``targets``): bootstrapped from max_a Q at every *true* next
   observation, cut where an episode terminated, so a time-limit truncation
   bootstraps from the episode's last observation;
3. ``epochs`` passes of ``minibatches`` gradient steps on the algorithm's
   ``loss``, (G^λ − Q)². Feed-forward agents draw minibatches of single steps
   from the whole rollout, shuffled over time and environments; recurrent agents
   draw whole sequences of some environments and unroll them from the hidden
   states stored at the rollout's start, the stored-state equivalent of
   JaxMARL's "memory window" of steps carried over from the previous rollout.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import optax
from jumanji.env import Environment

from jaxmarl_core.algos import actor_critic, value_based
from jaxmarl_core.config import Config, ConfigError, Param, lr_param
from jaxmarl_core.core import returns as rl_returns
from jaxmarl_core.core.exploration import decayed_epsilon, epsilon_greedy, masked_max
from jaxmarl_core.core.optim import annealed_lr, apply_gradients, make_optimizer
from jaxmarl_core.core.targets import ends_capacity, next_values, select
from jaxmarl_core.envs.wrappers import VecEnv, VecEnvState
from jaxmarl_core.networks.agents import NORMS, AgentNet, make_agent_net
from jaxmarl_core.types import Algorithm, HParams, Metrics, MultiAgentObservation

# PQN's keys. Defaults sized for the library's small games (matrix, LBF); the
# suites set JaxMARL's (pqn_vdn_ff_mpe.yaml: 256 environments x 16 steps, hidden
# 256, 4 epochs x 16 minibatches, lr 5e-4, max_grad_norm 1, lambda 0.3, gamma 0.9).
PARAMS: dict[str, Param] = {
    "num_envs": Param(16, int, "parallel training environments", low=1),
    "rollout_length": Param(16, int, "steps per environment between updates", low=1),
    "lr": lr_param(5e-4),
    "max_grad_norm": Param(
        1.0, float, "gradient clipping by global norm", low=0.0, low_open=True, traced=True
    ),
    "lambda_": Param(
        0.65,
        float,
        "lambda of the Q(lambda) targets (0: one-step Q-learning)",
        low=0.0,
        high=1.0,
        traced=True,
    ),
    "epochs": Param(4, int, "passes over each rollout", low=1),
    "minibatches": Param(4, int, "minibatches per pass", low=1),
    "norm": Param(
        "layer_norm", str, "normalisation after each hidden layer's product", choices=NORMS
    ),
    "anneal_lr": value_based.PARAMS["anneal_lr"],
    "reward_scale": value_based.PARAMS["reward_scale"],
    "eps_start": value_based.PARAMS["eps_start"],
    "eps_end": value_based.PARAMS["eps_end"],
    "eps_decay_fraction": value_based.PARAMS["eps_decay_fraction"],
}


def validate(values: dict) -> None:
    """Minibatches split the rollout's steps (feed-forward) or its environments (recurrent)."""
    if values["recurrent"]:
        actor_critic.validate_minibatches(values)
        return
    steps = values["num_envs"] * values["rollout_length"]
    if steps % values["minibatches"]:
        raise ConfigError(
            f"minibatches={values['minibatches']} does not divide num_envs * rollout_length = "
            f"{steps}; a feed-forward PQN splits the rollout's steps, so minibatches must be "
            f"a divisor of {steps}"
        )


def q_lambda_targets(
    reward: chex.Array,
    discount: chex.Array,
    done: chex.Array,
    next_value: chex.Array,
    hparams: HParams,
) -> chex.Array:
    """Peng's Q(λ) targets (Peng and Williams 1996; PQN's λ-returns), per agent:

        G^λ_t = r_t + γ d_t [(1 − λ) max_a Q(h'_t, a) + λ G^λ_{t+1}],

    where h'_t is the history extended by the true next observation, d_t is 0 on a
    termination, the return does not flow back across an episode's end (there
    G^λ_t = r_t + γ d_t max_a Q(h'_t, a)) and the rollout's last step bootstraps:
    :func:`jaxmarl_core.core.returns.lambda_returns` with V(h'_t) = max_a Q(h'_t, a).
    λ = 0 is one-step Q-learning's target r_t + γ d_t max_a Q(h'_t, a).

    Args:
        reward, discount: float32[T, B, K]. done: bool[T, B], the episode ended.
        next_value: float32[T, B, K], max_a Q(h'_t, a) (no gradient).
        hparams: ``gamma`` and ``lambda_``.

    Returns:
        float32[T, B, K], without gradient.
    """
    done = jnp.broadcast_to(done[..., None], reward.shape).astype(jnp.float32)
    g = rl_returns.lambda_returns(
        reward, hparams["gamma"] * discount, done, next_value, hparams["lambda_"]
    )
    return jax.lax.stop_gradient(g)


class Joint(NamedTuple):
    """What a mixer reads besides the agents' values (PQN-QMIX's; PQN and PQN-VDN
    read nothing of it).

    Attributes:
        params: the mixer's parameters ψ ({} without a mixer).
        state: float32[T, B, S], the global states z the values are mixed at
            (S = 0 where the algorithm reads none).
    """

    params: Any
    state: chex.Array


def targets(
    reward: chex.Array,
    discount: chex.Array,
    done: chex.Array,
    next_value: chex.Array,
    joint: Joint,
    hparams: HParams,
) -> chex.Array:
    """Independent PQN: every agent's Q(λ) target on its own reward
    (:func:`q_lambda_targets`), float32[T, B, N]; no mixer."""
    return q_lambda_targets(reward, discount, done, next_value, hparams)


def loss(q_taken: chex.Array, target: chex.Array, joint: Joint) -> chex.Array:
    """Independent PQN's squared Q(λ) error of every agent, per sample:

        L_i(θ) = (G^λ_{i,t} − Q(h_{i,t}, a_{i,t}; θ))²

    Args: q_taken float32[T, B, N], Q(h_i, a_i; θ); target float32[T, B, N]; no mixer.
    Returns: float32[T, B, N].
    """
    return (target - q_taken) ** 2


# targets(reward [T, B, N], discount [T, B, N], done bool[T, B], next_value [T, B, N],
# joint at the next states z', hparams) -> G^λ [T, B, K]
Targets = Callable[..., chex.Array]
# loss(q_taken [T, B, N], target [T, B, K], joint at the states z) -> per-sample squared errors
Loss = Callable[[chex.Array, chex.Array, Joint], chex.Array]


# mix(joint, q [T, B, N]) -> the joint value [T, B] of the agents' values q
Mix = Callable[[Joint, chex.Array], chex.Array]


def joint_targets(mix: Mix) -> Targets:
    """The targets of a joint value ``mix`` (PQN-VDN's sum, PQN-QMIX's mixer):
    one Q(λ) target per step on the team reward (:func:`q_lambda_targets`),

        G^λ_t = r_t + γ d_t [(1 − λ) mix(max_a Q(h'_{1,t}, a), ..; z'_t) + λ G^λ_{t+1}],

    bootstrapped from the joint value of the agents' maxima (for a sum or a
    monotonic mixture the greedy joint action is each agent's greedy action).
    The returned function takes reward, discount, next_value float32[T, B, N]
    (a common-reward game repeats r and d for every agent), done bool[T, B], the
    joint at the next states z', hparams; it returns float32[T, B, 1]."""

    def targets(
        reward: chex.Array,
        discount: chex.Array,
        done: chex.Array,
        next_value: chex.Array,
        joint: Joint,
        hparams: HParams,
    ) -> chex.Array:
        joint_next = mix(joint, next_value)[..., None]
        return q_lambda_targets(reward[..., :1], discount[..., :1], done, joint_next, hparams)

    return targets


def joint_loss(mix: Mix) -> Loss:
    """The squared Q(λ) error of a joint value ``mix``, per step:

        L = (G^λ_t − mix(Q(h_{1,t}, a_{1,t}), ..; z_t))²

    The returned function takes q_taken float32[T, B, N], target float32[T, B, 1]
    and the joint at the states z; it returns float32[T, B]."""

    def loss(q_taken: chex.Array, target: chex.Array, joint: Joint) -> chex.Array:
        return (target[..., 0] - mix(joint, q_taken)) ** 2

    return loss


class Mixer(NamedTuple):
    """A mixer trained with the agents (PQN-QMIX's): ``init(key, q float32[1, N],
    z float32[1, S], hparams) -> ψ``; its targets and loss apply it."""

    init: Callable[..., Any]


class Setup(NamedTuple):
    """What a PQN learner is built from (static; closed over by ``update``).

    Attributes:
        config: the validated config.
        venv: the training environments.
        actor: the agents' utility network Q(h_i, ·; θ) (the name :func:`actor_critic.collect`
            reads).
        targets, loss: the algorithm's (:func:`targets`, :func:`loss`).
        optimizer: Adam with gradient clipping, over the agents and the mixer.
        mixer: the algorithm's mixer, or None (then no global state is stored).
    """

    config: Config
    venv: VecEnv
    actor: AgentNet
    targets: Targets
    loss: Loss
    optimizer: optax.GradientTransformation
    mixer: Mixer | None


class PQNState(NamedTuple):
    """The learner state.

    Attributes:
        params: the utility network's parameters θ. mixer: the mixer's ψ ({} for none).
        opt_state: Adam's state of (θ, ψ).
        env: the training environments [B].
        carry: float32[B, N, H] (H = 0 feed-forward), the agents' hidden states
            before reading ``env.obs``.
        first: bool[B], ``env.obs`` is the first observation of its episode.
        key: the learner's key. num_updates: int32[].
    """

    params: Any
    mixer: Any
    opt_state: Any
    env: VecEnvState
    carry: chex.Array
    first: chex.Array
    key: chex.PRNGKey
    num_updates: chex.Array


class Batch(NamedTuple):
    """Training sequences [T, B] (a feed-forward learner's are single steps, [1, T·B]).

    Attributes:
        obs: float32[T, B, N, D], the agents' views.
        action: int32[T, B, N].
        target: float32[T, B, K], G^λ (no gradient).
        mask: float32[T, B, N], ones: every sample counts (what the chunked gradient weighs).
        first: bool[T, B], where the hidden states reset.
        state: float32[T, B, S], the global states (S = 0 without a mixer).
        start: float32[B, N, H], the hidden states at the sequences' start.
    """

    obs: chex.Array
    action: chex.Array
    target: chex.Array
    mask: chex.Array
    first: chex.Array
    state: chex.Array
    start: chex.Array


def behaviour(eps: chex.Array) -> actor_critic.Behaviour:
    """ε-greedy on the agents' utilities, recording max_a Q(h_i, a) over the
    allowed actions: inside an episode, the value the previous step's target
    bootstraps from (:func:`make_batch`)."""

    def act(key: chex.PRNGKey, q: chex.Array, mask: chex.Array):
        actions, _ = epsilon_greedy(key, q, mask, eps)
        return actions, masked_max(q, mask)

    return act


def make_batch(
    setup: Setup,
    params: Any,
    mixer: Any,
    rollout: actor_critic.Rollout,
    start: chex.Array,
    hparams: HParams,
) -> Batch:
    """The rollout's training sequences and their Q(λ) targets, computed with the
    parameters that acted (``params``, and the mixer's ``mixer``)."""
    net = setup.actor
    views = rollout.obs.agents_view
    if net.recurrent:  # the hidden states after each step, which collect does not keep
        carries, q = net.unroll(params, start, views, rollout.first)
        value = masked_max(q, rollout.obs.action_mask)
    else:  # max_a Q(o_t, a) as the acting pass recorded it; no hidden states
        carries = net.initial_carry(rollout.first.shape)
        value = rollout.recorded

    def value_at(carries, next_obs, reset):  # max_a Q(h'_t, a)
        _, q_next = net.step(params, carries, next_obs.agents_view, reset)
        return masked_max(q_next, next_obs.action_mask)

    # Inside an episode the next observation is the next step's, whose value is
    # already known: only episode ends and the rollout's last step need a step more.
    capacity = ends_capacity(*rollout.first.shape, setup.venv.env.episode_length)
    next_value = next_values(value_at, carries, value, rollout.next_obs, rollout.first, capacity)
    reward = hparams["reward_scale"] * rollout.reward

    def states(obs: MultiAgentObservation) -> chex.Array:  # [T, B, S], S = 0 unmixed
        unmixed = jnp.zeros(rollout.first.shape + (0,))
        return unmixed if setup.mixer is None else obs.global_state

    next_joint = Joint(mixer, states(rollout.next_obs))
    target = setup.targets(reward, rollout.discount, rollout.done, next_value, next_joint, hparams)
    batch = Batch(
        obs=views,
        action=rollout.action,
        target=target,
        mask=jnp.ones(rollout.action.shape, jnp.float32),
        first=rollout.first,
        state=states(rollout.obs),
        start=start,
    )
    if net.recurrent:
        return batch
    # Single steps: the whole rollout is one time step of T·B "environments", which
    # the minibatches then shuffle over time and environments alike.
    steps = rollout.first.size
    flat = jax.tree_util.tree_map(
        lambda x: x.reshape((1, steps) + x.shape[2:]), batch._replace(start=None)
    )
    return flat._replace(start=net.initial_carry((steps,)))


def batch_loss(
    setup: Setup, learned: tuple[Any, Any], batch: Batch, hparams: HParams
) -> tuple[chex.Array, Metrics]:
    """The algorithm's loss averaged over the batch's samples; ``learned`` is (θ, ψ)."""
    params, mixer = learned
    _, q = setup.actor.unroll(params, batch.start, batch.obs, batch.first)
    q_taken = select(q, batch.action)
    value = jnp.mean(setup.loss(q_taken, batch.target, Joint(mixer, batch.state)))
    return value, {"loss": value, "q_taken": jnp.mean(q_taken)}


def sgd_step(setup: Setup, carry, batch: Batch, hparams: HParams):
    params, opt_state = carry  # params: (θ, ψ)
    grad_fn = jax.grad(functools.partial(batch_loss, setup), has_aux=True)
    grads, metrics = actor_critic.chunked_gradient(
        grad_fn, params, batch, hparams, setup.actor.recurrent
    )
    params, opt_state = apply_gradients(
        setup.optimizer, opt_state, params, grads, hparams["lr"], hparams["max_grad_norm"]
    )
    return (params, opt_state), metrics


def update(setup: Setup, state: PQNState, hparams: HParams) -> tuple[PQNState, Metrics]:
    """One collect-and-learn iteration."""
    config = setup.config
    steps = state.num_updates * setup.venv.num_envs * config.rollout_length
    if config.anneal_lr:
        hparams = annealed_lr(hparams, steps / config.total_timesteps)
    eps = decayed_epsilon(hparams, steps, config.total_timesteps)

    key, collect_key, learn_key = jax.random.split(state.key, 3)
    keys = jax.random.split(collect_key, config.rollout_length)
    env_state, carry, first, rollout, finished = actor_critic.collect(
        setup, state.params, state.env, state.carry, state.first, keys, behaviour(eps)
    )
    batch = make_batch(setup, state.params, state.mixer, rollout, state.carry, hparams)
    ((params, mixer), opt_state), metrics = actor_critic.epochs_of_minibatches(
        lambda c, minibatch: sgd_step(setup, c, minibatch, hparams),
        ((state.params, state.mixer), state.opt_state),
        batch,
        config.epochs,
        config.minibatches,
        learn_key,
    )
    metrics = {**metrics, "epsilon": eps, **finished.metrics()}
    state = PQNState(
        params=params,
        mixer=mixer,
        opt_state=opt_state,
        env=env_state,
        carry=carry,
        first=first,
        key=key,
        num_updates=state.num_updates + 1,
    )
    return state, metrics


def make_pqn(
    env: Environment, config: Config, targets: Targets, loss: Loss, mixer: Mixer | None = None
) -> Algorithm:
    """``Algorithm(init, update, act, initial_carry, steps_per_update)`` of a PQN
    learner (with ``mixer``, one whose joint value a trained mixer forms)."""
    net = make_agent_net(
        env.num_agents,
        (config.hidden_size,) * config.num_layers,
        env.num_actions,
        config.param_sharing,
        config.recurrent,
        activation=config.activation,
        norm=config.norm,
        agent_ids=config.obs_agent_id,
    )
    venv = VecEnv(env, config.num_envs)
    setup = Setup(
        config, venv, net, targets, loss, make_optimizer(config.optimizer, config.adam_eps), mixer
    )

    def init(key: chex.PRNGKey, hparams: HParams) -> PQNState:
        key, env_key, net_key = jax.random.split(key, 3)
        env_state = setup.venv.reset(env_key)
        params = net.init(net_key, env_state.obs.agents_view[0])
        mixer_params = {}
        if mixer is not None:
            q = jnp.zeros((1, env.num_agents), jnp.float32)
            z = env_state.obs.global_state[:1]  # [1, S]
            mixer_params = mixer.init(jax.random.fold_in(net_key, 1), q, z, hparams)
        return PQNState(
            params=params,
            mixer=mixer_params,
            opt_state=setup.optimizer.init((params, mixer_params)),
            env=env_state,
            carry=net.initial_carry((config.num_envs,)),
            first=jnp.ones((config.num_envs,), bool),
            key=key,
            num_updates=jnp.zeros((), jnp.int32),
        )

    def update_learner(state: PQNState, hparams: HParams) -> tuple[PQNState, Metrics]:
        return update(setup, state, hparams)

    def act(state: PQNState, obs: MultiAgentObservation, carry: chex.Array, key: chex.PRNGKey):
        return value_based.greedy_actions(net, state.params, obs, carry)

    return Algorithm(
        init=init,
        update=update_learner,
        act=act,
        initial_carry=net.initial_carry,
        steps_per_update=config.num_envs * config.rollout_length,
    )


def make(env: Environment, config: Config) -> Algorithm:
    return make_pqn(env, config, targets, loss)
