"""A run folder belongs to one run: guards that keep a training run from mixing
with, or destroying, another.

- :func:`prepare_run_dir`: a folder that already holds a run is refused unless
  the run is resumed (``--resume``) or explicitly started over
  (``--overwrite``, which deletes only the run's own files: ``checkpoints/``,
  ``metrics.jsonl``, ``run.json``, ``tokenizer.json``; anything else stays).
- :class:`RunLock`: ``train.lock`` (``flock``; the owner's pid and host inside,
  for the message) keeps a second trainer out of a folder while one is writing
  into it; the kernel frees it when its process dies, so a killed run never
  leaves a folder locked.
- :func:`check_resume`: resuming with a different seed, model, data or
  optimisation recipe would silently continue another run; it is refused,
  naming each key that differs.
"""

from __future__ import annotations

import atexit
import fcntl
import json
import os
import shutil
import socket
import warnings
from pathlib import Path
from typing import Any

RUN_FILES = ("checkpoints", "metrics.jsonl", "run.json", "tokenizer.json")
LOCK = "train.lock"
# Keys a resumed run may change: how long it runs and how it logs, saves and
# computes, not what it learns.
RESUME_MAY_CHANGE = {
    "train": {
        "max_steps",
        "log_every",
        "eval_every",
        "eval_sentences",
        "save_every",
        "keep_last",
        "out_dir",
        "resume",
        "overwrite",
        "progress",
        "device",
        "precision",
        "compile",
        "fused_loss",
        "dropout_masks",
        "threads",
        "tune_allocator",
        "grad_accum",
        "tokens_per_step",
    },
    "decode": {"beam_size", "alpha", "extra_len", "batch_size"},
    "data": {"data_dir"},
}


class RunDirError(ValueError):
    """The run folder cannot be used as asked (it holds another run, is locked,
    or does not match)."""


def prepare_run_dir(out_dir: Path, *, resume: bool, overwrite: bool) -> None:
    """Refuse a folder that holds a run unless resuming or overwriting; with
    ``overwrite``, delete the run's files."""
    present = [name for name in RUN_FILES if (out_dir / name).exists()]
    if not present or resume:
        return
    if not overwrite:
        raise RunDirError(
            f"{out_dir} already holds a run ({', '.join(present)}); continue"
            " it with --resume (train.resume=true), choose another --out-dir,"
            " or start over with --overwrite (train.overwrite=true), which"
            " deletes its checkpoints, metrics and run.json"
        )
    for name in present:
        path = out_dir / name
        shutil.rmtree(path) if path.is_dir() else path.unlink()


