"""The reader of the tap's output goes away (a target that failed): the tap stops quietly."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any


def test_a_closed_stdout_stops_the_tap_without_a_traceback(
    tmp_path: Path, epicor_sandbox: Any
) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps(epicor_sandbox.tap_config()))
    script = Path(sys.executable).with_name("tap-epicor-kinetic")
    proc = subprocess.Popen(
        [str(script), "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    for _ in range(5):  # the target read a few lines, then died
        proc.stdout.readline()
    proc.stdout.close()
    _, stderr = proc.communicate(timeout=300)
    text = stderr.decode(errors="replace")
    assert proc.returncode != 0
    assert "Traceback" not in text, text[-3000:]
    assert "BrokenPipeError" not in text, text[-3000:]
    assert "Exception ignored" not in text, text[-3000:]
