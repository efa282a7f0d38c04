"""The actor-critic runner shared by REINFORCE, IA2C, IPPO, MAA2C, MAPPO, COMA and Pareto-AC.

One ``update`` reads top to bottom as the functions below:

1. :func:`collect`: ``rollout_length`` steps in ``num_envs`` environments inside
   ``lax.scan``; every agent samples its action from its masked categorical
   policy π(a_i | h_i; φ), its hidden state reset to zero where an episode
   starts. The rollout keeps the ``first`` flags (this observation is the first
   of its episode) and the hidden states at its start.
2. :func:`make_batch`: standardise the rewards (optionally), evaluate the critic
   on every observation and on every *true* next observation
   (``VecStep.next_obs``, the last observation where an episode ended), and let
   the critic form the advantages and its own regression targets.
3. :func:`learn`: ``epochs × minibatches`` gradient steps. Minibatches split the
   environment axis, so every sequence stays whole, and each recomputes the
   policy (and a recurrent critic) by unrolling from the stored start states;
   the actor minimises the algorithm's policy loss minus an entropy bonus, the
   critic ``(y − V)²``, each with its own Adam and gradient clipping (EPyMARL).
   On a CPU each minibatch's gradient is summed over cache-sized chunks of its
   environments (:func:`gradient`).

Feed-forward agents go through the same code: their hidden state is an empty
array [B, N, 0] (:func:`jaxmarl_core.networks.agents.make_agent_net`).

The algorithms differ only where their equations differ: the policy loss
(their module), the critic (a :class:`Critic`) and its advantage:

============  ==================  =================================  ==================
algorithm     policy loss         critic and advantage               epochs/minibatches
============  ==================  =================================  ==================
ireinforce    −Â log π            none (G) or V(h_i) (G − V)         1 / 1, whole episodes
ia2c          −Â log π            V(h_i): n-step or GAE              1 / 1
ippo          clipped surrogate   V(h_i): n-step or GAE              epochs / minibatches
maa2c         as ia2c             V(h_i, z): as ia2c                 1 / 1
mappo         as ippo             V(h_i, z): as ippo                 as ippo
coma          as ia2c             Q(h_i, z, a): Q − Σ π Q            1 / 1
pac           as ia2c             Q(h_i, z, a): Q^{π+} − Σ π Q^{π+}  1 / 1
============  ==================  =================================  ==================
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

import chex
import jax
import jax.numpy as jnp
import optax
from jumanji.env import Environment

from jaxmarl_core.config import Config, ConfigError, Param
from jaxmarl_core.core import returns as rl_returns
from jaxmarl_core.core.masks import masked_mean
from jaxmarl_core.core.optim import annealed_lr, apply_gradients, make_optimizer
from jaxmarl_core.core.policies import greedy, masked_categorical, sample_with_log_prob
from jaxmarl_core.envs.wrappers import Finished, VecEnv, VecEnvState
from jaxmarl_core.networks.agents import AgentNet, make_agent_net
from jaxmarl_core.networks.critics import ValueCritic, make_value_critic
from jaxmarl_core.networks.q_critics import ActionValueCritic, make_action_value_critic
from jaxmarl_core.types import Algorithm, HParams, Metrics, MultiAgentObservation

# Keys every actor-critic algorithm accepts (EPyMARL's on-policy defaults:
# 10 parallel environments, hidden 64, rewards standardised, returns not).
PARAMS: dict[str, Param] = {
    "num_envs": Param(10, int, "parallel training environments", low=1),
    "rollout_length": Param(10, int, "steps per environment between updates", low=1),
    "hidden_size": Param(64, int, "width of the hidden layers of actor and critic", low=1),
    "post_gru_layers": Param(
        0,
        int,
        "recurrent actor and V critic: hidden layers (hidden_size wide) between the GRU "
        "and the output layer, as JaxMARL's and Mava's recurrent networks have",
        low=0,
    ),
    "normalise_rewards": Param(
        True, bool, "standardise rewards with their running mean and standard deviation"
    ),
    "normalise_values": Param(
        False, bool, "the critic learns standardised targets (running mean and std of targets)"
    ),
    "ent_coef": Param(0.01, float, "entropy bonus coefficient", low=0.0, traced=True),
    "vf_coef": Param(
        1.0,
        float,
        "coefficient of the critic's loss (before gradient clipping)",
        low=0.0,
        traced=True,
    ),
    "critic_lr": Param(
        0.0, float, "the critic's learning rate; 0: the same as lr", low=0.0, traced=True
    ),
    "anneal_lr": Param(False, bool, "decay the learning rates linearly to 0 over training"),
    "normalise_advantages": Param(
        False, bool, "standardise the advantages within each minibatch (mean 0, std 1)"
    ),
    "bootstrap_truncation": Param(
        True,
        bool,
        "bootstrap from the next observation's value where a time limit ends an episode; "
        "false: the time limit ends the return as a termination does (JaxMARL's and "
        "PureJaxRL's PPO)",
    ),
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
    optimiser states, hidden states)."""

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
    """The learner state.

    Attributes:
        params, opt_state: ``ActorCritic`` pairs.
        target_critic: the critic's target network (None without one).
        env: the training environments [B].
        carry: ``ActorCritic`` of hidden states float32[B, N, H] (H = 0
            feed-forward): the actor's and the critic's memory of each running
            episode, before reading ``env.obs``.
        first: bool[B], ``env.obs`` is the first observation of its episode.
        reward_stats, target_stats: running statistics of rewards and targets.
        key: the learner's key. num_updates: int32[].
    """

    params: ActorCritic
    target_critic: Any
    opt_state: ActorCritic
    env: VecEnvState
    carry: ActorCritic
    first: chex.Array
    reward_stats: RunningMeanStd
    target_stats: RunningMeanStd
    key: chex.PRNGKey
    num_updates: chex.Array


