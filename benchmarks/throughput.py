"""Environment steps per second of training, beside stepping the environments alone.

For every algorithm (or those named with --algos), every environment and every
batch size: the compile time of one jitted chunk of ``updates`` training
iterations, then the steps per second of running further chunks (after
compilation), and the steps per second of stepping the same ``VecEnv`` batch
with uniformly random valid actions (the ceiling no trainer passes). The ratio
``train / env`` says what fraction of the environment-only rate training keeps.

    python benchmarks/throughput.py                      # all algorithms
    python benchmarks/throughput.py --algos idqn --num-envs 1 64 1024
    python benchmarks/throughput.py --recurrent --algos ippo qmix \
        --envs lbf-8x8-2p-2f-coop --num-envs 64 1024     # GRU agents beside MLP agents

With ``--recurrent`` every row is measured twice, one right after the other:
feed-forward agents and GRU agents (``recurrent=true``), and the table gives the
ratio of their rates.

Writes ``benchmarks/results/throughput-<platform>.json`` and prints a table.
Figures hold for the machine they were measured on; compare ratios.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import jax
import jax.numpy as jnp

import jaxmarl_core as jm
from jaxmarl_core.config import params_of
from jaxmarl_core.core.exploration import NEG_INF
from jaxmarl_core.envs import VecEnv, make_env
from jaxmarl_core.train import make_algorithm

RESULTS = Path(__file__).parent / "results"


def timed(fn, *args, repeats: int):
    """Seconds per call of an already compiled ``fn`` (best of ``repeats``)."""
    out = jax.block_until_ready(fn(*args))
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        out = jax.block_until_ready(fn(*args))
        best = min(best, time.perf_counter() - t)
    return best, out


def env_only_rate(env_name: str, num_envs: int, steps: int, repeats: int) -> float:
    """Steps per second of ``num_envs`` environments under random valid actions."""
    venv = VecEnv(make_env(env_name), num_envs)

    @jax.jit
    def roll(state):
        def body(state, key):
            logits = jnp.where(state.obs.action_mask, 0.0, NEG_INF)
            actions = jax.random.categorical(key, logits).astype(jnp.int32)
            state, _ = venv.step(state, actions)
            return state, None

        keys = jax.random.split(state.key, steps)
        return jax.lax.scan(body, state, keys)[0]

    state = venv.reset(jax.random.PRNGKey(0))
    seconds, _ = timed(roll, state, repeats=repeats)
    return num_envs * steps / seconds


def train_rate(
    algo: str, env_name: str, num_envs: int, min_steps: int, repeats: int, **extra
) -> tuple[float, float]:
    """(compile seconds, steps per second) of jitted chunks of training updates.

    ``extra``: further config overrides (``recurrent=True``, for example).
    """
    overrides = {"num_envs": num_envs, "total_timesteps": max(min_steps, 500 * num_envs), **extra}
    known = params_of(algo)
    # Make the value-based learners learn from the first update, so that the
    # timed chunks include their gradient steps.
    # The buffer keeps at least 40 steps per environment, two recurrent sequences.
    buffer_size = max(10_000, 40 * num_envs)
    for key, value in {"learning_starts": 0, "batch_size": 32, "buffer_size": buffer_size}.items():
        if key in known:
            overrides[key] = value
    for key in ("num_minibatches",):
        if key in known:
            overrides[key] = 1
    config = jm.make_config(algo, env=env_name, **overrides)
    _, alg = make_algorithm(config)
    # At least 4 updates per chunk, so that large batches are not timed on one or two.
    updates = max(4, min_steps // alg.steps_per_update)
    hparams = config.hparams

    def chunk(state):
        return jax.lax.scan(lambda s, _: alg.update(s, hparams), state, None, length=updates)[0]

    t = time.perf_counter()
    state = jax.jit(alg.init)(jax.random.PRNGKey(0), hparams)
    compiled = jax.jit(chunk).lower(state).compile()
    jax.block_until_ready(state)
    compile_seconds = time.perf_counter() - t
    state = compiled(state)  # fills replay buffers past the first batch
    seconds, _ = timed(compiled, state, repeats=repeats)
    return compile_seconds, updates * alg.steps_per_update / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--algos", nargs="*", default=None)
    parser.add_argument("--envs", nargs="*", default=["climbing", "lbf-8x8-2p-2f-coop"])
    parser.add_argument("--num-envs", nargs="*", type=int, default=[1, 64, 1024])
    parser.add_argument("--min-steps", type=int, default=20_000, help="env steps per chunk")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", default=None)
    parser.add_argument(
        "--recurrent", action="store_true", help="GRU agents beside feed-forward ones, per row"
    )
    args = parser.parse_args()
    algos = args.algos or jm.list_algos()
    if args.recurrent:
        return compare_recurrent(algos, args)

    rows = []
    header = f"{'algo':10s} {'env':20s} {'envs':>5s} {'compile s':>9s} {'train steps/s':>14s} "
    header += f"{'env steps/s':>13s} {'train/env':>9s}"
    print(header)
    env_rates: dict[tuple[str, int], float] = {}
    for env_name in args.envs:
        for n in args.num_envs:
            steps = max(16, args.min_steps // n)
            env_rates[env_name, n] = env_only_rate(env_name, n, steps, args.repeats)
    for algo in algos:
        for env_name in args.envs:
            for n in args.num_envs:
                compile_s, rate = train_rate(algo, env_name, n, args.min_steps, args.repeats)
                env_rate = env_rates[env_name, n]
                row = dict(
                    algo=algo,
                    env=env_name,
                    num_envs=n,
                    compile_seconds=compile_s,
                    train_steps_per_second=rate,
                    env_steps_per_second=env_rate,
                    ratio=rate / env_rate,
                )
                rows.append(row)
                print(
                    f"{algo:10s} {env_name:20s} {n:5d} {compile_s:9.1f} {rate:14,.0f} "
                    f"{env_rate:13,.0f} {rate / env_rate:9.3f}",
                    flush=True,
                )
    write_report(rows, args, "throughput")


def write_report(rows: list[dict], args: argparse.Namespace, name: str) -> None:
    """Writes the rows and the machine to ``--out`` or results/NAME-<platform>.json."""
    device = jax.devices()[0]
    report = {
        "device": f"{device.platform}:{device.device_kind}",
        "machine": platform.platform(),
        "jax": jax.__version__,
        "min_steps_per_chunk": args.min_steps,
        "rows": rows,
    }
    out = Path(args.out) if args.out else RESULTS / f"{name}-{device.platform}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")


def compare_recurrent(algos: list[str], args: argparse.Namespace) -> None:
    """Feed-forward and recurrent training rates of the same rows, side by side."""
    rows = []
    print(
        f"{'algo':10s} {'env':20s} {'envs':>5s} {'ff steps/s':>12s} {'gru steps/s':>12s} "
        f"{'gru/ff':>7s} {'ff compile s':>12s} {'gru compile s':>13s}"
    )
    for algo in algos:
        for env_name in args.envs:
            for n in args.num_envs:
                ff_c, ff = train_rate(algo, env_name, n, args.min_steps, args.repeats)
                gru_c, gru = train_rate(
                    algo, env_name, n, args.min_steps, args.repeats, recurrent=True
                )
                rows.append(
                    dict(
                        algo=algo,
                        env=env_name,
                        num_envs=n,
                        feed_forward_steps_per_second=ff,
                        recurrent_steps_per_second=gru,
                        ratio=gru / ff,
                        feed_forward_compile_seconds=ff_c,
                        recurrent_compile_seconds=gru_c,
                    )
                )
                print(
                    f"{algo:10s} {env_name:20s} {n:5d} {ff:12,.0f} {gru:12,.0f} {gru / ff:7.3f} "
                    f"{ff_c:12.1f} {gru_c:13.1f}",
                    flush=True,
                )
    write_report(rows, args, "recurrent")


if __name__ == "__main__":
    main()
