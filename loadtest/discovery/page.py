"""``limits.html``: the discovery's own page (one self-contained file) with a plot per operation.

Built from ``limits.json`` alone, with the report package's page, table and image helpers
(:func:`loadtest.report.html.page`, ``table_html``, ``data_uri``) and a plot drawn here: admitted
requests per second against offered, the knee (where 429s begin) marked with its interval, and for
long-polls the concurrency waves. The PNGs are also written to ``plots/limits_<op>.png``.
"""

from __future__ import annotations

import io
import math
from html import escape
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from loadtest.atomic import write_atomic
from loadtest.report.html import data_uri, page, table_html
from loadtest.rundir.layout import LIMITS_HTML, PLOTS_DIR

PHASE_STYLES: dict[str, tuple[str, str]] = {
    # phase: (colour, marker); bursts (budget, split) never last a window and are left out
    "ramp": ("#1565c0", "o"),
    "window": ("#6a1b9a", "s"),
    "confirm": ("#2e7d32", "D"),
    "saturate": ("#c62828", "^"),
}


def _num(value: float | None, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return f"{value:,.0f}" if float(value).is_integer() and abs(value) >= 1 else f"{value:.{digits}g}"


def _interval(pair: list[float | None] | None, unit: str = "") -> str:
    if not pair or pair[0] is None:
        return "–"
    return f"{_num(pair[0])}{unit} – {_num(pair[1])}{unit}"


def _points(entry: dict[str, Any], window_low: float | None) -> list[tuple[str, float, float]]:
    """(phase, offered/s, admitted/s) of the stretches that lasted at least a window: a shorter one says
    nothing about a sustained rate (a burst inside one window is all admitted, whatever its rate). Offered is
    the schedule's rate: sends held back while a Retry-After ran count as offered (the demand), not admitted."""
    points = []
    for step in entry.get("steps", []):
        phase = step["phase"]
        if phase not in PHASE_STYLES or not step["sent"]:
            continue
        if window_low is None or step["duration_s"] < 0.98 * window_low:
            continue
        offered = step.get("scheduled_per_s", step["offered_per_s"])
        points.append((phase, float(offered), float(step["admitted_per_s"])))
    return points


def plot_operation(op: str, entry: dict[str, Any]) -> bytes | None:
    """The operation's plot as PNG bytes (None when nothing was measured)."""
    rate = entry.get("rate_limit")
    search = entry.get("rate_search", {})
    window_low = rate["window_interval"][0] if rate else None
    points = _points(entry, window_low)
    waves = entry.get("concurrency_search", {}).get("waves") or []
    if not points and not waves:
        return None
    panels = 2 if waves else 1
    fig = Figure(figsize=(10.0 if panels == 2 else 7.0, 4.2), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, panels, squeeze=False)[0]
    ax = axes[0]
    top = max([p[1] for p in points] + [1.0])
    ax.plot([0, top * 1.05], [0, top * 1.05], color="#9e9e9e", lw=1, ls=":", label="admitted = offered")
    for phase, (colour, marker) in PHASE_STYLES.items():
        mine = [(x, y) for p, x, y in points if p == phase]
        if mine:
            ax.scatter([x for x, _ in mine], [y for _, y in mine], color=colour, marker=marker, s=36, zorder=3,
                       label=phase)
    onset = search.get("onset_per_s")
    interval = search.get("onset_interval")
    if onset is not None:
        ax.axvline(onset, color="#d84315", lw=1.5, label=f"knee: 429s begin at {_num(onset)}/s")
        if interval and interval[0] is not None and interval[1] is not None:
            ax.axvspan(interval[0], interval[1], color="#d84315", alpha=0.12, lw=0)
        ax.axhline(onset, color="#d84315", lw=1, ls="--", alpha=0.6)
    documented = (entry.get("documented") or {}).get("rate_limit")
    if documented and documented["per_second"] <= top * 1.5:
        ax.axvline(documented["per_second"], color="#616161", lw=1, ls="-.",
                   label=f"documented {_num(documented['per_second'])}/s")
    ax.set_xlim(left=0)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("offered (requests/s scheduled)")
    ax.set_ylabel("admitted (requests/s not 429)")
    ax.set_title(f"/{op}: admitted against offered")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    if waves:
        wx = axes[1]
        labels = [f"{w['sent']}" + ("*" if w["phase"] == "confirm" else "") for w in waves]
        xs = range(len(waves))
        wx.bar(xs, [w["held"] for w in waves], color="#2e7d32", label="held at once")
        wx.bar(xs, [w["refused"] for w in waves], bottom=[w["held"] for w in waves], color="#c62828",
               label="refused (429)")
        found = entry.get("concurrency_limit")
        if found:
            wx.axhline(found["value"], color="#d84315", lw=1.5, label=f"found {_num(found['value'])} in flight")
        doc_conc = (entry.get("documented") or {}).get("concurrency_limit")
        if doc_conc and doc_conc <= max(w["size"] for w in waves) * 1.5:
            wx.axhline(doc_conc, color="#616161", lw=1, ls="-.", label=f"documented {doc_conc}")
        wx.set_xticks(list(xs), labels)
        wx.set_xlabel("wave (requests opened; * = confirmation)")
        wx.set_ylabel("requests")
        wx.set_title(f"/{op}: requests held in flight")
        wx.grid(True, axis="y", alpha=0.3)
        wx.legend(fontsize=8, loc="upper left")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def _figures_table(op: str, entry: dict[str, Any]) -> str:
    rate = entry.get("rate_limit")
    search = entry.get("rate_search", {})
    conc = entry.get("concurrency_limit")
    conc_search = entry.get("concurrency_search", {})
    documented = entry.get("documented") or {}
    doc_rate = documented.get("rate_limit")
    diffs = entry.get("differences", {})
    rows: list[list[str]] = []
    if rate:
        rows.append(["rate limit (admitted per window)", f"{_num(rate['value'])} per {_num(rate['window_s'])} s",
                     _interval(rate["interval"]),
                     f"{doc_rate['value']} per {_num(doc_rate['window_s'])} s" if doc_rate else "none",
                     escape(diffs.get("rate", ""))])
        rows.append(["window length", f"{_num(rate['window_s'])} s", _interval(rate["window_interval"], " s"),
                     f"{_num(doc_rate['window_s'])} s" if doc_rate else "–", escape(diffs.get("window", "")) or "–"])
        rows.append(["window kind", rate.get("window_kind") or "unknown", "–", "–",
                     escape(search.get("window_kind_test", ""))])
        rows.append(["429s begin at (offered)", f"{_num(search.get('onset_per_s'))}/s",
                     _interval(search.get("onset_interval"), "/s"),
                     f"{_num(doc_rate['per_second'])}/s" if doc_rate else "–",
                     escape(f"no 429 at {_num(search.get('no_429_at_per_s'))}/s; 429s at "
                            f"{_num(search.get('429_at_per_s'))}/s")])
    else:
        rows.append(["rate limit", escape(search.get("status", "").replace("_", " ")), "–",
                     f"{doc_rate['value']} per {_num(doc_rate['window_s'])} s" if doc_rate else "none",
                     escape(diffs.get("rate", ""))])
    doc_conc = documented.get("concurrency_limit")
    if conc:
        rows.append(["concurrency limit (in flight)", _num(conc["value"]), _interval(conc["interval"]),
                     str(doc_conc) if doc_conc is not None else "none", escape(diffs.get("concurrency", ""))])
    else:
        rows.append(["concurrency limit", escape(conc_search.get("status", "").replace("_", " ")), "–",
                     str(doc_conc) if doc_conc is not None else "none", escape(diffs.get("concurrency", ""))])
    retry = entry.get("retry_after", {})
    seen = ", ".join(f"{k} s × {v}" for k, v in retry.get("seen", {}).items()) or "none"
    rows.append(["Retry-After seen", escape(seen), "–", "–",
                 escape(f"{retry.get('honoured_then_admitted', 0)} of {retry.get('honoured_then_checked', 0)} "
                        "requests sent once it had run out were admitted")])
    return table_html(["figure", "found", "interval", "documented", "difference / evidence"], rows, raw=True)


def render(doc: dict[str, Any], images: dict[str, bytes]) -> str:
    target = doc.get("target", {})
    parts = [
        f"<h1>Limit discovery: {escape(str(target.get('endpoint_id', '')))}</h1>",
        f'<p class="sub">{escape(doc.get("started_at", ""))} → {escape(doc.get("ended_at", ""))} · '
        f"{doc.get('duration_s', 0):.1f} s · target {escape(str(target.get('kind', '')))} "
        f"<code>{escape(str(target.get('base_url', '')))}</code> · jobs created {doc.get('jobs_created', 0)}"
        f" · requests {doc.get('requests', 0)} · loadtest {escape(doc.get('tool', {}).get('version', ''))}</p>",
    ]
    if not doc.get("complete", True):
        parts.append(f'<div class="banner warn">The discovery stopped early ({escape(str(doc.get("stopped")))}): '
                     "the figures cover only what was measured.</div>")
    for op, entry in doc.get("operations", {}).items():
        parts.append(f'<h2 id="op-{escape(op)}">/{escape(op)}</h2>')
        parts.append(f'<p class="sub">{entry.get("requests", 0)} requests, {entry.get("jobs_created", 0)} jobs '
                     f"created, {entry.get('elapsed_s', 0):.1f} s</p>")
        parts.append(_figures_table(op, entry))
        if op in images:
            parts.append(f'<figure><img alt="/{escape(op)}: admitted against offered" src="{data_uri(images[op])}">'
                         "<figcaption>Each point is one stretch of traffic at one rate: offered (scheduled per "
                         "second, sends held back for a Retry-After included) against admitted (answered, not "
                         "429, per second). Below the knee every request is "
                         "admitted (the dotted diagonal); above it what gets through levels off at the limit. The "
                         "red line marks where 429s begin, the band its interval. Only stretches that lasted at "
                         "least a window are drawn: inside one window a burst is admitted whatever its rate."
                         "</figcaption></figure>")
        notes = entry.get("notes") or []
        if notes:
            parts.append("<ul>" + "".join(f"<li>{escape(n)}</li>" for n in notes) + "</ul>")
    queue = doc.get("queue_size") or {}
    parts.append("<h2>Queue-size rule</h2>")
    documented = escape(queue.get("documented", ""))
    if queue.get("threshold"):
        low, high = queue["threshold"]["interval"]
        parts.append(f"<p>Submissions are refused once more than <b>{_num(high)}</b> jobs are queued "
                     f"(interval {_num(low)}–{_num(high)}; {queue.get('submitted', 0)} jobs that last were submitted "
                     f"one at a time, the queue read from /health before each). Documented: {documented}.</p>")
    elif queue.get("status") == "met":
        parts.append(f"<p>{queue['refusals']} submissions were refused by the queue-size rule during the searches; "
                     f"about {_num(queue.get('queued_near_first_refusal'))} jobs were queued at the first (sampled "
                     f"from /health). Documented: {documented}.</p>")
    else:
        reason = f" ({escape(queue['reason'])})" if queue.get("reason") else ""
        parts.append(f"<p>{escape(str(queue.get('status', 'not_exercised')).replace('_', ' ').capitalize())}{reason}"
                     f"; <code>--queue-size</code> exercises it. Documented: {documented}.</p>")
    parts.append("<p>Every figure, interval and piece of evidence is in <code>limits.json</code>; every request in "
                 "<code>requests.csv</code>. How to read them: <code>docs/limits.md</code>.</p>")
    return page(f"Limit discovery: {target.get('endpoint_id', '')}", "\n".join(parts))


def write_page(run_dir: Path, doc: dict[str, Any]) -> Path:
    images: dict[str, bytes] = {}
    for op, entry in doc.get("operations", {}).items():
        png = plot_operation(op, entry)
        if png is not None:
            images[op] = png
            write_atomic(run_dir / PLOTS_DIR / f"limits_{op}.png", png)
    path = run_dir / LIMITS_HTML
    write_atomic(path, render(doc, images))
    return path
