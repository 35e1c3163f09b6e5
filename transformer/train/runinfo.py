"""What a figure needs next to its numbers: versions, hardware, git commit,
command, times (STYLE.md)."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from transformer.train.device import cpu_has_bf16, cpu_has_native_bf16


def git_commit(path: Path | None = None) -> str | None:
    """HEAD of the repository holding this package (with "+dirty" if it has
    local changes), or None."""
    cwd = path or Path(__file__).resolve().parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
        if head.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
        return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def cpu_name() -> str:
    """The CPU's model name ("AMD EPYC", "Intel(R) Xeon(R) ..."), read from
    ``/proc/cpuinfo`` on Linux; elsewhere what :mod:`platform` knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and value.strip():
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def run_info(device: torch.device, world_size: int) -> dict[str, Any]:
    import sacrebleu
    import tokenizers

    import transformer

    hardware = platform.processor() or platform.machine()
    if device.type == "cuda":
        hardware = torch.cuda.get_device_name(device)
    return {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": sys.argv,
        "git_commit": git_commit(),
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "transformer": transformer.__version__,
            "sacrebleu": sacrebleu.__version__,
            "tokenizers": tokenizers.__version__,
        },
        "hardware": {
            "device": str(device),
            "name": hardware,
            "world_size": world_size,
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            # what sets a CPU run's speed and its "auto" precision: the model,
            # the widest vector instructions PyTorch uses (AVX2, AVX512, ...),
            # whether oneDNN runs bf16 on it (what "auto" asks: AVX-512 and
            # newer) and whether it has native bf16 instructions
            "cpu": cpu_name(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "cpu_bf16": cpu_has_bf16(),
            "cpu_bf16_native": cpu_has_native_bf16(),
        },
    }


@dataclass
class RunRecord:
    """``run.json``: what a run was (:func:`run_info`, its config, ...),
    written when a segment starts (``status: running``) and again when it ends,
    so that a killed segment leaves a record. Resuming keeps the earlier
    segments' records under ``earlier_segments``. With no file (not rank 0, no
    out_dir) it records nothing."""

    path: Path | None
    info: dict[str, Any]

    @classmethod
    def open(cls, path: Path | None, info: dict[str, Any]) -> RunRecord:
        info = dict(info)
        if path is not None:
            if path.is_file():
                earlier = json.loads(path.read_text())
                if earlier.get("status") == "running":
                    earlier["status"] = (
                        "killed (no final record: the process ended without"
                        " finishing this segment)"
                    )
                info["earlier_segments"] = earlier.pop(
                    "earlier_segments", []
                ) + [earlier]
            path.write_text(
                json.dumps({**info, "status": "running"}, indent=2) + "\n"
            )
        return cls(path, info)

    def close(self, **final: Any) -> None:
        """The segment's end: wall time, final step, status..."""
        self.info.update(final)
        if self.path is not None:
            self.path.write_text(json.dumps(self.info, indent=2) + "\n")
