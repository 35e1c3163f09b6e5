"""Everything a training run needs before its first step, built from a
:class:`RunConfig`: the device and process group, the run folder (claimed, or
resumed), the data and its tokenizer, the model, the optimizer and the
schedule of Eq. (3)::

    from transformer.train.setup import build_run
    run = build_run(config)  # data, tokenizer, model, optimizer, position
    Trainer(run).fit()       # the loop only trains

:class:`~transformer.train.trainer.Trainer` takes the result (or a config, and
calls :func:`build_run` itself), so the loop holds no set-up code.
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from transformer.build import Model, build_model
from transformer.checkpoint import (
    CheckpointError,
    load_tokenizer,
    load_weights,
    with_intact_hint,
)
from transformer.config import ModelConfig
from transformer.data import Pair, Tokenizer, encode_pairs, load_pairs
from transformer.train.checkpoint import load_training_state
from transformer.train.config import RunConfig
from transformer.train.datasets import build_tokenizer
from transformer.train.device import pick_device, tune_cpu_allocator
from transformer.train.distributed import (
    DistInfo,
    barrier,
    init_distributed,
)
from transformer.train.optim import build_optimizer
from transformer.train.run_dir import RunLock, claim_run_dir
from transformer.train.schedule import TransformerSchedule


@dataclass
class Position:
    """Where training stands: optimizer steps done, the epoch and the batch
    within it (the data order is fixed by (seed, epoch)), and the target
    tokens trained on so far, all ranks."""

    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    tokens_seen: float = 0.0


@dataclass
class TrainingRun:
    """A run ready to train (see the module docstring)."""

    config: RunConfig
    device: torch.device
    dist: DistInfo
    out_dir: Path | None
    lock: RunLock | None
    train_pairs: list[Pair]
    val_pairs: list[Pair]
    tokenizer: Tokenizer
    examples: list[Any]  # encoded training pairs
    val_examples: list[Any]
    filter_stats: Any  # what encoding dropped (too long, empty)
    model: Model
    optimizer: torch.optim.Optimizer
    schedule: TransformerSchedule
    grad_accum: int  # micro-batches per optimizer step on each process
    position: Position
    resumed_from: Path | None = None
    # (world size, grad_accum) of the checkpoint resumed from
    resumed_layout: tuple[Any, Any] | None = None

    @property
    def is_main(self) -> bool:
        return self.dist.is_main


def build_run(
    config: RunConfig,
    *,
    train_pairs: list[Pair] | None = None,
    val_pairs: list[Pair] | None = None,
    tokenizer: Tokenizer | None = None,
) -> TrainingRun:
    """Set up a run from its config (``train_pairs``, ``val_pairs`` and
    ``tokenizer`` replace what the config would load or train). A run folder
    that holds a run is resumed or refused as ``train.resume`` and
    ``train.overwrite`` say (:func:`claim_run_dir`)."""
    t = config.train
    if t.threads:
        torch.set_num_threads(t.threads)
    device = pick_device(t.device, int(os.environ.get("LOCAL_RANK", "0")))
    if t.tune_allocator and device.type == "cpu":
        tune_cpu_allocator()
    dist = init_distributed(use_cuda=device.type == "cuda")
    out_dir = Path(t.out_dir) if t.out_dir else None
    lock = RunLock(out_dir) if out_dir and dist.is_main else None
    resume_from = claim_run_dir(out_dir, config, lock, lambda: barrier(dist))

    def say(message: str) -> None:
        if dist.is_main and t.progress:
            tqdm.write(message, file=sys.stderr)

    train_pairs = (
        train_pairs
        if train_pairs is not None
        else load_pairs(config.data, "train")
    )
    val_pairs = (
        val_pairs if val_pairs is not None else load_pairs(config.data, "val")
    )
    tokenizer = tokenizer or (
        load_tokenizer(resume_from)
        if resume_from
        else _make_tokenizer(config, train_pairs, dist, out_dir)
    )
    model_config = config.model_config(
        tokenizer.vocab_size, pad_id=tokenizer.pad_id
    )
    max_len = pair_max_len(config.data.max_len, model_config)
    examples, filter_stats = encode_pairs(
        train_pairs, tokenizer, max_len=max_len
    )
    val_examples, _ = encode_pairs(val_pairs, tokenizer, max_len=max_len)
    say(f"data: {filter_stats}; {len(val_examples)} validation pairs")

    torch.manual_seed(t.seed)
    model = build_model(model_config).to(device)
    optimizer = build_optimizer(model, betas=tuple(t.betas), eps=t.adam_eps)
    schedule = TransformerSchedule(
        model_config.d_model, t.warmup_steps, t.lr_scale
    )
    position, resumed_layout = Position(), None
    if resume_from is not None:
        try:
            load_weights(model, resume_from)
        except CheckpointError as e:
            raise with_intact_hint(
                e,
                resume_from,
                "move the corrupt one out of checkpoints/ and --resume again",
            ) from None
        state = load_training_state(resume_from, optimizer)
        position = Position(
            state["step"],
            state["epoch"],
            state["batch_in_epoch"],
            state.get("tokens_seen", 0.0),
        )
        schedule.load_state_dict(state["schedule"])
        say(f"resumed from {resume_from} at step {position.step}")
        resumed_layout = (state.get("world_size"), state.get("grad_accum"))
    say(
        f"model: {model.num_parameters():,} parameters on {device} (world"
        f" size {dist.world_size})"
    )
    grad_accum = (
        math.ceil(t.tokens_per_step / (t.max_tokens * dist.world_size))
        if t.tokens_per_step
        else t.grad_accum
    )
    return TrainingRun(
        config=config,
        device=device,
        dist=dist,
        out_dir=out_dir,
        lock=lock,
        train_pairs=train_pairs,
        val_pairs=val_pairs,
        tokenizer=tokenizer,
        examples=examples,
        val_examples=val_examples,
        filter_stats=filter_stats,
        model=model,
        optimizer=optimizer,
        schedule=schedule,
        grad_accum=grad_accum,
        position=position,
        resumed_from=resume_from,
        resumed_layout=resumed_layout,
    )


def _make_tokenizer(
    config: RunConfig,
    train_pairs: list[Pair],
    dist: DistInfo,
    out_dir: Path | None,
) -> Tokenizer:
    if not (dist.enabled and out_dir):
        return build_tokenizer(config.data, train_pairs)
    # rank 0 trains it, the others read it
    path = out_dir / "tokenizer.json"
    if dist.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
        build_tokenizer(config.data, train_pairs).save(path)
    barrier(dist)
    return Tokenizer.load(path)


def pair_max_len(data_max_len: int | None, model: ModelConfig) -> int:
    """The longest source (tokens + EOS) and target (+ BOS) a pair may have to
    be trained on: ``data.max_len``, else the positional table. A one-stack
    model (decoder-only, prefix LM) puts both sides in one table, so each
    gets half of it."""
    if model.architecture == "encoder_decoder":
        return data_max_len or model.max_len
    half = model.max_len // 2
    if data_max_len is not None and data_max_len > half:
        raise ValueError(
            f"data.max_len={data_max_len} lets a source and a target of"
            f" {data_max_len} tokens each through, but a"
            f" model.architecture={model.architecture!r} model reads both in"
            f" one positional table of model.max_len={model.max_len}; set"
            f" data.max_len <= {half} or raise model.max_len"
        )
    return data_max_len or half
