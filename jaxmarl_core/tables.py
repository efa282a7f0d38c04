"""Benchmark tables: every algorithm x every game of a table x seeds, in one command.

    result = run_table("matrix", seeds=5, out="tables/matrix")
    result.cells[("qmix", "climbing")].max_mean

A table is data (:class:`TableSpec`): its games, the training budget of each
algorithm family, and the published values to set beside ours. Games that
differ only in their environment parameters (the matrix games: 2 agents x 3
actions, 25 steps, different payoffs) train in one compiled program per
algorithm, all games x all seeds under one ``vmap``, through
:func:`jaxmarl_core.sweeps.sweep` (memory-aware batches, the runs axis sharded
over the devices of every process). Other games get one program each.

A cell (algorithm, game) is reported as EPyMARL reports it: per seed the
maximum greedy evaluation return over training, then its mean and standard
deviation over seeds; and the same for the final greedy return.

``out`` holds:
- ``runs/<algo>/<game>/``: each cell's run directory, as ``train`` writes one
  (``config.yaml``, ``run.json``, ``metrics.csv``, ``summary.json``); its
  ``summary.json`` is written last and marks the cell finished, so a re-run
  with the same ``out`` skips it (the outputs are the record, not a checkpoint);
- ``table.md`` and ``table.csv``: every finished cell beside its published value;
- ``curves.png``: one panel per game, one line per algorithm (mean and 95%
  t-interval over seeds);
- ``table.json``: the table's definition (seeds, budgets), and this session's
  programs with their compile and run times.
"""

from __future__ import annotations

import json
import math
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple, TextIO

import jax
import numpy as np

from jaxmarl_core.config import ConfigError, list_algos, make_config
from jaxmarl_core.envs.base import MultiAgentEnvironment
from jaxmarl_core.envs.registry import make_env

VALUE_BASED = ("idqn", "vdn", "qmix", "qtran")

# Published values (``../shared/reference/published-results.md``), in our units:
# matrix returns per agent over 25 steps (EPyMARL sums two agents' rewards; its
# numbers are halved here), LBF returns normalised to at most 1.
EPYMARL = (
    "Papoudakis, Christianos, Schäfer, Albrecht, 'Benchmarking Multi-Agent Deep "
    "Reinforcement Learning Algorithms in Cooperative Tasks', NeurIPS 2021 Datasets and "
    "Benchmarks (EPyMARL): maximum evaluation return over training, parameter sharing, "
    "5 seeds, 2.05M steps (off-policy) / 20.05M (on-policy); '~' values are read from "
    "the paper's tables"
)
PARETO_AC = (
    "Christianos, Papoudakis, Albrecht, 'Pareto Actor-Critic for Equilibrium Selection in "
    "Multi-Agent Reinforcement Learning', TMLR 2023, and Albrecht, Christianos, Schäfer, "
    "'Multi-Agent Reinforcement Learning' (2024), ch. 9: Pareto-AC reaches (A,A) = 11 per "
    "step on climbing (x 25 steps = 275)"
)
QTRAN = (
    "Son, Kim, Kang, Hostallero, Yi, 'QTRAN: Learning to Factorize with Transformation "
    "for Cooperative Multi-Agent Reinforcement Learning', ICML 2019: QTRAN's greedy joint "
    "action is (A,A) = 8 (x 25 steps = 200); VDN and QMIX pick one in the zero block"
)
_EPYMARL_MATRIX = ("idqn", "ia2c", "ippo", "maa2c", "mappo", "vdn", "qmix", "coma")


class Published(NamedTuple):
    value: float
    approximate: bool  # '~' in the source: a few percent of tolerance
    source: str


