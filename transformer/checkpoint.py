"""Checkpoints: a directory per step, written atomically, loaded without
unpickling anything. This is the floor that training and inference share:
reading a model folder (``load_model``, ``load_tokenizer``), checking it, and
the atomic writer; ``transformer.train.checkpoint`` adds what only training
writes (optimizer and random states).

Layout of ``<run>/checkpoints/step_00001000/``::

    model.safetensors      weights; a tied matrix is stored once
    model_config.json      ModelConfig, to rebuild the model
    run_config.json        the run configuration (all four tables), if given
    tokenizer.json         the tokenizer (HF tokenizers JSON), if given
    optimizer.safetensors  Adam's moments   } for an exact resume; absent
    optimizer.json         hyper-parameters } from averaged checkpoints
    rng.safetensors/.json  torch, CUDA, NumPy and Python random states
    trainer_state.json     step, epoch, position in the epoch, schedule, ...
    manifest.json          size and SHA-256 of every file above; written last

**Atomic.** Everything is written into a hidden temporary directory beside the
target, flushed to disk, then renamed into place: a checkpoint directory is
complete or absent, even if the process dies mid-write. Loading re-checks the
manifest, so a truncated or corrupted file is reported by name.

A model folder loads in one line: ``load_model("models/multi30k-de-en")`` (or
``transformer.pretrained.load_translator`` with its tokenizer and decoding
settings).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file, save_model

from transformer.build import Model, build_model
from transformer.config import ModelConfig

MODEL, MODEL_CONFIG, RUN_CONFIG, TOKENIZER = (
    "model.safetensors",
    "model_config.json",
    "run_config.json",
    "tokenizer.json",
)
OPTIMIZER, OPTIMIZER_META = "optimizer.safetensors", "optimizer.json"
RNG, RNG_META = "rng.safetensors", "rng.json"
TRAINER_STATE, MANIFEST = "trainer_state.json", "manifest.json"
STEP_DIR = re.compile(r"^step_(\d+)$")


class CheckpointError(RuntimeError):
    """A checkpoint is missing, incomplete, corrupt, or does not fit the model
    it is loaded into."""


def checkpoint_name(step: int) -> str:
    return f"step_{step:08d}"


# -- writing ------------------------------------------------------------------
def write_checkpoint(
    path: str | Path,
    weights: torch.nn.Module | dict[str, torch.Tensor],
    model_config: ModelConfig,
    *,
    tokenizer: Any = None,
    run_config: dict[str, Any] | None = None,
    trainer_state: dict[str, Any] | None = None,
    extra: Callable[[Path], None] | None = None,
) -> Path:
    """Write a checkpoint directory atomically and return its path.

    ``weights`` is a model (a tied matrix is stored once) or a plain state
    dict of tensors (an average, an export). ``tokenizer`` is an object with
    ``save(path)`` (``transformer.data.Tokenizer``) or the path of a tokenizer
    JSON file to copy. ``extra(folder)`` writes more files into the folder
    before the manifest (training adds its optimizer and random states). An
    existing directory at ``path`` is replaced.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        if isinstance(weights, torch.nn.Module):
            save_model(weights, str(tmp / MODEL))
        else:
            save_file(
                {k: v.contiguous() for k, v in weights.items()},
                str(tmp / MODEL),
            )
        write_json(tmp / MODEL_CONFIG, model_config.to_dict())
        if run_config is not None:
            write_json(tmp / RUN_CONFIG, run_config)
        if tokenizer is not None:
            if hasattr(tokenizer, "save"):
                tokenizer.save(tmp / TOKENIZER)
            else:
                shutil.copyfile(tokenizer, tmp / TOKENIZER)
        if extra is not None:
            extra(tmp)
        if trainer_state is not None:
            write_json(tmp / TRAINER_STATE, trainer_state)
        files = sorted(p.name for p in tmp.iterdir())
        write_json(
            tmp / MANIFEST, {name: _describe(tmp / name) for name in files}
        )
        for p in tmp.iterdir():
            _fsync(p)
        _fsync(tmp)
        old = path.parent / f".{path.name}.old-{os.getpid()}"
        if path.exists():
            path.rename(old)
        tmp.rename(path)  # the atomic step
        _fsync(path.parent)
        shutil.rmtree(old, ignore_errors=True)
        remove_stale_temporaries(path.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


_TEMPORARY = re.compile(r"^\..+\.(?:tmp|old)-(\d+)$")


def remove_stale_temporaries(directory: Path) -> list[Path]:
    """Delete the hidden ``.<name>.tmp-PID`` / ``.old-PID`` folders that a save
    killed mid-write left behind (their process is gone); returns what was
    deleted. Folders of live processes stay."""
    removed = []
    for p in directory.iterdir():
        m = _TEMPORARY.match(p.name)
        if not (m and p.is_dir()) or _pid_alive(int(m.group(1))):
            continue
        if (
            ".old-" in p.name
            and not (directory / p.name[1 : p.name.rindex(".old-")]).is_dir()
        ):
            # killed between the two renames: this is the only copy of that
            # checkpoint; keep it
            continue
        shutil.rmtree(p, ignore_errors=True)
        removed.append(p)
    return removed


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def _describe(path: Path) -> dict[str, Any]:
    return {
        "bytes": path.stat().st_size,
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
    }


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# -- reading ------------------------------------------------------------------
def verify_checkpoint(path: str | Path) -> dict[str, Any]:
    """Check every file against the manifest; return the manifest. Raises
    :class:`CheckpointError`."""
    path = Path(path)
    if not path.is_dir():
        raise CheckpointError(f"no checkpoint directory at {path}")
    try:
        manifest = json.loads((path / MANIFEST).read_text())
    except FileNotFoundError:
        raise CheckpointError(
            f"{path} is not a complete checkpoint: {MANIFEST} is missing"
        ) from None
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{path / MANIFEST} is corrupt: {e}") from None
    for name, expected in manifest.items():
        file = path / name
        if not file.is_file():
            raise CheckpointError(
                f"checkpoint {path} is incomplete: {name} is missing"
            )
        actual = _describe(file)
        if actual["bytes"] != expected["bytes"]:
            raise CheckpointError(
                f"checkpoint file {file} is truncated or corrupt:"
                f" {actual['bytes']} bytes, expected {expected['bytes']}"
            )
        if actual["sha256"] != expected["sha256"]:
            raise CheckpointError(
                f"checkpoint file {file} is corrupt: its SHA-256 does not"
                f" match {MANIFEST}"
            )
    return manifest


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise CheckpointError(
            f"checkpoint {path.parent} has no {path.name}"
        ) from None


def load_tensors(file: str | Path) -> dict[str, torch.Tensor]:
    """A safetensors file as a plain state dict (CPU tensors)."""
    try:
        return load_file(str(file))
    except (SafetensorError, OSError) as e:
        raise CheckpointError(f"cannot read {file}: {e}") from None


def load_model_config(path: str | Path) -> ModelConfig:
    return ModelConfig.from_dict(read_json(Path(path) / MODEL_CONFIG))


def load_run_config(path: str | Path) -> dict[str, Any] | None:
    file = Path(path) / RUN_CONFIG
    return json.loads(file.read_text()) if file.is_file() else None


def load_weights(
    model: Model, path: str | Path, *, verify: bool = True
) -> None:
    """Load a checkpoint's weights into ``model``, whose config must equal the
    checkpoint's."""
    path = Path(path)
    if verify:
        verify_checkpoint(path)
    saved = load_model_config(path).to_dict()
    current = model.config.to_dict()
    if saved != current:
        diffs = ", ".join(
            f"{k}: checkpoint {saved.get(k)!r} vs model {current.get(k)!r}"
            for k in sorted(set(saved) | set(current))
            if saved.get(k) != current.get(k)
        )
        raise CheckpointError(
            f"checkpoint {path} was saved from a different model config"
            f" ({diffs})"
        )
    state = load_tensors(path / MODEL)
    device = next(model.parameters()).device
    missing, unexpected = model.load_state_dict(
        {k: v.to(device) for k, v in state.items()}, strict=False
    )
    shared = {n for n, _ in model.named_parameters(remove_duplicate=False)} - {
        n for n, _ in model.named_parameters()
    }
    # tied matrices are stored under one name
    missing = [k for k in missing if k not in shared]
    if missing or unexpected:
        raise CheckpointError(
            f"checkpoint {path} does not fit the model: missing {missing},"
            f" unexpected {unexpected}"
        )


def load_model(
    path: str | Path,
    device: str | torch.device = "cpu",
    *,
    verify: bool = True,
) -> Model:
    """A model folder (a checkpoint, an average, a shipped model) as a model
    in eval mode, in one line: ``load_model("models/multi30k-de-en")``.

    The model is built on the meta device (shapes, no memory, no random
    initialisation: loading leaves torch's random state untouched), given
    memory on ``device``, its computed tables (sinusoids, rotations) filled
    in, then its weights loaded.
    """
    if verify:
        verify_checkpoint(path)
    with torch.device("meta"):
        model = build_model(load_model_config(path))
    model = model.to_empty(device=device)
    for module in model.modules():
        reset = getattr(module, "reset_buffers", None)
        if callable(reset):
            reset()
    load_weights(model, path, verify=False)
    return model.eval()


def load_tokenizer(path: str | Path) -> Any:
    """The checkpoint's ``tokenizer.json`` as a
    ``transformer.data.Tokenizer``."""
    file = Path(path) / TOKENIZER
    if not file.is_file():
        raise CheckpointError(
            f"checkpoint {path} has no {TOKENIZER}; translation needs the"
            " tokenizer the model was trained with"
        )
    from transformer.data.tokenizer import Tokenizer

    return Tokenizer.load(file)


# -- a run's directory of checkpoints -----------------------------------------
def list_checkpoints(directory: str | Path) -> list[Path]:
    """Complete ``step_*`` checkpoints under ``directory``, oldest first
    (temporary dirs are hidden)."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = [
        (int(m.group(1)), p)
        for p in directory.iterdir()
        if (m := STEP_DIR.match(p.name)) and p.is_dir()
    ]
    return [p for _, p in sorted(found)]


def refuse_to_replace(
    output: Path, *, marker: str, what: str, overwrite: bool
) -> None:
    """A new folder for an average or an export: ``output`` must not exist, or
    (with ``overwrite``) must be an earlier one of the same kind (its
    trainer_state.json holds ``marker``). Nothing else is replaced."""
    if not output.exists():
        return
    state = output / TRAINER_STATE
    try:
        earlier = state.is_file() and marker in json.loads(state.read_text())
    except json.JSONDecodeError:
        earlier = False
    if not overwrite:
        raise FileExistsError(
            f"{output} already exists; choose a new folder"
            + (f" (or --overwrite this earlier {what})" if earlier else "")
        )
    if not earlier:
        raise FileExistsError(
            f"{output} exists and is not an {what}; refusing to replace it"
        )


def newest_intact(
    directory: str | Path, older_than: Path | None = None
) -> Path | None:
    """The newest checkpoint under ``directory`` (older than ``older_than``)
    that passes its manifest check."""
    for path in reversed(list_checkpoints(directory)):
        if older_than is not None and path.name >= older_than.name:
            continue
        try:
            verify_checkpoint(path)
        except CheckpointError:
            continue
        return path
    return None


def with_intact_hint(
    error: CheckpointError, corrupt: Path, what: str
) -> CheckpointError:
    """``error`` about the checkpoint ``corrupt``, plus the newest intact one
    of its run and how to use it."""
    intact = newest_intact(corrupt.parent, older_than=corrupt)
    hint = (
        f"; the newest intact checkpoint of this run is {intact}:"
        f" {what.format(intact=intact)}"
        if intact
        else "; this run has no intact checkpoint before it"
    )
    return CheckpointError(f"{error}{hint}")


def latest_checkpoint(directory: str | Path) -> Path | None:
    found = list_checkpoints(directory)
    return found[-1] if found else None
