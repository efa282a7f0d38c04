"""Population-based training: exploit and explore on hand-made populations, a
bit-identical rerun, and the command line's outputs."""

import json
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import yaml

import jaxmarl_core as jm
from jaxmarl_core.cli import main
from jaxmarl_core.pbt import (
    Dist,
    Evolution,
    evolve,
    exploit,
    explore,
    lineage,
    make_evolution,
    select,
    valid_range,
)

SMALL = dict(
    total_timesteps=1_200,
    num_logs=4,
    num_envs=4,
    learning_starts=100,
    batch_size=16,
    buffer_size=400,
    hidden_size=8,
    num_eval_episodes=1,
)
fast_select = jax.jit(select, static_argnums=2)
SPACE = {"lr": ("loguniform", 1e-4, 1e-2), "hysteretic_beta": ("loguniform", 1e-2, 1.0)}


class Learner(NamedTuple):
    """A stand-in learner state: the runners' states are NamedTuples with a key."""

    params: dict
    buffer: jax.Array
    key: jax.Array


def population(p: int) -> tuple[Learner, dict]:
    """Member i's every leaf holds the value i (its key: [i, i])."""
    ids = jnp.arange(p, dtype=jnp.float32)
    state = Learner(
        params={"w": ids[:, None, None] * jnp.ones((p, 3, 2)), "b": ids},
        buffer=jnp.arange(p)[:, None] * jnp.ones((p, 5), jnp.int32),
        key=jnp.stack([jnp.arange(p, dtype=jnp.uint32)] * 2, axis=1),
    )
    hparams = {"lr": 1e-3 * (1.0 + ids), "gamma": jnp.full((p,), 0.99)}
    return state, hparams


@pytest.mark.parametrize("jit", [False, True])
def test_bottom_members_copy_top_members_whole_state_but_the_key(jit):
    # Scores: member 5 worst, then 2; members 7 and 0 best.
    score = jnp.array([9.0, 3.0, 1.0, 4.0, 5.0, 0.0, 6.0, 10.0])
    state, hparams = population(8)
    fn = jax.jit(exploit, static_argnums=4) if jit else exploit
    for seed in range(10 if jit else 1):
        copied, hp, source = fn(jax.random.PRNGKey(seed), score, state, hparams, 2)
        source = np.asarray(source)
        for i in range(8):
            if i in (5, 2):
                assert source[i] in (7, 0)
            else:
                assert source[i] == i
        for i, j in enumerate(source):
            np.testing.assert_array_equal(copied.params["w"][i], state.params["w"][j])
            assert copied.params["b"][i] == j and (copied.buffer[i] == j).all()
            assert hp["lr"][i] == hparams["lr"][j]
        np.testing.assert_array_equal(copied.key, state.key)


def test_selection_draws_every_top_member_and_ranks_nan_lowest():
    score = jnp.array([jnp.nan, 5.0, 1.0, 7.0, 2.0, 8.0])
    picks = set()
    for seed in range(30):
        source = np.asarray(fast_select(jax.random.PRNGKey(seed), score, 2))
        assert sorted(np.flatnonzero(source != np.arange(6))) == [0, 2]
        picks.update(source[[0, 2]].tolist())
    assert picks == {3, 5}


def test_ties_are_broken_at_random():
    replaced = set()
    for seed in range(30):
        source = np.asarray(fast_select(jax.random.PRNGKey(seed), jnp.zeros(4), 1))
        replaced.update(np.flatnonzero(source != np.arange(4)).tolist())
    assert replaced == {0, 1, 2, 3}


def rounded(x) -> set[float]:
    """The distinct values of ``x``, to 5 decimals, as Python floats."""
    return {round(float(v), 5) for v in np.asarray(x)}


def evolution_for(space, bounds, resample_probability=0.0) -> Evolution:
    return Evolution(space, bounds, 2, (0.8, 1.2), resample_probability)


