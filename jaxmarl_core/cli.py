"""Command line: ``jaxmarl-core list | train | eval | plot | sweep | pbt | table | keys``.

Bad input exits with status 2 and one line on stderr, without a traceback; a
run that stops early (a signal, non-finite values, a checkpoint that cannot be
written) exits with status 1, or 128 + the signal's number, and one line.
"""

from __future__ import annotations

import os
import re
import sys
import time
import traceback
from pathlib import Path
from typing import Any

USAGE = """usage:
  jaxmarl-core list
  jaxmarl-core train algo=<algo> env=<env> [seeds=N] [out=DIR] [first_seed=K] [key=value ...]
  jaxmarl-core train resume=DIR       finish a stopped run from its newest checkpoint
  jaxmarl-core eval DIR [checkpoint=N] [episodes=K] [render=FILE.gif]
  jaxmarl-core plot DIR [DIR ...] [out=FILE.png] [metric=eval_return]
  jaxmarl-core sweep algo=<algo> env=<env> seeds=S [name=v1,v2,...] [name=loguniform(a,b)]
                     [samples=K] [max_parallel_runs=M] [out=DIR] [key=value ...]
  jaxmarl-core sweep resume=DIR       finish a stopped sweep (finished batches are kept)
  jaxmarl-core pbt algo=<algo> env=<env> population=P [name=loguniform(a,b) ...]
                   [ready_every=K] [truncation=0.25] [perturb=0.8,1.2] [resample=0.1]
                   [seeds=S] [first_seed=K] [holdout=N] [out=DIR] [key=value ...]
  jaxmarl-core table matrix|lbf|mpe|smax|mava [seeds=5] [budget=1.0|published]
                     [algos=a,b,...] [tasks=x,y,...] [first_seed=K] [out=DIR]
                                     every algorithm x every task of a benchmark suite,
                                     with the field's statistics (IQM, intervals); a
                                     re-run with the same out skips finished cells and
                                     resumes a cut-off one from its checkpoint
  jaxmarl-core keys <algo>            config keys of an algorithm, with defaults
  jaxmarl-core --version

train's logger=tensorboard,wandb,marl_eval adds loggers to metrics.csv (always on).

Every command keeps its compiled programs in JAX's persistent compilation cache,
so a command repeated with the same shapes loads them instead of compiling:
under $JAX_COMPILATION_CACHE_DIR if set, else ~/.cache/jaxmarl_core/xla
($XDG_CACHE_HOME respected). compile_cache=DIR puts it elsewhere;
compile_cache=false, or JAXMARL_CORE_COMPILE_CACHE=0, turns it off.
"""


class UsageError(ValueError):
    pass


def parse_value(text: str) -> Any:
    """'3' -> 3, '3e-4' -> 0.0003, 'true' -> True, anything else stays text."""
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    return text


def parse_pairs(args: list[str]) -> dict[str, Any]:
    pairs: dict[str, Any] = {}
    for arg in args:
        key, sep, value = arg.partition("=")
        if not sep or not key:
            raise UsageError(f"expected key=value, got {arg!r}")
        if key in pairs:
            raise UsageError(f"{key} given twice")
        pairs[key] = value
    return pairs


