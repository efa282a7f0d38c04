"""Training throughput of this working tree against an earlier commit, side by side.

For every (algorithm, environment, num_envs) row, the training rate of
``throughput.train_rate`` is measured in fresh Python processes, alternating
between a temporary worktree of ``REF`` and this tree for ``--rounds`` rounds,
so that both see the same machine load; the best rate of each side is kept.
The ratio ``this / ref`` is what a change did to throughput.

    python benchmarks/versus_commit.py 939c42f --algos ippo qmix \\
        --envs lbf-8x8-2p-2f-coop --num-envs 64 1024 [--recurrent]

Writes ``benchmarks/results/versus-<ref>-<platform>.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"

PROBE = """
import json, sys
sys.path[:0] = [{tree!r}, {tree!r} + "/benchmarks"]
import jax
from throughput import train_rate
compile_s, rate = train_rate(
    {algo!r}, {env!r}, {num_envs}, {min_steps}, {repeats}, recurrent={recurrent}
)
print(json.dumps(dict(rate=rate, compile_seconds=compile_s, platform=jax.devices()[0].platform)))
"""


def measure(tree: Path, algo: str, env: str, num_envs: int, args: argparse.Namespace) -> dict:
    """One train_rate measurement in a fresh process importing the package from ``tree``."""
    code = PROBE.format(
        tree=str(tree),
        algo=algo,
        env=env,
        num_envs=num_envs,
        min_steps=args.min_steps,
        repeats=args.repeats,
        recurrent=args.recurrent,
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=tree
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("ref", help="the commit to compare against")
    parser.add_argument("--algos", nargs="+", default=["ippo", "qmix"])
    parser.add_argument("--envs", nargs="+", default=["lbf-8x8-2p-2f-coop"])
    parser.add_argument("--num-envs", nargs="+", type=int, default=[64, 1024])
    parser.add_argument("--min-steps", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--recurrent", action="store_true", help="GRU agents instead of MLPs")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        old = Path(tmp) / "ref"
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(old), args.ref],
            check=True,
            cwd=ROOT,
            capture_output=True,
        )
        try:
            rows = compare(old, args)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(old)], cwd=ROOT)
    platform = rows[0]["platform"] if rows else "cpu"
    agents = "-gru" if args.recurrent else ""
    out = RESULTS / f"versus-{args.ref}{agents}-{platform}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps({"ref": args.ref, "recurrent": args.recurrent, "rows": rows}, indent=2) + "\n"
    )
    print(f"wrote {out}")


def compare(old: Path, args: argparse.Namespace) -> list[dict]:
    rows = []
    print(f"{'algo':8s} {'env':20s} {'envs':>5s} {'ref steps/s':>12s} {'this steps/s':>13s} ratio")
    for algo in args.algos:
        for env in args.envs:
            for n in args.num_envs:
                ref, this = [], []
                for _ in range(args.rounds):
                    ref.append(measure(old, algo, env, n, args))
                    this.append(measure(ROOT, algo, env, n, args))
                best_ref = max(r["rate"] for r in ref)
                best_this = max(r["rate"] for r in this)
                rows.append(
                    dict(
                        algo=algo,
                        env=env,
                        num_envs=n,
                        ref_steps_per_second=best_ref,
                        this_steps_per_second=best_this,
                        ratio=best_this / best_ref,
                        platform=this[0]["platform"],
                    )
                )
                print(
                    f"{algo:8s} {env:20s} {n:5d} {best_ref:12,.0f} {best_this:13,.0f} "
                    f"{best_this / best_ref:.3f}",
                    flush=True,
                )
    return rows


if __name__ == "__main__":
    main()