def test_explore_perturbs_only_copies_and_stays_in_range():
    p = 64
    hparams = {
        "lr": jnp.full((p,), 1e-3),
        "hysteretic_beta": jnp.full((p,), 0.9),  # 0.9 * 1.2 is clipped to 1.0
        "gamma": jnp.full((p,), 0.99),
    }
    copied = jnp.arange(p) % 2 == 0
    space = {"lr": Dist("loguniform", (1e-4, 1e-2)), "hysteretic_beta": Dist("choice", (0.1, 0.5))}
    bounds = {"lr": (1e-30, np.inf), "hysteretic_beta": (1e-30, 1.0)}
    perturbed = jax.jit(partial(explore, evolution=evolution_for(space, bounds)))
    out = perturbed(jax.random.PRNGKey(0), hparams, copied)
    lr, beta = np.asarray(out["lr"]), np.asarray(out["hysteretic_beta"])
    np.testing.assert_array_equal(out["gamma"], hparams["gamma"])  # not searched
    np.testing.assert_array_equal(lr[1::2], np.float32(1e-3))  # not copied
    np.testing.assert_array_equal(beta[1::2], np.float32(0.9))
    assert rounded(lr[::2] / 1e-3) == {0.8, 1.2}
    assert rounded(beta[::2]) == {0.72, 1.0}
    # Resampling draws from the space itself.
    resampled = jax.jit(partial(explore, evolution=evolution_for(space, bounds, 1.0)))
    out = resampled(jax.random.PRNGKey(1), hparams, copied)
    assert np.all((1e-4 <= out["lr"][::2]) & (out["lr"][::2] <= 1e-2))
    assert rounded(out["hysteretic_beta"][::2]) == {0.1, 0.5}


def test_valid_range_and_bad_options():
    config = jm.make_config("idqn", env="climbing")
    low, high = valid_range(config, "hysteretic_beta")  # (0, 1]
    assert 0 < low < 1e-37 and high == 1.0
    assert valid_range(config, "gamma") == (0.0, 1.0)
    for kwargs, message in [
        (dict(population=1), "population=1"),
        (dict(population=3), "replaces no member"),
        (dict(truncation=0.7), "truncation=0.7"),
        (dict(perturb=(0.8, -1.0)), "perturb="),
        (dict(space={"num_envs": "4,8"}), "structural key"),
        (dict(space={"lr": "loguniform(1e-2,1e-4)"}), "low must be <= high"),
        (dict(space={}), "at least one hyperparameter"),
    ]:
        args = dict(space=SPACE, population=8, truncation=0.25, perturb=(0.8, 1.2))
        args.update(kwargs)
        with pytest.raises(ValueError, match=message):
            make_evolution(config, resample_probability=0.1, **args)


def test_evolve_records_parents_and_lineage_follows_them():
    state, hparams = population(4)
    evo = evolution_for({"lr": Dist("loguniform", (1e-4, 1e-2))}, {"lr": (1e-30, np.inf)})
    evo = evo._replace(num_replaced=1)
    score = jnp.array([0.0, 1, 2, 3])
    _, _, hp, parents = jax.jit(partial(evolve, evolution=evo))(
        jax.random.PRNGKey(0), score, state, hparams
    )
    np.testing.assert_array_equal(parents, [3, -1, -1, -1])
    assert hp["lr"][0] in (np.float32(4e-3 * 0.8), np.float32(4e-3 * 1.2))
    # Member 0 copied 1 at the end of step 1, member 1 copied 0 at the end of step 3.
    table = np.full((2, 4), -1)
    table[0, 0], table[1, 2] = 1, 0
    np.testing.assert_array_equal(lineage(table, 1), [1, 0, 0, 1])
    np.testing.assert_array_equal(lineage(table, 0), [1, 0, 0, 0])


@pytest.fixture(scope="module")
def config():
    return jm.make_config("idqn", env="climbing", **SMALL)


@pytest.fixture(scope="module")
def result(config):
    return jm.pbt(config, SPACE, population=4, seeds=2, ready_every=1, truncation=0.5)


