"""Seed sweeps and hyperparameter searches as one compiled program.

Every (setting, seed) pair is one *run*. The runs axis is flattened,
``jit(vmap(train))`` runs them all at once, sharded over every device with a
``jax.sharding.Mesh`` along that axis. Hyperparameters are traced, so every
setting shares one compiled program. When the runs would not fit in device
memory, they go in equal batches of the largest size that fits (measured from
the compiled program's memory analysis), one after another through the same
program.

    settings = grid(config, {"lr": [1e-4, 3e-4, 1e-3]})
    result = sweep(config, settings, seeds=8)
    result.metrics["eval_return"]           # [settings, seeds, num_logs]
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import jax
import numpy as np
import yaml
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jaxmarl_core.checkpoints import Checkpoints
from jaxmarl_core.chunks import compile_programs, runs_of, start_runs, train_runs
from jaxmarl_core.config import Config, ConfigError, params_of
from jaxmarl_core.groups import default_width
from jaxmarl_core.hosts import (  # noqa: F401
    agree,
    is_writer,
    maybe_initialize_distributed,
    usable_local_devices,
)
from jaxmarl_core.train import seed_keys

# In a sweep directory from its start until every result is written: a sweep
# stopped on the way (a signal, a host that died) leaves it there.
INCOMPLETE = "INCOMPLETE"

_RANGE = re.compile(r"^(loguniform|uniform)\(\s*([^,]+?)\s*,\s*([^,]+?)\s*\)$")


class SweepResult(NamedTuple):
    """Attributes:
    settings: one dict of swept hyperparameter values per setting.
    metrics: name -> float array [settings, seeds, num_logs].
    batch_size: runs per batch of the compiled program.
    num_batches: how many batches the runs took.
    num_devices: devices the runs axis was sharded over.
    compile_seconds: compiling, in this process.
    wall_seconds: running every batch, summed over every process that ran part
        of one (a resumed batch's earlier seconds come from its checkpoint, a
        batch recorded before from its record; NaN for a record without them).
    """

    settings: list[dict[str, float]]
    metrics: dict[str, np.ndarray]
    batch_size: int
    num_batches: int
    num_devices: int
    compile_seconds: float
    wall_seconds: float


def _check_swept(config: Config, name: str) -> None:
    params = params_of(config.algo)
    if name not in params:
        raise ConfigError(
            f"unknown hyperparameter {name!r} for {config.algo}; sweepable: "
            f"{', '.join(sorted(config.hparams_defaults))}"
        )
    if not params[name].traced:
        raise ConfigError(
            f"{name} is a structural key (it changes the compiled program) and cannot be "
            f"swept; sweepable: {', '.join(sorted(config.hparams_defaults))}"
        )


def grid(config: Config, values: Mapping[str, Sequence[float]]) -> list[dict[str, float]]:
    """Every combination of the listed values, each checked against its key's range."""
    params = params_of(config.algo)
    for name, vals in values.items():
        _check_swept(config, name)
        if len(vals) == 0:
            raise ConfigError(f"{name}: the list of values to sweep is empty")
        for v in vals:
            params[name].check(name, v)
    names = list(values)
    return [
        {n: float(v) for n, v in zip(names, combo, strict=True)}
        for combo in itertools.product(*(values[n] for n in names))
    ]


def check_range(config: Config, name: str, kind: str, low: float, high: float) -> None:
    """Checks a distribution ``kind(low, high)`` of a swept key: kind ``uniform``
    or ``loguniform``, ``low <= high``, both bounds in the key's valid range."""
    _check_swept(config, name)
    if kind not in ("uniform", "loguniform"):
        raise ConfigError(f"{name}: unknown distribution {kind!r}; use uniform or loguniform")
    if not low <= high:
        raise ConfigError(f"{name}={kind}({low}, {high}): low must be <= high")
    if kind == "loguniform" and low <= 0:
        raise ConfigError(f"{name}=loguniform({low}, {high}): bounds must be > 0")
    for bound in (low, high):
        params_of(config.algo)[name].check(name, bound)


