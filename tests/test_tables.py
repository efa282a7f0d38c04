"""Games as data (environment parameters) and benchmark tables."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxmarl_core import list_algos, make_config, make_train
from jaxmarl_core.cli import main
from jaxmarl_core.envs.matrix import MatrixGame
from jaxmarl_core.envs.registry import make_env
from jaxmarl_core.tables import (
    TABLES,
    TableSpec,
    program_groups,
    read_cell,
    run_table,
    table_markdown,
)

# A small table of its own: two matrix games of one shape, one value-based and
# one actor-critic algorithm, budgets of a few hundred updates.
SMALL = TableSpec(
    name="small",
    games=("climbing", "penalty-100"),
    budgets={"value_based": 1_600, "actor_critic": 4_000},
    published=TABLES["matrix"].published,
    note="a test table",
)
SMALL_ALGOS = ["vdn", "ia2c"]


def test_a_matrix_game_on_other_parameters_is_that_game():
    climbing, penalty = make_env("climbing"), make_env("penalty-100")
    bound = climbing.with_params(penalty.params())
    assert isinstance(bound, MatrixGame)
    np.testing.assert_array_equal(climbing.payoff, make_env("climbing").payoff)  # untouched
    key = jax.random.key(0)
    for joint in [(0, 0), (0, 2), (1, 1), (2, 0)]:
        actions = jnp.asarray(joint, jnp.int32)
        a = bound.step(bound.reset(key)[0], actions)[1]
        b = penalty.step(penalty.reset(key)[0], actions)[1]
        np.testing.assert_array_equal(a.reward, b.reward)
        np.testing.assert_array_equal(a.step_type, b.step_type)


def test_environment_parameters_of_another_shape_are_refused():
    climbing = make_env("climbing")
    with pytest.raises(ValueError, match=r"payoff'\] must have shape \(3, 3\), got \(2, 2\)"):
        climbing.with_params({"payoff": jnp.zeros((2, 2))})
    with pytest.raises(ValueError, match="must be shaped as"):
        climbing.with_params({"reward": jnp.zeros((3, 3))})
    lbf = make_env("lbf-8x8-2p-2f-coop")
    assert lbf.params() == {}


def test_train_on_other_parameters_equals_training_on_that_game():
    """Same key, same program shape: training on penalty-100's payoff as data
    equals training on penalty-100 itself."""
    kwargs = dict(total_timesteps=2_000, num_logs=2)
    as_data = make_train(make_config("ia2c", env="climbing", **kwargs))
    itself = make_train(make_config("ia2c", env="penalty-100", **kwargs))
    key = jax.random.key(3)
    a = jax.jit(as_data)(key, None, make_env("penalty-100").params())
    b = jax.jit(itself)(key)
    for name in ("eval_return", "episode_return"):
        np.testing.assert_allclose(a.metrics[name], b.metrics[name], rtol=1e-5, atol=1e-4)


def test_matrix_games_share_one_program_and_grid_games_do_not():
    assert program_groups(TABLES["matrix"].games) == [TABLES["matrix"].games]
    assert program_groups(["climbing", "penalty-0"], batch_games=False) == [
        ("climbing",),
        ("penalty-0",),
    ]
    lbf = TABLES["lbf"].games
    assert program_groups(lbf) == [(g,) for g in lbf]


def test_every_table_publishes_values_for_known_cells_only():
    algos = set(list_algos())
    for spec in TABLES.values():
        for algo, game in spec.published:
            assert algo in algos and game in spec.games, (spec.name, algo, game)
    assert TABLES["matrix"].published[("idqn", "climbing")].value == 195.0
    assert TABLES["lbf"].published[("coma", "lbf-10x10-3p-3f")].value == 0.19


@pytest.fixture(scope="module")
def batched(tmp_path_factory):
    out = tmp_path_factory.mktemp("table") / "small"
    return out, run_table(SMALL, seeds=2, algos=SMALL_ALGOS, out=out)


def test_the_batched_table_equals_its_cells_run_one_by_one(batched):
    """One program per algorithm (both games under one vmap) against one
    program per game: same keys, the same greedy returns to float rounding."""
    _, table = batched
    assert [p.games for p in table.programs] == [SMALL.games, SMALL.games]
    alone = run_table(SMALL, seeds=2, algos=SMALL_ALGOS, batch_games=False)
    assert len(alone.programs) == 4
    for cell, one in zip(table.cells.values(), alone.cells.values(), strict=True):
        assert (cell.algo, cell.game) == (one.algo, one.game)
        np.testing.assert_allclose(cell.curve, one.curve, rtol=1e-5, atol=1e-3)
        np.testing.assert_array_equal(cell.curve_steps, one.curve_steps)


def test_the_table_directory_holds_every_cell_and_the_table(batched):
    out, table = batched
    for algo in SMALL_ALGOS:
        for game in SMALL.games:
            cell_dir = out / "runs" / algo / game
            summary = json.loads((cell_dir / "summary.json").read_text())
            assert summary["algo"] == algo and summary["env"] == game
            cell = table.cells[(algo, game)]
            assert summary["max_eval_return_per_seed"] == pytest.approx(cell.max_per_seed.tolist())
            assert summary["final_eval_return_per_seed"] == pytest.approx(
                cell.final_per_seed.tolist()
            )
    # Our rows' final greedy returns per task; with no greedy-scored peer, no
    # second probability of improvement over them (the training scores' says it).
    assert set(table.statistics["greedy"]) == set(SMALL_ALGOS)
    for algo in SMALL_ALGOS:
        got = table.statistics["greedy"][algo][SMALL.games[0]][0]
        assert got == pytest.approx(np.mean(table.cells[(algo, SMALL.games[0])].final_per_seed))
    assert "greedy_probability_of_improvement" not in table.statistics
    assert "probability_of_improvement" in table.statistics
    rows = (out / "table.csv").read_text().splitlines()
    assert rows[0] == "game,algo,seeds,env_steps,max_mean,max_std,final_mean,final_std,published"
    assert len(rows) == 1 + 4
    assert "climbing,vdn,2,1600," in rows[1] and rows[1].endswith(",~175")
    md = (out / "table.md").read_text()
    assert md == table_markdown(table)
    assert "| vdn |" in md and "[~175]" in md and "Papoudakis" in md
    # Cells of seconds are shown in seconds (in hours they would all read 0.00).
    walls = md.split("compiling included): CPU-seconds\n")[1]
    seconds = table.cells[("vdn", SMALL.games[0])].wall_seconds
    assert 0 < seconds < 360 and f"| vdn | {seconds:.0f} |" in walls.split("\n## ")[0]
    assert (out / "curves.png").stat().st_size > 10_000
    report = json.loads((out / "table.json").read_text())
    assert report["seeds"] == 2 and report["compile_count"] == 2


def test_a_rerun_trains_only_the_unfinished_cells(batched, tmp_path):
    out, table = batched
    copy = tmp_path / "copy"
    import shutil

    shutil.copytree(out, copy)
    (copy / "runs" / "ia2c" / "penalty-100" / "summary.json").unlink()
    again = run_table(SMALL, seeds=2, algos=SMALL_ALGOS, out=copy)
    assert [p.games for p in again.programs] == [("penalty-100",)]
    assert sorted(again.skipped) == sorted(
        [("vdn", "climbing"), ("vdn", "penalty-100"), ("ia2c", "climbing")]
    )
    redone = read_cell(copy, "ia2c", "penalty-100")
    np.testing.assert_allclose(
        redone.curve, table.cells[("ia2c", "penalty-100")].curve, rtol=1e-5, atol=1e-3
    )
    with pytest.raises(ValueError, match="holds another table .*seeds=2 there, 3 now"):
        run_table(SMALL, seeds=3, algos=SMALL_ALGOS, out=copy)


def test_table_command_errors(capsys, tmp_path):
    assert main(["table", "nope"]) == 2
    assert "unknown table 'nope'; tables: matrix, lbf, mpe, smax, mava\n" in capsys.readouterr().err
    assert main(["table", "matrix", "algos=vdn,xx", f"out={tmp_path / 't'}"]) == 2
    assert "unknown xx" in capsys.readouterr().err
    assert main(["table", "matrix", "budget=0", f"out={tmp_path / 't'}"]) == 2
    assert "budget=0" in capsys.readouterr().err
    assert main(["table", "matrix", "sedes=3"]) == 2
    assert "got sedes" in capsys.readouterr().err
    assert main(["table", "matrix", "checkpoint_every=-1", f"out={tmp_path / 't'}"]) == 2
    assert "checkpoint_every=-1 is not allowed" in capsys.readouterr().err
    assert not (tmp_path / "t").exists()


def test_a_stalled_table_run_ends_with_one_line_instead_of_waiting_for_ever():
    """The watchdog the table command arms: no logging step for longer than its
    limit (1 s here) ends the process with status 1 and says what to do."""
    import os
    import subprocess
    import sys
    import time

    code = (
        "import time; from jaxmarl_core.chunks import watch_for_stalls\n"
        "with watch_for_stalls('Run the same command again.'): time.sleep(60)"
    )
    env = {**os.environ, "JAXMARL_CORE_STALL_SECONDS": "1"}
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert proc.returncode == 1
    assert time.perf_counter() - t0 < 30
    assert "no logging step finished in" in proc.stderr
    assert "Run the same command again." in proc.stderr
    # Disarmed when the block ends: a process that goes on afterwards is left alone.
    code = (
        "import time; from jaxmarl_core.chunks import watch_for_stalls\n"
        "with watch_for_stalls('x'): pass\n"
        "time.sleep(4); print('alive')"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert proc.returncode == 0 and "alive" in proc.stdout, proc.stderr[-2000:]
