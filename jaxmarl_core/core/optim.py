"""Adam (or RAdam) with gradient clipping whose learning rate and clip norm are traced values."""

from __future__ import annotations

from typing import Any

import chex
import optax

OPTIMIZERS = {"adam": optax.adam, "radam": optax.radam}


def make_optimizer(name: str, eps: float = 1e-8) -> optax.GradientTransformation:
    """Global-norm clipping then ``name`` (Adam, Kingma and Ba 2015; or RAdam, Liu et
    al. 2020, the rectified Adam of JaxMARL's Q-learning and PQN baselines) with
    denominator epsilon ``eps``, the learning rate and the clip norm injected per update."""
    rule = OPTIMIZERS[name]

    def build(learning_rate, max_grad_norm):
        return optax.chain(optax.clip_by_global_norm(max_grad_norm), rule(learning_rate, eps=eps))

    return optax.inject_hyperparams(build)(learning_rate=1e-3, max_grad_norm=10.0)


def apply_gradients(
    optimizer: optax.GradientTransformation,
    opt_state: Any,
    params: Any,
    grads: Any,
    lr: chex.Array,
    max_grad_norm: chex.Array,
) -> tuple[Any, Any]:
    """One optimiser step with this update's (traced) ``lr`` and ``max_grad_norm``."""
    hyper = {**opt_state.hyperparams, "learning_rate": lr, "max_grad_norm": max_grad_norm}
    opt_state = opt_state._replace(hyperparams=hyper)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state


def annealed_lr(hparams: dict, progress: chex.Array, keys: tuple[str, ...] = ("lr",)) -> dict:
    """``hparams`` with the learning rates ``keys`` decayed linearly to 0 over
    training: ``lr (1 − progress)``, ``progress`` in [0, 1) the fraction of
    ``total_timesteps`` done before this update."""
    return {**hparams, **{k: hparams[k] * (1.0 - progress) for k in keys}}
