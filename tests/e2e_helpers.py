"""Shared end-to-end helpers: a private sandbox, Meltano and tap | target runs, truth comparison.

Used by the fault matrix, secret-leak and bad-input tests. Everything runs as real subprocesses
against `finance-sandbox up` (real HTTP, the real Snowflake connector); nothing is mocked.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import requests
import yaml
from finance_sandbox.demo import STREAM_KEYS, truth_rows, warehouse_rows
from finance_sandbox.services import read_env_file
from finance_sandbox.testing.snowflake import add_fault

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
TAP = str(BIN / "tap-epicor-kinetic")
TARGET = str(BIN / "target-snowflake-finance")
MELTANO = str(BIN / "meltano")

# The streams the activity simulator changes (plus vendors as a dimension): what a fault can hurt.
FAULT_STREAMS = [
    "vendors",
    "purchase_orders",
    "purchase_order_lines",
    "ap_invoices",
    "ap_invoice_lines",
    "ap_invoice_gl_allocations",
    "ap_payments",
    "ap_payment_lines",
]
STATE_LOG_LINE = "Incremental state has been updated"


def clean_env() -> dict[str, str]:
    """This process's environment without any plugin or Meltano setting leaking in."""
    return {
        k: v for k, v in os.environ.items() if not k.startswith(("TAP_", "TARGET_", "MELTANO_"))
    }


