"""Orbax checkpoints of a run: train state, data-iterator place and config.

WORKDIR/checkpoints/<step>/ holds three items: `state` (the TrainState,
restored onto whatever mesh the caller's shardings describe), `data` (each
process's grain iterator state) and `config` (the experiment config as JSON).
Saving is asynchronous; `wait()` blocks until the last save is on disk.
"""

from __future__ import annotations

import json
import os
from typing import Any

import grain
import jax
import ml_collections
import orbax.checkpoint as ocp


def config_to_dict(config: ml_collections.ConfigDict) -> dict:
  return json.loads(config.to_json_best_effort())


def _diff(saved: dict, current: dict, prefix: str = "") -> list[str]:
  out = []
  for key in sorted(set(saved) | set(current)):
    a, b = saved.get(key, "<absent>"), current.get(key, "<absent>")
    if isinstance(a, dict) and isinstance(b, dict):
      out += _diff(a, b, f"{prefix}{key}.")
    elif a != b:
      out.append(f"{prefix}{key}: checkpoint {a!r}, config {b!r}")
  return out


class Checkpointer:
  """Saves and restores runs in `directory` (keeps the newest `max_to_keep`)."""

  def __init__(self, directory: str, max_to_keep: int = 3, async_save: bool = True):
    self.directory = os.path.abspath(directory)
    self._manager = ocp.CheckpointManager(
        self.directory,
        options=ocp.CheckpointManagerOptions(
            max_to_keep=max_to_keep, enable_async_checkpointing=async_save, create=True),
        item_handlers={"state": ocp.StandardCheckpointHandler(),
                       "data": grain.checkpoint.CheckpointHandler(),
                       "config": ocp.JsonCheckpointHandler()})

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def save(self, step: int, state: Any, data_iterator,
           config: ml_collections.ConfigDict) -> None:
    items = dict(state=ocp.args.StandardSave(state),
                 config=ocp.args.JsonSave(config_to_dict(config)))
    if data_iterator is not None:
      items["data"] = grain.checkpoint.CheckpointSave(data_iterator)
    self._manager.save(step, args=ocp.args.Composite(**items), force=True)

  def saved_config(self, step: int) -> dict:
    return self._manager.restore(
        step, args=ocp.args.Composite(config=ocp.args.JsonRestore()))["config"]

  def restore(self, step: int, abstract_state: Any, data_iterator,
              config: ml_collections.ConfigDict) -> Any:
    """The state saved at `step`, laid out as `abstract_state`'s shardings.

    Raises ValueError when the checkpoint's model or data differ from
    `config`'s (it would not fit, or would silently train something else);
    `data_iterator`, when given, is moved to the saved place.
    """
    saved, current = self.saved_config(step), config_to_dict(config)
    diffs = [d for section in ("model", "data")
             for d in _diff(saved.get(section, {}), current[section], f"{section}.")]
    if diffs:
      raise ValueError(
          f"the checkpoint at {self.directory} (step {step}) was written for another "
          "model or data:\n  " + "\n  ".join(diffs) +
          "\nuse a fresh --workdir, or set these fields back")
    items = dict(state=ocp.args.StandardRestore(abstract_state))
    if data_iterator is not None:
      items["data"] = grain.checkpoint.CheckpointRestore(data_iterator)
    try:
      restored = self._manager.restore(step, args=ocp.args.Composite(**items))
    except (ValueError, KeyError, TypeError) as e:
      raise ValueError(f"checkpoint {self.directory}/{step} does not match this "
                       f"run's state: {e}") from e
    return restored["state"]

  def wait(self) -> None:
    self._manager.wait_until_finished()

  def close(self) -> None:
    self._manager.close()


def abstract_like(state: Any, shardings: Any) -> Any:
  """ShapeDtypeStructs carrying the shardings a restore should produce."""
  return jax.tree.map(
      lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s), state, shardings)
