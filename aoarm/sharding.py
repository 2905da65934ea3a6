"""Logical axis names: the one vocabulary that parameters and activations use.

Models annotate every parameter and their main activations with these names;
the rules that map them onto a device mesh live in the experiment config, so
sharding a model never requires changing it.
"""

BATCH = "batch"
LENGTH = "length"
EMBED = "embed"
HEADS = "heads"
KV = "kv"  # per-head feature axis
MLP = "mlp"
VOCAB = "vocab"
POSITION = "position"  # rows of learned position tables
COND = "cond"  # the small target-position embedding that drives adaLN
