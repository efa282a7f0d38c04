"""Benchmark tables: every algorithm x every game of a table x seeds, in one command.

    result = run_table("matrix", seeds=5, out="tables/matrix")
    result.cells[("qmix", "climbing")].max_mean

A table is data (:class:`TableSpec`): its games, the training budget of each
algorithm family, and the published values to set beside ours. Games that
differ only in their environment parameters (the matrix games: 2 agents x 3
actions, 25 steps, different payoffs) train in one compiled program per
algorithm, all games x all seeds under one ``vmap``, through
:func:`jaxmarl_core.sweeps.sweep` (memory-aware batches, the runs axis sharded
over the devices of every process). Other games get one program each.

A cell (algorithm, game) is reported as EPyMARL reports it: per seed the
maximum greedy evaluation return over training, then its mean and standard
deviation over seeds; and the same for the final greedy return.

``out`` holds:
- ``runs/<algo>/<game>/``: each cell's run directory, as ``train`` writes one
  (``config.yaml``, ``run.json``, ``metrics.csv``, ``summary.json``); its
  ``summary.json`` is written last and marks the cell finished, so a re-run
  with the same ``out`` skips it (the outputs are the record, not a checkpoint);
- ``table.md`` and ``table.csv``: every finished cell beside its published value;
- ``curves.png``: one panel per game, one line per algorithm (mean and 95%
  t-interval over seeds);
- ``table.json``: the table's definition (seeds, budgets), and this session's
  programs with their compile and run times.
"""

from __future__ import annotations

import itertools
import json
import math
import shutil
import sys
import textwrap
import time
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple, TextIO

import jax
import numpy as np

from jaxmarl_core.config import ConfigError, list_algos, make_config
from jaxmarl_core.envs.base import MultiAgentEnvironment
from jaxmarl_core.envs.registry import make_env

# The replay learners: EPyMARL's off-policy budgets. PQN learns on-policy from many
# parallel environments, without replay, so it takes the on-policy ("actor_critic") ones.
VALUE_BASED = ("idqn", "vdn", "qmix", "qtran")

# Published values (``../shared/reference/published-results.md``), in our units:
# matrix returns per agent over 25 steps (EPyMARL sums two agents' rewards; its
# numbers are halved here), LBF returns normalised to at most 1.
EPYMARL = (
    "Papoudakis, Christianos, Schäfer, Albrecht, 'Benchmarking Multi-Agent Deep "
    "Reinforcement Learning Algorithms in Cooperative Tasks', NeurIPS 2021 Datasets and "
    "Benchmarks (EPyMARL): maximum evaluation return over training, parameter sharing, "
    "5 seeds, 2.05M steps (off-policy) / 20.05M (on-policy); '~' values are read from "
    "the paper's tables"
)
PARETO_AC = (
    "Christianos, Papoudakis, Albrecht, 'Pareto Actor-Critic for Equilibrium Selection in "
    "Multi-Agent Reinforcement Learning', TMLR 2023, and Albrecht, Christianos, Schäfer, "
    "'Multi-Agent Reinforcement Learning' (2024), ch. 9: Pareto-AC reaches (A,A) = 11 per "
    "step on climbing (x 25 steps = 275)"
)
QTRAN = (
    "Son, Kim, Kang, Hostallero, Yi, 'QTRAN: Learning to Factorize with Transformation "
    "for Cooperative Multi-Agent Reinforcement Learning', ICML 2019: QTRAN's greedy joint "
    "action is (A,A) = 8 (x 25 steps = 200); VDN and QMIX pick one in the zero block"
)
_EPYMARL_MATRIX = ("idqn", "ia2c", "ippo", "maa2c", "mappo", "vdn", "qmix", "coma")


class Published(NamedTuple):
    value: float
    approximate: bool  # '~' in the source: a few percent of tolerance
    source: str


def _published_matrix() -> dict[tuple[str, str], Published]:
    out = {(a, "climbing"): Published(175.0, True, EPYMARL) for a in _EPYMARL_MATRIX}
    out[("idqn", "climbing")] = Published(195.0, True, EPYMARL)
    out[("coma", "climbing")] = Published(185.0, True, EPYMARL)
    out[("pac", "climbing")] = Published(275.0, False, PARETO_AC)
    for a in _EPYMARL_MATRIX:
        out[(a, "penalty-0")] = Published(250.0, True, EPYMARL)
        for k in (25, 50, 75, 100):
            out[(a, f"penalty-{k}")] = Published(50.0, True, EPYMARL)
    out[("qtran", "qtran-game")] = Published(200.0, False, QTRAN)
    out[("vdn", "qtran-game")] = Published(0.0, False, QTRAN)
    out[("qmix", "qtran-game")] = Published(0.0, False, QTRAN)
    return out


def _published_lbf() -> dict[tuple[str, str], Published]:
    values = {
        "lbf-8x8-2p-2f-coop": {
            **dict.fromkeys(("idqn", "ia2c", "ippo", "maa2c", "mappo", "vdn"), 1.00),
            "qmix": 0.96,
            "coma": 0.61,
        },
        "lbf-10x10-3p-3f": {
            "ippo": 0.98,
            "mappo": 0.99,
            "maa2c": 0.96,
            "idqn": 0.93,
            "ia2c": 0.91,
            "vdn": 0.84,
            "qmix": 0.84,
            "coma": 0.19,
        },
    }
    return {
        (a, game): Published(v, True, EPYMARL)
        for game, row in values.items()
        for a, v in row.items()
    }


# The evaluation protocol of Gorsane et al., 'Towards a Standardised Performance
# Evaluation Protocol for Cooperative MARL' (NeurIPS 2022), as Mava's
# mava/configs/arch/anakin.yaml sets it: 32 episodes per evaluation, and the
# absolute metric (the best evaluation's policy) on 10x as many at the end.
PROTOCOL: Mapping[str, int] = MappingProxyType({"num_eval_episodes": 32, "absolute_episodes": 320})


class TableSpec(NamedTuple):
    """A benchmark table's (a suite's) definition.

    Attributes:
        name: as the command line names it.
        games: registered environment names (the suite's tasks), one column each.
        budgets: environment steps per run, per algorithm family
            (``value_based``: IDQN, VDN, QMIX, QTRAN; ``actor_critic``: the rest);
            ``budget=`` scales them.
        published: (algo, game) -> the published value, where there is one.
        note: what to keep in mind when comparing (printed with the table).
        settings: algo -> config keys (a peer's published settings in our keys);
            an algorithm without its own takes those of the first algorithm of
            its family that has some, less the keys it does not accept.
        game_kwargs: game -> its ``env_kwargs`` (e.g. a peer's time limit).
        published_budgets: the budgets ``budget=published`` runs (None: the
            budgets above are the published ones).
        algos: the suite's algorithms by default (None: all).
        sources: where the settings, budgets and tasks come from.
        evaluation: evaluation keys of every run (:data:`PROTOCOL`).
    """

    name: str
    games: tuple[str, ...]
    budgets: dict[str, int]
    published: dict[tuple[str, str], Published]
    note: str
    settings: Mapping[str, Mapping[str, Any]] = MappingProxyType({})
    game_kwargs: Mapping[str, Mapping[str, Any]] = MappingProxyType({})
    published_budgets: Mapping[str, int] | None = None
    algos: tuple[str, ...] | None = None
    sources: tuple[str, ...] = ()
    evaluation: Mapping[str, int] = PROTOCOL


TABLES: dict[str, TableSpec] = {
    "matrix": TableSpec(
        name="matrix",
        games=(
            "climbing",
            "penalty-0",
            "penalty-25",
            "penalty-50",
            "penalty-75",
            "penalty-100",
            "climbing-classic",
            "qtran-game",
        ),
        budgets={"value_based": 40_000, "actor_critic": 100_000},
        published=_published_matrix(),
        note=(
            "Returns per agent over a 25-step episode: (A,A) on climbing = 275, (B,B) = 175, "
            "(C,C) = 125; the optimum of penalty-k = 250, (B,B) = 50. Budgets are 2% (value "
            "based) and 0.5% (actor-critic) of EPyMARL's."
        ),
    ),
    "lbf": TableSpec(
        name="lbf",
        games=("lbf-8x8-2p-2f-coop", "lbf-2s-8x8-2p-2f-coop", "lbf-10x10-3p-3f"),
        budgets={"value_based": 200_000, "actor_critic": 1_000_000},
        published=_published_lbf(),
        note=(
            "Greedy return normalised to at most 1 per episode, 50 steps. EPyMARL ran the "
            "lbforaging package; ours is Jumanji's Level-Based Foraging with EPyMARL's "
            "sizes: compare orderings and rough levels, not exact values."
        ),
    ),
}


