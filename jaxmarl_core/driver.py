"""The driver: trains a run chunk by chunk and keeps its run directory.

``run(config, seeds, out)`` runs the chunk of ``jaxmarl_core.train`` jitted and
vmapped over seeds, once per logging step. The run directory is written as the
run goes:

- at the start: ``config.yaml`` (the resolved config) and ``run.json`` (seeds);
- after every logging step: the rows of ``metrics.csv`` (and what the other
  loggers of ``logger=`` write: :mod:`jaxmarl_core.loggers`);
- every ``checkpoint_every`` logging steps and at the end: a checkpoint
  (``jaxmarl_core.checkpoints``) with the learner state and the metrics so far;
- at the end: ``summary.json`` and ``returns.png``.

``resume(DIR)`` restores the newest usable checkpoint and finishes the run; the
run directory then ends as it would have without the interruption (timings
apart). SIGINT and SIGTERM make the driver write a checkpoint after the current
logging step and stop (:class:`RunStopped`); so does a non-finite loss or
parameter, which keeps the last good checkpoint instead.
"""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, NamedTuple, TextIO

import jax
import numpy as np

from jaxmarl_core.checkpoints import Checkpoints
from jaxmarl_core.chunks import compile_programs, runs_of, start_runs, train_runs
from jaxmarl_core.config import Config, ConfigError, make_config
from jaxmarl_core.loggers import RunInfo, check_loggers, open_loggers
from jaxmarl_core.train import Schedule, make_algorithm, schedule, seed_keys

RUN_FILE = "run.json"
# Fields of summary.json that measure time: they differ between any two runs.
TIMING_KEYS = (
    "wall_seconds",
    "compile_seconds",
    "train_seconds",
    "env_steps_per_second",
    "env_steps_per_second_with_compile",
    "sessions",
)


class RunResult(NamedTuple):
    metrics: dict[str, np.ndarray]  # [seeds, num_logs]
    summary: dict[str, Any]
    state: Any


# ---------------------------------------------------------------------------
# Run directories


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


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _start_run_dir(out: Path, config: Config, seeds: int, first_seed: int) -> None:
    import yaml

    out.mkdir(parents=True, exist_ok=True)
    _write_atomic(out / "config.yaml", yaml.safe_dump(config.to_dict(), sort_keys=False))
    _write_atomic(out / RUN_FILE, json.dumps({"seeds": seeds, "first_seed": first_seed}) + "\n")


def load_run(directory: str | os.PathLike) -> tuple[Config, int, int]:
    """The config, seeds and first seed of a run directory; ConfigError if it is none."""
    import yaml

    path = Path(directory)
    if not path.is_dir():
        raise ConfigError(f"run directory {str(path)!r} does not exist")
    if not (path / "config.yaml").is_file() or not (path / RUN_FILE).is_file():
        raise ConfigError(f"{str(path)!r} is not a run directory (no config.yaml and {RUN_FILE})")
    try:
        values = yaml.safe_load((path / "config.yaml").read_text())
        run = json.loads((path / RUN_FILE).read_text())
        algo, env = values.pop("algo"), values.pop("env")
        seeds, first_seed = int(run["seeds"]), int(run["first_seed"])
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise ConfigError(f"{str(path)!r}: config.yaml or {RUN_FILE} is damaged ({err})") from None
    return make_config(algo, env=env, **values), seeds, first_seed


# ---------------------------------------------------------------------------
# Metrics as the run goes: metrics.csv and the other loggers


def _columns(names) -> list[str]:
    first = ["env_steps", "episode_return", "eval_return"]
    return first + sorted(k for k in names if k not in first)


def _csv_rows(step: dict[str, np.ndarray], columns: list[str], first_seed: int) -> list[str]:
    rows = []
    for s in range(len(step["env_steps"])):
        cells = [str(first_seed + s)]
        for c in columns:
            v = step[c][s]
            cells.append(str(int(v)) if c == "env_steps" else f"{float(v):.6g}")
        rows.append(",".join(cells))
    return rows


