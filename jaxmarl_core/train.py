"""Training: the pure ``train`` function and the driver that runs it in chunks.

``make_train(config)`` returns ``train(key, hparams=None)``: ``init`` followed by
``num_logs`` chunks, each ``lax.scan(update)`` over ``updates_per_log``
iterations and then a greedy evaluation. The driver (:func:`run`) runs the very
same chunk function jitted and vmapped over seeds, once per logging step, so it
can draw progress and write the run directory without leaving the jitted path
for the work itself. This is the only module that does I/O.
"""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np

from jaxmarl_core.config import Config, ConfigError, algo_module, check_hparams
from jaxmarl_core.envs.registry import make_env
from jaxmarl_core.envs.wrappers import evaluate
from jaxmarl_core.types import Algorithm, HParams, Metrics, PRNGKey

# Metrics that are summed over a chunk; every other metric is averaged.
_SUMMED = ("episode_return_sum", "episodes")


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


def make_algorithm(config: Config) -> tuple[Any, Algorithm]:
    env = build_env(config)
    return env, algo_module(config.algo).make(env, config)


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
        metrics["eval_return"] = evaluate(
            env,
            lambda obs, carry, key: algo.act(state, obs, carry, key),
            eval_key,
            config.num_eval_episodes,
            carry=algo.initial_carry((config.num_eval_episodes,)),
        )
        return state, metrics

    return chunk


def _hparams(config: Config, hparams: HParams | None) -> HParams:
    return config.hparams if hparams is None else check_hparams(config, hparams)


def make_train(config: Config) -> Callable[[PRNGKey, HParams | None], TrainOutput]:
    """Returns the pure function ``train(key, hparams=None) -> TrainOutput``.

    ``out.metrics[name]`` has shape [num_logs] (a seed axis in front when
    vmapped) and holds ``env_steps``, ``episode_return``, ``eval_return``,
    ``episodes`` and the algorithm's loss terms.
    """
    env, algo = make_algorithm(config)
    sched = schedule(config, algo)
    chunk = make_chunk(config, env, algo, sched)

    def train(key: PRNGKey, hparams: HParams | None = None) -> TrainOutput:
        hparams = _hparams(config, hparams)
        init_key, eval_key = jax.random.split(key)
        state = algo.init(init_key, hparams)
        state, metrics = jax.lax.scan(
            lambda s, k: chunk(s, hparams, k), state, jax.random.split(eval_key, sched.num_logs)
        )
        metrics["env_steps"] = env_steps_axis(sched)
        return TrainOutput(metrics=metrics, state=state)

    return train


def env_steps_axis(sched: Schedule) -> chex.Array:
    """int32[num_logs]: environment steps per environment batch at each logging step."""
    per_log = sched.updates_per_log * sched.steps_per_update
    return jnp.arange(1, sched.num_logs + 1, dtype=jnp.int32) * per_log


def seed_keys(seeds: int, first_seed: int = 0) -> chex.Array:
    """One key per seed: ``PRNGKey(first_seed + k)``, stacked: uint32[seeds, 2]."""
    return jnp.stack([jax.random.PRNGKey(first_seed + k) for k in range(seeds)])


# ---------------------------------------------------------------------------
# The driver


def _progress(i: int, n: int, ret: float, sps: float, stream) -> None:
    width = 30
    done = int(width * i / n)
    bar = "#" * done + "-" * (width - done)
    stream.write(f"\r[{bar}] {i}/{n}  return {ret:9.3f}  {sps:,.0f} steps/s ")
    stream.flush()


def check_output_dir(out: str | os.PathLike) -> Path:
    """Makes sure ``out`` can be created and written, leaving nothing behind."""
    path = Path(out)
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise ConfigError(f"output directory {str(path)!r} exists and is not empty")
    parent = path
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    try:
        tempfile.TemporaryDirectory(dir=parent).cleanup()
    except OSError as err:
        raise ConfigError(
            f"output directory {str(path)!r} cannot be written ({err.strerror})"
        ) from None
    return path


class RunResult(NamedTuple):
    metrics: dict[str, np.ndarray]  # [seeds, num_logs]
    summary: dict[str, Any]
    state: Any


