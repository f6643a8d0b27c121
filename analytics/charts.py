"""The report's charts as inline SVG (matplotlib, SVG backend): no image files, no script, nothing fetched
when the page opens. Each element that carries a figure has an id (`<chart>-bar-<label>`, ...) and a
`data-value`, so a test, or a reader's own tool, can read the chart as well as see it; the same figures
are in the table printed beside it.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence

import matplotlib

matplotlib.use("svg")

import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)
from matplotlib.ticker import MaxNLocator  # noqa: E402

from domain.model_card import CalibrationBin  # noqa: E402

plt.rcParams.update({"svg.hashsalt": "duecourse", "svg.fonttype": "none", "font.size": 9,
                     "axes.spines.top": False, "axes.spines.right": False})
COLOUR, GREY = "#2b6cb0", "#718096"
_REFERENCE = re.compile(r'(id="|url\(#|href="#)([^")]+)')


def slug(text: str) -> str:
    """A label as part of an element id: letters, digits and '-' only."""
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower() or "x"


def plain(text: object) -> str:
    """A label drawn as written: a '$' from the ledger (an arm's name) never starts matplotlib's mathtext."""
    return str(text).replace("$", r"\$")


def _svg(fig: plt.Figure, name: str, values: dict[str, float]) -> str:
    """The figure as an <svg> element for inline use: its own ids prefixed with the chart's name (several
    charts share one page), `data-value` on the elements named in `values`."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    svg = buf.getvalue()
    svg = re.sub(r"\s*<metadata>.*?</metadata>", "", svg[svg.index("<svg"):], flags=re.S)  # no RDF boilerplate

    def prefix(m: re.Match[str]) -> str:
        ident = m.group(2)
        return m.group(0) if ident in values else f"{m.group(1)}{name}-{ident}"

    svg = _REFERENCE.sub(prefix, svg)
    for gid, value in values.items():
        svg = svg.replace(f'<g id="{gid}">', f'<g id="{gid}" data-value="{value:.6g}">', 1)
    return svg.replace("<svg ", f'<svg id="{name}" role="img" ', 1)


def bars(name: str, labels: Sequence[str], values: Sequence[float | None], title: str, ylabel: str,
         low: Sequence[float | None] | None = None, high: Sequence[float | None] | None = None,
         percent: bool = False) -> str:
    """Vertical bars from zero, one per label (gid `<name>-bar-<label>`), with interval whiskers if given."""
    fig, ax = plt.subplots(figsize=(max(3.2, 0.9 * len(labels) + 1.5), 2.8))
    heights = [v or 0.0 for v in values]
    scale = 100.0 if percent else 1.0
    drawn = ax.bar(range(len(labels)), [h * scale for h in heights], color=COLOUR, width=0.6)
    gids: dict[str, float] = {}
    for i, (rect, label, value) in enumerate(zip(drawn, labels, heights, strict=True)):
        gid = f"{name}-bar-{slug(label)}"
        gid = gid if gid not in gids else f"{gid}-{i}"  # two labels alike once slugged
        rect.set_gid(gid)
        gids[gid] = value
    if low is not None and high is not None:
        for i, (v, lo, hi) in enumerate(zip(heights, low, high, strict=True)):
            if lo is not None and hi is not None:
                ax.errorbar(i, v * scale, yerr=[[max(0.0, (v - lo) * scale)], [max(0.0, (hi - v) * scale)]],
                            color=GREY, capsize=4, linewidth=1)
    ax.set_xticks(range(len(labels)), [plain(label) for label in labels])
    ax.set_ylim(bottom=0)
    if not percent:
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(ylabel + (" (%)" if percent else ""))
    ax.set_title(title)
    return _svg(fig, name, gids)


def survival(name: str, months: Sequence[float], survival: Sequence[float], title: str) -> str:
    """A Kaplan–Meier step curve (gid `<name>-curve`), y from 0 to 100%."""
    fig, ax = plt.subplots(figsize=(4.2, 2.8))
    (line,) = ax.step(list(months), [s * 100 for s in survival], where="post", color=COLOUR)
    line.set_gid(f"{name}-curve")
    ax.set_ylim(0, 105)
    ax.set_xlim(left=0)
    ax.set_xlabel("months since the plan started")
    ax.set_ylabel("plans not broken (%)")
    ax.set_title(title)
    return _svg(fig, name, {f"{name}-curve": survival[-1] if survival else 1.0})


def calibration(name: str, bins: Sequence[CalibrationBin], title: str) -> str:
    """Predicted against observed per bin (points `<name>-bin-<i>`), with the diagonal of perfect
    calibration (`<name>-diagonal`)."""
    fig, ax = plt.subplots(figsize=(3.6, 3.4))
    (diagonal,) = ax.plot([0, 1], [0, 1], linestyle="--", color=GREY, linewidth=1)
    diagonal.set_gid(f"{name}-diagonal")
    ax.plot([b.predicted for b in bins], [b.observed for b in bins], color=COLOUR, linewidth=1)
    values: dict[str, float] = {f"{name}-diagonal": 1.0}
    for i, b in enumerate(bins):
        (point,) = ax.plot([b.predicted], [b.observed], marker="o", color=COLOUR, markersize=5)
        point.set_gid(f"{name}-bin-{i}")
        values[f"{name}-bin-{i}"] = b.observed
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("equal")
    ax.set_xlabel("mean predicted probability")
    ax.set_ylabel("observed share cured")
    ax.set_title(title)
    return _svg(fig, name, values)