def _published_matrix() -> dict[tuple[str, str], Published]:
    out = {(a, "climbing"): Published(175.0, True, EPYMARL) for a in _EPYMARL_MATRIX}
    out[("idqn", "climbing")] = Published(195.0, True, EPYMARL)
    out[("coma", "climbing")] = Published(185.0, True, EPYMARL)
    out[("pac", "climbing")] = Published(275.0, False, PARETO_AC)
    for a in _EPYMARL_MATRIX:
        out[(a, "penalty-0")] = Published(250.0, True, EPYMARL)
        for k in (25, 50, 75, 100):
            out[(a, f"penalty-{k}")] = Published(50.0, True, EPYMARL)
    out[("qtran", "qtran-game")] = Published(200.0, False, QTRAN)
    out[("vdn", "qtran-game")] = Published(0.0, False, QTRAN)
    out[("qmix", "qtran-game")] = Published(0.0, False, QTRAN)
    return out


def _published_lbf() -> dict[tuple[str, str], Published]:
    values = {
        "lbf-8x8-2p-2f-coop": {
            **dict.fromkeys(("idqn", "ia2c", "ippo", "maa2c", "mappo", "vdn"), 1.00),
            "qmix": 0.96,
            "coma": 0.61,
        },
        "lbf-10x10-3p-3f": {
            "ippo": 0.98,
            "mappo": 0.99,
            "maa2c": 0.96,
            "idqn": 0.93,
            "ia2c": 0.91,
            "vdn": 0.84,
            "qmix": 0.84,
            "coma": 0.19,
        },
    }
    return {
        (a, game): Published(v, True, EPYMARL)
        for game, row in values.items()
        for a, v in row.items()
    }


class TableSpec(NamedTuple):
    """A benchmark table's definition.

    Attributes:
        name: as the command line names it.
        games: registered environment names, one column each.
        budgets: environment steps per run, per algorithm family
            (``value_based``: IDQN, VDN, QMIX, QTRAN; ``actor_critic``: the rest);
            ``budget=`` scales them.
        published: (algo, game) -> the published value, where there is one.
        note: what to keep in mind when comparing (printed with the table).
    """

    name: str
    games: tuple[str, ...]
    budgets: dict[str, int]
    published: dict[tuple[str, str], Published]
    note: str


TABLES: dict[str, TableSpec] = {
    "matrix": TableSpec(
        name="matrix",
        games=(
            "climbing",
            "penalty-0",
            "penalty-25",
            "penalty-50",
            "penalty-75",
            "penalty-100",
            "climbing-classic",
            "qtran-game",
        ),
        budgets={"value_based": 40_000, "actor_critic": 100_000},
        published=_published_matrix(),
        note=(
            "Returns per agent over a 25-step episode: (A,A) on climbing = 275, (B,B) = 175, "
            "(C,C) = 125; the optimum of penalty-k = 250, (B,B) = 50. Budgets are 2% (value "
            "based) and 0.5% (actor-critic) of EPyMARL's."
        ),
    ),
    "lbf": TableSpec(
        name="lbf",
        games=("lbf-8x8-2p-2f-coop", "lbf-2s-8x8-2p-2f-coop", "lbf-10x10-3p-3f"),
        budgets={"value_based": 200_000, "actor_critic": 1_000_000},
        published=_published_lbf(),
        note=(
            "Greedy return normalised to at most 1 per episode, 50 steps. EPyMARL ran the "
            "lbforaging package; ours is Jumanji's Level-Based Foraging with EPyMARL's "
            "sizes: compare orderings and rough levels, not exact values."
        ),
    ),
}


def family(algo: str) -> str:
    return "value_based" if algo in VALUE_BASED else "actor_critic"


class Cell(NamedTuple):
    """One (algorithm, game) cell: per-seed statistics and their mean and std."""

    algo: str
    game: str
    env_steps: int
    max_per_seed: np.ndarray  # float[S]: maximum greedy return over training
    final_per_seed: np.ndarray  # float[S]: greedy return at the last logging step
    curve: np.ndarray  # float[S, num_logs]: the greedy return at every logging step
    curve_steps: np.ndarray  # int[num_logs]

    @property
    def max_mean(self) -> float:
        return float(np.mean(self.max_per_seed))

    @property
    def max_std(self) -> float:
        return float(np.std(self.max_per_seed))

    @property
    def final_mean(self) -> float:
        return float(np.mean(self.final_per_seed))

    @property
    def final_std(self) -> float:
        return float(np.std(self.final_per_seed))


