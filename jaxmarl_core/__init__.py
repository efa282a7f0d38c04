"""jaxmarl_core: vectorised cooperative multi-agent RL in JAX."""
