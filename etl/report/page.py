"""The report as one HTML page: the headline figures and tables written here, the charts drawn in the browser.

Everything the page needs is inline: the style, the Vega bundle, the data (one JSON block) and the few lines
of script that hand each panel's rows to its chart and offer them as CSV. A Content-Security-Policy forbids
the page any request, so it opens and draws the same with or without a network.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from html import escape
from importlib import resources
from typing import Any

from etl import sqlfiles
from etl.report.data import CheckRow, PanelData, ReportData
from etl.report.panels import UNPRICED

# Inline scripts and styles only; Vega compiles its expressions with Function, hence 'unsafe-eval'.
CSP = (
    "default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; "
    "img-src data: blob:; font-src data:; connect-src 'none'; base-uri 'none'; form-action 'none'"
)


def render_page(report: ReportData, vega_bundle: str) -> str:
    """The whole page as text."""
    assets = resources.files("etl.report")
    style = assets.joinpath("report.css").read_text(encoding="utf-8")
    script = assets.joinpath("report.js").read_text(encoding="utf-8")
    title = f"Run steps report: {report.dest}"
    body = [_header(report), _headline(report)]
    if report.empty:
        body.append(_empty_notice(report))
    else:
        body.append(_nav(report))
        body.extend(_sections(report.panels))
    body.append(_quality(report))
    body.append(_footer(report))
    return "\n".join(
        [
            "<!doctype html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{escape(title)}</title>",
            f"<style>\n{style}</style>",
            "</head>",
            "<body>",
            *body,
            f'<script type="application/json" id="report-data">{_script_json(_page_data(report))}</script>',
            f"<script>{_inline_script(vega_bundle)}</script>",
            f"<script>\n{_inline_script(script)}</script>",
            "</body>",
            "</html>",
            "",
        ]
    )


def _header(report: ReportData) -> str:
    scope = report.scope
    period = f"{_when(scope.since) or 'the first step'} to {_when(scope.until) or 'the last step'}"
    who = ", ".join(scope.assistants) if scope.assistants else "all assistants"
    return (
        "<header>"
        "<h1>Run steps report</h1>"
        f'<p class="where"><code>{escape(report.dest)}</code></p>'
        f'<p class="scope">{escape(period)} · {escape(who)} · written {escape(_when(report.generated_at) or "")}</p>'
        "</header>"
    )


def _headline(report: ReportData) -> str:
    o = report.overview
    first, last = o.get("first_step_at"), o.get("last_step_at")
    days = (date.fromisoformat(_day(last)) - date.fromisoformat(_day(first))).days + 1 if first and last else 0
    cost = o.get("cost_usd")
    cards = [
        ("period", f"{days:,} days" if days else "no steps", _span(_day(first), _day(last)) if days else ""),
        (
            "runs",
            _count(o.get("runs")),
            f"{_count(o.get('threads'))} threads · {_count(o.get('assistants'))} assistants",
        ),
        ("steps", _count(o.get("steps")), f"{_count(o.get('tool_calls'))} tool calls"),
        (
            "tokens",
            _short(o.get("total_tokens")),
            f"{_short(o.get('prompt_tokens'))} prompt · {_short(o.get('completion_tokens'))} completion",
        ),
        ("cost", f"${cost:,.2f}" if isinstance(cost, int | float) else "not priced", _cost_note(o)),
        ("failure rate", _share(o.get("failure_rate")), f"{_count(o.get('failed_runs'))} runs failed or expired"),
        ("still active", _share(o.get("active_share")), f"{_count(o.get('active_runs'))} runs not finished"),
    ]
    items = "".join(
        f'<div class="card" data-figure="{escape(name)}"><div class="label">{escape(name)}</div>'
        f'<div class="value">{escape(value)}</div><div class="note">{escape(note)}</div></div>'
        for name, value, note in cards
    )
    return f'<section class="headline" aria-label="headline figures">{items}</section>' + _source_line(
        "overview", "headline figures"
    )


def _cost_note(overview: Mapping[str, Any]) -> str:
    if isinstance(overview.get("cost_usd"), int | float):
        unpriced = overview.get("unpriced_runs")
        return f"{_count(unpriced)} runs unpriced" if unpriced else "token prices at each run's date"
    return "no runs in scope" if not overview.get("runs") else "no prices at this destination"


def _empty_notice(report: ReportData) -> str:
    where = "in this period" if report.scope.since or report.scope.until else "yet"
    who = " for these assistants" if report.scope.assistants else ""
    return (
        '<section class="empty-report" id="empty">'
        f"<h2>No run steps here {escape(where)}{escape(who)}</h2>"
        f"<p>The destination <code>{escape(report.dest)}</code> holds no runs and no steps"
        f" {escape(where)}{escape(who)},"
        " so there is nothing to draw. Export some with <code>runsteps export --dest …</code>, or widen"
        " <code>--since</code>/<code>--until</code>.</p>"
        "</section>"
    )


def _nav(report: ReportData) -> str:
    names = [*dict.fromkeys(p.panel.section for p in report.panels if not p.hidden), "Data quality"]
    links = "".join(f'<a href="#{_anchor(name)}">{escape(name)}</a>' for name in names)
    return f"<nav>{links}</nav>"


def _sections(panels: Iterable[PanelData]) -> list[str]:
    by_section: dict[str, list[PanelData]] = {}
    for item in panels:
        if not item.hidden:
            by_section.setdefault(item.panel.section, []).append(item)
    return [
        f'<section class="group" id="{_anchor(name)}"><h2>{escape(name)}</h2>'
        f'<div class="grid">{"".join(_panel(p) for p in items)}</div></section>'
        for name, items in by_section.items()
    ]


def _panel(item: PanelData) -> str:
    panel = item.panel
    classes = "panel wide" if panel.wide else "panel"
    head = f"<h3>{escape(panel.title)}</h3>"
    if item.missing:
        return (
            f'<figure class="{classes} missing" id="panel-{panel.id}" data-panel="{panel.id}" data-state="missing">'
            f'{head}<p class="missing-note">{escape(item.missing)}</p></figure>'
        )
    description = sqlfiles.sql_file("queries", panel.query).description
    if not item.rows:
        content = '<p class="no-rows">No rows for this scope.</p>'
        state = "empty"
    elif item.unmeasured:
        content = f'<p class="missing-note">{escape(UNPRICED)}</p>'
        state = "unmeasured"
    else:
        chart = f'<div class="chart" id="chart-{panel.id}"></div>' if panel.spec is not None else ""
        table = f'<div class="table" id="table-{panel.id}"></div>' if panel.table else ""
        content = chart + table
        state = "chart" if panel.spec is not None else "table"
    shown = len(item.rows)
    count = (
        f"{shown:,} row{'' if shown == 1 else 's'}"
        if shown == item.total_rows
        else f"first {shown:,} of {item.total_rows:,} rows"
    )
    notes = []
    if item.unscoped:
        notes.append(f"this query takes no {', '.join(item.unscoped)}: it covers the whole destination")
    note = f'<p class="caveat">{escape("; ".join(notes))}</p>' if notes else ""
    return (
        f'<figure class="{classes}" id="panel-{panel.id}" data-panel="{panel.id}" data-state="{state}">'
        f'{head}<p class="desc">{escape(description)}</p>{note}{content}'
        f'<figcaption><span class="query">query <code>{escape(item.command)}</code></span>'
        f'<span class="rows">{escape(count)}</span>'
        f'<button type="button" class="csv" data-csv="{panel.id}"{" disabled" if not shown else ""}>CSV</button>'
        "</figcaption></figure>"
    )


def _quality(report: ReportData) -> str:
    failed = sum(c.verdict == "FAIL" for c in report.checks)
    warned = sum(c.verdict == "WARN" for c in report.checks)
    verdict = (
        f"{sum(c.verdict == 'ok' for c in report.checks)} of {len(report.checks)} checks pass"
        + (f"; {failed} fail" if failed else "")
        + (f"; {warned} warn" if warned else "")
        + " (over the whole destination, whatever the scope)"
    )
    return (
        '<section class="group" id="data-quality"><h2>Data quality</h2><div class="grid">'
        f'<figure class="panel wide" id="panel-checks" data-panel="checks" data-state="table">'
        f'<h3>Checks</h3><p class="desc">{escape(verdict)}</p>{_checks_table(report.checks)}'
        '<figcaption><span class="query">checks <code>runsteps sql check</code></span></figcaption></figure>'
        f"{_drift(report.exports)}"
        "</div></section>"
    )


def _checks_table(checks: list[CheckRow]) -> str:
    rows = "".join(
        f'<tr class="{c.verdict.lower()}"><td><span class="badge">{c.verdict}</span></td>'
        f"<td><code>{escape(c.name)}</code></td><td>{escape(c.rule)}</td>"
        f'<td class="num">{c.violations:,}</td><td>{_sample(c.sample)}</td></tr>'
        for c in checks
    )
    head = "<tr><th></th><th>check</th><th>rule</th><th>rows breaking it</th><th>first of them</th></tr>"
    return f'<table class="checks"><thead>{head}</thead><tbody>{rows}</tbody></table>'


def _sample(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return ""
    return "<br>".join(escape(", ".join(f"{k}={v}" for k, v in row.items())) for row in rows[:3])


def _drift(exports: Sequence[Mapping[str, Any]]) -> str:
    head = (
        "<tr><th>export started</th><th>shard</th><th>steps</th><th>rows of unknown types</th>"
        "<th>unknown types</th><th>fields the API sent that are not stored</th></tr>"
    )
    rows = "".join(
        f"<tr><td>{escape(str(e.get('started_at') or ''))}</td><td>{escape(str(e.get('shard') or ''))}</td>"
        f'<td class="num">{_count(e.get("steps"))}</td><td class="num">{_count(e.get("schema_drift"))}</td>'
        f"<td>{escape(_kinds(e.get('schema_drift_kinds')))}</td>"
        f"<td>{escape(', '.join(map(str, e.get('unknown_fields') or [])))}</td></tr>"
        for e in exports
    )
    body = (
        f'<table class="drift"><thead>{head}</thead><tbody>{rows}</tbody></table>'
        if exports
        else '<p class="no-rows">No export has recorded its summary at this destination.</p>'
    )
    return (
        '<figure class="panel wide" id="panel-drift" data-panel="drift" data-state="table">'
        '<h3>Schema drift</h3><p class="desc">What the latest exports received that this version does not know:'
        f" rows of unknown step, tool call or output types (kept as sent), and fields it does not store.</p>{body}"
        '<figcaption><span class="query">from <code>runsteps status --json</code> (last_exports)</span></figcaption>'
        "</figure>"
    )


def _footer(report: ReportData) -> str:
    return (
        "<footer><p>Every figure on this page is the result of a query of <code>sql/queries</code>, run over"
        f" <code>{escape(report.dest)}</code>; the caption under each chart names it, and"
        " <code>runsteps sql run NAME</code> prints the same rows. Charts drawn with Vega-Lite.</p></footer>"
    )


def _source_line(query: str, what: str) -> str:
    return f'<p class="source">{escape(what)}: query <code>runsteps sql run {escape(query)}</code></p>'


def _page_data(report: ReportData) -> dict[str, Any]:
    return {
        "dest": report.dest,
        "overview": report.overview,
        "panels": [
            {
                "id": p.panel.id,
                "query": p.panel.query,
                "params": p.params,
                "spec": None if p.unmeasured else p.panel.spec,
                "table": list(p.panel.table),
                "columns": p.columns,
                "rows": p.rows,
                "total_rows": p.total_rows,
            }
            for p in report.panels
            if not p.missing and not p.hidden
        ],
    }


def _script_json(value: object) -> str:
    """JSON safe inside a script element: no ``</script>``, no ``<!--``, whatever text the data holds."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _inline_script(code: str) -> str:
    # A script element ends at the first "</script"; the bundle has none today, keep it that way.
    return code.replace("</script", "<\\/script")


def _anchor(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")


def _when(moment: datetime | None) -> str | None:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else None


def _day(iso: object) -> str:
    return str(iso)[:10]


def _span(first: str, last: str) -> str:
    """2026-01-01 – 01-30 (the year once when both days share it)."""
    return f"{first} – {last[5:] if last[:4] == first[:4] else last}"


def _count(value: object) -> str:
    return f"{value:,}" if isinstance(value, int) else "–"


def _short(value: object) -> str:
    if not isinstance(value, int | float):
        return "–"
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:.1f}{suffix}"
    return f"{value:,}"


def _share(value: object) -> str:
    return f"{value:.1%}" if isinstance(value, int | float) else "–"


def _kinds(kinds: object) -> str:
    return ", ".join(f"{k} {v}" for k, v in kinds.items()) if isinstance(kinds, Mapping) else ""
