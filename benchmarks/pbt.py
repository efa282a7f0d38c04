"""Population-based training: what exploit and explore cost, and what they buy.

Cost (default): one population trained three ways in one run, each compiled
first and timed after: as a sweep (``ready_every=0``: no exploit or explore,
the chunk is a sweep's), with exploit and explore every 5 logging steps, and
with them after every logging step (the worst case). The ratio is training
seconds with them over seconds without.

    python benchmarks/pbt.py [--algo idqn] [--env climbing] [--population 16]

``--versus-random-search``: PBT against random search at equal compute: the
same population (the same draws, the same keys) trained with exploit and
explore and without, so both spend the same environment steps; per seed, the
best member's final greedy return. The task is ``--algo`` on ``--env`` over
``--space`` (the command line's ``name=loguniform(a,b)`` syntax), with other
config keys set by ``--set``; by default IDQN on ``climbing`` over
``hysteretic_beta`` and ``lr``.

    python benchmarks/pbt.py --versus-random-search [--population 4] [--seeds 5]
    python benchmarks/pbt.py --versus-random-search --algo ippo
        --env lbf-8x8-2p-2f-coop --population 8 --steps 300000 --set num_envs=32
        --space 'lr=loguniform(1e-5,1e-2)' 'ent_coef=loguniform(1e-4,0.5)'

Writes ``benchmarks/results/pbt-<platform>.json`` (or
``pbt-versus-random-search-<algo>-<env>-<platform>.json``) and prints the table.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import jax
import numpy as np

import jaxmarl_core as jm
from jaxmarl_core.cli import parse_pairs, parse_value
from jaxmarl_core.pbt import best_members
from jaxmarl_core.reports import mean_and_interval

RESULTS = Path(__file__).parent / "results"


def cost(args: argparse.Namespace) -> dict:
    config = jm.make_config(
        args.algo, env=args.env, total_timesteps=args.steps, num_logs=args.num_logs
    )
    space = {"lr": ("loguniform", 1e-5, 1e-2)}
    seconds: dict[int, list[float]] = {0: [], 5: [], 1: []}
    for _ in range(args.repeats):  # interleaved, so a slow spell of the machine hits all three
        for ready_every in seconds:
            result = jm.pbt(config, space, args.population, ready_every=ready_every)
            seconds[ready_every].append(result.wall_seconds)
    best = {k: min(v) for k, v in seconds.items()}
    rows = {
        "sweep (no exploit/explore)": best[0],
        "PBT, ready_every=5": best[5],
        "PBT, ready_every=1": best[1],
    }
    print(
        f"{args.algo} on {args.env}, population {args.population}, {args.steps} env steps "
        f"per member, {args.num_logs} logging steps, {jax.devices()[0].platform}; "
        f"best of {args.repeats} runs"
    )
    for name, s in rows.items():
        print(f"  {name:28s} {s:8.2f} s   ratio {s / best[0]:.3f}")
    return {
        "algo": args.algo,
        "env": args.env,
        "population": args.population,
        "env_steps_per_member": args.steps,
        "num_logs": args.num_logs,
        "platform": jax.devices()[0].platform,
        "seconds": {str(k): v for k, v in seconds.items()},
        "ratio_ready_every_5": best[5] / best[0],
        "ratio_ready_every_1": best[1] / best[0],
    }


def interval(per_seed: np.ndarray) -> tuple[float, float, float]:
    """(mean, low, high): the mean over seeds of float[seeds] and its 95% Student-t interval."""
    mean, low, high = mean_and_interval(np.asarray(per_seed)[:, None])
    return float(mean[0]), float(low[0]), float(high[0])


def versus_random_search(args: argparse.Namespace) -> dict:
    config = jm.make_config(
        args.algo, env=args.env, total_timesteps=args.steps, num_logs=args.num_logs, **args.set
    )
    options = {
        "truncation": args.truncation,
        "perturb": tuple(args.perturb),
        "resample_probability": args.resample,
    }
    out = {
        "task": f"{args.algo} {args.env}",
        "algo": args.algo,
        "env": args.env,
        "space": args.space,
        "config_overrides": args.set,
        "population": args.population,
        "seeds": args.seeds,
        "first_seed": args.first_seed,
        "ready_every": args.ready_every,
        "total_timesteps": args.steps,
        "num_logs": args.num_logs,
        **options,
        "platform": jax.devices()[0].platform,
    }
    print(
        f"{args.algo} on {args.env} over {', '.join(args.space)}: {args.population} members x "
        f"{args.steps} env steps per seed, {args.seeds} seeds; final greedy return "
        f"(95% Student-t interval over seeds)"
    )
    for name, ready_every in (("random search", 0), ("PBT", args.ready_every)):
        result = jm.pbt(
            config,
            args.space,
            args.population,
            seeds=args.seeds,
            first_seed=args.first_seed,
            ready_every=ready_every,
            progress=args.progress,
            holdout_episodes=args.holdout,
            **options,
        )
        final = result.metrics["eval_return"][..., -1]  # [seeds, population]
        best = final.max(axis=1)
        members = best_members(result)
        # total_timesteps rounded down to whole updates per logging step
        steps = int(result.metrics["env_steps"][0, 0, -1])
        out["env_steps_per_member"] = steps
        out["env_steps_in_all_per_seed"] = steps * args.population
        seeds = np.arange(args.seeds)
        mean, low, high = interval(best)
        pop_mean, pop_low, pop_high = interval(final.mean(axis=1))
        out[name] = {
            "ready_every": ready_every,
            "best_per_seed": best.tolist(),
            "best_mean": mean,
            "best_ci95": [low, high],
            "population_mean_per_seed": final.mean(axis=1).tolist(),
            "population_mean": pop_mean,
            "population_ci95": [pop_low, pop_high],
            "best_final_hparams_per_seed": {
                k: v[seeds, members, -1].tolist() for k, v in result.hparams.items()
            },
            "compile_seconds": result.compile_seconds,
            "wall_seconds": result.wall_seconds,
        }
        print(
            f"  {name:14s} best member {mean:6.3g} [{low:6.3g}, {high:6.3g}]  per seed "
            f"{best.tolist()};  population mean {pop_mean:6.3g} [{pop_low:6.3g}, {pop_high:6.3g}]"
            f";  {result.wall_seconds:.0f} s training"
        )
        if result.holdout_return is not None:
            # The member picked by its last logging step's return, scored on fresh episodes.
            held = result.holdout_return[seeds, members]
            h_mean, h_low, h_high = interval(held)
            out[name]["holdout_episodes"] = args.holdout
            out[name]["best_holdout_per_seed"] = held.tolist()
            out[name]["best_holdout_mean"] = h_mean
            out[name]["best_holdout_ci95"] = [h_low, h_high]
            print(
                f"  {name:14s} best member on {args.holdout} fresh episodes {h_mean:6.3g} "
                f"[{h_low:6.3g}, {h_high:6.3g}]  per seed {np.round(held, 4).tolist()}"
            )
    if args.holdout:
        diff = np.asarray(out["PBT"]["best_holdout_per_seed"]) - np.asarray(
            out["random search"]["best_holdout_per_seed"]
        )
        d_mean, d_low, d_high = interval(diff)
        out["holdout_paired_difference"] = {"mean": d_mean, "ci95": [d_low, d_high]}
        print(f"  PBT - random search on fresh episodes: {d_mean:.3g} [{d_low:.3g}, {d_high:.3g}]")
    return out


VERSUS_DEFAULT_SPACE = ["lr=loguniform(1e-5,1e-2)", "hysteretic_beta=loguniform(1e-2,1)"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--versus-random-search", action="store_true")
    parser.add_argument("--algo", default="idqn")
    parser.add_argument("--env", default="climbing")
    parser.add_argument("--population", type=int, default=None, help="16 (cost), 4 (versus)")
    parser.add_argument("--steps", type=int, default=None, help="per member: 20000 / 10000")
    parser.add_argument("--num-logs", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=0, help="versus: seeds from this one")
    parser.add_argument("--ready-every", type=int, default=5)
    parser.add_argument(
        "--space",
        nargs="+",
        default=None,
        metavar="NAME=DIST",
        help="versus: the searched keys, as the pbt command takes them, e.g. "
        "'lr=loguniform(1e-5,1e-2)' (default: IDQN's lr and hysteretic_beta)",
    )
    parser.add_argument(
        "--set",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="versus: other config keys, e.g. num_envs=32",
    )
    parser.add_argument("--truncation", type=float, default=0.25)
    parser.add_argument("--perturb", type=float, nargs="+", default=[0.8, 1.2])
    parser.add_argument("--resample", type=float, default=0.1)
    parser.add_argument("--progress", action="store_true", help="a progress line on stderr")
    parser.add_argument(
        "--holdout",
        type=int,
        default=0,
        help="score each best member on this many fresh greedy episodes (--versus-random-search)",
    )
    parser.add_argument("--out", default=None, help="the JSON's file name in benchmarks/results")
    args = parser.parse_args()
    platform = jax.devices()[0].platform
    RESULTS.mkdir(exist_ok=True)
    if args.versus_random_search:
        args.population = args.population or 4
        args.steps = args.steps or 10_000
        args.space = parse_pairs(args.space or VERSUS_DEFAULT_SPACE)
        args.set = {k: parse_value(v) for k, v in parse_pairs(args.set).items()}
        result = versus_random_search(args)
        task = f"{args.algo}-{args.env}".replace(":", "_").replace("/", "_")
        name = f"pbt-versus-random-search-{task}-{platform}.json"
    else:
        args.population = args.population or 16
        args.steps = args.steps or 20_000
        result, name = cost(args), f"pbt-{platform}.json"
    name = args.out or name
    (RESULTS / name).write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {RESULTS / name}")


if __name__ == "__main__":
    main()
