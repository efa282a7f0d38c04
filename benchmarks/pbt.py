"""Population-based training: what exploit and explore cost, and what they buy.

Cost (default): one population trained three ways in one run, each compiled
first and timed after: as a sweep (``ready_every=0``: no exploit or explore,
the chunk is a sweep's), with exploit and explore every 5 logging steps, and
with them after every logging step (the worst case). The ratio is training
seconds with them over seconds without.

    python benchmarks/pbt.py [--algo idqn] [--env climbing] [--population 16]

``--versus-random-search``: PBT against random search at equal compute on IDQN
``climbing`` over ``hysteretic_beta`` and ``lr``: the same population (the same
draws, the same keys) trained with exploit and explore and without, so both
spend the same environment steps; per seed, the best member's final greedy
return.

    python benchmarks/pbt.py --versus-random-search [--population 4] [--seeds 5]

Writes ``benchmarks/results/pbt-<platform>.json`` (or
``pbt-versus-random-search-<platform>.json``) and prints the table.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import jax

import jaxmarl_core as jm
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


def versus_random_search(args: argparse.Namespace) -> dict:
    config = jm.make_config("idqn", env="climbing", total_timesteps=args.steps, num_logs=20)
    space = {"lr": ("loguniform", 1e-5, 1e-2), "hysteretic_beta": ("loguniform", 1e-2, 1.0)}
    out = {
        "task": "idqn climbing",
        "space": {k: list(v) for k, v in space.items()},
        "population": args.population,
        "seeds": args.seeds,
        "env_steps_per_member": args.steps,
        "env_steps_in_all_per_seed": args.steps * args.population,
    }
    print(
        f"IDQN on climbing, {args.population} members x {args.steps} env steps per seed, "
        f"{args.seeds} seeds; final greedy return (95% Student-t interval over seeds)"
    )
    for name, ready_every in (("random search", 0), ("PBT", args.ready_every)):
        result = jm.pbt(config, space, args.population, seeds=args.seeds, ready_every=ready_every)
        final = result.metrics["eval_return"][..., -1]  # [seeds, population]
        best = final.max(axis=1)
        mean, low, high = (float(x[0]) for x in mean_and_interval(best[:, None]))
        pop_mean, pop_low, pop_high = (
            float(x[0]) for x in mean_and_interval(final.mean(1)[:, None])
        )
        out[name] = {
            "ready_every": ready_every,
            "best_per_seed": best.tolist(),
            "best_mean": mean,
            "best_ci95": [low, high],
            "population_mean_per_seed": final.mean(axis=1).tolist(),
            "population_mean": pop_mean,
            "population_ci95": [pop_low, pop_high],
        }
        print(
            f"  {name:14s} best member {mean:6.1f} [{low:6.1f}, {high:6.1f}]  per seed "
            f"{best.tolist()};  population mean {pop_mean:6.1f} [{pop_low:6.1f}, {pop_high:6.1f}]"
        )
    return out


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
    parser.add_argument("--ready-every", type=int, default=5)
    args = parser.parse_args()
    platform = jax.devices()[0].platform
    RESULTS.mkdir(exist_ok=True)
    if args.versus_random_search:
        args.population = args.population or 4
        args.steps = args.steps or 10_000
        result, name = versus_random_search(args), f"pbt-versus-random-search-{platform}.json"
    else:
        args.population = args.population or 16
        args.steps = args.steps or 20_000
        result, name = cost(args), f"pbt-{platform}.json"
    (RESULTS / name).write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {RESULTS / name}")


if __name__ == "__main__":
    main()
