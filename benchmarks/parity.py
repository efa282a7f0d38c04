"""The peers' own trainers on a suite's tasks, beside ours: their learning curves
and wall-clock, written where ``jaxmarl-core table`` reads them as extra rows.

    python benchmarks/parity.py --peer jaxmarl --repo /tmp/jaxmarl-src \\
        --suite mpe --algos ippo,mappo --tasks jaxmarl:MPE_simple_spread_v3 --seeds 5 \\
        --budget 1.0 --out tables/mpe --core 1
    jaxmarl-core table mpe algos=ippo tasks=jaxmarl:MPE_simple_spread_v3 out=tables/mpe
    python benchmarks/parity.py --suite mpe --record tables/mpe   # into benchmarks/results

    # A cell too long for one sitting, trained in seed groups and put together
    # (on a CPU each seed is bit for bit what one run of all the seeds trains):
    jaxmarl-core table mpe algos=mappo seeds=2 first_seed=0 out=tables/s01
    jaxmarl-core table mpe algos=mappo seeds=3 first_seed=2 out=tables/s24
    python benchmarks/parity.py --suite mpe --merge tables/mpe5 tables/s01 tables/s24
    # A recorded table as a table directory again (to merge more seeds into it):
    python benchmarks/parity.py --restore benchmarks/results/parity-mpe-cpu.json tables/mpe

    python benchmarks/parity.py --peer mava --repo /tmp/mava-src --commit 57c8e64 \\
        --suite mava --algos ippo,mappo --tasks lbf-2s-8x8-2p-2f-coop,rware-tiny-2ag \\
        --seeds 5 --budget 1.0 --out tables/mava --core 1
    jaxmarl-core table mava algos=ippo,mappo tasks=lbf-2s-8x8-2p-2f-coop out=tables/mava

Each (peer trainer, task, seed) is one process of the peer's own Python
(``--python``), pinned with ``taskset -c CORE``; it imports the peer's script
from the checkout where it lies (nothing of the peer is copied into this
repository), runs its ``make_train`` with the settings of the peer's own
config file (only ``TOTAL_TIMESTEPS``, ``SEED`` and ``NUM_SEEDS`` are set, and
the environment), and records every value the script logs through ``wandb``
(a recorder stands in for ``wandb``; its logging is a host callback in the
script, so its cost stays in the peer's time). The per-update returns are
averaged over the same number of logging intervals as our runs (``num_logs``)
and written to ``OUT/peers/<peer>:<algo>/<task>/seed_<k>.json``; a seed whose
file exists is skipped, so a re-run finishes the rest.

Returns are converted to our units: JaxMARL's ``MPELogWrapper`` multiplies
every agent's reward by the number of agents ("as per the on-policy
codebase"), ours reports the mean over agents, so its returns are divided by
the number of agents (``units`` in each file says so). SMAX's win rate is
recorded where the script logs it, and the script's own greedy tests
(``greedy_return``, ``greedy_win_rate``) where it runs them. Each record says
which curve is the run's score (``score``): ``training`` (``episode_return``),
or ``greedy`` for JaxMARL's Q-learning scripts, whose logged training return
is not an episodes' return (``QL_CAVEAT``); ``jaxmarl-core table`` then sets
them beside our greedy evaluations only.

Mava (``--peer mava``, suite ``mava``): its feed-forward Anakin systems
``mava.systems.ppo.anakin.ff_ippo`` and ``ff_mappo``, imported from the
checkout (``peers.import_mava``: stand-ins for the modules of environment
families Mava wraps that are missing here), with its own default config
composed by hydra (``ff_ippo`` / ``ff_mappo`` with ``env=lbf`` or
``env=rware`` and the task's ``env/scenario``); only ``system.total_timesteps``,
``system.seed`` and the scenario are set. The worker builds the environment
and learner as Mava's ``run_experiment`` does and calls its learner once per
logging interval (``num_updates_per_eval`` updates per call); Mava's own
evaluation is not run. The returns recorded are those of the training episodes
that ended in each interval (``episode_metrics``: ``episode_return`` where
``is_terminal_step``), NaN where none ended. Mava's ``RecordEpisodeMetrics``
sums the mean over agents of each step's reward, and Mava gives every agent the
team reward (LBF: the sum of the agents' rewards; RWARE: the shared reward), so
its return is the team return, as ours. A checkout from ``git archive`` has
no ``.git``: give its commit with ``--commit``.

``--budget`` scales the suite's budget (as ``budget=`` of ``jaxmarl-core
table``): 1e7 env steps for mpe and smax, 2e7 for mava.
"""