def wait_for(check: Callable[[], Any], what: str, timeout: float = 120.0) -> Any:
    """Poll `check` until it returns something truthy (observable points, never fixed sleeps)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.05)


@dataclass
class Sandbox:
    """`finance-sandbox up` in a private directory: Epicor emulator and local Snowflake."""

    directory: Path
    invoices: int
    epicor_options: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)

    def up(self, snowflake_port: int = 0) -> None:
        cmd = [sys.executable, "-m", "finance_sandbox.cli", "up", "--dir", str(self.directory)]
        cmd += ["--epicor-port", "0", "--snowflake-port", str(snowflake_port)]
        cmd += ["--invoices", str(self.invoices), *self.epicor_options]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=600)
        assert done.returncode == 0, done.stdout + done.stderr
        self.env = read_env_file(self.directory / "sandbox.env")

    def down(self) -> None:
        cmd = [sys.executable, "-m", "finance_sandbox.cli", "down", "--dir", str(self.directory)]
        subprocess.run(cmd, capture_output=True, check=False, timeout=120)

    @classmethod
    @contextmanager
    def running(cls, directory: Path, invoices: int) -> Iterator[Sandbox]:
        """A sandbox that is up for the `with` block and down after it, whatever happened."""
        box = cls(directory, invoices)
        try:
            box.up()
            yield box
        finally:
            box.down()

    # Epicor control API

    @property
    def url(self) -> str:
        return self.env["EPICOR_SANDBOX_URL"]

    @property
    def company(self) -> str:
        return self.env["TAP_EPICOR_KINETIC_COMPANY"]

    def control(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        resp = requests.request(method, f"{self.url}/_sandbox/{path}", json=body, timeout=120)
        resp.raise_for_status()
        return resp.json()

    def faults(self, **kw: Any) -> Any:
        return self.control("POST", "faults", kw)

    def clear_faults(self) -> None:
        self.control("DELETE", "faults")

    def auto_activity(self, every_requests: int = 6, **counts: int) -> None:
        counts = counts or {"new_invoices": 1, "changed_invoices": 1, "new_payments": 1}
        self.control("POST", "activity/auto", {"every_requests": every_requests, **counts})

    def stop_auto_activity(self) -> None:
        self.control("DELETE", "activity/auto")

    def counters(self) -> dict[str, Any]:
        return dict(self.control("GET", "counters"))

    def reset_counters(self) -> None:
        self.control("DELETE", "counters")

    def answered(self, route: str, status: str) -> int:
        """How many requests to a route (e.g. `Erp.BO.APInvoiceSvc/APInvoices`) got `status`."""
        return int(self.counters().get("by_route", {}).get(route, {}).get(status, 0))

    def answered_any(self, status: str) -> int:
        return sum(int(v.get(status, 0)) for v in self.counters().get("by_route", {}).values())

    # Local Snowflake

    @property
    def snowflake_url(self) -> str:
        return f"http://127.0.0.1:{self.env['TARGET_SNOWFLAKE_FINANCE_PORT']}"

    def hold_statement(
        self,
        match: str,
        delay_s: float = 120.0,
        code: str = "000630",
        *,
        times: int = 1,
        after: bool = False,
    ) -> None:
        """Hold the next `times` statements matching `match` (then fail them): a loader to kill
        mid-flight. With `after`, each runs first and only its answer is held."""
        add_fault(self.snowflake_url, match, times, code, delay_s=delay_s, after=after)

    def held(self) -> int:
        resp = requests.get(f"{self.snowflake_url}/_sandbox/faults", timeout=10)
        resp.raise_for_status()
        return sum(int(f["taken"]) for f in resp.json()["faults"])

    def clear_snowflake_faults(self) -> None:
        requests.delete(f"{self.snowflake_url}/_sandbox/faults", timeout=10).raise_for_status()

    def abort_idle_transactions(self) -> None:
        """Roll back what a killed loader left open (Snowflake does it on its own)."""
        requests.post(
            f"{self.snowflake_url}/_sandbox/sessions/abort-idle",
            json={"idle_seconds": 0},
            timeout=30,
        ).raise_for_status()

    @property
    def snowflake_pid_file(self) -> Path:
        return self.directory / "snowflake.pid"

    def kill_snowflake(self) -> None:
        """SIGKILL the local Snowflake, as a crash of the warehouse endpoint."""
        pid = int(self.snowflake_pid_file.read_text().strip())
        os.killpg(pid, signal.SIGKILL)
        wait_for(lambda: not _alive(pid), "the local Snowflake to die", 30)

    def start_snowflake_again(self) -> None:
        """Start it on the same port and data directory (the Epicor emulator keeps running)."""
        self.up(snowflake_port=int(self.env["TARGET_SNOWFLAKE_FINANCE_PORT"]))

    def connect(self, schema: str) -> Any:
        import snowflake.connector
        from cryptography.hazmat.primitives import serialization

        env = self.env
        key = serialization.load_pem_private_key(
            Path(env["TARGET_SNOWFLAKE_FINANCE_PRIVATE_KEY_PATH"]).read_bytes(),
            password=env["TARGET_SNOWFLAKE_FINANCE_PRIVATE_KEY_PASSPHRASE"].encode(),
        )
        return snowflake.connector.connect(
            account=env["TARGET_SNOWFLAKE_FINANCE_ACCOUNT"],
            user=env["TARGET_SNOWFLAKE_FINANCE_USER"],
            private_key=key,
            host=env["TARGET_SNOWFLAKE_FINANCE_HOST"],
            port=int(env["TARGET_SNOWFLAKE_FINANCE_PORT"]),
            protocol="http",
            database=env["TARGET_SNOWFLAKE_FINANCE_DATABASE"],
            schema=schema,
            warehouse=env["TARGET_SNOWFLAKE_FINANCE_WAREHOUSE"],
            role=env.get("TARGET_SNOWFLAKE_FINANCE_ROLE") or None,
        )

    def query(self, schema: str, sql: str) -> list[dict[str, Any]]:
        conn = self.connect(schema)
        try:
            cur = conn.cursor()
            cur.execute(sql)
            names = [d[0].upper() for d in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
        finally:
            conn.close()

    # Plugin configs (for tap | target runs outside Meltano)

    def tap_config(self, **overrides: Any) -> dict[str, Any]:
        prefix = "TAP_EPICOR_KINETIC_"
        config: dict[str, Any] = {
            k[len(prefix) :].lower(): v for k, v in self.env.items() if k.startswith(prefix)
        }
        config["start_date"] = "2000-01-01T00:00:00Z"
        config.update(overrides)
        return config

    def target_config(self, schema: str, **overrides: Any) -> dict[str, Any]:
        prefix = "TARGET_SNOWFLAKE_FINANCE_"
        config: dict[str, Any] = {
            k[len(prefix) :].lower(): v for k, v in self.env.items() if k.startswith(prefix)
        }
        config["port"] = int(config["port"])
        config["schema"] = schema
        config.update(overrides)
        return config


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie of an exited child still answers kill(0)
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][:1] != "Z"
    except OSError:
        return False


# Meltano


@dataclass
class Meltano:
    """`meltano` with a private system directory (plugin venvs, state database)."""

    home: Path
    sandbox: Sandbox
    logs: Path
    #: The system database (state, runs); by default Meltano's own under `home`.
    database: Path | None = None
    #: Catalogs dumped by `catalog`, by `select` rules.
    catalogs: dict[str, Path] = field(default_factory=dict)

    def env(self, **settings: str) -> dict[str, str]:
        env = clean_env()
        env["MELTANO_SYS_DIR_ROOT"] = str(self.home)
        if self.database is not None:
            env["MELTANO_DATABASE_URI"] = f"sqlite:///{self.database}"
        env.update(self.sandbox.env)
        env.update(settings)
        return env

    def command(self, *args: str) -> list[str]:
        return [MELTANO, *args]

    @classmethod
    def sharing(cls, home: Path, sandbox: Sandbox, work: Path) -> Meltano:
        """A Meltano that runs the plugins already installed in `home` with a system database
        (state, runs) and a `logs` folder of its own under `work`: modules that only run the
        pipeline need not install it again (20-35 s each on 2 cores)."""
        logs = work / "logs"
        logs.mkdir(exist_ok=True)
        return cls(home, sandbox, logs, work / "meltano.db")

    def catalog(self, select: str) -> Path:
        """The catalog `meltano run` would make with these `select` rules (discovery against the
        sandbox, then the rules), dumped once, for runs to take as `TAP_EPICOR_KINETIC__CATALOG`.

        With a catalog given, Meltano skips discovery and its select rules: matching the curated
        list's ~950 rules against the ~3,100 columns discovery lists costs 4-7 s of CPU per run.
        For tests whose subject is not discovery or selection and whose other settings do not
        change what discovery lists (faults, stops, rounds); the end-to-end, fresh-project,
        extra-columns and secrets tests keep Meltano's whole path."""
        path = self.catalogs.get(select)
        if path is None:
            done = subprocess.run(
                self.command("invoke", "--dump=catalog", "tap-epicor-kinetic"),
                cwd=ROOT,
                env=self.env(TAP_EPICOR_KINETIC__SELECT=select),
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
            assert done.returncode == 0, done.stderr[-3000:]
            path = write_json(
                self.logs / f"catalog-{len(self.catalogs)}.json", json.loads(done.stdout)
            )
            self.catalogs[select] = path
        return path

    def run(
        self,
        case: str,
        log: str,
        settings: Mapping[str, str],
        timeout: float = 600,
        *,
        force: bool = False,
    ) -> subprocess.CompletedProcess[str]:
        """`meltano run` with the case's own state id, schema and settings (env variables)."""
        args = ["run", "--state-id-suffix", case, *(["--force"] if force else [])]
        done = subprocess.run(
            self.command(*args, "tap-epicor-kinetic", "target-snowflake-finance"),
            cwd=ROOT,
            env=self.env(**settings),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        (self.logs / log).write_text(done.stdout + done.stderr)
        return done

    def start(self, case: str, log: str, settings: Mapping[str, str]) -> KillableRun:
        """`meltano run` in its own process group, to be killed with SIGKILL mid-run."""
        out = (self.logs / log).open("w")
        proc = subprocess.Popen(
            self.command(
                "run", "--state-id-suffix", case, "tap-epicor-kinetic", "target-snowflake-finance"
            ),
            cwd=ROOT,
            env=self.env(**settings),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return KillableRun(proc, self.logs / log, out)

    def state(self, case: str) -> dict[str, Any]:
        done = subprocess.run(
            self.command(
                "state", "get", f"sandbox:tap-epicor-kinetic-to-target-snowflake-finance:{case}"
            ),
            cwd=ROOT,
            env=self.env(),
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        return json.loads(done.stdout) if done.returncode == 0 and done.stdout.strip() else {}


def install_plugins(home: Path) -> Path:
    """`meltano install` of the project's plugins into the system directory `home`."""
    env = clean_env()
    env["MELTANO_SYS_DIR_ROOT"] = str(home)
    done = subprocess.run(
        [MELTANO, "install"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return home


@dataclass
class KillableRun:
    """A pipeline process group started in the background."""

    proc: subprocess.Popen[bytes]
    log_path: Path
    _log: Any

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL the whole process group: meltano, tap and target die at once, as in a crash."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        self._log.close()

    def wait(self, timeout: float = 600) -> int:
        code = self.proc.wait(timeout=timeout)
        self._log.close()
        return code


# tap | target, with the pipe in this process so a test sees every line that passes


class Pipe:
    """`tap | target` as two subprocesses joined by this process (line counts, state lines)."""

    def __init__(
        self, tap_config: Path, target_config: Path, state: Path | None, logs: Path, name: str
    ) -> None:
        self.lines = 0
        self.records: dict[str, int] = {}
        self.states: list[dict[str, Any]] = []
        self.logs = logs
        self.name = name
        tap_cmd = [TAP, "--config", str(tap_config), "--catalog", str(fault_catalog(logs))]
        if state is not None and state.exists():
            tap_cmd += ["--state", str(state)]
        self._tap_err = (logs / f"{name}.tap.log").open("wb")
        self._target_err = (logs / f"{name}.target.log").open("wb")
        env = clean_env()
        self.tap = subprocess.Popen(
            tap_cmd, stdout=subprocess.PIPE, stderr=self._tap_err, env=env, cwd=ROOT
        )
        self.target = subprocess.Popen(
            [TARGET, "--config", str(target_config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._target_err,
            env=env,
            cwd=ROOT,
        )
        self._pump = threading.Thread(target=self._forward, daemon=True)
        self._reader = threading.Thread(target=self._read_state, daemon=True)
        self._pump.start()
        self._reader.start()

    def _forward(self) -> None:
        assert self.tap.stdout is not None
        assert self.target.stdin is not None
        try:
            for line in self.tap.stdout:
                self.target.stdin.write(line)
                self.target.stdin.flush()
                self.lines += 1
                if line.startswith(b'{"type":"RECORD"') or b'"type": "RECORD"' in line[:30]:
                    stream = json.loads(line).get("stream", "")
                    self.records[stream] = self.records.get(stream, 0) + 1
            self.target.stdin.close()
        except (BrokenPipeError, ValueError, OSError):
            pass

    def _read_state(self) -> None:
        assert self.target.stdout is not None
        for line in self.target.stdout:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            self.states.append(message)

    def kill(self) -> None:
        """SIGKILL tap and target."""
        for proc in (self.tap, self.target):
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
        self.finish()

    def finish(self, timeout: float = 600) -> tuple[int, int]:
        codes = (self.tap.wait(timeout=timeout), self.target.wait(timeout=timeout))
        self._pump.join(30)
        self._reader.join(30)
        self._tap_err.close()
        self._target_err.close()
        return codes

    def save_state(self, path: Path) -> None:
        """What a scheduler keeps: the last state the target emitted (unchanged if none)."""
        if self.states:
            path.write_text(json.dumps(self.states[-1]))

    def log(self) -> str:
        return "".join(
            (self.logs / f"{self.name}.{part}.log").read_text(errors="replace")
            for part in ("tap", "target")
        )


def selected_catalog(
    streams: Iterable[str], replication_keys: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The tap's offline catalog with only `streams` selected (what Meltano's `select` does)."""
    wanted, keys = set(streams), dict(replication_keys or {})
    done = subprocess.run(
        [TAP, "--discover"], capture_output=True, text=True, check=True, cwd=ROOT, env=clean_env()
    )
    catalog = json.loads(done.stdout)
    for stream in catalog["streams"]:
        name = stream["tap_stream_id"]
        for entry in stream["metadata"]:
            if entry["breadcrumb"] == []:
                entry["metadata"]["selected"] = name in wanted
                if name in keys:
                    entry["metadata"]["replication-key"] = keys[name]
                    stream["replication_key"] = keys[name]
    return catalog


def fault_catalog(directory: Path) -> Path:
    """The tap's catalog with only FAULT_STREAMS selected, written once per directory."""
    path = directory / "fault-catalog.json"
    if not path.exists():
        write_json(path, selected_catalog(FAULT_STREAMS))
    return path


def write_json(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data))
    return path


# Comparison with Epicor's ground truth


def default_select() -> list[str]:
    """The tap's `select` rules in meltano.yml: the curated columns of every stream."""
    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    tap = next(p for p in project["plugins"]["extractors"] if p["name"] == "tap-epicor-kinetic")
    return list(tap["select"])


def curated_select(streams: Iterable[str]) -> str:
    """`TAP_EPICOR_KINETIC__SELECT` for the curated columns of `streams` only, as a user's
    default project loads them. (`stream.*` would select all ~500 columns Epicor serves for a
    document, which the comparison does not read and the local Snowflake loads slowly.)"""
    wanted = set(streams)
    return json.dumps([rule for rule in default_select() if rule.split(".", 1)[0] in wanted])


def discovered_schemas() -> dict[str, dict[str, Any]]:
    """Each stream's JSON schema properties as the tap discovers it (no network needed)."""
    catalog = selected_catalog(())
    return {s["tap_stream_id"]: s["schema"]["properties"] for s in catalog["streams"]}


def _as_utc(value: Any, zone: ZoneInfo) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime), value
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return value.astimezone(UTC)


def same_value(prop: Mapping[str, Any], source: Any, loaded: Any, zone: ZoneInfo) -> bool:
    """Source (as Epicor serves it) and warehouse value are equal, by the column's type."""
    types = prop.get("type", [])
    types = [types] if isinstance(types, str) else types
    fmt = prop.get("format")
    if source is None or loaded is None:
        return source is None and loaded is None
    if fmt in {"x-singer.decimal", "singer.decimal"} or "number" in types:
        return not isinstance(loaded, float) and Decimal(str(loaded)) == Decimal(str(source))
    if "integer" in types:
        return int(loaded) == int(source)
    if "boolean" in types:
        return bool(loaded) == bool(source)
    if fmt == "date-time":
        return _as_utc(loaded, zone) == _as_utc(source, zone)
    if fmt == "date":
        day = loaded if isinstance(loaded, date) and not isinstance(loaded, datetime) else None
        return day is not None and day.isoformat() == str(source)[:10]
    if "object" in types or "array" in types:
        return (json.loads(loaded) if isinstance(loaded, str) else loaded) == source
    return str(loaded) == str(source)


@dataclass
class Comparison:
    """The warehouse against Epicor: differences, and how many rows and values were compared."""

    problems: list[str] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)
    values: int = 0

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())

    def report(self) -> str:
        return f"{len(self.problems)} differences, first ones:\n" + "\n".join(self.problems[:25])


def compare(
    sandbox: Sandbox,
    schema: str,
    schemas: Mapping[str, Mapping[str, Any]],
    streams: Iterable[str] = FAULT_STREAMS,
) -> Comparison:
    """Counts, keys (no duplicates, none missing, none extra) and every column, exactly."""
    zone = ZoneInfo(sandbox.env["TAP_EPICOR_KINETIC_SERVER_TIMEZONE"])
    result = Comparison()
    conn = sandbox.connect(schema)
    try:
        for stream in streams:
            loaded = warehouse_rows(conn, stream)  # live rows: tombstoned ones are left out
            source = truth_rows(sandbox.url, stream, sandbox.company)
            result.rows[stream] = len(source)
            compare_rows(stream, source, loaded, schemas[stream], zone, result)
    finally:
        conn.close()
    return result


def compare_rows(
    stream: str,
    source: list[dict[str, Any]],
    loaded: list[dict[str, Any]],
    schema: Mapping[str, Any],
    zone: ZoneInfo,
    result: Comparison,
    *,
    require_columns: bool = False,
) -> None:
    """Add to `result` every difference between Epicor's rows and Snowflake's for one stream.

    With `require_columns`, a schema column Epicor serves but the table lacks is a difference too
    (reported once); otherwise such columns are skipped (a run may deselect them on purpose).
    """
    keys = [k.upper() for k in STREAM_KEYS[stream]]
    problems = result.problems
    if len(loaded) != len(source):
        problems.append(f"{stream}: {len(loaded)} rows in Snowflake, {len(source)} in Epicor")
    by_key: dict[tuple[str, ...], dict[str, Any]] = {}
    for row in loaded:
        key = tuple(str(row[k]) for k in keys)
        if key in by_key:
            problems.append(f"{stream}: duplicate key {key} in Snowflake")
        by_key[key] = row
    props = {name.upper(): prop for name, prop in schema.items()}
    for src in source:
        key = tuple(str(src[k]) for k in keys)
        row = by_key.pop(key, None)
        if row is None:
            problems.append(f"{stream}: key {key} missing in Snowflake")
            continue
        for column, prop in list(props.items()):
            if column not in src:
                continue
            if column not in row:
                if require_columns:
                    problems.append(f"{stream}: column {column} missing in Snowflake")
                    del props[column]
                continue
            result.values += 1
            if not same_value(prop, src[column], row[column], zone):
                problems.append(
                    f"{stream} {key} {column}: Epicor {src[column]!r}, Snowflake {row[column]!r}"
                )
    problems.extend(f"{stream}: key {key} in Snowflake but not in Epicor" for key in by_key)


def audit_rows(sandbox: Sandbox, schema: str) -> list[dict[str, Any]]:
    return sandbox.query(schema, "SELECT * FROM _SDC_LOAD_AUDIT ORDER BY STARTED_AT")


def table_exists(sandbox: Sandbox, schema: str, table: str) -> bool:
    rows = sandbox.query(
        schema,
        "SELECT COUNT(*) AS N FROM INFORMATION_SCHEMA.TABLES "
        f"WHERE TABLE_SCHEMA = '{schema}' AND TABLE_NAME = '{table}'",
    )
    return bool(rows[0]["N"])


def last_line(stderr: str) -> str:
    """The last non-empty line a plugin printed: where its final error message stands."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    return lines[-1] if lines else ""
