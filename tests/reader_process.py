"""A reader in a separate process while the test writes: the harness of the concurrency tests
(tests/publish/test_publish_concurrency.py, tests/postgres/test_pg_concurrency.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from typing import Any


def read_while(script: str, args: list[str], write: Callable[[], None], timeout_s: float = 600) -> dict[str, Any]:
    """Run ``python -c script *args``, wait for its first line (``ready``: it has answered once), call ``write()``,
    then wait for the reader to end and return the JSON object of its last line. The reader is killed if
    anything fails.

    Raises:
        AssertionError: the reader did not get ready, or exited non-zero (with its stderr).
    """
    reader = subprocess.Popen(
        [sys.executable, "-c", script, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert reader.stdout is not None
        first_line = reader.stdout.readline()
        assert first_line.strip() == "ready", first_line + (reader.stderr.read() if reader.stderr else "")
        write()
        out, err = reader.communicate(timeout=timeout_s)
    finally:
        if reader.poll() is None:
            reader.kill()
            reader.wait()
    assert reader.returncode == 0, err
    return dict(json.loads(out.strip().splitlines()[-1]))
