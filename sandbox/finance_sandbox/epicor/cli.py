"""`finance-sandbox epicor`: serve the Epicor Kinetic REST v2 emulator in the foreground."""

from __future__ import annotations

import argparse
import socket
import sys
from pathlib import Path
from typing import Any

from finance_sandbox import latency
from finance_sandbox.epicor.emulator import Emulator, Settings


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="finance-sandbox epicor",
        description="Epicor Kinetic REST v2 / OData v4 emulator with generated finance data.",
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8701, help="0 picks a free port (printed)")
    p.add_argument("--data-dir", type=Path, default=Path(".sandbox/epicor"))
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--invoices", type=int, default=1000)
    p.add_argument("--page-cap", type=int, default=100, help="0 = no cap")
    p.add_argument("--timezone", default="America/Chicago")
    p.add_argument("--token-ttl", type=int, default=3600)
    p.add_argument(
        "--updated-on",
        action="store_true",
        help="add an UpdatedOn column to header and master tables (not in stock Kinetic)",
    )
    p.add_argument(
        "--stock-kinetic", action="store_true", help="no-op: stock Kinetic is the default"
    )
    p.add_argument(
        "--rewrite-headers",
        action="store_true",
        help="any write below an invoice or PO also rewrites its header (not what Kinetic does)",
    )
    p.add_argument(
        "--entry-shows-posted",
        action="store_true",
        help="PaymentEntries also serves posted checks (Kinetic serves them only through "
        "CheckRecSearchSvc)",
    )
    p.add_argument(
        "--expand-cap",
        type=int,
        default=0,
        help="truncate each $expand-ed collection at this many rows per parent (0 = no cap)",
    )
    p.add_argument(
        "--big-po-lines",
        type=int,
        default=0,
        help="also generate one open EPIC06 PO (9000001) with this many lines",
    )
    p.add_argument("--latency-ms", type=int, default=0, help="flat delay added to every page")
    p.add_argument(
        "--latency",
        help="hold answers back as a real Kinetic server would (base + per row served): "
        "off, default, or a JSON file (default: $FINANCE_SANDBOX_LATENCY, else off)",
    )
    p.add_argument("--error-rate", type=float, default=0.0)
    p.add_argument("--generate-only", action="store_true", help="generate the data and exit")
    p.add_argument("--log-level", default="warning")
    p.add_argument("--tls-cert", type=Path, help="serve HTTPS with this PEM certificate (chain)")
    p.add_argument("--tls-key", type=Path, help="PEM private key of --tls-cert")
    return p


def main(argv: list[str] | None = None) -> int:
    """Generate (or reuse) the data, bind, print `EPICOR_SANDBOX_PORT=<n>`, serve until stopped."""
    cli = parser()
    args = cli.parse_args(argv)
    try:
        model = latency.from_option(args.latency)
    except ValueError as e:
        cli.error(str(e))
    if (args.tls_cert is None) != (args.tls_key is None):
        cli.error("--tls-cert and --tls-key go together")
    settings = Settings(
        host=args.host,
        port=args.port,
        data_dir=args.data_dir,
        seed=args.seed,
        invoices=args.invoices,
        page_cap=args.page_cap,
        timezone=args.timezone,
        token_ttl=args.token_ttl,
        updated_on=args.updated_on,
        rewrite_headers=args.rewrite_headers,
        entry_shows_posted=args.entry_shows_posted,
        expand_cap=args.expand_cap,
        big_po_lines=args.big_po_lines,
        latency_ms=args.latency_ms,
        error_rate=args.error_rate,
    )
    if args.generate_only:
        from finance_sandbox.epicor.generator import ensure_base

        path = ensure_base(
            settings.data_dir, settings.seed, settings.invoices, _progress, settings.big_po_lines
        )
        print(path)  # noqa: T201
        return 0
    import uvicorn

    from finance_sandbox.epicor.app import build_app
    from finance_sandbox.epicor.hooks import Hooks

    emu = Emulator(settings)
    try:
        app: Any = build_app(emu, Hooks(emu))
        if model is not None:
            app = latency.epicor_middleware(app, model)
        sock = socket.socket(socket.AF_INET6 if ":" in args.host else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((args.host, args.port))
        port = sock.getsockname()[1]
        print(f"EPICOR_SANDBOX_PORT={port}", flush=True)  # noqa: T201
        config = uvicorn.Config(
            app,
            log_level=args.log_level,
            access_log=False,
            lifespan="off",
            ssl_certfile=args.tls_cert,
            ssl_keyfile=args.tls_key,
        )
        server = uvicorn.Server(config)
        server.run(sockets=[sock])
    finally:
        emu.close()
    return 0


def _progress(message: str) -> None:
    print(f"finance-sandbox epicor: {message}", file=sys.stderr, flush=True)  # noqa: T201


if __name__ == "__main__":
    sys.exit(main())
