"""Shared test fixtures. Every test starts from the same random state
(STYLE.md: deterministic)."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True)
def _seed_everything() -> None:
    """Seed Python's, NumPy's and PyTorch's global generators before each
    test."""
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
