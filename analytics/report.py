"""The portfolio report: every figure of `analytics.kpis`, `cohorts` and `arms` for a period, the model's
card and the early-warning holdout, as one self-contained HTML page (inline CSS and SVG: it opens with no
network) and one CSV per table. Everything put into the page is escaped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from html import escape
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from adapters import propensity_model
from analytics import arms, charts, cohorts, kpis
from analytics.tables import COUNT, NUMBER, RATE, TEXT, THIN, Period, Table, shown
from domain.model_card import ModelCard
from settings import Settings

SIMULATED = ("Simulated portfolio: every figure on this page comes from the borrower simulator, not from real "
             "borrowers. Use it to check the engine and the report, never to judge a strategy's effect on people.")
CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:78rem;padding:0 1rem;color:#1a202c}
h1{font-size:1.6rem}h2{margin-top:2.4rem;border-bottom:1px solid #cbd5e0}h3{font-size:1rem;margin-bottom:.3rem}
.banner{background:#fefcbf;border:2px solid #b7791f;padding:.8rem 1rem;font-weight:600}
.figure{display:flex;flex-wrap:wrap;gap:1.5rem;align-items:flex-start}.figure>div{flex:1 1 28rem;min-width:0}
.figure svg{flex:0 0 auto;max-width:100%;height:auto}tr.thin td{color:#a0aec0}div.t{overflow-x:auto}
table{border-collapse:collapse;margin:.4rem 0 .2rem;font-size:12.5px}
th,td{border:1px solid #e2e8f0;padding:.2rem .45rem;text-align:right}th{background:#edf2f7}
td.text,th.text{text-align:left}.note{color:#4a5568;font-size:12.5px;max-width:60rem}
.meta{color:#4a5568}.kind{font-size:11px;color:#fff;background:#4a5568;border-radius:3px;padding:0 .3rem}
"""


@dataclass(frozen=True)
class Options:
    first: date
    end: date  # excluded
    by: list[str] = field(default_factory=list)
    horizon_days: int = 30
    champion: str = "champion"  # for a policy whose trial the configuration does not name
    model_dir: Path | None = None
    simulated: bool = False
    costs: Path = arms.COSTS_FILE
    # where strategies.yaml names each policy's champion (CONFIG_DIR, as the worker reads it)
    config_dir: Path = field(default_factory=lambda: Settings().config_dir)

    @property
    def period(self) -> Period:
        return Period.of(self.first, self.end)


@dataclass
class Section:
    title: str
    tables: list[Table]
    charts: dict[str, str] = field(default_factory=dict)  # table name -> the SVG drawn from it
    intro: str = ""


@dataclass
class Report:
    options: Options
    generated_at: datetime
    sections: list[Section]

    @property
    def tables(self) -> list[Table]:
        return [t for s in self.sections for t in s.tables]

    def table(self, name: str) -> Table | None:
        return next((t for t in self.tables if t.name == name), None)


def model_folder(path: Path) -> Path | None:
    """The model to show: `path` itself when it holds a card.json, else the newest version inside it (a
    models directory such as MODEL_DIR, as `train.py` writes it); None when there is neither."""
    if (path / "card.json").is_file():
        return path
    return propensity_model.latest(path)


def _auc_rows(label: str, version: str, model: float, rules: float, model_ci: tuple[float, float] | None,
              rules_ci: tuple[float, float] | None, difference_ci: tuple[float, float] | None) -> list[list]:
    return [[label, "model " + version, model, *(model_ci or (None, None))],
            [label, "rule scorecard", rules, *(rules_ci or (None, None))],
            [label, "model − scorecard", model - rules, *(difference_ci or (None, None))]]


AT_ASSESSMENT, EVERY_MOMENT = "at assessment, one row per case", "every scoring moment"


