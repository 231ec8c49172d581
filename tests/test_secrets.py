"""No secret leaks: tap, target, `replay` and `meltano run`, passing and failing, with sentinels.

Every secret setting carries a value that appears nowhere else (the sandbox's own credentials
are such values too): password, API key, OAuth2 client secret, Snowflake PAT, password, private
key and its passphrase, and Epicor's bearer tokens (JWTs, `eyJ…`). The test then searches
stdout, stderr, Meltano's logs and system database, state, the audit and rejects tables and the
dead-letter files for any of them. Dead-letter files must be readable by their owner only.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from e2e_helpers import (
    MELTANO,
    ROOT,
    TAP,
    TARGET,
    Meltano,
    Sandbox,
    clean_env,
    curated_select,
    write_json,
)
from finance_sandbox.services import (
    EPICOR_API_KEY,
    EPICOR_CLIENT_SECRET,
    EPICOR_PASSWORD,
    SNOWFLAKE_KEY_PASSPHRASE,
)

INVOICES = 20

PAT = "S3NT1NEL-pat-5f0c9e1d7b"
SF_PASSWORD = "S3NT1NEL-sfpw-81c2aa94"
WRONG = {
    "password": "S3NT1NEL-epw-0d93e7c1",
    "api_key": "S3NT1NEL-key-7a1f42b0",
    "client_secret": "S3NT1NEL-cs-c4e1099a",
    "private_key_passphrase": "S3NT1NEL-pp-2b77e310",
}
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")


def secrets(sandbox: Sandbox) -> list[str]:
    """Every secret value in play, including pieces of the private key."""
    pem = Path(sandbox.env["TARGET_SNOWFLAKE_FINANCE_PRIVATE_KEY_PATH"]).read_text()
    body = [line for line in pem.splitlines() if line and not line.startswith("-----")]
    return [
        EPICOR_PASSWORD,
        EPICOR_API_KEY,
        EPICOR_CLIENT_SECRET,
        SNOWFLAKE_KEY_PASSPHRASE,
        PAT,
        SF_PASSWORD,
        *WRONG.values(),
        *body[1:-1],  # whole 64-character lines of the key
    ]


class Evidence:
    """Everything the runs left behind, searched at the end."""

    def __init__(self) -> None:
        self.texts: dict[str, str] = {}

    def add(self, name: str, text: str | bytes) -> None:
        self.texts[name] = text.decode("utf-8", "replace") if isinstance(text, bytes) else text

    def add_run(self, name: str, done: subprocess.CompletedProcess[str]) -> None:
        self.add(f"{name}: stdout", done.stdout)
        self.add(f"{name}: stderr", done.stderr)

    def leaks(self, values: list[str]) -> list[str]:
        found = [f"{v[:12]}… in {n}" for n, t in self.texts.items() for v in values if v in t]
        found += [f"a bearer token in {n}" for n, t in self.texts.items() if JWT.search(t)]
        return found


def _run(cmd: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
    kw.setdefault("env", clean_env())
    return subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=600, **kw)


def _catalog(tmp_path: Path) -> Path:
    catalog = json.loads(_run([TAP, "--discover"]).stdout)
    for stream in catalog["streams"]:
        for entry in stream["metadata"]:
            if entry["breadcrumb"] == []:
                entry["metadata"]["selected"] = stream["tap_stream_id"] in {
                    "vendors",
                    "ap_invoices",
                    "ap_invoice_lines",
                }
    return write_json(tmp_path / "catalog.json", catalog)


def test_no_secret_in_any_output_of_passing_and_failing_runs(
    sandbox: Sandbox, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    evidence = Evidence()
    catalog = _catalog(tmp_path)
    schema = "SECRETS"
    dead_letter = tmp_path / "dead_letter"

    # The tap with each auth method (token: bearer tokens in flight), then wrong secrets.
    messages = b""
    for method in ("basic", "token", "oauth2"):
        tap = write_json(tmp_path / f"tap-{method}.json", sandbox.tap_config(auth_method=method))
        done = _run([TAP, "--config", str(tap), "--catalog", str(catalog)])
        assert done.returncode == 0, done.stderr[-2000:]
        evidence.add_run(f"tap {method}", done)
        messages = done.stdout.encode()
    for setting, wrong in WRONG.items():
        if setting == "private_key_passphrase":
            continue
        method = "oauth2" if setting == "client_secret" else "token"
        config = sandbox.tap_config(auth_method=method, max_retries=0, **{setting: wrong})
        bad = write_json(tmp_path / "bad.json", config)
        done = _run([TAP, "--config", str(bad), "--catalog", str(catalog)])
        assert done.returncode != 0, f"{setting}: a wrong secret must fail"
        evidence.add_run(f"tap wrong {setting}", done)

    # The target: key pair (encrypted key), PAT and password; a quarantined record; a batch
    # dead-lettered by an injected permanent Snowflake error; a wrong passphrase.
    bad_record = json.dumps(
        {"type": "RECORD", "stream": "vendors", "record": {"Company": "EPIC06", "VendorNum": None}}
    )
    for method, extra in (
        ("key_pair", {}),
        ("pat", {"token": PAT}),
        ("password", {"password": SF_PASSWORD}),
    ):
        config = sandbox.target_config(
            schema, auth_method=method, on_invalid_record="quarantine",
            dead_letter_dir=str(dead_letter), **extra,
        )  # fmt: skip
        done = _run(
            [TARGET, "--config", str(write_json(tmp_path / "target.json", config))],
            input=messages.decode() + bad_record + "\n",
        )
        assert done.returncode == 0, done.stderr[-2000:]
        evidence.add_run(f"target {method}", done)
    config = sandbox.target_config(schema, dead_letter_dir=str(dead_letter), max_retries=0)
    target_json = write_json(tmp_path / "target.json", config)
    sandbox.hold_statement(r'^MERGE INTO .*"VENDORS" ', delay_s=0, code="000606")
    done = _run([TARGET, "--config", str(target_json)], input=messages.decode())
    sandbox.clear_snowflake_faults()
    assert done.returncode != 0, "the injected error must fail the batch"
    evidence.add_run("target dead-lettered", done)
    files = sorted(dead_letter.glob("*.json*"))
    assert files, "a dead-letter file was written"
    for path in files:
        assert path.stat().st_mode & 0o777 == 0o600, f"{path} is readable by others"
        evidence.add(f"dead letter {path.name}", path.read_bytes())
    wrong_key = sandbox.target_config(
        schema, private_key_passphrase=WRONG["private_key_passphrase"]
    )
    done = _run(
        [TARGET, "--config", str(write_json(tmp_path / "wrong.json", wrong_key))],
        input=messages.decode(),
    )
    assert done.returncode != 0
    evidence.add_run("target wrong passphrase", done)

    # replay, passing (loads the dead letter) and failing (wrong passphrase).
    done = _run([TARGET, "replay", "--config", str(target_json)])
    assert done.returncode == 0, done.stdout + done.stderr
    evidence.add_run("replay", done)
    done = _run(
        [TARGET, "replay", "--config", str(write_json(tmp_path / "w.json", wrong_key)),
         "--dead-letter-dir", str(tmp_path)],
    )  # fmt: skip
    evidence.add_run("replay wrong passphrase", done)
    for path in sorted(dead_letter.rglob("*.json*")):
        evidence.add(f"replayed {path.name}", path.read_bytes())

    # meltano run: passing (PAT) and failing (wrong Epicor password).
    work = tmp_path_factory.mktemp("secrets-meltano")
    meltano = Meltano(work / "home", sandbox, tmp_path)
    installed = _run([MELTANO, "install"], cwd=ROOT, env=meltano.env())
    assert installed.returncode == 0, installed.stderr[-2000:]
    settings = {
        "TARGET_SNOWFLAKE_FINANCE_SCHEMA": "SECRETS_MELTANO",
        "TARGET_SNOWFLAKE_FINANCE_AUTH_METHOD": "pat",
        "TARGET_SNOWFLAKE_FINANCE_TOKEN": PAT,
        "TARGET_SNOWFLAKE_FINANCE_DEAD_LETTER_DIR": str(dead_letter),
        "TAP_EPICOR_KINETIC_AUTH_METHOD": "token",
        "TAP_EPICOR_KINETIC_START_DATE": "2000-01-01T00:00:00Z",
        "TAP_EPICOR_KINETIC__SELECT": curated_select(["vendors", "ap_invoices"]),
    }
    done = meltano.run("secrets", "meltano-ok.log", settings)
    assert done.returncode == 0, done.stderr[-3000:]
    evidence.add_run("meltano run", done)
    failing = {**settings, "TAP_EPICOR_KINETIC_PASSWORD": WRONG["password"]}
    failing["TAP_EPICOR_KINETIC_MAX_RETRIES"] = "0"
    done = meltano.run("secrets-bad", "meltano-bad.log", failing)
    assert done.returncode != 0
    evidence.add_run("meltano run, wrong password", done)
    evidence.add("meltano state", json.dumps(meltano.state("secrets")))
    for path in (work / "home").rglob("*"):
        if path.is_file() and "venv" not in path.parts and path.stat().st_size < 50_000_000:
            evidence.add(f"meltano {path.relative_to(work)}", path.read_bytes())

    # The warehouse's own records of the runs.
    for table in ("_SDC_LOAD_AUDIT", "_SDC_REJECTS"):
        rows = sandbox.query(schema, f"SELECT * FROM {table}")
        evidence.add(f"table {table}", json.dumps(rows, default=str))
    assert sandbox.query(schema, "SELECT COUNT(*) AS N FROM _SDC_REJECTS")[0]["N"] >= 1

    leaks = evidence.leaks(secrets(sandbox))
    assert not leaks, "\n".join(leaks[:20])
    assert len(evidence.texts) > 20  # the search covered every run and file
