"""Shared types and the one axis order used everywhere.

Axis order: ``[T, B, N, ...]`` = time (rollout step), batch (parallel
environment or sampled transition), agent, then feature axes. A seed axis, when
a run is vmapped, goes in front of all of them.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import chex

PRNGKey = chex.PRNGKey
Array = chex.Array
HParams = dict[str, Any]  # name -> float32 scalar (traced inside ``train``)
Metrics = dict[str, Array]


class MultiAgentObservation(NamedTuple):
    """What every environment of the library returns as ``timestep.observation``.

    Attributes:
        agents_view: float32[N, obs_dim], agent i's local observation.
        action_mask: bool[N, A], True where the action is allowed.
        global_state: float32[state_dim], the centralised information z.
        step_count: int32[], steps since the episode began.
    """

    agents_view: Array
    action_mask: Array
    global_state: Array
    step_count: Array


class Algorithm(NamedTuple):
    """An algorithm as pure functions; every algorithm module's ``make`` returns one.

    Attributes:
        init: ``init(key, hparams) -> state``, the learner state (parameters,
            optimiser, environments, buffers, key).
        update: ``update(state, hparams) -> (state, metrics)``, one
            collect-and-learn iteration. ``metrics`` holds float32 scalars,
            among them ``episode_return_sum`` and ``episodes`` (the finished
            training episodes' team returns, summed, and their count).
        act: ``act(state, obs, carry, key) -> (actions, carry)``, the greedy
            policy used for evaluation: obs [B] ``MultiAgentObservation`` and the
            agents' hidden states float32[B, N, H] -> int32[B, N] and the hidden
            states after reading ``obs`` (H = 0 for feed-forward agents).
        initial_carry: ``initial_carry(batch_shape) -> float32[*batch_shape, N, H]``,
            the agents' hidden states at the start of an episode (zeros).
        steps_per_update: environment steps one ``update`` takes
            (num_envs * rollout_length).
    """

    init: Any
    update: Any
    act: Any
    initial_carry: Any
    steps_per_update: int
