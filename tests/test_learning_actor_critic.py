"""Learning tests of the actor-critic family against published outcomes.

Every test trains five seeds (``seed_keys(5)``: ``PRNGKey(0)`` … ``PRNGKey(4)``) as
one vmapped program and checks the greedy evaluation return at the last logging
step, ``out.metrics["eval_return"][:, -1]`` (team return per episode, in payoff
units for the matrix games). Hyperparameters are each algorithm's defaults
(EPyMARL's) unless a test states otherwise; budgets are environment steps per
seed. Reference values: ``/work/shared/reference/published-results.md``.

Run with ``pytest -m slow tests/test_learning_actor_critic.py``.
"""

from __future__ import annotations

import jax
import numpy as np
import pytest

import jaxmarl_core
from jaxmarl_core.train import seed_keys

ALGOS = ("ireinforce", "ia2c", "ippo", "maa2c", "mappo")


def final_eval_returns(algo: str, env: str, **overrides) -> np.ndarray:
    """float[5]: each seed's greedy return at the last logging step."""
    config = jaxmarl_core.make_config(algo, env=env, **overrides)
    out = jax.jit(jax.vmap(jaxmarl_core.make_train(config)))(seed_keys(5))
    returns = np.asarray(out.metrics["eval_return"])
    print(f"{algo} on {env} {overrides}: final greedy returns per seed {returns[:, -1]}")
    return returns


@pytest.mark.slow
@pytest.mark.parametrize("algo", ALGOS)
def test_penalty_0_reaches_the_optimum(algo):
    """penalty-0, defaults (parameter sharing), 300k steps, seeds 0-4.

    Expected (EPyMARL: all ~250): greedy return 250 = 25 steps of (A, C) or (C, A)
    in at least 4 of 5 seeds.
    """
    returns = final_eval_returns(algo, "penalty-0", total_timesteps=300_000, num_logs=10)
    assert np.sum(returns[:, -1] == 250.0) >= 4, returns[:, -1]


# The pure Nash equilibria of climbing: (A, A) = 11 and (B, B) = 7 per step.
CLIMBING_EQUILIBRIA = (275.0, 175.0)


@pytest.mark.slow
@pytest.mark.parametrize("algo", ALGOS)
def test_climbing_settles_at_an_equilibrium(algo):
    """climbing, separate parameters per agent, 1M steps (REINFORCE: 2M, with its
    learned baseline), seeds 0-4.

    Expected (EPyMARL: ~175, the (B, B) equilibrium): in at least 4 of 5 seeds
    the greedy joint action at the last three logging steps is the same pure Nash
    equilibrium, (A, A) = 275 or (B, B) = 175.

    Separate parameters, because with one shared network (and an agent-id input)
    the agents' policies are coupled: the row player's early, strong preference
    for C drags the column player to C too, and a few seeds freeze at (C, C) =
    125, not an equilibrium, before the column player finds B (6 > 5). Plain
    REINFORCE (no baseline) leaves 2 of 5 seeds at (C, B) = 150 after 2M steps:
    the row player's move from C to B (7 > 6) is lost in the variance.
    """
    extra = {"total_timesteps": 1_000_000}
    if algo == "ireinforce":
        extra = {"total_timesteps": 2_000_000, "baseline": True}
    returns = final_eval_returns(algo, "climbing", num_logs=20, param_sharing=False, **extra)
    last = returns[:, -3:]
    settled = np.all(last == last[:, -1:], axis=1) & np.isin(last[:, -1], CLIMBING_EQUILIBRIA)
    assert np.sum(settled) >= 4, returns[:, -3:]


@pytest.mark.slow
@pytest.mark.parametrize("algo", ["ippo", "mappo"])
def test_lbf_8x8_2p_2f_coop(algo):
    """lbf-8x8-2p-2f-coop, 2M steps, seeds 0-4, 64 greedy evaluation episodes.

    Defaults except the batch shape, sized for a CPU: 64 environments, 16-step
    rollouts, 4 minibatches per epoch (4 epochs, as the default).

    Expected (EPyMARL: IPPO ~1.00, MAPPO ~1.00, where 1 is the most an episode
    gives): a greedy return of at least 0.9 averaged over the seeds, and in at
    least 4 of 5 seeds alone.
    """
    returns = final_eval_returns(
        algo,
        "lbf-8x8-2p-2f-coop",
        total_timesteps=2_000_000,
        num_envs=64,
        rollout_length=16,
        minibatches=4,
        num_logs=10,
        num_eval_episodes=64,
    )
    final = returns[:, -1]
    assert final.mean() >= 0.9, final
    assert np.sum(final >= 0.9) >= 4, final
