"""IPPO and recurrent MAPPO on MPE ``simple_spread_v3`` at 1e7 steps: what each
of JaxMARL's PPO settings does to our return beside its ``ippo_ff_mpe.py`` and
``mappo_rnn_mpe.py``.

Each variant is one ``jaxmarl-core train`` run (one seed) with the ``mpe``
suite's settings for the algorithm as they were before the suite took JaxMARL's
PPO settings (the cells recorded in ``parity-mpe-cpu`` for IPPO and
``parity-mpe-mappo-cpu`` for MAPPO), plus the keys that express one or more of
JaxMARL's settings. This script gathers their ``metrics.csv`` beside the
recorded 5-seed cell and JaxMARL's recorded seeds into
``<algo>-trace-mpe-cpu.json`` and a figure of the training return over steps.

    python benchmarks/ppo_trace.py --algo mappo RUN_DIR [RUN_DIR ...] [--out benchmarks/results]

A run stopped early (no ``summary.json``) is recorded as far as its
``metrics.csv`` went, with no final scores.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import yaml  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
# The keys that express JaxMARL's settings, at the values the gap was measured
# with (a run made before a key existed ran with its default).
BEFORE = {
    "env_kwargs": {},
    "bootstrap_truncation": True,
    "post_gru_layers": 0,
    "adam_eps": 1e-8,
}


# Per algorithm: the record of the cell measured before (its table at budget 1.0).
BEFORE_CELLS = {"ippo": "parity-mpe", "mappo": "parity-mpe-mappo"}
OURS, PEER = "ours, suite settings before (5 seeds)", "JaxMARL's own trainer"


def recorded(algo: str) -> dict[str, dict]:
    """Our 5-seed cell (per-seed final scores) and JaxMARL's runs, as recorded."""
    name = BEFORE_CELLS[algo]
    tables = json.loads((RESULTS / f"{name}-cpu.json").read_text())["tables"]
    table = next(t for t in tables if t["budget"] == 1.0)
    cells = table["cells_detail"]
    peer = [r for r in table["peer_runs"] if r["algo"] == f"jaxmarl:{algo}"]
    # Our cell's curve: the IQM over seeds of the min-max normalised score, back in returns.
    efficiency = json.loads(
        (RESULTS / f"{name}-cpu/budget-1.0/figures/sample_efficiency.json").read_text()
    )
    (low,), (high,) = efficiency["task_low"], efficiency["task_high"]  # one task
    iqm = np.array(efficiency["iqm"][algo]["point"]) * (high - low) + low
    return {
        OURS: {
            "env_steps": efficiency["steps"],
            "episode_return_iqm": iqm.tolist(),
            "final_return_per_seed": cells[f"{algo} | jaxmarl:MPE_simple_spread_v3"][
                "final_return_per_seed"
            ],
        },
        PEER: {
            "script": peer[0]["script"],
            "seeds": [r["seed"] for r in peer],
            "env_steps": peer[0]["env_steps"],
            "episode_return": np.mean([r["episode_return"] for r in peer], axis=0).tolist(),
            "final_return_per_seed": cells[f"jaxmarl:{algo} | jaxmarl:MPE_simple_spread_v3"][
                "final_return_per_seed"
            ],
        },
    }


def variant(run: Path) -> dict:
    """One run's curve, final scores and the keys it adds to the suite's settings."""
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    config = yaml.safe_load((run / "config.yaml").read_text())
    added = {k: config[k] for k, before in BEFORE.items() if config.get(k, before) != before}
    summary = run / "summary.json"
    summary = json.loads(summary.read_text()) if summary.is_file() else None

    def final(key: str) -> float | None:
        """One seed's final score as the driver summarised it (None: stopped early)."""
        return None if summary is None else summary[key][0]

    return {
        "run": run.name,
        "adds": added,  # what it changes of the settings the gap was measured with
        "seed": int(rows[0]["seed"]),
        "env_steps": [int(r["env_steps"]) for r in rows],
        "episode_return": [float(r["episode_return"]) for r in rows],
        "eval_return": [float(r["eval_return"]) for r in rows],
        "entropy": [float(r["entropy"]) for r in rows],
        "finished": summary is not None,
        # The table's score: the training return over the last 10% of training.
        "final_return": final("final_return_per_seed"),
        "final_greedy_return": final("final_eval_return_per_seed"),
        "absolute_return": final("absolute_return_per_seed"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--algo", choices=sorted(BEFORE_CELLS), default="mappo")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    variants = [variant(run) for run in args.runs]
    base = recorded(args.algo)
    record = {
        "algo": args.algo,
        "task": "jaxmarl:MPE_simple_spread_v3",
        "recorded": base,
        "variants": variants,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"{args.algo}-trace-mpe-cpu"
    stem.with_suffix(".json").write_text(json.dumps(record, indent=1) + "\n")

    fig, ax = plt.subplots(figsize=(8, 4.5))
    peer = base[PEER]
    seeds = f"seeds {min(peer['seeds'])}-{max(peer['seeds'])}"
    label = f"JaxMARL's {Path(peer['script']).name} ({seeds})"
    ax.plot(np.array(peer["env_steps"]), peer["episode_return"], "k-", lw=2.5, label=label)
    ours = base[OURS]
    ax.plot(ours["env_steps"], ours["episode_return_iqm"], "k--", lw=1.5, label="ours before (IQM)")
    for v in variants:
        label = f"{v['run']} (seed {v['seed']})"
        ax.plot(np.array(v["env_steps"]), v["episode_return"], lw=1.5, label=label)
    ax.set_xlabel("environment steps")
    ax.set_ylabel("training episodes' return")
    ax.set_title(f"{args.algo.upper()}, simple_spread_v3: JaxMARL's settings one at a time")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(stem.with_suffix(".png"), dpi=110)
    print(f"wrote {stem}.json and .png")


if __name__ == "__main__":
    main()