# EPyMARL's budgets (Papoudakis et al. 2021): 2.05M steps off-policy, 20.05M on-policy.
EPYMARL_BUDGETS = MappingProxyType({"value_based": 2_050_000, "actor_critic": 20_050_000})
TABLES["matrix"] = TABLES["matrix"]._replace(published_budgets=EPYMARL_BUDGETS, sources=(EPYMARL,))
TABLES["lbf"] = TABLES["lbf"]._replace(published_budgets=EPYMARL_BUDGETS, sources=(EPYMARL,))

JAXMARL_SOURCE = (
    "JaxMARL (Rutherford et al., 'JaxMARL: Multi-Agent RL Environments and Algorithms in "
    "JAX', NeurIPS 2024 Datasets and Benchmarks), snapshot c793d09 (jaxmarl 0.2.0): "
    "baselines/IPPO/config/ippo_ff_mpe.yaml, ippo_rnn_smax.yaml, "
    "baselines/MAPPO/config/mappo_homogenous_rnn_mpe.yaml, mappo_homogenous_rnn_smax.yaml, "
    "baselines/QLearning/config/alg/ql_rnn_mpe.yaml, ql_rnn_smax.yaml, pqn_vdn_ff_mpe.yaml, "
    "pqn_vdn_rnn_smax.yaml"
)
MAVA_SOURCE = (
    "Mava (de Kock et al., 'Mava: a research library for distributed multi-agent "
    "reinforcement learning in JAX', 2021-2024): mava/configs/system/ppo/ff_ippo.yaml "
    "(snapshot 102e10b), mava/configs/arch/anakin.yaml (0258bb8: 16 environments per "
    "device x update_batch_size 2, 32 evaluation episodes, absolute metric on 320), "
    "env/lbf.yaml (time_limit 100), env/rware.yaml (time_limit 500); budget 2e7 steps as "
    "in Mava's published LBF and RWARE results"
)
# PPO as PureJaxRL, JaxMARL and Mava set it, in our keys.
_PPO = MappingProxyType(
    dict(
        rollout_length=128,
        epochs=4,
        gamma=0.99,
        advantage="gae",
        gae_lambda=0.95,
        clip_eps=0.2,
        ent_coef=0.01,
        vf_coef=0.5,
        max_grad_norm=0.5,
        normalise_advantages=True,
        clip_value_loss=True,
        normalise_rewards=False,
    )
)
# JaxMARL's recurrent Q-learning (IQL, VDN, QMIX share one config file; the
# scripts optimise with RAdam).
_QL_RNN_MPE = MappingProxyType(
    dict(
        optimizer="radam",
        recurrent=True,
        num_envs=8,
        rollout_length=26,
        # 5000 rollouts of 26 steps (5000 // 8 per environment), each unrolled from a
        # zero hidden state, one gradient step per update, the rate decayed linearly.
        buffer_size=5000 // 8 * 8 * 26,
        store_carry=False,
        anneal_lr=True,
        batch_size=32,
        sequence_length=26,
        hidden_size=64,
        eps_start=1.0,
        eps_end=0.05,
        eps_decay_fraction=0.1,
        max_grad_norm=25.0,
        target_update_period=200,
        lr=0.005,
        learning_starts=10_000,
        gamma=0.9,
    )
)
_QL_RNN_SMAX = MappingProxyType(
    dict(
        optimizer="radam",
        recurrent=True,
        num_envs=16,
        rollout_length=128,
        # 5000 // 16 rollouts of 128 steps per environment, unrolled from a zero hidden
        # state; 8 gradient steps per update (NUM_EPOCHS); rewards scaled by 10
        # (REW_SCALE, "to the original scale of SMAC").
        buffer_size=5000 // 16 * 16 * 128,
        store_carry=False,
        epochs=8,
        reward_scale=10.0,
        batch_size=32,
        sequence_length=128,
        hidden_size=512,
        eps_start=1.0,
        eps_end=0.05,
        eps_decay_fraction=0.1,
        max_grad_norm=10.0,
        target_update_period=10,
        lr=5e-5,
        # LEARNING_STARTS is 10,000, but qmix_rnn.py's (and iql/vdn_rnn.py's) buffer
        # samples once each environment's row holds BUFFER_BATCH_SIZE (32) rollouts
        # (its min_length_time_axis), so the first gradient step comes after 32
        # updates of 16 x 128 steps: 65,536 (0.7% of 1e7; 66% of 1e5).
        learning_starts=32 * 16 * 128,
        gamma=0.99,
    )
)
# JaxMARL's PPO scripts (ippo_ff_mpe.py, mappo_rnn_mpe.py, ippo_rnn_smax.py,
# mappo_rnn_smax.py) compute GAE with (1 - done) at every episode end, the time
# limit's included: the return ends there, nothing is bootstrapped. Their Adam
# has eps=1e-5, and their recurrent networks one 128 ReLU layer (GRU_HIDDEN_DIM)
# between the GRU and each output layer.
_JAXMARL_PPO = MappingProxyType(dict(_PPO, bootstrap_truncation=False, adam_eps=1e-5))
# What ippo_rnn_smax.yaml and mappo_homogenous_rnn_smax.yaml share.
_PPO_RNN_SMAX = MappingProxyType(
    dict(
        _JAXMARL_PPO,
        recurrent=True,
        post_gru_layers=1,
        num_envs=128,
        minibatches=4,
        hidden_size=128,
        activation="relu",
        max_grad_norm=0.25,
        anneal_lr=True,
    )
)
_SMAX_KWARGS = MappingProxyType(
    {"see_enemy_actions": True, "walls_cause_death": True, "attack_mode": "closest"}
)
# What JaxMARL's PQN-VDN files (pqn_vdn_ff_mpe.yaml, pqn_vdn_rnn_smax.yaml) share;
# pqn_vdn_ff.py and pqn_vdn_rnn.py optimise with RAdam.
_PQN = MappingProxyType(
    dict(
        optimizer="radam",
        num_layers=2,
        norm="layer_norm",
        eps_start=1.0,
        eps_decay_fraction=0.1,
        max_grad_norm=1.0,
        minibatches=16,
        epochs=4,
    )
)
_PQN_MPE = MappingProxyType(
    dict(
        _PQN,
        num_envs=256,
        rollout_length=16,
        hidden_size=256,
        eps_end=0.1,
        lr=5e-4,
        gamma=0.9,
        lambda_=0.3,
    )
)
# LayerNorm where pqn_vdn_rnn_smax.yaml has BatchNorm (and none on the inputs, which
# it normalises): our networks carry no batch statistics.
_PQN_RNN_SMAX = MappingProxyType(
    dict(
        _PQN,
        recurrent=True,
        num_envs=128,
        rollout_length=128,
        hidden_size=512,
        eps_end=0.01,
        lr=2.5e-4,
        anneal_lr=True,
        gamma=0.99,
        lambda_=0.85,
        reward_scale=10.0,
    )
)
_MAVA_PPO = MappingProxyType(
    dict(
        _PPO,
        num_envs=32,
        minibatches=2,
        hidden_size=128,
        activation="relu",
        lr=2.5e-4,
        critic_lr=2.5e-4,
        anneal_lr=False,
    )
)

