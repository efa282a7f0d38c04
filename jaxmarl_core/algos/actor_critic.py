"""The actor-critic runner shared by independent REINFORCE, IA2C, IPPO, MAA2C and MAPPO.

One ``update``:

1. collect ``rollout_length`` steps in ``num_envs`` environments inside
   ``lax.scan``, sampling every agent's action from its masked categorical
   policy π(a_i | h_i; φ);
2. optionally standardise the rewards with running statistics;
3. evaluate the critic on every observation and on every *true* next
   observation (``VecStep.next_obs``), so that a truncation bootstraps from the
   last observation of its episode, not from the reset that follows;
4. form advantages and critic targets with the algorithm's estimator
   (Monte-Carlo, n-step or GAE(λ), from :mod:`jaxmarl_core.core.returns`),
   optionally standardising the critic's targets (value normalisation);
5. take ``epochs × minibatches`` gradient steps: the actor on the algorithm's
   policy loss minus an entropy bonus, the critic on ``(y − V)²``; actor and
   critic have their own Adam and their own gradient clipping, as in EPyMARL.

The algorithms differ only where their equations differ:

============  ==================  =======================  ============  ==================
algorithm     policy loss         advantage                critic        epochs/minibatches
============  ==================  =======================  ============  ==================
ireinforce    −Â log π            Monte-Carlo G (− V(h))   none / V(h_i)  1 / 1, whole episodes
ia2c          −Â log π            n-step or GAE            V(h_i)         1 / 1
ippo          clipped surrogate   n-step or GAE            V(h_i)         epochs / minibatches
maa2c         as ia2c             as ia2c                  V(h_i, z)      1 / 1
mappo         as ippo             as ippo                  V(h_i, z)      as ippo
============  ==================  =======================  ============  ==================
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
from jumanji.env import Environment

from jaxmarl_core.config import Config, ConfigError, Param
from jaxmarl_core.core import returns as rl_returns
from jaxmarl_core.core.optim import apply_gradients, make_optimizer
from jaxmarl_core.core.policies import greedy, masked_categorical, sample_with_log_prob
from jaxmarl_core.envs.wrappers import VecEnv, VecEnvState
from jaxmarl_core.networks.agents import MLP, multi_agent
from jaxmarl_core.networks.critics import make_value_critic
from jaxmarl_core.types import Algorithm, HParams, Metrics, MultiAgentObservation

# Keys every actor-critic algorithm accepts (EPyMARL's on-policy defaults:
# 10 parallel environments, hidden 64, rewards standardised, returns not).
PARAMS: dict[str, Param] = {
    "num_envs": Param(10, int, "parallel training environments", low=1),
    "rollout_length": Param(10, int, "steps per environment between updates", low=1),
    "hidden_size": Param(64, int, "width of the hidden layers of actor and critic", low=1),
    "normalise_rewards": Param(
        True, bool, "standardise rewards with their running mean and standard deviation"
    ),
    "normalise_values": Param(
        False, bool, "the critic learns standardised targets (running mean and std of targets)"
    ),
    "ent_coef": Param(0.01, float, "entropy bonus coefficient", low=0.0, traced=True),
}

# Keys of the bootstrapped advantage estimators (IA2C, IPPO, MAA2C, MAPPO).
BOOTSTRAP_PARAMS: dict[str, Param] = {
    "advantage": Param(
        "nstep", str, "advantage estimator: n-step returns or GAE(lambda)", choices=("nstep", "gae")
    ),
    "n_steps": Param(
        5, int, "steps of the n-step returns (cut at episode and rollout ends)", low=1
    ),
    "gae_lambda": Param(
        0.95, float, "lambda of GAE (advantage=gae)", low=0.0, high=1.0, traced=True
    ),
}


class ActorCritic(NamedTuple):
    """A pair of pytrees, one for the actor and one for the critic (parameters,
    optimiser states)."""

    actor: Any
    critic: Any


class RunningMeanStd(NamedTuple):
    """Running mean and variance (Chan et al.'s parallel update); float32[] each."""

    mean: chex.Array
    var: chex.Array
    count: chex.Array

    @classmethod
    def create(cls) -> RunningMeanStd:
        return cls(jnp.float32(0.0), jnp.float32(1.0), jnp.float32(1e-4))

    def update(self, x: chex.Array, weight: chex.Array) -> RunningMeanStd:
        """Adds the samples ``x`` with weights ``weight`` (0 or 1), same shape."""
        n = weight.sum()
        batch_mean = (weight * x).sum() / jnp.maximum(n, 1.0)
        batch_var = (weight * (x - batch_mean) ** 2).sum() / jnp.maximum(n, 1.0)
        total = self.count + n
        delta = batch_mean - self.mean
        mean = self.mean + delta * n / total
        m2 = self.var * self.count + batch_var * n + delta**2 * self.count * n / total
        return RunningMeanStd(mean, m2 / total, total)

    def normalise(self, x: chex.Array) -> chex.Array:
        return (x - self.mean) / jnp.sqrt(self.var + 1e-8)

    def denormalise(self, x: chex.Array) -> chex.Array:
        return x * jnp.sqrt(self.var + 1e-8) + self.mean


class ActorCriticState(NamedTuple):
    params: ActorCritic
    target_critic: Any  # the critic's target network (None without one)
    opt_state: ActorCritic
    env: VecEnvState
    reward_stats: RunningMeanStd
    target_stats: RunningMeanStd
    key: chex.PRNGKey
    num_updates: chex.Array  # int32[]


class Rollout(NamedTuple):
    """What one rollout stores, [T, B, ...].

    Attributes:
        obs: MultiAgentObservation acted on.
        action: int32[T, B, N].
        log_prob: float32[T, B, N], log π_old(a_i | h_i) of the acting policy.
        reward: float32[T, B, N].
        discount: float32[T, B, N], 0 on termination, else 1.
        done: bool[T, B], the episode ended (terminated or truncated).
        next_obs: the true next observation (the last one where an episode ended).
    """

    obs: MultiAgentObservation
    action: chex.Array
    log_prob: chex.Array
    reward: chex.Array
    discount: chex.Array
    done: chex.Array
    next_obs: MultiAgentObservation


class Trajectory(NamedTuple):
    """The inputs of an advantage estimator, [T, B, N, ...] (see core.returns).

    Attributes:
        r_t: float32[T, B, N], rewards (standardised with ``normalise_rewards``).
        discount_t: float32[T, B, N], γ · d_t (0 after a termination).
        done_t: float32[T, B, N], 1 where the episode ended.
        v_t: float32[T, B, N], the critic at the step's observation (and joint
            action, for an action-value critic), in return units; 0 without a critic.
        v_tp1: float32[T, B, N], the (target) critic at the true next observation
            (and the next joint action a_{t+1}, sampled from π where an episode ended).
        q_t: float32[T, B, N, A] or None, the runner's ``action_values`` at step t.
        pi_t: float32[T, B, N, A] or None, π(· | h_i) at step t (with ``action_values``).
        a_t: int32[T, B, N], the joint action taken.
    """

    r_t: chex.Array
    discount_t: chex.Array
    done_t: chex.Array
    v_t: chex.Array
    v_tp1: chex.Array
    q_t: chex.Array | None = None
    pi_t: chex.Array | None = None
    a_t: chex.Array | None = None


class Batch(NamedTuple):
    """Training samples, one per (step, environment): shapes [M, ...].

    Attributes:
        obs: MultiAgentObservation [M].
        action: int32[M, N].
        log_prob: float32[M, N], log π_old(a_i | h_i) at collection.
        advantage: float32[M, N], Â_i (no gradient).
        target: float32[M, N], the critic's regression target y_i (no gradient).
        mask: float32[M, N], 1 for samples that count, 0 for the rest.
    """

    obs: MultiAgentObservation
    action: chex.Array
    log_prob: chex.Array
    advantage: chex.Array
    target: chex.Array
    mask: chex.Array


# policy_loss(log_prob [M, N], batch, hparams) -> (per-sample loss [M, N], extra terms [M, N])
PolicyLoss = Callable[[chex.Array, Batch, HParams], tuple[chex.Array, dict[str, chex.Array]]]
# advantages(trajectory, hparams) -> (advantage [T, B, N], critic target [T, B, N])
Advantages = Callable[[Trajectory, HParams], tuple[chex.Array, chex.Array]]
# action_values(critic_params, obs [T, B], action int32[T, B, N]) -> float32[T, B, N, A]
ActionValues = Callable[[Any, MultiAgentObservation, chex.Array], chex.Array]
# schedule(hparams, progress in [0, 1]) -> hparams for this update
Schedule = Callable[[HParams, chex.Array], HParams]


def masked_mean(x: chex.Array, mask: chex.Array) -> chex.Array:
    """Mean of ``x`` over the entries where ``mask`` is 1: float32[]."""
    return (x * mask).sum() / jnp.maximum(mask.sum(), 1.0)


def first_episode_mask(done: chex.Array) -> chex.Array:
    """1 for the steps of each environment's first episode in the rollout.

    Args:
        done: bool[T, B].

    Returns:
        float32[T, B]: 1 up to and including the first ``done`` of each column.
    """
    done = done.astype(jnp.float32)
    return (jnp.cumsum(done, axis=0) - done == 0).astype(jnp.float32)


# ---------------------------------------------------------------------------
# Advantage estimators


def monte_carlo_advantages(baseline: bool) -> Advantages:
    """Â_t = G_t − V(h_t) (``baseline``) or G_t; the critic's target is G_t.

    G_t is the Monte-Carlo return to the end of the episode
    (:func:`jaxmarl_core.core.returns.monte_carlo_returns`).
    """

    def advantages(traj: Trajectory, hparams: HParams) -> tuple[chex.Array, chex.Array]:
        g = rl_returns.monte_carlo_returns(traj.r_t, traj.discount_t, traj.done_t)
        return (g - traj.v_t if baseline else g), g

    return advantages


def bootstrapped_advantages(config: Config) -> Advantages:
    """n-step (``advantage=nstep``) or GAE(λ) (``advantage=gae``) advantages.

    - n-step: y_t = G^(n)_t, Â_t = y_t − V(h_t);
    - GAE: Â_t = GAE(λ)_t, y_t = Â_t + V(h_t) (the λ-return).
    """
    if config.advantage == "nstep":
        n = config.n_steps

        def advantages(traj: Trajectory, hparams: HParams) -> tuple[chex.Array, chex.Array]:
            y = rl_returns.n_step_returns(traj.r_t, traj.discount_t, traj.done_t, traj.v_tp1, n)
            return y - traj.v_t, y

    else:

        def advantages(traj: Trajectory, hparams: HParams) -> tuple[chex.Array, chex.Array]:
            adv = rl_returns.generalized_advantage_estimation(
                traj.r_t, traj.discount_t, traj.done_t, traj.v_t, traj.v_tp1, hparams["gae_lambda"]
            )
            return adv, adv + traj.v_t

    return advantages


def validate_minibatches(values: dict) -> None:
    """The rollout (num_envs * rollout_length samples) must split into the minibatches."""
    samples = values["num_envs"] * values["rollout_length"]
    if samples % values["minibatches"]:
        raise ConfigError(
            f"minibatches={values['minibatches']} does not divide num_envs * rollout_length = "
            f"{samples}; minibatches must be a divisor of {samples}"
        )


# ---------------------------------------------------------------------------
# The runner


def make_actor_critic(
    env: Environment,
    config: Config,
    policy_loss: PolicyLoss,
    advantages: Advantages,
    *,
    centralised_critic: bool = False,
    use_critic: bool = True,
    critic: Any = None,
    action_values: ActionValues | None = None,
    target_network: bool = False,
    schedule: Schedule | None = None,
    episodic: bool = False,
    rollout_length: int | None = None,
    epochs: int = 1,
    minibatches: int = 1,
) -> Algorithm:
    """Builds ``Algorithm(init, update, act)`` for an actor-critic learner.

    Args:
        env: the environment.
        config: a validated config with the keys of ``PARAMS``.
        policy_loss: the algorithm's actor loss per sample.
        advantages: the algorithm's advantage estimator.
        centralised_critic: V(h_i, z) instead of V(h_i) (for the default critic).
        use_critic: learn a critic (REINFORCE without a baseline has none).
        critic: another critic in place of V: any object with
            ``init(key, obs, action)`` and ``apply(params, obs, action) ->
            float32[..., N]``; unless its ``sees_action`` attribute is False, the
            runner samples the next joint action a_{t+1} ~ π where an episode
            ended, for ``v_tp1`` (e.g. Q(h_i, z, a) of COMA).
        action_values: ``action_values(critic_params, obs, action)``, filled
            into ``Trajectory.q_t`` beside ``pi_t`` and ``a_t``.
        target_network: bootstrap ``v_tp1`` from a target copy of the critic,
            moved towards it by ``hparams["target_tau"]`` after every update.
        schedule: ``schedule(hparams, progress)`` changes the hyperparameters of
            an update by training progress (env steps / total_timesteps).
        episodic: reset every environment at the start of each update and learn
            only from each environment's first episode, so that every sample
            has its complete Monte-Carlo return (REINFORCE).
        rollout_length: steps per environment per update; default
            ``config.rollout_length``.
        epochs, minibatches: passes over the rollout and minibatches per pass.
    """
    num_envs = config.num_envs
    num_steps = rollout_length or config.rollout_length
    num_samples = num_envs * num_steps
    if num_samples % minibatches:
        raise ConfigError(f"minibatches={minibatches} does not divide {num_samples} samples")
    venv = VecEnv(env, num_envs)
    hidden = (config.hidden_size,) * config.num_layers
    actor = multi_agent(
        MLP(hidden=hidden, out=env.num_actions, out_scale=0.01),
        env.num_agents,
        config.param_sharing,
    )
    if critic is None:
        critic = make_value_critic(env.num_agents, hidden, config.param_sharing, centralised_critic)
    sees_action = use_critic and getattr(critic, "sees_action", True)
    optimizer = make_optimizer()

    def init(key: chex.PRNGKey, hparams: HParams) -> ActorCriticState:
        key, env_key, actor_key, critic_key = jax.random.split(key, 4)
        env_state = venv.reset(env_key)
        one = jax.tree_util.tree_map(lambda x: x[0], env_state.obs)
        no_action = jnp.zeros((env.num_agents,), jnp.int32)
        params = ActorCritic(
            actor=actor.init(actor_key, one.agents_view),
            critic=critic.init(critic_key, one, no_action) if use_critic else {},
        )
        return ActorCriticState(
            params=params,
            target_critic=params.critic if target_network else None,
            opt_state=ActorCritic(optimizer.init(params.actor), optimizer.init(params.critic)),
            env=env_state,
            reward_stats=RunningMeanStd.create(),
            target_stats=RunningMeanStd.create(),
            key=key,
            num_updates=jnp.zeros((), jnp.int32),
        )

    def collect(params: ActorCritic, env_state: VecEnvState, key: chex.PRNGKey):
        def step(env_state: VecEnvState, step_key: chex.PRNGKey):
            obs = env_state.obs
            logits = actor.apply(params.actor, obs.agents_view)  # [B, N, A]
            action, log_prob = sample_with_log_prob(step_key, logits, obs.action_mask)
            env_state, out = venv.step(env_state, action)
            transition = Rollout(
                obs=obs,
                action=action,
                log_prob=log_prob,
                reward=out.reward,
                discount=out.discount,
                done=out.done,
                next_obs=out.next_obs,
            )
            return env_state, (transition, out.episode_return)

        keys = jax.random.split(key, num_steps)
        return jax.lax.scan(step, env_state, keys)

    def next_actions(actor_params: Any, rollout: Rollout, key: chex.PRNGKey) -> chex.Array:
        """a_{t+1}: the next step's action, or a' ~ π(· | h'_t) where the episode
        ended or the rollout does: int32[T, B, N]."""
        logits = actor.apply(actor_params, rollout.next_obs.agents_view)
        sampled, _ = sample_with_log_prob(key, logits, rollout.next_obs.action_mask)
        following = jnp.concatenate([rollout.action[1:], sampled[-1:]], axis=0)
        return jnp.where(rollout.done[..., None], sampled, following)

    def values(critic_params: Any, obs: MultiAgentObservation, action, stats: RunningMeanStd):
        """The critic in return units, float32[T, B, N] (0 without a critic)."""
        if not use_critic:
            return jnp.zeros(obs.action_mask.shape[:-1], jnp.float32)
        v = critic.apply(critic_params, obs, action)
        return stats.denormalise(v) if config.normalise_values else v

    def loss(params: ActorCritic, batch: Batch, hparams: HParams) -> tuple[chex.Array, Metrics]:
        """Actor: policy loss − c_ent H(π); critic: (y − V)². Separate parameters,
        so one gradient of the sum gives both."""
        logits = actor.apply(params.actor, batch.obs.agents_view)  # [M, N, A]
        pi = masked_categorical(logits, batch.obs.action_mask)
        log_prob = pi.log_prob(batch.action)
        per_sample, extras = policy_loss(log_prob, batch, hparams)
        policy = masked_mean(per_sample, batch.mask)
        entropy = masked_mean(pi.entropy(), batch.mask)
        actor_loss = policy - hparams["ent_coef"] * entropy
        if use_critic:
            value = critic.apply(params.critic, batch.obs, batch.action)  # [M, N]
            critic_loss = masked_mean((batch.target - value) ** 2, batch.mask)
        else:
            critic_loss = jnp.zeros((), jnp.float32)
        metrics = {
            "actor_loss": policy,
            "critic_loss": critic_loss,
            "entropy": entropy,
            **{k: masked_mean(v, batch.mask) for k, v in extras.items()},
        }
        return actor_loss + critic_loss, metrics

    def sgd_step(carry, batch: Batch, hparams: HParams):
        params, opt_state = carry
        grads, metrics = jax.grad(loss, has_aux=True)(params, batch, hparams)
        lr, clip = hparams["lr"], hparams["max_grad_norm"]
        actor_params, actor_opt = apply_gradients(
            optimizer, opt_state.actor, params.actor, grads.actor, lr, clip
        )
        critic_params, critic_opt = params.critic, opt_state.critic
        if use_critic:
            critic_params, critic_opt = apply_gradients(
                optimizer, opt_state.critic, params.critic, grads.critic, lr, clip
            )
        carry = (ActorCritic(actor_params, critic_params), ActorCritic(actor_opt, critic_opt))
        return carry, metrics

    def learn(params: ActorCritic, opt_state: ActorCritic, batch: Batch, hparams, key):
        def epoch(carry, epoch_key):
            shuffled = batch
            if minibatches > 1:
                perm = jax.random.permutation(epoch_key, num_samples)
                shuffled = jax.tree_util.tree_map(lambda x: x[perm], batch)
            split = jax.tree_util.tree_map(
                lambda x: x.reshape((minibatches, num_samples // minibatches) + x.shape[1:]),
                shuffled,
            )
            return jax.lax.scan(lambda c, mb: sgd_step(c, mb, hparams), carry, split)

        keys = jax.random.split(key, epochs)
        (params, opt_state), metrics = jax.lax.scan(epoch, (params, opt_state), keys)
        return params, opt_state, jax.tree_util.tree_map(jnp.mean, metrics)

    def update(state: ActorCriticState, hparams: HParams) -> tuple[ActorCriticState, Metrics]:
        if schedule is not None:
            progress = state.num_updates * num_samples / config.total_timesteps
            hparams = schedule(hparams, progress.astype(jnp.float32))
        key, reset_key, collect_key, next_key, learn_key = jax.random.split(state.key, 5)
        env_state = venv.reset(reset_key) if episodic else state.env
        env_state, (rollout, episode_return) = collect(state.params, env_state, collect_key)

        steps = first_episode_mask(rollout.done) if episodic else jnp.ones(rollout.done.shape)
        mask = jnp.broadcast_to(steps[..., None], rollout.reward.shape)  # [T, B, N]
        reward_stats, reward = state.reward_stats, rollout.reward
        if config.normalise_rewards:
            reward_stats = reward_stats.update(reward, mask)
            reward = reward_stats.normalise(reward)

        critic_params = state.params.critic
        bootstrap_params = state.target_critic if target_network else critic_params
        next_action = next_actions(state.params.actor, rollout, next_key) if sees_action else None
        stats = state.target_stats
        trajectory = Trajectory(
            r_t=reward,
            discount_t=hparams["gamma"] * rollout.discount,
            done_t=jnp.broadcast_to(rollout.done[..., None], reward.shape).astype(jnp.float32),
            v_t=values(critic_params, rollout.obs, rollout.action, stats),
            v_tp1=values(bootstrap_params, rollout.next_obs, next_action, stats),
            a_t=rollout.action,
        )
        if action_values is not None:
            q = action_values(critic_params, rollout.obs, rollout.action)
            logits = actor.apply(state.params.actor, rollout.obs.agents_view)
            trajectory = trajectory._replace(
                q_t=stats.denormalise(q) if config.normalise_values else q,
                pi_t=masked_categorical(logits, rollout.obs.action_mask).probs,
            )
        advantage, target = advantages(trajectory, hparams)
        target_stats = state.target_stats
        if config.normalise_values:
            target_stats = target_stats.update(target, mask)
            target = target_stats.normalise(target)

        batch = Batch(
            obs=rollout.obs,
            action=rollout.action,
            log_prob=rollout.log_prob,
            advantage=jax.lax.stop_gradient(advantage),
            target=jax.lax.stop_gradient(target),
            mask=mask,
        )
        batch = jax.tree_util.tree_map(lambda x: x.reshape((num_samples,) + x.shape[2:]), batch)
        params, opt_state, metrics = learn(state.params, state.opt_state, batch, hparams, learn_key)
        target_critic = state.target_critic
        if target_network:
            tau = hparams["target_tau"]
            target_critic = jax.tree_util.tree_map(
                lambda t, o: t + tau * (o - t), target_critic, params.critic
            )
        finished = rollout.done.astype(jnp.float32)
        metrics = {
            **metrics,
            "advantage": masked_mean(advantage, mask),
            "episode_return_sum": jnp.sum(finished * episode_return),
            "episodes": jnp.sum(finished),
        }
        state = ActorCriticState(
            params=params,
            target_critic=target_critic,
            opt_state=opt_state,
            env=env_state,
            reward_stats=reward_stats,
            target_stats=target_stats,
            key=key,
            num_updates=state.num_updates + 1,
        )
        return state, metrics

    def act(state: ActorCriticState, obs: MultiAgentObservation, carry, key: chex.PRNGKey):
        """Greedy: argmax_a π(a | h_i) among the allowed actions, int32[B, N]."""
        return greedy(actor.apply(state.params.actor, obs.agents_view), obs.action_mask), carry

    def initial_carry(batch_shape=()):
        return jnp.zeros(tuple(batch_shape) + (env.num_agents, 0), jnp.float32)

    return Algorithm(
        init=init, update=update, act=act, initial_carry=initial_carry, steps_per_update=num_samples
    )