class Program(NamedTuple):
    """One compiled program of a table run: the games it trained (all seeds)."""

    algo: str
    games: tuple[str, ...]
    runs: int
    batch_size: int
    num_batches: int
    compile_seconds: float
    run_seconds: float


class TableResult(NamedTuple):
    """``cells``: (algo, game) -> Cell, every finished cell (read back ones too);
    ``programs``: the programs this call compiled and ran; ``skipped``: cells
    that were finished before and read back."""

    spec: TableSpec
    seeds: int
    budgets: dict[str, int]
    cells: dict[tuple[str, str], Cell]
    programs: list[Program]
    skipped: list[tuple[str, str]]
    wall_seconds: float


# ---------------------------------------------------------------------------
# Which games share a program


def _program_key(env: Any) -> tuple | None:
    """What must be equal for two environments to be one program on different
    parameters; None for an environment without parameters (a program of its own)."""
    if not isinstance(env, MultiAgentEnvironment):
        return None
    params = env.params()
    if not jax.tree.leaves(params):
        return None
    shapes = jax.tree.map(lambda x: (tuple(np.shape(x)), str(np.asarray(x).dtype)), params)
    return (
        type(env),
        env.num_agents,
        env.num_actions,
        env.episode_length,
        env.obs_dim,
        env.state_dim,
        env.individual_rewards,
        str(jax.tree.structure(params)),
        str(shapes),
    )


def program_groups(games: Sequence[str], batch_games: bool = True) -> list[tuple[str, ...]]:
    """The games in groups that train in one program each: environments of one
    class and shape that differ only in their parameters share one (with
    ``batch_games``); every other game is a group of its own. Order is kept."""
    groups: dict[Any, list[str]] = {}
    for i, game in enumerate(games):
        key = _program_key(make_env(game)) if batch_games else None
        groups.setdefault(key if key is not None else ("alone", i), []).append(game)
    return [tuple(g) for g in groups.values()]


# ---------------------------------------------------------------------------
# Running a table


def _check_args(
    name: str | TableSpec, seeds: Any, budget: Any, algos: Sequence[str] | None
) -> tuple[TableSpec, list[str]]:
    if not isinstance(name, TableSpec) and name not in TABLES:
        raise ConfigError(f"unknown table {name!r}; tables: {', '.join(TABLES)}")
    if not isinstance(seeds, int) or isinstance(seeds, bool) or seeds < 1:
        raise ConfigError(f"seeds={seeds!r} is not allowed; seeds must be an integer >= 1")
    if isinstance(budget, bool) or not isinstance(budget, int | float) or not budget > 0:
        raise ConfigError(f"budget={budget!r} is not allowed; it scales the budgets, > 0")
    every = list_algos()
    algos = every if algos is None else list(algos)
    unknown = [a for a in algos if a not in every]
    if unknown or not algos:
        raise ConfigError(
            f"algos={','.join(algos)!r}: unknown {', '.join(unknown) or '(none given)'}; "
            f"algorithms: {', '.join(every)}"
        )
    return (name if isinstance(name, TableSpec) else TABLES[name]), algos


def budgets_of(spec: TableSpec, budget: float) -> dict[str, int]:
    """Environment steps per run per family, the table's budgets scaled by ``budget``."""
    return {fam: max(1, int(round(steps * budget))) for fam, steps in spec.budgets.items()}


def cell_config(spec: TableSpec, algo: str, game: str, budget: float):
    return make_config(algo, env=game, total_timesteps=budgets_of(spec, budget)[family(algo)])


