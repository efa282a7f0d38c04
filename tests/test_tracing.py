"""A program traces each of its pieces once: what Python traces twice, XLA compiles
twice (or the tracing alone costs seconds, as for Jumanji's LBF)."""

import collections

import pytest

import jaxmarl_core as jm
import jaxmarl_core.algos.actor_critic as actor_critic
import jaxmarl_core.algos.value_based as value_based
from jaxmarl_core.chunks import compile_programs
from jaxmarl_core.envs.matrix import MatrixGame


@pytest.fixture
def traces(monkeypatch):
    """Counts the Python calls of the environment's reset and step, and of the
    losses' inner functions, while programs are traced."""
    calls = collections.Counter()

    def counted(owner, name):
        inner = getattr(owner, name)

        def wrapper(*args, **kwargs):
            calls[name] += 1
            return inner(*args, **kwargs)

        monkeypatch.setattr(owner, name, wrapper)

    counted(MatrixGame, "reset")
    counted(MatrixGame, "step")
    counted(value_based, "loss_input")
    counted(actor_critic, "loss")
    return calls


def test_value_based_chunk_traces_env_and_loss_once(traces):
    """QMIX over 3 runs: the environment's reset once (the training environments
    and their reserves in one batch; the evaluation's reset shares it) and step
    once (training and evaluation share it); the gradient step once (the
    metrics' shapes of a skipped update come from the same trace)."""
    config = jm.make_config("qmix", env="climbing", total_timesteps=2_000, num_logs=2)
    compile_programs(config, 3)
    assert traces == {"reset": 1, "step": 1, "loss_input": 1}


def test_actor_critic_chunked_gradient_traces_loss_once(traces):
    """IPPO with 64 environments (several gradient chunks on a CPU): the loss is
    traced once for the chunks' shapes and their scan together."""
    config = jm.make_config("ippo", env="climbing", num_envs=64, total_timesteps=6_400, num_logs=2)
    rows = config.rollout_length * config.num_envs * 2  # T x B x N of one update
    assert rows > actor_critic.CPU_CHUNK_ROWS, "the test needs several chunks"
    compile_programs(config, 2)
    assert traces == {"reset": 1, "step": 1, "loss": 1}
