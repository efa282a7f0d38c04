"""Command line: ``jaxmarl-core list`` and ``jaxmarl-core train key=value ...``.

Bad input exits with status 2 and one line on stderr, without a traceback.
"""

from __future__ import annotations

import re
import sys
import time
from typing import Any

USAGE = """usage:
  jaxmarl-core list
  jaxmarl-core train algo=<algo> env=<env> [seeds=N] [out=DIR] [first_seed=K] [key=value ...]
  jaxmarl-core sweep algo=<algo> env=<env> seeds=S [name=v1,v2,...] [name=loguniform(a,b)]
                     [samples=K] [max_parallel_runs=M] [out=DIR] [key=value ...]
  jaxmarl-core keys <algo>            config keys of an algorithm, with defaults
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


def _train(args: list[str]) -> int:
    from jaxmarl_core.config import make_config
    from jaxmarl_core.train import run

    pairs = parse_pairs(args)
    for required in ("algo", "env"):
        if required not in pairs:
            raise UsageError(f"train needs {required}=...; see 'jaxmarl-core list'")
    algo, env = pairs.pop("algo"), pairs.pop("env")
    seeds = parse_value(pairs.pop("seeds", "1"))
    first_seed = parse_value(pairs.pop("first_seed", "0"))
    if not isinstance(first_seed, int) or isinstance(first_seed, bool) or first_seed < 0:
        raise UsageError(f"first_seed={first_seed!r} is not allowed; it must be an integer >= 0")
    out = pairs.pop("out", None) or f"runs/{algo}-{env}-{time.strftime('%Y%m%d-%H%M%S')}"
    overrides = {k: parse_value(v) for k, v in pairs.items()}
    config = make_config(algo, env=env, **overrides)
    result = run(config, seeds=seeds, out=out, first_seed=first_seed)
    s = result.summary
    print(
        f"final greedy return {s['final_eval_return_mean']:.3f} ± {s['final_eval_return_std']:.3f}"
        f" over {seeds} seed(s); {s['env_steps_per_second']:,.0f} env steps/s; wrote {out}"
    )
    return 0


def _is_sweep_spec(text: str) -> bool:
    return "," in text or text.strip() == "" or bool(re.match(r"^\s*(log)?uniform\(", text))


def _sweep(args: list[str]) -> int:
    from jaxmarl_core.config import make_config
    from jaxmarl_core.sweeps import (
        maybe_initialize_distributed,
        parse_spec,
        summarize_sweep,
        sweep,
        write_sweep_dir,
    )
    from jaxmarl_core.train import check_output_dir

    pairs = parse_pairs(args)
    for required in ("algo", "env"):
        if required not in pairs:
            raise UsageError(f"sweep needs {required}=...; see 'jaxmarl-core list'")
    algo, env = pairs.pop("algo"), pairs.pop("env")
    seeds = parse_value(pairs.pop("seeds", "1"))
    first_seed = parse_value(pairs.pop("first_seed", "0"))
    samples = parse_value(pairs.pop("samples")) if "samples" in pairs else None
    max_parallel = (
        parse_value(pairs.pop("max_parallel_runs")) if "max_parallel_runs" in pairs else None
    )
    out = pairs.pop("out", None) or f"runs/sweep-{algo}-{env}-{time.strftime('%Y%m%d-%H%M%S')}"
    spec = {k: v for k, v in pairs.items() if _is_sweep_spec(v)}
    overrides = {k: parse_value(v) for k, v in pairs.items() if k not in spec}
    config = make_config(algo, env=env, **overrides)
    if not spec:
        raise UsageError("sweep needs at least one name=v1,v2,... or name=loguniform(a,b)")
    settings = parse_spec(config, spec, samples)
    out = check_output_dir(out)
    maybe_initialize_distributed()
    print(
        f"sweeping {algo} on {env}: {len(settings)} settings x {seeds} seeds -> {out}",
        file=sys.stderr,
    )
    result = sweep(
        config,
        settings,
        seeds=seeds,
        first_seed=first_seed,
        max_parallel_runs=max_parallel,
        progress=True,
    )
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


def _list() -> int:
    from jaxmarl_core.config import list_algos
    from jaxmarl_core.envs import list_envs

    print("algorithms: " + ", ".join(list_algos()))
    print("environments: " + ", ".join(list_envs()))
    print("  (any lbf[-<S>s]-<W>x<H>-<N>p-<F>f[-coop] or rware-<size>-<N>ag[-easy|-hard])")
    return 0


def _keys(args: list[str]) -> int:
    from jaxmarl_core.config import params_of

    if len(args) != 1:
        raise UsageError("keys takes one algorithm name")
    for name, p in sorted(params_of(args[0]).items()):
        kind = "traced" if p.traced else "static"
        print(f"{name:22s} {p.default!s:>10s}  {kind:6s}  {p.doc}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    try:
        if command == "list":
            return _list()
        if command == "train":
            return _train(rest)
        if command == "sweep":
            return _sweep(rest)
        if command == "keys":
            return _keys(rest)
        raise UsageError(f"unknown command {command!r}; commands: list, train, sweep, keys")
    except ValueError as err:  # ConfigError and UsageError are ValueErrors
        print(f"jaxmarl-core: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"jaxmarl-core: error: {err.strerror}: {err.filename}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("jaxmarl-core: interrupted; nothing written", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
