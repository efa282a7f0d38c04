"""Environment registry: names, parsing and construction.

Names:
- matrix games: see ``MATRIX_GAMES`` (``climbing``, ``penalty-25``, ...);
- Level-Based Foraging: ``lbf[-<S>s]-<W>x<H>-<N>p-<F>f[-coop]`` (EPyMARL style);
- Robot Warehouse: ``rware-<size>-<N>ag[-easy|-hard]``, size one of
  ``tiny, small, medium, large``.
"""

from __future__ import annotations

import re
from typing import Any

from jumanji.env import Environment

from jaxmarl_core.envs.matrix import MATRIX_GAMES, MatrixGame

LBF_PATTERN = re.compile(r"^lbf(?:-(\d+)s)?-(\d+)x(\d+)-(\d+)p-(\d+)f(-coop)?$")
RWARE_PATTERN = re.compile(r"^rware-(tiny|small|medium|large)-(\d+)ag(?:-(easy|hard))?$")

# Names listed by ``list_envs``; any name matching the patterns above also works.
GRID_EXAMPLES = [
    "lbf-8x8-2p-2f-coop",
    "lbf-2s-8x8-2p-2f-coop",
    "lbf-10x10-3p-3f",
    "lbf-2s-10x10-3p-3f",
    "lbf-15x15-4p-3f",
    "lbf-15x15-3p-5f",
    "rware-tiny-2ag",
    "rware-tiny-4ag",
    "rware-small-4ag",
]

LBF_HELP = "lbf[-<S>s]-<W>x<H>-<N>p-<F>f[-coop], e.g. lbf-8x8-2p-2f-coop or lbf-2s-10x10-3p-3f"
RWARE_HELP = "rware-<tiny|small|medium|large>-<N>ag[-easy|-hard], e.g. rware-tiny-2ag"


def list_envs() -> list[str]:
    """Registered environment names (LBF and RWARE accept any well-formed name)."""
    return sorted(MATRIX_GAMES) + GRID_EXAMPLES


def _check_kwargs(name: str, kwargs: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(kwargs) - allowed)
    if unknown:
        raise ValueError(
            f"env_kwargs {unknown} not understood by {name!r}; allowed: {sorted(allowed)}"
        )


def make_env(name: str, **env_kwargs: Any) -> Environment:
    """Builds a registered environment by name.

    Args:
        name: a name from ``list_envs()`` or a well-formed LBF / RWARE name.
        **env_kwargs: the environment's own options (``episode_length`` for all,
            ``individual_rewards`` for the grid games, ``max_agent_level`` for LBF).

    Raises:
        ValueError: naming what is wrong and what is allowed.
    """
    if not isinstance(name, str):
        raise ValueError(f"environment name must be a string, got {name!r}")
    if name in MATRIX_GAMES:
        _check_kwargs(name, env_kwargs, {"episode_length"})
        return MatrixGame(MATRIX_GAMES[name], name=name, **env_kwargs)
    if name.startswith("lbf"):
        m = LBF_PATTERN.match(name)
        if m is None:
            raise ValueError(f"malformed LBF name {name!r}; expected {LBF_HELP}")
        sight, width, height, players, food, coop = m.groups()
        _check_kwargs(name, env_kwargs, {"episode_length", "individual_rewards", "max_agent_level"})
        from jaxmarl_core.envs.jumanji_envs import make_lbf

        return make_lbf(
            name=name,
            width=int(width),
            height=int(height),
            num_agents=int(players),
            num_food=int(food),
            sight=None if sight is None else int(sight),
            force_coop=coop is not None,
            **env_kwargs,
        )
    if name.startswith("rware"):
        m = RWARE_PATTERN.match(name)
        if m is None:
            raise ValueError(f"malformed RWARE name {name!r}; expected {RWARE_HELP}")
        size, agents, difficulty = m.groups()
        _check_kwargs(name, env_kwargs, {"episode_length", "individual_rewards"})
        from jaxmarl_core.envs.jumanji_envs import make_rware

        return make_rware(
            name=name,
            size=size,
            num_agents=int(agents),
            difficulty=difficulty or "normal",
            **env_kwargs,
        )
    raise ValueError(
        f"unknown environment {name!r}; known: {', '.join(sorted(MATRIX_GAMES))}, "
        f"and the patterns {LBF_HELP}; {RWARE_HELP}"
    )
