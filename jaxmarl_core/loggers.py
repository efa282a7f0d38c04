"""Where a run's metrics go besides ``metrics.csv``: the ``logger=`` key.

``logger`` is a comma-separated set of :data:`LOGGERS`; ``csv`` (the run
directory's ``metrics.csv``, written by the driver) is always on. The others:

- ``tensorboard``: scalars under ``out/tensorboard/`` (the mean over seeds of
  every metric, and each seed's ``eval_return``); needs ``tensorboardX``.
- ``wandb``: one Weights & Biases run per seed under ``out/wandb/``, grouped by
  ``wandb_group`` (default: the run directory's name), in ``wandb_project``,
  tagged with the algorithm and the environment, with the resolved config. It
  runs offline (nothing leaves the machine; ``wandb sync`` uploads later) unless
  ``WANDB_API_KEY`` or ``WANDB_MODE`` is set. Needs ``wandb``.
- ``marl_eval``: ``out/marl_eval.json`` in the raw-experiment schema that
  marl-eval (Gorsane et al. 2022) reads, rewritten after every logging step:
  per seed, each logging step's greedy evaluation return (and win rate where
  the game is won or lost) and, at the end, the absolute metric
  (``absolute_return`` when ``absolute_episodes > 0``, else the final
  evaluation). See :func:`jaxmarl_core.stats.marl_eval_json`.

Every logger only reads the metrics the driver hands it, so no logger changes a
run's numbers. Each is a :class:`Logger`: ``append`` once per logging step,
``finish`` once at the end (``summary`` is None when the run stopped early).
"""

from __future__ import annotations

import json
import os
import time
import warnings
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import numpy as np

from jaxmarl_core.config import LOGGERS, Config, ConfigError

__all__ = ["LOGGERS", "Logger", "RunInfo", "check_loggers", "open_loggers"]

_INSTALL = {
    "tensorboard": ("tensorboardX", "pip install 'jaxmarl-core[tensorboard]'"),
    "wandb": ("wandb", "pip install 'jaxmarl-core[wandb]'"),
}


class RunInfo(NamedTuple):
    """What a logger knows of the run it logs."""

    out: Path
    config: Config
    seeds: int
    first_seed: int


class Logger(Protocol):
    def append(self, step: dict[str, np.ndarray]) -> None:
        """One logging step: metric name -> float[seeds] (``env_steps`` int[seeds])."""

    def finish(self, summary: dict[str, Any] | None) -> None:
        """The end of this session of the run; ``summary`` is ``summary.json``'s
        contents, or None when the run stopped before its end."""


def check_loggers(config: Config) -> None:
    """Fails before anything is written when a logger's package is missing."""
    for name in config.logger.split(","):
        if name in _INSTALL:
            module, command = _INSTALL[name]
            try:
                __import__(module)
            except ImportError:
                raise ConfigError(f"logger={name} needs {module}: {command}") from None


def open_loggers(run: RunInfo, history: list[dict[str, np.ndarray]]) -> list[Logger]:
    """The loggers of ``run.config.logger`` other than ``csv`` (which the driver
    writes), each given the logging steps a resumed run already has."""
    makers = {"tensorboard": TensorBoardLogger, "wandb": WandbLogger, "marl_eval": MarlEvalLogger}
    return [makers[n](run, history) for n in run.config.logger.split(",") if n in makers]


class TensorBoardLogger:
    """Scalars under ``out/tensorboard/``; a resumed run purges the steps after
    its checkpoint, so the event files hold each step once."""

    def __init__(self, run: RunInfo, history: list[dict[str, np.ndarray]]) -> None:
        from tensorboardX import SummaryWriter

        self.first_seed = run.first_seed
        purge = int(history[-1]["env_steps"][0]) + 1 if history else None
        self.writer = SummaryWriter(str(run.out / "tensorboard"), purge_step=purge)

    def append(self, step: dict[str, np.ndarray]) -> None:
        x = int(step["env_steps"][0])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            for name in sorted(step):
                if name != "env_steps":
                    self.writer.add_scalar(name, float(np.nanmean(step[name])), x)
        for s, value in enumerate(step["eval_return"]):
            self.writer.add_scalar(f"eval_return/seed_{self.first_seed + s}", value, x)
        self.writer.flush()

    def finish(self, summary: dict[str, Any] | None) -> None:
        self.writer.close()