def run(
    config: Config,
    seeds: int = 1,
    out: str | os.PathLike | None = None,
    first_seed: int = 0,
    progress: bool = True,
) -> RunResult:
    """Trains ``seeds`` seeds of ``config`` as one vmapped program, chunk by chunk.

    Writes ``config.yaml``, ``metrics.csv``, ``summary.json`` and ``returns.png``
    into ``out`` when given (the files appear together at the end; nothing is
    written if training fails).
    """
    if not isinstance(seeds, int) or isinstance(seeds, bool) or seeds < 1:
        raise ConfigError(f"seeds={seeds!r} is not allowed; seeds must be an integer >= 1")
    if out is not None:
        out = check_output_dir(out)
    env, algo = make_algorithm(config)
    sched = schedule(config, algo)
    chunk = make_chunk(config, env, algo, sched)
    hparams = config.hparams
    if progress:
        print(
            f"training {config.algo} on {config.env_name}: {seeds} seed(s), "
            f"{sched.env_steps:,} env steps each" + (f" -> {out}" if out else ""),
            file=sys.stderr,
        )
    keys = seed_keys(seeds, first_seed)
    init_keys, eval_keys = jax.vmap(jax.random.split, out_axes=1)(keys)
    eval_keys = jax.vmap(lambda k: jax.random.split(k, sched.num_logs), out_axes=1)(eval_keys)

    init_v = jax.jit(jax.vmap(algo.init, in_axes=(0, None)))
    chunk_v = jax.jit(jax.vmap(chunk, in_axes=(0, None, 0)), donate_argnums=0)

    t0 = time.perf_counter()
    state = init_v(init_keys, hparams)
    compiled = chunk_v.lower(state, hparams, eval_keys[0]).compile()
    jax.block_until_ready(state)
    compile_seconds = time.perf_counter() - t0

    stream = sys.stderr
    history: list[dict[str, np.ndarray]] = []
    t1 = time.perf_counter()
    for i in range(sched.num_logs):
        state, metrics = compiled(state, hparams, eval_keys[i])
        history.append(jax.device_get(metrics))
        if progress:
            elapsed = time.perf_counter() - t1
            sps = seeds * (i + 1) * sched.updates_per_log * sched.steps_per_update / elapsed
            _progress(
                i + 1, sched.num_logs, float(np.nanmean(history[-1]["episode_return"])), sps, stream
            )
    wall = time.perf_counter() - t1
    if progress:
        stream.write("\n")

    metrics = {k: np.stack([h[k] for h in history], axis=1) for k in history[0]}
    metrics["env_steps"] = np.broadcast_to(
        np.asarray(env_steps_axis(sched)), (seeds, sched.num_logs)
    )
    summary = summarize(config, metrics, seeds, first_seed, sched, wall, compile_seconds)
    if out is not None:
        write_run_dir(out, config, metrics, summary, first_seed)
    return RunResult(metrics=metrics, summary=summary, state=state)


def _final_train_return(returns: np.ndarray) -> np.ndarray:
    """Mean training return over the last 10% of logging steps, per seed."""
    tail = max(1, math.ceil(0.1 * returns.shape[1]))
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanmean(returns[:, -tail:], axis=1)


def summarize(
    config: Config,
    metrics: dict[str, np.ndarray],
    seeds: int,
    first_seed: int,
    sched: Schedule,
    wall: float,
    compile_seconds: float,
) -> dict[str, Any]:
    final = _final_train_return(metrics["episode_return"])
    final_eval = metrics["eval_return"][:, -1]

    def clean(xs):
        return [None if not np.isfinite(x) else float(x) for x in xs]

    def stat(fn, xs):
        xs = np.asarray(xs, dtype=np.float64)
        xs = xs[np.isfinite(xs)]
        return float(fn(xs)) if xs.size else None

    return {
        "algo": config.algo,
        "env": config.env_name,
        "seeds": seeds,
        "first_seed": first_seed,
        "env_steps": sched.env_steps,
        "final_return_mean": stat(np.mean, final),
        "final_return_std": stat(np.std, final),
        "final_return_per_seed": clean(final),
        "final_eval_return_mean": stat(np.mean, final_eval),
        "final_eval_return_std": stat(np.std, final_eval),
        "final_eval_return_per_seed": clean(final_eval),
        "wall_seconds": wall,
        "compile_seconds": compile_seconds,
        "env_steps_per_second": seeds * sched.env_steps / wall if wall > 0 else None,
    }


def write_run_dir(
    out: Path,
    config: Config,
    metrics: dict[str, np.ndarray],
    summary: dict[str, Any],
    first_seed: int = 0,
) -> None:
    """Writes the four run files into a temporary folder, then moves them to ``out``."""
    import yaml

    parent = out.parent if not out.exists() else out
    parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=parent) as tmp:
        tmp = Path(tmp)
        (tmp / "config.yaml").write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        write_metrics_csv(tmp / "metrics.csv", metrics, first_seed)
        plot_returns(tmp / "returns.png", metrics, f"{config.algo} on {config.env_name}")
        out.mkdir(parents=True, exist_ok=True)
        for f in tmp.iterdir():
            os.replace(f, out / f.name)


def write_metrics_csv(path: Path, metrics: dict[str, np.ndarray], first_seed: int = 0) -> None:
    """Long format: one row per (seed, logging step)."""
    first = ["env_steps", "episode_return", "eval_return"]
    columns = first + sorted(k for k in metrics if k not in first)
    seeds, steps = metrics["env_steps"].shape
    lines = ["seed," + ",".join(columns)]
    for s in range(seeds):
        for t in range(steps):
            row = [str(first_seed + s)]
            for c in columns:
                v = metrics[c][s, t]
                row.append(str(int(v)) if c == "env_steps" else f"{float(v):.6g}")
            lines.append(",".join(row))
    path.write_text("\n".join(lines) + "\n")


def plot_returns(path: Path, metrics: dict[str, np.ndarray], title: str) -> None:
    """Mean and min-max spread over seeds of training and evaluation returns."""
    import warnings

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = metrics["env_steps"][0]
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for name, label, color in (
        ("episode_return", "training episodes", "tab:blue"),
        ("eval_return", "greedy evaluation", "tab:orange"),
    ):
        y = metrics[name]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            mean, lo, hi = np.nanmean(y, 0), np.nanmin(y, 0), np.nanmax(y, 0)
        ax.plot(x, mean, color=color, label=f"{label} (mean)")
        ax.fill_between(x, lo, hi, color=color, alpha=0.2, label=f"{label} (min-max)")
    ax.set_xlabel("environment steps")
    ax.set_ylabel("team return per episode")
    ax.set_title(f"{title}, {metrics['env_steps'].shape[0]} seeds")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
