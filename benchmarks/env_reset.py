"""What auto-reset costs: reserve-based ``VecEnv`` against a naive reset, and no reset.

For each Level-Based Foraging task, ``num_envs`` environments are stepped with
uniformly random valid actions in three ways, each a jitted ``lax.scan`` of
``steps`` steps:

- ``vecenv``: :class:`jaxmarl_core.envs.VecEnv`, which swaps in a reserve
  initial state where an episode ends and refills only ``K`` reserves per step;
- ``naive``: under ``vmap``, computes ``env.reset`` for every environment at
  every step and selects it where the episode ended (gymnax-style);
- ``no_reset``: steps only, never resets (the ceiling; episodes run on past
  their end).

All three keep the same running team-return and length bookkeeping, so the
difference is the reset. Steps per second are measured after compilation, the
modes timed in turn for ``repeats`` rounds, best call of each.

    python benchmarks/env_reset.py
    python benchmarks/env_reset.py --num-envs 4096 --steps 200

Prints a table and writes ``benchmarks/results/env_reset.json``. Figures hold
for the machine they were measured on; compare the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp

from jaxmarl_core.envs import VecEnv, make_env

RESULTS = Path(__file__).parent / "results"
MODES = ("vecenv", "naive", "no_reset")


class Carry(NamedTuple):
    env_state: Any  # [B] environment states (a VecEnvState for ``vecenv``)
    obs: Any  # [B] observation to act on
    episode_return: chex.Array  # float32[B]
    episode_length: chex.Array  # int32[B]
    key: chex.PRNGKey


def where_done(done: chex.Array, on_done: Any, otherwise: Any) -> Any:
    """Per-environment select between two [B]-batched pytrees."""

    def sel(a, b):
        return jnp.where(done.reshape(done.shape + (1,) * (a.ndim - 1)), a, b)

    return jax.tree_util.tree_map(sel, on_done, otherwise)


def random_valid_actions(key: chex.PRNGKey, action_mask: chex.Array) -> chex.Array:
    logits = jnp.where(action_mask, 0.0, -jnp.inf)
    return jax.random.categorical(key, logits).astype(jnp.int32)


def make_mode(env, num_envs: int, steps: int, mode: str):
    """``(init(key) -> Carry, run(Carry) -> Carry)``: ``run`` is ``steps`` steps."""
    venv = VecEnv(env, num_envs)
    zeros_f = jnp.zeros((num_envs,), jnp.float32)
    zeros_i = jnp.zeros((num_envs,), jnp.int32)

    def init(key):
        key, reset_key = jax.random.split(key)
        if mode == "vecenv":
            vstate = venv.reset(reset_key)
            return Carry(vstate, vstate.obs, zeros_f, zeros_i, key)
        env_state, ts = jax.vmap(env.reset)(jax.random.split(reset_key, num_envs))
        return Carry(env_state, ts.observation, zeros_f, zeros_i, key)

    def step(carry: Carry, _) -> tuple[Carry, None]:
        key, act_key, reset_key = jax.random.split(carry.key, 3)
        actions = random_valid_actions(act_key, carry.obs.action_mask)
        if mode == "vecenv":
            # VecEnv keeps its own return and length bookkeeping.
            vs, _ = venv.step(carry.env_state, actions)
            return Carry(vs, vs.obs, vs.episode_return, vs.episode_length, key), None
        env_state, ts = jax.vmap(env.step)(carry.env_state, actions)
        obs = ts.observation
        episode_return = carry.episode_return + ts.extras["team_reward"]
        episode_length = carry.episode_length + 1
        if mode == "naive":
            done = ts.last()
            fresh_state, fresh_ts = jax.vmap(env.reset)(jax.random.split(reset_key, num_envs))
            env_state = where_done(done, fresh_state, env_state)
            obs = where_done(done, fresh_ts.observation, obs)
            episode_return = jnp.where(done, 0.0, episode_return)
            episode_length = jnp.where(done, 0, episode_length)
        return Carry(env_state, obs, episode_return, episode_length, key), None

    def run(carry: Carry) -> Carry:
        return jax.lax.scan(step, carry, None, length=steps)[0]

    return jax.jit(init), jax.jit(run), venv.num_refills


def measure(env_name: str, num_envs: int, steps: int, repeats: int) -> dict[str, dict]:
    """Compiles the three modes, then times them in turn, ``repeats`` rounds (best of)."""
    env = make_env(env_name)
    runs, carries, out = {}, {}, {}
    for mode in MODES:
        init, run, num_refills = make_mode(env, num_envs, steps, mode)
        carry = init(jax.random.key(0))
        t = time.perf_counter()
        runs[mode] = run.lower(carry).compile()
        out[mode] = {"compile_seconds": time.perf_counter() - t, "seconds_per_call": float("inf")}
        if mode == "vecenv":
            out[mode]["resets_per_step"] = num_refills
        carries[mode] = jax.block_until_ready(runs[mode](carry))  # warm-up
    # Interleaved rounds, so that a slow spell of a shared machine hits every mode alike.
    for _ in range(repeats):
        for mode in MODES:
            t = time.perf_counter()
            carries[mode] = jax.block_until_ready(runs[mode](carries[mode]))
            seconds = time.perf_counter() - t
            out[mode]["seconds_per_call"] = min(out[mode]["seconds_per_call"], seconds)
    for mode in MODES:
        out[mode]["steps_per_second"] = num_envs * steps / out[mode]["seconds_per_call"]
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--envs", nargs="+", default=["lbf-15x15-4p-3f", "lbf-8x8-2p-2f-coop"])
    parser.add_argument("--num-envs", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=100, help="steps per timed call")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--out", type=Path, default=RESULTS / "env_reset.json")
    args = parser.parse_args(argv)

    device = jax.devices()[0]
    results = {}
    for name in args.envs:
        rates = measure(name, args.num_envs, args.steps, args.repeats)
        sps = {mode: rates[mode]["steps_per_second"] for mode in MODES}
        results[name] = {
            **rates,
            "ratios": {
                "vecenv_over_naive": sps["vecenv"] / sps["naive"],
                "vecenv_over_no_reset": sps["vecenv"] / sps["no_reset"],
                "naive_over_no_reset": sps["naive"] / sps["no_reset"],
            },
        }

    header = (
        f"{'env':<22}{'vecenv':>12}{'naive':>12}{'no_reset':>12}"
        f"{'vec/naive':>11}{'vec/none':>10}{'naive/none':>12}"
    )
    print(f"steps/s, {args.num_envs} envs, {device.platform} ({device.device_kind})")
    print(header)
    for name, r in results.items():
        q = r["ratios"]
        print(
            f"{name:<22}"
            + "".join(f"{r[m]['steps_per_second']:>12,.0f}" for m in MODES)
            + f"{q['vecenv_over_naive']:>11.2f}{q['vecenv_over_no_reset']:>10.2f}"
            + f"{q['naive_over_no_reset']:>12.2f}"
        )

    report = {
        "benchmark": "env_reset",
        "platform": device.platform,
        "device": device.device_kind,
        "cpu_count": os.cpu_count(),
        # Other work on a shared machine slows every mode; the ratios suffer less.
        "load_average_1min": os.getloadavg()[0],
        "jax_version": jax.__version__,
        "num_envs": args.num_envs,
        "steps_per_call": args.steps,
        "repeats": args.repeats,
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")
    return report


if __name__ == "__main__":
    main()