def _table(args: list[str]) -> int:
    from jaxmarl_core.hosts import is_writer
    from jaxmarl_core.tables import TABLES, run_table, table_markdown

    if not args or "=" in args[0]:
        raise UsageError(f"table needs a table name first: {', '.join(TABLES)}")
    name, pairs = args[0], parse_pairs(args[1:])
    seeds = _int_arg(pairs, "seeds", 5, minimum=1)
    first_seed = _int_arg(pairs, "first_seed", 0)
    budget = pairs.pop("budget", "1.0")
    budget = budget if budget == "published" else parse_value(budget)
    algos = pairs.pop("algos", None)
    tasks = pairs.pop("tasks", None)
    out = Path(pairs.pop("out", f"tables/{name}"))
    checkpoint_every = _int_arg(pairs, "checkpoint_every", None, minimum=0)
    if pairs:
        raise UsageError(
            "table takes seeds, budget, algos, tasks, first_seed, out and checkpoint_every; "
            f"got {', '.join(pairs)}"
        )
    from jaxmarl_core.chunks import watch_for_stalls

    with watch_for_stalls(f"The finished cells are kept in {out}; run the same command again."):
        table = run_table(
            name,
            seeds=seeds,
            budget=budget,
            algos=None if algos is None else algos.split(","),
            tasks=None if tasks is None else tasks.split(","),
            out=out,
            first_seed=first_seed,
            progress=True,
            checkpoint_every=checkpoint_every,
        )
    if is_writer():
        print(table_markdown(table))
        print(f"wrote {out}")
    return 0


def _int_arg(pairs: dict[str, str], key: str, default: Any = None, minimum: int = 0) -> Any:
    if key not in pairs:
        return default
    value = parse_value(pairs.pop(key))
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise UsageError(f"{key}={value!r} is not allowed; it must be an integer >= {minimum}")
    return value


def _train(args: list[str]) -> int:
    from jaxmarl_core.config import make_config
    from jaxmarl_core.driver import resume, run

    pairs = parse_pairs(args)
    if "resume" in pairs:
        out = pairs.pop("resume")
        result = resume(out, **{k: parse_value(v) for k, v in pairs.items()})
        if result is None:
            print(f"run {out} has already finished; nothing to resume")
            return 0
    else:
        for required in ("algo", "env"):
            if required not in pairs:
                raise UsageError(f"train needs {required}=...; see 'jaxmarl-core list'")
        algo, env = pairs.pop("algo"), pairs.pop("env")
        seeds = parse_value(pairs.pop("seeds", "1"))
        first_seed = _int_arg(pairs, "first_seed", 0)
        out = pairs.pop("out", None) or f"runs/{algo}-{env}-{time.strftime('%Y%m%d-%H%M%S')}"
        overrides = {k: parse_value(v) for k, v in pairs.items()}
        config = make_config(algo, env=env, **overrides)
        result = run(config, seeds=seeds, out=out, first_seed=first_seed)
    s = result.summary
    print(
        f"final greedy return {s['final_eval_return_mean']:.3f} ± {s['final_eval_return_std']:.3f}"
        f" over {s['seeds']} seed(s); training {s['env_steps_per_second']:,.0f} env steps/s "
        f"after compilation ({s['compile_seconds']:.1f} s compiling, {s['wall_seconds']:.1f} s "
        f"in all); wrote {out}"
    )
    return 0


def _eval(args: list[str]) -> int:
    from jaxmarl_core.driver import evaluate_run
    from jaxmarl_core.envs.episodes import format_joint_action_table

    if not args or "=" in args[0]:
        raise UsageError("eval needs a run directory: jaxmarl-core eval DIR [checkpoint=N] ...")
    directory, pairs = args[0], parse_pairs(args[1:])
    checkpoint = _int_arg(pairs, "checkpoint")
    episodes = _int_arg(pairs, "episodes", minimum=1)
    seed = _int_arg(pairs, "seed", 0)
    render = pairs.pop("render", None)
    if pairs:
        raise UsageError(
            f"eval does not take {sorted(pairs)[0]}=; it takes checkpoint, episodes, render, seed"
        )
    ev = evaluate_run(directory, checkpoint=checkpoint, episodes=episodes, render=render, seed=seed)
    seeds, k = ev.returns.shape
    print(
        f"{ev.config.algo} on {ev.config.env_name}: checkpoint {ev.checkpoint} "
        f"(env step {ev.env_steps:,}), {k} greedy episode(s) per seed"
    )
    print(f"{'seed':>6} {'mean':>10} {'std':>10} {'min':>10} {'max':>10}")
    for s in range(seeds):
        r = ev.returns[s]
        print(
            f"{ev.first_seed + s:>6} {r.mean():>10.3f} {r.std():>10.3f} "
            f"{r.min():>10.3f} {r.max():>10.3f}"
        )
    means = ev.returns.mean(axis=1)
    print(f"{'all':>6} {means.mean():>10.3f} {means.std():>10.3f}   (mean and std of seed means)")
    if ev.joint_actions is not None:
        print("greedy joint actions, all seeds and steps:")
        print(format_joint_action_table(ev.joint_actions))
    if render is not None:
        print(f"wrote {render} (one greedy episode of seed {ev.first_seed})")
    return 0


