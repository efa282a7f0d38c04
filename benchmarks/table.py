"""A benchmark table as one batched program per algorithm against one program per game.

The matrix table's eight games differ only in their payoff (environment
parameters), so ``jaxmarl-core table matrix`` trains all games x all seeds of
an algorithm under one ``vmap``: one compilation per algorithm instead of one
per game, and eight times the runs per program. This runs the same table both
ways, one after the other in one process, and reports compile counts, compile
and training seconds, and the ratio of wall times. Both ways use the same keys
and give the same cells (``tests/test_tables.py`` checks it on a small table).

    python benchmarks/table.py [--seeds 5] [--budget 0.25] [--algos vdn ia2c ...]

``--budget`` scales the table's budgets (1.0: the table's own); the ratio
depends on it, since compilation is a fixed cost. Writes
``benchmarks/results/table-<platform>.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from pathlib import Path

import jax

from jaxmarl_core.tables import run_table

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--table", default="matrix")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--budget", type=float, default=0.25)
    parser.add_argument("--algos", nargs="*", default=None)
    args = parser.parse_args()

    rows = {}
    for way, batch in (("one program per algorithm", True), ("one program per game", False)):
        table = run_table(
            args.table, seeds=args.seeds, budget=args.budget, algos=args.algos, batch_games=batch
        )
        compile_s = sum(p.compile_seconds for p in table.programs)
        run_s = sum(p.run_seconds for p in table.programs)
        rows[way] = {
            "programs": len(table.programs),
            "compile_seconds": compile_s,
            "run_seconds": run_s,
            "wall_seconds": table.wall_seconds,
            "per_algorithm": [p._asdict() for p in table.programs],
        }
        print(
            f"{way:28s} {len(table.programs):3d} programs  compile {compile_s:7.1f} s  "
            f"train {run_s:7.1f} s  wall {table.wall_seconds:7.1f} s",
            flush=True,
        )
    batched, alone = rows["one program per algorithm"], rows["one program per game"]
    ratio = alone["wall_seconds"] / batched["wall_seconds"]
    print(
        f"batched is {ratio:.2f}x faster in wall time "
        f"(compile {alone['compile_seconds'] / batched['compile_seconds']:.2f}x, "
        f"train {alone['run_seconds'] / batched['run_seconds']:.2f}x)"
    )
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"table-{jax.default_backend()}.json"
    out.write_text(
        json.dumps(
            {
                "table": args.table,
                "seeds": args.seeds,
                "budget": args.budget,
                "algos": args.algos or "all",
                "device": str(jax.devices()[0]),
                "cpu": platform.processor() or platform.machine(),
                "cores_allowed": len(os.sched_getaffinity(0)),
                "ways": rows,
                "wall_ratio_per_game_over_batched": ratio,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
