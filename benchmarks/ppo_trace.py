"""IPPO and recurrent MAPPO on MPE ``simple_spread_v3`` at 1e7 steps: what each
of JaxMARL's PPO settings does to our return beside its ``ippo_ff_mpe.py`` and
``mappo_rnn_mpe.py``.

Each variant is one ``jaxmarl-core train`` run (one seed) with the settings of
a recorded cell (``--base``; by default the ``mpe`` suite's cell as it was
before the suite took JaxMARL's PPO settings: ``parity-mpe-cpu`` for IPPO and
``parity-mpe-mappo-cpu`` for MAPPO), plus the keys that express one or more of
JaxMARL's settings. This script gathers their ``metrics.csv`` beside the
recorded cell and JaxMARL's recorded seeds into ``<algo>-trace-mpe-cpu.json``
(``<algo>-trace-<base>-cpu.json`` for another base) and a figure of the
training return over steps.

    python benchmarks/ppo_trace.py --algo mappo RUN_DIR [RUN_DIR ...] [--out benchmarks/results]
    python benchmarks/ppo_trace.py --algo mappo --base parity-mpe-mappo-jaxmarl-settings RUN_DIR ...

A base recorded with its run files (``parity.py --record`` keeps them) gives
each variant's added keys against its ``config.yaml``; the older bases against
``BEFORE``.

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

from jaxmarl_core import make_config  # noqa: E402

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
TASK = "jaxmarl:MPE_simple_spread_v3"
# Keys of a run that say how it is logged and kept, not how it learns.
BOOKKEEPING = {"checkpoint_every", "keep_checkpoints", "logger", "wandb_project", "wandb_group"}


def base_table(name: str) -> dict:
    """The recorded table of ``name`` (a ``benchmarks/results`` record) at budget 1.0."""
    tables = json.loads((RESULTS / f"{name}-cpu.json").read_text())["tables"]
    return next(t for t in tables if t["budget"] == 1.0)


def full_config(values: dict) -> dict:
    """A run's ``config.yaml`` with every key, those it predates at their defaults."""
    values = dict(values)
    algo, env = values.pop("algo"), values.pop("env")
    return {"algo": algo, "env": env, **make_config(algo, env=env, **values).to_dict()}


def base_config(table: dict, algo: str) -> dict | None:
    """The recorded cell's config, where the record keeps its run files."""
    files = table.get("run_files", {}).get(f"{algo}/{TASK}")
    return None if files is None else full_config(yaml.safe_load(files["config.yaml"]))


def recorded(algo: str, name: str, table: dict) -> dict[str, dict]:
    """Our recorded cell (per-seed final scores) and JaxMARL's runs, from ``table``
    (the record ``name``'s table at budget 1.0)."""
    cells = table["cells_detail"]
    peer = [r for r in table["peer_runs"] if r["algo"] == f"jaxmarl:{algo}"]
    # Our cell's curve: the IQM over seeds of the min-max normalised score, back in returns.
    efficiency = json.loads(
        (RESULTS / f"{name}-cpu/budget-1.0/figures/sample_efficiency.json").read_text()
    )
    (low,), (high,) = efficiency["task_low"], efficiency["task_high"]  # one task
    iqm = np.array(efficiency["iqm"][algo]["point"]) * (high - low) + low
    ours = OURS if name == BEFORE_CELLS[algo] else f"ours, {name} ({table['seeds']} seeds)"
    return {
        ours: {
            "env_steps": efficiency["steps"],
            "episode_return_iqm": iqm.tolist(),
            "final_return_per_seed": cells[f"{algo} | {TASK}"]["final_return_per_seed"],
        },
        PEER: {
            "script": peer[0]["script"],
            "seeds": [r["seed"] for r in peer],
            "env_steps": peer[0]["env_steps"],
            "episode_return": np.mean([r["episode_return"] for r in peer], axis=0).tolist(),
            "final_return_per_seed": cells[f"jaxmarl:{algo} | {TASK}"]["final_return_per_seed"],
        },
    }


def variant(run: Path, base: dict | None) -> dict:
    """One run's curve, final scores and the keys it adds to the base cell's
    settings (``base``, its ``config.yaml``; None: ``BEFORE``)."""
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    config = yaml.safe_load((run / "config.yaml").read_text())
    if base is None:
        added = {k: config[k] for k, before in BEFORE.items() if config.get(k, before) != before}
    else:
        config = full_config(config)
        keys = set(config) - BOOKKEEPING
        added = {k: config[k] for k in sorted(keys) if config[k] != base[k]}
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
    parser.add_argument("--base", help="the recorded cell the variants add keys to")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    name = args.base or BEFORE_CELLS[args.algo]
    if not (RESULTS / f"{name}-cpu.json").is_file():
        parser.error(f"no record {name}-cpu.json in {RESULTS}")
    table = base_table(name)
    config = base_config(table, args.algo)
    variants = [variant(run, config) for run in args.runs]
    base = recorded(args.algo, name, table)
    record = {"algo": args.algo, "task": TASK, "base": name, "recorded": base, "variants": variants}
    args.out.mkdir(parents=True, exist_ok=True)
    suffix = "mpe" if name == BEFORE_CELLS[args.algo] else name.removeprefix("parity-")
    stem = args.out / f"{args.algo}-trace-{suffix}-cpu"
    stem.with_suffix(".json").write_text(json.dumps(record, indent=1) + "\n")

    fig, ax = plt.subplots(figsize=(8, 4.5))
    peer = base[PEER]
    seeds = f"seeds {min(peer['seeds'])}-{max(peer['seeds'])}"
    label = f"JaxMARL's {Path(peer['script']).name} ({seeds})"
    ax.plot(np.array(peer["env_steps"]), peer["episode_return"], "k-", lw=2.5, label=label)
    (label, ours), _ = base.items()
    ax.plot(ours["env_steps"], ours["episode_return_iqm"], "k--", lw=1.5, label=f"{label}, IQM")
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