# Only the standard library at the top: the workers run under the peer's Python.
from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import subprocess
import sys
import time
import types
from pathlib import Path
from typing import NamedTuple


class PeerTrainer(NamedTuple):
    """A peer's trainer: its script and config (relative to the checkout), the
    key its logged dict carries the return under, and how the metric scales to
    ours (divide by the number of agents, or not). JaxMARL's Q-learning scripts
    merge their algorithm's file over a common ``base_config`` and take the
    environment as ``make_train(config, env)`` (``env_from_config``)."""

    script: str
    config: str
    return_key: str
    per_agent_times_n: bool
    win_key: str | None = None
    base_config: str | None = None
    caveat: str | None = None  # what the logged return is not, written into every record
    # Which of the record's curves is the run's score: "training" (episode_return,
    # the training episodes' return) or "greedy" (greedy_return, the script's own
    # greedy tests), for a script whose logged return is not an episodes' return.
    score: str = "training"

    def files(self, task: str) -> list[str]:
        """The checkout's files this trainer needs (relative to the checkout)."""
        return [f for f in (self.script, self.config, self.base_config) if f is not None]


class MavaTrainer(NamedTuple):
    """One of Mava's systems: its module, its default config's name (in
    ``mava/configs/default``), and whether its environment carries the global
    state (``environments.make(config, add_global_state=...)`` in the module's
    ``run_experiment``)."""

    module: str
    config: str
    global_state: bool

    @property
    def script(self) -> str:
        return self.module.replace(".", "/") + ".py"

    def files(self, task: str) -> list[str]:
        files = [self.script, f"mava/configs/default/{self.config}.yaml"]
        if task in TASKS["mava"]:
            env, _, scenario = TASKS["mava"][task].partition("/")
            files += [f"mava/configs/env/{env}.yaml", f"mava/configs/env/scenario/{scenario}.yaml"]
        return files


