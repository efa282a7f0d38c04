"""Compile seconds per algorithm x environment at the defaults, as the command line
compiles them (``chunks.compile_programs``: the vmapped chunk of updates, evaluation
and logging), beside the compile seconds of one vmapped ``update`` alone and the
size of each program's HLO, so the time can be placed. ``ready_seconds`` is what a
user waits for before the first logging step's work starts: every program compiled
and the runs initialised (the same calls on any commit, so commits compare).

    taskset -c 0 python benchmarks/compile_time.py --label before \\
        --out benchmarks/results/compile-time-cpu.json

The persistent compilation cache is off here, so every program really compiles; a
run appends its label's rows to the JSON (other labels are kept) and prints a
table. Run it on one pinned core with the other idle, or compare only labels
measured side by side.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import jax
import numpy as np

import jaxmarl_core as jm
from jaxmarl_core.chunks import compile_programs, runs_of
from jaxmarl_core.train import make_algorithm, seed_keys

ENVS = ("climbing", "lbf-8x8-2p-2f-coop", "jaxmarl:MPE_simple_spread_v3")


def update_compile(config: jm.Config) -> tuple[float, int]:
    """Seconds to compile one vmapped ``update`` (one run), and its HLO's line count."""
    _, algo = make_algorithm(config)
    keys = jax.ShapeDtypeStruct((1, 2), jax.numpy.uint32)
    hparams = {k: jax.ShapeDtypeStruct((1,), jax.numpy.float32) for k in config.hparams_defaults}
    init = jax.vmap(lambda k, h: algo.init(jax.random.wrap_key_data(k), h))
    state = jax.eval_shape(init, keys, hparams)
    lowered = jax.jit(jax.vmap(algo.update)).lower(state, hparams)
    t0 = time.perf_counter()
    lowered.compile()
    return time.perf_counter() - t0, len(lowered.as_text().splitlines())


def measure(algo: str, env: str) -> dict:
    config = jm.make_config(algo, env=env)
    t0 = time.perf_counter()
    programs = compile_programs(config, 1)
    wall = time.perf_counter() - t0
    runs = runs_of(np.asarray(seed_keys(1)), config.hparams)
    init_keys, _ = programs.keys(runs.keys)
    state = programs.init(init_keys, runs.hparams, runs.env_params)
    jax.block_until_ready(programs.finite(state))
    ready = time.perf_counter() - t0
    update_seconds, update_lines = update_compile(config)
    return {
        "algo": algo,
        "env": env,
        "chunk_compile_seconds": round(programs.compile_seconds, 2),
        "wall_seconds": round(wall, 2),
        "ready_seconds": round(ready, 2),
        "update_compile_seconds": round(update_seconds, 2),
        "update_hlo_lines": update_lines,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", required=True, help="e.g. before, after, or a commit")
    parser.add_argument("--algos", nargs="*", default=None)
    parser.add_argument("--envs", nargs="*", default=list(ENVS))
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    jax.config.update("jax_enable_compilation_cache", False)
    rows = []
    for env in args.envs:
        for algo in args.algos or jm.list_algos():
            row = {"label": args.label, **measure(algo, env)}
            rows.append(row)
            print(
                f"{algo:10s} {env:32s} ready {row['ready_seconds']:6.2f} s  "
                f"chunk {row['chunk_compile_seconds']:6.2f} s  "
                f"update {row['update_compile_seconds']:6.2f} s  "
                f"({row['update_hlo_lines']} HLO lines)",
                flush=True,
            )
            if args.out is not None:  # cell by cell, so a cut-off run keeps what it measured
                old = json.loads(args.out.read_text()) if args.out.exists() else {"rows": []}
                kept = [
                    r
                    for r in old["rows"]
                    if (r["label"], r["algo"], r["env"]) != (args.label, algo, env)
                ]
                old.update(
                    machine=platform.processor() or platform.machine(),
                    jax=jax.__version__,
                    rows=kept + [row],
                )
                args.out.write_text(json.dumps(old, indent=1) + "\n")


if __name__ == "__main__":
    main()
