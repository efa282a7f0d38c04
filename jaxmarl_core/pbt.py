"""Population-based training (Jaderberg et al., 2017, "Population Based Training
of Neural Networks", arXiv:1711.09846) inside one compiled program.

A population of P members trains as P runs of one vmapped chunk, as a sweep's
runs do: each member has its own key and its own traced hyperparameters. Every
``ready_every`` logging steps, inside the same compiled chunk (no host round
trip):

- exploit (truncation selection): the members are ranked by the greedy
  evaluation return of that logging step; each member of the bottom
  ``truncation`` fraction takes a copy of a member drawn uniformly from the top
  fraction: its learner state and its hyperparameters;
- explore: each copy's searched hyperparameters are multiplied by a factor
  drawn from ``perturb`` (or, with probability ``resample_probability``, drawn
  afresh from the search space), then clipped to the key's valid range.

What a copy takes: the whole learner state but its key. That is the
parameters, optimiser states, target networks, running statistics (reward and
target normalisers, IDQN's visit table) and also the replay buffer with the
environments that fill it. The buffer, because the copied Q-network was fitted
to the source's buffer, and the member's own was filled by a policy it no
longer has: the stale data that IDQN's fixes fight. The environments, because
the buffer stores each environment's stream of steps: a buffer copied without
them would join two unrelated streams at the copy (one false transition per
environment). The member keeps its own key, so its experience diverges from
the source's from the next step on.

``seeds=S`` runs S independent populations in the same program: the runs axis
is S * P long (population-major), sharded over the devices as a sweep's is;
exploit and explore act within each population. ``ready_every=0`` trains the
same population with neither: a random search with the same draws and keys.

    space = {"lr": ("loguniform", 1e-4, 1e-2), "hysteretic_beta": ("loguniform", 1e-3, 1.0)}
    result = pbt(config, space, population=8, seeds=4, ready_every=5)
    result.metrics["eval_return"]     # [seeds, population, num_logs]
    result.hparams["lr"]              # [seeds, population, num_logs]: the values trained with
    result.parents                    # [seeds, population, num_logs]: whom a member copied
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import yaml
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jaxmarl_core.chunks import run_keys
from jaxmarl_core.config import Config, ConfigError, params_of
from jaxmarl_core.groups import default_width, grouped
from jaxmarl_core.sweeps import check_range, grid, split_spec, staged, write_csv
from jaxmarl_core.train import greedy_return, make_algorithm, make_chunk, schedule, seed_keys


class Dist(NamedTuple):
    """A searched key's distribution: ``uniform`` or ``loguniform`` over
    ``values`` = (low, high), or ``choice`` among ``values``."""

    kind: str
    values: tuple[float, ...]


Space = dict[str, Dist]


class Evolution(NamedTuple):
    """PBT's options (static: they shape the compiled program).

    Attributes:
        space: the searched keys and their distributions.
        bounds: per searched key, its valid range as float32 (low, high).
        num_replaced: members copied over at each exploit (bottom and top size).
        perturb: the factors explore multiplies by, one drawn per key and member.
        resample_probability: the chance that explore draws a key afresh instead.
    """

    space: Space
    bounds: dict[str, tuple[float, float]]
    num_replaced: int
    perturb: tuple[float, ...]
    resample_probability: float


class Population(NamedTuple):
    """What the compiled step carries; R = seeds * population runs, population-major.

    Attributes:
        state: the members' learner states, every leaf [R, ...].
        hparams: name -> float32[R], every traced hyperparameter.
        key: uint32[S, 2], each population's key for exploit and explore.
    """

    state: Any
    hparams: dict[str, jax.Array]
    key: jax.Array


# Folded into a population's key for its members' holdout episodes.
HOLDOUT = 0x401D


class PBTResult(NamedTuple):
    """Attributes:
    space: the searched keys and their distributions.
    metrics: name -> [seeds, population, num_logs] (``env_steps`` included).
    hparams: searched name -> float32[seeds, population, num_logs], the value
        each member trained with during each logging step.
    parents: int32[seeds, population, num_logs], the member whose state and
        hyperparameters a member took at the end of that logging step (-1: none).
    first_seed: population s used ``PRNGKey(first_seed + s)``.
    num_devices: devices the runs axis was sharded over.
    compile_seconds, wall_seconds: compiling, and running the chunks.
    holdout_return: float32[seeds, population], each member's final policy on
        ``holdout_episodes`` fresh greedy episodes (None without them): a score
        of the best member that is not also what picked it.
    """

    space: Space
    metrics: dict[str, np.ndarray]
    hparams: dict[str, np.ndarray]
    parents: np.ndarray
    first_seed: int
    num_devices: int
    compile_seconds: float
    wall_seconds: float
    holdout_return: np.ndarray | None = None


# ---------------------------------------------------------------------------
# The search space


def make_space(config: Config, space: Mapping[str, Any]) -> Space:
    """Checks a search space: name -> ``(kind, low, high)`` with kind ``uniform``
    or ``loguniform``, a list of values to choose from, or the same as
    command-line text (``"loguniform(1e-4,1e-2)"``, ``"0.9,0.99"``)."""
    if not space:
        raise ConfigError("pbt needs at least one hyperparameter to search: name=loguniform(a,b)")
    out: Space = {}
    for name, dist in space.items():
        if isinstance(dist, str):
            listed, ranges = split_spec({name: dist})
            dist = ranges.get(name, listed.get(name))
        if isinstance(dist, tuple) and len(dist) == 3 and isinstance(dist[0], str):
            kind, low, high = dist[0], float(dist[1]), float(dist[2])
            check_range(config, name, kind, low, high)
            out[name] = Dist(kind, (low, high))
        else:
            try:
                values = [float(v) for v in dist]
            except (TypeError, ValueError):
                raise ConfigError(
                    f"{name}={dist!r}: expected (kind, low, high), a list of values, or text "
                    "such as loguniform(a,b) or v1,v2"
                ) from None
            grid(config, {name: values})  # checks the key and every value
            out[name] = Dist("choice", tuple(values))
    return out


def valid_range(config: Config, name: str) -> tuple[float, float]:
    """A traced key's valid range as float32 (low, high); an open bound moves one
    float32 step inwards (and past the subnormals, which a CPU may flush to 0)."""
    p = params_of(config.algo)[name]
    low = -np.inf if p.low is None else np.float32(p.low)
    high = np.inf if p.high is None else np.float32(p.high)
    if p.low is not None and p.low_open:
        low = np.nextafter(low, np.float32(np.inf))
        if 0 < low < np.finfo(np.float32).tiny:
            low = np.finfo(np.float32).tiny
    if p.high is not None and p.high_open:
        high = np.nextafter(high, np.float32(-np.inf))
    return float(low), float(high)


def sample(key: jax.Array, dist: Dist, n: int) -> jax.Array:
    """float32[n]: ``n`` draws from ``dist``."""
    if dist.kind == "choice":
        values = jnp.asarray(dist.values, jnp.float32)
        return values[jax.random.randint(key, (n,), 0, len(dist.values))]
    low, high = dist.values
    if dist.kind == "loguniform":
        x = jnp.exp(jax.random.uniform(key, (n,), minval=math.log(low), maxval=math.log(high)))
    else:
        x = jax.random.uniform(key, (n,), minval=low, maxval=high)
    return jnp.clip(x, low, high)  # exp(log(high)) may round past high


def sample_space(key: jax.Array, space: Space, n: int) -> dict[str, jax.Array]:
    """name -> float32[n]: ``n`` draws of every searched key, independent."""
    keys = jax.random.split(key, len(space))
    return {name: sample(k, dist, n) for k, (name, dist) in zip(keys, space.items(), strict=True)}


# ---------------------------------------------------------------------------
# Exploit and explore: pure functions on one population of P members


def select(key: jax.Array, score: jax.Array, num_replaced: int) -> jax.Array:
    """Truncation selection: int32[P], the member each member takes its state from.

    The ``num_replaced`` lowest-scoring members each take a member drawn
    uniformly from the ``num_replaced`` highest; every other member keeps its
    own (source[i] = i). Ties are broken at random; a NaN score ranks lowest.

    Args:
        score: float32[P], e.g. each member's recent greedy evaluation return.
        num_replaced: 1 <= num_replaced <= P // 2 (static).
    """
    tie_key, pick_key = jax.random.split(key)
    p = score.shape[0]
    score = jnp.where(jnp.isnan(score), -jnp.inf, score)
    ascending = jnp.lexsort((jax.random.uniform(tie_key, (p,)), score))  # last key is primary
    bottom, top = ascending[:num_replaced], ascending[p - num_replaced :]
    picks = top[jax.random.randint(pick_key, (num_replaced,), 0, num_replaced)]
    return jnp.arange(p).at[bottom].set(picks)


def exploit(
    key: jax.Array, score: jax.Array, state: Any, hparams: dict[str, jax.Array], num_replaced: int
) -> tuple[Any, dict[str, jax.Array], jax.Array]:
    """Truncation selection, then the bottom members become copies of their picks.

    Args:
        score: float32[P].
        state: the members' learner states, leaves [P, ...]; a NamedTuple with a
            ``key`` field, which every member keeps.
        hparams: name -> float32[P].

    Returns:
        (state, hparams, source int32[P]): member i now holds member source[i]'s
        state (but its own key) and hyperparameters.
    """
    source = select(key, score, num_replaced)
    take = lambda x: x[source]
    copied = jax.tree.map(take, state)._replace(key=state.key)
    return copied, jax.tree.map(take, hparams), source


def explore(
    key: jax.Array, hparams: dict[str, jax.Array], copied: jax.Array, evolution: Evolution
) -> dict[str, jax.Array]:
    """New hyperparameters for the copied members (``copied``: bool[P]).

    Each searched key of each copied member is multiplied by a factor drawn
    uniformly from ``evolution.perturb``, or with probability
    ``evolution.resample_probability`` drawn afresh from its distribution, then
    clipped to the key's valid range. Other members and keys stay as they are.
    """
    p = copied.shape[0]
    factors = jnp.asarray(evolution.perturb, jnp.float32)
    out = dict(hparams)
    for i, (name, dist) in enumerate(evolution.space.items()):
        factor_key, resample_key, draw_key = jax.random.split(jax.random.fold_in(key, i), 3)
        factor = factors[jax.random.randint(factor_key, (p,), 0, factors.shape[0])]
        resample = jax.random.uniform(resample_key, (p,)) < evolution.resample_probability
        new = jnp.where(resample, sample(draw_key, dist, p), hparams[name] * factor)
        new = jnp.clip(new, *evolution.bounds[name])
        out[name] = jnp.where(copied, new, hparams[name])
    return out


def evolve(
    key: jax.Array,
    score: jax.Array,
    state: Any,
    hparams: dict[str, jax.Array],
    evolution: Evolution,
) -> tuple[jax.Array, Any, dict[str, jax.Array], jax.Array]:
    """Exploit then explore on one population; returns (key, state, hparams,
    parents int32[P]: the member copied, or -1)."""
    key, exploit_key, explore_key = jax.random.split(key, 3)
    state, hparams, source = exploit(exploit_key, score, state, hparams, evolution.num_replaced)
    copied = source != jnp.arange(score.shape[0])
    hparams = explore(explore_key, hparams, copied, evolution)
    return key, state, hparams, jnp.where(copied, source, -1)


# ---------------------------------------------------------------------------
# The compiled program


class Programs(NamedTuple):
    """``init(keys [S, 2]) -> (Population, eval_keys [R, num_logs, 2])`` and the
    compiled ``step(population, eval_keys [R, 2], t int32[]) -> (population,
    metrics name -> [R], hparams name -> [R] trained with, parents int32[R])``:
    one logging step of every member, then exploit and explore if step t ends a
    ready interval (and is not the last)."""

    init: Any
    step: Any
    num_logs: int
    env_steps_per_log: int
    num_devices: int
    compile_seconds: float
    holdout: Any = None  # holdout(states [R], keys [R, 2]) -> float32[R], or None


def _runs_sharding(num_runs: int, devices: Sequence[jax.Device]) -> NamedSharding:
    """The runs axis sharded over the most devices whose number divides it."""
    n = max(d for d in range(1, len(devices) + 1) if num_runs % d == 0)
    return NamedSharding(Mesh(np.array(devices[:n]), ("runs",)), PartitionSpec("runs"))


def compile_pbt(
    config: Config,
    evolution: Evolution,
    population: int,
    seeds: int,
    ready_every: int,
    devices: Sequence[jax.Device],
    holdout_episodes: int = 0,
) -> Programs:
    """Builds and compiles PBT's init and step for S populations of P members."""
    env, algo = make_algorithm(config)
    sched = schedule(config, algo)
    chunk_v = jax.vmap(grouped(make_chunk(config, env, algo, sched), default_width()))
    num_runs = seeds * population
    runs = _runs_sharding(num_runs, devices)
    replicated = NamedSharding(runs.mesh, PartitionSpec())
    pop_sharding = Population(runs, runs, replicated)
    defaults = {k: jnp.float32(v) for k, v in config.hparams_defaults.items()}

    def init_one(key: jax.Array) -> tuple[Population, jax.Array]:
        member_key, hparam_key, pbt_key = jax.random.split(key, 3)
        hparams = {k: jnp.full((population,), v) for k, v in defaults.items()}
        hparams.update(sample_space(hparam_key, evolution.space, population))
        init_keys, eval_keys = jax.vmap(partial(run_keys, num_logs=sched.num_logs))(
            jax.random.split(member_key, population)
        )
        return Population(jax.vmap(algo.init)(init_keys, hparams), hparams, pbt_key), eval_keys

    def init(keys: jax.Array) -> tuple[Population, jax.Array]:
        pop, eval_keys = jax.vmap(init_one)(keys)
        flat = lambda x: x.reshape(num_runs, *x.shape[2:])
        state, hparams = jax.tree.map(flat, (pop.state, pop.hparams))
        return Population(state, hparams, pop.key), flat(eval_keys)

    def step(pop: Population, eval_keys: jax.Array, t: jax.Array):
        state, metrics = chunk_v(pop.state, pop.hparams, eval_keys)
        trained_with = {name: pop.hparams[name] for name in evolution.space}
        no_parents = jnp.full((num_runs,), -1, jnp.int32)
        if ready_every == 0:
            return pop._replace(state=state), metrics, trained_with, no_parents

        by_population = lambda x: x.reshape(seeds, population, *x.shape[1:])
        flat = lambda x: x.reshape(num_runs, *x.shape[2:])

        def ready(carry):
            state, hparams, key = carry
            key, state, hparams, parents = jax.vmap(partial(evolve, evolution=evolution))(
                key,
                by_population(metrics["eval_return"]),
                jax.tree.map(by_population, state),
                jax.tree.map(by_population, hparams),
            )
            return (jax.tree.map(flat, state), jax.tree.map(flat, hparams), key), flat(parents)

        def not_ready(carry):
            return carry, no_parents

        is_ready = ((t + 1) % ready_every == 0) & (t + 1 < sched.num_logs)
        (state, hparams, key), parents = jax.lax.cond(
            is_ready, ready, not_ready, (state, pop.hparams, pop.key)
        )
        return Population(state, hparams, key), metrics, trained_with, parents

    t0 = time.perf_counter()
    init_jit = jax.jit(init, out_shardings=(pop_sharding, runs))
    step_jit = jax.jit(step, donate_argnums=0, out_shardings=(pop_sharding, runs, runs, runs))
    key_spec = jax.ShapeDtypeStruct((seeds, 2), jnp.uint32, sharding=replicated)
    pop_spec, eval_spec = jax.eval_shape(init_jit, key_spec)
    with_sharding = lambda sh: lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sh)
    pop_spec = Population(
        *jax.tree.map(with_sharding(runs), (pop_spec.state, pop_spec.hparams)),
        with_sharding(replicated)(pop_spec.key),
    )
    eval_spec = jax.ShapeDtypeStruct((num_runs, 2), eval_spec.dtype, sharding=runs)
    t_spec = jax.ShapeDtypeStruct((), jnp.int32, sharding=replicated)
    init_compiled = init_jit.lower(key_spec).compile()
    compiled = step_jit.lower(pop_spec, eval_spec, t_spec).compile()
    holdout = None
    if holdout_episodes:
        one = lambda state, key: greedy_return(env, algo, state, key, holdout_episodes)
        holdout = jax.jit(jax.vmap(one))
    return Programs(
        holdout=holdout,
        init=lambda keys: init_compiled(jax.device_put(keys, replicated)),
        step=compiled,
        num_logs=sched.num_logs,
        env_steps_per_log=sched.updates_per_log * sched.steps_per_update,
        num_devices=len(runs.mesh.devices.flat),
        compile_seconds=time.perf_counter() - t0,
    )