def model_section(model_dir: Path) -> Section:
    """The propensity model against the rule scorecard on the same held-out cases, and its calibration."""
    card = ModelCard.model_validate_json((model_dir / "card.json").read_text(encoding="utf-8"))
    rows = []
    if card.auc_model_at_assessment is not None and card.auc_scorecard_at_assessment is not None:
        rows += _auc_rows(AT_ASSESSMENT, card.version, card.auc_model_at_assessment,
                          card.auc_scorecard_at_assessment, card.auc_model_at_assessment_ci,
                          card.auc_scorecard_at_assessment_ci, card.auc_difference_at_assessment_ci)
    rows += _auc_rows(EVERY_MOMENT, card.version, card.auc_model, card.auc_scorecard, card.auc_model_ci,
                      card.auc_scorecard_ci, card.auc_difference_ci)
    older = ("" if card.auc_model_at_assessment is not None else
             " This card predates the comparison at assessment: only every scoring moment is shown.")
    auc = Table("model_auc", "Ranking: AUC on the held-out cases", "model", f"{model_dir.name}/card.json",
                [("comparison", TEXT), ("scorer", TEXT), ("AUC", NUMBER), ("CI low", NUMBER), ("CI high", NUMBER)],
                rows,
                "AUC: the chance that a case that cured is ranked above one that did not, on the same held-out "
                f"cases for both. The fair comparison is \"{AT_ASSESSMENT}\": each held-out case once, scored when "
                f"it was assessed, where the model and the scorecard see the same case. On \"{EVERY_MOMENT}\" "
                "(the assessment, each broken promise, right-party contact and partial payment) the model also "
                "sees what the case has done since, while the scorecard repeats its opening rank: it flatters the "
                "model, and cases scored more often weigh more. Intervals: 95%, cases resampled; the difference's "
                "is paired. Blank: the card gives none." + older)
    cases = ("" if card.n_train_cases is None else
             f"{card.n_train_cases} ({card.positives_train_cases})")
    held = ("" if card.n_test_cases is None else
            f"{card.n_test_cases} ({card.positives_test_cases})")
    data = Table("model_data", "The model's data", "model", f"{model_dir.name}/card.json",
                 [("item", TEXT), ("value", TEXT)],
                 [["estimator", f"{card.estimator} ({card.library})"], ["trained at", card.trained_at.isoformat()],
                  ["label", f"cured within {card.horizon_days} days of the case's start"],
                  ["split", f"opened on or after {card.split_at.isoformat()}: held out; training: "
                   + ("opened before it" if card.dropped_at_split is None else
                      f"opened at least {card.horizon_days} days before it (its horizon ended by the split)")],
                  *([["dropped at the split", f"{card.dropped_at_split} case(s) opened before the split whose "
                      "horizon ran past it: on neither side"]] if card.dropped_at_split is not None else []),
                  *([["training cases (cured)", cases]] if cases else []),
                  *([["held-out cases (cured)", held]] if held else []),
                  ["training rows: scoring moments (of cured cases)", f"{card.n_train} ({card.positives_train})"],
                  ["held-out rows: scoring moments (of cured cases)", f"{card.n_test} ({card.positives_test})"],
                  ["Brier score (every held-out row)", "—" if card.brier_model is None else f"{card.brier_model:.4f}"],
                  ["trained on", "the borrower simulator" if card.simulated else "real outcomes"]])
    bins = Table("model_calibration", "Calibration on the held-out cases", "model", f"{model_dir.name}/card.json",
                 [("bin low", NUMBER), ("bin high", NUMBER), ("mean predicted", RATE), ("observed", RATE),
                  ("rows", COUNT)], [[b.low, b.high, b.predicted, b.observed, b.n] for b in card.calibration],
                 "Every held-out scoring moment, in bins of the predicted probability.", thin="rows")
    chart = charts.calibration("calibration", card.calibration, "Predicted against observed")
    return Section("Propensity model", [auc, data, bins], {"model_calibration": chart},
                   "Trained on the simulator's portfolio." if card.simulated else "")


async def build(engine: AsyncEngine, options: Options) -> Report:
    """Every section of the report, read in one connection (one snapshot of the ledger's state)."""
    period, by = options.period, options.by
    costs = arms.load_costs(options.costs)
    trials = arms.champions(options.config_dir)
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        figures = await kpis.period_figures(conn, period, by)
        stock = await cohorts.inventory(conn, period, by)
        cure = await cohorts.cure(conn, period, by, options.horizon_days)
        plans = await cohorts.plan_survival(conn, period, by)
        compared = await arms.champion_challenger(conn, period, options.horizon_days, options.champion, costs,
                                                  trials)
        warned = await arms.early_warning(conn, period)
    named = {t.name: t for t in figures}
    sections = [
        Section("Portfolio", [named["portfolio"]]),
        Section("Inventory and roll rates", stock,
                {"inventory": _inventory_chart(stock[0])} if stock[0].rows else {}),
        Section("Cure", [cure]),
        Section("Champion and challengers", compared,
                {"arms": _arms_chart(compared[0])} if _in_trials(compared[0]) else {},
                _champions_intro(trials, options.champion)),
        Section("Contacts", [named["contacts"]]),
        Section("Money", [named["collected"], named["promises"], named["settlements"], named["handoffs"]]),
        Section("Hardship plans", plans, {"plan_survival_curve": _plans_chart(plans[1])} if plans[1].rows else {}),
        Section("Complaints and service levels", [named["complaints"], named["service_levels"]]),
        Section("The guard", [named["guard"]]),
        Section("Distress and vulnerability", [named["protection"]]),
        Section("Early warning", warned, {"early_warning": _warning_chart(warned[0])} if warned[0].rows else {}),
    ]
    if options.model_dir is not None:
        sections.append(model_section(options.model_dir))
    return Report(options, datetime.now(UTC), sections)


