"""Unit tests of the actor-critic family, and fast smoke tests of all five algorithms.

Hand-computed cases: the REINFORCE gradient on a one-step two-action bandit,
the PPO clipped objective on a tiny batch, masked sampling, what each critic
sees, the running statistics and the first-episode mask.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_envs import fast_compile

import jaxmarl_core
from jaxmarl_core.algos import actor_critic, ia2c, ippo, ireinforce, maa2c, mappo
from jaxmarl_core.config import ConfigError
from jaxmarl_core.core.policies import greedy, masked_categorical, sample_with_log_prob
from jaxmarl_core.networks.agents import make_agent_net
from jaxmarl_core.networks.critics import centralised_input, local_input, make_value_critic
from jaxmarl_core.train import make_algorithm, seed_keys
from jaxmarl_core.types import MultiAgentObservation

ALGOS = ("ireinforce", "ia2c", "ippo", "maa2c", "mappo")


def batch_of(**fields) -> actor_critic.Batch:
    """A Batch with only the fields a policy loss reads; the rest are placeholders."""
    n = next(iter(fields.values())).shape
    defaults = dict(
        obs=None,
        action=jnp.zeros(n, jnp.int32),
        log_prob=jnp.zeros(n),
        advantage=jnp.zeros(n),
        target=jnp.zeros(n),
        mask=jnp.ones(n),
        first=None,
        start=None,
        value=jnp.zeros(n),
    )
    return actor_critic.Batch(**{**defaults, **fields})


# ---------------------------------------------------------------------------
# Policies


def test_masked_actions_are_never_sampled():
    key = jax.random.PRNGKey(0)
    mask_key, logit_key, sample_key = jax.random.split(key, 3)
    mask = jax.random.bernoulli(mask_key, 0.5, (64, 6))
    mask = mask.at[:, 0].set(True)  # at least one allowed action per row
    # Large logits on the masked actions: masking must win over any preference.
    logits = jax.random.normal(logit_key, (64, 6)) + jnp.where(mask, 0.0, 50.0)
    keys = jax.random.split(sample_key, 2000)
    actions, log_probs = jax.vmap(lambda k: sample_with_log_prob(k, logits, mask))(keys)
    assert actions.dtype == jnp.int32
    allowed = jnp.take_along_axis(jnp.broadcast_to(mask, (2000, 64, 6)), actions[..., None], -1)
    assert bool(allowed.all())
    assert bool(jnp.isfinite(log_probs).all())
    pi = masked_categorical(logits, mask)
    np.testing.assert_array_equal(np.asarray(pi.probs)[~np.asarray(mask)], 0.0)
    assert bool(jnp.isfinite(pi.entropy()).all())
    grads = jax.grad(lambda x: masked_categorical(x, mask).entropy().sum())(logits)
    assert bool(jnp.isfinite(grads).all())
    assert bool(jnp.take_along_axis(mask, greedy(logits, mask)[:, None], -1).all())


# ---------------------------------------------------------------------------
# Policy losses


REWARDS = jnp.array([1.0, 3.0])  # the bandit's payoff of each action


def bandit_objective(theta):
    """J(θ) = Σ_a π_θ(a) r(a), the expected return of the one-step bandit."""
    return jnp.sum(jax.nn.softmax(theta) * REWARDS)


@pytest.mark.parametrize("theta", [[0.0, 0.0], [0.7, -0.4], [-2.0, 1.0]])
def test_reinforce_gradient_on_two_action_bandit_is_analytic(theta):
    """E_a[∇ L_REINFORCE] = −∇J(θ) exactly, and a 100k-sample estimate is within noise.

    One-step episodes, so the Monte-Carlo return G is the reward r(a).
    """
    theta = jnp.array(theta)
    probs = jax.nn.softmax(theta)
    analytic = -jax.grad(bandit_objective)(theta)
    # ∂J/∂θ_k = π_k (r_k − J): the textbook closed form.
    np.testing.assert_allclose(
        analytic, -probs * (REWARDS - bandit_objective(theta)), rtol=1e-5, atol=1e-6
    )

    def reinforce_loss(theta, actions):
        log_prob = jax.nn.log_softmax(theta)[actions]
        per_sample, _ = ireinforce.loss(log_prob, batch_of(advantage=REWARDS[actions]), {})
        return per_sample.mean()

    # Exact expectation over the two actions, each weighted by its probability.
    expected = sum(probs[a] * jax.grad(reinforce_loss)(theta, jnp.array([a])) for a in range(2))
    np.testing.assert_allclose(expected, analytic, rtol=1e-5, atol=1e-6)

    # Sampled actions, as the runner draws them.
    actions, _ = sample_with_log_prob(
        jax.random.PRNGKey(1), jnp.broadcast_to(theta, (100_000, 2)), jnp.ones((100_000, 2), bool)
    )
    sampled = jax.grad(reinforce_loss)(theta, actions)
    per_sample = jax.vmap(jax.grad(reinforce_loss), in_axes=(None, 0))(theta, actions[:, None])
    stderr = per_sample.std(0) / np.sqrt(100_000)
    assert np.all(np.abs(sampled - analytic) < 4 * stderr + 1e-6)


def test_a2c_policy_loss_is_advantage_weighted_log_prob():
    log_prob = jnp.log(jnp.array([0.5, 0.25]))
    adv = jnp.array([2.0, -1.0])
    per_sample, _ = ia2c.loss(log_prob, batch_of(advantage=adv), {})
    np.testing.assert_allclose(per_sample, [2.0 * np.log(2.0), -np.log(4.0)], rtol=1e-6)
    assert maa2c.loss is ia2c.loss and mappo.loss is ippo.loss


def test_ppo_clipped_objective_on_tiny_batch():
    """ε = 0.2; ratios 1.5, 0.5, 0.5, 1.5, 1.1 with advantages +1, +1, −1, −1, +2.

    −min(ρA, clip(ρ)A) = [−1.2, −0.5, 0.8, 1.5, −2.2]; the gradient w.r.t. log π is
    −ρA where the unclipped term is the minimum and 0 where the clipped one is.
    """
    ratio = jnp.array([1.5, 0.5, 0.5, 1.5, 1.1])
    adv = jnp.array([1.0, 1.0, -1.0, -1.0, 2.0])
    old = jnp.log(jnp.array([0.2, 0.4, 0.4, 0.2, 0.5]))
    new = old + jnp.log(ratio)
    hparams = {"clip_eps": jnp.float32(0.2)}
    batch = batch_of(log_prob=old, advantage=adv)

    per_sample, extras = ippo.loss(new, batch, hparams)
    np.testing.assert_allclose(per_sample, [-1.2, -0.5, 0.8, 1.5, -2.2], rtol=1e-5)
    np.testing.assert_allclose(extras["clip_fraction"], [1, 1, 1, 1, 0])
    np.testing.assert_allclose(per_sample, ippo.clipped_surrogate(new, old, adv, 0.2), rtol=1e-6)
    grad = jax.grad(lambda lp: ippo.loss(lp, batch, hparams)[0].sum())(new)
    np.testing.assert_allclose(grad, [0.0, -0.5, 0.0, 1.5, -2.2], rtol=1e-5, atol=1e-6)
    # At ρ = 1 the clipped objective is the A2C loss's value and gradient direction.
    same, _ = ippo.loss(old, batch, hparams)
    np.testing.assert_allclose(same, -adv, rtol=1e-6)


# ---------------------------------------------------------------------------
# Critics


def observation(seed: int, n: int = 3, d: int = 4, s: int = 5) -> MultiAgentObservation:
    k1, k2 = jax.random.split(jax.random.PRNGKey(seed))
    return MultiAgentObservation(
        agents_view=jax.random.normal(k1, (n, d)),
        action_mask=jnp.ones((n, 2), bool),
        global_state=jax.random.normal(k2, (s,)),
        step_count=jnp.zeros((), jnp.int32),
    )


def test_critic_inputs_differ_as_stated():
    """V(h_i) sees agent i's observation only; V(h_i, z) sees it beside the global state z."""
    obs = observation(0)
    np.testing.assert_array_equal(local_input(obs), obs.agents_view)
    x = centralised_input(obs)
    assert x.shape == (3, 4 + 5)
    np.testing.assert_array_equal(x[:, :4], obs.agents_view)
    np.testing.assert_array_equal(x[:, 4:], np.broadcast_to(obs.global_state, (3, 5)))
    batched = jax.tree_util.tree_map(lambda a: jnp.stack([a, a]), obs)
    assert centralised_input(batched).shape == (2, 3, 9)