# JaxMARL snapshot c793d09 (jaxmarl 0.2.0): baselines/IPPO, MAPPO and QLearning.
JAXMARL = {
    ("ippo", "mpe"): PeerTrainer(
        "baselines/IPPO/ippo_ff_mpe.py",
        "baselines/IPPO/config/ippo_ff_mpe.yaml",
        "returned_episode_returns",
        per_agent_times_n=True,
    ),
    ("mappo", "mpe"): PeerTrainer(
        "baselines/MAPPO/mappo_rnn_mpe.py",
        "baselines/MAPPO/config/mappo_homogenous_rnn_mpe.yaml",
        "returns",
        per_agent_times_n=True,
    ),
    ("pqn_vdn", "mpe"): PeerTrainer(
        "baselines/QLearning/pqn_vdn_ff.py",
        "baselines/QLearning/config/alg/pqn_vdn_ff_mpe.yaml",
        "returned_episode_returns",
        per_agent_times_n=True,
        base_config="baselines/QLearning/config/config.yaml",
    ),
    ("pqn_vdn", "smax"): PeerTrainer(
        "baselines/QLearning/pqn_vdn_rnn.py",
        "baselines/QLearning/config/alg/pqn_vdn_rnn_smax.yaml",
        "returned_episode_returns",
        per_agent_times_n=False,
        win_key="returned_won_episode",
        base_config="baselines/QLearning/config/config.yaml",
    ),
    ("ippo", "smax"): PeerTrainer(
        "baselines/IPPO/ippo_rnn_smax.py",
        "baselines/IPPO/config/ippo_rnn_smax.yaml",
        "returns",
        per_agent_times_n=False,
        win_key="win_rate",
    ),
    ("mappo", "smax"): PeerTrainer(
        "baselines/MAPPO/mappo_rnn_smax.py",
        "baselines/MAPPO/config/mappo_homogenous_rnn_smax.yaml",
        "returns",
        per_agent_times_n=False,
        win_key="win_rate",
    ),
}
# JaxMARL's recurrent Q-learning (iql_rnn.py, vdn_rnn.py, qmix_rnn.py) shares one
# config file per environment family: ql_rnn_mpe.yaml and ql_rnn_smax.yaml.
QL_CAVEAT = (
    "not the episodes' return: these scripts reset their environments at every update "
    "and log the plain mean over the rollout's steps of the log wrapper's last finished "
    "return, which is 0 until the rollout's first episode ends (on MPE, 26-step rollouts "
    "of 25-step episodes, about 1/26 of the return); compare greedy_return, their greedy "
    "tests over the episodes that ended"
)
for _algo, _script in (("idqn", "iql_rnn"), ("vdn", "vdn_rnn"), ("qmix", "qmix_rnn")):
    for _suite, _win in (("mpe", None), ("smax", "returned_won_episode")):
        JAXMARL[(_algo, _suite)] = PeerTrainer(
            f"baselines/QLearning/{_script}.py",
            f"baselines/QLearning/config/alg/ql_rnn_{_suite}.yaml",
            "returned_episode_returns",
            per_agent_times_n=_suite == "mpe",
            win_key=_win,
            base_config="baselines/QLearning/config/config.yaml",
            caveat=QL_CAVEAT,
            score="greedy",
        )
# Mava snapshot 57c8e64 (October 2024): the feed-forward Anakin PPO systems.
MAVA = {
    ("ippo", "mava"): MavaTrainer("mava.systems.ppo.anakin.ff_ippo", "ff_ippo", False),
    ("mappo", "mava"): MavaTrainer("mava.systems.ppo.anakin.ff_mappo", "ff_mappo", True),
}
PEERS = {"jaxmarl": JAXMARL, "mava": MAVA}
# Our task names in each suite -> the peer's ENV_NAME (and map, for SMAX; Mava:
# its env config and scenario config, env/scenario).
TASKS = {
    "mpe": {
        "jaxmarl:MPE_simple_spread_v3": "MPE_simple_spread_v3",
        "jaxmarl:MPE_simple_reference_v3": "MPE_simple_reference_v3",
        "jaxmarl:MPE_simple_speaker_listener_v4": "MPE_simple_speaker_listener_v4",
    },
    "smax": {
        f"jaxmarl:smax-{m}": f"HeuristicEnemySMAX/{m}"
        for m in ("3m", "2s3z", "3s5z", "6h_vs_8z", "5m_vs_6m", "3s5z_vs_3s6z")
    },
    "mava": {
        **{
            f"lbf-{s}": f"lbf/{s}"
            for s in ("2s-8x8-2p-2f-coop", "8x8-2p-2f-coop", "2s-10x10-3p-3f", "15x15-4p-3f")
        },
        **{f"rware-{s}": f"rware/{s}" for s in ("tiny-2ag", "tiny-4ag", "small-4ag")},
    },
}


class Recorder(types.ModuleType):
    """Stands in for ``wandb``: keeps every dict logged, as floats."""

    def __init__(self) -> None:
        super().__init__("wandb")
        self.records: list[dict] = []

    def log(self, data: dict, *args, **kwargs) -> None:
        import numpy as np

        flat = {}
        for key, value in data.items():
            try:
                flat[key] = float(np.mean(np.asarray(value)))
            except (TypeError, ValueError):
                continue
        self.records.append(flat)

    def init(self, *args, **kwargs) -> None:
        return None


