"""PQN-VDN's training speed on MPE simple_spread beside JaxMARL's own PQN-VDN and
beside our VDN, on one core, in one run.

    taskset -c 0 python benchmarks/pqn_speed.py --jaxmarl-repo /tmp/jaxmarl-src

Rows, each measured in its own process pinned to ``--core``, in rounds A B C ...:

- ``ours:pqn_vdn``: our PQN-VDN with the mpe suite's settings (JaxMARL's
  ``pqn_vdn_ff_mpe.yaml``: 256 environments x 16 steps, hidden 256, 4 epochs x
  16 minibatches);
- ``jaxmarl:pqn_vdn``: JaxMARL's ``baselines/QLearning/pqn_vdn_ff.py`` with that
  file, its greedy tests during training off (ours are not in the timed chunk
  either), imported from the checkout where it lies;
- ``ours:vdn``: our VDN with the mpe suite's settings (JaxMARL's ``ql_rnn_mpe.yaml``:
  recurrent, replay, 8 environments) and ``ours:vdn-ff``, its feed-forward default.

Each row is the median over rounds of env steps per second after compilation (a
call trains ``--min-steps`` steps from a fresh start, as the peer's script does).
Writes ``benchmarks/results/pqn-speed-cpu.json`` and prints the table with the
ratios to JaxMARL's PQN-VDN and to our VDN.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from peers import median_of, peak_mb, time_calls  # noqa: E402

RESULTS = Path(__file__).parent / "results"
MPE = "jaxmarl:MPE_simple_spread_v3"


def worker_ours(algo: str, settings: str, min_steps: int, calls: int) -> dict:
    import jax

    import jaxmarl_core as jm
    from jaxmarl_core.tables import TABLES
    from jaxmarl_core.train import make_algorithm

    options = dict(TABLES["mpe"].settings[algo]) if settings == "suite" else {}
    config = jm.make_config(algo, env=MPE, **options)
    _, alg = make_algorithm(config)
    updates = max(1, min_steps // alg.steps_per_update)
    hparams = config.hparams

    def run(key):
        state = alg.init(key, hparams)
        return jax.lax.scan(lambda s, _: alg.update(s, hparams), state, None, length=updates)[0]

    train = jax.jit(run)
    # Each call is a whole run from a fresh start, as the peer's (its key feeds the next).
    first, steady, _ = time_calls(lambda k: train(k).key, jax.random.PRNGKey(0), calls)
    steps = updates * alg.steps_per_update
    return dict(
        compile_s=first - steady,
        steps_per_s=steps / steady,
        steps_per_call=steps,
        peak_mb=peak_mb(),
    )


def worker_jaxmarl(repo: str, min_steps: int, calls: int) -> dict:
    import importlib.util
    import types

    import jax
    from omegaconf import OmegaConf

    for name in ("wandb", "hydra"):  # logging and the entry point; neither is timed
        stand_in = types.ModuleType(name)
        stand_in.log, stand_in.init = (lambda *a, **k: None), (lambda *a, **k: None)
        stand_in.main = lambda **k: lambda f: f
        sys.modules.setdefault(name, stand_in)
    base = Path(repo) / "baselines" / "QLearning"
    spec = importlib.util.spec_from_file_location("pqn_vdn_ff", base / "pqn_vdn_ff.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    read = lambda p: OmegaConf.to_container(OmegaConf.load(p))  # noqa: E731
    config = {
        **read(base / "config" / "config.yaml"),
        **read(base / "config/alg/pqn_vdn_ff_mpe.yaml"),
    }
    per_update = config["NUM_ENVS"] * config["NUM_STEPS"]
    updates = max(1, min_steps // per_update)
    config.update(
        TOTAL_TIMESTEPS=updates * per_update, TEST_DURING_TRAINING=False, WANDB_MODE="disabled"
    )
    env, _ = module.env_from_config(copy.deepcopy(config))
    train = jax.jit(module.make_train(config, env))
    first, steady, _ = time_calls(
        lambda k: train(k)["runner_state"][-1], jax.random.PRNGKey(0), calls
    )
    return dict(
        compile_s=first - steady,
        steps_per_s=updates * per_update / steady,
        steps_per_call=updates * per_update,
        peak_mb=peak_mb(),
    )


ROWS = {
    "ours:pqn_vdn": ("ours", dict(algo="pqn_vdn", settings="suite")),
    "jaxmarl:pqn_vdn": ("jaxmarl", {}),
    "ours:vdn": ("ours", dict(algo="vdn", settings="suite")),
    "ours:vdn-ff": ("ours", dict(algo="vdn", settings="default")),
}


def run_worker(core: int, kind: str, **kwargs) -> dict:
    cmd = [
        "taskset",
        "-c",
        str(core),
        sys.executable,
        __file__,
        "--worker",
        kind,
        json.dumps(kwargs),
    ]
    proc = subprocess.run(
        cmd, capture_output=True, text=True, env={**os.environ, "JAX_PLATFORMS": "cpu"}
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode or not lines:
        return dict(error=" | ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:]))
    return json.loads(lines[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--jaxmarl-repo", help="a checkout of FLAIROx/JaxMARL (row skipped if not given)"
    )
    parser.add_argument("--core", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--calls", type=int, default=2)
    parser.add_argument("--min-steps", type=int, default=200_000)
    parser.add_argument("--out", default=str(RESULTS / "pqn-speed-cpu.json"))
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        kind, kwargs = args.worker[0], json.loads(args.worker[1])
        fn = worker_ours if kind == "ours" else worker_jaxmarl
        print(json.dumps(fn(**kwargs)))
        return
    runs: dict[str, list[dict]] = {name: [] for name in ROWS}
    for _ in range(args.rounds):
        for name, (kind, kwargs) in ROWS.items():
            if kind == "jaxmarl":
                if not args.jaxmarl_repo:
                    continue
                kwargs = dict(repo=args.jaxmarl_repo)
            result = run_worker(
                args.core, kind, min_steps=args.min_steps, calls=args.calls, **kwargs
            )
            runs[name].append(result)
            print(name, result, file=sys.stderr, flush=True)
    rows = {name: median_of(r) for name, r in runs.items() if r}
    peer = rows.get("jaxmarl:pqn_vdn", {}).get("steps_per_s")
    vdn = rows["ours:vdn"].get("steps_per_s")
    for row in rows.values():
        if "steps_per_s" in row:
            row["versus_jaxmarl_pqn_vdn"] = row["steps_per_s"] / peer if peer else None
            row["versus_our_vdn"] = row["steps_per_s"] / vdn if vdn else None
    report = dict(
        machine=platform.processor() or platform.machine(),
        core=args.core,
        load_average_at_end=os.getloadavg(),
        min_steps=args.min_steps,
        rounds=args.rounds,
        rows=rows,
    )
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    for name, row in rows.items():
        if "steps_per_s" not in row:
            print(f"{name:18s} {row.get('error')}")
            continue
        print(
            f"{name:18s} {row['steps_per_s']:9.0f} steps/s  compile {row['compile_s']:5.1f} s  "
            f"x JaxMARL PQN-VDN {row['versus_jaxmarl_pqn_vdn'] or float('nan'):.2f}  "
            f"x our VDN {row['versus_our_vdn'] or float('nan'):.2f}"
        )


if __name__ == "__main__":
    main()
