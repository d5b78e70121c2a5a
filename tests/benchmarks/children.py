"""The child processes the end-to-end benchmarks start: the ``runsteps`` command and API servers."""

from __future__ import annotations

import subprocess
import sys

RUNSTEPS = [sys.executable, "-m", "etl"]


def start_server(command: list[str]) -> tuple[subprocess.Popen[str], str]:
    """Start an API child that prints its base URL as its first line; returns it and that URL."""
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert child.stdout is not None
    base_url = child.stdout.readline().strip()
    if not base_url.startswith("http"):
        child.kill()
        raise SystemExit(f"the API did not start: {base_url!r}")
    return child, base_url