def _definition(spec: TableSpec, seeds: int, first_seed: int, budget: float) -> dict[str, Any]:
    return {
        "table": spec.name,
        "seeds": seeds,
        "first_seed": first_seed,
        "budget": float(budget),
        "budgets": budgets_of(spec, budget),
    }


def _open_out(out: Path, definition: dict[str, Any]) -> None:
    """Checks that ``out`` is empty, new, or a table directory of this very
    definition (a re-run that skips finished cells)."""
    found = out / "table.json"
    if found.is_file():
        before = {k: json.loads(found.read_text()).get(k) for k in definition}
        if before != definition:
            diff = ", ".join(
                f"{k}={before[k]!r} there, {definition[k]!r} now"
                for k in definition
                if before[k] != definition[k]
            )
            raise ConfigError(
                f"{str(out)!r} holds another table ({diff}); re-run it with the same "
                f"arguments to finish it, or choose another out"
            )
        return
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"output directory {str(out)!r} exists and is not a table directory")
    from jaxmarl_core.driver import check_output_dir

    check_output_dir(out)


def _cell_dir(out: Path, algo: str, game: str) -> Path:
    return out / "runs" / algo / game


def read_cell(out: Path, algo: str, game: str) -> Cell | None:
    """A finished cell read back from its run directory, or None."""
    from jaxmarl_core.reports import read_run_metrics

    path = _cell_dir(out, algo, game)
    if not (path / "summary.json").is_file():
        return None
    _, metrics = read_run_metrics(path)
    return _cell(algo, game, metrics["eval_return"], metrics["env_steps"][0])


def _cell(algo: str, game: str, eval_return: np.ndarray, steps: np.ndarray) -> Cell:
    return Cell(
        algo=algo,
        game=game,
        env_steps=int(steps[-1]),
        max_per_seed=np.max(eval_return, axis=1),
        final_per_seed=eval_return[:, -1],
        curve=np.asarray(eval_return, np.float64),
        curve_steps=np.asarray(steps, np.int64),
    )


def _write_cell(
    out: Path,
    config,
    cell: Cell,
    metrics: dict[str, np.ndarray],
    seeds: int,
    first_seed: int,
    sched,
    timing: dict[str, float],
    program: tuple[str, ...],
) -> None:
    from jaxmarl_core.driver import _start_run_dir, summarize, write_metrics_csv
    from jaxmarl_core.sweeps import staged

    path = _cell_dir(out, config.algo, config.env_name)
    summary = summarize(config, metrics, seeds, first_seed, sched, timing)
    summary["max_eval_return_per_seed"] = [float(x) for x in cell.max_per_seed]
    summary["max_eval_return_mean"] = cell.max_mean
    summary["max_eval_return_std"] = cell.max_std
    summary["program_games"] = list(program)
    with staged(path, last="summary.json") as tmp:
        _start_run_dir(tmp, config, seeds, first_seed)
        write_metrics_csv(tmp / "metrics.csv", metrics, first_seed)
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")


class _TableProgress:
    """One line per finished program: runs done, env steps per second, time left.

    The time left counts each family's remaining steps at that family's own
    rate so far (value-based learners step far slower than actor-critics),
    and at the overall rate for a family not yet started."""

    def __init__(self, name: str, left: dict[str, int], total_runs: int, stream: TextIO, on: bool):
        self.name, self.left, self.total_runs = name, dict(left), total_runs
        self.stream, self.on = stream, on
        self.runs = 0
        self.done = dict.fromkeys(left, 0)
        self.seconds = dict.fromkeys(left, 0.0)
        self.last = time.perf_counter()

    def update(self, program: Program, steps: int) -> None:
        now, fam = time.perf_counter(), family(program.algo)
        self.runs += program.runs
        self.left[fam] -= steps
        self.done[fam] += steps
        self.seconds[fam] += now - self.last
        self.last = now
        if not self.on:
            return
        rate = sum(self.done.values()) / sum(self.seconds.values())
        left = sum(
            n / (self.done[f] / self.seconds[f] if self.done[f] else rate)
            for f, n in self.left.items()
        )
        games = program.games
        what = ", ".join(games) if len(games) < 3 else f"{len(games)} games in one program"
        self.stream.write(
            f"table {self.name}: {self.runs}/{self.total_runs} runs done "
            f"({program.algo} on {what}); "
            f"{rate:,.0f} env steps/s with compilation; about {left / 60:.1f} min left\n"
        )
        self.stream.flush()


