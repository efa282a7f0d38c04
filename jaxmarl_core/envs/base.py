"""The action, reward and discount specs every multi-agent environment shares."""

from __future__ import annotations

from functools import cached_property

import jax.numpy as jnp
from jumanji import specs
from jumanji.env import Environment


class MultiAgentEnvironment(Environment):
    """A ``jumanji.Environment`` with ``num_agents`` agents of ``num_actions`` actions,
    per-agent rewards and discounts."""

    num_agents: int
    num_actions: int

    @cached_property
    def action_spec(self) -> specs.MultiDiscreteArray:
        return specs.MultiDiscreteArray(
            num_values=jnp.full((self.num_agents,), self.num_actions, jnp.int32),
            name="action",
        )

    @cached_property
    def reward_spec(self) -> specs.Array:
        return specs.Array((self.num_agents,), jnp.float32, "reward")

    @cached_property
    def discount_spec(self) -> specs.BoundedArray:
        return specs.BoundedArray((self.num_agents,), jnp.float32, 0.0, 1.0, "discount")
