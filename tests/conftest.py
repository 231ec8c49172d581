"""End-to-end test setup: makes the shared helper module (`e2e_helpers`) importable."""

from __future__ import annotations

import sys
from pathlib import Path

# pytest runs with --import-mode=importlib, which does not put test folders on sys.path.
sys.path.insert(0, str(Path(__file__).resolve().parent))
