"""Checkpoint averaging (§6.1): "For the base models, we used a single model
obtained by averaging the last 5 checkpoints, which were written at 10-minute
intervals. For the big models, we averaged the last 20 checkpoints."

The average is taken parameter by parameter in float64 and cast back; the
result is an ordinary checkpoint (weights, configs, tokenizer) without
optimizer state, so it can be used to translate or evaluate but not to resume
training.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from transformer.checkpoint import (
    MODEL,
    STEP_DIR,
    TOKENIZER,
    CheckpointError,
    load_model_config,
    load_run_config,
    load_tensors,
    refuse_to_replace,
    verify_checkpoint,
    write_checkpoint,
)


def average_checkpoints(
    paths: Sequence[str | Path], output: str | Path, *, overwrite: bool = False
) -> Path:
    """Average the weights of ``paths`` (same model config) into a new
    checkpoint at ``output``.

    ``output`` must not exist, or (with ``overwrite``) must be an earlier
    average: a training checkpoint, a run folder or any other folder is never
    replaced. Nor may it be named like a training checkpoint (``step_N``),
    which ``--resume`` and ``translate`` would take for one.
    """
    paths = [Path(p) for p in paths]
    output = Path(output)
    if not paths:
        raise ValueError("no checkpoints to average")
    if STEP_DIR.match(output.name):
        raise ValueError(
            f"--output {output} is named like a training checkpoint (step_N);"
            " choose another name, e.g. <run>/averaged"
        )
    refuse_to_replace(
        output,
        marker="averaged_from",
        what="averaged checkpoint",
        overwrite=overwrite,
    )
    for p in paths:
        verify_checkpoint(p)
    config = load_model_config(paths[0])
    total: dict[str, torch.Tensor] = {}
    for p in paths:
        if load_model_config(p) != config:
            raise CheckpointError(
                f"cannot average {p} with {paths[0]}: their model configs"
                " differ"
            )
        state = load_tensors(p / MODEL)
        if total and set(state) != set(total):
            raise CheckpointError(
                f"cannot average {p} with {paths[0]}: different tensors"
            )
        for name, tensor in state.items():
            if name in total and total[name].shape != tensor.shape:
                raise CheckpointError(
                    f"cannot average {p} with {paths[0]}: {name} is"
                    f" {tuple(tensor.shape)}, not {tuple(total[name].shape)}"
                )
            total[name] = total.get(name, 0) + tensor.double()
    # the mean in float64, stored in float32 as the model's parameters are
    # (a tied matrix is stored once, so it is averaged once)
    average = {n: (t / len(paths)).float() for n, t in total.items()}
    tokenizer = paths[-1] / TOKENIZER
    return write_checkpoint(
        output,
        average,
        config,
        tokenizer=tokenizer if tokenizer.is_file() else None,
        run_config=load_run_config(paths[-1]),
        trainer_state={"averaged_from": [str(p) for p in paths]},
    )
