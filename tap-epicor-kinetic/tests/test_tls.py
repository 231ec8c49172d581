"""Point 7 (TLS): certificates are verified by default; `ca_bundle` trusts an internal CA."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def _self_signed(directory: Path) -> tuple[Path, Path]:
    """An internal-CA-style certificate for 127.0.0.1 (PEM cert, PEM key)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Internal Epicor CA")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "ca.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
def https_sandbox(small_sandbox: Any, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """The sandbox behind an HTTPS front end with a certificate no public CA signed."""
    cert, key = _self_signed(tmp_path)
    upstream = small_sandbox.root

    class Forward(BaseHTTPRequestHandler):
        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
            reply = requests.request(
                self.command, upstream + self.path, headers=headers, data=body, timeout=60
            )
            self.send_response(reply.status_code)
            for k, v in reply.headers.items():
                if k.lower() not in {"content-length", "transfer-encoding", "connection"}:
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(reply.content)))
            self.end_headers()
            self.wfile.write(reply.content)

        do_GET = do_POST = _forward  # noqa: N815 (http.server method names)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Forward)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}/EpicorSandbox", cert
    finally:
        server.shutdown()
        server.server_close()


def test_tls_is_verified_by_default_and_ca_bundle_trusts_an_internal_ca(
    small_sandbox: Any, https_sandbox: tuple[str, Path], tap_runner: Any, tmp_path: Path
) -> None:
    base_url, ca = https_sandbox
    config = small_sandbox.tap_config(base_url=base_url, max_retries=0)
    refused = tap_runner.run_cli(tmp_path, config)
    assert refused.returncode != 0
    assert "CERTIFICATE_VERIFY_FAILED" in refused.stderr

    catalog = tap_runner.select_only(config, {"vendors"})
    trusted = tap_runner.sync({**config, "ca_bundle": str(ca)}, catalog=catalog)
    assert len(trusted.records["vendors"]) == len(small_sandbox.truth("vendors"))