class Rollout(NamedTuple):
    """What one rollout stores, time-major [T, B, ...].

    Attributes:
        obs: MultiAgentObservation acted on.
        first: bool[T, B], ``obs`` is the first observation of its episode (the
            hidden states were reset before reading it).
        action: int32[T, B, N].
        recorded: float32[T, B, N], what the behaviour recorded of each agent's
            step: log π_old(a_i | h_i) of the acting policy (the actor-critics),
            max_a Q(h_i, a) (PQN's ε-greedy).
        reward: float32[T, B, N].
        discount: float32[T, B, N], 0 on termination, else 1.
        done: bool[T, B], the episode ended (terminated or truncated).
        next_obs: the true next observation (the last one where an episode ended).
    """

    obs: MultiAgentObservation
    first: chex.Array
    action: chex.Array
    recorded: chex.Array
    reward: chex.Array
    discount: chex.Array
    done: chex.Array
    next_obs: MultiAgentObservation


class Trajectory(NamedTuple):
    """The inputs of an advantage estimator, [T, B, N] (see core.returns), in return units.

    Attributes:
        r_t: rewards (standardised with ``normalise_rewards``).
        discount_t: γ · d_t (0 after a termination).
        done_t: 1 where the episode ended.
        v_t: the critic's estimate at step t (V(h_t), or Q(h_t, z_t, a_t)).
        v_tp1: the (target) critic at the true next observation.
    """

    r_t: chex.Array
    discount_t: chex.Array
    done_t: chex.Array
    v_t: chex.Array
    v_tp1: chex.Array


class Batch(NamedTuple):
    """Training sequences: time-major fields [T, B, ...] and start states [B, ...].

    Attributes:
        obs: MultiAgentObservation [T, B].
        action: int32[T, B, N].
        log_prob: float32[T, B, N], log π_old(a_i | h_i) at collection.
        advantage: float32[T, B, N], Â_i (no gradient).
        target: float32[T, B, N], the critic's regression target y_i (no gradient).
        mask: float32[T, B, N], 1 for samples that count, 0 for the rest.
        first: bool[T, B], where the hidden states reset.
        start: ``ActorCritic`` of hidden states float32[B, N, H] at the rollout's start.
        value: float32[T, B, N], the critic's output at collection (for value clipping).
    """

    obs: MultiAgentObservation
    action: chex.Array
    log_prob: chex.Array
    advantage: chex.Array
    target: chex.Array
    mask: chex.Array
    first: chex.Array
    start: ActorCritic
    value: chex.Array


# policy_loss(log_prob [..., N], batch, hparams) -> (per-sample loss [..., N], extras [..., N])
PolicyLoss = Callable[[chex.Array, Batch, HParams], tuple[chex.Array, dict[str, chex.Array]]]
# advantages(trajectory, hparams) -> (advantage [T, B, N], critic target [T, B, N])
Advantages = Callable[[Trajectory, HParams], tuple[chex.Array, chex.Array]]
# action_values(critic_params, obs [...], action int32[..., N]) -> float32[..., N, A]
ActionValues = Callable[[Any, MultiAgentObservation, chex.Array], chex.Array]
# schedule(hparams, progress in [0, 1]) -> hparams for this update
Schedule = Callable[[HParams, chex.Array], HParams]


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


def monte_carlo_advantages(traj: Trajectory, hparams: HParams) -> tuple[chex.Array, chex.Array]:
    """Â_t = G_t − V(h_t); the critic's target is G_t.

    G_t is the Monte-Carlo return to the end of the episode
    (:func:`jaxmarl_core.core.returns.monte_carlo_returns`).
    """
    g = rl_returns.monte_carlo_returns(traj.r_t, traj.discount_t, traj.done_t)
    return g - traj.v_t, g


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


def action_value_advantage(q: chex.Array, pi: chex.Array, action: chex.Array) -> chex.Array:
    """The advantage of an action-value critic over agent i's own actions:

        Adv_i = Q_i(a_i) − Σ_a' π(a' | h_i) Q_i(a')

    COMA (ch. 9.4.4) takes Q_i(·) = Q(h_i, z, ⟨·, a_-i⟩) with the others' taken
    actions (the counterfactual baseline); Pareto-AC takes Q_i(·) = Q^{π+}(h_i, z, ·),
    the others playing their part of the best joint action.

    Args:
        q: float32[..., N, A], Q_i(a') for every own action a'.
        pi: float32[..., N, A], π(a' | h_i).
        action: int32[..., N], the joint action taken.

    Returns:
        float32[..., N].
    """
    chex.assert_equal_shape((q, pi))
    q_taken = jnp.take_along_axis(q, action[..., None], axis=-1)[..., 0]
    baseline = jnp.sum(pi * q, axis=-1)
    return q_taken - baseline