class WandbLogger:
    """One Weights & Biases run per seed, grouped; offline unless the user has
    set up W&B (``WANDB_API_KEY`` or ``WANDB_MODE``). A resumed run starts new
    W&B runs and logs the steps it already has into them first."""

    def __init__(self, run: RunInfo, history: list[dict[str, np.ndarray]]) -> None:
        import wandb

        config = run.config
        online = "WANDB_API_KEY" in os.environ or "WANDB_MODE" in os.environ
        group = config.wandb_group or run.out.resolve().name
        self.runs = [
            wandb.init(
                project=config.wandb_project,
                group=group,
                name=f"{group}-seed{seed}",
                tags=[config.algo, config.env_name],
                config={**config.to_dict(), "seed": seed},
                dir=str(run.out),
                mode=None if online else "offline",
                reinit="create_new",
                settings=wandb.Settings(silent=True),
            )
            for seed in range(run.first_seed, run.first_seed + run.seeds)
        ]
        for step in history:
            self.append(step)

    def append(self, step: dict[str, np.ndarray]) -> None:
        for s, wb in enumerate(self.runs):
            values = {k: float(v[s]) for k, v in step.items() if k != "env_steps"}
            finite = {k: v for k, v in values.items() if np.isfinite(v)}
            wb.log(finite, step=int(step["env_steps"][s]))

    def finish(self, summary: dict[str, Any] | None) -> None:
        for s, wb in enumerate(self.runs):
            if summary is not None:
                for key, value in summary.items():
                    if key.endswith("_per_seed") and value[s] is not None:
                        wb.summary[key.removesuffix("_per_seed")] = value[s]
            wb.finish(exit_code=0 if summary is not None else 1)


def _marl_eval_names(env_name: str) -> tuple[str, str]:
    """marl-eval's (environment, task) of one of our environment names:
    ``jaxmarl:MPE_simple_spread_v3`` -> (jaxmarl, MPE_simple_spread_v3),
    ``lbf-8x8-2p-2f-coop`` -> (lbf, lbf-8x8-2p-2f-coop), ``climbing`` -> (matrix, climbing)."""
    if ":" in env_name:
        env, _, task = env_name.partition(":")
        return env, task
    family = env_name.split("-", 1)[0]
    return (family if family in ("lbf", "rware") else "matrix"), env_name


class MarlEvalLogger:
    """``out/marl_eval.json``, rewritten after every logging step; the time of
    each evaluation (``elapsed_time``, seconds from the first, as marl-eval's
    ``JsonLogger`` counts) survives a resume through the file itself."""

    def __init__(self, run: RunInfo, history: list[dict[str, np.ndarray]]) -> None:
        self.run = run
        self.path = run.out / "marl_eval.json"
        self.steps: list[dict[str, np.ndarray]] = []
        self.elapsed: list[float] = []
        previous = self._previous_elapsed() if history else []
        for k, step in enumerate(history):
            self.steps.append(step)
            self.elapsed.append(previous[k] if k < len(previous) else 0.0)
        self.origin = time.monotonic() - (self.elapsed[-1] if self.elapsed else 0.0)

    def _previous_elapsed(self) -> list[float]:
        try:
            data = json.loads(self.path.read_text())
            env, task = _marl_eval_names(self.run.config.env_name)
            first = next(iter(data[env][task][self.run.config.algo].values()))
            return [v["elapsed_time"] for k, v in first.items() if k.startswith("step_")]
        except (OSError, ValueError, KeyError, StopIteration, TypeError):
            return []

    def append(self, step: dict[str, np.ndarray]) -> None:
        if not self.steps:
            self.origin = time.monotonic()
        self.elapsed.append(time.monotonic() - self.origin if self.steps else 0.0)
        self.steps.append(step)
        self._write(absolute=None)

    def finish(self, summary: dict[str, Any] | None) -> None:
        if summary is not None and self.steps:
            self._write(absolute=summary.get("absolute_return_per_seed"))

    def _write(self, absolute: list[float | None] | None) -> None:
        from jaxmarl_core.stats import RunRecord, marl_eval_json

        env, task = _marl_eval_names(self.run.config.env_name)
        steps = np.stack([s["env_steps"] for s in self.steps], axis=1)  # [seeds, K]
        metrics = {
            name: np.stack([s[metric] for s in self.steps], axis=1)  # [seeds, K]
            for metric, name in (("eval_return", "return"), ("eval_win_rate", "win_rate"))
            if metric in self.steps[0]
        }
        # One set of logging steps per seed for every metric, so step_k means one time.
        keep = np.logical_and.reduce([np.isfinite(v) for v in metrics.values()])
        elapsed = np.asarray(self.elapsed)
        documents = []
        for name, values in metrics.items():
            records = []
            for s in range(values.shape[0]):
                if not keep[s].any():
                    continue
                best = None
                if name == "return" and absolute is not None and absolute[s] is not None:
                    best = np.asarray([absolute[s]])
                records.append(
                    RunRecord(
                        env=env,
                        task=task,
                        algo=self.run.config.algo,
                        seed=self.run.first_seed + s,
                        steps=steps[s][keep[s]],
                        returns=values[s][keep[s]][:, None],
                        absolute=best,
                        elapsed=elapsed[keep[s]],
                    )
                )
            documents.append(marl_eval_json(records, metric=name))
        merged = _merge(documents)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(merged, indent=1) + "\n")
        os.replace(tmp, self.path)


def _merge(documents: list[dict[str, Any]]) -> dict[str, Any]:
    """Nested dicts of several metrics' marl-eval documents as one: the step and
    absolute-metric entries of each run gain every metric's list."""
    out: dict[str, Any] = {}
    for document in documents:
        _merge_into(out, document)
    return out


def _merge_into(into: dict[str, Any], other: dict[str, Any]) -> None:
    for key, value in other.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge_into(into[key], value)
        elif key not in into:
            into[key] = value
