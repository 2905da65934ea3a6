"""Logical axis names: the one vocabulary that parameters and activations use.

Models annotate every parameter and their main activations with these names;
the rules that map them onto a device mesh live in the experiment config, so
sharding a model never requires changing it.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import flax.linen as nn
import jax
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec

BATCH = "batch"
LENGTH = "length"
EMBED = "embed"
HEADS = "heads"
KV = "kv"  # per-head feature axis
MLP = "mlp"
VOCAB = "vocab"
POSITION = "position"  # rows of learned position tables
COND = "cond"  # the small target-position embedding that drives adaLN

# Mesh axes.
DATA = "data"
FSDP = "fsdp"
TENSOR = "tensor"
MESH_AXES = (DATA, FSDP, TENSOR)

# Logical -> mesh axis rules, by preset. The batch is split over both data
# axes; FSDP also splits the parameters (and so the optimiser state) along
# their embedding axis; tensor parallelism splits heads and the MLP. The
# vocabulary stays whole: character vocabularies (27, 28 with MASK) divide
# by nothing.
_BATCH_RULE = (BATCH, (DATA, FSDP))
RULE_PRESETS: dict[str, tuple[tuple[str, Any], ...]] = {
    "data_parallel": (_BATCH_RULE,),
    "fsdp": (_BATCH_RULE, (EMBED, FSDP)),
    "fsdp_tensor": (_BATCH_RULE, (EMBED, FSDP), (HEADS, TENSOR), (MLP, TENSOR)),
}


def make_mesh(data: int = -1, fsdp: int = 1, tensor: int = 1,
              devices: Sequence[jax.Device] | None = None) -> Mesh:
  """A (data, fsdp, tensor) mesh over all devices; one -1 fills the rest."""
  devices = list(jax.devices() if devices is None else devices)
  shape = [data, fsdp, tensor]
  if shape.count(-1) > 1:
    raise ValueError(f"mesh {dict(zip(MESH_AXES, shape))}: at most one axis may be -1")
  known = math.prod(s for s in shape if s != -1)
  if -1 in shape:
    if len(devices) % known:
      raise ValueError(f"mesh {dict(zip(MESH_AXES, shape))} cannot fill {len(devices)} "
                       "devices: make the fixed axes divide the device count")
    shape[shape.index(-1)] = len(devices) // known
  if math.prod(shape) != len(devices):
    raise ValueError(f"mesh {dict(zip(MESH_AXES, shape))} needs {math.prod(shape)} "
                     f"devices; there are {len(devices)}: set one axis to -1")
  return jax.make_mesh(tuple(shape), MESH_AXES, axis_types=(AxisType.Auto,) * 3,
                       devices=devices)


def logical_shardings(tree: Any, mesh: Mesh, rules) -> Any:
  """NamedShardings for a tree whose leaves may carry logical axis names
  (nn.Partitioned); other leaves are replicated. Same structure, unboxed."""
  specs = nn.get_partition_spec(tree)
  return nn.logical_to_mesh_sharding(specs, mesh, rules)


def strip_boxes(tree: Any) -> Any:
  """The tree with logical-axis boxes (nn.Partitioned) replaced by their values."""
  return jax.tree.map(lambda x: x.value if isinstance(x, nn.Partitioned) else x, tree,
                      is_leaf=lambda x: isinstance(x, nn.Partitioned))


def batch_sharding(mesh: Mesh) -> NamedSharding:
  """Rows of a batch split over the data axes."""
  return NamedSharding(mesh, PartitionSpec((DATA, FSDP)))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, PartitionSpec())