def _agreed_mask(mask: np.ndarray) -> np.ndarray:
    """Process 0's ``mask`` on every process of a multi-host run (its own elsewhere)."""
    if jax.process_count() == 1:
        return mask
    from jax.experimental import multihost_utils

    return np.asarray(multihost_utils.broadcast_one_to_all(mask))


def run_table(
    name: str | TableSpec,
    seeds: int = 5,
    budget: float = 1.0,
    algos: Sequence[str] | None = None,
    out: str | Path | None = None,
    first_seed: int = 0,
    batch_games: bool = True,
    progress: bool = False,
    stream: TextIO = sys.stderr,
) -> TableResult:
    """Trains every (algorithm, game) cell of table ``name`` (one of ``TABLES``,
    or a :class:`TableSpec` of one's own) for ``seeds`` seeds.

    Args:
        seeds: seeds per cell, ``PRNGKey(first_seed + k)``.
        budget: scales the table's budgets (environment steps per run).
        algos: a subset of the algorithms (default: all eleven).
        out: the table directory (module docstring); None writes nothing.
        batch_games: train games that differ only in their parameters in one
            program per algorithm (False: one program per game, for comparison).
        progress: one line per finished program on ``stream``.

    Every cell equals ``sweep(cell_config(...), [{}], seeds, first_seed)`` (the
    same keys; to float rounding), however the games were batched.
    """
    from jaxmarl_core.hosts import agree, is_writer
    from jaxmarl_core.sweeps import sweep
    from jaxmarl_core.train import make_algorithm, schedule

    spec, algos = _check_args(name, seeds, budget, algos)
    definition = _definition(spec, seeds, first_seed, budget)
    path = None if out is None else Path(out)
    error = None
    if path is not None and is_writer():  # the other processes of a multi-host run follow
        try:
            _open_out(path, definition)
        except (ValueError, OSError) as err:
            error = str(err)
    agree(error)
    t0 = time.perf_counter()
    everything = [(algo, game) for algo in algos for game in spec.games]
    # Process 0 reads the finished cells; every process trains the same rest.
    found = {
        c: read_cell(path, *c) if path is not None and is_writer() else None for c in everything
    }
    finished = _agreed_mask(np.array([found[c] is not None for c in everything]))
    cells = {c: found[c] for c, done in zip(everything, finished, strict=True) if done}
    skipped = [c for c, done in zip(everything, finished, strict=True) if done]
    todo = [c for c, done in zip(everything, finished, strict=True) if not done]
    if path is not None and is_writer():
        path.mkdir(parents=True, exist_ok=True)
        (path / "table.json").write_text(json.dumps(definition, indent=2) + "\n")
    budgets = definition["budgets"]
    left = {fam: sum(budgets[fam] * seeds for a, _ in todo if family(a) == fam) for fam in budgets}
    bar = _TableProgress(spec.name, left, len(todo) * seeds, stream, progress)
    if progress:
        stream.write(
            f"table {spec.name}: {len(todo)} cells to train ({len(skipped)} finished before), "
            f"{seeds} seeds each; budgets {budgets}\n"
        )
    programs = []
    for algo in algos:
        games = [g for a, g in todo if a == algo]
        for group in program_groups(games, batch_games):
            config = cell_config(spec, algo, group[0], budget)
            params = [make_env(g).params() for g in group] if len(group) > 1 else None
            result = sweep(config, [{}] * len(group), seeds, first_seed, env_params=params)
            program = Program(
                algo,
                group,
                len(group) * seeds,
                result.batch_size,
                result.num_batches,
                result.compile_seconds,
                result.wall_seconds,
            )
            programs.append(program)
            share = {
                "train_seconds": result.wall_seconds / len(group),
                "compile_seconds": result.compile_seconds / len(group),
                "wall_seconds": (result.wall_seconds + result.compile_seconds) / len(group),
                "sessions": 1,
            }
            # One schedule for the group: its games share the program's shapes.
            sched = schedule(config, make_algorithm(config)[1])
            for g, game in enumerate(group):
                metrics = {k: v[g] for k, v in result.metrics.items()}
                cell = _cell(algo, game, metrics["eval_return"], metrics["env_steps"][0])
                cells[(algo, game)] = cell
                if path is not None and is_writer():
                    cell_cfg = cell_config(spec, algo, game, budget)
                    _write_cell(
                        path, cell_cfg, cell, metrics, seeds, first_seed, sched, share, group
                    )
            bar.update(program, budgets[family(algo)] * seeds * len(group))
    table = TableResult(
        spec=spec,
        seeds=seeds,
        budgets=budgets,
        cells=cells,
        programs=programs,
        skipped=skipped,
        wall_seconds=time.perf_counter() - t0,
    )
    if path is not None and is_writer():
        write_table_dir(path, table, definition)
    return table


