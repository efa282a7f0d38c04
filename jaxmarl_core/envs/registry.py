"""Environment registry: a table of families, each a name pattern and a factory.

Families (``FAMILIES``, in the order names are tried):
- ``matrix``: the named matrix games of ``MATRIX_GAMES`` (``climbing``,
  ``penalty-25``, ...);
- ``lbf``: Level-Based Foraging, ``lbf[-<S>s]-<W>x<H>-<N>p-<F>f[-coop]``
  (EPyMARL style);
- ``rware``: Robot Warehouse, ``rware-<size>-<N>ag[-easy|-hard]``, size one of
  ``tiny, small, medium, large``;
- ``cleaner``, ``connector``: Jumanji's ``jumanji:Cleaner-v0`` and
  ``jumanji:Connector-v3`` (sizes and agent counts as ``env_kwargs``);
- ``jaxmarl``: JaxMARL's cooperative discrete-action games, ``jaxmarl:<id>``
  (MPE, switch_riddle, Hanabi, Overcooked) and ``jaxmarl:smax-<map>`` (SMAX
  against the heuristic enemy); the optional extra ``jaxmarl-core[jaxmarl]``.

A new family is one more :class:`EnvFamily` row: its pattern, its factory, the
``env_kwargs`` it accepts and an example.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, NamedTuple

from jumanji.env import Environment

from jaxmarl_core.envs.matrix import MATRIX_GAMES, MatrixGame


class EnvFamily(NamedTuple):
    """One row of the registry.

    Attributes:
        name: the family's name, as ``jaxmarl-core list`` shows it.
        prefix: names starting with it belong to this family; one that does
            not match ``pattern`` is malformed (None: no prefix).
        pattern: a full match of a name; its groups go to ``build``.
        build: ``build(name, groups, **env_kwargs) -> Environment``.
        options: the ``env_kwargs`` the family accepts (None: ``build`` checks
            them against the environment's constructor).
        grammar: the form of a name, for messages.
        examples: names ``list_envs`` lists.
    """

    name: str
    prefix: str | None
    pattern: re.Pattern
    build: Callable[..., Environment]
    options: frozenset[str] | None
    grammar: str
    examples: tuple[str, ...]


def _matrix(name: str, groups: tuple, **env_kwargs: Any) -> Environment:
    return MatrixGame(MATRIX_GAMES[name], name=name, **env_kwargs)


def _lbf(name: str, groups: tuple, **env_kwargs: Any) -> Environment:
    from jaxmarl_core.envs.jumanji_envs import make_lbf

    sight, width, height, players, food, coop = groups
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


def _rware(name: str, groups: tuple, **env_kwargs: Any) -> Environment:
    from jaxmarl_core.envs.jumanji_envs import make_rware

    size, agents, difficulty = groups
    return make_rware(
        name=name,
        size=size,
        num_agents=int(agents),
        difficulty=difficulty or "normal",
        **env_kwargs,
    )


def _cleaner(name: str, groups: tuple, **env_kwargs: Any) -> Environment:
    from jaxmarl_core.envs.jumanji_envs import make_cleaner

    return make_cleaner(name, **env_kwargs)


def _connector(name: str, groups: tuple, **env_kwargs: Any) -> Environment:
    from jaxmarl_core.envs.jumanji_envs import make_connector

    return make_connector(name, **env_kwargs)


def _jaxmarl(name: str, groups: tuple, **env_kwargs: Any) -> Environment:
    from jaxmarl_core.envs.jaxmarl_envs import make_jaxmarl

    return make_jaxmarl(name, groups[0], **env_kwargs)


FAMILIES: tuple[EnvFamily, ...] = (
    EnvFamily(
        name="matrix",
        prefix=None,
        pattern=re.compile("^(?:" + "|".join(map(re.escape, MATRIX_GAMES)) + ")$"),
        build=_matrix,
        options=frozenset({"episode_length"}),
        grammar=", ".join(sorted(MATRIX_GAMES)),
        examples=tuple(sorted(MATRIX_GAMES)),
    ),
    EnvFamily(
        name="lbf",
        prefix="lbf",
        pattern=re.compile(r"^lbf(?:-(\d+)s)?-(\d+)x(\d+)-(\d+)p-(\d+)f(-coop)?$"),
        build=_lbf,
        options=frozenset({"episode_length", "individual_rewards", "max_agent_level"}),
        grammar="lbf[-<S>s]-<W>x<H>-<N>p-<F>f[-coop], e.g. lbf-8x8-2p-2f-coop",
        examples=(
            "lbf-8x8-2p-2f-coop",
            "lbf-2s-8x8-2p-2f-coop",
            "lbf-10x10-3p-3f",
            "lbf-2s-10x10-3p-3f",
            "lbf-15x15-4p-3f",
            "lbf-15x15-3p-5f",
        ),
    ),
    EnvFamily(
        name="rware",
        prefix="rware",
        pattern=re.compile(r"^rware-(tiny|small|medium|large)-(\d+)ag(?:-(easy|hard))?$"),
        build=_rware,
        options=frozenset({"episode_length", "individual_rewards"}),
        grammar="rware-<tiny|small|medium|large>-<N>ag[-easy|-hard], e.g. rware-tiny-2ag",
        examples=("rware-tiny-2ag", "rware-tiny-4ag", "rware-small-4ag"),
    ),
    EnvFamily(
        name="cleaner",
        prefix="jumanji:Cleaner",
        pattern=re.compile(r"^jumanji:Cleaner-v0$"),
        build=_cleaner,
        options=frozenset({"episode_length", "num_rows", "num_cols", "num_agents"}),
        grammar="jumanji:Cleaner-v0 (env_kwargs num_rows, num_cols, num_agents)",
        examples=("jumanji:Cleaner-v0",),
    ),
    EnvFamily(
        name="connector",
        prefix="jumanji:Connector",
        pattern=re.compile(r"^jumanji:Connector-v3$"),
        build=_connector,
        options=frozenset({"episode_length", "individual_rewards", "grid_size", "num_agents"}),
        grammar="jumanji:Connector-v3 (env_kwargs grid_size, num_agents, individual_rewards)",
        examples=("jumanji:Connector-v3",),
    ),
    EnvFamily(
        name="jaxmarl",
        prefix="jaxmarl:",
        pattern=re.compile(r"^jaxmarl:(\S+)$"),
        build=_jaxmarl,
        options=None,
        grammar="jaxmarl:<JaxMARL id> or jaxmarl:smax-<map>, e.g. jaxmarl:MPE_simple_spread_v3 "
        '(needs pip install "jaxmarl-core[jaxmarl]")',
        examples=(
            "jaxmarl:MPE_simple_spread_v3",
            "jaxmarl:MPE_simple_reference_v3",
            "jaxmarl:MPE_simple_speaker_listener_v4",
            "jaxmarl:switch_riddle",
            "jaxmarl:smax-3m",
            "jaxmarl:smax-2s3z",
            "jaxmarl:hanabi",
            "jaxmarl:overcooked",
        ),
    ),
)


def list_envs() -> list[str]:
    """Example names of every family (the pattern families accept any
    well-formed name)."""
    return [name for family in FAMILIES for name in family.examples]


def _check_kwargs(name: str, kwargs: dict[str, Any], allowed: frozenset[str]) -> None:
    unknown = sorted(set(kwargs) - allowed)
    if unknown:
        raise ValueError(
            f"env_kwargs {unknown} not understood by {name!r}; allowed: {sorted(allowed)}"
        )


def make_env(name: str, **env_kwargs: Any) -> Environment:
    """Builds a registered environment by name.

    Args:
        name: a name of one of ``FAMILIES`` (``list_envs()`` gives examples).
        **env_kwargs: the environment's own options (``episode_length`` for all,
            ``individual_rewards`` for the grid games, ``max_agent_level`` for LBF).

    Raises:
        ValueError: naming what is wrong and what is allowed.
    """
    if not isinstance(name, str):
        raise ValueError(f"environment name must be a string, got {name!r}")
    for family in FAMILIES:
        match = family.pattern.match(name)
        if match is not None:
            if family.options is not None:
                _check_kwargs(name, env_kwargs, family.options)
            return family.build(name, match.groups(), **env_kwargs)
        if family.prefix is not None and name.startswith(family.prefix):
            raise ValueError(
                f"malformed {family.name.upper()} name {name!r}; expected {family.grammar}"
            )
    known = "; ".join(f"{f.name}: {f.grammar}" for f in FAMILIES)
    raise ValueError(f"unknown environment {name!r}; known families: {known}")
