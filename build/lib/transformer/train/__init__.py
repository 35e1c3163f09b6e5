"""Training (§5): loss, optimizer, learning-rate schedule, checkpoints and the
training loop.

The loop itself (:class:`Trainer`, :class:`RunConfig`) needs
``transformer.data`` and is imported lazily, so that the pure pieces (loss,
schedule, checkpoints) import without it.
"""

from typing import Any

from transformer.train.loss import LossOutput, label_smoothed_cross_entropy
from transformer.train.optim import build_optimizer
from transformer.train.schedule import TransformerSchedule, transformer_lr

__all__ = [
    "LossOutput",
    "RunConfig",
    "Trainer",
    "TrainingDivergedError",
    "TransformerSchedule",
    "build_optimizer",
    "label_smoothed_cross_entropy",
    "transformer_lr",
]


def __getattr__(name: str) -> Any:
    if name == "RunConfig":
        from transformer.train.config import RunConfig

        return RunConfig
    if name in ("Trainer", "TrainingDivergedError"):
        from transformer.train import trainer

        return getattr(trainer, name)
    raise AttributeError(
        f"module 'transformer.train' has no attribute {name!r}"
    )