def _plot(args: list[str]) -> int:
    from jaxmarl_core.driver import check_output_file
    from jaxmarl_core.reports import plot_runs

    dirs = [a for a in args if "=" not in a]
    pairs = parse_pairs([a for a in args if "=" in a])
    if not dirs:
        raise UsageError("plot needs at least one run directory: jaxmarl-core plot DIR [DIR ...]")
    out = pairs.pop("out", "compare.png")
    metric = pairs.pop("metric", "eval_return")
    if pairs:
        raise UsageError(f"plot does not take {sorted(pairs)[0]}=; it takes out and metric")
    check_output_file(out)
    path = plot_runs(dirs, out, metric=metric)
    print(f"wrote {path}")
    return 0


def _is_sweep_spec(text: str) -> bool:
    return "," in text or text.strip() == "" or bool(re.match(r"^\s*(log)?uniform\(", text))


def _search_args(command: str, pairs: dict[str, str]) -> tuple[Any, dict[str, str], str]:
    """A search's (sweep's or PBT's) remaining arguments: the config of ``algo``,
    ``env`` and the fixed keys, the searched keys' text, and ``out``."""
    from jaxmarl_core.config import make_config

    for required in ("algo", "env"):
        if required not in pairs:
            raise UsageError(f"{command} needs {required}=...; see 'jaxmarl-core list'")
    algo, env = pairs.pop("algo"), pairs.pop("env")
    if pairs.get("logger", "csv") != "csv":
        raise UsageError(
            f"{command} writes its own results ({command}.csv and plots); logger= is for train"
        )
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = pairs.pop("out", None) or f"runs/{command}-{algo}-{env}-{stamp}"
    spec = {k: v for k, v in pairs.items() if _is_sweep_spec(v)}
    overrides = {k: parse_value(v) for k, v in pairs.items() if k not in spec}
    config = make_config(algo, env=env, **overrides)
    if not spec:
        raise UsageError(
            f"{command} needs at least one name=v1,v2,... or name=loguniform(a,b) / uniform(a,b)"
        )
    return config, spec, out


def _sweep(args: list[str]) -> int:
    from jaxmarl_core.driver import check_output_dir
    from jaxmarl_core.hosts import agree, is_writer
    from jaxmarl_core.sweeps import load_sweep_dir, parse_spec, start_sweep_dir

    pairs = parse_pairs(args)
    if "resume" in pairs:
        out = Path(pairs.pop("resume"))
        if pairs:
            raise UsageError(
                f"sweep resume= continues the sweep stored in {out}; it takes no other keys "
                f"({sorted(pairs)[0]}= given)"
            )
        config, settings, seeds, first_seed, max_parallel = load_sweep_dir(out)
        if (out / "sweep.json").is_file():
            print(f"sweep {out} has already finished; nothing to resume")
            return 0
        return _run_sweep(config, settings, seeds, first_seed, max_parallel, out)
    seeds = parse_value(pairs.pop("seeds", "1"))
    first_seed = parse_value(pairs.pop("first_seed", "0"))
    samples = parse_value(pairs.pop("samples")) if "samples" in pairs else None
    max_parallel = (
        parse_value(pairs.pop("max_parallel_runs")) if "max_parallel_runs" in pairs else None
    )
    config, spec, out = _search_args("sweep", pairs)
    settings = parse_spec(config, spec, samples)
    error = None
    if is_writer():
        try:
            out = check_output_dir(out)
            start_sweep_dir(out, config, settings, seeds, first_seed, max_parallel)
        except (ValueError, OSError) as err:
            error = str(err)
    agree(error)
    out = Path(out)
    return _run_sweep(config, settings, seeds, first_seed, max_parallel, out)


