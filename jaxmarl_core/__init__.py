"""jaxmarl_core: vectorised cooperative multi-agent RL in JAX."""

from jaxmarl_core import _xla_flags
from jaxmarl_core._version import __version__

_xla_flags.apply()

from jaxmarl_core import hosts  # noqa: E402

# Before anything imports Jumanji, which starts JAX's backend.
hosts.maybe_initialize_distributed()

# ruff: noqa: E402

from jaxmarl_core.chunks import RunStopped
from jaxmarl_core.config import Config, ConfigError, list_algos, make_config
from jaxmarl_core.driver import resume, run
from jaxmarl_core.envs import MatrixGame, list_envs, make_env
from jaxmarl_core.pbt import PBTResult, pbt  # the function; the module stays importable by name
from jaxmarl_core.sweeps import SweepResult, grid, random_search, sweep
from jaxmarl_core.train import TrainOutput, make_train

__all__ = [
    "Config",
    "ConfigError",
    "MatrixGame",
    "PBTResult",
    "SweepResult",
    "TrainOutput",
    "__version__",
    "grid",
    "list_algos",
    "list_envs",
    "make_config",
    "make_env",
    "make_train",
    "pbt",
    "random_search",
    "resume",
    "run",
    "RunStopped",
    "sweep",
]