# ---------------------------------------------------------------------------
# Critics


class Critic(Protocol):
    """What the runner asks of a critic.

    Estimates are in the critic's own units (standardised targets with
    ``normalise_values``); ``to_returns`` maps them to return units. Hidden
    states are float32[..., N, H], H = 0 for a feed-forward critic.

    Attributes:
        target_network: bootstrap from a copy of the critic moved towards it by
            ``hparams["target_tau"]`` after every update.
    """

    target_network: bool

    def init(self, key: chex.PRNGKey, obs: MultiAgentObservation, action: chex.Array) -> Any:
        """Parameters, from one unbatched step: obs [N, ...], action int32[N]."""
        ...

    def initial_carry(self, batch_shape: tuple[int, ...]) -> chex.Array:
        """Hidden states at an episode's start: float32[*batch_shape, N, H] (zeros)."""
        ...

    def values(
        self,
        params: Any,
        carry: chex.Array,
        obs: MultiAgentObservation,
        action: chex.Array,
        first: chex.Array,
    ) -> tuple[chex.Array, chex.Array]:
        """The estimate that is regressed on the target, over whole sequences.

        Args:
            carry: [B, N, H] at the sequences' start. obs: [T, B].
            action: int32[T, B, N]. first: bool[T, B].

        Returns:
            (hidden states after each step [T, B, N, H], estimates float32[T, B, N]).
        """
        ...

    def next_values(
        self,
        params: Any,
        carries: chex.Array,
        next_obs: MultiAgentObservation,
        next_action: chex.Array,
    ) -> chex.Array:
        """The bootstrap value at the true next observation, float32[T, B, N]:
        the history of step t (``carries[t]``) extended by ``next_obs[t]``, and the
        next joint action ``next_action[t]`` for a critic that sees actions."""
        ...

    def advantages(
        self,
        params: Any,
        traj: Trajectory,
        rollout: Rollout,
        pi: chex.Array,
        to_returns: Callable[[chex.Array], chex.Array],
        hparams: HParams,
    ) -> tuple[chex.Array, chex.Array]:
        """(Â float32[T, B, N], the critic's target y float32[T, B, N]) in return units.

        Args:
            params: the online critic. traj: in return units.
            rollout: the rollout. pi: float32[T, B, N, A], π(· | h_i) that acted.
        """
        ...


@dataclasses.dataclass(frozen=True)
class NoCritic:
    """REINFORCE without a baseline: Â_t = G_t, no parameters, nothing to learn."""

    num_agents: int
    target_network: bool = False

    def init(self, key, obs, action):
        return {}

    def initial_carry(self, batch_shape):
        return jnp.zeros(tuple(batch_shape) + (self.num_agents, 0), jnp.float32)

    def values(self, params, carry, obs, action, first):
        return jnp.zeros(action.shape + (0,), jnp.float32), jnp.zeros(action.shape, jnp.float32)

    def next_values(self, params, carries, next_obs, next_action):
        return jnp.zeros(next_obs.action_mask.shape[:-1], jnp.float32)

    def advantages(self, params, traj, rollout, pi, to_returns, hparams):
        g = rl_returns.monte_carlo_returns(traj.r_t, traj.discount_t, traj.done_t)
        return g, jnp.zeros_like(g)  # (y − V)² = 0: nothing is regressed


@dataclasses.dataclass(frozen=True)
class StateValueCritic:
    """V(h_i) or V(h_i, z), feed-forward or recurrent, with the algorithm's estimator
    (Monte-Carlo, n-step or GAE) of Â and y."""

    net: ValueCritic
    estimator: Advantages
    target_network: bool = False

    def init(self, key, obs, action):
        return self.net.init(key, obs)

    def initial_carry(self, batch_shape):
        return self.net.initial_carry(batch_shape)

    def values(self, params, carry, obs, action, first):
        return self.net.unroll(params, carry, obs, first)

    def next_values(self, params, carries, next_obs, next_action):
        # Exact for both kinds: a feed-forward critic ignores the carry, a recurrent
        # one reads next_obs after the history of step t, with no reset.
        no_reset = jnp.zeros(next_obs.step_count.shape, bool)
        return self.net.step(params, carries, next_obs, no_reset)[1]

    def advantages(self, params, traj, rollout, pi, to_returns, hparams):
        return self.estimator(traj, hparams)


