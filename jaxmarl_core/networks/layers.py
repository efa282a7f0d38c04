"""Layers every network of the library is built from: a dense layer whose
gradient stays fast under ``vmap``, and a GRU cell with fused gates.

Why a dense layer of our own. A seed sweep is ``jit(vmap(train))``, so every
matrix product of a learner becomes a product batched over seeds. For the
weight gradient ``∂L/∂W = xᵀ g`` autodiff emits a batched product that
contracts the rows of both operands (``x`` [S, M, D], ``g`` [S, M, H]); XLA:CPU
(jaxlib 0.10) does not hand that layout to the fast kernels it uses for the
forward product (its optimised HLO shows the forward products as YNNPACK
fusions and these as plain ``dot`` ops). :func:`matmul` computes the same
gradients from operands transposed explicitly, so that every batched product
is in the canonical [S, M, K] x [S, K, N] layout; the forward pass is
unchanged. Measured on this library's 2-core CPU (IDQN and IPPO on climbing,
10k steps, ``benchmarks/sweep.py --efficiency``): 32 vmapped IDQN seeds 30.4 s
before, 27.0 s after, one seed 1.01 s before, 0.68 s after; 32 IPPO seeds 3.91
s before, 3.63 s after. Above ``TRANSPOSED_ROWS_MAX`` rows the explicit
transpose loses: XLA fuses it with the activation that produced the rows into
one loop that runs at a fraction of memory speed (IPPO at 1024 environments,
20k rows: 116 of 224 ms per update in four such transposes), so there the
weight gradient is XLA's own product (164 ms per update). A layer of one
output (a critic's value head) takes its weight gradient as ``(gᵀ x)ᵀ``, a
vector-matrix product with no transpose of the rows: 0.18 ms against 0.72 ms
for 6144 rows of 64, 1.1 ms against 9.8 ms for 24576 (this CPU, one core).

Why a GRU cell of our own. ``flax.linen.GRUCell`` computes its three gates
with six separate products (three of the input, three of the hidden state);
:class:`GRUCell` computes the same equations with two products of three times
the width.
"""

from __future__ import annotations

import functools

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp

# Up to this many rows (per run) the weight gradient transposes its input explicitly.
TRANSPOSED_ROWS_MAX = 4096


@jax.custom_vjp
def matmul(x: chex.Array, kernel: chex.Array) -> chex.Array:
    """``x @ kernel``: float32[..., D] x float32[D, H] -> float32[..., H]."""
    return x @ kernel


def _matmul_fwd(x, kernel):
    return x @ kernel, (x, kernel)


def _matmul_bwd(residuals, g):
    x, kernel = residuals
    rows = x.reshape(-1, x.shape[-1])  # [M, D]
    g_rows = g.reshape(-1, g.shape[-1])  # [M, H]
    # The barrier keeps XLA from folding the transposes back into the products.
    kernel_t = jax.lax.optimization_barrier(kernel.T)
    if kernel.shape[-1] == 1:
        # One output (a critic's value head): gᵀ [1, M] is a free reshape, so
        # (gᵀ x)ᵀ is a vector-matrix product; xᵀ g would transpose the rows.
        return g @ kernel_t, (g_rows.T @ rows).T
    if rows.shape[0] > TRANSPOSED_ROWS_MAX:
        # XLA fuses the transpose of many rows with the activation that made
        # them into one slow loop: its own product of the untransposed rows wins.
        return g @ kernel_t, rows.T @ g_rows
    rows_t = jax.lax.optimization_barrier(rows.T)
    return g @ kernel_t, rows_t @ g_rows


matmul.defvjp(_matmul_fwd, _matmul_bwd)


def dense_dot_general(lhs, rhs, dimension_numbers, precision=None, preferred_element_type=None):
    """``lax.dot_general`` for ``nn.Dense``'s one case (contract the last axis of the
    input with the first of the kernel), through :func:`matmul`."""
    (lhs_contract, rhs_contract), batch = dimension_numbers
    if tuple(lhs_contract) != (lhs.ndim - 1,) or tuple(rhs_contract) != (0,) or batch != ((), ()):
        raise ValueError(f"dense_dot_general serves nn.Dense only, got {dimension_numbers}")
    return matmul(lhs, rhs)


Dense = functools.partial(nn.Dense, dot_general=dense_dot_general)


def stacked_orthogonal(blocks: int):
    """Initialiser of a [D, blocks * H] kernel: ``blocks`` orthogonal [D, H] blocks side by side."""
    orthogonal = nn.initializers.orthogonal()

    def init(key, shape, dtype=jnp.float32):
        keys = jax.random.split(key, blocks)
        width = shape[-1] // blocks
        return jnp.concatenate([orthogonal(k, shape[:-1] + (width,), dtype) for k in keys], -1)

    return init


class GRUCell(nn.Module):
    """A gated recurrent unit (Cho et al. 2014), the equations of ``flax.linen.GRUCell``:

        r = σ(W_ir x + W_hr h + b_r),  z = σ(W_iz x + W_hz h + b_z),
        n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)),  h' = (1 − z) ⊙ n + z ⊙ h,

    with the three input products and the three hidden-state products fused into
    one each. ``(h float32[..., H], x float32[..., D]) -> (h', h')``.

    Attributes:
        features: H.
    """

    features: int

    @nn.compact
    def __call__(self, h: chex.Array, x: chex.Array) -> tuple[chex.Array, chex.Array]:
        gi = Dense(3 * self.features, name="input")(x)
        gh = Dense(3 * self.features, kernel_init=stacked_orthogonal(3), name="hidden")(h)
        i_r, i_z, i_n = jnp.split(gi, 3, axis=-1)
        h_r, h_z, h_n = jnp.split(gh, 3, axis=-1)
        r = nn.sigmoid(i_r + h_r)
        z = nn.sigmoid(i_z + h_z)
        n = jnp.tanh(i_n + r * h_n)
        h = (1.0 - z) * n + z * h
        return h, h
