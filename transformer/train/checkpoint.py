"""Training checkpoints: the model folder of :mod:`transformer.checkpoint`
plus what only training needs to resume exactly (Adam's moments, the random
states, the trainer's position), and pruning to the newest ``keep_last``.

Everything that reads a checkpoint lives in :mod:`transformer.checkpoint`
and is importable from here too.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from transformer.build import Model
from transformer.checkpoint import (  # noqa: F401  (re-exported)
    MANIFEST,
    MODEL,
    MODEL_CONFIG,
    OPTIMIZER,
    OPTIMIZER_META,
    RNG,
    RNG_META,
    RUN_CONFIG,
    STEP_DIR,
    TOKENIZER,
    TRAINER_STATE,
    CheckpointError,
    checkpoint_name,
    latest_checkpoint,
    list_checkpoints,
    load_model,
    load_model_config,
    load_run_config,
    load_tensors,
    load_tokenizer,
    load_weights,
    newest_intact,
    read_json,
    refuse_to_replace,
    remove_stale_temporaries,
    verify_checkpoint,
    with_intact_hint,
    write_checkpoint,
    write_json,
)
from transformer.train.state import (
    optimizer_from_flat,
    optimizer_to_flat,
    rng_from_flat,
    rng_to_flat,
)


def save_checkpoint(
    path: str | Path,
    model: Model,
    *,
    tokenizer: Any = None,
    run_config: dict[str, Any] | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    trainer_state: dict[str, Any] | None = None,
    save_rng: bool = True,
) -> Path:
    """Write a training checkpoint directory atomically and return its path:
    the model folder (:func:`transformer.checkpoint.write_checkpoint`) plus
    the optimizer's state and the random states. An existing directory at
    ``path`` is replaced."""

    def training_files(folder: Path) -> None:
        if optimizer is not None:
            tensors, meta = optimizer_to_flat(optimizer)
            save_file(tensors, str(folder / OPTIMIZER))
            write_json(folder / OPTIMIZER_META, meta)
        if save_rng:
            tensors, meta = rng_to_flat()
            save_file(tensors, str(folder / RNG))
            write_json(folder / RNG_META, meta)

    return write_checkpoint(
        path,
        model,
        model.config,
        tokenizer=tokenizer,
        run_config=run_config,
        trainer_state=trainer_state,
        extra=training_files,
    )


def load_training_state(
    path: str | Path,
    optimizer: torch.optim.Optimizer,
    *,
    restore_rng: bool = True,
) -> dict[str, Any]:
    """Restore the optimizer (and the random states) from a checkpoint; return
    its trainer state."""
    path = Path(path)
    if not (path / OPTIMIZER).is_file():
        raise CheckpointError(
            f"checkpoint {path} has no optimizer state (an averaged"
            " checkpoint?); cannot resume"
        )
    try:
        optimizer_from_flat(
            optimizer,
            load_tensors(path / OPTIMIZER),
            read_json(path / OPTIMIZER_META),
        )
    except (ValueError, KeyError) as e:
        raise CheckpointError(
            f"optimizer state in {path} does not fit this optimizer: {e}"
        ) from None
    if restore_rng and (path / RNG).is_file():
        rng_from_flat(load_tensors(path / RNG), read_json(path / RNG_META))
    return read_json(path / TRAINER_STATE)


def prune_checkpoints(directory: str | Path, keep_last: int) -> list[Path]:
    """Delete all but the newest ``keep_last`` checkpoints; return the deleted
    paths."""
    if keep_last < 1:
        raise ValueError(f"keep_last must be >= 1, got {keep_last}")
    old = list_checkpoints(directory)[:-keep_last]
    for p in old:
        shutil.rmtree(p)
    return old
