"""Training: the pure ``train`` function and the chunk it is made of.

``make_train(config)`` returns ``train(key, hparams=None)``: ``init`` followed by
``num_logs`` chunks, each ``lax.scan(update)`` over ``updates_per_log``
iterations and then a greedy evaluation. The driver (``jaxmarl_core.driver``)
runs the very same chunk function jitted and vmapped over seeds, once per
logging step, so it can draw progress, write the run directory and checkpoint
without leaving the jitted path for the work itself. This module does no I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp

from jaxmarl_core.config import Config, ConfigError, algo_module, check_hparams
from jaxmarl_core.envs.base import MultiAgentEnvironment
from jaxmarl_core.envs.episodes import greedy_outcomes
from jaxmarl_core.envs.registry import make_env
from jaxmarl_core.groups import default_width, grouped
from jaxmarl_core.types import Algorithm, HParams, Metrics, PRNGKey

# Metrics that are summed over a chunk; every other metric is averaged.
_SUMMED = ("episode_return_sum", "episodes", "episodes_won")


class TrainOutput(NamedTuple):
    """``metrics``: dict of arrays with a leading logging-step axis; ``state``: the
    final learner state (parameters included)."""

    metrics: Metrics
    state: Any


class Schedule(NamedTuple):
    num_logs: int
    updates_per_log: int
    steps_per_update: int

    @property
    def env_steps(self) -> int:
        return self.num_logs * self.updates_per_log * self.steps_per_update


def build_env(config: Config):
    """The config's environment: a registered name (with env_kwargs) or an instance."""
    if isinstance(config.env, str):
        return make_env(config.env, **dict(config.env_kwargs))
    if config.env_kwargs:
        raise ConfigError("env_kwargs apply to environment names only, not to an instance")
    return config.env


def env_params_of(env) -> Any:
    """The environment's parameters (a pytree; ``{}`` if it has none)."""
    return env.params() if isinstance(env, MultiAgentEnvironment) else {}


class BestPolicy(NamedTuple):
    """A learner state beside the policy parameters of its best greedy evaluation
    so far (``config.absolute_episodes > 0``): at the end of training they are
    re-evaluated on more episodes, the absolute metric of Gorsane et al.,
    'Towards a Standardised Performance Evaluation Protocol for Cooperative
    MARL', NeurIPS 2022."""

    learner: Any
    best_params: Any
    best_return: chex.Array  # float32[]: that evaluation's mean return
    logs_done: chex.Array  # int32[]: logging steps (evaluations) so far

    @property
    def params(self) -> Any:
        return self.learner.params


def keep_best_policy(algo: Algorithm) -> Algorithm:
    """``algo`` on a :class:`BestPolicy` state; :func:`make_chunk` keeps the best."""

    def init(key: PRNGKey, hparams: HParams) -> BestPolicy:
        state = algo.init(key, hparams)
        return BestPolicy(state, state.params, jnp.float32(-jnp.inf), jnp.int32(0))

    def update(state: BestPolicy, hparams: HParams) -> tuple[BestPolicy, Metrics]:
        learner, metrics = algo.update(state.learner, hparams)
        return state._replace(learner=learner), metrics

    def act(state: BestPolicy, obs, carry, key):
        return algo.act(state.learner, obs, carry, key)

    return algo._replace(init=init, update=update, act=act)


def make_algorithm(config: Config, env=None, env_params: Any = None) -> tuple[Any, Algorithm]:
    """The config's environment (``env``, or built from the config) and its
    algorithm; with ``env_params`` (possibly traced), on those parameters."""
    env = build_env(config) if env is None else env
    if env_params is not None:
        if not isinstance(env, MultiAgentEnvironment):
            raise ConfigError(f"{env!r} has no environment parameters to replace")
        env = env.with_params(env_params)
    algo = algo_module(config.algo).make(env, config)
    return env, keep_best_policy(algo) if config.absolute_episodes > 0 else algo