def check_peer(
    peer: str, repo: str | None, algos: list[str], suite: str, tasks: list[str] = ()
) -> list[str]:
    """The peer's files this run needs; exits with one line naming what is missing."""
    if peer not in PEERS:
        sys.exit(f"parity: unknown peer {peer!r}; peers: {', '.join(PEERS)}")
    if not repo or not Path(repo).is_dir():
        sys.exit(f"parity: the {peer} checkout {repo!r} is missing; give --repo PATH")
    unknown = [a for a in algos if (a, suite) not in PEERS[peer]]
    if unknown:
        known = sorted({a for a, s in PEERS[peer] if s == suite})
        sys.exit(
            f"parity: {peer} has no trainer here for {', '.join(unknown)} on suite {suite!r}; "
            f"known: {', '.join(known) or '(none)'}"
        )
    trainers = [PEERS[peer][(a, suite)] for a in algos]
    needed = dict.fromkeys(f for t in trainers for task in tasks or [""] for f in t.files(task))
    missing = [str(Path(repo) / f) for f in needed if not (Path(repo) / f).is_file()]
    if missing:
        sys.exit(f"parity: the {peer} checkout lacks {', '.join(missing)}")
    return algos


def whole_updates(steps: int, steps_per_update: int, logs: int) -> tuple[int, int]:
    """As ours: whole updates, a whole number of them per logging interval.
    Returns (updates per logging interval, logging intervals)."""
    if steps < steps_per_update:
        raise RuntimeError(f"{steps} env steps is less than one update ({steps_per_update})")
    return max(1, steps // steps_per_update // logs), min(logs, steps // steps_per_update)


def run_record(
    peer: str,
    algo: str,
    suite: str,
    task: str,
    seed: int,
    per_log: int,
    steps_per_update: int,
    returns: list[float],
    updates: int,
) -> dict:
    """What every peer's record of one seed starts with: the run, and its return
    at the end of each logging interval of ``per_log`` updates."""
    return {
        "peer": peer,
        "algo": f"{peer}:{algo}",
        "suite": suite,
        "task": task,
        "seed": seed,
        "env_steps": [int((i + 1) * per_log * steps_per_update) for i in range(len(returns))],
        "episode_return": [float(x) for x in returns],
        "updates": updates,
        "env_steps_total": updates * steps_per_update,
    }


def worker(
    repo: str, peer: str, algo: str, suite: str, task: str, seed: int, steps: int, logs: int
) -> dict:
    """One seed of the peer's trainer; returns the record written for it."""
    import importlib.util

    import jax
    import numpy as np

    trainer = PEERS[peer][(algo, suite)]
    recorder = Recorder()
    sys.modules["wandb"] = recorder
    if "hydra" not in sys.modules:  # the script is a hydra entry point; main is not called
        try:
            import hydra  # noqa: F401
        except ImportError:
            stand_in = types.ModuleType("hydra")
            stand_in.main = lambda **k: lambda f: f
            sys.modules["hydra"] = stand_in
    script = Path(repo) / trainer.script
    spec = importlib.util.spec_from_file_location(script.stem, script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    config = read_config(Path(repo) / trainer.config)
    if trainer.base_config is not None:  # the script's own merge: {**config, **config["alg"]}
        config = {**read_config(Path(repo) / trainer.base_config), **config}
        config["WANDB_MODE"] = "online"  # its callback logs only then (to the recorder)
    steps_per_update = config["NUM_ENVS"] * config["NUM_STEPS"]
    per_log, logs = whole_updates(steps, steps_per_update, logs)
    env_name, _, map_name = TASKS[suite][task].partition("/")
    if map_name:  # SMAX: the scenario is the config's MAP_NAME
        config["MAP_NAME"] = map_name
    config.update(
        ENV_NAME=env_name,
        TOTAL_TIMESTEPS=per_log * logs * steps_per_update,
        SEED=seed,
        NUM_SEEDS=1,
    )
    config.setdefault("ENV_KWARGS", {})
    settings = {k: v for k, v in config.items() if k.isupper()}
    if trainer.base_config is not None:
        env, _ = module.env_from_config(copy.deepcopy(config))
        train = jax.jit(module.make_train(config, env))
    else:
        train = jax.jit(module.make_train(config))
    key = jax.random.PRNGKey(seed)
    t0 = time.perf_counter()
    compiled = train.lower(key).compile()
    compile_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    jax.block_until_ready(compiled(key))
    train_seconds = time.perf_counter() - t0
    import jaxmarl

    num_agents = (
        jaxmarl.make(config["ENV_NAME"], **config["ENV_KWARGS"]).num_agents
        if trainer.per_agent_times_n
        else 1
    )
    scale = 1.0 / num_agents
    per_update = np.array([r[trainer.return_key] for r in recorder.records]) * scale
    updates = len(per_update)
    if updates != per_log * logs:
        raise RuntimeError(f"the script logged {updates} updates, not {per_log * logs}")
    # nanmean: an update in which no episode ended logs NaN (SMAX's masked means).
    returns = np.nanmean(per_update.reshape(logs, per_log), axis=1)
    record = run_record(
        peer, algo, suite, task, seed, per_log, steps_per_update, list(returns), updates
    )
    record |= {
        "compile_seconds": compile_seconds,
        "train_seconds": train_seconds,
        "wall_seconds": compile_seconds + train_seconds,
        "units": (
            f"{trainer.return_key} logged by the script, divided by the {num_agents} "
            "agents (its log wrapper multiplies each reward by the number of agents)"
            if trainer.per_agent_times_n
            else f"{trainer.return_key} logged by the script"
        )
        + ("" if trainer.caveat is None else f"; {trainer.caveat}"),
        "script": trainer.script,
        "config": trainer.config,
        "settings": settings,
        "score": trainer.score,
    }
    if trainer.win_key is not None:
        wins = np.array([r[trainer.win_key] for r in recorder.records])
        record["win_rate"] = [float(x) for x in np.nanmean(wins.reshape(logs, per_log), axis=1)]
    # The script's own greedy tests, where it logs them (JaxMARL's Q-learning
    # scripts: every 5% of training, over the episodes that ended), at the last
    # update of each logging interval, in our units.
    test_key = "test_" + trainer.return_key
    if recorder.records and test_key in recorder.records[0]:
        last = [recorder.records[(k + 1) * per_log - 1] for k in range(logs)]
        record["greedy_return"] = [float(r[test_key]) * scale for r in last]
        if trainer.win_key is not None and "test_" + trainer.win_key in last[0]:
            record["greedy_win_rate"] = [float(r["test_" + trainer.win_key]) for r in last]
    if trainer.score == "greedy" and "greedy_return" not in record:
        raise RuntimeError(f"{trainer.script} logged no greedy test ({test_key}), its score")
    return record


def worker_mava(
    repo: str, peer: str, algo: str, suite: str, task: str, seed: int, steps: int, logs: int
) -> dict:
    """One seed of Mava's system, set up as its ``run_experiment`` does; returns
    the record written for it."""
    import jax
    import numpy as np

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from peers import import_mava

    repo = str(Path(repo).resolve())  # imported from, and the working directory
    trainer = PEERS[peer][(algo, suite)]
    system, stubbed = import_mava(repo, trainer.module)
    from hydra import compose, initialize_config_dir
    from mava.utils import make_env as environments
    from mava.utils.total_timestep_checker import check_total_timesteps
    from omegaconf import OmegaConf

    os.chdir(repo)  # Mava's hydra search path (file://mava/configs) is relative to its root
    env_config, _, scenario = TASKS[suite][task].partition("/")
    overrides = [f"env={env_config}", f"env/scenario={scenario}"]
    with initialize_config_dir(str(Path(repo) / "mava/configs/default"), version_base="1.2"):
        config = compose(trainer.config, overrides=overrides)
    OmegaConf.set_struct(config, False)  # as Mava's hydra_entry_point
    config.logger.system_name = trainer.config
    config.system.seed = seed
    # run_experiment's set-up, without its evaluator, logger and checkpointer.
    env, _ = environments.make(config, add_global_state=trainer.global_state)
    key, _key_e, actor_key, critic_key = jax.random.split(
        jax.random.PRNGKey(config.system.seed), num=4
    )
    learn, _, state = system.learner_setup(env, (key, actor_key, critic_key), config)
    # As ours: whole updates, a whole number of them per logging interval.
    steps_per_update = (
        len(jax.devices())
        * config.system.rollout_length
        * config.system.update_batch_size
        * config.arch.num_envs
    )
    per_log, logs = whole_updates(steps, steps_per_update, logs)
    config.system.total_timesteps = per_log * logs * steps_per_update
    config = check_total_timesteps(config)  # num_updates from total_timesteps, as Mava's
    config.system.num_updates_per_eval = per_log  # one learner call per logging interval
    settings = OmegaConf.to_container(config, resolve=True)
    t0 = time.perf_counter()
    compiled = learn.lower(state).compile()
    compile_seconds = time.perf_counter() - t0
    sums, counts = [], []
    t0 = time.perf_counter()
    for _ in range(logs):
        output = compiled(state)
        state = output.learner_state
        # [devices, updates, update_batch_size, rollout_length, num_envs]
        ended = np.asarray(output.episode_metrics["is_terminal_step"])
        returns = np.asarray(output.episode_metrics["episode_return"])
        sums.append(float(returns[ended].sum()))
        counts.append(int(ended.sum()))
    jax.block_until_ready(state)
    train_seconds = time.perf_counter() - t0
    updates = per_log * logs
    if config.system.num_updates != updates:
        raise RuntimeError(f"Mava's num_updates is {config.system.num_updates}, not {updates}")
    # The mean return of the training episodes that ended in each interval.
    returns = [t / n if n else float("nan") for t, n in zip(sums, counts, strict=True)]
    return run_record(
        peer, algo, suite, task, seed, per_log, steps_per_update, returns, updates
    ) | {
        "episodes": counts,
        "compile_seconds": compile_seconds,
        "train_seconds": train_seconds,
        "wall_seconds": compile_seconds + train_seconds,
        "units": (
            "episode_return of Mava's RecordEpisodeMetrics over the training episodes that "
            "ended: the sum of the mean over agents of each step's reward, every agent "
            "receiving the team reward (the team return, as ours)"
        ),
        "script": trainer.script,
        "config": f"mava/configs/default/{trainer.config}.yaml with {' '.join(overrides)}",
        "settings": settings,
        "stubbed": stubbed,
        "score": "training",
    }


WORKERS = {"jaxmarl": worker, "mava": worker_mava}


def read_config(path: Path) -> dict:
    """The peer's config as its script sees it: OmegaConf reads YAML 1.2
    numbers (``2e-3`` is a float there, a string to PyYAML)."""
    from omegaconf import OmegaConf

    return OmegaConf.to_container(OmegaConf.load(path))


def seed_path(out: Path, peer: str, algo: str, task: str, seed: int) -> Path:
    return out / "peers" / f"{peer}:{algo}" / task / f"seed_{seed}.json"


def commit_of(repo: str) -> str:
    try:
        return subprocess.run(
            ["git", "-C", repo, "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def record_tables(tables: list[str], name: str, results: Path) -> Path:
    """Copies finished table directories' results into ``results``:
    ``parity-<name>-cpu.json`` (per table: its definition, statistics, every
    cell's per-run scores, seeds, env steps and wall-clock, the peers' runs, the
    machine, and our cells' run files: config.yaml, run.json, metrics.csv,
    summary.json, no checkpoints), ``parity-<name>-cpu/<budget>/`` (table.md,
    curves.png, figures/, marl_eval.json); enough for :func:`restore_table` to
    make a table directory of it again."""
    import shutil

    report = {
        "suite": name,
        "machine": {
            "processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
        },
        "tables": [],
    }
    for table in map(Path, tables):
        found = table / "table.json"
        if not found.is_file():
            sys.exit(f"parity: {table} is not a finished table directory (no table.json)")
        data = json.loads(found.read_text())
        label = f"budget-{data['budget']}"
        target = results / f"parity-{name}-cpu" / label
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        for item in ("table.md", "curves.png", "marl_eval.json", "figures"):
            source = table / item
            if source.is_dir():
                shutil.copytree(source, target / item)
            elif source.is_file():
                shutil.copy2(source, target / item)
        peers = sorted((table / "peers").glob("*/*/seed_*.json"))
        data["peer_runs"] = [json.loads(p.read_text()) for p in peers]
        # Our cells' run files as text (task names hold ':', no name for a file).
        data["run_files"] = {
            f"{cell.parent.name}/{cell.name}": {
                f.name: f.read_text() for f in sorted(cell.iterdir()) if f.is_file()
            }
            for cell in sorted((table / "runs").glob("*/*"))
            if (cell / "summary.json").is_file()
        }
        data["files"] = str(target.relative_to(results))
        report["tables"].append(data)
    path = results / f"parity-{name}-cpu.json"
    path.write_text(json.dumps(report, indent=1) + "\n")
    return path


def restore_table(record: Path, out: Path, index: int = 0) -> Path:
    """The table directory ``record`` (a ``parity-<name>-cpu.json``) was made
    from, again at ``out``: its definition, our cells' run files (tables recorded
    with them) and the peers' runs, so that more seeds can join it
    (``--merge``) or a table run with the same arguments can finish it."""
    if out.exists():
        sys.exit(f"parity: {out} exists; --restore writes a new table directory")
    try:
        data = json.loads(record.read_text())["tables"][index]
    except (OSError, ValueError, KeyError, IndexError) as err:
        sys.exit(f"parity: {record} is not a parity record ({type(err).__name__}: {err})")
    out.mkdir(parents=True)
    for cell, files in data.get("run_files", {}).items():  # older records have none
        (out / "runs" / cell).mkdir(parents=True)
        for name, text in files.items():
            (out / "runs" / cell / name).write_text(text)
    for run in data["peer_runs"]:
        path = seed_path(out, run["peer"], run["algo"].split(":", 1)[1], run["task"], run["seed"])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(run, indent=1) + "\n")
    keys = ("table", "seeds", "first_seed", "budget", "budgets")
    (out / "table.json").write_text(json.dumps({k: data[k] for k in keys}, indent=2) + "\n")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--peer", default="jaxmarl")
    parser.add_argument("--repo", help="the peer's checkout")
    parser.add_argument("--python", default=sys.executable, help="the peer's Python")
    parser.add_argument(
        "--commit", help="the checkout's commit, where --repo has no .git (git archive)"
    )
    parser.add_argument("--suite", default="mpe")
    parser.add_argument("--algos", default="ippo")
    parser.add_argument("--tasks", default=None, help="comma-separated; default: every task")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument(
        "--budget",
        type=float,
        default=1.0,
        help="scales the suite's budget (1e7 env steps for mpe and smax, 2e7 for mava)",
    )
    parser.add_argument("--num-logs", type=int, default=50)
    parser.add_argument("--core", type=int, default=None, help="pin each worker to this core")
    parser.add_argument("--out", help="the table directory (OUT/peers/...)")
    parser.add_argument(
        "--record",
        nargs="+",
        metavar="TABLE_DIR",
        help="copy these finished tables' results into benchmarks/results (named --suite)",
    )
    parser.add_argument(
        "--merge",
        nargs="+",
        metavar="DIR",
        help="OUT TABLE_DIR TABLE_DIR...: one table (--suite) of the tables' seeds together",
    )
    parser.add_argument(
        "--restore",
        nargs=2,
        metavar=("RECORD_JSON", "OUT"),
        help="a recorded table (benchmarks/results/parity-*.json) as a table directory again",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        job = json.loads(args.worker)
        print(json.dumps(WORKERS[job["peer"]](**job)))
        return
    if args.record:
        print(record_tables(args.record, args.suite, Path(__file__).parent / "results"))
        return
    if args.restore:
        print(restore_table(Path(args.restore[0]), Path(args.restore[1])))
        return
    if args.merge:
        from jaxmarl_core.config import ConfigError
        from jaxmarl_core.tables import merge_tables

        try:
            merge_tables(args.suite, args.merge[1:], args.merge[0], progress=True)
        except ConfigError as err:
            sys.exit(f"parity: {err}")
        print(args.merge[0])
        return
    if not args.out:
        sys.exit("parity: give --out, the table directory the peers' rows go into")
    if args.suite not in TASKS:
        sys.exit(f"parity: unknown suite {args.suite!r}; suites: {', '.join(TASKS)}")
    tasks = list(TASKS[args.suite]) if args.tasks is None else args.tasks.split(",")
    unknown = [t for t in tasks if t not in TASKS[args.suite]]
    if unknown:
        sys.exit(
            f"parity: unknown task {unknown[0]!r} in suite {args.suite}; "
            f"tasks: {', '.join(TASKS[args.suite])}"
        )
    algos = check_peer(args.peer, args.repo, args.algos.split(","), args.suite, tasks)
    out = Path(args.out)
    # The table's own budgets, scaled as ``budget=`` of ``jaxmarl-core table`` does.
    from jaxmarl_core.tables import TABLES, budgets_of, family

    budgets = budgets_of(TABLES[args.suite], args.budget)
    commit = args.commit or commit_of(args.repo)
    for algo in algos:
        for task in tasks:
            for seed in range(args.first_seed, args.first_seed + args.seeds):
                path = seed_path(out, args.peer, algo, task, seed)
                if path.is_file():
                    print(f"parity: {path} was done before", file=sys.stderr)
                    continue
                job = dict(
                    repo=args.repo,
                    peer=args.peer,
                    algo=algo,
                    suite=args.suite,
                    task=task,
                    seed=seed,
                    steps=budgets[family(algo)],
                    logs=args.num_logs,
                )
                cmd = [args.python, __file__, "--worker", json.dumps(job)]
                if args.core is not None:
                    cmd = ["taskset", "-c", str(args.core), *cmd]
                done = subprocess.run(cmd, capture_output=True, text=True)
                if done.returncode != 0:
                    sys.exit(
                        f"parity: {args.peer}:{algo} on {task} seed {seed} failed:\n"
                        + done.stderr[-3000:]
                    )
                record = json.loads(done.stdout.strip().splitlines()[-1])
                record.update(
                    commit=commit,
                    budget=args.budget,
                    machine=platform.processor() or platform.machine(),
                    core=args.core,
                    load_at_start=os.getloadavg()[0],
                )
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(".tmp")
                tmp.write_text(json.dumps(record, indent=1) + "\n")
                tmp.replace(path)
                print(
                    f"parity: {args.peer}:{algo} {task} seed {seed}: final return "
                    f"{record['episode_return'][-1]:.2f}, {record['train_seconds']:.0f} s "
                    f"training, {record['compile_seconds']:.1f} s compiling",
                    file=sys.stderr,
                )


if __name__ == "__main__":
    main()
