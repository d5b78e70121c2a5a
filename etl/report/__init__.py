"""``runsteps report``: one self-contained HTML page of the charts people look at, from the queries of ``sql/``.

    panels   what the page shows: each panel names its query and how to draw it (a Vega-Lite spec)
    data     runs the queries over the destination (the read-only connection of ``runsteps sql``)
    page     the HTML: headline figures, sections of panels, data quality; the JavaScript inline

The charting library is Vega-Lite (with Vega and Vega-Embed), taken at run time from the installed
``vl-convert-python`` package as one offline bundle: nothing is downloaded to write or to view a report.
"""

from __future__ import annotations

import functools
import logging
from datetime import UTC, datetime

from etl import sqlrun
from etl.errors import EtlError, InputError
from etl.load import open_destination
from etl.load.fs import display_uri
from etl.report.data import ReportData, Scope, collect, run_all_checks
from etl.report.page import render_page

__all__ = [
    "ReportData",
    "ReportLibraryMissing",
    "Scope",
    "build_report",
    "render_report",
    "vega_bundle",
]

log = logging.getLogger(__name__)


class ReportLibraryMissing(InputError):
    """The ``report`` extra (vl-convert-python, which carries the charting library) is not installed."""


EXPORTS_SHOWN = 10
# What the page's own script calls, as globals (vl-convert's default snippet, spelled out).
_GLOBALS = "window.vegaEmbed = vegaEmbed; window.vega = vega; window.vegaLite = vegaLite;"


def build_report(dest: str, scope: Scope) -> ReportData:
    """Run every query of the report over ``dest`` (read-only) and gather the results."""
    with sqlrun.open_sql_connection(dest) as con:
        overview, panels = collect(con, scope)
        checks = run_all_checks(con)
    return ReportData(
        dest=display_uri(dest),
        scope=scope,
        generated_at=datetime.now(UTC),
        overview=overview,
        panels=panels,
        checks=checks,
        exports=_latest_exports(dest),
    )


def render_report(dest: str, scope: Scope) -> str:
    """The report page of ``dest`` as HTML text."""
    bundle = vega_bundle()  # a missing extra fails before the destination is read
    return render_page(build_report(dest, scope), bundle)


@functools.cache
def vega_bundle() -> str:
    """Vega, Vega-Lite and Vega-Embed as one script, from the installed vl-convert-python (no network)."""
    try:
        import vl_convert
    except ImportError:
        raise ReportLibraryMissing(
            "runsteps report needs the charting library, which is not installed: pip install 'run-steps-etl[report]'"
        ) from None
    bundle: str = vl_convert.javascript_bundle(_GLOBALS)
    return bundle


def _latest_exports(dest: str) -> list[dict[str, object]]:
    """The latest export summaries recorded at ``dest`` (for the schema-drift table); none when unreadable."""
    try:
        with open_destination(dest, read_only=True) as state:
            return state.exports(EXPORTS_SHOWN)
    except EtlError as exc:
        log.info("no export summaries at %s: %s", display_uri(dest), exc)
        return []
