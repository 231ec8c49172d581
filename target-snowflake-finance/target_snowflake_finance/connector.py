"""Snowflake connection: auth, session settings, the warehouse check, SQL execution and DDL."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import snowflake.connector
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from target_snowflake_finance import shutdown
from target_snowflake_finance.errors import ConnectError, TargetConfigError, classify
from target_snowflake_finance.naming import config_identifier, qualified, quote
from target_snowflake_finance.types import ColumnType, parse_existing

logger = logging.getLogger("target_snowflake_finance")
sql_logger = logging.getLogger("target_snowflake_finance.sql")

AUTH_METHODS = ("key_pair", "pat", "password")

# The connector probes cloud metadata endpoints (169.254.169.254 and kin) at every login to
# report the platform in its login telemetry. A loader needs none of it, and where that address is
# firewalled each probe waits for its timeout. Setting the variable to false turns it back on.
os.environ.setdefault("SNOWFLAKE_DISABLE_PLATFORM_DETECTION", "true")


def load_private_key(config: Mapping[str, Any]) -> bytes:
    """The key from `private_key` (PEM text) or `private_key_path`, as unencrypted PKCS#8 DER.

    Fails before any connection attempt, naming the setting, and never echoes key material.
    """
    inline = config.get("private_key")
    path = config.get("private_key_path")
    passphrase = config.get("private_key_passphrase")
    if inline:
        source = "private_key"
        data = str(inline).strip().encode()
        if b"\\n" in data and b"\n" not in data:
            # Env vars often carry a PEM with literal "\n" sequences.
            data = data.replace(b"\\n", b"\n")
    elif path:
        source = "private_key_path"
        try:
            data = Path(str(path)).expanduser().read_bytes()
        except OSError as e:
            raise TargetConfigError(
                f"private_key_path: cannot read the key file ({e.strerror}); "
                "point it at a PKCS#8 PEM file readable by this user"
            ) from None
    else:
        raise TargetConfigError(
            "auth_method key_pair needs `private_key` (PEM text) or `private_key_path` (a file)"
        )
    password = str(passphrase).encode() if passphrase else None
    try:
        if data.lstrip().startswith(b"-----"):
            key = serialization.load_pem_private_key(data, password=password)
        else:
            key = serialization.load_der_private_key(data, password=password)
    except TypeError as e:
        if "not encrypted" in str(e):
            # A passphrase for an unencrypted key is harmless: load it without one.
            key = (
                serialization.load_pem_private_key(data, password=None)
                if data.lstrip().startswith(b"-----")
                else serialization.load_der_private_key(data, password=None)
            )
        else:
            raise TargetConfigError(
                f"{source}: the key is encrypted; set `private_key_passphrase`"
            ) from None
    except ValueError as e:
        if "password" in str(e).lower() or "decrypt" in str(e).lower():
            raise TargetConfigError(
                f"private_key_passphrase: it does not decrypt the key in `{source}` "
                "(wrong passphrase?)"
            ) from None
        raise TargetConfigError(
            f"{source}: not a valid PKCS#8 private key (expected PEM starting with "
            "'-----BEGIN PRIVATE KEY-----' or '-----BEGIN ENCRYPTED PRIVATE KEY-----')"
        ) from None
    except Exception:
        raise TargetConfigError(f"{source}: the key could not be read as a private key") from None
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise TargetConfigError(f"{source}: Snowflake key-pair auth needs an RSA or EC key")
    return key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def connect_kwargs(config: Mapping[str, Any]) -> dict[str, Any]:
    """Keyword arguments for `snowflake.connector.connect`, after auth checks."""
    kwargs: dict[str, Any] = {
        "account": config["account"],
        "user": config["user"],
        "application": "target-snowflake-finance",
        "login_timeout": 60,
        "autocommit": True,
        "paramstyle": "pyformat",
        "session_parameters": {"QUOTED_IDENTIFIERS_IGNORE_CASE": False, "TIMEZONE": "UTC"},
    }
    if int(snowflake.connector.__version__.split(".")[0]) >= 5:
        # Log out on close (no async queries to keep); unset, connector 5 warns on each connect.
        kwargs["enable_server_session_keep_alive_auto_detection"] = False
    for setting in ("role", "warehouse", "database", "schema"):
        if config.get(setting):
            kwargs[setting] = config_identifier(str(config[setting]))
    for setting in ("host", "port", "protocol"):
        if config.get(setting):
            kwargs[setting] = config[setting]
    method = config["auth_method"]
    if method == "key_pair":
        kwargs["private_key"] = load_private_key(config)
    elif method == "pat":
        if not config.get("token"):
            raise TargetConfigError("auth_method pat needs `token` (a programmatic access token)")
        kwargs["authenticator"] = "PROGRAMMATIC_ACCESS_TOKEN"
        kwargs["token"] = config["token"]
    elif method == "password":
        if not config.get("password"):
            raise TargetConfigError("auth_method password needs `password`")
        logger.warning("auth_method password is meant for local development; use key_pair")
        kwargs["password"] = config["password"]
    else:
        raise TargetConfigError(f"auth_method must be one of {AUTH_METHODS}, not {method!r}")
    return kwargs


# Login refusals (reference §1.3): the settings are wrong, retrying cannot help.
_AUTH_ERRNOS = {390100, 390101, 390102, 390144, 394304, 394303, 390432, 390201, 390189}


def connect_failure(kwargs: Mapping[str, Any], exc: BaseException) -> ConnectError:
    """One line for a failed login: where it went, why, and which setting to look at."""
    if kwargs.get("host"):
        where = f"host {kwargs['host']}" + (f":{kwargs['port']}" if kwargs.get("port") else "")
        settings = "`host`/`port`"
    else:
        where = f"account {kwargs['account']} ({kwargs['account']}.snowflakecomputing.com)"
        settings = "`account`"
    root: BaseException = exc
    while root.__cause__ is not None or root.__context__ is not None:
        root = root.__cause__ or root.__context__  # type: ignore[assignment]
    errno = getattr(exc, "errno", None)
    if errno in _AUTH_ERRNOS or isinstance(exc, snowflake.connector.errors.ProgrammingError):
        message = str(getattr(exc, "raw_msg", None) or exc).strip().splitlines()[0]
        credential = {
            "PROGRAMMATIC_ACCESS_TOKEN": "`token`",
            "SNOWFLAKE": "`password`",
        }.get(str(kwargs.get("authenticator", "SNOWFLAKE")).upper(), "`password`")
        if "private_key" in kwargs:
            credential = "`private_key` (its public key must be the user's RSA_PUBLIC_KEY)"
        return ConnectError(
            f"Snowflake at {where} refused the login of user {kwargs.get('user')} ({errno}: "
            f"{message}); check `user`, `role` and {credential}",
            transient=False,
        )
    cause = root.strerror if isinstance(root, OSError) and root.strerror else str(root)
    cause = cause.splitlines()[0][:300] if cause else type(root).__name__
    return ConnectError(
        f"cannot reach Snowflake at {where}: {cause}; check {settings} and the network "
        "(proxy, firewall, private link)",
        transient=True,
    )


class Session:
    """One Snowflake connection; every statement goes through `execute` and the SQL log."""

    def __init__(self, config: Mapping[str, Any], *, track: bool = True) -> None:
        self._config = config
        self._kwargs = connect_kwargs(config)
        self._conn: Any = None
        self._lock = threading.RLock()
        self.last_description: Any = None
        self.database = config_identifier(str(config["database"]))
        self.schema = config_identifier(str(config["schema"]))
        self.busy = False  # a statement is in flight (a stop signal cancels it)
        if track:
            shutdown.register(self)

    @property
    def session_id(self) -> int | None:
        """Snowflake's id of the open session (what SYSTEM$CANCEL_ALL_QUERIES takes)."""
        return getattr(self._conn, "session_id", None) if self._conn is not None else None

    def connection(self) -> Any:
        if self._conn is None or self._conn.is_closed():
            try:
                self._conn = snowflake.connector.connect(**self._kwargs)
            except (snowflake.connector.errors.Error, OSError) as e:
                raise connect_failure(self._kwargs, e) from None
        return self._conn

    def reconnect(self) -> None:
        """Drop the connection; the next statement opens a fresh one."""
        with self._lock:
            if self._conn is not None:
                try:
                    self._conn.close()
                except Exception as e:  # a dead connection may fail to close
                    logger.debug("closing the old connection failed: %s", classify(e).reason)
            self._conn = None

    def execute(
        self, sql: str, params: Any = None, *, force: bool = False
    ) -> list[tuple[Any, ...]]:
        """Run one statement and return its rows (once stopping, only ROLLBACK or `force`)."""
        if not force:
            shutdown.check(sql)
        with self._lock:
            sql_logger.debug("%s", sql)
            cur = self.connection().cursor()
            try:
                self.busy = True
                cur.execute(sql, params)
                self.last_description = cur.description
                try:
                    return list(cur.fetchall())
                except snowflake.connector.errors.InterfaceError:
                    return []
            except Exception as e:
                # Cancelled by a stop signal: not a failure to retry or dead-letter.
                shutdown.check(sql, cause=e)
                raise
            finally:
                self.busy = False
                cur.close()

    def rollback_quietly(self) -> None:
        if self._conn is None or self._conn.is_closed():
            return
        try:
            self.execute("ROLLBACK")
        except Exception as e:
            logger.debug("rollback failed: %s", classify(e).reason)

    def close(self) -> None:
        self.reconnect()

    # Warehouse

    def check_warehouse(self, resume: bool) -> None:
        """At start: the warehouse must exist and run, or be resumable (reference §3)."""
        name = self._kwargs.get("warehouse")
        if not name:
            raise TargetConfigError("`warehouse` is not set; name the warehouse to load with")
        pattern = name.replace("'", "''")
        rows = self.execute(f"SHOW WAREHOUSES LIKE '{pattern}'")
        columns = [d[0].lower() for d in (self.last_description or [])]
        found = [dict(zip(columns, r, strict=False)) for r in rows]
        match = next((w for w in found if str(w.get("name", "")).upper() == name.upper()), None)
        role = self._kwargs.get("role", "the connecting role")
        if match is None:
            raise TargetConfigError(
                f"warehouse: {name!r} does not exist or role {role} cannot see it; set `warehouse` "
                f"to a warehouse the role can use (GRANT USAGE ON WAREHOUSE {name} TO ROLE {role})"
            )
        state = str(match.get("state", "")).upper()
        auto_resume = str(match.get("auto_resume", "true")).lower() == "true"
        if state in ("SUSPENDED", "SUSPENDING") and not auto_resume:
            if not resume:
                raise TargetConfigError(
                    f"warehouse {name} is suspended and its AUTO_RESUME is off: set "
                    "`resume_warehouse` to true, or run "
                    f"ALTER WAREHOUSE {name} RESUME (or SET AUTO_RESUME = TRUE)"
                )
            logger.info("Warehouse %s is suspended with AUTO_RESUME off: resuming it", name)
            self.resume_warehouse()
        self.execute(f"USE WAREHOUSE {quote(name)}")

    def resume_warehouse(self) -> None:
        name = self._kwargs.get("warehouse")
        if name:
            self.execute(f"ALTER WAREHOUSE IF EXISTS {quote(name)} RESUME IF SUSPENDED")

    # Tables

    def table_ref(self, table: str) -> str:
        return qualified(self.database, self.schema, table)

    def ensure_schema(self) -> None:
        """Create the schema only when it is missing.

        `CREATE SCHEMA IF NOT EXISTS` needs CREATE SCHEMA on the database even when the schema
        exists: a loader role with only USAGE on the database could not run.
        """
        rows = self.execute(
            f"SELECT COUNT(*) FROM {quote(self.database)}.information_schema.schemata "
            "WHERE schema_name = %(schema)s",
            {"schema": self.schema},
        )
        if not rows or not int(rows[0][0] or 0):
            self.execute(f"CREATE SCHEMA IF NOT EXISTS {qualified(self.database, self.schema)}")

    def existing_columns(self, table: str) -> dict[str, ColumnType] | None:
        """Columns of a table in the target schema (None when the table does not exist)."""
        rows = self.execute(
            f"SELECT column_name, data_type, numeric_precision, numeric_scale "
            f"FROM {quote(self.database)}.information_schema.columns "
            "WHERE table_schema = %(schema)s AND table_name = %(table)s "
            "ORDER BY ordinal_position",
            {"schema": self.schema, "table": table},
        )
        if not rows:
            tables = self.execute(
                f"SELECT table_name FROM {quote(self.database)}.information_schema.tables "
                "WHERE table_schema = %(schema)s AND table_name = %(table)s",
                {"schema": self.schema, "table": table},
            )
            return {} if tables else None
        return {r[0]: parse_existing(r[1], r[2], r[3]) for r in rows}
