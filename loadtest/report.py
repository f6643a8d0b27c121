"""The benchmark's saved figures as the Markdown tables of docs/benchmarks.md
(`python -m loadtest.benchmark --only table --markdown`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

KINDS = ("DueCourse", "minimal", "bare")


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def ms(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds >= 10 else f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def cpu(c: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.2f}" for k, v in c.items())


def targets(rows: Sequence[tuple[str, str, str, str]]) -> str:
    return table(["target (issue #12)", "measured", "", "run (UTC)"],
                 [(t, m, "**MISS**" if v == "MISS" else v, at[:16].replace("T", " ")) for t, m, v, at in rows])


def compare(figures: dict[str, Any]) -> str:
    out = []
    for n, f in figures.items():
        rows = []
        for kind in KINDS:
            d = f[kind]
            rows.append((f"{kind}", f"{d['seconds']:.0f} s", f"{d['cases_per_s']:.2f}", f"{d['activities_per_s']:.1f}",
                         f"{ms(d['update_p50'])} / {ms(d['update_p95'])}",
                         f"{ms(d['status_p50'])} / {ms(d['status_p95'])}", f"{d['events']:.1f}", f"{d['actions']:.1f}",
                         f"{d['kib']:.1f}", f"{d['rss_peak']} MiB", cpu(d["cpu"])))
        d, m = f["DueCourse"], f["minimal"]

        def r(key: str, d: dict[str, Any] = d, m: dict[str, Any] = m) -> str:
            return f"**{d[key] / m[key]:.2f}**"

        rows.append(("DueCourse / minimal", "", r("cases_per_s"), r("activities_per_s"), r("update_p95") + " (p95)",
                     r("status_p95") + " (p95)", r("events"), r("actions"), r("kib"), r("rss_peak"), ""))
        out.append(f"**N = {int(n):,}**\n\n" + table(
            ["design", "wall", "cases/s", "activities/s", "update p50 / p95", "update → status p50 / p95",
             "events / case", "billable actions / case", "KiB / case", "worker peak", "CPU (cores)"], rows))
    return "\n\n".join(out)


def kinds(figures: dict[str, Any], what: str, fmt: Callable[[float], str] = lambda v: f"{v:.2f}") -> str:
    """Billable actions (or activity types) of the mean case, by kind, for each design."""
    names = sorted({k for f in figures.values() for kind in KINDS for k in f[kind][what]})
    rows = []
    for n, f in figures.items():
        for kind in KINDS:
            rows.append((f"{kind} (N = {int(n):,})", *(fmt(f[kind][what].get(k, 0)) for k in names)))
    return table(["", *names], rows)


def runs(figures: dict[str, Any]) -> str:
    rows = []
    for label, d in figures.items():
        rows.append((label, f"{d['n']:,}", f"{d['seconds']:.0f} s" + ("" if d["finished"] else " (stopped)"),
                     f"{d['closed']:,}", f"{d['cases_per_s']:.2f}", f"{d['activities_per_s']:.1f}",
                     f"{ms(d['update_p50'])} / {ms(d['update_p95'])}", f"{ms(d['status_p50'])} / {ms(d['status_p95'])}",
                     f"{d['backpressure_wait_s'] / d['n']:.1f} s", f"{d['rss_peak']} MiB", cpu(d["cpu"])))
    return table(["run", "N", "wall", "closed", "cases/s", "activities/s", "update p50 / p95",
                  "update → status p50 / p95", "backpressure wait per start (mean)", "worker peak",
                  "CPU (cores)"], rows)


def burst(figures: dict[str, Any]) -> str:
    rows = []
    for kind in ("DueCourse", "minimal"):
        d = figures[kind]
        rows.append((kind, f"{d['contacted']:,} of {d['n']:,}", f"{d['start_span_s']} s", f"{d['ttfc_p50']:.0f} s",
                     f"{d['ttfc_p95']:.0f} s", f"{d['ttfc_max']:.0f} s",
                     f"{d['from_start_p50']:.1f} s / {d['from_start_p95']:.1f} s", f"{d['rss_peak']} MiB",
                     cpu(d["cpu"])))
    d, m = figures["DueCourse"], figures["minimal"]
    rows.append(("DueCourse / minimal", "", "", f"**{d['ttfc_p50'] / m['ttfc_p50']:.2f}**",
                 f"**{d['ttfc_p95'] / m['ttfc_p95']:.2f}**", "", "", "", ""))
    return table(["design", "first contact made", "starts spread over", "time to first contact p50", "p95", "max",
                  "from its own start p50 / p95", "worker peak", "CPU (cores)"], rows)


def reads(d: dict[str, Any]) -> str:
    return table(["status read during the burst", "reads", "p50", "p95", "max", "failed"], [
        ("`Cases(client, queue, Ledger(engine)).status(id)` (the ledger's case row)", d["reads"],
         f"{d['read_p50_ms']:.1f} ms", f"{d['read_p95_ms']:.1f} ms", f"{d['read_max_ms']:.1f} ms", 0),
        ("`status(id, fresh=True)` (the workflow query; 30 s deadline)", d["fresh_reads"] + d["fresh_failed"],
         f"{d['fresh_p50_ms']:.0f} ms", f"{d['fresh_p95_ms']:.0f} ms", f"{d['fresh_max_ms']:.0f} ms",
         d["fresh_failed"]),
    ])


def memory(figures: dict[str, Any]) -> str:
    rows = [(kind, f"{d['n']:,}", f"{d['idle_mib']:.0f} MiB", f"{d['quarter_mib']:.0f} MiB",
             f"{d['full_mib']:.0f} MiB", f"**{d['kib_per_case']:.0f} KiB**", f"{d['marginal_kib_per_case']:.0f} KiB")
            for kind, d in figures.items()]
    return table(["design", "N cached", "idle", "at N/4", "at N", "(at N − idle) / N", "marginal (N/4 → N)"], rows)


def hold(figures: dict[str, Any]) -> str:
    rows, idle = [], figures["readings"][0]["mib"]
    for r in figures["readings"][1:]:
        rows.append((f"{r['open']:,}", f"{r['seconds']:.0f} s", f"{r['starts_per_s']:.1f}", f"{r['mib']:.0f} MiB",
                     f"{(r['mib'] - idle) * 1024 / r['open']:.0f} KiB"))
    return table(["open cases", "reached after", "starts/s (since the previous mark)", "worker memory",
                  "above idle, per open case"], rows)


def profile(p: dict[str, Any]) -> str:
    if not p:
        return "(no profile: py-spy not installed)"
    rows = [(name, f"{share:.0%}") for name, share in sorted(p["share"].items(), key=lambda kv: -kv[1])]
    return (f"{p['samples']} busy samples in {p['seconds']} s (the worker busy {p['busy']:.0%} of the time):\n\n"
            + table(["inside (inclusive: a sample counts for every category in its stack)", "share of busy samples"],
                    rows))
