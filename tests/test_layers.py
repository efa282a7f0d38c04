"""The dense layer's hand-written gradient equals autodiff's of ``x @ kernel``, in
each of its three paths (one output; rows up to and above TRANSPOSED_ROWS_MAX)."""

import chex
import jax
import jax.numpy as jnp
import pytest

from jaxmarl_core.networks.layers import TRANSPOSED_ROWS_MAX, matmul


@pytest.mark.parametrize("outputs", [1, 5])
@pytest.mark.parametrize("rows", [6, TRANSPOSED_ROWS_MAX + 4])
def test_matmul_gradient_is_that_of_the_product(rows, outputs):
    kx, kw, kg = jax.random.split(jax.random.PRNGKey(0), 3)
    x = jax.random.normal(kx, (2, rows // 2, 7))  # leading axes are flattened into rows
    kernel = jax.random.normal(kw, (7, outputs))
    cotangent = jax.random.normal(kg, (2, rows // 2, outputs))

    def loss(product):
        return lambda x, kernel: jnp.sum(jnp.tanh(product(x, kernel)) * cotangent)

    got = jax.jit(jax.grad(loss(matmul), argnums=(0, 1)))(x, kernel)
    expected = jax.jit(jax.grad(loss(jnp.matmul), argnums=(0, 1)))(x, kernel)
    chex.assert_trees_all_equal_shapes_and_dtypes(got, expected)
    chex.assert_trees_all_close(got, expected, rtol=1e-5, atol=1e-4)
    chex.assert_trees_all_close(matmul(x, kernel), x @ kernel)
