"""The optimizer of §5.3: Adam with β1 = 0.9, β2 = 0.98 and ε = 1e-9 (no weight
decay)."""

from __future__ import annotations

import torch
from torch import nn


def build_optimizer(
    model: nn.Module,
    betas: tuple[float, float] = (0.9, 0.98),
    eps: float = 1e-9,
    weight_decay: float = 0.0,
) -> torch.optim.Adam:
    """Adam over the model's distinct trainable parameters (a tied matrix
    appears once).

    The learning rate starts at 0;
    :class:`transformer.train.schedule.TransformerSchedule` sets it before
    every step.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    return torch.optim.Adam(
        params, lr=0.0, betas=betas, eps=eps, weight_decay=weight_decay
    )