# ---------------------------------------------------------------------------
# Outputs


def _fmt(x: float) -> str:
    return f"{x:.3g}" if abs(x) < 10 else f"{x:.0f}"


def _published_text(p: Published | None) -> str:
    if p is None:
        return ""
    return ("~" if p.approximate else "") + _fmt(p.value)


def _ordered(table: TableResult) -> list[tuple[str, str]]:
    algos = [a for a in list_algos() if any(a == c[0] for c in table.cells)]
    return [(a, g) for g in table.spec.games for a in algos if (a, g) in table.cells]


def table_rows(table: TableResult) -> list[dict[str, Any]]:
    """``table.csv``'s rows: one per finished cell, in game then algorithm order."""
    rows = []
    for algo, game in _ordered(table):
        cell = table.cells[(algo, game)]
        pub = table.spec.published.get((algo, game))
        rows.append(
            {
                "game": game,
                "algo": algo,
                "seeds": int(cell.max_per_seed.shape[0]),
                "env_steps": cell.env_steps,
                "max_mean": cell.max_mean,
                "max_std": cell.max_std,
                "final_mean": cell.final_mean,
                "final_std": cell.final_std,
                "published": _published_text(pub),
            }
        )
    return rows


def table_markdown(table: TableResult) -> str:
    """``table.md``: two grids (algorithms x games), the maximum and the final
    greedy return, mean ± std over seeds, the published value in brackets."""
    spec = table.spec
    algos = [a for a in list_algos() if any(a == c[0] for c in table.cells)]
    games = [g for g in spec.games if any(g == c[1] for c in table.cells)]
    lines = [
        f"# Benchmark table `{spec.name}`",
        "",
        f"{table.seeds} seeds per cell; budgets (environment steps per run): "
        + ", ".join(f"{k.replace('_', '-')} {v:,}" for k, v in table.budgets.items())
        + ".",
        spec.note,
        "",
    ]
    for title, stat in (
        ("Maximum greedy return over training (EPyMARL's statistic)", "max"),
        ("Final greedy return", "final"),
    ):
        lines += [f"## {title}: mean ± std over seeds [published]", ""]
        lines.append("| algo | " + " | ".join(games) + " |")
        lines.append("|---" * (len(games) + 1) + "|")
        for algo in algos:
            row = []
            for game in games:
                cell = table.cells.get((algo, game))
                if cell is None:
                    row.append("")
                    continue
                mean = cell.max_mean if stat == "max" else cell.final_mean
                std = cell.max_std if stat == "max" else cell.final_std
                pub = _published_text(spec.published.get((algo, game)))
                row.append(f"{_fmt(mean)} ± {_fmt(std)}" + (f" [{pub}]" if pub else ""))
            lines.append(f"| {algo} | " + " | ".join(row) + " |")
        lines.append("")
    sources = sorted({p.source for p in spec.published.values()})
    lines += ["## Published values", ""] + [f"- {s}" for s in sources] + [""]
    if table.programs:
        compile_s = sum(p.compile_seconds for p in table.programs)
        run_s = sum(p.run_seconds for p in table.programs)
        lines += [
            "## This session",
            "",
            f"{len(table.programs)} compiled programs, {compile_s:.0f} s compiling, "
            f"{run_s:.0f} s training, {table.wall_seconds:.0f} s in all"
            + (f"; {len(table.skipped)} cells were finished before" if table.skipped else "")
            + ".",
            "",
        ]
    return "\n".join(lines)


