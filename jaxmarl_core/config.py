"""Configs: static structure apart from traced hyperparameters.

``make_config(algo, env=..., **overrides)`` resolves an algorithm's defaults,
applies overrides and validates every value. The result has two parts:

- static structure (``config.static``): shapes and control flow, such as
  ``num_envs``, ``rollout_length``, ``hidden_size``, ``buffer_size``; changing one
  compiles a new program;
- ``config.hparams``: a dict of float scalars (``lr``, ``gamma``, ...) that enter the
  program as traced values, so one compiled program serves every value and
  ``jax.vmap`` sweeps them.

Every key is declared once as a :class:`Param`, with its type, its range and a
line of documentation; the common keys are below, and each algorithm module adds
its own in ``PARAMS``.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import jax.numpy as jnp
import numpy as np
from jumanji.env import Environment

from jaxmarl_core.core.optim import OPTIMIZERS

ALGOS = (
    "idqn",
    "vdn",
    "qmix",
    "qtran",
    "ireinforce",
    "ia2c",
    "ippo",
    "maa2c",
    "mappo",
    "coma",
    "pac",
    "pqn",
    "pqn_vdn",
    "pqn_qmix",
)


# The largest integer value a key may take: integers become int32 in the compiled program.
INT32_MAX = int(np.iinfo(np.int32).max)


class ConfigError(ValueError):
    """A config value that is unknown, of the wrong type or out of range."""


@dataclasses.dataclass(frozen=True)
class Param:
    """A declared config key.

    Attributes:
        default: its default value.
        kind: ``int``, ``float``, ``bool`` or ``str``.
        doc: one line for the README and ``--help``.
        low, high: inclusive bounds, or None.
        low_open, high_open: make a bound exclusive.
        choices: allowed values of a ``str`` key.
        many: the value is a comma-separated set of ``choices`` (written back
            in the order of ``choices``, the first choice always in it).
        traced: a float that goes into ``hparams`` (traced) rather than ``static``.
    """

    default: Any
    kind: type
    doc: str
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple | None = None
    many: bool = False
    traced: bool = False

    def allowed(self) -> str:
        if self.choices is not None:
            return f"{'a comma-separated set' if self.many else 'one'} of {list(self.choices)}"
        if self.kind is bool:
            return "true or false"
        lo = "" if self.low is None else f"{self.low} {'<' if self.low_open else '<='} "
        hi = "" if self.high is None else f" {'<' if self.high_open else '<='} {self.high}"
        what = "an integer" if self.kind is int else "a number" if self.kind is float else "text"
        return f"{what} with {lo}value{hi}" if (lo or hi) else what

    def check(self, name: str, value: Any) -> Any:
        """Returns ``value`` converted to ``kind``, or raises ConfigError."""
        bad = ConfigError(f"{name}={value!r} is not allowed; {name} must be {self.allowed()}")
        if self.kind is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "false"):
                return value.lower() == "true"
            raise bad
        if self.kind is int:
            if isinstance(value, bool):
                raise bad
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            if not isinstance(value, int):
                raise bad
            if not -INT32_MAX <= value <= INT32_MAX:
                # Integer keys become int32 shapes and counters in the compiled program.
                raise ConfigError(
                    f"{name}={value!r} is not allowed; {name} must be {self.allowed()} "
                    f"and at most {INT32_MAX} in absolute value"
                )
        elif self.kind is float:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise bad
            try:
                value = float(value)
            except OverflowError:
                raise bad from None
            if not (math.isfinite(value) and self._in_bounds(value)):
                raise bad
            # Floats enter the program as float32: the rounded value must be allowed too
            # (1e39 would become inf, 1e-50 would become 0).
            with np.errstate(over="ignore", under="ignore"):
                as_float32 = float(np.float32(value))
            if not (math.isfinite(as_float32) and self._in_bounds(as_float32)):
                raise ConfigError(
                    f"{name}={value!r} is not allowed: as a float32 it is {as_float32}; "
                    f"{name} must be {self.allowed()}"
                )
        elif self.kind is str:
            if not isinstance(value, str):
                raise bad
            if self.many:
                names = {n.strip() for n in value.split(",") if n.strip()}
                if not names or not names <= set(self.choices):
                    raise bad
                return ",".join(c for c in self.choices if c == self.choices[0] or c in names)
            if self.choices is not None and value not in self.choices:
                raise bad
            return value
        if not self._in_bounds(value):
            raise bad
        return value

    def _in_bounds(self, value: float) -> bool:
        """Whether a number lies within ``low`` and ``high``."""
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            return False
        if self.high is not None and (value > self.high or (self.high_open and value == self.high)):
            return False
        return True


LOGGERS = ("csv", "tensorboard", "wandb", "marl_eval")


def lr_param(default: float) -> Param:
    """The ``lr`` key with an algorithm's own default."""
    return Param(
        default,
        float,
        "learning rate of the optimiser (Adam unless optimizer=radam)",
        low=0.0,
        low_open=True,
        traced=True,
    )


