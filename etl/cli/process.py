"""How the ``runsteps`` process itself is set up and ended: settings that only a whole command may make.

Each one was measured on a 20,000-step export (README, Benchmarks, "Issue 16"); none applies when ``etl`` is
used as a library (an Airflow task, a test), only through the console entry point.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
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


class _NoPandas(MetaPathFinder):
    """Refuse ``import pandas``: pyarrow then knows there is none, and converts Python lists without it.

    pyarrow imports pandas on its first conversion of a Python list, only to look for pandas objects in it; that
    import took 0.45 s of CPU and 40 MB, a quarter of a 20,000-step export. No ``runsteps`` command uses pandas.
    """

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname == "pandas" or fullname.startswith("pandas."):
            raise ModuleNotFoundError("runsteps does not use pandas", name=fullname)
        return None


def set_up() -> None:
    """Before the command runs: no pandas, fewer garbage collections, the modules loaded so far never scanned."""
    if "pandas" not in sys.modules:
        sys.meta_path.insert(0, _NoPandas())
    gc.set_threshold(*GC_THRESHOLDS)
    gc.freeze()


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