@dataclasses.dataclass(frozen=True)
class QCritic:
    """Q(h_i, z, ⟨a_i, a_-i⟩) of COMA and Pareto-AC, learned on-policy from n-step
    targets bootstrapped with a target network at (h'_i, z', a_{t+1}).

    ``action_values(params, obs, action) -> float32[..., N, A]`` is what the
    advantage compares (:func:`action_value_advantage`): COMA's Q with the
    others' taken actions, or Pareto-AC's Q^{π+}.

    The critic is feed-forward on (o_i, z, a) even with recurrent actors: it is
    used only in training, z carries the centralised information, and keeping
    it memoryless lets Pareto-AC enumerate the others' joint actions per sample
    without a hidden state per joint action.
    """

    net: ActionValueCritic
    action_values: ActionValues
    num_agents: int
    n_steps: int
    target_network: bool = True

    def init(self, key, obs, action):
        return self.net.init(key, obs, action)

    def initial_carry(self, batch_shape):
        return jnp.zeros(tuple(batch_shape) + (self.num_agents, 0), jnp.float32)

    def values(self, params, carry, obs, action, first):
        return jnp.zeros(action.shape + (0,), jnp.float32), self.net.apply(params, obs, action)

    def next_values(self, params, carries, next_obs, next_action):
        return self.net.apply(params, next_obs, next_action)

    def advantages(self, params, traj, rollout, pi, to_returns, hparams):
        y = rl_returns.n_step_returns(
            traj.r_t, traj.discount_t, traj.done_t, traj.v_tp1, self.n_steps
        )
        q = to_returns(self.action_values(params, rollout.obs, rollout.action))
        return action_value_advantage(q, pi, rollout.action), y


def hidden_sizes(config: Config) -> tuple[int, ...]:
    return (config.hidden_size,) * config.num_layers


def post_gru_sizes(config: Config) -> tuple[int, ...]:
    """Widths of a recurrent actor's or V critic's hidden layers after its GRU."""
    return (config.hidden_size,) * config.post_gru_layers


def state_value_critic(
    env: Environment, config: Config, estimator: Advantages, centralised: bool = False
) -> StateValueCritic:
    """V(h_i) or (``centralised``) V(h_i, z), recurrent when ``config.recurrent``."""
    net = make_value_critic(
        env.num_agents,
        hidden_sizes(config),
        config.param_sharing,
        centralised,
        config.recurrent,
        config.activation,
        post_gru=post_gru_sizes(config),
        agent_ids=config.obs_agent_id,
    )
    return StateValueCritic(net, estimator)


def action_value_critic(env: Environment, config: Config) -> ActionValueCritic:
    """Q(h_i, z, ⟨·, a_-i⟩) of COMA and Pareto-AC, an MLP of ``hidden_sizes(config)``."""
    return make_action_value_critic(
        env.num_agents,
        env.num_actions,
        hidden_sizes(config),
        config.param_sharing,
        config.activation,
        agent_ids=config.obs_agent_id,
    )


def validate_minibatches(values: dict) -> None:
    """Minibatches are whole sequences of some environments: they must split num_envs."""
    if values["num_envs"] % values["minibatches"]:
        raise ConfigError(
            f"minibatches={values['minibatches']} does not divide num_envs={values['num_envs']}; "
            f"minibatches split the parallel environments (whole sequences), so minibatches "
            f"must be a divisor of {values['num_envs']}"
        )


# ---------------------------------------------------------------------------
# The runner


# On a CPU, the most rows (steps x environments x agents) of one gradient chunk:
# 256-768 rows ran 1.35-1.5x faster than 2048-131072 (see :func:`gradient`).
CPU_CHUNK_ROWS = 512
RECURRENT_MIN_STEP_ROWS = 64


class Setup(NamedTuple):
    """What an actor-critic learner is built from (static; closed over by ``update``).

    Attributes:
        config: the validated config.
        venv: the training environments.
        actor: π(a_i | h_i; φ), feed-forward or recurrent.
        critic: a :class:`Critic`.
        policy_loss: the algorithm's per-sample actor loss.
        optimizer: Adam with gradient clipping (one state each for actor and critic).
        num_steps: T, steps per environment per update.
        epochs, minibatches: passes over the rollout, minibatches per pass.
        episodic: reset every environment (and hidden state) at the start of
            each update and learn only from each environment's first episode,
            so that every sample has its complete Monte-Carlo return (REINFORCE).
        schedule: changes the hyperparameters of an update by training progress.
        value_clip: clip the critic's change from its collection-time value by
            ``clip_eps`` in its loss (PPO's value clipping).
    """

    config: Config
    venv: VecEnv
    actor: AgentNet
    critic: Critic
    policy_loss: PolicyLoss
    optimizer: optax.GradientTransformation
    num_steps: int
    epochs: int
    minibatches: int
    episodic: bool
    schedule: Schedule | None
    value_clip: bool = False


def make_setup(
    env: Environment,
    config: Config,
    policy_loss: PolicyLoss,
    critic: Critic,
    *,
    rollout_length: int | None = None,
    epochs: int = 1,
    minibatches: int = 1,
    episodic: bool = False,
    schedule: Schedule | None = None,
    value_clip: bool = False,
) -> Setup:
    """The :class:`Setup` of an algorithm; ``rollout_length`` defaults to the config's."""
    if config.num_envs % minibatches:
        raise ConfigError(f"minibatches={minibatches} does not divide num_envs={config.num_envs}")
    actor = make_agent_net(
        env.num_agents,
        hidden_sizes(config),
        env.num_actions,
        config.param_sharing,
        config.recurrent,
        out_scale=0.01,
        activation=config.activation,
        post_gru=post_gru_sizes(config),
        agent_ids=config.obs_agent_id,
    )
    return Setup(
        config=config,
        venv=VecEnv(env, config.num_envs),
        actor=actor,
        critic=critic,
        policy_loss=policy_loss,
        optimizer=make_optimizer(config.optimizer, config.adam_eps),
        num_steps=rollout_length or config.rollout_length,
        epochs=epochs,
        minibatches=minibatches,
        episodic=episodic,
        schedule=schedule,
        value_clip=value_clip,
    )


