"""`target-snowflake-finance check --config FILE`: the start-up checks alone, every fix at once.

Connects, checks warehouse, database, schema, stage, audit and rejects tables (columns too),
the tables of `table_mapping` and the role's grants, then prints either a short OK summary
(exit 0) or every problem and every missing GRANT statement, ready to run (exit 1). It creates
nothing and loads nothing.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from singer_sdk.exceptions import ConfigValidationError

from target_snowflake_finance.errors import ConnectError, TargetConfigError
from target_snowflake_finance.naming import NamingError
from target_snowflake_finance.replay import load_config


def _config(paths: list[str]) -> tuple[dict[str, Any], bool]:
    """The merged config files, and whether `ENV` (Meltano's way) adds the environment's."""
    return load_config([path for path in paths if path != "ENV"]), "ENV" in paths


def main(argv: list[str]) -> int:
    """Run the checks; print the report; 0 when a load could start, 1 otherwise."""
    from target_snowflake_finance import preflight
    from target_snowflake_finance.connector import Session
    from target_snowflake_finance.target import TargetSnowflakeFinance

    parser = argparse.ArgumentParser(
        prog="target-snowflake-finance check",
        description="Check connection, objects, columns and grants; print every missing GRANT.",
    )
    parser.add_argument("--config", action="append", default=[], help="config JSON file (or ENV)")
    args = parser.parse_args(argv)
    out = sys.stdout
    try:
        config, from_env = _config(args.config)
        target = TargetSnowflakeFinance(
            config=config, parse_env_config=from_env, validate_config=True, setup_mapper=False
        )
        session = Session(target.config, track=False)
        try:
            found = preflight.inspect(target, session)
        finally:
            session.close()
    except (
        OSError,
        ValueError,
        ConfigValidationError,
        TargetConfigError,
        ConnectError,
        NamingError,
    ) as e:
        print(f"check failed: {' '.join(str(e).split())}", file=out)
        return 1
    if found.ok:
        print(
            f"OK: role {found.role} can load into {found.location} "
            f"(checked {', '.join(found.checked) or 'connection'}"
            + (
                "; grants could not be read, see the warning above)"
                if not found.role_grants
                else ")"
            ),
            file=out,
        )
        return 0
    print(f"role {found.role} cannot load into {found.location}:", file=out)
    for problem in found.problems:
        print(f"- {' '.join(problem.split())}", file=out)
    if found.grants:
        print("Missing grants (run as the objects' owner or SECURITYADMIN):", file=out)
        for grant in found.grants:
            print(grant, file=out)
    return 1
