"""Synthetic sources with known answers: a Markov chain and a hidden Markov
model over V symbols, seeded (DESIGN.md §4).

Sequences are windows of one long stationary run, so every window is
distributed as the stationary process.
"""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class MarkovSource:
  """A first-order chain (num_hidden=0) or an HMM with `num_hidden` states."""

  vocab_size: int
  concentration: float = 0.5  # Dirichlet parameter of each transition row
  num_hidden: int = 0  # 0: the symbols are the states; K > 0: a K-state HMM
  seed: int = 0

  def __post_init__(self):
    if self.vocab_size < 2:
      raise ValueError(f"vocab_size={self.vocab_size}: a chain needs >= 2 symbols")
    if self.concentration <= 0:
      raise ValueError(f"concentration={self.concentration} must be > 0")

  @property
  def num_states(self) -> int:
    return self.num_hidden or self.vocab_size

  @property
  def params(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(transition P[K, K], emission E[K, V], stationary law pi[K])."""
    rng = np.random.default_rng(self.seed)
    k = self.num_states
    trans = rng.dirichlet(np.full(k, self.concentration), size=k)
    emit = (rng.dirichlet(np.full(self.vocab_size, self.concentration), size=k)
            if self.num_hidden else np.eye(k))
    evals, evecs = np.linalg.eig(trans.T)
    pi = np.real(evecs[:, np.argmin(np.abs(evals - 1))])
    return trans, emit, pi / pi.sum()

  def sample(self, num_tokens: int, seed: int) -> np.ndarray:
    """One stationary run of `num_tokens` symbols, int32."""
    trans, emit, pi = self.params
    rng = np.random.default_rng(seed)
    cum = np.cumsum(trans, axis=1)
    u = rng.random(num_tokens)
    states = np.empty(num_tokens, np.int64)
    states[0] = rng.choice(len(pi), p=pi)
    for i in range(1, num_tokens):
      states[i] = min(np.searchsorted(cum[states[i - 1]], u[i]), len(pi) - 1)
    if not self.num_hidden:
      return states.astype(np.int32)
    emit_cum = np.cumsum(emit, axis=1)[states]
    symbols = (rng.random(num_tokens)[:, None] > emit_cum).sum(axis=1)
    return np.minimum(symbols, self.vocab_size - 1).astype(np.int32)

  def entropy_rate(self) -> float:
    """Nats per symbol of a first-order chain (its true left-to-right NLL)."""
    if self.num_hidden:
      raise NotImplementedError("an HMM's entropy rate has no closed form")
    trans, _, pi = self.params
    return float(-(pi[:, None] * trans * np.log(trans + 1e-300)).sum())
