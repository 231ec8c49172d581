"""TLS: the emulator itself serves HTTPS with a certificate from a private CA.

The tap must refuse it by default (verification on) with a clear message, and accept it when
`ca_bundle` names the CA; the data it then reads is the emulator's.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from e2e_helpers import TAP, clean_env, last_line, wait_for, write_json
from finance_sandbox.testing.epicor import API_KEY, INSTANCE, PASSWORD, USERNAME


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def make_ca_and_server_cert(directory: Path) -> tuple[Path, Path, Path]:
    """A private CA, and a server certificate for 127.0.0.1 signed by it (PEM files)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("Finance Sandbox Internal CA"))
        .issuer_name(_name("Finance Sandbox Internal CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_path, cert_path = directory / "ca.pem", directory / "server.pem"
    key_path = directory / "key.pem"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return ca_path, cert_path, key_path


@pytest.fixture(scope="module")
def https_epicor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """`finance-sandbox epicor --tls-cert --tls-key` on a free port: (base_url, CA file)."""
    work = tmp_path_factory.mktemp("tls")
    ca, cert, key = make_ca_and_server_cert(work)
    log = work / "epicor.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "finance_sandbox.cli", "epicor", "--port", "0",
             "--data-dir", str(work / "data"), "--invoices", "20",
             "--tls-cert", str(cert), "--tls-key", str(key)],
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        line = wait_for(
            lambda: (
                next(
                    (
                        x
                        for x in log.read_text().splitlines()
                        if x.startswith("EPICOR_SANDBOX_PORT=")
                    ),
                    None,
                )
                or (proc.poll() is not None and log.read_text())
            ),
            "the HTTPS emulator to listen",
        )
        assert line.startswith("EPICOR_SANDBOX_PORT="), line
        root = f"https://127.0.0.1:{line.split('=', 1)[1]}"
        wait_for(
            lambda: _answers(f"{root}/_sandbox/health", ca), "the HTTPS emulator to answer", 60
        )
        yield f"{root}/{INSTANCE}", ca
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _answers(url: str, ca: Path) -> bool:
    try:
        return requests.get(url, verify=str(ca), timeout=5).ok
    except requests.ConnectionError:
        return False


def _run_tap(config: dict[str, object], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    catalog = subprocess.run(
        [TAP, "--discover"], capture_output=True, text=True, check=True, env=clean_env()
    ).stdout
    selected = json.loads(catalog)
    for stream in selected["streams"]:
        for entry in stream["metadata"]:
            if entry["breadcrumb"] == []:
                entry["metadata"]["selected"] = stream["tap_stream_id"] == "vendors"
    return subprocess.run(
        [TAP, "--config", str(write_json(tmp_path / "tap.json", config)),
         "--catalog", str(write_json(tmp_path / "catalog.json", selected))],
        capture_output=True, text=True, check=False, timeout=300, env=clean_env(),
    )  # fmt: skip


def _config(base_url: str, **extra: object) -> dict[str, object]:
    return {
        "base_url": base_url,
        "company": "EPIC06",
        "username": USERNAME,
        "password": PASSWORD,
        "api_key": API_KEY,
        "server_timezone": "America/Chicago",
        "max_retries": 1,
        "retry_backoff_seconds": 0.1,
        **extra,
    }


def test_tap_refuses_a_certificate_from_an_unknown_ca_by_default(
    https_epicor: tuple[str, Path], tmp_path: Path
) -> None:
    base_url, _ = https_epicor
    done = _run_tap(_config(base_url), tmp_path)
    assert done.returncode != 0
    assert '"type":"RECORD"' not in done.stdout.replace(" ", "")
    message = done.stderr.lower()
    assert "certificate" in message, done.stderr[-3000:]
    assert "ca_bundle" in done.stderr, done.stderr[-3000:]
    last = last_line(done.stderr)
    assert "TLSError" in last or "not trusted" in last, last  # never a raw ssl/requests error


def test_tap_accepts_the_internal_ca_with_ca_bundle(
    https_epicor: tuple[str, Path], tmp_path: Path
) -> None:
    base_url, ca = https_epicor
    done = _run_tap(_config(base_url, ca_bundle=str(ca)), tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    records = [
        json.loads(line)
        for line in done.stdout.splitlines()
        if line.startswith("{") and json.loads(line).get("type") == "RECORD"
    ]
    assert records, "vendors were read over HTTPS"
    assert {r["stream"] for r in records} == {"vendors"}