class MetricsLog:
    """Writes each logging step's metrics as it comes: rows of ``metrics.csv``
    (long format, one row per seed and logging step, in step order), and hands
    the step to the other loggers ``logger=`` names (:mod:`jaxmarl_core.loggers`).

    Given the history of a resumed run, it first rewrites ``metrics.csv`` to
    hold exactly that history, dropping rows written after the checkpoint.
    """

    def __init__(self, run: RunInfo, history: list[dict[str, np.ndarray]]) -> None:
        self.path = run.out / "metrics.csv"
        self.first_seed = run.first_seed
        self.columns: list[str] | None = None
        if history:
            self.columns = _write_steps_csv(self.path, history, run.first_seed)
        else:
            self.path.unlink(missing_ok=True)
        self.loggers = open_loggers(run, history)

    def append(self, step: dict[str, np.ndarray]) -> None:
        if self.columns is None:
            self.columns = _columns(step)
            self.path.write_text("seed," + ",".join(self.columns) + "\n")
        with self.path.open("a") as f:
            f.write("\n".join(_csv_rows(step, self.columns, self.first_seed)) + "\n")
        for logger in self.loggers:
            logger.append(step)

    def finish(self, summary: dict[str, Any] | None) -> None:
        for logger in self.loggers:
            logger.finish(summary)


def _write_steps_csv(path: Path, steps: list[dict[str, np.ndarray]], first_seed: int) -> list[str]:
    """Writes ``metrics.csv`` from per-logging-step metrics (name -> [seeds]), in
    the row order of a run (logging step, then seed); returns its columns."""
    columns = _columns(steps[0])
    lines = ["seed," + ",".join(columns)]
    for step in steps:
        lines += _csv_rows(step, columns, first_seed)
    _write_atomic(path, "\n".join(lines) + "\n")
    return columns


def write_metrics_csv(path: Path, metrics: dict[str, np.ndarray], first_seed: int = 0) -> None:
    """All of ``metrics`` ([seeds, num_logs] arrays) as one ``metrics.csv``."""
    steps = [{k: v[:, t] for k, v in metrics.items()} for t in range(metrics["env_steps"].shape[1])]
    _write_steps_csv(path, steps, first_seed)


# ---------------------------------------------------------------------------
# Progress, signals, checks


class _Progress:
    """A bar redrawn in place on a terminal; elsewhere (CI logs, nohup) one plain
    line per logging step, at most one every ``every`` seconds, and the last."""

    def __init__(self, total: int, stream: TextIO, enabled: bool, every: float = 2.0) -> None:
        self.total, self.stream, self.enabled, self.every = total, stream, enabled, every
        self.tty = enabled and hasattr(stream, "isatty") and stream.isatty()
        self.last = -math.inf

    def update(self, done: int, ret: float, sps: float) -> None:
        if not self.enabled:
            return
        if self.tty:
            width = 30
            bar = "#" * int(width * done / self.total)
            self.stream.write(
                f"\r[{bar:-<{width}}] {done}/{self.total}  return {ret:9.3f}  "
                f"{sps:,.0f} env steps/s (after compilation) "
            )
        elif done == self.total or time.monotonic() - self.last >= self.every:
            self.last = time.monotonic()
            self.stream.write(
                f"logging step {done}/{self.total}: return {ret:.3f}, "
                f"{sps:,.0f} env steps/s after compilation\n"
            )
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")


# ---------------------------------------------------------------------------
# The driver


def run(
    config: Config,
    seeds: int = 1,
    out: str | os.PathLike | None = None,
    first_seed: int = 0,
    progress: bool = True,
) -> RunResult:
    """Trains ``seeds`` seeds of ``config`` as one vmapped program, chunk by chunk.

    With ``out``, keeps the run directory described in the module docstring;
    ``out`` must be new or empty. Raises ConfigError on bad input (nothing
    written) and :class:`RunStopped` when training stops early.
    """
    if not isinstance(seeds, int) or isinstance(seeds, bool) or seeds < 1:
        raise ConfigError(f"seeds={seeds!r} is not allowed; seeds must be an integer >= 1")
    if not isinstance(first_seed, int) or isinstance(first_seed, bool) or first_seed < 0:
        raise ConfigError(f"first_seed={first_seed!r} is not allowed; it must be an integer >= 0")
    check_loggers(config)
    if out is not None:
        out = check_output_dir(out)
        make_algorithm(config)  # bad environment options fail before anything is written
        _start_run_dir(out, config, seeds, first_seed)
    return _drive(config, seeds, first_seed, out, progress, resume=False)