class RunLock:
    """``<out_dir>/train.lock``, held with ``flock`` while a trainer writes
    into the folder.

    The kernel releases the lock when its process ends, however it ends, so a
    killed run never leaves a folder locked: the file stays (with the last
    owner's pid and host, for the message) but is free.
    """

    def __init__(self, out_dir: Path) -> None:
        self.path = out_dir / LOCK
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock, or raise :class:`RunDirError` naming the process that
        holds it."""
        if self._fd is not None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o644)
        except PermissionError as e:
            # found now, before any training, not at the first checkpoint
            raise RunDirError(
                f"cannot write into {self.path.parent} ({e.strerror}); choose"
                " a writable --out-dir"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            owner = _read_owner(self.path)
            raise RunDirError(
                f"{self.path.parent} is being written by another training"
                f" process (pid {owner.get('pid', '?')} on"
                f" {owner.get('host', '?')}, see {self.path}); wait for it to"
                " finish, or choose another --out-dir"
            ) from None
        os.ftruncate(fd, 0)
        os.write(
            fd,
            json.dumps(
                {"pid": os.getpid(), "host": socket.gethostname()}
            ).encode(),
        )
        self._fd = fd
        atexit.register(self.release)

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def _read_owner(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        # being written this instant, or garbage: treated as the lock of a dead
        # process
        return {}


def check_resume(
    saved: dict[str, Any] | None, current: dict[str, Any], checkpoint: Path
) -> None:
    """Refuse to resume ``checkpoint`` (its ``run_config.json`` is ``saved``)
    under a config that learns differently."""
    if not saved:
        return
    from transformer.train.config import RunConfig

    def resolved(config: dict[str, Any]) -> dict[str, Any]:
        """The model table as the model it builds (a preset's default spelled
        out equals the preset)."""
        model = (
            RunConfig.from_dict(config, source=str(checkpoint))
            .model_config(vocab_size=1000)
            .to_dict()
        )
        return {
            k: v
            for k, v in model.items()
            if k not in ("vocab_size", "tgt_vocab_size", "pad_id")
        }

    differences = []
    tables = {
        "data": (saved.get("data", {}), current.get("data", {})),
        "model": (resolved(saved), resolved(current)),
        "train": (saved.get("train", {}), current.get("train", {})),
    }
    for table, (old, new) in tables.items():
        for key in sorted(set(old) | set(new)):
            if (
                table == "data"
                and key == "vocab_size"
                and new.get("tokenizer") == "word"
            ):
                continue  # the word tokenizer ignores it
            if key not in RESUME_MAY_CHANGE.get(table, set()) and old.get(
                key
            ) != new.get(key):
                differences.append(
                    f"{table}.{key}: checkpoint {old.get(key)!r}, now"
                    f" {new.get(key)!r}"
                )
    if "dropout_masks" not in saved.get("train", {}) and current.get(
        "train", {}
    ).get("dropout_masks", "auto") in ("auto", "bits"):
        warnings.warn(
            f"{checkpoint} was written before train.dropout_masks existed, so"
            " its run drew PyTorch's dropout masks; on the CPU this run draws"
            " them from random bits (the same distribution, another draw)."
            " To continue exactly, resume with"
            ' --set train.dropout_masks="torch"',
            stacklevel=2,
        )
    if differences:
        raise RunDirError(
            f"cannot resume {checkpoint}: this config would continue a"
            f" different run ({'; '.join(differences)}). Resume with the run's"
            " own config, or train into another --out-dir"
        )


def claim_run_dir(
    out_dir: Path | None, config: Any, lock: RunLock | None, barrier: Any
) -> Path | None:
    """One run per folder: take its lock (rank 0: ``lock``), refuse another
    run's folder, check a resume; returns the checkpoint to resume from (None:
    start from scratch). Releases the lock if refused.

    ``barrier()`` waits for every rank, so that none writes before rank 0 has
    checked the folder (if rank 0 refused it, torchrun ends the others).
    """
    from transformer.train.checkpoint import (
        CheckpointError,
        latest_checkpoint,
        load_run_config,
        verify_checkpoint,
        with_intact_hint,
    )

    t = config.train
    if t.resume and t.overwrite:
        raise ValueError(
            "train.resume and train.overwrite exclude each other: continue the"
            " run, or start over"
        )
    if out_dir is None:
        return None
    ckpt_dir = out_dir / "checkpoints"
    if t.resume and not ckpt_dir.is_dir():
        raise FileNotFoundError(
            f"--resume: {ckpt_dir} does not exist; is --out-dir {out_dir} the"
            " run's folder?"
        )
    try:
        if lock is not None:
            lock.acquire()
            prepare_run_dir(out_dir, resume=t.resume, overwrite=t.overwrite)
        barrier()
        resume_from = latest_checkpoint(ckpt_dir) if t.resume else None
        if t.resume and resume_from is None:
            raise FileNotFoundError(
                f"--resume: {ckpt_dir} holds no complete checkpoint; start"
                " over with --overwrite, or train into another --out-dir"
            )
        if resume_from is not None:
            try:
                # before reading any of its files
                verify_checkpoint(resume_from)
            except CheckpointError as e:
                raise with_intact_hint(
                    e,
                    resume_from,
                    "move the corrupt one out of checkpoints/ and --resume"
                    " again",
                ) from None
            check_resume(
                load_run_config(resume_from), config.to_dict(), resume_from
            )
    except BaseException:
        if lock is not None:
            lock.release()
        raise
    return resume_from