@pytest.mark.parametrize("param_sharing", [True, False])
def test_only_the_centralised_critic_depends_on_z(param_sharing):
    obs = observation(1)
    other_z = obs._replace(global_state=obs.global_state + 1.0)
    other_h = obs._replace(agents_view=obs.agents_view + 1.0)
    for centralised in (False, True):
        critic = make_value_critic(3, (16, 16), param_sharing, centralised)
        params = critic.init(jax.random.PRNGKey(2), obs)
        v = critic.apply(params, obs)
        assert v.shape == (3,)
        assert not np.allclose(critic.apply(params, other_h), v)
        changed = not np.allclose(critic.apply(params, other_z), v)
        assert changed == centralised
        batched = jax.tree_util.tree_map(lambda a: jnp.stack([a] * 4), obs)
        np.testing.assert_allclose(critic.apply(params, batched), jnp.stack([v] * 4), rtol=1e-6)


def test_algorithms_pick_their_critic():
    """MAA2C and MAPPO condition the critic on z; the independent learners do not."""
    env = jaxmarl_core.make_env("lbf-8x8-2p-2f-coop")
    obs_dim = env.observation_spec.agents_view.shape[-1]
    state_dim = env.observation_spec.global_state.shape[-1]
    for algo, centralised in [("ia2c", False), ("ippo", False), ("maa2c", True), ("mappo", True)]:
        config = jaxmarl_core.make_config(algo, env="lbf-8x8-2p-2f-coop", num_envs=2)
        _, algorithm = make_algorithm(config)
        state = jax.eval_shape(algorithm.init, jax.random.PRNGKey(0), config.hparams)
        kernel = state.params.critic["params"]["Dense_0"]["kernel"]
        expected = obs_dim + (state_dim if centralised else 0) + env.num_agents
        assert kernel.shape[0] == expected, algo