TABLES["mpe"] = TableSpec(
    name="mpe",
    games=(
        "jaxmarl:MPE_simple_spread_v3",
        "jaxmarl:MPE_simple_reference_v3",
        "jaxmarl:MPE_simple_speaker_listener_v4",
    ),
    budgets={"value_based": 10_000_000, "actor_critic": 10_000_000},
    published={},
    note=(
        "JaxMARL's cooperative discrete MPE tasks (published budget: 1e7 environment "
        "steps), with the settings of JaxMARL's own baselines. Return: the mean over agents of "
        "each agent's episode return (JaxMARL's logs multiply it by the number of agents)."
    ),
    settings={
        "ippo": dict(
            _JAXMARL_PPO,
            num_envs=16,
            minibatches=4,
            num_layers=2,
            hidden_size=64,
            activation="tanh",
            lr=2.5e-4,
            anneal_lr=True,
        ),
        "mappo": dict(
            _JAXMARL_PPO,
            recurrent=True,
            post_gru_layers=1,
            num_envs=16,
            minibatches=4,
            hidden_size=128,
            # The config file says tanh, but mappo_rnn_mpe.py's ActorRNN and
            # CriticRNN apply ReLU whatever it says.
            activation="relu",
            lr=2e-3,
            anneal_lr=True,
        ),
        "idqn": dict(_QL_RNN_MPE),
        "vdn": dict(_QL_RNN_MPE),
        "qmix": dict(_QL_RNN_MPE, mixing_embed_dim=32, hypernet_hidden=128, mixer_init_scale=0.001),
        "pqn": dict(_PQN_MPE),
        "pqn_vdn": dict(_PQN_MPE),
        # JaxMARL has no PQN-QMIX: PQN-VDN's settings with this suite's QMIX mixer.
        "pqn_qmix": dict(
            _PQN_MPE, mixing_embed_dim=32, hypernet_hidden=128, mixer_init_scale=0.001
        ),
    },
    sources=(JAXMARL_SOURCE,),
)
TABLES["smax"] = TableSpec(
    name="smax",
    games=tuple(
        f"jaxmarl:smax-{m}" for m in ("3m", "2s3z", "3s5z", "6h_vs_8z", "5m_vs_6m", "3s5z_vs_3s6z")
    ),
    budgets={"value_based": 10_000_000, "actor_critic": 10_000_000},
    published={},
    note=(
        "SMAX against the heuristic enemy (JaxMARL's HeuristicEnemySMAX and its env "
        "kwargs; published budget: 1e7 environment steps), recurrent agents with the settings "
        "of JaxMARL's baselines. Metrics: return "
        "and win rate (the training episodes won)."
    ),
    settings={
        "ippo": dict(_PPO_RNN_SMAX, lr=0.004, clip_eps=0.05),
        "mappo": dict(_PPO_RNN_SMAX, lr=0.002, ent_coef=0.0),
        "idqn": dict(_QL_RNN_SMAX),
        "vdn": dict(_QL_RNN_SMAX),
        "qmix": dict(
            _QL_RNN_SMAX, mixing_embed_dim=64, hypernet_hidden=256, mixer_init_scale=0.001
        ),
        "pqn": dict(_PQN_RNN_SMAX),
        "pqn_vdn": dict(_PQN_RNN_SMAX),
        # JaxMARL has no PQN-QMIX: PQN-VDN's settings with this suite's QMIX mixer.
        "pqn_qmix": dict(
            _PQN_RNN_SMAX, mixing_embed_dim=64, hypernet_hidden=256, mixer_init_scale=0.001
        ),
    },
    game_kwargs={
        g: _SMAX_KWARGS
        for g in (
            f"jaxmarl:smax-{m}"
            for m in ("3m", "2s3z", "3s5z", "6h_vs_8z", "5m_vs_6m", "3s5z_vs_3s6z")
        )
    },
    algos=("ippo", "mappo", "idqn", "vdn", "qmix", "pqn", "pqn_vdn", "pqn_qmix"),
    sources=(JAXMARL_SOURCE,),
)
_MAVA_GAMES = (
    "lbf-2s-8x8-2p-2f-coop",
    "lbf-8x8-2p-2f-coop",
    "lbf-2s-10x10-3p-3f",
    "lbf-15x15-4p-3f",
    "rware-tiny-2ag",
    "rware-tiny-4ag",
    "rware-small-4ag",
)
TABLES["mava"] = TableSpec(
    name="mava",
    games=_MAVA_GAMES,
    budgets={"value_based": 20_000_000, "actor_critic": 20_000_000},
    published={},
    note=(
        "Mava's LBF and RWARE tasks (published budget: 2e7 environment steps) with Mava's "
        "time limits, feed-forward IPPO and MAPPO with Mava's PPO settings. Our LBF and RWARE "
        "are Jumanji's, as Mava's are."
    ),
    settings={"ippo": _MAVA_PPO, "mappo": _MAVA_PPO},
    game_kwargs={g: {"episode_length": 100 if g.startswith("lbf") else 500} for g in _MAVA_GAMES},
    algos=("ippo", "mappo"),
    sources=(MAVA_SOURCE,),
)


def family(algo: str) -> str:
    return "value_based" if algo in VALUE_BASED else "actor_critic"


class Cell(NamedTuple):
    """One (algorithm, game) cell: per-seed statistics and their mean and std.

    A peer's cell (``algo`` such as ``jaxmarl:ippo``, from
    ``benchmarks/parity.py``) has one score: the training episodes' return (its
    greedy fields are NaN) or, for a script whose logged return is not an
    episodes' return (record ``"score": "greedy"``), its own greedy tests in the
    greedy fields (``train_curve`` is None)."""

    algo: str
    game: str
    env_steps: int
    max_per_seed: np.ndarray  # float[S]: maximum greedy return over training
    final_per_seed: np.ndarray  # float[S]: greedy return at the last logging step
    curve: np.ndarray  # float[S, num_logs]: the greedy return at every logging step
    curve_steps: np.ndarray  # int[num_logs]
    train_curve: np.ndarray | None = None  # float[S, num_logs]: training episodes' return
    absolute_per_seed: np.ndarray | None = None  # float[S]: the absolute metric
    wall_seconds: float = math.nan  # the cell's wall-clock, all seeds
    win_curve: np.ndarray | None = None  # float[S, num_logs]: training episodes won (SMAX)
    eval_win_curve: np.ndarray | None = None  # float[S, num_logs]: greedy episodes won

    @property
    def max_mean(self) -> float:
        return float(np.mean(self.max_per_seed))

    @property
    def max_std(self) -> float:
        return float(np.std(self.max_per_seed))

    @property
    def final_mean(self) -> float:
        return float(np.mean(self.final_per_seed))

    @property
    def final_std(self) -> float:
        return float(np.std(self.final_per_seed))

    @property
    def final_train_per_seed(self) -> np.ndarray:
        """float[S]: the training episodes' return over the last 10% of training."""
        from jaxmarl_core.driver import final_train_return

        if self.train_curve is None:
            return np.full(self.max_per_seed.shape, np.nan)
        return final_train_return(self.train_curve)

    @property
    def final_win_per_seed(self) -> np.ndarray | None:
        """float[S]: the fraction of training episodes won over the last 10% of
        training, for a game that is won or lost (None otherwise)."""
        from jaxmarl_core.driver import final_train_return

        return None if self.win_curve is None else final_train_return(self.win_curve)


class Program(NamedTuple):
    """One compiled program of a table run: the games it trained (all seeds)."""

    algo: str
    games: tuple[str, ...]
    runs: int
    batch_size: int
    num_batches: int
    compile_seconds: float
    run_seconds: float


class TableResult(NamedTuple):
    """``cells``: (algo, game) -> Cell, every finished cell (read back ones too);
    ``programs``: the programs this call compiled and ran; ``skipped``: cells
    that were finished before and read back."""

    spec: TableSpec
    seeds: int
    budgets: dict[str, int]
    cells: dict[tuple[str, str], Cell]
    programs: list[Program]
    skipped: list[tuple[str, str]]
    wall_seconds: float
    statistics: dict[str, Any] | None = None  # suite_statistics(), over every finished cell


# ---------------------------------------------------------------------------
# Which games share a program


def _program_key(env: Any) -> tuple | None:
    """What must be equal for two environments to be one program on different
    parameters; None for an environment without parameters (a program of its own)."""
    if not isinstance(env, MultiAgentEnvironment):
        return None
    params = env.params()
    if not jax.tree.leaves(params):
        return None
    shapes = jax.tree.map(lambda x: (tuple(np.shape(x)), str(np.asarray(x).dtype)), params)
    return (
        type(env),
        env.num_agents,
        env.num_actions,
        env.episode_length,
        env.obs_dim,
        env.state_dim,
        env.individual_rewards,
        str(jax.tree.structure(params)),
        str(shapes),
    )


def program_groups(games: Sequence[str], batch_games: bool = True) -> list[tuple[str, ...]]:
    """The games in groups that train in one program each: environments of one
    class and shape that differ only in their parameters share one (with
    ``batch_games``); every other game is a group of its own. Order is kept."""
    groups: dict[Any, list[str]] = {}
    for i, game in enumerate(games):
        key = _program_key(make_env(game)) if batch_games else None
        groups.setdefault(key if key is not None else ("alone", i), []).append(game)
    return [tuple(g) for g in groups.values()]


# ---------------------------------------------------------------------------
# Running a table