# ---------------------------------------------------------------------------
# The host loop


def make_evolution(
    config: Config,
    space: Mapping[str, Any],
    population: int,
    truncation: float,
    perturb: Sequence[float],
    resample_probability: float,
) -> Evolution:
    """Checks PBT's options; ConfigError names the one that is wrong."""
    if not isinstance(population, int) or isinstance(population, bool) or population < 2:
        raise ConfigError(f"population={population!r} is not allowed; it must be an integer >= 2")
    if not isinstance(truncation, int | float) or not 0 < truncation <= 0.5:
        raise ConfigError(f"truncation={truncation!r} is not allowed; it must be in (0, 0.5]")
    num_replaced = int(truncation * population)
    if num_replaced < 1:
        raise ConfigError(
            f"truncation={truncation} of population={population} replaces no member; "
            f"use population >= {math.ceil(1 / truncation)} or a larger truncation"
        )
    factors = tuple(float(f) for f in perturb)
    if not factors or not all(math.isfinite(f) and f > 0 for f in factors):
        raise ConfigError(
            f"perturb={perturb!r} is not allowed; it must be factors > 0, e.g. 0.8,1.2"
        )
    if not isinstance(resample_probability, int | float) or not 0 <= resample_probability <= 1:
        raise ConfigError(
            f"resample={resample_probability!r} is not allowed; it must be a probability in [0, 1]"
        )
    space = make_space(config, space)
    bounds = {name: valid_range(config, name) for name in space}
    return Evolution(space, bounds, num_replaced, factors, float(resample_probability))