def _run_sweep(config, settings, seeds: int, first_seed: int, max_parallel, out: Path) -> int:
    from jaxmarl_core.hosts import is_writer
    from jaxmarl_core.sweeps import summarize_sweep, sweep, write_sweep_dir

    print(
        f"sweeping {config.algo} on {config.env_name}: {len(settings)} settings x {seeds} "
        f"seeds -> {out}",
        file=sys.stderr,
    )
    result = sweep(
        config,
        settings,
        seeds=seeds,
        first_seed=first_seed,
        max_parallel_runs=max_parallel,
        progress=True,
        out=out,
    )
    if not is_writer():
        import jax

        print(f"process {jax.process_index()}: sweep done; process 0 writes {out}", file=sys.stderr)
        return 0
    write_sweep_dir(out, config, result, first_seed)
    best = summarize_sweep(result)[0]
    swept = ", ".join(f"{k}={best[k]:.4g}" for k in settings[0])
    print(
        f"best: {swept}: final greedy return {best['mean_final_eval_return']:.3f} "
        f"(95% CI {best['ci95_low']:.3f} .. {best['ci95_high']:.3f}); "
        f"{result.num_batches} batch(es) of {result.batch_size} runs on "
        f"{result.num_devices} device(s); wrote {out}"
    )
    return 0


def _pbt(args: list[str]) -> int:
    import numpy as np

    from jaxmarl_core.driver import check_output_dir
    from jaxmarl_core.pbt import best_members, pbt, write_pbt_dir

    pairs = parse_pairs(args)
    if "population" not in pairs:
        raise UsageError("pbt needs population=P (members per population, P >= 2)")
    options = {
        "population": _int_arg(pairs, "population", minimum=2),
        "seeds": _int_arg(pairs, "seeds", 1, minimum=1),
        "first_seed": _int_arg(pairs, "first_seed", 0),
        "ready_every": _int_arg(pairs, "ready_every", 5),
        "truncation": parse_value(pairs.pop("truncation", "0.25")),
        "resample_probability": parse_value(pairs.pop("resample", "0.1")),
        "holdout_episodes": _int_arg(pairs, "holdout", 0, minimum=0),
    }
    perturb = pairs.pop("perturb", "0.8,1.2")
    try:
        options["perturb"] = tuple(float(f) for f in perturb.split(","))
    except ValueError:
        raise UsageError(f"perturb={perturb!r}: expected factors f1,f2,... e.g. 0.8,1.2") from None
    config, spec, out = _search_args("pbt", pairs)
    out = check_output_dir(out)
    result = pbt(config, spec, progress=True, **options)
    write_pbt_dir(out, config, result, options)
    best = (np.arange(result.parents.shape[0]), best_members(result))

    def listed(returns: np.ndarray) -> str:
        return ", ".join(f"{x:.3f}" for x in returns[best])

    scores = listed(result.metrics["eval_return"][..., -1])
    if result.holdout_return is not None:
        scores += f" ({listed(result.holdout_return)} on fresh episodes)"
    print(
        f"best final greedy return per population: {scores}; "
        f"{result.compile_seconds:.1f} s compiling, {result.wall_seconds:.1f} s training on "
        f"{result.num_devices} device(s); wrote {out}"
    )
    return 0


def _list() -> int:
    from jaxmarl_core.config import list_algos
    from jaxmarl_core.envs.registry import FAMILIES

    print("algorithms: " + ", ".join(list_algos()))
    print("environments, by family:")
    width = max(len(family.name) for family in FAMILIES)
    for family in FAMILIES:
        print(f"  {family.name:{width}s}  {family.grammar}")
        if family.prefix is not None and len(family.examples) > 1:
            print(f"  {'':{width}s}  listed: {', '.join(family.examples)}")
    return 0