@pytest.mark.parametrize("recurrent", [False, True])
def test_obs_agent_id_false_drops_the_id(recurrent):
    """A shared network without agent ids gives agents with equal inputs equal
    outputs; with ids (the default) they differ. MAPPO's actor and critic read N
    fewer inputs without them."""
    x = jnp.ones((3, 4))  # three agents, the same observation
    for agent_ids in (True, False):
        net = make_agent_net(3, (8,), 2, True, recurrent, agent_ids=agent_ids)
        params = net.init(jax.random.PRNGKey(0), x)
        _, out = net.step(params, net.initial_carry(), x, jnp.zeros((), bool))
        assert out.shape == (3, 2)
        assert np.allclose(out[0], out[1]) == (not agent_ids)
    env = jaxmarl_core.make_env("lbf-8x8-2p-2f-coop")
    obs_dim = env.observation_spec.agents_view.shape[-1]
    state_dim = env.observation_spec.global_state.shape[-1]
    for agent_ids in (True, False):
        config = jaxmarl_core.make_config(
            "mappo", env="lbf-8x8-2p-2f-coop", num_envs=2, obs_agent_id=agent_ids
        )
        _, algorithm = make_algorithm(config)
        params = jax.eval_shape(algorithm.init, jax.random.PRNGKey(0), config.hparams).params
        ids = env.num_agents if agent_ids else 0
        assert params.actor["params"]["Dense_0"]["kernel"].shape[0] == obs_dim + ids
        assert params.critic["params"]["Dense_0"]["kernel"].shape[0] == obs_dim + state_dim + ids


# ---------------------------------------------------------------------------
# Runner pieces


def test_first_episode_mask():
    done = jnp.array([[0, 0], [1, 0], [0, 1], [1, 0]], bool)
    np.testing.assert_array_equal(
        actor_critic.first_episode_mask(done), [[1, 1], [1, 1], [0, 1], [0, 0]]
    )


def test_running_mean_std_matches_numpy():
    rng = np.random.default_rng(0)
    stats = actor_critic.RunningMeanStd.create()
    seen = []
    for _ in range(4):
        x = rng.normal(3.0, 2.0, size=(5, 7)).astype(np.float32)
        w = (rng.random((5, 7)) < 0.7).astype(np.float32)
        stats = stats.update(jnp.asarray(x), jnp.asarray(w))
        seen.append(x[w > 0])
    seen = np.concatenate(seen)
    np.testing.assert_allclose(stats.mean, seen.mean(), rtol=1e-3)
    np.testing.assert_allclose(stats.var, seen.var(), rtol=1e-3)
    z = stats.normalise(jnp.asarray(seen))
    np.testing.assert_allclose(stats.denormalise(z), seen, rtol=1e-5, atol=1e-5)


def test_config_checks():
    with pytest.raises(ConfigError, match="minibatches"):
        jaxmarl_core.make_config(
            "ippo", env="climbing", num_envs=10, rollout_length=5, minibatches=3
        )
    with pytest.raises(ConfigError, match="advantage"):
        jaxmarl_core.make_config("ia2c", env="climbing", advantage="td")
    config = jaxmarl_core.make_config("ireinforce", env="climbing", rollout_length=10)
    with pytest.raises(ConfigError, match="complete episodes"):
        jaxmarl_core.make_train(config)
    config = jaxmarl_core.make_config("ireinforce", env="climbing", total_timesteps=100)
    with pytest.raises(ConfigError, match="total_timesteps"):
        jaxmarl_core.make_train(config)
    assert set(actor_critic.PARAMS) <= set(mappo.PARAMS)
    for algo in ALGOS:
        config = jaxmarl_core.make_config(algo, env="climbing")
        assert {"lr", "gamma", "ent_coef", "max_grad_norm"} <= set(config.hparams)
        assert "num_envs" in config.static