def _check_args(
    name: str | TableSpec,
    seeds: Any,
    budget: Any,
    algos: Sequence[str] | None,
    tasks: Sequence[str] | None = None,
) -> tuple[TableSpec, list[str], tuple[str, ...]]:
    if not isinstance(name, TableSpec) and name not in TABLES:
        raise ConfigError(f"unknown table {name!r}; tables: {', '.join(TABLES)}")
    spec = name if isinstance(name, TableSpec) else TABLES[name]
    if not isinstance(seeds, int) or isinstance(seeds, bool) or seeds < 1:
        raise ConfigError(f"seeds={seeds!r} is not allowed; seeds must be an integer >= 1")
    if budget != "published" and (
        isinstance(budget, bool) or not isinstance(budget, int | float) or not budget > 0
    ):
        raise ConfigError(
            f"budget={budget!r} is not allowed; it scales the budgets (a number > 0), or "
            f"is 'published'"
        )
    every = list_algos()
    algos = list(spec.algos or every) if algos is None else list(algos)
    unknown = [a for a in algos if a not in every]
    if unknown or not algos:
        raise ConfigError(
            f"algos={','.join(algos)!r}: unknown {', '.join(unknown) or '(none given)'}; "
            f"algorithms: {', '.join(every)}"
        )
    games = spec.games if tasks is None else tuple(tasks)
    unknown = [t for t in games if t not in spec.games]
    if unknown or not games:
        raise ConfigError(
            f"tasks={','.join(games)!r}: unknown {', '.join(unknown) or '(none given)'} in "
            f"table {spec.name}; tasks: {', '.join(spec.games)}"
        )
    return spec, algos, games


def budgets_of(spec: TableSpec, budget: float | str) -> dict[str, int]:
    """Environment steps per run per family: the table's budgets scaled by
    ``budget``, or with ``budget='published'`` the published ones."""
    if budget == "published":
        return dict(spec.published_budgets or spec.budgets)
    return {fam: max(1, int(round(steps * budget))) for fam, steps in spec.budgets.items()}


def suite_settings(spec: TableSpec, algo: str) -> dict[str, Any]:
    """The config keys ``algo`` runs with in ``spec``: its own, or the nearest
    (the first algorithm of its family that has some), less the keys it lacks."""
    from jaxmarl_core.config import params_of

    own = spec.settings.get(algo)
    if own is None:
        kin = [a for a in spec.settings if family(a) == family(algo)]
        own = spec.settings[kin[0]] if kin else {}
    accepted = params_of(algo)
    return {k: v for k, v in own.items() if k in accepted}


def cell_config(
    spec: TableSpec,
    algo: str,
    game: str,
    budget: float | str,
    checkpoint_every: int | None = None,
):
    settings = {**suite_settings(spec, algo), **spec.evaluation}
    if checkpoint_every is not None:
        settings["checkpoint_every"] = checkpoint_every
    return make_config(
        algo,
        env=game,
        total_timesteps=budgets_of(spec, budget)[family(algo)],
        env_kwargs=dict(spec.game_kwargs.get(game, {})),
        **settings,
    )


def _definition(
    spec: TableSpec, seeds: int, first_seed: int, budget: float | str
) -> dict[str, Any]:
    return {
        "table": spec.name,
        "seeds": seeds,
        "first_seed": first_seed,
        "budget": budget if budget == "published" else float(budget),
        "budgets": budgets_of(spec, budget),
    }


def _open_out(out: Path, definition: dict[str, Any]) -> None:
    """Checks that ``out`` is empty, new, or a table directory of this very
    definition (a re-run that skips finished cells)."""
    found = out / "table.json"
    if found.is_file():
        before = {k: json.loads(found.read_text()).get(k) for k in definition}
        if before != definition:
            diff = ", ".join(
                f"{k}={before[k]!r} there, {definition[k]!r} now"
                for k in definition
                if before[k] != definition[k]
            )
            raise ConfigError(
                f"{str(out)!r} holds another table ({diff}); re-run it with the same "
                f"arguments to finish it, or choose another out"
            )
        return
    # A peer's runs (benchmarks/parity.py) may be there first.
    if out.exists() and (not out.is_dir() or any(f.name != "peers" for f in out.iterdir())):
        raise ConfigError(f"output directory {str(out)!r} exists and is not a table directory")
    from jaxmarl_core.driver import check_output_dir

    # Writable? (With only the peers' runs there, through ``runs``, which is not yet.)
    check_output_dir(out / "runs" if out.is_dir() and any(out.iterdir()) else out)


def _cell_dir(out: Path, algo: str, game: str) -> Path:
    return out / "runs" / algo / game


def _progress_dir(out: Path, algo: str, group: Sequence[str]) -> Path:
    """Where a program's checkpoints are kept while it runs (gone once its cells are)."""
    return out / "progress" / algo / "+".join(group)


def read_cell(out: Path, algo: str, game: str) -> Cell | None:
    """A finished cell read back from its run directory, or None."""
    from jaxmarl_core.reports import read_run_metrics

    path = _cell_dir(out, algo, game)
    if not (path / "summary.json").is_file():
        return None
    _, metrics = read_run_metrics(path)
    wall = json.loads((path / "summary.json").read_text()).get("wall_seconds", math.nan)
    return _cell(algo, game, metrics, wall)


def _cell(algo: str, game: str, metrics: dict[str, np.ndarray], wall_seconds: float) -> Cell:
    """A cell from its runs' metrics (name -> [S, num_logs])."""
    eval_return = np.asarray(metrics["eval_return"], np.float64)
    steps = np.asarray(metrics["env_steps"][0], np.int64)
    absolute = metrics.get("absolute_return")
    won, greedy_won = metrics.get("win_rate"), metrics.get("eval_win_rate")
    return Cell(
        algo=algo,
        game=game,
        env_steps=int(steps[-1]),
        max_per_seed=np.max(eval_return, axis=1),
        final_per_seed=eval_return[:, -1],
        curve=eval_return,
        curve_steps=steps,
        train_curve=np.asarray(metrics["episode_return"], np.float64),
        absolute_per_seed=None if absolute is None else np.asarray(absolute, np.float64)[:, -1],
        wall_seconds=float(wall_seconds),
        win_curve=None if won is None else np.asarray(won, np.float64),
        eval_win_curve=None if greedy_won is None else np.asarray(greedy_won, np.float64),
    )


def read_peer_cells(out: Path, games: Sequence[str]) -> dict[tuple[str, str], Cell]:
    """The peers' runs that ``benchmarks/parity.py`` wrote under ``out/peers``:
    (``<peer>:<algo>``, game) -> a cell (every seed file found) of training
    returns, or of greedy returns where the records' ``score`` is ``"greedy"``."""
    cells = {}
    root = out / "peers"
    if not root.is_dir():
        return cells
    for algo_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        for game in games:
            files = sorted((algo_dir / game).glob("seed_*.json"))
            if not files:
                continue
            runs = [json.loads(f.read_text()) for f in files]
            cells[(algo_dir.name, game)] = _peer_cell(algo_dir.name, game, runs, algo_dir / game)
    return cells


def _peer_cell(row: str, game: str, runs: list[dict], where: Path) -> Cell:
    """One peer cell from its seeds' records (``benchmarks/parity.py``)."""

    def curve(key: str, required: bool = True) -> np.ndarray | None:
        if not required and any(key not in r for r in runs):
            return None
        return np.array([r[key] for r in runs], np.float64)

    score = {r.get("score", "training") for r in runs}
    if len(score) > 1:
        raise ValueError(f"{where}: its seeds are scored differently ({sorted(score)})")
    greedy = score == {"greedy"}
    train = curve("episode_return")
    evaluation = curve("greedy_return") if greedy else np.full(train.shape, np.nan)
    return Cell(
        algo=row,
        game=game,
        env_steps=int(runs[0]["env_steps"][-1]),
        max_per_seed=np.max(evaluation, axis=1),
        final_per_seed=evaluation[:, -1],
        curve=evaluation,
        curve_steps=np.asarray(runs[0]["env_steps"], np.int64),
        train_curve=None if greedy else train,
        wall_seconds=float(sum(r["wall_seconds"] for r in runs)),
        win_curve=None if greedy else curve("win_rate", required=False),
        eval_win_curve=curve("greedy_win_rate", required=False) if greedy else None,
    )


