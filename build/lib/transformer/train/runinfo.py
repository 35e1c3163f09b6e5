"""What a figure needs next to its numbers: versions, hardware, git commit,
command, times (STYLE.md)."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch


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
        },
    }
