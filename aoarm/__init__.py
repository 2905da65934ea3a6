"""aoarm: any-order autoregressive language models in JAX/Flax."""