# ---------------------------------------------------------------------------
# Smoke tests: every algorithm on a matrix game and on LBF, tiny configs.

METRICS = {"episode_return", "episodes", "eval_return", "actor_loss", "critic_loss", "entropy"}


# Each algorithm also exercises one of the runner's options.
SMOKE = [
    ("ireinforce", {}),
    ("ireinforce", {"baseline": True}),
    ("ia2c", {"advantage": "gae", "normalise_values": True}),
    ("ippo", {"minibatches": 2}),
    ("maa2c", {"normalise_rewards": False}),
    ("mappo", {"param_sharing": False}),
]


@pytest.mark.parametrize("algo, options", SMOKE)
def test_smoke_matrix_game(algo, options):
    """Every algorithm trains on a matrix game: metrics are finite float32 scalars."""
    config = jaxmarl_core.make_config(
        algo,
        env="climbing",
        num_envs=4,
        total_timesteps=800,
        num_logs=2,
        hidden_size=16,
        **options,
    )
    key = jax.random.PRNGKey(3)
    out = fast_compile(jaxmarl_core.make_train(config), key)(key)
    assert METRICS <= set(out.metrics)
    for name, value in out.metrics.items():
        assert value.shape == (2,), name
        assert value.dtype in (jnp.float32, jnp.int32), name
        if name != "episode_return":  # NaN where no episode finished
            assert bool(jnp.isfinite(value).all()), name
    if algo == "ireinforce":  # one whole 25-step episode per environment per update
        assert int(out.metrics["env_steps"][0]) == 4 * 25 * 4
        np.testing.assert_array_equal(out.metrics["episodes"], [16.0, 16.0])
    if algo in ("ippo", "mappo"):
        assert {"clip_fraction", "approx_kl"} <= set(out.metrics)


def test_update_compiles_once_and_sweeps_hyperparameters():
    """One compiled ``update`` serves every traced value; ``vmap`` sweeps them."""
    config = jaxmarl_core.make_config(
        "ippo", env="penalty-0", num_envs=4, rollout_length=5, hidden_size=16
    )
    _, algorithm = make_algorithm(config)
    state = jax.jit(algorithm.init)(jax.random.PRNGKey(0), config.hparams)
    chex.clear_trace_counter()
    update = jax.jit(chex.assert_max_traces(algorithm.update, n=1))
    hparams = config.hparams
    _, m1 = update(state, hparams)
    assert {"episode_return_sum", "episodes", "actor_loss", "critic_loss"} <= set(m1)
    other = {"ent_coef": 0.5, "clip_eps": 0.1, "lr": 1e-2}
    _, m2 = update(state, {**hparams, **{k: jnp.float32(v) for k, v in other.items()}})
    # Same rollout (same key and parameters), other traced values: other losses (the
    # actor's output layer starts at scale 0.01, so the step size must be visible).
    assert float(m1["advantage"]) == float(m2["advantage"])
    assert float(m1["actor_loss"]) != float(m2["actor_loss"])

    swept = {k: jnp.stack([v, v]) for k, v in hparams.items()}
    swept["ent_coef"] = jnp.array([0.0, 0.5])
    _, m = jax.jit(jax.vmap(algorithm.update, in_axes=(None, 0)))(state, swept)
    assert m["entropy"].shape == (2,)
    np.testing.assert_allclose(m["actor_loss"][0], m1["actor_loss"], rtol=1e-5)


@pytest.mark.slow  # 30 s, mostly compiling; the recurrent LBF smoke tests cover MAPPO there
def test_smoke_lbf_seeds():
    """MAPPO with minibatches on LBF, two seeds in one program: the same keys give
    the same result bit for bit, and the two seeds differ."""
    config = jaxmarl_core.make_config(
        "mappo",
        env="lbf-8x8-2p-2f-coop",
        num_envs=4,
        rollout_length=8,
        total_timesteps=64,
        num_logs=2,
        hidden_size=16,
        num_eval_episodes=2,
        minibatches=2,
        epochs=2,
    )
    train = jax.jit(jax.vmap(jaxmarl_core.make_train(config)))
    keys = seed_keys(2)
    first, again = train(keys), train(keys)
    leaves = jax.tree_util.tree_leaves
    for a, b in zip(leaves(first.state.params), leaves(again.state.params), strict=True):
        np.testing.assert_array_equal(a, b)
    actor = leaves(first.state.params.actor)[0]
    assert not np.allclose(actor[0], actor[1])
    for name in METRICS - {"episode_return"} | {"approx_kl"}:
        assert bool(jnp.isfinite(first.metrics[name]).all()), name