def random_search(
    config: Config,
    ranges: Mapping[str, tuple[str, float, float]],
    samples: int,
    seed: int = 0,
) -> list[dict[str, float]]:
    """``samples`` settings, each value drawn from ``(kind, low, high)`` with kind
    ``uniform`` or ``loguniform``; a fixed ``seed`` gives the same settings."""
    if not isinstance(samples, int) or isinstance(samples, bool) or samples < 1:
        raise ConfigError(f"samples={samples!r} is not allowed; samples must be an integer >= 1")
    rng = np.random.default_rng(seed)
    drawn: dict[str, np.ndarray] = {}
    for name, (kind, low, high) in ranges.items():
        check_range(config, name, kind, low, high)
        if kind == "loguniform":
            drawn[name] = np.exp(rng.uniform(np.log(low), np.log(high), samples))
        else:
            drawn[name] = rng.uniform(low, high, samples)
    return [{n: float(v[i]) for n, v in drawn.items()} for i in range(samples)]


def split_spec(
    spec: Mapping[str, str],
) -> tuple[dict[str, list[float]], dict[str, tuple[str, float, float]]]:
    """Command-line text as (value lists, ranges): ``name=v1,v2`` gives
    ``[v1, v2]``, ``name=loguniform(a,b)`` / ``name=uniform(a,b)`` gives
    ``(kind, a, b)``. Values are checked later, against the config."""
    listed: dict[str, list[float]] = {}
    ranges: dict[str, tuple[str, float, float]] = {}
    for name, text in spec.items():
        m = _RANGE.match(text.strip())
        try:
            if m:
                ranges[name] = (m.group(1), float(m.group(2)), float(m.group(3)))
            else:
                listed[name] = [float(v) for v in text.split(",") if v.strip()]
        except ValueError:
            raise ConfigError(
                f"{name}={text!r}: expected a list of numbers v1,v2,... or "
                f"loguniform(a,b) / uniform(a,b)"
            ) from None
    return listed, ranges


def parse_spec(config: Config, spec: Mapping[str, str], samples: int | None = None):
    """Settings from command-line text: ``name=v1,v2`` (a grid) or
    ``name=loguniform(a,b)`` / ``name=uniform(a,b)`` (with ``samples`` draws)."""
    listed, ranges = split_spec(spec)
    if ranges and samples is None:
        raise ConfigError("a range (uniform/loguniform) needs samples=K")
    settings = grid(config, listed) if listed else [{}]
    if ranges:
        drawn = random_search(config, ranges, samples)
        settings = [{**g, **d} for g in settings for d in drawn]
    return settings


def _device_budget(device) -> float:
    """Bytes the runs may use on one device: its free memory, or on a CPU half of
    the host's available memory."""
    stats = device.memory_stats() if hasattr(device, "memory_stats") else None
    if stats and "bytes_limit" in stats:
        return 0.9 * (stats["bytes_limit"] - stats.get("bytes_in_use", 0))
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return 0.5 * int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0.5 * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def unpadded_batch(num_runs: int, batch: int) -> int:
    """The largest batch of at most ``batch`` runs that divides ``num_runs``.

    A last batch with fewer runs than the others is padded with copies of run 0
    (one program shape for all batches). On a single CPU device a batch's runs
    go one after another (:mod:`jaxmarl_core.groups`), so a smaller batch costs
    no speed, while a padded copy costs a whole run: 3 runs of which 2 fit go
    as 3 batches of 1, not 2 of 2.
    """
    return max(b for b in range(1, batch + 1) if num_runs % b == 0)


