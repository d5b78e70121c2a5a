"""How an export shows itself on a terminal: progress bars, and log lines as text or JSON (``etl.pipeline.LogLines``
says how far it got where there is no terminal)."""

from __future__ import annotations

import json
import logging
import sys
import time
from types import TracebackType
from typing import TYPE_CHECKING

from etl.pipeline import ExportObserver
from etl.values import iso

if TYPE_CHECKING:
    from rich.progress import TaskID


class JsonFormatter(logging.Formatter):
    """One JSON object per log line: time, level, logger, message."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": iso(record.created, "milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(log_format: str, *, verbose: bool = False) -> None:
    """Log to stderr as text or JSON lines; libraries below WARNING stay quiet.

    azure-identity's own warnings stay quiet too (``verbose`` shows them): when no credential gives a token it logs
    every credential it tried over a dozen lines, and the export's one-line error already says what failed and what
    to do.
    """
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger("etl").setLevel(logging.DEBUG if verbose else logging.INFO)
    logging.getLogger("azure").setLevel(logging.WARNING if verbose else logging.ERROR)


class Bars(ExportObserver):
    """Progress bars for runs and steps (or responses and items), with rates and elapsed time."""

    def __init__(self, units: tuple[str, str] = ("runs", "steps")) -> None:
        # rich is imported only for bars on a terminal: logs and --no-progress exports start without it.
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("[bold]{task.description:>5}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        self._started = time.monotonic()
        self.units = units
        self._runs: TaskID = self._progress.add_task(units[0], total=None, rate="")
        self._steps: TaskID = self._progress.add_task(units[1], total=None, rate="")
        self._run_count = self._step_count = 0

    def __enter__(self) -> Bars:
        self._progress.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._progress.stop()

    def discovered(self, runs: int) -> None:
        task = self._progress.tasks[self._runs]
        self._progress.update(self._runs, total=(task.total or 0) + runs)

    def unit_done(self, ok: bool, items: int) -> None:
        self._run_count += 1
        self._step_count += items
        elapsed = max(time.monotonic() - self._started, 1e-9)
        unit, item = self.units
        self._progress.update(self._runs, advance=1, rate=f"{self._run_count / elapsed:,.1f} {unit}/s")
        self._progress.update(self._steps, advance=items, rate=f"{self._step_count / elapsed:,.0f} {item}/s")
