"""Shared by the benchmark scripts: machine facts, tap config and catalog, RSS sampling."""

from __future__ import annotations

import datetime as dt
import os
import platform
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psutil
from finance_sandbox.testing.epicor import EpicorSandbox

DATA_DIR = Path(".sandbox/epicor-bench")
AP_STREAMS = {"ap_invoices", "ap_invoice_lines", "ap_invoice_gl_allocations"}


def machine() -> dict[str, Any]:
    """Where and when a figure was measured."""
    return {
        "date_utc": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
    }


def tap_config(sandbox: EpicorSandbox, **overrides: Any) -> dict[str, Any]:
    """The sandbox's tap config for EPIC06 (the company with the --invoices count)."""
    return sandbox.tap_config(**overrides)


def ap_catalog(config: dict[str, Any], streams: set[str] = AP_STREAMS) -> dict[str, Any]:
    """A discovered catalog with only `streams` selected (default: invoices, lines, allocations)."""
    from tap_epicor_kinetic.tap import TapEpicorKinetic

    tap = TapEpicorKinetic(config=config, parse_env_config=False)
    catalog = tap.catalog_dict
    for entry in catalog["streams"]:
        for meta in entry["metadata"]:
            if meta["breadcrumb"] == []:
                meta["metadata"]["selected"] = entry["tap_stream_id"] in streams
    return catalog


class PeakRss:
    """Samples the resident memory of processes (and their children) until stopped.

    `pids` maps a label to a process; `names` maps a label to a command-line fragment looked up
    among the descendants of `root` at every sample (for `meltano run`, which starts the tap and
    the target itself).
    """

    def __init__(
        self,
        pids: dict[str, int] | None = None,
        every: float = 0.25,
        *,
        root: int | None = None,
        names: dict[str, str] | None = None,
    ) -> None:
        """Start sampling every `every` seconds."""
        pids = pids or {}
        self.peak: dict[str, int] = dict.fromkeys([*pids, *(names or {})], 0)
        self._procs = {label: psutil.Process(pid) for label, pid in pids.items()}
        self._root = psutil.Process(root) if root is not None else None
        self._names = names or {}
        self._every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        started = last_report = time.monotonic()
        while not self._stop.is_set():
            if time.monotonic() - last_report >= 60:
                last_report = time.monotonic()
                mb = {k: round(v / 1e6, 1) for k, v in self.peak.items()}
                print(
                    f"progress: {last_report - started:.0f} s, peak RSS so far (MB) {mb}",
                    file=sys.stderr,
                    flush=True,
                )
            for label, proc in [*self._procs.items(), *self._named()]:
                try:
                    rss = proc.memory_info().rss + sum(
                        c.memory_info().rss for c in proc.children(recursive=True)
                    )
                except psutil.Error:
                    continue
                self.peak[label] = max(self.peak[label], rss)
            time.sleep(self._every)

    def _named(self) -> list[tuple[str, psutil.Process]]:
        """(label, process) for the descendants of `root` whose command line has the name."""
        if self._root is None:
            return []
        found = []
        try:
            children = self._root.children(recursive=True)
        except psutil.Error:
            return []
        for child in children:
            try:
                line = " ".join(child.cmdline())
            except psutil.Error:
                continue
            for label, name in self._names.items():
                # The plugin's own process, not the uv/venv wrappers above it.
                if name in line and not any(
                    name in " ".join(p.cmdline()) for p in _parents(child, self._root)
                ):
                    found.append((label, child))
        return found

    def stop(self) -> dict[str, float]:
        """Stop; peak RSS per label in MB."""
        self._stop.set()
        self._thread.join()
        return {label: round(rss / 1e6, 1) for label, rss in self.peak.items()}


def _parents(proc: psutil.Process, root: psutil.Process) -> list[psutil.Process]:
    """The ancestors of `proc` below `root`."""
    out = []
    try:
        parent = proc.parent()
        while parent is not None and parent.pid != root.pid:
            out.append(parent)
            parent = parent.parent()
    except psutil.Error:
        pass
    return out
