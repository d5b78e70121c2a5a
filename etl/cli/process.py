"""How the ``runsteps`` process itself is set up and ended: settings that only a whole command may make.

Each one was measured on a 20,000-step export (README, Benchmarks, "Issue 16"); none applies when ``etl`` is
used as a library (an Airflow task, a test), only through the console entry point.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from importlib.abc import MetaPathFinder
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import NoReturn

# Collect young objects after 50,000 new containers, not 700: a page of steps is tens of thousands of dicts and
# lists that all live until their batch is written, so the default collections scanned them again and again
# (parsing a page took three times as long). Cycles are still collected, only less often.
GC_THRESHOLDS = (50_000, 20, 100)


# Modules no runsteps command uses, which libraries would import for nothing (CPU time measured at start-up):
REFUSED = {
    # pyarrow imports pandas on its first conversion of a Python list, only to look for pandas objects in it:
    # 0.45 s of CPU and 40 MB, a quarter of a 20,000-step export. Refused, pyarrow converts lists without it.
    "pandas": "runsteps does not use pandas",
    # httpx imports its command-line client (with rich and pygments, ~50 ms) when they are installed, and falls
    # back to a stub when the import fails.
    "httpx._main": "runsteps does not use the httpx command line",
    # pyarrow imports numpy when it is installed (dbt's or Airflow's virtualenv has it) and works without it: the
    # tables are built from Python objects and Arrow arrays only. ~60 ms of every command's start-up.
    "numpy": "runsteps does not use numpy",
}


class _Refuse(MetaPathFinder):
    """Fail the import of some of ``REFUSED`` (and their submodules), as if they were not installed."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = tuple(names)

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        top = next((name for name in self.names if fullname == name or fullname.startswith(name + ".")), None)
        if top is not None:
            raise ModuleNotFoundError(REFUSED[top], name=fullname)
        return None


def set_up() -> None:
    """Before the command runs: no pandas, fewer garbage collections, the modules loaded so far never scanned.

    A module imported already (by whatever runs this in its process) stays usable.
    """
    sys.meta_path.insert(0, _Refuse([name for name in REFUSED if name not in sys.modules]))
    gc.set_threshold(*GC_THRESHOLDS)
    gc.freeze()
    # SIGTERM (systemd, Kubernetes, `timeout`) stops a command as Ctrl-C does: the batch being written lands whole
    # or not at all, finished batches are kept, and one line says so (exit 130). By default it killed the process.
    # Not where SIGINT is ignored (a background job of a shell script): SIGTERM would then do nothing; it kills.
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGTERM, _as_interrupt)


def _as_interrupt(signum: int, frame: object) -> None:
    signal.raise_signal(signal.SIGINT)


def end(code: str | int | None) -> NoReturn:
    """Exit with ``code`` once output is flushed, skipping the interpreter's tear-down when nothing else runs.

    Freeing every module and object one by one took 0.1-0.15 s after an export had closed its destination; the
    kernel frees the memory at once. Each command has closed its files by now; a thread still running (not a
    daemon) gets the normal exit, which waits for it.
    """
    if isinstance(code, str):
        sys.exit(code)  # a message: Python prints it
    others = [t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon]
    if others:
        sys.exit(code)
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # closed or broken pipe: nothing more can reach it
            stream.flush()
    os._exit(code or 0)
