"""pytest plugin (entry point `pytest11`): sandbox fixtures for every test in the workspace."""

from __future__ import annotations

from finance_sandbox.testing.epicor import *  # noqa: F403
from finance_sandbox.testing.snowflake import *  # noqa: F403