def initial_carry(setup: Setup, batch_shape: tuple[int, ...]) -> ActorCritic:
    """The hidden states of actor and critic at an episode's start (zeros)."""
    actor, critic = setup.actor, setup.critic
    return ActorCritic(actor.initial_carry(batch_shape), critic.initial_carry(batch_shape))


def init(setup: Setup, key: chex.PRNGKey, hparams: HParams) -> ActorCriticState:
    key, env_key, actor_key, critic_key = jax.random.split(key, 4)
    env_state = setup.venv.reset(env_key)
    one = jax.tree_util.tree_map(lambda x: x[0], env_state.obs)
    no_action = jnp.zeros((setup.venv.env.num_agents,), jnp.int32)
    params = ActorCritic(
        actor=setup.actor.init(actor_key, one.agents_view),
        critic=setup.critic.init(critic_key, one, no_action),
    )
    num_envs, optimizer = setup.venv.num_envs, setup.optimizer
    return ActorCriticState(
        params=params,
        target_critic=params.critic if setup.critic.target_network else None,
        opt_state=ActorCritic(optimizer.init(params.actor), optimizer.init(params.critic)),
        env=env_state,
        carry=initial_carry(setup, (num_envs,)),
        first=jnp.ones((num_envs,), bool),
        reward_stats=RunningMeanStd.create(),
        target_stats=RunningMeanStd.create(),
        key=key,
        num_updates=jnp.zeros((), jnp.int32),
    )


# sample(key, outputs float32[B, N, A], mask bool[B, N, A]) -> (actions int32[B, N],
# what it records per agent float32[B, N]: the actor-critics' log-probabilities of
# the actions taken)
Behaviour = Callable[[chex.PRNGKey, chex.Array, chex.Array], tuple[chex.Array, chex.Array]]


class Acting(Protocol):
    """What :func:`collect` reads of a learner's setup: its agents' network and environments."""

    actor: AgentNet
    venv: VecEnv


def collect(
    setup: Acting,
    actor_params: Any,
    env_state: VecEnvState,
    carry: chex.Array,
    first: chex.Array,
    keys: chex.PRNGKey,
    sample: Behaviour = sample_with_log_prob,
) -> tuple[VecEnvState, chex.Array, chex.Array, Rollout, Finished]:
    """Runs the behaviour policy for ``len(keys)`` steps in every environment.

    Args:
        carry: the actor's hidden states [B, N, H] before reading ``env_state.obs``.
        first: bool[B], ``env_state.obs`` starts an episode.
        keys: [T] sampling keys, one per step.
        sample: the behaviour policy on the network's outputs: by default a sample
            of the masked categorical policy π(a_i | h_i) they are the logits of.

    Returns:
        (env_state, carry, first) after the last step, the rollout [T, B] and what
        it tells of the episodes that ended in it (:class:`Finished` [T, B]).
    """

    def step(loop, step_key):
        env_state, carry, first = loop
        obs = env_state.obs
        carry, logits = setup.actor.step(actor_params, carry, obs.agents_view, first)
        action, recorded = sample(step_key, logits, obs.action_mask)
        env_state, out = setup.venv.step(env_state, action)
        transition = Rollout(
            obs=obs,
            first=first,
            action=action,
            recorded=recorded,
            reward=out.reward,
            discount=out.discount,
            done=out.done,
            next_obs=out.next_obs,
        )
        # Under auto-reset the observation after a done is the next episode's first.
        return (env_state, carry, out.done), (transition, out.finished())

    (env_state, carry, first), (rollout, finished) = jax.lax.scan(
        step, (env_state, carry, first), keys
    )
    return env_state, carry, first, rollout, finished


def next_actions(
    setup: Setup, actor_params: Any, carries: chex.Array, rollout: Rollout, key: chex.PRNGKey
) -> chex.Array:
    """a_{t+1}: the next step's action, or a' ~ π(· | h_t, o'_t) where the episode
    ended or the rollout does: int32[T, B, N]."""
    no_reset = jnp.zeros(rollout.first.shape, bool)
    _, logits = setup.actor.step(actor_params, carries, rollout.next_obs.agents_view, no_reset)
    sampled, _ = sample_with_log_prob(key, logits, rollout.next_obs.action_mask)
    following = jnp.concatenate([rollout.action[1:], sampled[-1:]], axis=0)
    return jnp.where(rollout.done[..., None], sampled, following)


