"""Config resolution and validation."""

import jax.numpy as jnp
import pytest

import jaxmarl_core as jm
from jaxmarl_core.envs import MatrixGame


def test_defaults_split_static_and_traced():
    config = jm.make_config("idqn", env="climbing")
    assert config.lr == pytest.approx(3e-4)  # EPyMARL's IQL learning rate
    assert config.hidden_size == 128
    assert "lr" in config.hparams and "num_envs" not in config.hparams
    assert "num_envs" in config.static and "gamma" not in config.static
    assert all(v.dtype == jnp.float32 and v.shape == () for v in config.hparams.values())


def test_overrides_and_env_kwargs():
    config = jm.make_config(
        "idqn", env="climbing", lr=1e-3, num_envs=4, **{"env_kwargs.episode_length": 1}
    )
    assert config.lr == pytest.approx(1e-3) and config.num_envs == 4
    assert dict(config.env_kwargs) == {"episode_length": 1}
    assert config.replace(lr=2e-3).lr == pytest.approx(2e-3)


def test_env_instance():
    game = MatrixGame([[1, 0], [0, 2]], episode_length=3, name="tiny")
    config = jm.make_config("idqn", env=game)
    assert config.env_name == "tiny"


@pytest.mark.parametrize(
    "overrides, match",
    [
        ({"lr": -1.0}, r"lr=-1.0 is not allowed; lr must be a number with 0.0 < value"),
        ({"lr": 0}, r"lr=0"),
        ({"gamma": 1.5}, r"gamma=1.5 .* 0.0 <= value <= 1.0"),
        ({"num_envs": 2.5}, r"num_envs=2.5 .* an integer"),
        ({"num_envs": 0}, r"num_envs=0"),
        ({"double_q": "maybe"}, r"double_q='maybe' .* true or false"),
        ({"bogus": 1}, r"unknown config key 'bogus' for idqn"),
        ({"batch_size": 64, "buffer_size": 32}, r"batch_size=64 is larger than buffer_size=32"),
        ({"total_timesteps": 3, "num_envs": 8}, r"total_timesteps=3 is smaller"),
        ({"recurrent": "yes"}, r"recurrent='yes' .* true or false"),
        ({"lr": float("nan")}, r"lr=nan"),
    ],
)
def test_bad_values_name_key_value_and_range(overrides, match):
    with pytest.raises(ValueError, match=match):
        jm.make_config("idqn", env="climbing", **overrides)


@pytest.mark.parametrize(
    "algo, env, match",
    [
        ("nope", "climbing", r"unknown algorithm 'nope'"),
        ("idqn", "nope", r"unknown environment 'nope'"),
        ("idqn", "lbf-8x8-0p-2f", r"lbf-8x8-0p-2f"),
        ("idqn", "lbf-8x8-2p", r"malformed LBF name"),
    ],
)
def test_bad_algo_or_env(algo, env, match):
    with pytest.raises(ValueError, match=match):
        jm.make_config(algo, env=env)


def test_env_kwargs_typo():
    with pytest.raises(ValueError, match=r"episode_lenght"):
        jm.make_config("idqn", env="climbing", env_kwargs={"episode_lenght": 3})