def _int_option(name: str, value: Any, minimum: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ConfigError(f"{name}={value!r} is not allowed; it must be an integer >= {minimum}")
    return value


def pbt(
    config: Config,
    space: Mapping[str, Any],
    population: int,
    seeds: int = 1,
    first_seed: int = 0,
    ready_every: int = 5,
    truncation: float = 0.25,
    perturb: Sequence[float] = (0.8, 1.2),
    resample_probability: float = 0.1,
    devices: Sequence[jax.Device] | None = None,
    progress: bool = False,
    holdout_episodes: int = 0,
) -> PBTResult:
    """Population-based training of ``config`` in one compiled program.

    Args:
        space: the searched keys: name -> ``(kind, low, high)`` with kind
            ``uniform`` or ``loguniform``, or a list of values; the initial
            population is drawn from it. Other keys keep the config's values.
        population: members per population, P >= 2.
        seeds: independent populations S; population s uses the key
            ``PRNGKey(first_seed + s)``, so the same key gives the same result.
        ready_every: logging steps between exploit-and-explore steps (0: never,
            which is a random search of P draws).
        truncation: the fraction of members replaced (bottom) and copied (top).
        perturb: the factors explore multiplies a copied key by.
        resample_probability: the chance that explore draws a key afresh instead.
        devices: the runs axis is sharded over these (default ``jax.devices()``).
        progress: a progress line on stderr.
        holdout_episodes: after training, every member's final policy plays this
            many fresh greedy episodes (``PBTResult.holdout_return``); their keys
            depend on ``first_seed`` only, so PBT and random search
            (``ready_every=0``) with the same seeds are scored on the same episodes.
    """
    seeds = _int_option("seeds", seeds, 1)
    first_seed = _int_option("first_seed", first_seed, 0)
    ready_every = _int_option("ready_every", ready_every, 0)
    holdout_episodes = _int_option("holdout_episodes", holdout_episodes, 0)
    evolution = make_evolution(config, space, population, truncation, perturb, resample_probability)
    if progress:
        print(
            f"PBT of {config.algo} on {config.env_name}: {seeds} population(s) of {population}",
            file=sys.stderr,
        )
    programs = compile_pbt(
        config,
        evolution,
        population,
        seeds,
        ready_every,
        list(devices or jax.devices()),
        holdout_episodes,
    )
    from jaxmarl_core.driver import _Progress

    bar = _Progress(programs.num_logs, sys.stderr, progress)
    t0 = time.perf_counter()
    pop, eval_keys = programs.init(seed_keys(seeds, first_seed))
    steps = []
    for t in range(programs.num_logs):
        pop, metrics, trained_with, parents = programs.step(pop, eval_keys[:, t], jnp.int32(t))
        steps.append(jax.device_get((metrics, trained_with, parents)))
        done = (t + 1) * programs.env_steps_per_log
        bar.update(
            t + 1,
            float(np.mean(steps[-1][0]["eval_return"])),
            done * seeds * population / (time.perf_counter() - t0),
        )
    bar.close()
    wall = time.perf_counter() - t0
    holdout = None
    if programs.holdout is not None:
        keys = jax.vmap(lambda k: jax.random.split(jax.random.fold_in(k, HOLDOUT), population))(
            seed_keys(seeds, first_seed)
        )
        holdout = programs.holdout(pop.state, keys.reshape(seeds * population, 2))
        holdout = np.asarray(jax.device_get(holdout)).reshape(seeds, population)
    shape = lambda x: np.stack(x, axis=-1).reshape(seeds, population, programs.num_logs)
    metrics = {k: shape([s[0][k] for s in steps]) for k in steps[0][0]}
    metrics["env_steps"] = np.broadcast_to(
        programs.env_steps_per_log * np.arange(1, programs.num_logs + 1),
        metrics["eval_return"].shape,
    ).copy()
    return PBTResult(
        space=evolution.space,
        metrics=metrics,
        hparams={k: shape([s[1][k] for s in steps]) for k in evolution.space},
        parents=shape([s[2] for s in steps]).astype(np.int32),
        first_seed=first_seed,
        num_devices=programs.num_devices,
        compile_seconds=programs.compile_seconds,
        wall_seconds=wall,
        holdout_return=holdout,
    )


# ---------------------------------------------------------------------------
# Lineage and reports: pbt.csv, pbt.png, best_config.yaml, pbt.json


def lineage(parents: np.ndarray, member: int) -> np.ndarray:
    """int[num_logs]: whose state ``member``'s final state descends from, at each
    logging step (``parents``: int[P, num_logs] of one population)."""
    path = np.empty(parents.shape[1], np.int64)
    for t in range(parents.shape[1] - 1, -1, -1):
        path[t] = member
        if t > 0 and parents[member, t - 1] >= 0:
            member = int(parents[member, t - 1])
    return path


def best_members(result: PBTResult) -> np.ndarray:
    """int[S]: each population's member with the highest final greedy return."""
    return np.argmax(np.nan_to_num(result.metrics["eval_return"][..., -1], nan=-np.inf), axis=1)


def _short(x: float) -> float:
    """A float32 value as the shortest decimal that reads back as it (0.1, not 0.10000000149)."""
    return float(str(np.float32(x)))


def best_schedule(result: PBTResult, seed: int) -> list[dict[str, Any]]:
    """The best final member of population ``seed``: its lineage as segments of
    logging steps (1-based, inclusive), each with the member whose state trained
    then and the hyperparameters it trained with (they change only at copies)."""
    path = lineage(result.parents[seed], int(best_members(result)[seed]))
    per_log = int(result.metrics["env_steps"][0, 0, 0])
    segments: list[dict[str, Any]] = []
    for t, member in enumerate(path):
        values = {k: _short(v[seed, member, t]) for k, v in result.hparams.items()}
        last = segments[-1] if segments else None
        if last and last["member"] == member and all(last[k] == v for k, v in values.items()):
            last["to_step"] = t + 1
            continue
        start = {"from_step": t + 1, "to_step": t + 1, "from_env_step": t * per_log}
        segments.append({"member": int(member), **start, **values})
    return segments


def write_pbt_dir(out: str | os.PathLike, config: Config, result: PBTResult, options: dict) -> None:
    """Writes ``config.yaml``, ``pbt.csv``, ``pbt.png``, ``best_config.yaml`` and
    ``pbt.json`` into ``out`` (a temporary folder first, then moved)."""
    out = Path(out)
    seeds, population, num_logs = result.parents.shape
    rows = [
        {
            "seed": result.first_seed + s,
            "member": m,
            "step": t + 1,
            "env_steps": int(result.metrics["env_steps"][s, m, t]),
            **{k: float(v[s, m, t]) for k, v in result.hparams.items()},
            "episode_return": float(result.metrics["episode_return"][s, m, t]),
            "eval_return": float(result.metrics["eval_return"][s, m, t]),
            "copied_from": int(result.parents[s, m, t]),
        }
        for s in range(seeds)
        for m in range(population)
        for t in range(num_logs)
    ]
    final = result.metrics["eval_return"][..., -1]
    best = best_members(result)
    s_best = int(np.argmax(final[np.arange(seeds), best]))
    segments = best_schedule(result, s_best)
    best_config = config.replace(**{k: v for k, v in segments[-1].items() if k in result.space})
    best_yaml = {
        **best_config.to_dict(),
        "pbt": {
            "seed": result.first_seed + s_best,
            "member": int(best[s_best]),
            "final_eval_return": float(final[s_best, best[s_best]]),
            "lineage": segments,
        },
    }
    summary = {
        "algo": config.algo,
        "env": config.env_name,
        "population": population,
        "seeds": seeds,
        **options,
        "space": {k: [d.kind, *d.values] for k, d in result.space.items()},
        "num_devices": result.num_devices,
        "compile_seconds": result.compile_seconds,
        "wall_seconds": result.wall_seconds,
        "best_final_eval_return_per_seed": [float(final[s, best[s]]) for s in range(seeds)],
        "best_member_per_seed": [int(b) for b in best],
    }
    if result.holdout_return is not None:
        # The best member is picked by its last evaluation, so only fresh episodes
        # score it without the luck that picked it.
        summary["best_holdout_return_per_seed"] = [
            float(result.holdout_return[s, best[s]]) for s in range(seeds)
        ]
        summary["holdout_return"] = result.holdout_return.tolist()
        best_yaml["pbt"]["holdout_return"] = float(result.holdout_return[s_best, best[s_best]])
    with staged(out) as tmp:
        (tmp / "config.yaml").write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))
        write_csv(tmp / "pbt.csv", rows)
        (tmp / "best_config.yaml").write_text(yaml.safe_dump(best_yaml, sort_keys=False))
        (tmp / "pbt.json").write_text(json.dumps(summary, indent=2) + "\n")
        plot_pbt(tmp / "pbt.png", result, f"PBT: {config.algo} on {config.env_name}")