def make_batch(
    setup: Setup,
    state: ActorCriticState,
    rollout: Rollout,
    start: ActorCritic,
    key: chex.PRNGKey,
    hparams: HParams,
) -> tuple[Batch, ActorCriticState, chex.Array, chex.Array]:
    """The training sequences of a rollout collected from the hidden states ``start``.

    Returns:
        the batch; ``state`` with updated running statistics; the critic's hidden
        states after the rollout [B, N, H]; the advantages float32[T, B, N].
    """
    config, critic = setup.config, setup.critic
    steps = first_episode_mask(rollout.done) if setup.episodic else jnp.ones(rollout.done.shape)
    mask = jnp.broadcast_to(steps[..., None], rollout.reward.shape)  # [T, B, N]
    reward_stats, reward = state.reward_stats, rollout.reward
    if config.normalise_rewards:
        reward_stats = reward_stats.update(reward, mask)
        reward = reward_stats.normalise(reward)

    def to_returns(v: chex.Array) -> chex.Array:
        return state.target_stats.denormalise(v) if config.normalise_values else v

    # The policy that acted, recomputed from the start states (the next actions
    # and π are read by critics that see actions only; jit drops them otherwise).
    carries, logits = setup.actor.unroll(
        state.params.actor, start.actor, rollout.obs.agents_view, rollout.first
    )
    pi = masked_categorical(logits, rollout.obs.action_mask).probs
    next_action = next_actions(setup, state.params.actor, carries, rollout, key)

    params = state.params.critic
    critic_carries, v_t = critic.values(
        params, start.critic, rollout.obs, rollout.action, rollout.first
    )
    bootstrap = state.target_critic if critic.target_network else params
    v_tp1 = critic.next_values(bootstrap, critic_carries, rollout.next_obs, next_action)
    done = jnp.broadcast_to(rollout.done[..., None], reward.shape)
    discount = rollout.discount if config.bootstrap_truncation else jnp.where(done, 0.0, 1.0)
    trajectory = Trajectory(
        r_t=reward,
        discount_t=hparams["gamma"] * discount,
        done_t=done.astype(jnp.float32),
        v_t=to_returns(v_t),
        v_tp1=to_returns(v_tp1),
    )
    advantage, target = critic.advantages(params, trajectory, rollout, pi, to_returns, hparams)
    target_stats = state.target_stats
    if config.normalise_values:
        target_stats = target_stats.update(target, mask)
        target = target_stats.normalise(target)

    batch = Batch(
        obs=rollout.obs,
        action=rollout.action,
        log_prob=rollout.recorded,
        advantage=jax.lax.stop_gradient(advantage),
        target=jax.lax.stop_gradient(target),
        mask=mask,
        first=rollout.first,
        start=start,
        value=jax.lax.stop_gradient(v_t),
    )
    state = state._replace(reward_stats=reward_stats, target_stats=target_stats)
    return batch, state, critic_carries[-1], advantage


def policy(setup: Setup, actor_params: Any, batch: Batch):
    """π(· | h_i) at every step of the batch's sequences, unrolled from their start:
    a distrax.Categorical of batch shape [T, B, N]."""
    _, logits = setup.actor.unroll(
        actor_params, batch.start.actor, batch.obs.agents_view, batch.first
    )
    return masked_categorical(logits, batch.obs.action_mask)


def standardise(x: chex.Array, mask: chex.Array) -> chex.Array:
    """(x − mean) / (std + 1e-8) over the samples where ``mask`` is 1 (any shape)."""
    mean = masked_mean(x, mask)
    std = jnp.sqrt(masked_mean((x - mean) ** 2, mask))
    return (x - mean) / (std + 1e-8)


def value_loss(
    value: chex.Array, target: chex.Array, old_value: chex.Array, clip_eps: chex.Array | None
) -> chex.Array:
    """The critic's per-sample loss (y − V)²; with ``clip_eps``, PPO's clipped form
    max((y − V)², (y − V_old − clip(V − V_old, −ε, ε))²) (Schulman et al. 2017's
    code, as the MAPPO paper's "value clipping"): float32[...]."""
    error = (target - value) ** 2
    if clip_eps is None:
        return error
    clipped = old_value + jnp.clip(value - old_value, -clip_eps, clip_eps)
    return jnp.maximum(error, (target - clipped) ** 2)


def loss(
    setup: Setup, params: ActorCritic, batch: Batch, hparams: HParams
) -> tuple[chex.Array, Metrics]:
    """Actor: policy loss − c_ent H(π); critic: c_v (y − V)² (or its clipped form).
    Separate parameters, so one gradient of the sum gives both. Every term is a
    masked mean over the batch's samples (what :func:`gradient` relies on)."""
    pi = policy(setup, params.actor, batch)
    log_prob = pi.log_prob(batch.action)
    per_sample, extras = setup.policy_loss(log_prob, batch, hparams)
    policy_loss = masked_mean(per_sample, batch.mask)
    entropy = masked_mean(pi.entropy(), batch.mask)
    _, value = setup.critic.values(
        params.critic, batch.start.critic, batch.obs, batch.action, batch.first
    )
    clip_eps = hparams["clip_eps"] if setup.value_clip else None
    critic_loss = masked_mean(value_loss(value, batch.target, batch.value, clip_eps), batch.mask)
    metrics = {
        "actor_loss": policy_loss,
        "critic_loss": critic_loss,
        "entropy": entropy,
        **{k: masked_mean(v, batch.mask) for k, v in extras.items()},
    }
    total = policy_loss - hparams["ent_coef"] * entropy + hparams["vf_coef"] * critic_loss
    return total, metrics


