"""Issue point 1: key pair (inline or file, encrypted PKCS#8), PAT, password; bad keys fail."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from target_snowflake_finance.errors import TargetConfigError

STREAM_PROPS = {"Id": {"type": "integer"}, "Amount": {"type": "number", "multipleOf": 0.01}}


def load_one(run_target: Any, singer: Any, config: dict[str, Any]) -> None:
    run_target(
        config,
        [
            singer.schema("payments", STREAM_PROPS, ["Id"]),
            singer.record("payments", {"Id": 1, "Amount": 12.34}),
        ],
    )


def test_key_pair_inline_encrypted_pem(config, run_target, singer, table_rows) -> None:
    assert config["private_key"].startswith("-----BEGIN ENCRYPTED PRIVATE KEY-----")
    load_one(run_target, singer, config)
    assert table_rows("PAYMENTS", "ID, CAST(AMOUNT AS VARCHAR)") == [(1, "12.34")]


def test_key_pair_inline_pem_with_escaped_newlines(config, run_target, singer, table_rows) -> None:
    config["private_key"] = config["private_key"].replace("\n", "\\n")
    load_one(run_target, singer, config)
    assert table_rows("PAYMENTS", "ID") == [(1,)]


def test_key_pair_from_file(config, run_target, singer, table_rows, snowflake_sandbox) -> None:
    del config["private_key"]
    config["private_key_path"] = str(snowflake_sandbox.private_key_path)
    load_one(run_target, singer, config)
    assert table_rows("PAYMENTS", "ID") == [(1,)]


def test_unencrypted_key_file_without_passphrase(
    config, run_target, singer, table_rows, tmp_path: Path
) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path / "plain.p8"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    del config["private_key"], config["private_key_passphrase"]
    config["private_key_path"] = str(path)
    load_one(run_target, singer, config)
    assert table_rows("PAYMENTS", "ID") == [(1,)]


def test_pat_auth(config, run_target, singer, table_rows) -> None:
    for setting in ("private_key", "private_key_passphrase"):
        del config[setting]
    config.update(auth_method="pat", token="pat-secret-token-value")
    load_one(run_target, singer, config)
    assert table_rows("PAYMENTS", "ID") == [(1,)]


def test_password_auth_warns_that_it_is_for_local_development(
    config, run_target, singer, caplog
) -> None:
    config.update(auth_method="password", password="local-dev-password")
    with caplog.at_level(logging.WARNING):
        load_one(run_target, singer, config)
    assert "password is meant for local development" in caplog.text
    assert "local-dev-password" not in caplog.text


@pytest.mark.parametrize(
    ("change", "setting", "fragment"),
    [
        (
            {"private_key_passphrase": "not-the-passphrase"},
            "private_key_passphrase",
            "wrong passphrase",
        ),
        (
            {"private_key_passphrase": None},
            "private_key",
            "encrypted; set `private_key_passphrase`",
        ),
        (
            {"private_key": "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----"},
            "private_key",
            "not a valid PKCS#8",
        ),
        (
            {"private_key": None, "private_key_path": "/nonexistent/key.p8"},
            "private_key_path",
            "cannot read",
        ),
        ({"private_key": None}, "private_key", "needs `private_key`"),
    ],
)
def test_bad_key_fails_before_connecting_naming_the_setting(
    config, run_target, singer, sql_sent, change, setting, fragment
) -> None:
    secret_bits = config["private_key"].splitlines()[1]
    for key, value in change.items():
        if value is None:
            config.pop(key, None)
        else:
            config[key] = value
    with pytest.raises(TargetConfigError) as excinfo:
        load_one(run_target, singer, config)
    message = str(excinfo.value)
    assert setting in message
    assert fragment in message
    assert secret_bits not in message
    assert "not-the-passphrase" not in message
    assert sql_sent() == []  # nothing reached Snowflake


def test_pat_without_token_names_the_setting(config, run_target, singer) -> None:
    config.update(auth_method="pat")
    with pytest.raises(TargetConfigError, match="`token`"):
        load_one(run_target, singer, config)


def test_cli_names_a_wrong_passphrase_once_without_a_traceback(config, tmp_path, singer) -> None:
    # An expected failure (a setting to fix) reads as one message and exit 1, as in the tap.
    config["private_key_passphrase"] = "not-the-passphrase"
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    done = subprocess.run(
        [sys.executable, "-m", "target_snowflake_finance.target", "--config", str(path)],
        input=singer.lines(
            [
                singer.schema("payments", {"Id": {"type": "integer"}}, ["Id"]),
                singer.record("payments", {"Id": 1}),
            ]
        ),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert "private_key_passphrase" in done.stderr
    assert "Traceback" not in done.stderr
    assert "not-the-passphrase" not in done.stderr