def _write_cell(
    out: Path,
    config,
    cell: Cell,
    metrics: dict[str, np.ndarray],
    seeds: int,
    first_seed: int,
    sched,
    timing: dict[str, float],
    program: tuple[str, ...],
) -> None:
    from jaxmarl_core.driver import _start_run_dir, summarize, write_metrics_csv
    from jaxmarl_core.sweeps import staged

    path = _cell_dir(out, config.algo, config.env_name)
    summary = summarize(config, metrics, seeds, first_seed, sched, timing)
    summary["max_eval_return_per_seed"] = [float(x) for x in cell.max_per_seed]
    summary["max_eval_return_mean"] = cell.max_mean
    summary["max_eval_return_std"] = cell.max_std
    summary["program_games"] = list(program)
    with staged(path, last="summary.json") as tmp:
        _start_run_dir(tmp, config, seeds, first_seed)
        write_metrics_csv(tmp / "metrics.csv", metrics, first_seed)
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")


class _TableProgress:
    """One line per finished program: runs done, env steps per second, time left.

    The time left counts each family's remaining steps at that family's own
    rate so far (value-based learners step far slower than actor-critics),
    and at the overall rate for a family not yet started."""

    def __init__(self, name: str, left: dict[str, int], total_runs: int, stream: TextIO, on: bool):
        self.name, self.left, self.total_runs = name, dict(left), total_runs
        self.stream, self.on = stream, on
        self.runs = 0
        self.done = dict.fromkeys(left, 0)
        self.seconds = dict.fromkeys(left, 0.0)
        self.last = time.perf_counter()

    def update(self, program: Program, steps: int) -> None:
        now, fam = time.perf_counter(), family(program.algo)
        self.runs += program.runs
        self.left[fam] -= steps
        self.done[fam] += steps
        self.seconds[fam] += now - self.last
        self.last = now
        if not self.on:
            return
        rate = sum(self.done.values()) / sum(self.seconds.values())
        left = sum(
            n / (self.done[f] / self.seconds[f] if self.done[f] else rate)
            for f, n in self.left.items()
        )
        games = program.games
        what = ", ".join(games) if len(games) < 3 else f"{len(games)} games in one program"
        self.stream.write(
            f"table {self.name}: {self.runs}/{self.total_runs} runs done "
            f"({program.algo} on {what}); "
            f"{rate:,.0f} env steps/s with compilation; about {left / 60:.1f} min left\n"
        )
        self.stream.flush()


def _agreed_mask(mask: np.ndarray) -> np.ndarray:
    """Process 0's ``mask`` on every process of a multi-host run (its own elsewhere)."""
    if jax.process_count() == 1:
        return mask
    from jax.experimental import multihost_utils

    return np.asarray(multihost_utils.broadcast_one_to_all(mask))


def run_table(
    name: str | TableSpec,
    seeds: int = 5,
    budget: float | str = 1.0,
    algos: Sequence[str] | None = None,
    out: str | Path | None = None,
    first_seed: int = 0,
    batch_games: bool = True,
    progress: bool = False,
    stream: TextIO = sys.stderr,
    tasks: Sequence[str] | None = None,
    checkpoint_every: int | None = None,
) -> TableResult:
    """Trains every (algorithm, game) cell of table ``name`` (one of ``TABLES``,
    or a :class:`TableSpec` of one's own) for ``seeds`` seeds.

    Args:
        seeds: seeds per cell, ``PRNGKey(first_seed + k)``.
        budget: scales the table's budgets (environment steps per run);
            ``'published'``: the published budgets (``spec.published_budgets``).
        algos: a subset of the algorithms (default: the suite's, or all eleven).
        tasks: a subset of the table's games (default: all).
        out: the table directory (module docstring); None writes nothing.
        batch_games: train games that differ only in their parameters in one
            program per algorithm (False: one program per game, for comparison).
        progress: one line per finished program on ``stream``.
        checkpoint_every: logging steps between a running program's checkpoints
            (default: each algorithm's ``checkpoint_every``); results do not depend
            on it.

    A program cut off mid-run (a signal, a lost session) resumes from its last
    checkpoint (every ``checkpoint_every`` logging steps, under ``out/progress``)
    when the table runs again with the same ``out``. The peers' runs found under
    ``out/peers`` (``benchmarks/parity.py``) join the cells as rows of their own.

    Every cell equals ``sweep(cell_config(...), [{}], seeds, first_seed)`` (the
    same keys; to float rounding), however the games were batched.
    """
    from jaxmarl_core.hosts import agree, is_writer
    from jaxmarl_core.sweeps import sweep
    from jaxmarl_core.train import make_algorithm, schedule

    spec, algos, games = _check_args(name, seeds, budget, algos, tasks)
    definition = _definition(spec, seeds, first_seed, budget)
    path = None if out is None else Path(out)
    error = None
    if path is not None and is_writer():  # the other processes of a multi-host run follow
        try:
            _open_out(path, definition)
        except (ValueError, OSError) as err:
            error = str(err)
    agree(error)
    t0 = time.perf_counter()
    everything = [(algo, game) for algo in algos for game in games]
    # Process 0 reads the finished cells; every process trains the same rest.
    found = {
        c: read_cell(path, *c) if path is not None and is_writer() else None for c in everything
    }
    finished = _agreed_mask(np.array([found[c] is not None for c in everything]))
    cells = {c: found[c] for c, done in zip(everything, finished, strict=True) if done}
    skipped = [c for c, done in zip(everything, finished, strict=True) if done]
    todo = [c for c, done in zip(everything, finished, strict=True) if not done]
    if path is not None and is_writer():
        path.mkdir(parents=True, exist_ok=True)
        (path / "table.json").write_text(json.dumps(definition, indent=2) + "\n")
    budgets = definition["budgets"]
    left = {fam: sum(budgets[fam] * seeds for a, _ in todo if family(a) == fam) for fam in budgets}
    bar = _TableProgress(spec.name, left, len(todo) * seeds, stream, progress)
    if progress:
        stream.write(
            f"table {spec.name}: {len(todo)} cells to train ({len(skipped)} finished before), "
            f"{seeds} seeds each; budgets {budgets}\n"
        )
    programs = []
    for algo in algos:
        algo_games = [g for a, g in todo if a == algo]
        for group in program_groups(algo_games, batch_games):
            config = cell_config(spec, algo, group[0], budget, checkpoint_every)
            params = [make_env(g).params() for g in group] if len(group) > 1 else None
            running = None if path is None else _progress_dir(path, algo, group)
            result = sweep(
                config,
                [{}] * len(group),
                seeds,
                first_seed,
                env_params=params,
                out=running,
                progress=progress,  # says when a program resumes from its checkpoint
            )
            program = Program(
                algo,
                group,
                len(group) * seeds,
                result.batch_size,
                result.num_batches,
                result.compile_seconds,
                result.wall_seconds,
            )
            programs.append(program)
            share = {
                "train_seconds": result.wall_seconds / len(group),
                "compile_seconds": result.compile_seconds / len(group),
                "wall_seconds": (result.wall_seconds + result.compile_seconds) / len(group),
                "sessions": 1,
            }
            # One schedule for the group: its games share the program's shapes.
            sched = schedule(config, make_algorithm(config)[1])
            for g, game in enumerate(group):
                metrics = {k: v[g] for k, v in result.metrics.items()}
                cell = _cell(algo, game, metrics, share["wall_seconds"])
                cells[(algo, game)] = cell
                if path is not None and is_writer():
                    cell_cfg = cell_config(spec, algo, game, budget, checkpoint_every)
                    _write_cell(
                        path, cell_cfg, cell, metrics, seeds, first_seed, sched, share, group
                    )
            if running is not None and is_writer():
                shutil.rmtree(path / "progress", ignore_errors=True)
            bar.update(program, budgets[family(algo)] * seeds * len(group))
    if path is not None and is_writer():
        cells.update(read_peer_cells(path, games))
    table = TableResult(
        spec=spec,
        seeds=seeds,
        budgets=budgets,
        cells=cells,
        programs=programs,
        skipped=skipped,
        wall_seconds=time.perf_counter() - t0,
    )
    table = table._replace(statistics=suite_statistics(table))
    if path is not None and is_writer():
        write_table_dir(path, table, definition)
    return table


