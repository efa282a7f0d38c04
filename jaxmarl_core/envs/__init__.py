"""Environments: matrix games, Jumanji grid games, batched auto-reset, registry."""

from jaxmarl_core.envs.matrix import MATRIX_GAMES, MatrixGame
from jaxmarl_core.envs.registry import list_envs, make_env
from jaxmarl_core.envs.wrappers import VecEnv, VecEnvState, VecStep, evaluate

__all__ = [
    "MATRIX_GAMES",
    "MatrixGame",
    "VecEnv",
    "VecEnvState",
    "VecStep",
    "evaluate",
    "list_envs",
    "make_env",
]