def _inventory_chart(stock: Table) -> str:
    last = max(stock.column("snapshot"), default="")
    counts = dict.fromkeys(cohorts.BUCKETS, 0)
    for row in stock.rows:
        if row[0] == last:
            counts[row[-3]] += row[-2]
    return charts.bars("inventory", list(counts), [float(v) for v in counts.values()],
                       f"Open cases by days past due, {last}", "cases")


def _champions_intro(trials: dict[str, str], champion: str) -> str:
    named = "; ".join(f"{policy}: {arm!r}" for policy, arm in sorted(trials.items()))
    return ((f"Each policy's champion is the one its trial in strategies.yaml names ({named}); for any other "
             f"policy, the arm named {champion!r}." if named else
             f"No trial is configured (strategies.yaml): the champion is the arm named {champion!r}.")
            + " Arms are compared within their policy only; cases in no trial are shown apart and compared "
              "with nothing.")


def _in_trials(table: Table) -> list[list]:
    """The rows of arms dealt in a trial (the chart leaves out cases in no trial)."""
    role = [c for c, _ in table.columns].index("role")
    return [row for row in table.rows if row[role] != arms.NO_TRIAL]


def _arms_chart(table: Table) -> str:
    rows = _in_trials(table)
    names = [c for c, _ in table.columns]

    def col(name: str) -> list:
        return [row[names.index(name)] for row in rows]

    policies = col("policy")
    labels = col("arm") if len(set(policies)) == 1 else [f"{p}: {a}" for p, a in zip(policies, col("arm"),
                                                                                        strict=True)]
    return charts.bars("cure-by-arm", labels, col("cure rate"), "Cure rate by arm", "cured", col("CI low"),
                       col("CI high"), percent=True)


def _plans_chart(curve: Table) -> str:
    return charts.survival("plan-survival", curve.column("months"), curve.column("survival"), "Plans not broken")


def _warning_chart(table: Table) -> str:
    return charts.bars("early-warning", table.column("group"), table.column("on-time rate"), "Paid on time",
                       "loans", table.column("CI low"), table.column("CI high"), percent=True)


def _table_html(table: Table, csv_href: Callable[[str], str]) -> str:
    head = "".join(f'<th class="{escape(k)}">{escape(c)}</th>' for c, k in table.columns)
    body = "".join(("<tr class=\"thin\">" if table.is_thin(row) else "<tr>")
                   + "".join(f'<td class="{escape(k)}">{escape(shown(v, k))}</td>'
                             for v, (_, k) in zip(row, table.columns, strict=True)) + "</tr>"
                   for row in table.rows) or f'<tr><td class="text" colspan="{len(table.columns)}">no data</td></tr>'
    thin = (f" Greyed: fewer than {THIN} behind the figure ({table.thin}): read with care."
            if any(table.is_thin(row) for row in table.rows) else "")
    return (f'<div class="t"><h3 id="{escape(table.name)}">{escape(table.title)} '
            f'<span class="kind">{escape(table.kind)}</span></h3>'
            f'<table data-table="{escape(table.name)}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
            f'<p class="note">{escape(table.note + thin)} Source: {escape(table.source)}; '
            f'<a href="{escape(csv_href(table.name))}">{escape(table.name)}.csv</a>.</p></div>')


def html(report: Report, csv_href: Callable[[str], str] = lambda name: f"{name}.csv") -> str:
    """The page; `csv_href` links each table to its CSV (beside the page by default)."""
    o = report.options
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f"<title>Portfolio report {escape(o.period.label)}</title><style>{CSS}</style></head><body>"]
    if o.simulated:
        parts.append(f'<p class="banner" id="simulated">{escape(SIMULATED)}</p>')
    parts.append(f'<h1>Portfolio report</h1><p class="meta">Period: {escape(o.period.label)}. Grouped by: '
                 f'{escape(", ".join(o.by) or "nothing (the whole portfolio)")}. Cohort horizon: {o.horizon_days} '
                 f'days. Generated {report.generated_at:%Y-%m-%d %H:%M} UTC. Definitions and sources: '
                 f'docs/kpis.md. Money is shown per currency, never summed across currencies.</p>')
    for section in report.sections:
        parts.append(f"<section><h2>{escape(section.title)}</h2>")
        if section.intro:
            parts.append(f'<p class="note">{escape(section.intro)}</p>')
        for table in section.tables:
            chart = section.charts.get(table.name)
            shown_table = _table_html(table, csv_href)
            parts.append(f'<div class="figure">{chart}{shown_table}</div>' if chart else shown_table)
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write(report: Report, out: Path) -> Path:
    """The page (`index.html`) and one CSV per table, in `out`; the page's path."""
    out.mkdir(parents=True, exist_ok=True)
    for table in report.tables:
        (out / f"{table.name}.csv").write_text(table.csv(), encoding="utf-8")
    page = out / "index.html"
    page.write_text(html(report), encoding="utf-8")
    return page


def table_names(report: Report) -> Sequence[str]:
    return [t.name for t in report.tables]