def test_same_key_is_bit_identical_and_populations_evolve(config, result):
    again = jm.pbt(
        config, SPACE, population=4, seeds=2, ready_every=1, truncation=0.5, holdout_episodes=3
    )
    # Holdout episodes change nothing in training; on climbing (one observation,
    # deterministic payoffs) a greedy policy's fresh episodes return what its
    # last evaluation did.
    assert result.holdout_return is None
    np.testing.assert_array_equal(again.holdout_return, again.metrics["eval_return"][..., -1])
    for name, values in result.metrics.items():
        np.testing.assert_array_equal(values, again.metrics[name], err_msg=name)
    for name, values in result.hparams.items():
        np.testing.assert_array_equal(values, again.hparams[name], err_msg=name)
    np.testing.assert_array_equal(result.parents, again.parents)
    assert result.metrics["eval_return"].shape == (2, 4, 4)
    # Two members of each population are replaced after every step but the last.
    assert ((result.parents[..., :-1] >= 0).sum(axis=1) == 2).all()
    assert (result.parents[..., -1] == -1).all()
    # The two populations differ, and every value stays in the searched key's range.
    assert not np.array_equal(result.hparams["lr"][0], result.hparams["lr"][1])
    assert (result.hparams["hysteretic_beta"] <= 1.0).all()


def test_cli_pbt_writes_outputs(tmp_path, capsys, result):
    out = tmp_path / "pbt"
    args = ["pbt", "algo=idqn", "env=climbing", "population=4", "seeds=2", "ready_every=1"]
    args += ["truncation=0.5", "lr=loguniform(1e-4,1e-2)", "hysteretic_beta=loguniform(1e-2,1)"]
    args += [f"{k}={v}" for k, v in SMALL.items()] + [f"out={out}", "holdout=3"]
    assert main(args) == 0
    assert "on fresh episodes" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == [
        "best_config.yaml",
        "config.yaml",
        "pbt.csv",
        "pbt.json",
        "pbt.png",
    ]
    rows = (out / "pbt.csv").read_text().splitlines()
    assert rows[0] == (
        "seed,member,step,env_steps,lr,hysteretic_beta,episode_return,eval_return,copied_from"
    )
    assert len(rows) == 1 + 2 * 4 * 4
    # The same program as the Python call above: the same returns.
    eval_return = np.array([float(r.split(",")[7]) for r in rows[1:]]).reshape(2, 4, 4)
    np.testing.assert_allclose(eval_return, result.metrics["eval_return"], rtol=1e-5)
    # Fresh episodes score every final member; on climbing they return what the
    # last evaluation did (see above), so the JSON holds that member's return.
    summary = json.loads((out / "pbt.json").read_text())
    assert summary["holdout_episodes"] == 3
    np.testing.assert_allclose(summary["holdout_return"], eval_return[..., -1], rtol=1e-5)
    best_final = [eval_return[s, m, -1] for s, m in enumerate(summary["best_member_per_seed"])]
    np.testing.assert_allclose(summary["best_holdout_return_per_seed"], best_final, rtol=1e-5)
    best = yaml.safe_load((out / "best_config.yaml").read_text())
    assert best["pbt"]["holdout_return"] == pytest.approx(max(best_final), rel=1e-5)
    lineage_segments = best.pop("pbt")["lineage"]
    assert lineage_segments[0]["from_step"] == 1 and lineage_segments[-1]["to_step"] == 4
    assert best["lr"] == pytest.approx(lineage_segments[-1]["lr"])
    jm.make_config(best.pop("algo"), env=best.pop("env"), **best)  # a valid config


@pytest.mark.parametrize(
    "args, message",
    [
        (["population=4", "lr=loguniform(1e-4,1e-2)"], "pbt needs algo="),
        (["algo=idqn", "env=climbing", "lr=loguniform(1e-4,1e-2)"], "pbt needs population="),
        (["algo=idqn", "env=climbing", "population=4"], "at least one name="),
        (["algo=idqn", "env=climbing", "population=4", "lr=1,x"], "expected a list of numbers"),
        (["algo=idqn", "env=climbing", "population=4", "lr=1e-3,1e-2", "perturb=a"], "perturb="),
        (["algo=idqn", "env=climbing", "population=2", "lr=1e-3,1e-2"], "replaces no member"),
    ],
)
def test_cli_pbt_bad_input_is_one_line(args, message, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["pbt", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not (tmp_path / "runs").exists()
