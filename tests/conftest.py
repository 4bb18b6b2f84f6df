"""Shared fixtures: seeded random generators and paths to the sample data."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)
