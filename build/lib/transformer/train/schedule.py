"""The learning-rate schedule of Eq. (3), §5.3:

    lrate = d_model^-0.5 · min(step^-0.5, step · warmup_steps^-1.5)

It rises linearly for ``warmup_steps`` steps (4000 in the paper), then decays
as 1/sqrt(step). ``scale`` multiplies the whole curve (fairseq and the
Annotated Transformer call it the "factor"; 1 is the paper).

``step`` counts **optimizer steps**, starting at 1, never micro-batches: with
gradient accumulation the schedule advances once per ``optimizer.step()``. (The
Annotated Transformer steps its scheduler once per micro-batch, so with
accumulation its warm-up ends ``accum_iter`` times too early.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch.optim import Optimizer


def transformer_lr(
    step: int, d_model: int, warmup_steps: int = 4000, scale: float = 1.0
) -> float:
    """Eq. (3) at optimizer step ``step`` >= 1."""
    if step < 1:
        raise ValueError(
            f"the schedule of Eq. (3) starts at step 1, got step={step}"
        )
    if warmup_steps < 1:
        raise ValueError(f"warmup_steps must be >= 1, got {warmup_steps}")
    return scale * d_model**-0.5 * min(step**-0.5, step * warmup_steps**-1.5)


@dataclass
class TransformerSchedule:
    """Sets the learning rate of every parameter group to Eq. (3) before each
    optimizer step.

    Usage: ``lr = schedule.step(optimizer)`` right before ``optimizer.step()``.
    ``last_step`` is the number of optimizer steps taken so far; it is the
    whole state (see ``state_dict``).
    """

    d_model: int
    warmup_steps: int = 4000
    scale: float = 1.0
    last_step: int = 0

    def lr(self, step: int) -> float:
        return transformer_lr(
            step, self.d_model, self.warmup_steps, self.scale
        )

    def step(self, optimizer: Optimizer) -> float:
        """Advance by one optimizer step and write the new rate into
        ``optimizer``; returns it."""
        self.last_step += 1
        lr = self.lr(self.last_step)
        for group in optimizer.param_groups:
            group["lr"] = lr
        return lr

    def state_dict(self) -> dict[str, Any]:
        return {
            "d_model": self.d_model,
            "warmup_steps": self.warmup_steps,
            "scale": self.scale,
            "last_step": self.last_step,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.last_step = int(state["last_step"])
