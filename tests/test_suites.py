"""Benchmark suites: the absolute metric, the suites' definitions, bad input, the
peers' runs as rows, a table resumed in the middle of a program, and
``benchmarks/parity.py``'s checks. Tiny budgets only."""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import chex
import jax
import numpy as np
import pytest
from memory_game import MemoryGame

from jaxmarl_core import make_config, make_train, stats, tables
from jaxmarl_core.chunks import RunStopped, _StallWatch
from jaxmarl_core.cli import main
from jaxmarl_core.config import ConfigError, params_of
from jaxmarl_core.envs import registry
from jaxmarl_core.tables import (
    EPYMARL_BUDGETS,
    PROTOCOL,
    TABLES,
    TableSpec,
    _check_args,
    budgets_of,
    cell_config,
    read_cell,
    run_table,
    suite_settings,
)
from jaxmarl_core.train import BestPolicy, greedy_return, make_algorithm, make_chunk, schedule

ROOT = Path(__file__).resolve().parent.parent

# ---------------------------------------------------------------------------
# The absolute metric

# The memory game draws a cue per episode, so a feed-forward policy's greedy
# return depends on the evaluation key and moves between logging steps.
ABSOLUTE = {
    "ippo": dict(total_timesteps=1536, num_envs=4, rollout_length=16, hidden_size=16),
    "vdn": dict(
        total_timesteps=1200,
        num_envs=4,
        learning_starts=100,
        batch_size=16,
        buffer_size=500,
        hidden_size=16,
    ),
}
LOGS, EPISODES = 6, 16


def _absolute_config(algo: str, absolute_episodes: int):
    return make_config(
        algo,
        env=MemoryGame(2, 3),
        num_logs=LOGS,
        num_eval_episodes=4,
        absolute_episodes=absolute_episodes,
        **ABSOLUTE[algo],
    )


def _with_params(state: BestPolicy, params) -> BestPolicy:
    return state._replace(learner=state.learner._replace(params=params))


# Seeds whose last greedy policy's return depends on the episodes' cues (a VDN
# whose agents pick different actions earns 0.5 whatever the cue).
@pytest.mark.parametrize("algo, seed", [("ippo", 0), ("vdn", 1)])
def test_the_absolute_metric_re_evaluates_the_best_evaluations_policy(algo, seed):
    config = _absolute_config(algo, EPISODES)
    key = jax.random.PRNGKey(seed)
    out = jax.device_get(jax.jit(make_train(config))(key))
    absolute, evals = out.metrics["absolute_return"], out.metrics["eval_return"]
    assert absolute.shape == (LOGS,)
    assert np.all(np.isnan(absolute[:-1])) and np.isfinite(absolute[-1])
    assert isinstance(out.state, BestPolicy)
    assert int(out.state.logs_done) == LOGS
    assert float(out.state.best_return) == np.max(evals)

    # The last value, computed here: the kept parameters on the last evaluation
    # key folded with 1 (train.py's run: init key, then one eval key per step).
    env, learner = make_algorithm(config)
    _, eval_key = jax.random.split(key)
    last_key = jax.random.split(eval_key, LOGS)[-1]
    evaluate = jax.jit(lambda s, k: greedy_return(env, learner, s, k, EPISODES))
    best = _with_params(out.state, out.state.best_params)
    assert float(evaluate(best, jax.random.fold_in(last_key, 1))) == absolute[-1]
    # ...which that key decides: the last evaluation key itself gives another value.
    assert float(evaluate(best, last_key)) != absolute[-1]

    # Off, the same training: no absolute_return, the same evaluations, bit for bit.
    off = jax.device_get(jax.jit(make_train(_absolute_config(algo, 0)))(key))
    assert "absolute_return" not in off.metrics
    assert not isinstance(off.state, BestPolicy)
    np.testing.assert_array_equal(off.metrics["eval_return"], evals)
    chex.assert_trees_all_equal(off.state.params, out.state.learner.params)


