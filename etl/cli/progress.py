"""How an export shows itself: progress bars on a terminal, periodic log lines elsewhere, text or JSON logs."""

from __future__ import annotations

import json
import logging
import sys
import time
from datetime import UTC, datetime
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from etl.extract import FetchedRun
from etl.pipeline import ExportObserver, ExportSummary

log = logging.getLogger("etl.progress")


class JsonFormatter(logging.Formatter):
    """One JSON object per log line: time, level, logger, message."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(log_format: str, *, verbose: bool = False) -> None:
    """Log to stderr as text or JSON lines; libraries below WARNING stay quiet."""
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger("etl").setLevel(logging.DEBUG if verbose else logging.INFO)


class LogLines(ExportObserver):
    """Every ``interval`` seconds one plain line: runs and steps done, rates (for Airflow and CI logs)."""

    def __init__(self, interval: float = 10.0) -> None:
        self.interval = interval
        self.started = self.last = time.monotonic()
        self.runs = self.steps = self.failed = self.queued = 0

    def discovered(self, runs: int) -> None:
        self.queued += runs

    def run_done(self, fetched: FetchedRun) -> None:
        self.runs += 1
        self.steps += len(fetched.steps)
        self.failed += 0 if fetched.ok else 1
        now = time.monotonic()
        if now - self.last >= self.interval:
            self.last = now
            elapsed = now - self.started
            log.info(
                "progress: %d runs (%d failed), %d steps, %.1f runs/s, %.1f steps/s",
                self.runs,
                self.failed,
                self.steps,
                self.runs / elapsed,
                self.steps / elapsed,
            )


class Bars(ExportObserver):
    """Progress bars for runs and steps, with rates and elapsed time (the total is unknown while discovering)."""

    def __init__(self) -> None:
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
        self._runs: TaskID = self._progress.add_task("runs", total=None, rate="")
        self._steps: TaskID = self._progress.add_task("steps", total=None, rate="")
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

    def run_done(self, fetched: FetchedRun) -> None:
        self._run_count += 1
        self._step_count += len(fetched.steps)
        elapsed = max(time.monotonic() - self._started, 1e-9)
        self._progress.update(self._runs, advance=1, rate=f"{self._run_count / elapsed:,.1f} runs/s")
        self._progress.update(
            self._steps, advance=len(fetched.steps), rate=f"{self._step_count / elapsed:,.0f} steps/s"
        )


def summary_lines(summary: ExportSummary) -> list[str]:
    """The human summary printed at the end of an export."""
    lines = [
        f"export to {summary.dest} (shard {summary.shard}) finished in {summary.elapsed_s:.1f} s",
        f"  runs: {summary.runs_ok} ok, {summary.runs_failed} failed, {summary.runs_skipped} skipped (exported before)",
        f"  steps: {summary.steps} ({summary.steps_per_s:,.0f} steps/s)",
        "  rows: " + ", ".join(f"{name} {count}" for name, count in summary.rows.items()),
        f"  requests: {summary.requests} ({summary.retries} retries), schema drift: {summary.schema_drift} rows",
    ]
    if summary.drift_kinds:
        kinds = ", ".join(f"{kind} {rows}" for kind, rows in sorted(summary.drift_kinds.items()))
        lines.append(f"  kept as sent (types this version does not know): {kinds}")
    if summary.unknown_fields:
        lines.append(f"  fields not stored (new in the API?): {', '.join(sorted(summary.unknown_fields))}")
    for failure in summary.failures:
        where = f"{failure['thread_id']}/{failure['run_id']}" if failure["run_id"] else f"thread {failure['thread_id']}"
        lines.append(f"  FAILED {where}: {failure['reason']}")
    return lines