def merge_tables(
    name: str | TableSpec,
    sources: Sequence[str | Path],
    out: str | Path,
    progress: bool = False,
    stream: TextIO = sys.stderr,
) -> TableResult:
    """One table from table directories that trained the same cells on other
    seeds (one machine after another, or several at once), in a new ``out``.

    The sources are tables ``name`` of one budget, with the same finished cells
    and seed ranges that do not overlap and together make one range. Each cell
    becomes one cell of all their seeds: every seed's rows of ``metrics.csv``
    and the seconds each source spent, added up. A seed's run does not depend on
    the others trained beside it, so this is the cell one run of all the seeds
    would have trained (bit for bit on one CPU device). The peers' runs of
    every source (``peers/``) come too. The table's statistics then cover all
    the seeds (:func:`run_table` over ``out``, which has nothing left to train).

    Raises:
        ConfigError: one line, before anything is written, naming what does not
            fit (another table or budget, overlapping or gapped seeds, other
            finished cells, cells trained with other settings, an ``out`` that
            exists).
    """
    from jaxmarl_core.driver import load_run
    from jaxmarl_core.reports import read_run_metrics
    from jaxmarl_core.train import make_algorithm, schedule

    spec = name if isinstance(name, TableSpec) else _check_args(name, 1, 1.0, None)[0]
    paths, path = [Path(s) for s in sources], Path(out)
    if len(paths) < 2:
        raise ConfigError("merge needs two or more table directories")
    definitions = []
    for p in paths:
        if not (p / "table.json").is_file():
            raise ConfigError(f"{str(p)!r} is not a table directory (no table.json)")
        definitions.append(json.loads((p / "table.json").read_text()))
    kept = ("table", "budget", "budgets")
    for p, d in zip(paths, definitions, strict=True):
        if d.get("table") != spec.name or {k: d.get(k) for k in kept} != {
            k: definitions[0].get(k) for k in kept
        }:
            raise ConfigError(
                f"{str(p)!r} holds table {d.get('table')!r} at budget {d.get('budget')!r}; "
                f"merge takes tables {spec.name!r} of one budget "
                f"({definitions[0].get('budget')!r} in {str(paths[0])!r})"
            )
    ranges = sorted(
        (d["first_seed"], d["first_seed"] + d["seeds"], p)
        for p, d in zip(paths, definitions, strict=True)
    )
    for (_, end, p), (start, _, q) in itertools.pairwise(ranges):
        if start != end:
            raise ConfigError(
                f"the seeds of {str(p)!r} end at {end - 1} and those of {str(q)!r} start at "
                f"{start}: merge takes seed ranges that neither overlap nor leave a gap"
            )
    finished = [
        sorted(
            (a.parent.name, a.name)
            for a in (p / "runs").glob("*/*")
            if (a / "summary.json").is_file()
        )
        for p in paths
    ]
    if not finished[0] or any(f != finished[0] for f in finished):
        raise ConfigError(
            "merge takes tables with the same finished cells: "
            + "; ".join(
                f"{str(p)!r}: {', '.join('/'.join(c) for c in f) or 'none'}"
                for p, f in zip(paths, finished, strict=True)
            )
        )
    if path.exists():
        raise ConfigError(f"output directory {str(path)!r} exists; merge writes a new one")
    first_seed, seeds = ranges[0][0], ranges[-1][1] - ranges[0][0]
    merged = []
    for algo, game in finished[0]:
        cells = [p / "runs" / algo / game for *_, p in ranges]  # in seed order
        configs = [load_run(c)[0] for c in cells]
        if any(c.to_dict() != configs[0].to_dict() for c in configs):
            raise ConfigError(
                f"the cell {algo}/{game} was trained with other settings in the sources"
            )
        parts = [read_run_metrics(c)[1] for c in cells]
        summaries = [json.loads((c / "summary.json").read_text()) for c in cells]
        metrics = {k: np.concatenate([m[k] for m in parts]) for k in parts[0] if k != "seed"}
        timing = {
            k: sum(s[k] for s in summaries)
            for k in ("train_seconds", "compile_seconds", "wall_seconds", "sessions")
        }
        merged.append(
            (configs[0], metrics, timing, tuple(summaries[0].get("program_games", [game])))
        )
    peers: dict[Path, Path] = {}  # where in out -> the source's record
    for p in paths:
        for record in sorted((p / "peers").glob("*/*/seed_*.json")):
            where = record.relative_to(p)
            if where in peers and peers[where].read_bytes() != record.read_bytes():
                raise ConfigError(
                    f"{str(record)!r} differs from {str(peers[where])!r}, the same seed's run"
                )
            peers[where] = record
    # Everything checked: write.
    path.mkdir(parents=True)
    definition = _definition(spec, seeds, first_seed, definitions[0]["budget"])
    (path / "table.json").write_text(json.dumps(definition, indent=2) + "\n")
    for config, metrics, timing, program in merged:
        cell = _cell(config.algo, config.env_name, metrics, timing["wall_seconds"])
        sched = schedule(config, make_algorithm(config)[1])
        _write_cell(path, config, cell, metrics, seeds, first_seed, sched, timing, program)
    for where, record in peers.items():
        (path / where).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(record, path / where)
    algos = sorted({a for a, _ in finished[0]}, key=list_algos().index)
    games = [g for g in spec.games if any(g == c[1] for c in finished[0])]
    return run_table(
        spec,
        seeds,
        definitions[0]["budget"],
        algos,
        path,
        first_seed,
        progress=progress,
        stream=stream,
        tasks=games,
    )


# ---------------------------------------------------------------------------
# Outputs


def _fmt(x: float) -> str:
    return f"{x:.3g}" if abs(x) < 10 else f"{x:.0f}"


def _published_text(p: Published | None) -> str:
    if p is None:
        return ""
    return ("~" if p.approximate else "") + _fmt(p.value)


def _ordered(table: TableResult) -> list[tuple[str, str]]:
    algos = [a for a in list_algos() if any(a == c[0] for c in table.cells)]
    return [(a, g) for g in table.spec.games for a in algos if (a, g) in table.cells]


def table_rows(table: TableResult) -> list[dict[str, Any]]:
    """``table.csv``'s rows: one per finished cell, in game then algorithm order."""
    rows = []
    for algo, game in _ordered(table):
        cell = table.cells[(algo, game)]
        pub = table.spec.published.get((algo, game))
        rows.append(
            {
                "game": game,
                "algo": algo,
                "seeds": int(cell.max_per_seed.shape[0]),
                "env_steps": cell.env_steps,
                "max_mean": cell.max_mean,
                "max_std": cell.max_std,
                "final_mean": cell.final_mean,
                "final_std": cell.final_std,
                "published": _published_text(pub),
            }
        )
    return rows


def _budget_line(table: TableResult) -> str:
    """Whether the table ran at the published budgets, and if not at what share."""
    published = dict(table.spec.published_budgets or table.spec.budgets)
    below = {k: v / published[k] for k, v in table.budgets.items() if v < published[k]}
    if not below:
        return "The published budgets (or more)."
    return (
        "Below the published budgets: "
        + ", ".join(
            f"{k.replace('_', '-')} {table.budgets[k]:,} of {published[k]:,} ({share:.3g}x)"
            for k, share in below.items()
        )
        + "."
    )


def table_markdown(table: TableResult) -> str:
    """``table.md``: two grids (algorithms x games), the maximum and the final
    greedy return, mean ± std over seeds, the published value in brackets."""
    spec = table.spec
    algos = [a for a in list_algos() if any(a == c[0] for c in table.cells)]
    games = [g for g in spec.games if any(g == c[1] for c in table.cells)]
    lines = [
        f"# Benchmark table `{spec.name}`",
        "",
        f"{table.seeds} seeds per cell; budgets (environment steps per run): "
        + ", ".join(f"{k.replace('_', '-')} {v:,}" for k, v in table.budgets.items())
        + ".",
        _budget_line(table),
        spec.note,
        "",
    ]
    for title, stat in (
        ("Maximum greedy return over training (EPyMARL's statistic)", "max"),
        ("Final greedy return", "final"),
    ):
        lines += [f"## {title}: mean ± std over seeds [published]", ""]
        lines.append("| algo | " + " | ".join(games) + " |")
        lines.append("|---" * (len(games) + 1) + "|")
        for algo in algos:
            row = []
            for game in games:
                cell = table.cells.get((algo, game))
                if cell is None:
                    row.append("")
                    continue
                mean = cell.max_mean if stat == "max" else cell.final_mean
                std = cell.max_std if stat == "max" else cell.final_std
                pub = _published_text(spec.published.get((algo, game)))
                row.append(f"{_fmt(mean)} ± {_fmt(std)}" + (f" [{pub}]" if pub else ""))
            lines.append(f"| {algo} | " + " | ".join(row) + " |")
        lines.append("")
    if table.statistics is not None:
        lines += statistics_markdown(table, table.statistics)
    sources = sorted({p.source for p in spec.published.values()})
    if sources:
        lines += ["## Published values", ""] + [f"- {s}" for s in sources] + [""]
    if spec.sources:
        lines += ["## Settings, budgets and tasks from", ""]
        lines += [f"- {s}" for s in spec.sources] + [""]
    if table.programs:
        compile_s = sum(p.compile_seconds for p in table.programs)
        run_s = sum(p.run_seconds for p in table.programs)
        lines += [
            "## This session",
            "",
            f"{len(table.programs)} compiled programs, {compile_s:.0f} s compiling, "
            f"{run_s:.0f} s training, {table.wall_seconds:.0f} s in all"
            + (f"; {len(table.skipped)} cells were finished before" if table.skipped else "")
            + ".",
            "",
        ]
    return "\n".join(lines)