def _keys(args: list[str]) -> int:
    from jaxmarl_core.config import params_of

    if len(args) != 1:
        raise UsageError("keys takes one algorithm name")
    for name, p in sorted(params_of(args[0]).items()):
        kind = "traced" if p.traced else "static"
        print(f"{name:22s} {p.default!s:>10s}  {kind:6s}  {p.doc}")
    return 0


COMMANDS = {
    "list": lambda rest: _list(),
    "train": _train,
    "eval": _eval,
    "plot": _plot,
    "sweep": _sweep,
    "pbt": _pbt,
    "table": _table,
    "keys": _keys,
}


OFF = ("0", "false", "off", "no")


def compile_cache_dir(setting: str | None) -> Path | None:
    """The persistent compilation cache's directory, or None when it is off.

    ``setting`` is the command's ``compile_cache=`` value (a directory, or false);
    without one, ``$JAXMARL_CORE_COMPILE_CACHE`` may turn it off, and the directory is
    ``$JAX_COMPILATION_CACHE_DIR``, else ``$XDG_CACHE_HOME/jaxmarl_core/xla`` (default
    ``~/.cache/jaxmarl_core/xla``)."""
    if setting is not None:
        return None if setting.lower() in OFF else Path(setting).expanduser()
    if os.environ.get("JAXMARL_CORE_COMPILE_CACHE", "").lower() in OFF:
        return None
    if os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        return Path(os.environ["JAX_COMPILATION_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "jaxmarl_core" / "xla"


def use_compile_cache(setting: str | None) -> None:
    """Points JAX's persistent compilation cache at :func:`compile_cache_dir`, or turns
    it off. A cached executable is the compiled program itself: results do not change."""
    import jax

    directory = compile_cache_dir(setting)
    jax.config.update("jax_enable_compilation_cache", directory is not None)
    if directory is not None:
        jax.config.update("jax_compilation_cache_dir", str(directory))


def _command(command: str, rest: list[str]) -> int:
    if command not in COMMANDS:
        raise UsageError(f"unknown command {command!r}; commands: {', '.join(COMMANDS)}")
    return COMMANDS[command](rest)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0 if argv else 2
    if argv[0] in ("-V", "--version"):
        from jaxmarl_core._version import __version__

        print(f"jaxmarl-core {__version__}")
        return 0
    command, rest = argv[0], argv[1:]
    from jaxmarl_core.chunks import RunStopped
    from jaxmarl_core.hosts import AgreedError, jax_distributed_joined, stop_alone

    settings = [a for a in rest if a.startswith("compile_cache=")]
    rest = [a for a in rest if not a.startswith("compile_cache=")]
    try:
        use_compile_cache(settings[-1].partition("=")[2] if settings else None)
        return _command(command, rest)
    except AgreedError as err:  # every process stops with this line, together
        print(f"jaxmarl-core: error: {err}", file=sys.stderr)
        return 2
    except ValueError as err:  # ConfigError and UsageError are ValueErrors
        print(f"jaxmarl-core: error: {err}", file=sys.stderr)
        return stop_alone(2)
    except RunStopped as err:
        print(f"jaxmarl-core: {err}", file=sys.stderr)
        return stop_alone(err.exit_code)
    except OSError as err:
        what = f"{err.strerror}: {err.filename}" if err.strerror else str(err)
        print(f"jaxmarl-core: error: {what}", file=sys.stderr)
        return stop_alone(1)
    except KeyboardInterrupt:
        print("jaxmarl-core: interrupted", file=sys.stderr)
        return stop_alone(130)
    except Exception:
        if not jax_distributed_joined():
            raise
        traceback.print_exc()
        return stop_alone(1)


if __name__ == "__main__":
    sys.exit(main())