def test_the_kept_parameters_are_those_of_the_best_evaluation():
    """The chunk replayed one logging step at a time: the parameters kept are the
    learner's at the step whose evaluation was the best (this seed has one best,
    before the end), not the last ones."""
    config = _absolute_config("ippo", EPISODES)
    env, algo = make_algorithm(config)
    sched = schedule(config, algo)
    chunk = jax.jit(make_chunk(config, env, algo, sched))
    init_key, eval_key = jax.random.split(jax.random.PRNGKey(0))
    state = algo.init(init_key, config.hparams)
    params, evals = [], []
    for k in jax.random.split(eval_key, sched.num_logs):
        state, metrics = chunk(state, config.hparams, k)
        params.append(jax.device_get(state.learner.params))
        evals.append(float(metrics["eval_return"]))
    best = int(np.argmax(evals))
    assert evals.count(evals[best]) == 1 and best < LOGS - 1
    assert float(state.best_return) == max(evals)
    chex.assert_trees_all_close(
        jax.device_get(state.best_params), params[best], rtol=1e-6, atol=1e-6
    )
    with pytest.raises(AssertionError):
        chex.assert_trees_all_close(jax.device_get(state.best_params), params[-1])
    expected = greedy_return(
        env,
        algo,
        _with_params(state, params[best]),
        jax.random.fold_in(jax.random.split(eval_key, LOGS)[-1], 1),
        EPISODES,
    )
    assert float(metrics["absolute_return"]) == float(expected)


# ---------------------------------------------------------------------------
# The suites' definitions


def _cached(make_env):
    build = functools.cache(lambda name, kwargs: make_env(name, **dict(kwargs)))
    return lambda name, **kw: build(name, tuple(sorted(kw.items())))


def test_every_cell_of_every_suite_makes_a_valid_config(monkeypatch):
    """make_config builds a cell's environment to check it; the cells of a game
    share its env_kwargs, so each (game, kwargs) is built once here (SMAX's maps
    take a while)."""
    monkeypatch.setattr(registry, "make_env", _cached(registry.make_env))
    assert list(TABLES) == ["matrix", "lbf", "mpe", "smax", "mava"]
    assert dict(PROTOCOL) == {"num_eval_episodes": 32, "absolute_episodes": 320}
    cells = 0
    for name, spec in TABLES.items():
        _, algos, games = _check_args(name, 1, 1.0, None)
        assert games == spec.games and algos, name
        budgets = budgets_of(spec, "published")
        for algo in algos:
            for game in games:
                config = cell_config(spec, algo, game, "published")
                assert (config.algo, config.env) == (algo, game)
                assert config.num_eval_episodes == 32 and config.absolute_episodes == 320
                fam = "value_based" if algo in ("idqn", "vdn", "qmix", "qtran") else "actor_critic"
                assert config.total_timesteps == budgets[fam]
                assert dict(config.env_kwargs) == dict(spec.game_kwargs.get(game, {}))
                cells += 1
    assert cells == 14 * 8 + 14 * 3 + 14 * 3 + 8 * 6 + 2 * 7
    # SMAX's tasks run against the heuristic enemy with JaxMARL's env kwargs.
    smax = cell_config(TABLES["smax"], "ippo", "jaxmarl:smax-3m", "published")
    assert smax.env_kwargs["attack_mode"] == "closest" and smax.recurrent
    mava = cell_config(TABLES["mava"], "mappo", "rware-tiny-2ag", "published")
    assert mava.env_kwargs["episode_length"] == 500 and mava.num_envs == 32