def sweep(
    config: Config,
    settings: Sequence[Mapping[str, float]],
    seeds: int = 1,
    first_seed: int = 0,
    max_parallel_runs: int | None = None,
    devices: Sequence[jax.Device] | None = None,
    memory_budget: float | None = None,
    progress: bool = False,
    out: str | os.PathLike | None = None,
    env_params: Sequence[Any] | None = None,
) -> SweepResult:
    """Runs every (setting, seed) pair of ``config`` in one compiled program.

    Run (s, k) uses ``config.hparams`` updated with ``settings[s]`` and the key
    ``PRNGKey(first_seed + k)``, so it equals ``make_train(config)`` called alone
    with that key and those hyperparameters.

    Args:
        settings: per setting, the swept hyperparameters (others keep their value).
        seeds: seeds per setting.
        max_parallel_runs: at most this many runs at once (rounded down to a
            multiple of the device count); by default, as many as fit in memory.
        devices: devices to shard the runs over; default ``jax.devices()``, less
            the CPU devices beyond the cores this process may use
            (:func:`jaxmarl_core.hosts.usable_local_devices`).
        memory_budget: bytes per device for the automatic split; default the
            device's free memory (half the host's available memory on a CPU).
        out: a sweep directory that records each finished batch
            (``batches/<b>.npz``, written atomically); batches already recorded
            there are read back instead of run again (see :func:`resume_sweep`).
        env_params: per setting, the environment parameters it trains on (each
            shaped as the config environment's ``params()``, e.g. another
            matrix game's payoff), so one program trains several games; by
            default every setting trains on the config's environment.
    """
    if not isinstance(seeds, int) or isinstance(seeds, bool) or seeds < 1:
        raise ConfigError(f"seeds={seeds!r} is not allowed; seeds must be an integer >= 1")
    if len(settings) == 0:
        raise ConfigError("a sweep needs at least one setting")
    devices = list(devices) if devices else usable_local_devices(jax.devices())
    ndev = len(devices)
    base = {k: float(v) for k, v in config.hparams_defaults.items()}
    for setting in settings:
        for name in setting:
            _check_swept(config, name)
    num_settings, num_runs = len(settings), len(settings) * seeds
    # Runs in setting-major order: run r is setting r // seeds, seed r % seeds.
    run_hparams = {
        name: np.repeat(np.array([{**base, **s}[name] for s in settings], np.float32), seeds)
        for name in base
    }
    run_keys = np.tile(np.asarray(seed_keys(seeds, first_seed)), (num_settings, 1))
    if env_params is not None and len(env_params) != num_settings:
        raise ConfigError(
            f"env_params gives {len(env_params)} environments for {num_settings} settings; "
            f"give one per setting"
        )
    run_params = (
        None
        if env_params is None
        else jax.tree.map(
            lambda *xs: np.repeat(np.stack([np.asarray(x) for x in xs]), seeds, axis=0),
            *env_params,
        )
    )
    with_params = env_params is not None
    sharding = NamedSharding(Mesh(np.array(devices), ("runs",)), PartitionSpec("runs"))

    def round_up(n: int) -> int:
        return ndev * math.ceil(n / ndev)

    if max_parallel_runs is not None:
        if not isinstance(max_parallel_runs, int) or max_parallel_runs < 1:
            raise ConfigError(f"max_parallel_runs={max_parallel_runs!r} must be an integer >= 1")
        batch = round_up(min(num_runs, max(ndev, max_parallel_runs - max_parallel_runs % ndev)))
        programs = compile_programs(config, batch, sharding, with_params)
    else:
        mine = [d for d in devices if d.process_index == jax.process_index()]
        budget = memory_budget if memory_budget is not None else _device_budget(mine[0])
        batch = round_up(num_runs)
        programs = compile_programs(config, batch, sharding, with_params)
        while programs.bytes_needed > budget and batch > ndev:
            batch = round_up(math.ceil(batch / 2))
            programs = compile_programs(config, batch, sharding, with_params)
        if batch < num_runs and ndev == 1 and default_width() is not None:
            even = unpadded_batch(num_runs, batch)
            if even != batch:
                batch = even
                programs = compile_programs(config, batch, sharding, with_params)
    compile_seconds = programs.compile_seconds
    num_batches = math.ceil(num_runs / batch)
    if progress and num_batches > 1:
        print(
            f"sweep: {num_runs} runs do not fit at once; {num_batches} batches of {batch}",
            file=sys.stderr,
        )

    pad = num_batches * batch - num_runs  # the last batch repeats run 0 to keep its shape
    keys_all = np.concatenate([run_keys, np.repeat(run_keys[:1], pad, 0)])
    hp_all = {k: np.concatenate([v, np.repeat(v[:1], pad)]) for k, v in run_hparams.items()}
    params_all = jax.tree.map(lambda v: np.concatenate([v, np.repeat(v[:1], pad, 0)]), run_params)
    records = None if out is None else _BatchRecords(out, batch, num_batches)
    # Checkpoints inside a batch: one process only (orbax's multi-process writes
    # are not wired here); with several, a stopped sweep redoes its running batch.
    checkpointing = records is not None and config.checkpoint_every > 0
    checkpointing = checkpointing and jax.process_count() == 1
    chunks, seconds = [], []
    for b in range(num_batches):
        if records is not None and records.has(b):
            chunks.append(records.read(b))
            seconds.append(records.seconds(b))
            if progress:
                print(
                    f"sweep: batch {b + 1}/{num_batches} was done before; read back",
                    file=sys.stderr,
                )
            continue
        part = slice(b * batch, (b + 1) * batch)
        runs = runs_of(
            keys_all[part],
            {k: v[part] for k, v in hp_all.items()},
            sharding,
            jax.tree.map(lambda v, part=part: v[part], params_all),
        )
        ckpts = (
            Checkpoints(records.batch_dir(b), config.keep_checkpoints) if checkpointing else None
        )
        start = start_runs(programs, runs, ckpts, resume=True, report=sys.stderr, sharding=sharding)
        if progress and start.step:
            print(
                f"sweep: batch {b + 1}/{num_batches} resumes from logging step {start.step}",
                file=sys.stderr,
            )
        past = start.meta.get("train_seconds", 0.0)  # earlier processes' on this batch
        done = train_runs(
            programs,
            runs,
            start,
            ckpts,
            config.checkpoint_every,
            meta=lambda now, past=past: {"train_seconds": past + now},
            run_names=lambda r, b=b: f"run {b * batch + r}",
            resume_hint=f"resume with: jaxmarl-core sweep resume={out}",
        )
        chunks.append(done.metrics)
        seconds.append(past + done.train_seconds)
        if records is not None and is_writer():
            records.write(b, done.metrics, seconds[-1])
        if progress:
            print(f"sweep: batch {b + 1}/{num_batches} done", file=sys.stderr)
    wall = float(sum(seconds))
    metrics = {
        k: np.concatenate([c[k] for c in chunks])[:num_runs].reshape(
            num_settings, seeds, *chunks[0][k].shape[1:]
        )
        for k in chunks[0]
    }
    return SweepResult(
        settings=[dict(s) for s in settings],
        metrics=metrics,
        batch_size=batch,
        num_batches=num_batches,
        num_devices=ndev,
        compile_seconds=compile_seconds,
        wall_seconds=wall,
    )


