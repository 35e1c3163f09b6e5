"""JSON Lines files (one JSON object per line), as the trainer writes its
metrics and the results readers read them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Every record of a ``.jsonl`` file (blank lines skipped)."""
    return [
        json.loads(line)
        for line in Path(path).read_text().splitlines()
        if line.strip()
    ]
