"""`finance-sandbox` command: start the Epicor emulator, the local Snowflake, or both."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Dispatch to the sub-command's own module so each part owns its flags."""
    args = list(sys.argv[1:] if argv is None else argv)
    usage = (
        "usage: finance-sandbox {epicor|snowflake|snowflake-env|up|down|status} [options]  "
        "(--help on each)"
    )
    if not args or args[0] in {"-h", "--help"}:
        print(usage)  # noqa: T201
        return 0
    command, rest = args[0], args[1:]
    if command == "epicor":
        from finance_sandbox.epicor.cli import main as epicor_main

        return epicor_main(rest)
    if command == "snowflake":
        from finance_sandbox.snowflake_env import run_server

        return run_server(rest)
    if command == "snowflake-env":  # build the local Snowflake's own environment now
        from finance_sandbox.snowflake_env import ensure_env

        print(ensure_env())  # noqa: T201
        return 0
    if command in {"up", "down", "status"}:
        from finance_sandbox.services import main as services_main

        return services_main([command, *rest])
    print(f"finance-sandbox: unknown command {command!r}\n{usage}", file=sys.stderr)  # noqa: T201
    return 2


if __name__ == "__main__":
    sys.exit(main())