def test_published_budgets():
    epymarl = {"value_based": 2_050_000, "actor_critic": 20_050_000}
    assert dict(EPYMARL_BUDGETS) == epymarl
    for name in ("matrix", "lbf"):
        assert budgets_of(TABLES[name], "published") == epymarl
        assert budgets_of(TABLES[name], 1.0) != epymarl  # budget 1.0 is the table's own
    mpe = TABLES["mpe"]
    assert budgets_of(mpe, "published") == budgets_of(mpe, 1.0)
    assert budgets_of(mpe, 1.0) == {"value_based": 10_000_000, "actor_critic": 10_000_000}
    assert budgets_of(TABLES["mava"], "published")["actor_critic"] == 20_000_000


def test_suite_settings_are_the_peers_and_only_keys_an_algorithm_accepts():
    mpe = TABLES["mpe"]
    # JaxMARL's baselines/IPPO/config/ippo_ff_mpe.yaml, in our keys.
    assert suite_settings(mpe, "ippo") == {
        "num_envs": 16,
        "rollout_length": 128,
        "lr": 2.5e-4,
        "anneal_lr": True,
        "activation": "tanh",
        "epochs": 4,
        "minibatches": 4,
        "gamma": 0.99,
        "gae_lambda": 0.95,
        "clip_eps": 0.2,
        "ent_coef": 0.01,
        "vf_coef": 0.5,
        "max_grad_norm": 0.5,
        "advantage": "gae",
        "normalise_advantages": True,
        "clip_value_loss": True,
        "normalise_rewards": False,
        "num_layers": 2,
        "hidden_size": 64,
        # ippo_ff_mpe.py's GAE ends the return at the time limit: (1 - done);
        # its Adam has eps=1e-5.
        "bootstrap_truncation": False,
        "adam_eps": 1e-5,
    }
    # IA2C has none of its own: IPPO's, less what IA2C does not take.
    ia2c = suite_settings(mpe, "ia2c")
    accepted = params_of("ia2c")
    assert ia2c and set(ia2c) <= set(accepted)
    dropped = set(suite_settings(mpe, "ippo")) - set(ia2c)
    assert dropped == {"clip_eps", "clip_value_loss", "epochs", "minibatches"}
    assert all(ia2c[k] == mpe.settings["ippo"][k] for k in ia2c)
    make_config("ia2c", env="climbing", total_timesteps=10_000, **ia2c)  # all accepted
    # QTRAN takes the first value-based algorithm's (IDQN's) that it accepts.
    qtran = suite_settings(mpe, "qtran")
    assert set(qtran) <= set(params_of("qtran")) and qtran["lr"] == 0.005
    assert suite_settings(TABLES["matrix"], "ippo") == {}
    # mappo_rnn_mpe.py and mappo_rnn_smax.py: a 128 ReLU layer after each GRU, the
    # return ended at the time limit, Adam's eps 1e-5.
    for suite in (mpe, TABLES["smax"]):
        mappo = suite_settings(suite, "mappo")
        assert mappo["post_gru_layers"] == 1 and mappo["hidden_size"] == 128
        assert mappo["bootstrap_truncation"] is False and mappo["adam_eps"] == 1e-5
    # JaxMARL's ql_rnn_smax.yaml: BUFFER_SIZE 5000 rollouts (5000 // 16 per
    # environment), NUM_EPOCHS 8, REW_SCALE 10, sequences from a zero hidden state.
    smax_qmix = suite_settings(TABLES["smax"], "qmix")
    assert smax_qmix["buffer_size"] == 312 * 16 * 128
    assert (smax_qmix["epochs"], smax_qmix["reward_scale"], smax_qmix["store_carry"]) == (
        8,
        10.0,
        False,
    )
    # Its buffer samples once every environment holds BUFFER_BATCH_SIZE (32)
    # rollouts of 128 steps: no gradient step before 32 updates of 16 x 128 steps.
    assert smax_qmix["learning_starts"] == 65_536
    make_config("qmix", env="climbing", total_timesteps=10_000_000, **smax_qmix)


# ---------------------------------------------------------------------------
# Bad input