COMMON_PARAMS: dict[str, Param] = {
    "total_timesteps": Param(
        100_000, int, "environment steps over all parallel environments", low=1
    ),
    "num_envs": Param(8, int, "parallel training environments", low=1),
    "rollout_length": Param(1, int, "steps per environment between updates", low=1),
    "hidden_size": Param(64, int, "width of the hidden layers", low=1),
    "num_layers": Param(2, int, "hidden layers of each MLP", low=1),
    "param_sharing": Param(
        True, bool, "one parameter set for all agents (with an agent-id input: obs_agent_id)"
    ),
    "obs_agent_id": Param(
        True, bool, "with param_sharing, agents and critics read a one-hot agent id"
    ),
    "activation": Param(
        "relu",
        str,
        "hidden layers of agents and critics (the GRU's encoder); mixers keep ReLU",
        choices=("relu", "tanh"),
    ),
    "recurrent": Param(
        False, bool, "GRU agents (and V critics) with a hidden state per environment and agent"
    ),
    "num_eval_episodes": Param(8, int, "greedy evaluation episodes at each logging step", low=1),
    "num_logs": Param(50, int, "logging steps over the run", low=1),
    "absolute_episodes": Param(
        0,
        int,
        "greedy episodes that re-evaluate the best evaluation's policy at the end "
        "(absolute_return, Gorsane et al. 2022's absolute metric); 0 = off",
        low=0,
    ),
    "checkpoint_every": Param(
        10, int, "logging steps between checkpoints, and one at the end; 0 = none", low=0
    ),
    "keep_checkpoints": Param(2, int, "how many of the newest checkpoints to keep", low=1),
    "logger": Param(
        "csv",
        str,
        "where metrics go: metrics.csv always, and any of tensorboard, wandb, marl_eval",
        choices=LOGGERS,
        many=True,
    ),
    "wandb_project": Param("jaxmarl_core", str, "logger=wandb: the W&B project"),
    "wandb_group": Param("", str, "logger=wandb: the W&B group (empty: the run directory's name)"),
    "lr": lr_param(5e-4),
    "optimizer": Param(
        "adam",
        str,
        "the optimiser after gradient clipping: Adam, or RAdam (JaxMARL's Q-learning and PQN)",
        choices=tuple(OPTIMIZERS),
    ),
    "adam_eps": Param(
        1e-8,
        float,
        "epsilon of Adam's (RAdam's) denominator (PureJaxRL, JaxMARL and Mava PPO: 1e-5)",
        low=0.0,
    ),
    "gamma": Param(0.99, float, "discount factor", low=0.0, high=1.0, traced=True),
    "max_grad_norm": Param(
        10.0, float, "gradient clipping by global norm", low=0.0, low_open=True, traced=True
    ),
}


def algo_module(algo: str):
    """The module that implements ``algo``; ConfigError if unknown or not built yet."""
    if not isinstance(algo, str) or algo not in ALGOS:
        raise ConfigError(f"unknown algorithm {algo!r}; known: {', '.join(list_algos())}")
    try:
        return importlib.import_module(f"jaxmarl_core.algos.{algo}")
    except ModuleNotFoundError as err:
        if err.name != f"jaxmarl_core.algos.{algo}":
            raise
        raise ConfigError(
            f"algorithm {algo!r} is not available yet; available: {', '.join(list_algos())}"
        ) from None


def list_algos() -> list[str]:
    """Names of the algorithms this installation provides."""
    out = []
    for algo in ALGOS:
        try:
            importlib.import_module(f"jaxmarl_core.algos.{algo}")
        except ModuleNotFoundError as err:
            if err.name != f"jaxmarl_core.algos.{algo}":
                raise
            continue
        out.append(algo)
    return out


def params_of(algo: str) -> dict[str, Param]:
    """Every key ``algo`` accepts: the common ones updated with the algorithm's own."""
    return {**COMMON_PARAMS, **algo_module(algo).PARAMS}