def resume(
    directory: str | os.PathLike, progress: bool = True, **overrides: Any
) -> RunResult | None:
    """Finishes the run in ``directory`` from its newest usable checkpoint, with
    the config stored there. ``overrides`` may only repeat stored values.
    Returns None (and does nothing) if the run had already finished."""
    config, seeds, first_seed = load_run(directory)
    stored = {**config.to_dict(), "seeds": seeds, "first_seed": first_seed}
    for key, value in overrides.items():
        if key.startswith("env_kwargs."):
            have = stored["env_kwargs"].get(key.split(".", 1)[1], "<unset>")
        else:
            have = stored.get(key, "<unset>")
        if value != have:
            raise ConfigError(
                f"resume= continues with the config stored in the run; {key}={value!r} "
                f"conflicts with its {key}={have!r}"
            )
    check_loggers(config)
    path = Path(directory)
    if (path / "summary.json").is_file():
        return None
    if config.checkpoint_every == 0:
        raise ConfigError(
            f"run {str(path)!r} was started with checkpoint_every=0; there is nothing to resume"
        )
    return _drive(config, seeds, first_seed, path, progress, resume=True)


def _drive(
    config: Config, seeds: int, first_seed: int, out: Path | None, progress: bool, resume: bool
) -> RunResult:
    t0 = time.perf_counter()
    stream = sys.stderr
    programs = compile_programs(config, seeds)
    runs = runs_of(np.asarray(seed_keys(seeds, first_seed)), config.hparams)
    ckpts = (
        Checkpoints(out, config.keep_checkpoints)
        if out is not None and config.checkpoint_every > 0
        else None
    )
    start = start_runs(programs, runs, ckpts, resume, report=stream)
    if resume and start.step == 0 and progress:
        print(f"no usable checkpoint in {out}; starting from the beginning", file=stream)
    jax.block_until_ready(start.state)
    past, sched = start.meta, programs.sched
    compile_seconds = programs.compile_seconds

    log = None
    if out is not None:
        log = MetricsLog(RunInfo(out, config, seeds, first_seed), start.history)
    if progress:
        print(
            f"{'resuming' if start.step else 'training'} {config.algo} on {config.env_name}: "
            f"{seeds} seed(s), {sched.env_steps:,} env steps each"
            + (f", from logging step {start.step}/{sched.num_logs}" if start.step else "")
            + (f" -> {out}" if out else ""),
            file=stream,
        )
    bar = _Progress(sched.num_logs, stream, progress)

    def timing(train_seconds: float) -> dict[str, float]:
        return {
            "train_seconds": past.get("train_seconds", 0.0) + train_seconds,
            "compile_seconds": past.get("compile_seconds", 0.0) + compile_seconds,
            "wall_seconds": past.get("wall_seconds", 0.0) + time.perf_counter() - t0,
            "sessions": past.get("sessions", 0) + 1,
        }

    def on_step(done: int, step: dict[str, np.ndarray], sps: float) -> None:
        if log is not None:
            log.append(step)
        finished = step["episode_return"][np.isfinite(step["episode_return"])]
        bar.update(done, float(finished.mean()) if finished.size else math.nan, sps)

    try:
        done = train_runs(
            programs,
            runs,
            start,
            ckpts,
            config.checkpoint_every,
            meta=timing,
            on_step=on_step,
            stop_on_non_finite=True,
            run_names=lambda r: f"seed {first_seed + r}",
            resume_hint=f"resume with: jaxmarl-core train resume={out}",
        )
    except BaseException:
        if log is not None:
            log.finish(None)
        raise
    finally:
        bar.close()
    summary = summarize(config, done.metrics, seeds, first_seed, sched, timing(done.train_seconds))
    if out is not None:
        _write_atomic(out / "summary.json", json.dumps(summary, indent=2) + "\n")
        plot_returns(out / "returns.png", done.metrics, f"{config.algo} on {config.env_name}")
        log.finish(summary)
    return RunResult(metrics=done.metrics, summary=summary, state=done.state)