def test_unknown_tasks_are_one_error_naming_the_known_ones(tmp_path, capsys):
    with pytest.raises(ConfigError) as err:
        run_table("mpe", tasks=["nope"])
    message = str(err.value)
    assert "unknown nope in table mpe" in message
    for task in TABLES["mpe"].games:
        assert task in message
    out = tmp_path / "t"
    assert main(["table", "mpe", "tasks=nope", f"out={out}"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("jaxmarl-core: error: tasks='nope'")
    assert "tasks: " + ", ".join(TABLES["mpe"].games) in lines[0]
    assert not out.exists()
    assert main(["table", "nope"]) == 2
    assert "tables: matrix, lbf, mpe, smax, mava" in capsys.readouterr().err
    assert main(["table", "mpe", "budget=publishd", f"out={out}"]) == 2
    assert "'published'" in capsys.readouterr().err
    assert not out.exists()


# ---------------------------------------------------------------------------
# A suite of its own: the peers' runs as rows; resuming in the middle of a program

SUITE = TableSpec(
    name="tiny",
    games=("climbing", "penalty-100"),
    budgets={"value_based": 2_000, "actor_critic": 4_000},
    published={},
    note="a test suite",
    settings={"ia2c": {"num_logs": 4, "checkpoint_every": 1}},
    evaluation={"num_eval_episodes": 4, "absolute_episodes": 8},
)
PEER = "jaxmarl:ia2c"
# The peer's episode returns per (game, seed): 20 logging steps, so its score
# (the last 10% of training) is the mean of the last two.
PEER_RETURNS = {
    ("climbing", 0): [float(i) for i in range(18)] + [100.0, 120.0],
    ("climbing", 1): [float(-i) for i in range(18)] + [150.0, 170.0],
    ("penalty-100", 0): [1.0] * 18 + [10.0, 30.0],
    ("penalty-100", 1): [2.0] * 18 + [-10.0, 50.0],
}
PEER_SCORES = {"climbing": (110.0 + 160.0) / 2, "penalty-100": (20.0 + 20.0) / 2}
# Won fractions per logging step; the last 10% (2 steps) average 0.75 and 1.0.
PEER_WINS = {"climbing": {0: [0.0] * 18 + [0.5, 1.0], 1: [0.0] * 18 + [1.0, 1.0]}}
# A peer scored by its greedy tests (its logged training return is not an
# episodes' return, as JaxMARL's Q-learning scripts'): its final greedy return is
# the last point of each seed's greedy curve.
GREEDY_PEER = "jaxmarl:idqn"
GREEDY_RETURNS = {
    ("climbing", 0): [0.0] * 19 + [150.0],
    ("climbing", 1): [0.0] * 19 + [160.0],
    ("penalty-100", 0): [-100.0] * 19 + [5.0],
    ("penalty-100", 1): [-100.0] * 19 + [15.0],
}
GREEDY_SCORES = {"climbing": 155.0, "penalty-100": 10.0}
GREEDY_WINS = {0: [0.0] * 19 + [0.5], 1: [0.0] * 19 + [1.0]}  # on climbing


def _write_peer_runs(out: Path) -> None:
    for (game, seed), returns in PEER_RETURNS.items():
        path = out / "peers" / PEER / game / f"seed_{seed}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        record = {
            "peer": "jaxmarl",
            "algo": PEER,
            "suite": "tiny",
            "task": game,
            "seed": seed,
            "env_steps": [200 * (i + 1) for i in range(len(returns))],
            "episode_return": returns,
            "updates": 20,
            "env_steps_total": 4000,
            "compile_seconds": 1.5,
            "train_seconds": 2.5,
            "wall_seconds": 4.0,
            "units": "returned_episode_returns logged by the script",
            "script": "baselines/IPPO/ippo_ff_mpe.py",
            "config": "baselines/IPPO/config/ippo_ff_mpe.yaml",
            "settings": {"LR": 2.5e-4},
        }
        if game in PEER_WINS:  # a game that is won or lost: the script logs a win rate
            record["win_rate"] = PEER_WINS[game][seed]
        path.write_text(json.dumps(record))
        greedy = record | {
            "algo": GREEDY_PEER,
            "episode_return": [0.01] * 20,  # a deflated log, not a score
            "score": "greedy",
            "greedy_return": GREEDY_RETURNS[(game, seed)],
        }
        if game == "climbing":
            greedy["greedy_win_rate"] = GREEDY_WINS[seed]
        path = out / "peers" / GREEDY_PEER / game / f"seed_{seed}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(greedy))


@pytest.fixture(scope="module")
def fewer_resamples():
    """200 bootstrap resamples instead of 2000 (rliable's probability of
    improvement takes seconds a pair): the points checked here are means, the
    same whatever the count."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            tables, "suite_statistics", functools.partial(tables.suite_statistics, reps=200)
        )
        patch.setattr(stats, "write_figures", functools.partial(stats.write_figures, reps=200))
        yield


@pytest.fixture(scope="module")
def with_peers(tmp_path_factory, fewer_resamples):
    out = tmp_path_factory.mktemp("suite") / "tiny"
    _write_peer_runs(out)
    assert [p.name for p in out.iterdir()] == ["peers"]
    return out, run_table(SUITE, seeds=2, algos=["ia2c"], out=out)


def test_the_peers_runs_are_rows_of_the_table(with_peers):
    out, table = with_peers
    for game in SUITE.games:
        assert ("ia2c", game) in table.cells and (PEER, game) in table.cells
        peer = table.cells[(PEER, game)]
        np.testing.assert_array_equal(peer.curve_steps, 200 * np.arange(1, 21))
        assert peer.wall_seconds == 8.0
    stats = table.statistics
    # The peer scored by its greedy tests is left out of the training-return statistics.
    assert set(stats["per_task"]) == {"ia2c", PEER}
    for game, score in PEER_SCORES.items():
        assert stats["per_task"][PEER][game][0] == pytest.approx(score)
        ours = table.cells[("ia2c", game)].final_train_per_seed
        assert stats["per_task"]["ia2c"][game][0] == pytest.approx(np.mean(ours))
    # Win rates where a row's runs record them (here only the peer's, on climbing).
    assert list(stats["win_rate"]) == [PEER] and list(stats["win_rate"][PEER]) == ["climbing"]
    assert stats["win_rate"][PEER]["climbing"][0] == pytest.approx((0.75 + 1.0) / 2)
    # Our rows have the absolute metric; the peer's trainer has none.
    assert set(stats["absolute_metric"]) == {"ia2c"}
    assert set(stats["probability_of_improvement"]) == {f"ia2c > {PEER}", f"{PEER} > ia2c"}
    assert set(stats["aggregates"]) == {"ia2c", PEER}
    assert stats["aggregated_tasks"] == list(SUITE.games)
    assert stats["not_aggregated"] == [GREEDY_PEER]
    # The final greedy return: ours from its evaluations, the greedy-scored peer's
    # from its tests; the training-scored peer has none.
    assert set(stats["greedy"]) == {"ia2c", GREEDY_PEER}
    for game, score in GREEDY_SCORES.items():
        assert stats["greedy"][GREEDY_PEER][game][0] == pytest.approx(score)
        ours = table.cells[("ia2c", game)].final_per_seed
        assert stats["greedy"]["ia2c"][game][0] == pytest.approx(np.mean(ours))
    assert list(stats["greedy_win_rate"]) == [GREEDY_PEER]
    assert stats["greedy_win_rate"][GREEDY_PEER]["climbing"][0] == pytest.approx(0.75)
    assert set(stats["greedy_probability_of_improvement"]) == {
        f"ia2c > {GREEDY_PEER}",
        f"{GREEDY_PEER} > ia2c",
    }

    md = (out / "table.md").read_text()
    assert f"| {PEER} | " in md and "| row | IQM |" in md
    assert "Probability of improvement" in md
    assert "## Final win rate per task" in md
    assert "## Final greedy return per task" in md and "## Final greedy win rate" in md
    assert (out / "figures" / "aggregates.png").stat().st_size > 1_000
    assert (out / "figures" / "aggregates.json").is_file()
    report = json.loads((out / "table.json").read_text())
    assert report["statistics"]["per_task"][PEER]["climbing"][0] == PEER_SCORES["climbing"]
    greedy = report["cells_detail"][f"{GREEDY_PEER} | climbing"]["final_greedy_per_seed"]
    assert greedy == [150.0, 160.0]

    runs = json.loads((out / "marl_eval.json").read_text())
    assert list(runs) == ["tiny"] and set(runs["tiny"]) == set(SUITE.games)
    for game in SUITE.games:
        assert set(runs["tiny"][game]) == {"ia2c", PEER, GREEDY_PEER}
        assert set(runs["tiny"][game][PEER]) == {"seed_0", "seed_1"}
    ours = runs["tiny"]["climbing"]["ia2c"]["seed_0"]
    assert list(ours) == ["step_0", "step_1", "step_2", "step_3", "absolute_metrics"]
    assert ours["step_0"]["step_count"] == 1000 and ours["step_3"]["step_count"] == 4000
    cell = table.cells[("ia2c", "climbing")]
    assert ours["step_3"]["return"] == [pytest.approx(cell.curve[0, -1])]
    assert ours["absolute_metrics"]["return"] == [pytest.approx(cell.absolute_per_seed[0])]
    peer = runs["tiny"]["climbing"][PEER]["seed_1"]
    assert peer["step_19"] == {"step_count": 4000, "return": [170.0]}
    greedy = runs["tiny"]["climbing"][GREEDY_PEER]["seed_1"]
    assert greedy["step_19"] == {"step_count": 4000, "return": [160.0]}


def test_a_peer_whose_seeds_are_scored_differently_is_refused(tmp_path):
    _write_peer_runs(tmp_path)
    path = tmp_path / "peers" / GREEDY_PEER / "climbing" / "seed_1.json"
    record = json.loads(path.read_text())
    path.write_text(json.dumps(record | {"score": "training"}))
    with pytest.raises(ValueError, match="its seeds are scored differently"):
        tables.read_peer_cells(tmp_path, SUITE.games)


def test_a_table_stopped_in_the_middle_of_a_program_resumes_from_its_checkpoint(
    with_peers, fewer_resamples, tmp_path, monkeypatch
):
    _, whole = with_peers
    out = tmp_path / "tiny"
    beats = []
    beat = _StallWatch.beat

    def interrupt_at_the_second_step(seconds):
        beat(seconds)
        beats.append(seconds)
        if len(beats) == 2:  # as a Ctrl-C would: caught, checkpointed, then stopped
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(_StallWatch, "beat", staticmethod(interrupt_at_the_second_step))
    with pytest.raises(RunStopped, match="stopped by SIGINT after logging step 2/4"):
        run_table(SUITE, seeds=2, algos=["ia2c"], out=out)
    assert len(beats) == 2
    progress = out / "progress" / "ia2c" / "climbing+penalty-100" / "batches"
    checkpoint = progress / "running-0" / "checkpoints" / "2"
    assert (checkpoint / "digest.json").is_file()
    assert not (progress / "0.npz").exists()
    for game in SUITE.games:
        assert not (out / "runs" / "ia2c" / game / "summary.json").exists()
        assert read_cell(out, "ia2c", game) is None

    beats.clear()
    # Another checkpoint interval (the suite's is 1) resumes the same run.
    again = run_table(SUITE, seeds=2, algos=["ia2c"], out=out, checkpoint_every=3)
    assert len(beats) == 2  # logging steps 3 and 4 only: it resumed from step 2
    assert not (out / "progress").exists()
    assert again.skipped == []
    for game in SUITE.games:
        cell, one = again.cells[("ia2c", game)], whole.cells[("ia2c", game)]
        np.testing.assert_array_equal(cell.curve, one.curve)
        np.testing.assert_array_equal(cell.train_curve, one.train_curve)
        np.testing.assert_array_equal(cell.absolute_per_seed, one.absolute_per_seed)
        np.testing.assert_array_equal(read_cell(out, "ia2c", game).curve, one.curve)


def test_tables_of_other_seeds_merge_into_one_table_of_all_their_seeds(
    with_peers, fewer_resamples, tmp_path
):
    """Seeds 0-1 (the peers' runs beside them) and seed 2, trained apart, make
    one 3-seed table: each cell holds both sources' runs, seed by seed, and the
    time both spent; the statistics cover the three seeds."""
    first, _ = with_peers
    later = tmp_path / "later"
    run_table(SUITE, seeds=1, first_seed=2, algos=["ia2c"], out=later)
    out = tmp_path / "merged"
    merged = tables.merge_tables(SUITE, [later, first], out)
    definition = json.loads((out / "table.json").read_text())
    assert (definition["seeds"], definition["first_seed"]) == (3, 0)
    assert merged.skipped == [("ia2c", game) for game in SUITE.games]  # nothing trained
    for game in SUITE.games:
        cell, a, b = (
            merged.cells[("ia2c", game)],
            read_cell(first, "ia2c", game),
            read_cell(later, "ia2c", game),
        )
        np.testing.assert_array_equal(cell.curve, np.concatenate([a.curve, b.curve]))
        np.testing.assert_array_equal(
            cell.train_curve, np.concatenate([a.train_curve, b.train_curve])
        )
        np.testing.assert_array_equal(
            cell.absolute_per_seed, np.concatenate([a.absolute_per_seed, b.absolute_per_seed])
        )
        assert cell.wall_seconds == pytest.approx(a.wall_seconds + b.wall_seconds)
        summary = json.loads((out / "runs" / "ia2c" / game / "summary.json").read_text())
        assert (summary["seeds"], summary["first_seed"]) == (3, 0)
        assert merged.statistics["per_task"]["ia2c"][game][0] == pytest.approx(
            np.mean(cell.final_train_per_seed)
        )
        assert (PEER, game) in merged.cells
    rows = (out / "runs" / "ia2c" / "climbing" / "metrics.csv").read_text().splitlines()[1:]
    assert sorted({int(r.split(",")[0]) for r in rows}) == [0, 1, 2]

    # Nothing is written where the sources do not fit together.
    cases = [
        ([first, first], "neither overlap nor leave a gap"),
        ([first], "two or more table directories"),
        ([first, tmp_path / "none"], "is not a table directory"),
    ]
    for sources, message in cases:
        with pytest.raises(ConfigError, match=message):
            tables.merge_tables(SUITE, sources, tmp_path / "refused")
        assert not (tmp_path / "refused").exists()
    with pytest.raises(ConfigError, match="exists; merge writes a new one"):
        tables.merge_tables(SUITE, [later, first], out)


def test_a_recorded_table_is_restored_as_the_table_directory_it_came_from(
    with_peers, fewer_resamples, tmp_path
):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import parity
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    first, table = with_peers
    results = tmp_path / "results"
    results.mkdir()
    record = parity.record_tables([str(first)], "tiny", results)
    restored = parity.restore_table(record, tmp_path / "restored")
    again = run_table(SUITE, seeds=2, algos=["ia2c"], out=restored)
    assert again.skipped == [("ia2c", game) for game in SUITE.games]  # nothing trained
    assert set(again.cells) == set(table.cells)
    for key, cell in table.cells.items():
        np.testing.assert_allclose(again.cells[key].curve, cell.curve, rtol=1e-5)


# ---------------------------------------------------------------------------
# benchmarks/parity.py


def _parity(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "parity.py"), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )


def test_parity_bad_input_is_one_line_and_leaves_out_alone(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    before = (out / "keep.txt").stat().st_mtime_ns
    empty = tmp_path / "checkout"
    empty.mkdir()
    cases = [
        (["--peer", "nope", "--repo", str(empty)], "unknown peer 'nope'; peers: jaxmarl, mava"),
        (["--repo", str(tmp_path / "missing")], f"checkout {str(tmp_path / 'missing')!r} is"),
        ([], "the jaxmarl checkout None is missing; give --repo PATH"),
        (["--repo", str(empty)], f"lacks {empty / 'baselines/IPPO/ippo_ff_mpe.py'}"),
        (["--repo", str(empty), "--algos", "coma"], "no trainer here for coma"),
        (
            ["--peer", "mava", "--suite", "mava", "--repo", str(empty), "--algos", "ippo"],
            f"the mava checkout lacks {empty / 'mava/systems/ppo/anakin/ff_ippo.py'}",
        ),
        (
            ["--peer", "mava", "--suite", "mava", "--repo", str(empty), "--tasks", "lbf-9x9"],
            "unknown task 'lbf-9x9'",
        ),
    ]
    for args, message in cases:
        done = _parity(*args, "--out", str(out))
        lines = done.stderr.strip().splitlines()
        assert done.returncode != 0, args
        assert len(lines) == 1 and lines[0].startswith("parity: "), done.stderr
        assert message in lines[0], (args, lines[0])
        assert [p.name for p in out.iterdir()] == ["keep.txt"]
        assert (out / "keep.txt").read_text() == "mine"
        assert (out / "keep.txt").stat().st_mtime_ns == before
    assert list(empty.iterdir()) == []
    # The checkout's config file is named too, when it lacks it.
    (empty / "baselines" / "IPPO").mkdir(parents=True)
    (empty / "baselines" / "IPPO" / "ippo_ff_mpe.py").write_text("")
    done = _parity("--repo", str(empty), "--out", str(out))
    assert done.returncode != 0
    assert done.stderr.strip() == (
        f"parity: the jaxmarl checkout lacks {empty / 'baselines/IPPO/config/ippo_ff_mpe.yaml'}"
    )
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_parity_merge_and_restore_refuse_in_one_line_and_write_nothing(tmp_path):
    done = _parity("--suite", "mpe", "--merge", str(tmp_path / "o"), str(tmp_path))
    assert done.returncode != 0
    assert done.stderr.strip() == "parity: merge needs two or more table directories"
    done = _parity("--suite", "mpe", "--merge", str(tmp_path / "o"), str(tmp_path), str(tmp_path))
    assert (
        done.stderr.strip() == f"parity: {str(tmp_path)!r} is not a table directory (no table.json)"
    )
    (tmp_path / "out").mkdir()
    done = _parity("--restore", str(tmp_path / "r.json"), str(tmp_path / "out"))
    assert done.returncode != 0
    assert (
        done.stderr.strip()
        == f"parity: {tmp_path / 'out'} exists; --restore writes a new table directory"
    )
    done = _parity("--restore", str(tmp_path / "r.json"), str(tmp_path / "new"))
    assert done.returncode != 0 and done.stderr.strip().startswith(
        f"parity: {tmp_path / 'r.json'} is not a parity record (FileNotFoundError"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_parity_needs_out_and_a_known_suite(tmp_path):
    done = _parity("--repo", str(tmp_path))
    assert done.returncode != 0 and done.stderr.strip() == (
        "parity: give --out, the table directory the peers' rows go into"
    )
    done = _parity("--suite", "nope", "--out", str(tmp_path / "o"))
    assert done.returncode != 0 and "unknown suite 'nope'; suites: mpe, smax" in done.stderr
    assert not (tmp_path / "o").exists()
