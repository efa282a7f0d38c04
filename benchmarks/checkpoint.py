"""The cost of checkpointing: training throughput with checkpoint_every 1, 10 and off.

Each case is a full driver run (``jaxmarl_core.run`` with a run directory, as
``jaxmarl-core train`` does) and its throughput is ``env_steps_per_second`` of
``summary.json``: all seeds' environment steps over the time after compilation,
which includes writing metrics.csv and the checkpoints. The settings alternate
within each round (off, 10, 1, off, 10, 1, ...), so that drifts of the machine
fall on all of them alike; the table gives the median over rounds, the ratio to
"off", the number of checkpoints written and the size of one on disk.

    python benchmarks/checkpoint.py                       # IDQN, IPPO, QMIX
    python benchmarks/checkpoint.py --cases idqn --rounds 5

Writes ``benchmarks/results/checkpoint-<platform>.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

import jax

import jaxmarl_core as jm

RESULTS = Path(__file__).parent / "results"

# name -> (algo, env, seeds, config overrides). num_logs=50 logging steps each.
CASES = {
    "idqn": ("idqn", "climbing", 4, {"total_timesteps": 50_000}),
    "ippo": ("ippo", "lbf-8x8-2p-2f-coop", 4, {"total_timesteps": 200_000, "num_envs": 64}),
    "qmix": ("qmix", "lbf-8x8-2p-2f-coop", 2, {"total_timesteps": 50_000, "buffer_size": 20_000}),
}
EVERY = {"off": 0, "10": 10, "1": 1}


def measure(case: str, every: int) -> dict:
    algo, env, seeds, overrides = CASES[case]
    config = jm.make_config(algo, env=env, checkpoint_every=every, num_logs=50, **overrides)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        result = jm.run(config, seeds=seeds, out=out, progress=False)
        folders = sorted((out / "checkpoints").glob("[0-9]*")) if every else []
        size = sum(f.stat().st_size for f in folders[-1].rglob("*") if f.is_file()) if every else 0
    return {
        "env_steps_per_second": result.summary["env_steps_per_second"],
        "checkpoints_written": 0 if not every else 50 // every + (50 % every > 0),
        "checkpoint_megabytes": size / 1e6,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    rows = []
    for case in args.cases:
        samples = {name: [] for name in EVERY}
        extra = {}
        for _ in range(args.rounds):
            for name, every in EVERY.items():
                m = measure(case, every)
                samples[name].append(m["env_steps_per_second"])
                extra[name] = m
        off = statistics.median(samples["off"])
        for name in EVERY:
            rate = statistics.median(samples[name])
            rows.append(
                {
                    "case": case,
                    "algo": CASES[case][0],
                    "env": CASES[case][1],
                    "seeds": CASES[case][2],
                    "checkpoint_every": name,
                    "env_steps_per_second": rate,
                    "samples": samples[name],
                    "ratio_to_off": rate / off,
                    "checkpoints_written": extra[name]["checkpoints_written"],
                    "checkpoint_megabytes": extra[name]["checkpoint_megabytes"],
                }
            )
            print(
                f"{case:6s} checkpoint_every={name:>3s}  {rate:12,.0f} env steps/s  "
                f"ratio {rate / off:5.3f}  {extra[name]['checkpoints_written']:3d} checkpoints "
                f"of {extra[name]['checkpoint_megabytes']:.2f} MB",
                flush=True,
            )
    platform = jax.devices()[0].platform
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"checkpoint-{platform}.json"
    path.write_text(
        json.dumps({"device": str(jax.devices()[0]), "rounds": args.rounds, "rows": rows}, indent=1)
        + "\n"
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