def plot_table(path: Path, table: TableResult) -> None:
    """One panel per game, one line per algorithm: mean greedy return and its 95%
    t-interval over seeds against environment steps (a peer's too where its
    greedy tests are its score)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from jaxmarl_core.reports import mean_and_interval

    games = [g for g in table.spec.games if any(g == c[1] for c in table.cells)]
    evaluated = {a for (a, _), c in table.cells.items() if np.all(np.isfinite(c.curve))}
    algos = [a for a in _rows(table) if a in evaluated]
    cols = min(4, len(games))
    rows = math.ceil(len(games) / cols)
    fig = Figure(figsize=(4.2 * cols, 3.3 * rows + 0.8))
    FigureCanvasAgg(fig)
    for i, game in enumerate(games):
        ax = fig.add_subplot(rows, cols, i + 1)
        means = []
        for j, algo in enumerate(algos):
            cell = table.cells.get((algo, game))
            if cell is None:
                continue
            mean, lower, upper = mean_and_interval(cell.curve)
            means.append(mean)
            # 14 algorithms, 10 colours: the four past them are dotted.
            color = f"C{j % 10}"
            style = "--" if algo in VALUE_BASED else ":" if j >= 10 else "-"
            ax.plot(cell.curve_steps, mean, style, color=color, label=algo, linewidth=1.4)
            if cell.curve.shape[0] > 1:
                ax.fill_between(cell.curve_steps, lower, upper, color=color, alpha=0.15, lw=0)
        # The means set the scale; a wide interval (few seeds) is cut at the frame.
        low, high = np.nanmin(np.concatenate(means)), np.nanmax(np.concatenate(means))
        margin = 0.1 * (high - low) if high > low else max(1.0, 0.1 * abs(high))
        ax.set_ylim(low - margin, high + margin)
        ax.set_title(game, fontsize=10)
        ax.set_xlabel("environment steps (per seed)", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    handles, labels = fig.axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(11, len(labels)), fontsize=8)
    title = f"table {table.spec.name}: greedy return, mean and 95% t-interval over "
    title += f"{table.seeds} seeds"
    fig.suptitle(textwrap.fill(title, width=48 * cols))  # one panel is narrower than the title
    fig.tight_layout(rect=(0, 0.06, 1, 0.97))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        fig.savefig(path, format="png", dpi=100)


# ---------------------------------------------------------------------------
# The field's statistics over a suite's tasks (jaxmarl_core.stats)


class SuiteScores(NamedTuple):
    """Every row's scores on the tasks all rows finished.

    ``rows``: our algorithms (library order), then the peers' rows;
    ``games``: the tasks every row has; ``final``: row -> float[R, T], the
    training episodes' return over the last 10% of training per run and task;
    ``curves``: row -> float[R, T, K], that return at each logging step;
    ``steps``: int[K]; ``left_out``: rows without every task (not aggregated)."""

    rows: list[str]
    games: list[str]
    final: dict[str, np.ndarray]
    curves: dict[str, np.ndarray]
    steps: np.ndarray
    left_out: list[str]


def _rows(table: TableResult) -> list[str]:
    ours = [a for a in list_algos() if any(a == c[0] for c in table.cells)]
    peers = sorted({a for a, _ in table.cells if ":" in a})
    return ours + peers


def suite_scores(table: TableResult) -> SuiteScores:
    """The score matrices the statistics are taken over (see :class:`SuiteScores`):
    rows with a final score on every shared task (a row whose runs ended no
    training episode in the last 10% has none), curves where every point is
    finite and on the first row's logging steps."""
    rows = _rows(table)
    games = [g for g in table.spec.games if any(g == c[1] for c in table.cells)]
    shared = [g for g in games if all((r, g) in table.cells for r in rows)]
    games = shared or games  # the tasks every row has, if any
    final, curves = {}, {}
    for r in rows:
        cells = [table.cells.get((r, g)) for g in games]
        if any(c is None for c in cells):
            continue
        runs = min(c.final_train_per_seed.shape[0] for c in cells)
        scores = np.stack([c.final_train_per_seed[:runs] for c in cells], axis=1)
        if not np.all(np.isfinite(scores)):
            continue
        final[r] = scores
        if len({c.train_curve.shape[1] for c in cells}) == 1:
            curve = np.stack([c.train_curve[:runs] for c in cells], axis=1)
            if np.all(np.isfinite(curve)):
                curves[r] = curve
    steps = table.cells[(next(iter(final)), games[0])].curve_steps if final else np.zeros(0)
    # One x axis: rows whose curves have other logging steps are left out of the curves.
    curves = {
        r: c
        for r, c in curves.items()
        if np.array_equal(table.cells[(r, games[0])].curve_steps, steps)
    }
    return SuiteScores(rows, games, final, curves, steps, [r for r in rows if r not in final])


def greedy_scores(table: TableResult, rows: list[str]) -> dict[str, np.ndarray]:
    """row -> float[R, T]: the final greedy return per run on the tasks every row
    with greedy scores has (rows with a NaN among them are left out)."""
    finals = {
        r: {g: c.final_per_seed for (row, g), c in table.cells.items() if row == r} for r in rows
    }
    finals = {
        r: f for r, f in finals.items() if f and all(np.all(np.isfinite(v)) for v in f.values())
    }
    games = [g for g in table.spec.games if finals and all(g in f for f in finals.values())]
    if not games:
        return {}
    runs = min(f[g].shape[0] for f in finals.values() for g in games)
    return {r: np.stack([f[g][:runs] for g in games], axis=1) for r, f in finals.items()}


def suite_statistics(table: TableResult, reps: int = 2000) -> dict[str, Any]:
    """Per task, each row's mean final return with a 95% bootstrap interval (and
    our rows' absolute metric; the final greedy return of every row that has one,
    and, where a peer is scored by its greedy tests, the probability of
    improvement between greedy scores); across tasks, min-max normalised scores' IQM,
    mean, median and optimality gap with 95% stratified-bootstrap intervals, and
    the probability of improvement of every row over every other (rliable, as
    Gorsane et al. 2022 and Agarwal et al. 2021 prescribe). Plain data."""
    from jaxmarl_core import stats

    scores = suite_scores(table)
    interval = lambda v: list(stats.task_interval(np.asarray(v), reps=reps))
    finite = lambda v: v is not None and bool(np.all(np.isfinite(v)))
    names = ("per_task", "absolute_metric", "win_rate", "greedy", "greedy_win_rate")
    found: dict[str, dict[str, dict[str, Any]]] = {n: {r: {} for r in scores.rows} for n in names}
    wall: dict[str, dict[str, float]] = {r: {} for r in scores.rows}
    for r in scores.rows:
        for g in table.spec.games:
            cell = table.cells.get((r, g))
            if cell is None:
                continue
            wall[r][g] = cell.wall_seconds
            greedy_won = None if cell.eval_win_curve is None else cell.eval_win_curve[:, -1]
            for name, runs in zip(
                names,
                (
                    None if cell.train_curve is None else cell.final_train_per_seed,
                    cell.absolute_per_seed,
                    cell.final_win_per_seed,
                    cell.final_per_seed,
                    greedy_won,
                ),
                strict=True,
            ):
                # Training returns as they are (NaN where no episode ended); the rest where finite.
                if runs is not None and (name == "per_task" or finite(runs)):
                    found[name][r][g] = interval(runs)
    out: dict[str, Any] = {
        "score": "training episodes' return over the last 10% of training, per run",
        "greedy_score": (
            "the greedy policy's return at the last logging step, per run (ours: the mean "
            "of its evaluation episodes; a peer scored by its script's greedy tests: theirs)"
        ),
        "interval": "95% bootstrap (rliable), over runs",
        **{name: {r: v for r, v in found[name].items() if v} for name in names},
        "wall_seconds": wall,
        "aggregated_tasks": scores.games,
        "not_aggregated": scores.left_out,
    }
    # Between greedy scores only where a row has no training score (a peer scored
    # by its greedy tests): otherwise the training scores' pairs above say it, and
    # each pair costs rliable seconds (182 pairs in a 14-row table).
    pairs = lambda runs: {
        f"{x} > {y}": list(v)
        for (x, y), v in stats.probability_of_improvement(runs, reps=reps).items()
    }
    greedy = greedy_scores(table, scores.rows)
    if len(greedy) > 1 and any(r in greedy for r in scores.left_out):
        out["greedy_probability_of_improvement"] = pairs(greedy)
    if scores.final:
        # On the figures' scale: bounds over the final scores and the curves.
        normalised = stats.normalise_together(scores.final, scores.curves).scores
        out["aggregates"] = {
            r: {name: list(v) for name, v in agg.items()}
            for r, agg in stats.aggregates(normalised, reps=reps).items()
        }
        if len(scores.final) > 1:
            out["probability_of_improvement"] = pairs(scores.final)
    return out