class _BatchRecords:
    """The finished batches of a sweep directory: ``batches/<b>.npz`` holds the
    metrics of batch b; ``batches/layout.json`` the batch size and count, which a
    resumed sweep must reproduce."""

    def __init__(self, out: str | os.PathLike, batch: int, num_batches: int) -> None:
        self.path = Path(out) / "batches"
        layout = {"batch_size": batch, "num_batches": num_batches}
        found = self.path / "layout.json"
        if found.is_file():
            before = json.loads(found.read_text())
            if before != layout:
                raise ConfigError(
                    f"the sweep in {out} ran {before['num_batches']} batch(es) of "
                    f"{before['batch_size']} runs; this one would run {num_batches} of {batch} "
                    "(a different number of devices or max_parallel_runs): cannot resume it"
                )
        elif is_writer():
            self.path.mkdir(parents=True, exist_ok=True)
            (self.path / "layout.json.tmp").write_text(json.dumps(layout) + "\n")
            os.replace(self.path / "layout.json.tmp", found)

    def has(self, b: int) -> bool:
        return (self.path / f"{b}.npz").is_file()

    def read(self, b: int) -> dict[str, np.ndarray]:
        with np.load(self.path / f"{b}.npz") as data:
            return {k: data[k] for k in data.files}

    def batch_dir(self, b: int):
        """Where batch b keeps its checkpoints while it runs."""
        return self.path / f"running-{b}"

    def seconds(self, b: int) -> float:
        """Batch b's training seconds over every process that ran it (NaN if not recorded)."""
        found = self.path / f"{b}.json"
        if not found.is_file():
            return math.nan
        return float(json.loads(found.read_text())["train_seconds"])

    def write(self, b: int, metrics: dict[str, np.ndarray], train_seconds: float) -> None:
        """Records batch b and its training seconds; its checkpoints are no longer
        needed and go."""
        (self.path / f"{b}.json.tmp").write_text(json.dumps({"train_seconds": train_seconds}))
        os.replace(self.path / f"{b}.json.tmp", self.path / f"{b}.json")
        tmp = self.path / f"{b}.tmp.npz"
        np.savez(tmp, **{k: np.asarray(v) for k, v in metrics.items()})
        os.replace(tmp, self.path / f"{b}.npz")
        shutil.rmtree(self.batch_dir(b), ignore_errors=True)


