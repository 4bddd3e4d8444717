"""A self-contained HTML report: inline SVG plots, no scripts, no external files."""

from __future__ import annotations

from html import escape
from typing import Any

HEADLINE = (
    "correct",
    "page_hit@5",
    "page_recall@10",
    "page_mrr",
    "page_map@10",
    "chunk_hit@5",
    "citation_precision",
    "citation_recall",
    "quote_verbatim_rate",
    "claim_support_rate_own",
    "claim_support_rate_harness",
    "key_fact_recall",
    "abstention_mcc",
    "premise_corrected_rate",
)
# What each metric measures, in a sentence a reader of the report can use.
_LEVEL = {"document": "document", "page": "page", "chunk": "passage"}


def explain(name: str) -> str:
    """One sentence saying what the metric `name` measures."""
    fixed = {
        "correct": "Share of questions handled correctly: an answerable one answered with its key facts and a "
        "gold citation, an unanswerable one refused.",
        "citation_precision": "Share of the answer's citations that point at a gold page.",
        "citation_recall": "Share of the gold pages that the answer cites.",
        "quote_verbatim_rate": "Share of quoted passages found word for word in the cited document.",
        "claim_support_rate_own": "Share of the answer's sentences that the assistant's own check finds supported "
        "by their citations.",
        "hallucination_rate_own": "Share of the answer's sentences its own check finds unsupported (lower is better).",
        "claim_support_rate_harness": "Share of sentences the evaluation's independent check (validated on its own "
        "labelled pairs) finds supported.",
        "hallucination_rate_harness": "Share of sentences the independent check finds unsupported by what they cite "
        "(lower is better).",
        "key_fact_recall": "Share of each answerable question's key facts that appear in the answer.",
        "abstention_mcc": "How well refusals track unanswerable questions: Matthews correlation over the confusion "
        "matrix (1 perfect, 0 chance).",
        "abstention_precision": "Of the questions refused, the share that the documents really do not answer.",
        "abstention_recall": "Of the unanswerable questions, the share refused.",
        "false_refusal_rate": "Share of answerable questions refused (lower is better).",
        "premise_corrected_rate": "Share of false-premise questions whose answer corrects the premise.",
    }
    if name in fixed:
        return fixed[name]
    level, _, m = name.partition("_")
    what = _LEVEL.get(level, level)
    if m.startswith("hit@"):
        return f"Share of answerable questions with a gold {what} among the first {m[4:]} retrieved."
    if m.startswith("recall@"):
        return f"Share of each question's gold {what}s found among the first {m[7:]} retrieved."
    if m == "mrr":
        return f"Mean of 1 / rank of the first gold {what} retrieved (1 when it comes first)."
    if m.startswith("map@"):
        return f"Mean average precision of the gold {what}s in the first {m[4:]} retrieved."
    return ""


def _bound(b: dict[str, float] | None) -> str:
    if not b:
        return ""
    return " and ".join(f"≥ {b['min']}" if k == "min" else f"≤ {b['max']}" for k in b)


def _meets(value: float, b: dict[str, float]) -> bool:
    return ("min" not in b or value >= b["min"]) and ("max" not in b or value <= b["max"])


CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
h1,h2{font-weight:600} table{border-collapse:collapse;margin:.5em 0} td,th{border:1px solid #ccc;padding:3px 8px}
th{background:#f3f3f3;text-align:left} .ok{color:#176d2c} .bad{color:#b00020} .muted{color:#666}
details{border:1px solid #ddd;margin:4px 0;padding:4px 8px} summary{cursor:pointer}
blockquote{margin:4px 0 4px 1em;padding-left:8px;border-left:3px solid #ccc;color:#444}
.cm td{width:7em;text-align:center} code{background:#f6f6f6;padding:0 3px}
"""


def set_name(path: str) -> str:
    """A question set's name, never the server path it was read from ("bundled-test", not /srv/…/x.jsonl)."""
    return str(path).replace("\\", "/").rsplit("/", 1)[-1].removesuffix(".jsonl")


def _bars(metrics: dict[str, dict[str, float]], names: tuple[str, ...]) -> str:
    rows = [(n, metrics[n]) for n in names if n in metrics]
    width, left, row_h = 760, 230, 22
    out = [
        f'<svg role="img" aria-label="metric bars" width="{width}" height="{row_h * len(rows) + 30}" '
        'xmlns="http://www.w3.org/2000/svg" font-size="12">'
    ]
    scale = width - left - 60
    for i, (name, m) in enumerate(rows):
        y = 10 + i * row_h
        x0 = left
        out.append(f'<text x="{left - 8}" y="{y + 13}" text-anchor="end">{escape(name)}</text>')
        out.append(f'<rect x="{x0}" y="{y + 3}" width="{scale}" height="12" fill="#eee"/>')
        out.append(
            f'<rect x="{x0}" y="{y + 3}" width="{scale * max(0.0, m["value"]):.1f}" height="12" fill="#4a78b5"/>'
        )
        lo, hi = x0 + scale * max(0.0, m["low"]), x0 + scale * max(0.0, m["high"])
        out.append(f'<line x1="{lo:.1f}" x2="{hi:.1f}" y1="{y + 9}" y2="{y + 9}" stroke="#111" stroke-width="1.5"/>')
        out.append(f'<line x1="{lo:.1f}" x2="{lo:.1f}" y1="{y + 4}" y2="{y + 14}" stroke="#111"/>')
        out.append(f'<line x1="{hi:.1f}" x2="{hi:.1f}" y1="{y + 4}" y2="{y + 14}" stroke="#111"/>')
        out.append(f'<text x="{x0 + scale + 6}" y="{y + 13}">{m["value"]:.3f}</text>')
    out.append("</svg>")
    return "".join(out)


def _confusion(cm: dict[str, float], positive: str, negative: str) -> str:
    return (
        f'<table class="cm"><tr><th></th><th>predicted {escape(positive)}</th>'
        f"<th>predicted {escape(negative)}</th></tr>"
        f"<tr><th>truly {escape(positive)}</th><td>TP {cm['tp']:.0f}</td><td>FN {cm['fn']:.0f}</td></tr>"
        f"<tr><th>truly {escape(negative)}</th><td>FP {cm['fp']:.0f}</td><td>TN {cm['tn']:.0f}</td></tr></table>"
        f"<p>MCC <b>{cm['mcc']:.3f}</b> · precision {cm['precision']:.3f} · recall {cm['recall']:.3f} · "
        f"accuracy {cm['accuracy']:.3f}</p>"
    )


def _metric_table(metrics: dict[str, dict[str, Any]], bars: dict[str, dict[str, float]] | None = None) -> str:
    """Every metric with what it measures, its interval, and its threshold (set before the run) marked met
    or missed."""
    bars = bars or {}

    def mark(n: str, v: float) -> str:
        if n not in bars:
            return ""
        ok = _meets(v, bars[n])
        return (
            f'<span class="{"ok" if ok else "bad"}">{"✓ met" if ok else "✗ missed"} ({escape(_bound(bars[n]))})</span>'
        )

    rows = "".join(
        f"<tr><td><b>{escape(n)}</b><br><span class=muted>{escape(explain(n))}</span></td><td>{m['value']:.3f}</td>"
        f"<td>[{m['low']:.3f}, {m['high']:.3f}]</td><td>{m['n']:.0f}</td>"
        f"<td>{'higher' if m['higher_is_better'] else 'lower'}</td><td>{mark(n, m['value'])}</td></tr>"
        for n, m in metrics.items()
    )
    return (
        f"<table><tr><th>metric: what it measures</th><th>value</th><th>95% bootstrap interval</th><th>questions</th>"
        f"<th>better</th><th>threshold</th></tr>{rows}</table>"
    )


def _record(r: dict[str, Any]) -> str:
    ok = r["correct"] >= 1
    head = (
        f'<span class="{"ok" if ok else "bad"}">{"✓" if ok else "✗"}</span> <code>{escape(r["id"])}</code> '
        f"[{escape(r['kind'])}] {escape(r['question'])}"
        + (f" — <i>refused: {escape(str(r['abstain_reason']))}</i>" if r["abstained"] else "")
    )
    cites = "".join(
        f"<li>[{c['n']}] {escape(c['title'])}, §{escape(c['section'] or '-')}, p. {c['page']} "
        f"{'(gold page)' if c['gold_page'] else ''} {'' if c['verbatim'] else '<b class=bad>NOT VERBATIM</b>'}"
        f"<blockquote>{escape(c['quote'])}</blockquote></li>"
        for c in r["citations"]
    )
    claims = "".join(
        f'<li class="{"ok" if c["supported"] and c["harness_supported"] else "bad"}">{escape(c["text"])} '
        f'<span class="muted">(assistant: {"supported" if c["supported"] else "unsupported"}; harness: '
        f"{'supported' if c['harness_supported'] else 'missing ' + escape(', '.join(c['harness_missing']) or 'quote')})"
        f"</span></li>"
        for c in r["claims"]
    )
    gold = (
        "".join(
            f"<li>{escape(g['file'])} p. {g['page']}: <blockquote>{escape(g['quote'])}</blockquote></li>"
            for g in r["gold"]
        )
        or "<li>none (unanswerable)</li>"
    )
    return (
        f"<details><summary>{head}</summary><p><b>Answer.</b> {escape(r['answer'])}</p>"
        f"<p><b>Reference.</b> {escape(r['reference_answer'])}</p><p><b>Citations</b></p><ol>{cites}</ol>"
        f"<p><b>Claims</b></p><ul>{claims}</ul><p><b>Gold evidence</b></p><ul>{gold}</ul>"
        f'<p class="muted">latency {r["latency_ms"]:.0f} ms</p></details>'
    )


def _ragas_row(r: dict[str, Any], judged: bool) -> str:
    failures = f"{r['failure_rate']:.0%}" if judged and r["failure_rate"] is not None else ""
    return (
        f"<tr><td>{escape(r['metric'])}</td><td>{_num(r['mean'])}</td><td>{r['scored']}/{r['n']}</td>"
        f"<td>{failures}</td></tr>"
    )


def _num(x: float | None) -> str:
    return "–" if x is None else f"{x:.2f}"


def render(run: dict[str, Any], gate: list[str] | None = None, bars: dict[str, dict[str, float]] | None = None) -> str:
    """The whole report as one HTML string: no server paths, each metric explained, thresholds marked."""
    s = run["summary"]
    v = run["versions"]
    kinds = "".join(
        f"<tr><td>{escape(k)}</td><td>{d['n']}</td><td>{d['correct']:.2f}</td><td>{_num(d['page_hit@5'])}</td>"
        f"<td>{d['abstained']:.2f}</td></tr>"
        for k, d in s["per_kind"].items()
    )
    fp = s["false_premise"]
    gate_html = ""
    missed = run.get("thresholds", {}).get("targets_missed", [])
    if missed:
        gate_html += (
            "<p><b>Targets missed (not gating):</b></p><ul>"
            + "".join(f"<li>{escape(m)}</li>" for m in missed)
            + "</ul>"
        )
    if gate is not None:
        gate_html = (
            "<p class=ok><b>Thresholds: all met.</b></p>"
            if not gate
            else "<p class=bad><b>Thresholds not met:</b></p><ul>"
            + "".join(f"<li>{escape(g)}</li>" for g in gate)
            + "</ul>"
        )
    extra = ""
    if "claim_check" in run:
        cc = run["claim_check"]
        extra = (
            f"<h2>The hallucination check itself</h2><p>{escape(cc['description'])}</p>"
            f"<p>Threshold chosen on the dev part: <b>{cc['threshold']:.3f}</b> "
            f"({cc['dev']['n']} dev pairs, {cc['test']['n']} test pairs).</p><h3>Test part</h3>"
            + _confusion(cc["test"]["confusion"], "unsupported", "supported")
        )
    if "ragas" in run:
        rows = "".join(
            _ragas_row(r, part == "judged") for part in ("non_llm", "judged") for r in run["ragas"].get(part, [])
        )
        extra += (
            "<h2>ragas</h2><p>LLM-judged metrics appear only when a judge endpoint is configured; each comes "
            "with the share of questions its judge failed to score.</p><table><tr><th>metric</th><th>mean</th>"
            f"<th>scored</th><th>judge failures</th></tr>{rows}</table>"
        )
    pinned = ", pinned" if v["corpus"].get("pinned") else ""
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>regassist evaluation</title>
<style>{CSS}</style></head><body>
<h1>regassist evaluation: {escape(set_name(run["set"]))}</h1>
<p class="muted">{escape(run["started"])} · {s["n"]} questions · {run["seconds"]:.0f} s ·
backend <code>{escape(str(v["backend"]))}</code> · model <code>{escape(str(v["embed_model"]))}</code> ·
chunker <code>{escape(str(v["chunker_version"]))}</code> · code <code>{escape(str(v["code"]["commit"]))}</code>
{"(uncommitted changes)" if v["code"]["dirty"] else ""} · corpus <code>{escape(v["corpus"]["sha256"])}</code>
({v["corpus"]["documents"]} documents{pinned}) · question set <code>{escape(v["question_set"]["sha256"])}</code></p>
{gate_html}
<h2>Headline metrics (95% bootstrap intervals)</h2>{_bars(s["metrics"], HEADLINE)}
<h2>Abstention</h2><p>Positive = the documents do not answer, so the assistant should refuse.</p>
{_confusion(s["abstention_confusion"], "unanswerable", "answerable")}
<p>Refusal reasons: {escape(", ".join(f"{k} {n}" for k, n in s["abstain_reasons"].items()) or "none")}.
False premises: corrected {fp["corrected"]}, refused {fp["abstained"]}, accepted {fp["accepted"]}.</p>
<h2>By kind of question</h2><table><tr><th>kind</th><th>n</th><th>correct</th><th>page hit@5</th>
<th>refused</th></tr>{kinds}</table>
<p>Latency: p50 {s["latency_ms"]["p50"]:.0f} ms, p95 {s["latency_ms"]["p95"]:.0f} ms.</p>
{extra}
<h2>All metrics</h2>{_metric_table(s["metrics"], bars)}
<h2>Every question</h2>{"".join(_record(r) for r in run["records"])}
</body></html>"""