def schedule(config: Config, algo: Algorithm) -> Schedule:
    """How ``total_timesteps`` splits into logging steps and updates."""
    updates = config.total_timesteps // algo.steps_per_update
    if updates < 1:
        raise ConfigError(
            f"total_timesteps={config.total_timesteps} is smaller than one update of "
            f"{config.algo} ({algo.steps_per_update} environment steps)"
        )
    num_logs = min(config.num_logs, updates)
    return Schedule(num_logs, updates // num_logs, algo.steps_per_update)


def make_chunk(config: Config, env, algo: Algorithm, sched: Schedule) -> Callable:
    """``chunk(state, hparams, eval_key) -> (state, metrics)``: one logging step."""

    def chunk(state: Any, hparams: HParams, eval_key: PRNGKey) -> tuple[Any, Metrics]:
        state, m = jax.lax.scan(
            lambda s, _: algo.update(s, hparams), state, None, length=sched.updates_per_log
        )
        metrics = {k: (v.sum() if k in _SUMMED else v.mean()) for k, v in m.items()}
        finished = metrics.pop("episodes")
        total = metrics.pop("episode_return_sum")
        metrics["episode_return"] = jnp.where(finished > 0, total / finished, jnp.nan)
        metrics["episodes"] = finished
        if "episodes_won" in metrics:  # a game that is won or lost (SMAX)
            won = metrics.pop("episodes_won")
            metrics["win_rate"] = jnp.where(finished > 0, won / finished, jnp.nan)
        metrics.update(greedy_evaluation(env, algo, state, eval_key, config.num_eval_episodes))
        if isinstance(state, BestPolicy):
            state, metrics["absolute_return"] = absolute_metric(
                state, metrics["eval_return"], eval_key
            )
        return state, metrics

    def absolute_metric(
        state: BestPolicy, eval_return: chex.Array, eval_key: PRNGKey
    ) -> tuple[BestPolicy, chex.Array]:
        """Keeps the parameters of the best evaluation; at the last logging step,
        float32[]: their mean return over ``absolute_episodes`` greedy episodes
        (NaN before)."""
        better = eval_return >= state.best_return  # the latest of equals, as Mava's ff_ippo
        pick = lambda new, old: jnp.where(better, new, old)
        state = state._replace(
            best_params=jax.tree.map(pick, state.learner.params, state.best_params),
            best_return=pick(eval_return, state.best_return),
            logs_done=state.logs_done + 1,
        )
        best = state._replace(learner=state.learner._replace(params=state.best_params))
        value = jax.lax.cond(
            state.logs_done == sched.num_logs,
            lambda: greedy_return(
                env, algo, best, jax.random.fold_in(eval_key, 1), config.absolute_episodes
            ),
            lambda: jnp.float32(jnp.nan),
        )
        return state, value

    return chunk


def greedy_evaluation(
    env, algo: Algorithm, state: Any, key: PRNGKey, episodes: int
) -> dict[str, chex.Array]:
    """``eval_return`` (float32[]: the mean team return of ``episodes`` greedy
    episodes of ``state``'s policy) and, for a game that is won or lost,
    ``eval_win_rate`` (float32[]: the fraction of them won)."""
    returns, won = greedy_outcomes(
        env,
        lambda obs, carry, k: algo.act(state, obs, carry, k),
        key,
        episodes,
        carry=algo.initial_carry((episodes,)),
    )
    out = {"eval_return": returns.mean()}
    if won is not None:
        out["eval_win_rate"] = won.astype(jnp.float32).mean()
    return out


def greedy_return(env, algo: Algorithm, state: Any, key: PRNGKey, episodes: int) -> chex.Array:
    """float32[]: mean team return of ``episodes`` greedy episodes of ``state``'s policy."""
    return greedy_evaluation(env, algo, state, key, episodes)["eval_return"]


def _hparams(config: Config, hparams: HParams | None) -> HParams:
    return config.hparams if hparams is None else check_hparams(config, hparams)


def make_train(config: Config) -> Callable[..., TrainOutput]:
    """Returns the pure function ``train(key, hparams=None, env_params=None) ->
    TrainOutput``; ``env_params`` (shaped as the environment's ``params()``)
    trains on other data of the same shape, e.g. another matrix game's payoff.

    ``out.metrics[name]`` has shape [num_logs] (a seed axis in front when
    vmapped) and holds ``env_steps``, ``episode_return``, ``eval_return``,
    ``episodes`` and the algorithm's loss terms.
    """
    env, algo = make_algorithm(config)
    sched = schedule(config, algo)

    def run(key: PRNGKey, hparams: HParams, env_params: Any) -> TrainOutput:
        on, learner = (env, algo) if env_params is None else make_algorithm(config, env, env_params)
        chunk = make_chunk(config, on, learner, sched)
        init_key, eval_key = jax.random.split(key)
        state = learner.init(init_key, hparams)
        state, metrics = jax.lax.scan(
            lambda s, k: chunk(s, hparams, k), state, jax.random.split(eval_key, sched.num_logs)
        )
        metrics["env_steps"] = env_steps_axis(sched)
        return TrainOutput(metrics=metrics, state=state)

    # Under jax.vmap, runs go width at a time (jaxmarl_core.groups: the CPU's caches).
    run_in_groups = grouped(run, default_width())

    def train(key: PRNGKey, hparams: HParams | None = None, env_params: Any = None) -> TrainOutput:
        return run_in_groups(key, _hparams(config, hparams), env_params)

    return train


def env_steps_axis(sched: Schedule) -> chex.Array:
    """int32[num_logs]: environment steps per environment batch at each logging step."""
    per_log = sched.updates_per_log * sched.steps_per_update
    return jnp.arange(1, sched.num_logs + 1, dtype=jnp.int32) * per_log


def seed_keys(seeds: int, first_seed: int = 0) -> chex.Array:
    """One key per seed: ``PRNGKey(first_seed + k)``, stacked: uint32[seeds, 2]."""
    return jnp.stack([jax.random.PRNGKey(first_seed + k) for k in range(seeds)])