def start_sweep_dir(out, config: Config, settings, seeds: int, first_seed: int, max_parallel):
    """Writes what ``resume_sweep`` needs into a new sweep directory."""
    out.mkdir(parents=True, exist_ok=True)
    (out / INCOMPLETE).write_text(
        f"this sweep has not finished; its results are not here yet.\n"
        f"finish it with: jaxmarl-core sweep resume={out}\n"
    )
    (out / "config.yaml").write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))
    plan = {
        "settings": [dict(s) for s in settings],
        "seeds": seeds,
        "first_seed": first_seed,
        "max_parallel_runs": max_parallel,
    }
    (out / "plan.json").write_text(json.dumps(plan, indent=1) + "\n")


def load_sweep_dir(out) -> tuple[Config, list[dict[str, float]], int, int, int | None]:
    """(config, settings, seeds, first_seed, max_parallel_runs) of a sweep directory."""
    from jaxmarl_core.config import make_config

    out = Path(out)
    if not out.is_dir():
        raise ConfigError(f"sweep directory {str(out)!r} does not exist")
    if not (out / "plan.json").is_file() or not (out / "config.yaml").is_file():
        raise ConfigError(f"{str(out)!r} is not a sweep directory (no plan.json and config.yaml)")
    values = yaml.safe_load((out / "config.yaml").read_text())
    plan = json.loads((out / "plan.json").read_text())
    config = make_config(values.pop("algo"), env=values.pop("env"), **values)
    max_parallel = plan["max_parallel_runs"]
    layout = out / "batches" / "layout.json"
    if layout.is_file():  # the batches must be the ones already run, whatever memory is free now
        max_parallel = json.loads(layout.read_text())["batch_size"]
    return config, plan["settings"], plan["seeds"], plan["first_seed"], max_parallel


# ---------------------------------------------------------------------------
# Reports: sweep.csv, sweep_summary.csv, best_config.yaml, sweep.png


def summarize_sweep(result: SweepResult) -> list[dict[str, Any]]:
    """Per setting: mean, std and 95% interval of the final greedy return over
    seeds (normal approximation, mean ± 1.96 std/sqrt(seeds)), best first."""
    final_eval = result.metrics["eval_return"][..., -1]  # [settings, seeds]
    rows = []
    for s, setting in enumerate(result.settings):
        x = final_eval[s]
        mean, std = float(np.mean(x)), float(np.std(x, ddof=1)) if x.size > 1 else 0.0
        half = 1.96 * std / math.sqrt(x.size)
        rows.append(
            {
                "setting": s,
                **setting,
                "mean_final_eval_return": mean,
                "std_final_eval_return": std,
                "ci95_low": mean - half,
                "ci95_high": mean + half,
            }
        )
    rows.sort(key=lambda r: -r["mean_final_eval_return"])
    for rank, row in enumerate(rows, 1):
        row["rank"] = rank
    return rows


def write_csv(path, rows: list[dict[str, Any]]) -> None:
    """``rows`` (dicts with the same keys, in order) as a CSV file; floats to 6 digits."""
    columns = list(rows[0])
    lines = [",".join(columns)]
    for row in rows:
        lines.append(
            ",".join(f"{row[c]:.6g}" if isinstance(row[c], float) else str(row[c]) for c in columns)
        )
    path.write_text("\n".join(lines) + "\n")


@contextlib.contextmanager
def staged(out: Path, last: str | None = None) -> Iterator[Path]:
    """A temporary folder inside ``out``; when the block ends without an error, its
    files and folders replace those of the same name in ``out`` (nothing partial),
    the one named ``last`` after all others (its presence marks the output done)."""
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out) as tmp:
        tmp = Path(tmp)
        yield tmp
        for f in sorted(tmp.iterdir(), key=lambda f: f.name == last):
            if f.is_dir():
                shutil.rmtree(out / f.name, ignore_errors=True)
            os.replace(f, out / f.name)