def plot_pbt(path: Path, result: PBTResult, title: str) -> None:
    """Greedy return of every member over training, then each searched key's
    trajectory; every population's best final member's lineage drawn bold."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    seeds, population, _ = result.parents.shape
    x = result.metrics["env_steps"][0, 0]
    panels = [("eval_return", result.metrics["eval_return"], False)] + [
        (k, v, result.space[k].kind == "loguniform") for k, v in result.hparams.items()
    ]
    fig, axes = plt.subplots(len(panels), 1, figsize=(7, 2.6 * len(panels)), sharex=True)
    for ax, (name, values, log) in zip(np.atleast_1d(axes), panels, strict=True):
        for s in range(seeds):
            for m in range(population):
                ax.step(x, values[s, m], where="post", color="0.6", lw=0.6, alpha=0.5)
            line = lineage(result.parents[s], int(best_members(result)[s]))
            label = (
                f"best of seed {result.first_seed + s}" if seeds > 1 else "best member's lineage"
            )
            ax.step(x, values[s, line, np.arange(len(x))], where="post", lw=1.8, label=label)
        ax.set_ylabel("greedy return" if name == "eval_return" else name)
        if log:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
    np.atleast_1d(axes)[0].legend(fontsize=7)
    np.atleast_1d(axes)[-1].set_xlabel("environment steps per member")
    fig.suptitle(f"{title}: {seeds} population(s) of {population}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
