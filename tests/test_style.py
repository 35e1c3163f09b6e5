"""One formatter for the package, tests, scripts and the book's notebooks.

ruff's width (79, ``pyproject.toml``) is what fits a code cell of the built
book; ``tests/test_book.py`` checks in a browser that no shown line is cut.
Fix a failure with ``.venv/bin/ruff format . && .venv/bin/ruff check --fix .``
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _ruff(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ruff", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )


def test_code_and_notebooks_are_formatted() -> None:
    result = _ruff("format", "--check", ".")
    assert result.returncode == 0, (
        "run `.venv/bin/ruff format .`:\n" + result.stdout + result.stderr
    )


def test_code_and_notebooks_pass_the_linter() -> None:
    result = _ruff("check", "--output-format", "concise", ".")
    assert result.returncode == 0, (
        "run `.venv/bin/ruff check --fix .`, then fix what remains:\n"
        + result.stdout
        + result.stderr
    )