def plot_table(path: Path, table: TableResult) -> None:
    """One panel per game, one line per algorithm: mean greedy return and its 95%
    t-interval over seeds against environment steps."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from jaxmarl_core.reports import mean_and_interval

    games = [g for g in table.spec.games if any(g == c[1] for c in table.cells)]
    algos = [a for a in list_algos() if any(a == c[0] for c in table.cells)]
    cols = min(4, len(games))
    rows = math.ceil(len(games) / cols)
    fig = Figure(figsize=(4.2 * cols, 3.3 * rows + 0.8))
    FigureCanvasAgg(fig)
    for i, game in enumerate(games):
        ax = fig.add_subplot(rows, cols, i + 1)
        means = []
        for j, algo in enumerate(algos):
            cell = table.cells.get((algo, game))
            if cell is None:
                continue
            mean, lower, upper = mean_and_interval(cell.curve)
            means.append(mean)
            color = f"C{j}" if j < 10 else "black"  # 11 algorithms, 10 colours
            style = "-" if algo not in VALUE_BASED else "--"
            ax.plot(cell.curve_steps, mean, style, color=color, label=algo, linewidth=1.4)
            if cell.curve.shape[0] > 1:
                ax.fill_between(cell.curve_steps, lower, upper, color=color, alpha=0.15, lw=0)
        # The means set the scale; a wide interval (few seeds) is cut at the frame.
        low, high = np.nanmin(np.concatenate(means)), np.nanmax(np.concatenate(means))
        margin = 0.1 * (high - low) if high > low else max(1.0, 0.1 * abs(high))
        ax.set_ylim(low - margin, high + margin)
        ax.set_title(game, fontsize=10)
        ax.set_xlabel("environment steps (per seed)", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    handles, labels = fig.axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(11, len(labels)), fontsize=8)
    fig.suptitle(
        f"table {table.spec.name}: greedy return, mean and 95% t-interval over {table.seeds} seeds"
    )
    fig.tight_layout(rect=(0, 0.06, 1, 0.97))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        fig.savefig(path, format="png", dpi=100)


def write_table_dir(out: Path, table: TableResult, definition: dict[str, Any]) -> None:
    """``table.md``, ``table.csv``, ``curves.png`` and ``table.json`` from every
    finished cell (written through a temporary folder, then moved)."""
    from jaxmarl_core.sweeps import staged, write_csv

    report = {
        **definition,
        "cells": len(table.cells),
        "programs": [p._asdict() for p in table.programs],
        "compile_count": len(table.programs),
        "compile_seconds": sum(p.compile_seconds for p in table.programs),
        "run_seconds": sum(p.run_seconds for p in table.programs),
        "wall_seconds": table.wall_seconds,
        "skipped_cells": [list(c) for c in table.skipped],
    }
    with staged(out, last="table.json") as tmp:
        write_csv(tmp / "table.csv", table_rows(table))
        (tmp / "table.md").write_text(table_markdown(table))
        plot_table(tmp / "curves.png", table)
        (tmp / "table.json").write_text(json.dumps(report, indent=2) + "\n")