def envs_per_chunk(batch: Any, recurrent: bool = False) -> int:
    """Environments per gradient chunk of ``batch`` [T, B, N]: on a CPU the most
    (dividing B, at least one) whose T x envs x N rows stay within
    ``CPU_CHUNK_ROWS``; on an accelerator all B (one chunk). A recurrent
    learner's chunk holds at least ``RECURRENT_MIN_STEP_ROWS`` rows per step
    (envs x N, as far as B allows): its GRU scans the T steps one after the
    other, so each chunk runs T steps in sequence, and chunks of a handful of
    rows per step spend their time on the steps, not the rows (recurrent MAPPO
    on MPE with JaxMARL's settings, 4 environments x 3 agents per minibatch and
    T = 128: 1.8-2.0k env steps/s in one chunk against 0.6-1.0k in four
    chunks of one environment, one core shared with another run)."""
    steps, envs, agents = batch.mask.shape
    if jax.default_backend() != "cpu":
        return envs
    fits = max(1, CPU_CHUNK_ROWS // (steps * agents))
    if recurrent:
        fits = max(fits, -(-RECURRENT_MIN_STEP_ROWS // agents))
    return max(e for e in range(1, min(fits, envs) + 1) if envs % e == 0)


def gradient(
    setup: Setup, params: ActorCritic, batch: Batch, hparams: HParams
) -> tuple[ActorCritic, Metrics]:
    """∇ :func:`loss` over the minibatch, and its metrics, accumulated over chunks
    of :func:`envs_per_chunk` environments.

    The loss is a masked mean over samples, so the minibatch's is Σ_c (n_c / n) L_c,
    L_c the loss of chunk c and n_c its samples: the same gradient to float
    rounding, computed on arrays that stay in a CPU core's cache. Measured on this
    library's CPU (one core, IPPO, the peers' settings of ``benchmarks/peers.py``),
    env steps per second against one chunk: MPE 64 environments 56k against 48k,
    LBF 32 environments 41k against 30k, LBF 1024 41k against 28k.
    """
    grad_fn = jax.grad(functools.partial(loss, setup), has_aux=True)
    return chunked_gradient(grad_fn, params, batch, hparams, setup.config.recurrent)


def chunked_gradient(
    grad_fn: Callable[[Any, Any, HParams], tuple[Any, Metrics]],
    params: Any,
    batch: Any,
    hparams: HParams,
    recurrent: bool,
) -> tuple[Any, Metrics]:
    """``grad_fn(params, batch, hparams)`` of a loss that is a masked mean over the
    samples of ``batch`` (a NamedTuple with ``mask`` [T, B, N], ``first`` [T, B] and
    ``start`` [B, ...], such as :class:`Batch`), summed over chunks of
    :func:`envs_per_chunk` environments, each weighted by its share of the samples."""
    num_envs = batch.first.shape[1]
    chunks = num_envs // envs_per_chunk(batch, recurrent)
    if chunks == 1:
        return grad_fn(params, batch, hparams)
    split = env_minibatches(batch, chunks)
    samples = jnp.maximum(jnp.sum(batch.mask), 1.0)
    # Through one jit, the shapes below and the scan's body share one trace.
    grad_fn = jax.jit(grad_fn)

    def add_chunk(total, chunk):
        grads_and_metrics = grad_fn(params, chunk, hparams)
        weight = jnp.sum(chunk.mask) / samples
        return jax.tree_util.tree_map(lambda t, x: t + weight * x, total, grads_and_metrics), None

    one_chunk = jax.tree_util.tree_map(lambda x: x[0], split)
    shapes = jax.eval_shape(grad_fn, params, one_chunk, hparams)
    zeros = jax.tree_util.tree_map(lambda x: jnp.zeros(x.shape, x.dtype), shapes)
    return jax.lax.scan(add_chunk, zeros, split)[0]


def sgd_step(setup: Setup, carry, batch: Batch, hparams: HParams):
    params, opt_state = carry
    if setup.config.normalise_advantages:  # over the whole minibatch, before its chunks
        batch = batch._replace(advantage=standardise(batch.advantage, batch.mask))
    grads, metrics = gradient(setup, params, batch, hparams)
    lr, clip = hparams["lr"], hparams["max_grad_norm"]
    critic_lr = jnp.where(hparams["critic_lr"] > 0, hparams["critic_lr"], lr)
    actor, actor_opt = apply_gradients(
        setup.optimizer, opt_state.actor, params.actor, grads.actor, lr, clip
    )
    critic, critic_opt = apply_gradients(
        setup.optimizer, opt_state.critic, params.critic, grads.critic, critic_lr, clip
    )
    return (ActorCritic(actor, critic), ActorCritic(actor_opt, critic_opt)), metrics


def env_minibatches(batch: Any, minibatches: int, order: chex.Array | None = None) -> Any:
    """Splits the environment axis of ``batch`` (a NamedTuple of time-major fields
    [T, B, ...] and start states ``start`` [B, ...], such as :class:`Batch`), in the
    given order, else as it is, into ``minibatches`` groups of whole sequences:
    time-major fields [M, T, B/M, ...], start states [M, B/M, ...]."""

    size = batch.first.shape[1] // minibatches

    def split(x: chex.Array, axis: int) -> chex.Array:
        if order is not None and minibatches > 1:  # one minibatch needs no new order
            x = jnp.take(x, order, axis=axis)
        x = x.reshape(x.shape[:axis] + (minibatches, size) + x.shape[axis + 1 :])
        return jnp.moveaxis(x, axis, 0)

    sequences = jax.tree_util.tree_map(lambda x: split(x, 1), batch._replace(start=None))
    start = jax.tree_util.tree_map(lambda x: split(x, 0), batch.start)
    return sequences._replace(start=start)


def learn(
    setup: Setup,
    params: ActorCritic,
    opt_state: ActorCritic,
    batch: Batch,
    hparams: HParams,
    key: chex.PRNGKey,
) -> tuple[ActorCritic, ActorCritic, Metrics]:
    """``epochs`` passes over the batch, each in ``minibatches`` groups of environments
    (in a new random order each epoch)."""
    (params, opt_state), metrics = epochs_of_minibatches(
        lambda carry, minibatch: sgd_step(setup, carry, minibatch, hparams),
        (params, opt_state),
        batch,
        setup.epochs,
        setup.minibatches,
        key,
    )
    return params, opt_state, metrics


def epochs_of_minibatches(
    sgd_step: Callable[[Any, Any], tuple[Any, Metrics]],
    carry: Any,
    batch: Any,
    epochs: int,
    minibatches: int,
    key: chex.PRNGKey,
) -> tuple[Any, Metrics]:
    """``carry`` (parameters and optimiser states) after ``epochs`` passes of
    ``sgd_step(carry, minibatch) -> (carry, metrics)`` over ``batch`` split by
    :func:`env_minibatches` (in a new random order each epoch), and the metrics
    averaged over every step."""
    num_envs = batch.first.shape[1]

    def epoch(carry, epoch_key):
        order = jax.random.permutation(epoch_key, num_envs) if minibatches > 1 else None
        return jax.lax.scan(sgd_step, carry, env_minibatches(batch, minibatches, order))

    carry, metrics = jax.lax.scan(epoch, carry, jax.random.split(key, epochs))
    return carry, jax.tree_util.tree_map(jnp.mean, metrics)


def update(
    setup: Setup, state: ActorCriticState, hparams: HParams
) -> tuple[ActorCriticState, Metrics]:
    """One collect-and-learn iteration."""
    config = setup.config
    progress = state.num_updates * setup.venv.num_envs * setup.num_steps
    progress = (progress / config.total_timesteps).astype(jnp.float32)  # in [0, 1)
    if setup.schedule is not None:
        hparams = setup.schedule(hparams, progress)
    if config.anneal_lr:
        hparams = annealed_lr(hparams, progress, ("lr", "critic_lr"))
    key, reset_key, collect_key, next_key, learn_key = jax.random.split(state.key, 5)
    env_state, start, first = state.env, state.carry, state.first
    if setup.episodic:
        env_state = setup.venv.reset(reset_key)
        start = initial_carry(setup, first.shape)
        first = jnp.ones(first.shape, bool)

    keys = jax.random.split(collect_key, setup.num_steps)
    env_state, actor_carry, first, rollout, finished = collect(
        setup, state.params.actor, env_state, start.actor, first, keys
    )
    batch, state, critic_carry, advantage = make_batch(
        setup, state, rollout, start, next_key, hparams
    )
    params, opt_state, metrics = learn(
        setup, state.params, state.opt_state, batch, hparams, learn_key
    )

    target_critic = state.target_critic
    if setup.critic.target_network:
        tau = hparams["target_tau"]
        target_critic = jax.tree_util.tree_map(
            lambda t, o: t + tau * (o - t), target_critic, params.critic
        )
    metrics = {
        **metrics,
        "advantage": masked_mean(advantage, batch.mask),
        **finished.metrics(),
    }
    state = state._replace(
        params=params,
        target_critic=target_critic,
        opt_state=opt_state,
        env=env_state,
        carry=ActorCritic(actor_carry, critic_carry),
        first=first,
        key=key,
        num_updates=state.num_updates + 1,
    )
    return state, metrics


def act(
    setup: Setup,
    state: ActorCriticState,
    obs: MultiAgentObservation,
    carry: chex.Array,
    key: chex.PRNGKey,
) -> tuple[chex.Array, chex.Array]:
    """Greedy: argmax_a π(a | h_i) among the allowed actions, int32[B, N], and the
    actor's hidden states after reading ``obs`` (an episode starts from zeros)."""
    no_reset = jnp.zeros(obs.step_count.shape, bool)
    carry, logits = setup.actor.step(state.params.actor, carry, obs.agents_view, no_reset)
    return greedy(logits, obs.action_mask), carry


def make_actor_critic(
    env: Environment,
    config: Config,
    policy_loss: PolicyLoss,
    critic: Critic,
    **options: Any,
) -> Algorithm:
    """``Algorithm(init, update, act, initial_carry, steps_per_update)`` of an
    actor-critic learner; ``options`` are :func:`make_setup`'s."""
    setup = make_setup(env, config, policy_loss, critic, **options)

    def init_learner(key: chex.PRNGKey, hparams: HParams) -> ActorCriticState:
        return init(setup, key, hparams)

    def update_learner(state: ActorCriticState, hparams: HParams):
        return update(setup, state, hparams)

    def act_greedily(state: ActorCriticState, obs: MultiAgentObservation, carry, key):
        return act(setup, state, obs, carry, key)

    return Algorithm(
        init=init_learner,
        update=update_learner,
        act=act_greedily,
        initial_carry=setup.actor.initial_carry,
        steps_per_update=setup.venv.num_envs * setup.num_steps,
    )