def write_sweep_dir(out, config: Config, result: SweepResult, first_seed: int = 0) -> None:
    """Writes the sweep's files into ``out`` (a temporary folder first, then moved)."""
    from jaxmarl_core.driver import final_train_return, write_metrics_csv

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    final = final_train_return(
        result.metrics["episode_return"].reshape(-1, result.metrics["episode_return"].shape[-1])
    ).reshape(result.metrics["episode_return"].shape[:2])
    final_eval = result.metrics["eval_return"][..., -1]
    runs = []
    for s, setting in enumerate(result.settings):
        for k in range(final.shape[1]):
            runs.append(
                {
                    "setting": s,
                    **setting,
                    "seed": first_seed + k,
                    "final_return": float(final[s, k]),
                    "final_eval_return": float(final_eval[s, k]),
                }
            )
    summary = summarize_sweep(result)
    best = config.replace(**{k: v for k, v in result.settings[summary[0]["setting"]].items()})
    with staged(out, last="sweep.json") as tmp:
        write_csv(tmp / "sweep.csv", runs)
        write_csv(tmp / "sweep_summary.csv", summary)
        (tmp / "best_config.yaml").write_text(yaml.safe_dump(best.to_dict(), sort_keys=False))
        (tmp / "sweep.json").write_text(
            json.dumps(
                {
                    "algo": config.algo,
                    "env": config.env_name,
                    "settings": len(result.settings),
                    "seeds": int(final.shape[1]),
                    "batch_size": result.batch_size,
                    "num_batches": result.num_batches,
                    "num_devices": result.num_devices,
                    "compile_seconds": result.compile_seconds,
                    "wall_seconds": result.wall_seconds,
                    "best": summary[0],
                },
                indent=2,
            )
            + "\n"
        )
        plot_sweep(tmp / "sweep.png", result, f"{config.algo} on {config.env_name}")
        # The best setting's seeds as a run directory's files, for `jaxmarl-core plot`.
        (tmp / "best").mkdir()
        (tmp / "best" / "config.yaml").write_text(yaml.safe_dump(best.to_dict(), sort_keys=False))
        best_metrics = {k: v[summary[0]["setting"]] for k, v in result.metrics.items()}
        write_metrics_csv(tmp / "best" / "metrics.csv", best_metrics, first_seed)
    (out / INCOMPLETE).unlink(missing_ok=True)


def plot_sweep(path, result: SweepResult, title: str) -> None:
    """Final greedy return against each swept value; a heatmap for a two-key grid."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(result.settings[0])
    final_eval = result.metrics["eval_return"][..., -1]
    mean = final_eval.mean(axis=1)
    values = {n: np.array([s[n] for s in result.settings]) for n in names}
    uniques = {n: np.unique(v) for n, v in values.items()}
    is_grid = len(names) == 2 and len(result.settings) == len(uniques[names[0]]) * len(
        uniques[names[1]]
    )
    if is_grid:
        a, b = names
        table = np.full((len(uniques[a]), len(uniques[b])), np.nan)
        for s in range(len(result.settings)):
            i = np.searchsorted(uniques[a], values[a][s])
            j = np.searchsorted(uniques[b], values[b][s])
            table[i, j] = mean[s]
        fig, ax = plt.subplots(figsize=(6, 5))
        im = ax.imshow(table, origin="lower", cmap="viridis", aspect="auto")
        ax.set_xticks(range(len(uniques[b])), [f"{v:.3g}" for v in uniques[b]])
        ax.set_yticks(range(len(uniques[a])), [f"{v:.3g}" for v in uniques[a]])
        ax.set_xlabel(b)
        ax.set_ylabel(a)
        for i in range(table.shape[0]):
            for j in range(table.shape[1]):
                ax.text(j, i, f"{table[i, j]:.3g}", ha="center", va="center", color="w")
        fig.colorbar(im, label="mean final greedy return")
    else:
        cols = max(1, len(names))
        fig, axes = plt.subplots(1, cols, figsize=(5 * cols, 4), squeeze=False)
        for ax, n in zip(axes[0], names or ["setting"], strict=False):
            x = values[n] if names else np.arange(len(result.settings))
            for k in range(final_eval.shape[1]):
                ax.scatter(x, final_eval[:, k], color="tab:blue", alpha=0.3, s=12)
            order = np.argsort(x)
            ax.plot(x[order], mean[order], "o-", color="tab:orange", label="mean over seeds")
            if names and x.min() > 0 and x.max() / x.min() > 10:
                ax.set_xscale("log")
            ax.set_xlabel(n)
            ax.set_ylabel("final greedy return")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
    fig.suptitle(f"{title}: {len(result.settings)} settings x {final_eval.shape[1]} seeds")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