def _grid(rows: dict[str, dict[str, Any]], games: list[str], fmt) -> list[str]:
    """A markdown grid: one line per row, one column per game, ``fmt(value)`` in each."""
    lines = ["| row | " + " | ".join(games) + " |", "|---" * (len(games) + 1) + "|"]
    for r, row in rows.items():
        lines.append(
            f"| {r} | " + " | ".join(fmt(row[g]) if g in row else "" for g in games) + " |"
        )
    return lines


def statistics_markdown(table: TableResult, statistics: dict[str, Any]) -> list[str]:
    """``table.md``'s lines for the field's statistics."""
    games = [g for g in table.spec.games if any(g in v for v in statistics["per_task"].values())]
    fmt = lambda v: f"{v[0]:.4g} [{v[1]:.4g}, {v[2]:.4g}]"
    walls = [
        s for row in statistics["wall_seconds"].values() for s in row.values() if math.isfinite(s)
    ]
    # Cells of a few minutes (the matrix games') in seconds, not as 0.00 hours.
    unit, scale = ("CPU-hours", 3600) if max(walls, default=0) >= 360 else ("CPU-seconds", 1)
    places = 2 if scale > 1 else 0
    wall = lambda s: f"{s / scale:.{places}f}" if math.isfinite(s) else ""
    lines = [
        "## Final return per task: mean [95% bootstrap interval] over runs",
        "",
        "The training episodes' return over the last 10% of training, the score every "
        "row (ours and the peers' own trainers) shares but a peer scored by its greedy "
        "tests (below).",
        "",
        *_grid(statistics["per_task"], games, fmt),
    ]
    if statistics.get("win_rate"):
        lines += [
            "",
            "## Final win rate per task: mean [95% bootstrap interval] over runs",
            "",
            "The fraction of training episodes won over the last 10% of training (the "
            "peers' as their scripts log it).",
            "",
            *_grid(statistics["win_rate"], games, fmt),
        ]
    if statistics["absolute_metric"]:
        episodes = table.spec.evaluation.get("absolute_episodes", 0)
        lines += [
            "",
            f"## Absolute metric: the best evaluation's greedy policy on {episodes} episodes, "
            "mean [95% interval]",
            "",
            *_grid(statistics["absolute_metric"], games, fmt),
        ]
    if statistics.get("greedy"):
        lines += [
            "",
            "## Final greedy return per task: mean [95% bootstrap interval] over runs",
            "",
            "The greedy policy at the last logging step: ours the mean of its evaluation "
            "episodes; a peer whose logged training return is not an episodes' return (its "
            "records' `score` is `greedy`) its script's own greedy test, and only here.",
            "",
            *_grid(statistics["greedy"], games, fmt),
        ]
    if statistics.get("greedy_win_rate"):
        lines += ["", "## Final greedy win rate per task", ""]
        lines += _grid(statistics["greedy_win_rate"], games, fmt)
    if "greedy_probability_of_improvement" in statistics:
        lines += ["", "## Probability of improvement of the final greedy return", ""]
        pairs = statistics["greedy_probability_of_improvement"].items()
        lines += [f"- {k}: {fmt(v)}" for k, v in pairs]
    lines += [
        "",
        f"## Wall-clock per cell (all seeds, compiling included): {unit}",
        "",
        *_grid(statistics["wall_seconds"], games, wall),
    ]
    if "aggregates" in statistics:
        left_out = statistics["not_aggregated"]
        lines += [
            "",
            "## Across tasks: min-max normalised final return, point [95% stratified "
            "bootstrap interval]",
            "",
            f"Tasks: {', '.join(statistics['aggregated_tasks'])}"
            + (
                f"; rows not aggregated (no training score on every task): {', '.join(left_out)}"
                if left_out
                else ""
            )
            + ".",
            "",
            "| row | IQM | mean | median | optimality gap |",
            "|---|---|---|---|---|",
        ]
        for r, agg in statistics["aggregates"].items():
            names = ("iqm", "mean", "median", "optimality_gap")
            lines.append(f"| {r} | " + " | ".join(fmt(agg[k]) for k in names) + " |")
    if "probability_of_improvement" in statistics:
        lines += ["", "## Probability of improvement P(X > Y) [95% interval]", ""]
        lines += [f"- {k}: {fmt(v)}" for k, v in statistics["probability_of_improvement"].items()]
    return lines + [""]


def marl_eval_records(table: TableResult) -> list[Any]:
    """Every run of every cell as a :class:`jaxmarl_core.stats.RunRecord`: our
    rows' greedy evaluation return at each logging step (the mean of its
    episodes) and their absolute metric; a peer's training return at each
    logging step (or its greedy tests, where they are its score), for runs where
    it is finite."""
    from jaxmarl_core.stats import RunRecord

    records = []
    for (row, game), cell in sorted(table.cells.items()):
        # A peer's training return, unless its score is its greedy tests.
        curve = cell.curve if cell.train_curve is None or ":" not in row else cell.train_curve
        if curve is None:
            continue
        env, _, task = game.rpartition(":")
        for seed in range(curve.shape[0]):
            if not np.all(np.isfinite(curve[seed])):
                continue
            absolute = cell.absolute_per_seed
            records.append(
                RunRecord(
                    env=env or table.spec.name,
                    task=task,
                    algo=row,
                    seed=seed,
                    steps=cell.curve_steps,
                    returns=curve[seed][:, None],
                    absolute=None if absolute is None else absolute[seed : seed + 1],
                    elapsed=None,
                )
            )
    return records


def write_table_dir(out: Path, table: TableResult, definition: dict[str, Any]) -> None:
    """``table.md``, ``table.csv``, ``curves.png`` and ``table.json`` from every
    finished cell (written through a temporary folder, then moved)."""
    from jaxmarl_core.sweeps import staged, write_csv

    report = {
        **definition,
        "cells": len(table.cells),
        "programs": [p._asdict() for p in table.programs],
        "compile_count": len(table.programs),
        "compile_seconds": sum(p.compile_seconds for p in table.programs),
        "run_seconds": sum(p.run_seconds for p in table.programs),
        "wall_seconds": table.wall_seconds,
        "skipped_cells": [list(c) for c in table.skipped],
    }
    from jaxmarl_core import stats

    report["published_budgets"] = dict(table.spec.published_budgets or table.spec.budgets)
    if table.statistics is not None:
        report["statistics"] = table.statistics
        report["cells_detail"] = {
            f"{row} | {game}": {
                "env_steps": cell.env_steps,
                "seeds": int(cell.final_train_per_seed.shape[0]),
                "wall_seconds": cell.wall_seconds,
                "cpu_hours": cell.wall_seconds / 3600,
                "final_return_per_seed": cell.final_train_per_seed.tolist(),
                "final_greedy_per_seed": cell.final_per_seed.tolist(),
                "absolute_per_seed": None
                if cell.absolute_per_seed is None
                else cell.absolute_per_seed.tolist(),
            }
            for (row, game), cell in sorted(table.cells.items())
        }
    with staged(out, last="table.json") as tmp:
        write_csv(tmp / "table.csv", table_rows(table))
        (tmp / "table.md").write_text(table_markdown(table))
        plot_table(tmp / "curves.png", table)
        records = marl_eval_records(table)
        if records:
            (tmp / "marl_eval.json").write_text(json.dumps(stats.marl_eval_json(records)) + "\n")
        scores = suite_scores(table)
        if scores.final:
            stats.write_figures(  # normalised as the statistics are (normalise_together)
                tmp / "figures",
                scores.final,
                curves=scores.curves or None,
                steps=scores.steps if scores.curves else None,
            )
        (tmp / "table.json").write_text(json.dumps(report, indent=2) + "\n")
