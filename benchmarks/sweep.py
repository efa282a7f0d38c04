"""What one vmapped program saves over runs one after another.

(a) S = 1, 8, 64, 256 seeds of one config vmapped in one program, against S
    single runs one after another (the single-run program compiled once; up to
    8 runs are timed, beyond that the sequential time is the measured mean per
    run times S, since sequential runs do not interact);
(b) a grid of 16 settings x 8 seeds as one program, against 16 separate sweeps
    of 8 seeds (the 8-seed program compiled once and called 16 times);
(c) training env steps per second against num_envs up to 4096.

    python benchmarks/sweep.py [--algo idqn] [--env climbing]

``--efficiency`` measures instead, for every algorithm named with ``--algos``
(default: all), feed-forward and recurrent, what fraction of a lone seed's
rate each seed keeps when S seeds (default 64) run vmapped in one program:
``S * t(1 seed) / t(S seeds)``, both compiled first, both timed in the same run.

    python benchmarks/sweep.py --efficiency --algos idqn ippo --steps 20000
    python benchmarks/sweep.py --efficiency --agents gru --no-one-vmap --out F.json

Writes ``benchmarks/results/sweep-<platform>.json`` and prints the tables.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import jax
import numpy as np

import jaxmarl_core as jm
from jaxmarl_core import groups
from jaxmarl_core.train import seed_keys

sys_path = Path(__file__).parent
RESULTS = sys_path / "results"


def seconds(fn, *args) -> float:
    t = time.perf_counter()
    jax.block_until_ready(fn(*args))
    return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--algo", default="idqn")
    parser.add_argument("--env", default="climbing")
    parser.add_argument("--steps", type=int, default=5_000, help="env steps per run")
    parser.add_argument("--seeds", nargs="*", type=int, default=[1, 8, 64, 256])
    parser.add_argument("--num-envs", nargs="*", type=int, default=[1, 16, 256, 1024, 4096])
    parser.add_argument("--efficiency", action="store_true", help="per-seed rate at S seeds")
    parser.add_argument("--algos", nargs="*", default=None, help="with --efficiency")
    parser.add_argument("--vmapped-seeds", type=int, default=64, help="S, with --efficiency")
    parser.add_argument("--agents", choices=("mlp", "gru", "both"), default="both")
    parser.add_argument("--repeats", type=int, default=2, help="timed calls per program (best)")
    parser.add_argument(
        "--one-vmap",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="with --efficiency: also time one vmap over all seeds (doubles the time)",
    )
    parser.add_argument("--out", type=Path, default=None, help="with --efficiency: the JSON file")
    args = parser.parse_args()
    if args.efficiency:
        return seed_efficiency(args)
    config = jm.make_config(args.algo, env=args.env, total_timesteps=args.steps, num_logs=5)
    train = jm.make_train(config)
    report: dict = {
        "device": str(jax.devices()[0]),
        "algo": args.algo,
        "env": args.env,
        "steps_per_run": args.steps,
    }

    # (a) seeds in one program against runs one after another.
    single = jax.jit(train).lower(jax.random.PRNGKey(0)).compile()
    single(jax.random.PRNGKey(0))
    timed = [seconds(single, jax.random.PRNGKey(k)) for k in range(8)]
    per_run = float(np.mean(timed))
    rows_a = []
    print(f"(a) {args.algo} on {args.env}, {args.steps} env steps per run")
    print(f"{'seeds':>6s} {'vmapped s':>10s} {'sequential s':>13s} {'ratio':>7s}")
    for s in args.seeds:
        keys = seed_keys(s)
        program = jax.jit(jax.vmap(train)).lower(keys).compile()
        vmapped = min(seconds(program, keys) for _ in range(2))
        sequential = sum(timed[:s]) if s <= len(timed) else per_run * s
        rows_a.append(
            dict(
                seeds=s,
                vmapped_seconds=vmapped,
                sequential_seconds=sequential,
                sequential_extrapolated=s > len(timed),
                ratio=vmapped / sequential,
            )
        )
        print(
            f"{s:6d} {vmapped:10.2f} {sequential:13.2f} {vmapped / sequential:7.3f}"
            + ("  (sequential: mean of 8 runs x S)" if s > len(timed) else ""),
            flush=True,
        )
    report["seeds_vs_sequential"] = rows_a

    # (b) a 16 x 8 grid in one program against 16 sweeps of 8 seeds.
    settings = jm.grid(
        config, {"lr": list(np.geomspace(1e-4, 1e-2, 4)), "gamma": [0.9, 0.95, 0.99, 0.999]}
    )
    one = jm.sweep(config, settings, seeds=8)
    eight = jax.jit(jax.vmap(train)).lower(seed_keys(8)).compile()
    t = time.perf_counter()
    for setting in settings:
        hp = {**config.hparams, **{k: np.float32(v) for k, v in setting.items()}}
        hp = {k: np.full((8,), v, np.float32) for k, v in hp.items()}
        jax.block_until_ready(eight(seed_keys(8), hp))
    separate = time.perf_counter() - t
    report["grid_16x8"] = dict(
        one_program_seconds=one.wall_seconds,
        one_program_compile_seconds=one.compile_seconds,
        separate_sweeps_seconds=separate,
        ratio=one.wall_seconds / separate,
    )
    print(
        f"(b) 16 settings x 8 seeds: one program {one.wall_seconds:.2f} s "
        f"(compile {one.compile_seconds:.1f} s), 16 sweeps {separate:.2f} s, "
        f"ratio {one.wall_seconds / separate:.3f}",
        flush=True,
    )

    # (c) env steps per second against num_envs.
    from throughput import train_rate  # noqa: E402  (the benchmark beside this one)

    rows_c = []
    print("(c) training env steps/s against num_envs")
    for n in args.num_envs:
        compile_s, rate = train_rate(args.algo, args.env, n, max(20_000, 4 * n), 2)
        rows_c.append(dict(num_envs=n, compile_seconds=compile_s, steps_per_second=rate))
        print(f"{n:6d} envs: {rate:12,.0f} steps/s (compile {compile_s:.1f} s)", flush=True)
    report["num_envs"] = rows_c

    device = jax.devices()[0].platform
    out = RESULTS / f"sweep-{device}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")


def seed_efficiency(args: argparse.Namespace) -> None:
    """Per-seed rate of S vmapped seeds against a lone seed, every algorithm, FF and GRU:
    ``jit(vmap(train))`` with the runs in groups (the library's default on a CPU,
    ``jaxmarl_core.groups``) and, beside it, as one vmap over all S seeds."""
    s = args.vmapped_seeds
    rows = []
    device = jax.devices()[0].platform
    out = args.out or RESULTS / f"seed-efficiency-{device}.json"
    report = {"device": str(jax.devices()[0]), "env": args.env, "steps_per_run": args.steps}

    def write(rows: list[dict]) -> None:  # after every row, so a stopped run keeps its rows
        out.write_text(json.dumps({**report, "vmapped_seeds": s, "rows": rows}, indent=2) + "\n")

    print(f"per-seed efficiency of {s} vmapped seeds on {args.env}, {args.steps} env steps each")
    print(
        f"{'algo':10s} {'agents':>6s} {'1 seed s':>9s} {'groups s':>9s} {'efficiency':>10s} "
        + (f"{'1 vmap s':>9s} {'efficiency':>10s}" if args.one_vmap else "")
    )
    for algo in args.algos or jm.list_algos():
        for recurrent in {"mlp": (False,), "gru": (True,), "both": (False, True)}[args.agents]:
            config = jm.make_config(
                algo, env=args.env, total_timesteps=args.steps, num_logs=5, recurrent=recurrent
            )
            keys = seed_keys(s)
            train = jm.make_train(config)
            single = jax.jit(train).lower(keys[0]).compile()
            batched = jax.jit(jax.vmap(train)).lower(keys).compile()
            single(keys[0])
            lone = min(seconds(single, keys[k]) for k in range(3))
            together = min(seconds(batched, keys) for _ in range(args.repeats))
            row = dict(
                algo=algo,
                recurrent=recurrent,
                group_width=groups.default_width(),
                single_seconds=lone,
                vmapped_seconds=together,
                efficiency=s * lone / together,
            )
            if args.one_vmap:
                width = groups.CPU_GROUP_WIDTH
                groups.CPU_GROUP_WIDTH = None  # one vmap over all seeds
                one_vmap = jax.jit(jax.vmap(jm.make_train(config))).lower(keys).compile()
                groups.CPU_GROUP_WIDTH = width
                plain = min(seconds(one_vmap, keys) for _ in range(args.repeats))
                row.update(one_vmap_seconds=plain, one_vmap_efficiency=s * lone / plain)
            rows.append(row)
            agents = "gru" if recurrent else "mlp"
            print(
                f"{algo:10s} {agents:>6s} {lone:9.3f} {together:9.2f} {row['efficiency']:10.3f} "
                + (f"{plain:9.2f} {row['one_vmap_efficiency']:10.3f}" if args.one_vmap else ""),
                flush=True,
            )
            write(rows)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
