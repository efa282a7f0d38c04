"""Runs vmapped in groups: how a batch of seeds keeps a lone seed's rate on a CPU.

``jax.vmap`` over R runs turns every operation of a learner into one operation
on arrays R times as large. On an accelerator that is what fills the chip. On
XLA:CPU it is not free: a lone IDQN seed's activations (128 sampled
transitions x 2 agents x 128 units, 128 KiB) stay in the core's L2 cache, 64
seeds' (8 MiB) do not, so the elementwise operations between the matrix
products (ReLU and its gradient, the transposes of the backward pass) become
bound by memory bandwidth, and the batched products run at about 0.8 of a lone
product's rate. Profiled on this library's 2-core CPU (jaxlib 0.10.2, IDQN on
``climbing``, one update of 64 vmapped seeds, 56 ms): the five 128 x 128
products of the backward and forward pass 27 ms, two transposes 7 ms, the ReLU
and select fusions 9 ms; each seed kept 0.59 of a lone seed's rate.

:func:`grouped` makes a function whose ``vmap`` over R runs is a ``lax.map``
over groups of ``width`` runs, each group one ``vmap``: the same values (to
float rounding: products of another batch width may sum in another order), run
``width`` at a time, in the same single program.

On a single CPU device the width is 1: the runs go one after another, each
the lone run's own unbatched program (a plain ``lax.map``, so a vmapped seed's
values are bit for bit the lone seed's). Measured on the same CPU
(``benchmarks/sweep.py --efficiency``, 64 seeds; two processes, one per core,
side by side), each seed keeps this fraction of a lone seed's rate (groups of
one as a vmap of size 1; as a plain ``lax.map``, recurrent QTRAN went from
0.93 to 0.95 and recurrent QMIX measured 1.05):

- GRU agents, 3k steps: VDN 1.05 (groups of 2: 0.92), IA2C 0.99 (0.94);
- MLP agents, 5k steps: IDQN 0.99 (0.97), QMIX 0.99 (1.08), IPPO 1.01 (1.11);
  one vmap over all 64: 0.75, 0.84, 0.84.

Groups of 2 gain a little on small feed-forward programs, whose per-run work
is too small to hide the loop around it, and lose on recurrent ones, whose
sequences already fill the core's 4 MiB L2 cache for one run (recurrent VDN:
128 sequences x 20 steps x 2 agents x 128 units, 2.6 MB per activation); a
width of 1 keeps every run at its lone rate within a few percent.

The width is chosen once per program by :func:`default_width`: groups of
:data:`CPU_GROUP_WIDTH` on a single CPU device, and one vmap over all runs on
accelerators and wherever the runs axis is sharded over several devices (a
``lax.map`` over a sharded axis would gather it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

# Runs per vmapped group on a CPU (see above: 1 keeps every run at its lone rate).
CPU_GROUP_WIDTH = 1


def default_width() -> int | None:
    """Runs per group for programs built now: ``CPU_GROUP_WIDTH`` on one CPU
    device, None (one vmap over all runs) otherwise."""
    if jax.default_backend() == "cpu" and jax.device_count() == 1:
        return CPU_GROUP_WIDTH
    return None


def grouped(fn: Callable[..., Any], width: int | None) -> Callable[..., Any]:
    """``fn`` (positional pytree arguments), whose ``vmap`` runs ``width`` at a time.

    Unbatched or not, the values are those of ``fn``: under ``jax.vmap`` over R
    runs the first ``R // width * width`` runs go through ``lax.map`` over groups
    of ``width``, each ``jax.vmap(fn)``, and the last ``R % width`` through one
    more ``jax.vmap(fn)``; with ``width`` 1 it is a plain ``lax.map(fn)``, each
    run ``fn``'s own unbatched program (bit for bit a lone run's values). With
    ``width`` None it is ``jax.vmap(fn)``. Not differentiable
    (``jax.custom_batching.custom_vmap``).
    """
    if width is None:
        return fn
    if width < 1:
        raise ValueError(f"a group holds at least one run, got width={width}")
    # custom_vmap traces fn once for its unbatched program and the rule below
    # traces it again; through one jit the second trace reuses the first's jaxpr
    # (half of a chunk's tracing time, 3.5 of 7 s for IPPO on LBF).
    fn = jax.jit(fn)
    wrapped = jax.custom_batching.custom_vmap(fn)

    @wrapped.def_vmap
    def rule(axis_size: int, in_batched: Any, *args: Any) -> tuple[Any, Any]:
        args = jax.tree.map(
            lambda x, batched: x if batched else jnp.broadcast_to(x, (axis_size, *jnp.shape(x))),
            args,
            tuple(in_batched),
        )

        if width == 1:  # each run's own unbatched program, one after another
            out = jax.lax.map(lambda run: fn(*run), args)
            return out, jax.tree.map(lambda _: True, out)
        batched_fn = jax.vmap(fn)
        if axis_size <= width:
            out = batched_fn(*args)
            return out, jax.tree.map(lambda _: True, out)
        # lax.map's own batch_size reshapes with -1, which fails on zero-size leaves
        full = axis_size // width * width
        head = jax.tree.map(lambda x: x[:full].reshape(full // width, width, *x.shape[1:]), args)
        out = jax.lax.map(lambda group: batched_fn(*group), head)
        out = jax.tree.map(lambda x: x.reshape(full, *x.shape[2:]), out)
        if full < axis_size:
            rest = batched_fn(*jax.tree.map(lambda x: x[full:], args))
            out = jax.tree.map(lambda a, b: jnp.concatenate([a, b]), out, rest)
        return out, jax.tree.map(lambda _: True, out)

    return wrapped