# ---------------------------------------------------------------------------
# Summary and plot


def final_train_return(returns: np.ndarray) -> np.ndarray:
    """Mean training return over the last 10% of logging steps, per seed."""
    tail = max(1, math.ceil(0.1 * returns.shape[1]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(returns[:, -tail:], axis=1)


def summarize(
    config: Config,
    metrics: dict[str, np.ndarray],
    seeds: int,
    first_seed: int,
    sched: Schedule,
    timing: dict[str, float],
) -> dict[str, Any]:
    """The contents of ``summary.json``. Speed: ``env_steps_per_second`` is the
    training rate after compilation (all seeds' steps over ``train_seconds``);
    ``env_steps_per_second_with_compile`` divides by ``wall_seconds``, the whole
    time including compilation and writing; for a resumed run all times add up
    over its ``sessions``. With ``absolute_episodes``, also the absolute metric
    per seed (``absolute_return_*``); for a game that is won or lost, the training
    episodes' win rate over the last 10% of training (``final_win_rate_*``) and
    the greedy evaluation's at the last logging step (``final_eval_win_rate_*``)."""
    final = final_train_return(metrics["episode_return"])
    final_eval = metrics["eval_return"][:, -1]

    def clean(xs):
        return [None if not np.isfinite(x) else float(x) for x in xs]

    def stat(fn, xs):
        xs = np.asarray(xs, dtype=np.float64)
        xs = xs[np.isfinite(xs)]
        return float(fn(xs)) if xs.size else None

    steps = seeds * sched.env_steps
    extra = {}
    if "absolute_return" in metrics:  # config.absolute_episodes > 0
        values = metrics["absolute_return"][:, -1]
        extra = {
            "absolute_return_mean": stat(np.mean, values),
            "absolute_return_std": stat(np.std, values),
            "absolute_return_per_seed": clean(values),
        }
    if "win_rate" in metrics:  # a game that is won or lost (SMAX)
        wins = final_train_return(metrics["win_rate"])
        extra.update(
            final_win_rate_mean=stat(np.mean, wins),
            final_win_rate_std=stat(np.std, wins),
            final_win_rate_per_seed=clean(wins),
        )
    if "eval_win_rate" in metrics:
        greedy_wins = metrics["eval_win_rate"][:, -1]
        extra.update(
            final_eval_win_rate_mean=stat(np.mean, greedy_wins),
            final_eval_win_rate_std=stat(np.std, greedy_wins),
            final_eval_win_rate_per_seed=clean(greedy_wins),
        )
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
        **extra,
        "env_steps_per_second": steps / timing["train_seconds"],
        "env_steps_per_second_with_compile": steps / timing["wall_seconds"],
        "train_seconds": timing["train_seconds"],
        "compile_seconds": timing["compile_seconds"],
        "wall_seconds": timing["wall_seconds"],
        "sessions": timing["sessions"],
    }


def plot_returns(path: Path, metrics: dict[str, np.ndarray], title: str) -> None:
    """Mean and min-max spread over seeds of training and evaluation returns."""
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
    tmp = path.with_name(path.name + ".tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)


# ---------------------------------------------------------------------------
# Evaluation of a finished (or stopped) run


class Evaluation(NamedTuple):
    """``returns``: float32[seeds, episodes], the team return of each greedy
    episode; ``joint_actions``: for a matrix game, int[A_1, ..., A_N] counts of
    the greedy joint actions over all seeds and steps, else None."""

    config: Config
    checkpoint: int
    env_steps: int
    first_seed: int
    returns: np.ndarray
    joint_actions: np.ndarray | None


def evaluate_run(
    directory: str | os.PathLike,
    checkpoint: int | None = None,
    episodes: int | None = None,
    render: str | os.PathLike | None = None,
    seed: int = 0,
) -> Evaluation:
    """Greedy episodes of every seed of a run, from one of its checkpoints.

    Args:
        directory: a run directory with checkpoints.
        checkpoint: the logging step of the checkpoint (default: the newest
            usable one).
        episodes: greedy episodes per seed (default ``num_eval_episodes``).
        render: for a grid game, write one greedy episode of the first seed as
            an animated GIF to this path.
        seed: the evaluation's key, ``PRNGKey(seed)``.
    """
    from jaxmarl_core.envs.episodes import (
        greedy_returns,
        joint_action_counts,
        render_episode,
        why_not_renderable,
    )
    from jaxmarl_core.envs.matrix import MatrixGame

    config, seeds, first_seed = load_run(directory)
    episodes = config.num_eval_episodes if episodes is None else episodes
    if not isinstance(episodes, int) or isinstance(episodes, bool) or episodes < 1:
        raise ConfigError(f"episodes={episodes!r} is not allowed; it must be an integer >= 1")
    if checkpoint is not None and (not isinstance(checkpoint, int) or checkpoint < 0):
        raise ConfigError(f"checkpoint={checkpoint!r} is not allowed; it must be a logging step")
    env, algo = make_algorithm(config)
    is_matrix = isinstance(env, MatrixGame)
    if render is not None:
        if is_matrix:
            raise ConfigError(
                "render= is for grid games; a matrix game's eval prints its joint-action table"
            )
        if (reason := why_not_renderable(env)) is not None:
            raise ConfigError(f"render=: {reason}")
        if Path(render).suffix.lower() != ".gif":
            raise ConfigError(f"render={str(render)!r}: the animation is written as a .gif file")
        check_output_file(render)
    ckpts = Checkpoints(directory)
    if not ckpts.steps():
        raise ConfigError(f"run {str(directory)!r} has no checkpoints to evaluate")
    if checkpoint is not None and checkpoint not in ckpts.steps():
        raise ConfigError(
            f"run {str(directory)!r} has no checkpoint {checkpoint}; it has "
            f"{', '.join(map(str, ckpts.steps()))}"
        )
    init_v = jax.vmap(algo.init, in_axes=(0, None))
    abstract = jax.eval_shape(init_v, seed_keys(seeds, first_seed), config.hparams)
    found = ckpts.restore(abstract, step=checkpoint, move_aside=False)
    if found is None:
        raise ConfigError(f"run {str(directory)!r} has no usable checkpoint")
    state = found.state
    carry = algo.initial_carry((episodes,))
    keys = jax.random.split(jax.random.PRNGKey(seed), seeds)

    def one_seed(learner, key):
        policy = lambda obs, c, k: algo.act(learner, obs, c, k)
        returns = greedy_returns(env, policy, key, episodes, carry)
        counts = joint_action_counts(env, policy, key, episodes, carry) if is_matrix else None
        return returns, counts

    returns, counts = jax.jit(jax.vmap(one_seed))(state, keys)
    if render is not None:
        first = jax.tree.map(lambda x: x[0], state)
        render_episode(
            env,
            lambda obs, c, k: algo.act(first, obs, c, k),
            keys[0],
            algo.initial_carry((1,)),
            render,
        )
    sched = schedule(config, algo)
    return Evaluation(
        config=config,
        checkpoint=found.step,
        env_steps=found.step * sched.updates_per_log * sched.steps_per_update,
        first_seed=first_seed,
        returns=np.asarray(returns),
        joint_actions=None if counts is None else np.asarray(counts).sum(axis=0),
    )


def check_output_file(path: str | os.PathLike) -> Path:
    """Makes sure a file can be written at ``path`` (its folder exists and is
    writable) without overwriting anything."""
    path = Path(path)
    if path.exists():
        raise ConfigError(f"{str(path)!r} exists; choose a new file name")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise ConfigError(f"cannot write {str(path)!r}: folder {str(folder)!r} does not exist")
    if not os.access(folder, os.W_OK):
        raise ConfigError(f"cannot write {str(path)!r}: folder {str(folder)!r} is not writable")
    return path
