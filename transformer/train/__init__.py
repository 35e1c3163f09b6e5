"""Training (§5): loss, optimizer, learning-rate schedule, checkpoints and the training loop."""

from transformer.train.loss import LossOutput, label_smoothed_cross_entropy
from transformer.train.optim import build_optimizer
from transformer.train.schedule import TransformerSchedule, transformer_lr

__all__ = [
    "LossOutput",
    "label_smoothed_cross_entropy",
    "build_optimizer",
    "TransformerSchedule",
    "transformer_lr",
]