@dataclasses.dataclass(frozen=True)
class Config:
    """A validated, frozen config. Read keys as attributes: ``config.num_envs``.

    Attributes:
        algo: algorithm name.
        env: registered environment name, or an environment instance.
        env_kwargs: the environment's own options.
        static: keys that shape the compiled program.
        hparams_defaults: traced float keys and their values.
    """

    algo: str
    env: Any
    env_kwargs: Mapping[str, Any]
    static: Mapping[str, Any]
    hparams_defaults: Mapping[str, float]

    @property
    def hparams(self) -> dict[str, jnp.ndarray]:
        """A fresh pytree of float32 scalars, the traced hyperparameters."""
        return {k: jnp.float32(v) for k, v in self.hparams_defaults.items()}

    @property
    def env_name(self) -> str:
        return self.env if isinstance(self.env, str) else getattr(self.env, "name", "custom")

    def __getattr__(self, name: str) -> Any:
        for part in ("static", "hparams_defaults"):
            values = object.__getattribute__(self, part)
            if name in values:
                return values[name]
        raise AttributeError(f"config has no key {name!r}")

    def to_dict(self) -> dict[str, Any]:
        """Plain data for ``config.yaml``."""
        return {
            "algo": self.algo,
            "env": self.env_name,
            "env_kwargs": dict(self.env_kwargs),
            **dict(self.static),
            **dict(self.hparams_defaults),
        }

    def replace(self, **overrides: Any) -> Config:
        """A new validated config with some keys changed."""
        values = {**self.static, **self.hparams_defaults, "env_kwargs": dict(self.env_kwargs)}
        values.update(overrides)
        return make_config(self.algo, env=self.env, **values)


def make_config(algo: str, env: str | Environment = "climbing", **overrides: Any) -> Config:
    """Resolves and validates a config.

    Args:
        algo: one of ``list_algos()``.
        env: a registered environment name or an environment instance.
        **overrides: any declared key; ``env_kwargs`` as a dict, or
            ``env_kwargs.<name>=value`` keys.

    Raises:
        ConfigError (a ValueError): naming the key, the value and what is allowed.
    """
    module = algo_module(algo)
    params = params_of(algo)
    if not (isinstance(env, str) or isinstance(env, Environment)):
        raise ConfigError(f"env must be an environment name or instance, got {env!r}")
    given_env_kwargs = overrides.pop("env_kwargs", None)
    if given_env_kwargs is None:
        given_env_kwargs = {}
    if not isinstance(given_env_kwargs, Mapping):
        raise ConfigError(
            f"env_kwargs={given_env_kwargs!r} is not allowed; env_kwargs must be a mapping "
            "of the environment's option names to values, e.g. {'episode_length': 1}"
        )
    env_kwargs = dict(given_env_kwargs)
    for key in [k for k in overrides if k.startswith("env_kwargs.")]:
        env_kwargs[key.split(".", 1)[1]] = overrides.pop(key)
    unknown = sorted(set(overrides) - set(params))
    if unknown:
        raise ConfigError(
            f"unknown config key {unknown[0]!r} for {algo}; known keys: "
            f"{', '.join(sorted(params))}, env_kwargs.<name>"
        )
    values = {name: p.check(name, overrides.get(name, p.default)) for name, p in params.items()}
    if values["total_timesteps"] < values["num_envs"] * values["rollout_length"]:
        raise ConfigError(
            f"total_timesteps={values['total_timesteps']} is smaller than one update's "
            f"num_envs * rollout_length = {values['num_envs'] * values['rollout_length']}"
        )
    if isinstance(env, str):
        from jaxmarl_core.envs.registry import make_env

        try:
            make_env(env, **env_kwargs)
        except ValueError as err:
            raise ConfigError(str(err)) from None
        except TypeError as err:
            raise ConfigError(f"env_kwargs for {env!r}: {err}") from None
    validate = getattr(module, "validate", None)
    if validate is not None:
        validate(values)
    static = {k: v for k, v in values.items() if not params[k].traced}
    hparams = {k: v for k, v in values.items() if params[k].traced}
    return Config(
        algo=algo,
        env=env,
        env_kwargs=MappingProxyType(env_kwargs),
        static=MappingProxyType(static),
        hparams_defaults=MappingProxyType(hparams),
    )


def check_hparams(config: Config, hparams: Mapping[str, Any]) -> dict[str, Any]:
    """Fills missing hyperparameters from ``config`` and rejects unknown names."""
    unknown = sorted(set(hparams) - set(config.hparams_defaults))
    if unknown:
        raise ConfigError(
            f"unknown hyperparameter {unknown[0]!r} for {config.algo}; traced "
            f"hyperparameters: {', '.join(sorted(config.hparams_defaults))}"
        )
    return {**config.hparams, **hparams}
