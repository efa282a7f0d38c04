"""JaxMARL's cooperative discrete-action environments under the library's contract.

``make_env("jaxmarl:<id>")`` builds JaxMARL's environment ``<id>`` (and
``jaxmarl:smax-<map>`` its SMAX scenario ``<map>`` against the heuristic enemy)
and adapts its dict-of-agents API:

- agents are stacked on an axis in JaxMARL's order of ``env.agents``;
- observations are flattened to vectors (Overcooked's grids included); where
  agents' observations differ in length, shorter ones are padded with zeros;
- the action mask is ``get_avail_actions`` (Hanabi: ``get_legal_moves``), or
  all actions where the environment has none; where agents have different
  numbers of actions, the extra actions are masked out;
- ``global_state`` is the environment's world state where it has one (SMAX),
  and the concatenated (padded) observations otherwise;
- the team reward is the mean of the agents' rewards (the shared reward where
  all agents share one: SMAX, switch_riddle, Hanabi, Overcooked, MPE reference
  and speaker-listener); every agent receives it, or its own reward with
  ``individual_rewards=True``;
- termination and truncation: JaxMARL reports one ``done``. Where the time limit
  is a constructor argument that nothing else depends on (MPE, SMAX), the inner
  environment gets a limit it never reaches and the adapter truncates at
  ``episode_length`` itself, so every end JaxMARL reports is a termination.
  Where the limit is part of the game (Overcooked shows the time left in its
  observation; switch_riddle's is 4N - 6 steps by default), the game gets
  ``episode_length`` as its limit and
  an end at the limit counts as a truncation, even when the game also ended on
  that step for another reason (JaxMARL's API cannot tell the two apart there).
  Hanabi has no time limit: it ends by itself (``episode_length`` only guards).

Environments with continuous actions (MABrax, the FACMAC MPE tasks, JaxNav) and
competitive ones (MPE tag, adversary, push, crypto, world_comm; STORM; coin
game; two-team SMAX) are refused with a clear error. ``jaxmarl`` is an optional
extra: ``pip install "jaxmarl-core[jaxmarl]"``.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import sys
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np
from jumanji.types import TimeStep

from jaxmarl_core.envs.base import INT32_MAX, MultiAgentEnvironment, check_bool, check_int
from jaxmarl_core.types import MultiAgentObservation

INSTALL_HINT = 'pip install "jaxmarl-core[jaxmarl]"'


class Game(NamedTuple):
    """How one JaxMARL environment is built and where its time limit lives.

    Attributes:
        cls: the name of JaxMARL's environment class.
        limit: ``"separable"`` (a ``max_steps`` argument nothing else reads: set
            unreachable, the adapter truncates), ``"in_game"`` (the game keeps its
            limit, at ``episode_length``; its end counts as a truncation) or
            ``"none"`` (the game ends by itself).
        episode_length: the default time limit (JaxMARL's own).
        mask: the method giving the available actions, ``state -> {agent:
            mask}``; None where every action is always available.
        options_from: the classes whose constructor arguments are the options
            (the wrapped SMAX's too for the heuristic-enemy SMAX); () for ``cls``.
        wins: a game that is won or lost (SMAX): a step reports ``won``, the
            battle ended with every enemy dead and an ally alive (the condition
            of SMAX's victory bonus, read from its state, so it holds whatever
            ``won_battle_bonus`` or ``use_self_play_reward`` say).
    """

    cls: str
    limit: str
    episode_length: int
    mask: str | None = None
    options_from: tuple[str, ...] = ()
    wins: bool = False


GAMES: dict[str, Game] = {
    "MPE_simple_v3": Game("SimpleMPE", "separable", 25),
    "MPE_simple_spread_v3": Game("SimpleSpreadMPE", "separable", 25),
    "MPE_simple_reference_v3": Game("SimpleReferenceMPE", "separable", 25),
    "MPE_simple_speaker_listener_v4": Game("SimpleSpeakerListenerMPE", "separable", 25),
    "switch_riddle": Game("SwitchRiddle", "in_game", 0),  # 4N - 6 for N agents
    "hanabi": Game("Hanabi", "none", 200, mask="get_legal_moves"),
    "overcooked": Game("Overcooked", "in_game", 400),
    "smax": Game(
        "HeuristicEnemySMAX",
        "separable",
        100,
        mask="get_avail_actions",
        options_from=("HeuristicEnemySMAX", "SMAX"),
        wins=True,
    ),
}

REFUSED: dict[str, str] = {
    **{
        name: "has continuous (Box) actions; jaxmarl_core's learners need discrete actions"
        for name in (
            "MPE_simple_facmac_v1",
            "MPE_simple_facmac_3a_v1",
            "MPE_simple_facmac_6a_v1",
            "MPE_simple_facmac_9a_v1",
            "ant_4x2",
            "halfcheetah_6x1",
            "hopper_3x1",
            "humanoid_9|8",
            "walker2d_2x3",
            "jaxnav",
        )
    },
    **{
        name: "is a competitive (mixed-motive) game; jaxmarl_core trains one cooperative team"
        for name in (
            "MPE_simple_tag_v3",
            "MPE_simple_world_comm_v3",
            "MPE_simple_crypto_v3",
            "MPE_simple_push_v3",
            "MPE_simple_adversary_v3",
            "storm",
            "storm_2p",
            "storm_np",
            "coin_game",
        )
    },
    "SMAX": "controls both teams; use jaxmarl:smax-<map> (e.g. jaxmarl:smax-3m) to train "
    "the allies against JaxMARL's heuristic enemy",
    "HeuristicEnemySMAX": "is built from a scenario: use jaxmarl:smax-<map>, e.g. jaxmarl:smax-3m",
    "LearnedPolicyEnemySMAX": "needs an enemy policy's parameters; use jaxmarl:smax-<map>",
    "overcooked_v2": "is not adapted yet; use jaxmarl:overcooked",
}


@contextlib.contextmanager
def _silenced_stdout():
    """Sends file descriptor 1 to /dev/null (JaxMARL prints on import, past
    ``sys.stdout``)."""
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def _import_jaxmarl(name: str):
    if sys.modules.get("jaxmarl") is not None:
        return sys.modules["jaxmarl"]
    try:
        with _silenced_stdout():
            import jaxmarl
    except ImportError as err:
        raise ValueError(
            f"environment {name!r} needs JaxMARL, an optional extra: {INSTALL_HINT} ({err})"
        ) from None
    return jaxmarl


def _stack(per_agent: dict[str, chex.Array], agents: list[str], width: int) -> chex.Array:
    """float32[N, width]: the agents' arrays flattened, in ``agents`` order,
    zero-padded to ``width``."""
    rows = [per_agent[a].reshape(-1).astype(jnp.float32) for a in agents]
    return jnp.stack([jnp.pad(r, (0, width - r.shape[0])) for r in rows])


class JaxMarlState(NamedTuple):
    inner: Any  # JaxMARL's environment state
    key: chex.PRNGKey
    step_count: chex.Array  # int32[]


class JaxMarlEnv(MultiAgentEnvironment):
    """One JaxMARL environment under the library's contract (see the module).

    Args:
        name: the registered name, ``jaxmarl:<id>``.
        inner: JaxMARL's environment (built with its time limit as ``game`` says).
        game: its row of :data:`GAMES`.
        episode_length: the time limit.
        individual_rewards: each agent receives its own reward.
    """

    def __init__(
        self,
        name: str,
        inner: Any,
        game: Game,
        episode_length: int,
        individual_rewards: bool,
    ) -> None:
        spaces = _import_jaxmarl(name).environments.spaces
        self.name = name
        self.inner = inner
        self.game = game
        self.agents: list[str] = list(inner.agents)
        self.num_agents = len(self.agents)
        self.episode_length = episode_length
        self.individual_rewards = individual_rewards
        self.reports_wins = game.wins
        for agent in self.agents:
            space = inner.action_space(agent)
            if not isinstance(space, spaces.Discrete):
                raise ValueError(
                    f"{name}: agent {agent}'s actions are {type(space).__name__}, not Discrete; "
                    "jaxmarl_core's learners need discrete actions"
                )
        self.agent_actions = [int(inner.action_space(a).n) for a in self.agents]
        self.num_actions = max(self.agent_actions)
        obs, _ = jax.eval_shape(inner.reset, jax.random.PRNGKey(0))
        self._obs_dim = max(int(np.prod(obs[a].shape)) for a in self.agents)
        world_state = obs.get("world_state")
        self._world_state_dim = 0 if world_state is None else int(np.prod(world_state.shape))
        self._mask_fn = None if game.mask is None else getattr(inner, game.mask)
        super().__init__()

    @property
    def obs_dim(self) -> int:
        return self._obs_dim

    @property
    def state_dim(self) -> int:
        return self._world_state_dim or self.num_agents * self._obs_dim

    def _action_mask(self, inner_state: Any) -> chex.Array:
        """bool[N, A]: the available actions; padding actions are never allowed."""
        padding = jnp.arange(self.num_actions)[None, :] < jnp.asarray(self.agent_actions)[:, None]
        if self._mask_fn is None:
            return padding
        masks = self._mask_fn(inner_state)
        return (_stack(masks, self.agents, self.num_actions) > 0) & padding

    def _observation(
        self, inner_obs: dict[str, chex.Array], inner_state: Any, step_count: chex.Array
    ) -> MultiAgentObservation:
        agents_view = _stack(inner_obs, self.agents, self._obs_dim)
        if self._world_state_dim:
            global_state = inner_obs["world_state"].reshape(-1).astype(jnp.float32)
        else:
            global_state = agents_view.reshape(-1)
        return MultiAgentObservation(
            agents_view=agents_view,
            action_mask=self._action_mask(inner_state),
            global_state=global_state,
            step_count=step_count,
        )

    def _battle_won(self, inner_state: Any) -> chex.Array:
        """SMAX: every enemy dead and at least one ally alive (bool[])."""
        alive = inner_state.state.unit_alive  # bool[allies + enemies]
        allies = self.inner.num_allies
        return jnp.all(~alive[allies:]) & jnp.any(alive[:allies])

    def reset(self, key: chex.PRNGKey) -> tuple[JaxMarlState, TimeStep]:
        key, reset_key = jax.random.split(key)
        inner_obs, inner_state = self.inner.reset(reset_key)
        step_count = jnp.zeros((), jnp.int32)
        state = JaxMarlState(inner_state, key, step_count)
        return state, self.first_timestep(self._observation(inner_obs, inner_state, step_count))

    def step(self, state: JaxMarlState, actions: chex.Array) -> tuple[JaxMarlState, TimeStep]:
        """actions: int32[N], in the order of ``self.agents``."""
        key, step_key = jax.random.split(state.key)
        inner_actions = {a: actions[i] for i, a in enumerate(self.agents)}
        inner_obs, inner_state, rewards, dones, _ = self.inner.step_env(
            step_key, state.inner, inner_actions
        )
        step_count = state.step_count + 1
        agent_rewards = jnp.stack([rewards[a] for a in self.agents]).astype(jnp.float32)
        ended = jnp.asarray(dones["__all__"], bool)
        if self.game.limit == "in_game":
            terminated = ended & (step_count < self.episode_length)
        else:
            terminated = ended
        team_reward = agent_rewards.mean()
        won = ended & self._battle_won(inner_state) if self.game.wins else None
        timestep = self.next_timestep(
            self._observation(inner_obs, inner_state, step_count),
            agent_rewards=agent_rewards,
            team_reward=team_reward,
            terminated=terminated,
            won=won,
        )
        return JaxMarlState(inner_state, key, step_count), timestep


def _options(jaxmarl: Any, game: Game) -> set[str]:
    """The keyword arguments of the environment's constructor (SMAX's for SMAX)."""
    names = set()
    for cls_name in game.options_from or (game.cls,):
        cls = getattr(jaxmarl.environments, cls_name)
        for p in inspect.signature(cls.__init__).parameters.values():
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "self":
                names.add(p.name)
    return names - {"max_steps", "scenario"}


def make_jaxmarl(
    name: str,
    env_id: str,
    episode_length: int | None = None,
    individual_rewards: bool = False,
    **env_kwargs: Any,
) -> JaxMarlEnv:
    """Builds ``jaxmarl:<env_id>``.

    Args:
        name: the registered name, ``jaxmarl:<env_id>``.
        env_id: a key of :data:`GAMES`, or ``smax-<map>`` for a SMAX scenario.
        episode_length: the time limit (default: JaxMARL's; switch_riddle's is
            4N - 6 for N agents).
        individual_rewards: each agent receives its own reward.
        **env_kwargs: the JaxMARL constructor's own arguments.

    Raises:
        ValueError: for a refused, unknown or malformed environment, a missing
            extra, or options the constructor does not take.
    """
    if env_id in REFUSED:
        raise ValueError(f"{name}: {env_id} {REFUSED[env_id]}")
    scenario = None
    if env_id.startswith("smax-"):
        scenario, env_id = env_id[len("smax-") :], "smax"
    if env_id not in GAMES:
        known = ", ".join([*GAMES.keys() - {"smax"}, "smax-<map>"])
        raise ValueError(f"unknown JaxMARL environment {name!r}; adapted: {known}")
    jaxmarl = _import_jaxmarl(name)
    game = GAMES[env_id]
    unknown = sorted(set(env_kwargs) - _options(jaxmarl, game))
    if unknown:
        allowed = sorted(_options(jaxmarl, game) | {"episode_length", "individual_rewards"})
        raise ValueError(f"env_kwargs {unknown} not understood by {name!r}; allowed: {allowed}")
    individual_rewards = check_bool(name, "individual_rewards", individual_rewards)
    if scenario is not None:
        from jaxmarl.environments.smax.smax_env import MAP_NAME_TO_SCENARIO, map_name_to_scenario

        if scenario not in MAP_NAME_TO_SCENARIO:
            raise ValueError(
                f"unknown SMAX map {scenario!r} in {name!r}; maps: {sorted(MAP_NAME_TO_SCENARIO)}"
            )
        env_kwargs["scenario"] = map_name_to_scenario(scenario)
    if episode_length is not None:
        episode_length = check_int(name, "episode_length", episode_length, 1)
    if game.limit == "separable":
        env_kwargs["max_steps"] = INT32_MAX
    elif game.limit == "in_game" and env_id != "switch_riddle":
        env_kwargs["max_steps"] = episode_length or game.episode_length
    try:
        inner = getattr(jaxmarl.environments, game.cls)(**env_kwargs)
    except (TypeError, ValueError, AssertionError) as err:
        raise ValueError(f"{name}: JaxMARL refused the options {env_kwargs}: {err}") from None
    if env_id == "switch_riddle":
        # The riddle's limit (4N - 6 steps by default) is an attribute its step reads.
        episode_length = episode_length or int(inner.max_steps)
        inner.max_steps = episode_length
    return JaxMarlEnv(name, inner, game, episode_length or game.episode_length, individual_rewards)
