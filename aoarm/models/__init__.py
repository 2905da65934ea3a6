"""Networks only: (tokens, order) -> logits for every architecture.

    from aoarm import models
    cfg = models.ModelConfig(arch="two_stream", vocab_size=27, max_len=128)
    model = models.build(cfg)
    variables = model.init(rng, tokens, order)
    logits = model.apply(variables, tokens, order)
"""

from aoarm.models.config import ARCHS, SIZES, ModelConfig
from aoarm.models.transformer import (AnyOrderTransformer, MaskedDiffusion,
                                      build, check_inputs)

__all__ = ["ARCHS", "SIZES", "ModelConfig", "AnyOrderTransformer",
           "MaskedDiffusion", "build", "check_inputs"]
