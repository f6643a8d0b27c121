"""The propensity model from the ledger: a case's snapshot at a moment counts exactly the rows written by
then (sealed reasons stay unread), its scoring moments and its cure; training refuses too little data, and on
a synthetic portfolio whose cure depends on what the model sees (usable numbers, right-party contacts) and
not on the scorecard, beats the scorecard out of time; the artifact loads only as its card names it."""

from __future__ import annotations

import json
import pathlib
import pickle
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
import pytest_asyncio
from sklearn.metrics import roc_auc_score
from sqlalchemy import insert, update

import train as train_command
from adapters import db, propensity_model, snapshots
from adapters.db import make_engine
from adapters.ledger import Ledger, LedgerTx
from analytics.propensity import NotEnoughData, fit, train
from domain.enums import DelinquencyReason
from domain.model_card import ModelCard
from domain.propensity import FEATURES, Trigger, scorecard_rank
from testkit import postgres

OPEN = datetime(2025, 12, 1, 9, tzinfo=UTC)  # the hand-written case opens here
T0 = datetime(2026, 1, 5, 9, tzinfo=UTC)  # the portfolio opens from here, a case every 6 hours
AS_OF = T0 + timedelta(days=140)
H, D = timedelta(hours=1), timedelta(days=1)


@dataclass
class Spec:
    """A case as its ledger rows: times, and what each row says."""

    case_id: str
    opened: datetime
    country: str = "GB"
    principal: Decimal = Decimal(1000)
    balance: Decimal = Decimal(1100)
    dpd: int = 12
    profile: dict = field(default_factory=lambda: {"monthly_income": "3000", "monthly_debt_payments": "900"})
    ability: int = 60
    willingness: int = 60
    events: list[tuple[datetime, str, dict]] = field(default_factory=list)  # sealed where personal
    plain_events: list[tuple[datetime, str, dict]] = field(default_factory=list)  # as written before sealing
    attempts: list[tuple[datetime, str, str, str]] = field(default_factory=list)  # at, channel, person, outcome
    promises: list[tuple[datetime, datetime, datetime, str]] = field(default_factory=list)
    payments: list[tuple[datetime, Decimal, Decimal]] = field(default_factory=list)
    stage: str = "remote_contact"
    closed_at: datetime | None = None

    def verified(self, at: datetime, phones: list[tuple[str, bool]]) -> None:
        self.events.append((at, "contact_data_verified", {"missing": [], "address_complete": True, "phones": [
            {"ref": f"r{i}", "owner": owner, "index": i, "valid": valid, "line_type": "mobile"}
            for i, (owner, valid) in enumerate(phones)]}))

    def assessed(self, at: datetime) -> None:
        self.events.append((at, "assessed", {"inputs": self.profile, "balance": str(self.balance),
                                             "ability": self.ability, "willingness": self.willingness,
                                             "segment": "low_risk", "reasons": []}))


async def write(tx: LedgerTx, spec: Spec) -> None:
    c = spec.case_id
    await tx.open_case(case_id=c, workflow_id=f"case-{c}", policy="standard", rule_packs=["uk-conc@1"],
                       country=spec.country, currency="GBP", principal=spec.principal, balance=spec.balance,
                       stage=spec.stage, opened_at=spec.opened)
    opened = (spec.opened, "case_opened", {"days_past_due": spec.dpd, "balance": str(spec.balance)})
    await tx.append_sealed_events(c, [(f"{c}:{kind}:{n}", kind, at, data) for n, (at, kind, data)
                                      in enumerate(sorted([opened, *spec.events], key=lambda e: e[0]))])
    await tx.append_events(c, [(f"{c}:plain-{kind}:{n}", kind, at, data)
                               for n, (at, kind, data) in enumerate(spec.plain_events)])
    if spec.attempts:
        await tx.conn.execute(insert(db.contact_attempts), [
            {"case_id": c, "idempotency_key": f"{c}:contact:{n}", "channel": channel, "person": person,
             "robot": channel == "robot_call", "outcome": outcome, "guard_rule": "allowed", "guard_packs": [],
             "planned_at": at} for n, (at, channel, person, outcome) in enumerate(spec.attempts)])
    if spec.promises:
        await tx.conn.execute(insert(db.promises), [
            {"case_id": c, "promise_id": f"{c}:promise:{n}", "amount": Decimal(100), "due_date": deadline.date(),
             "deadline": deadline, "taken_by": "agent-1", "status": status, "created_at": created,
             "updated_at": updated} for n, (created, updated, deadline, status) in enumerate(spec.promises)])
    for n, (at, amount, after) in enumerate(spec.payments):
        await tx.record_payment(c, f"pay-{n}", amount, "GBP", at, after)
    await tx.update_case(c, stage=spec.stage, closed_at=spec.closed_at)


def hand_written() -> list[Spec]:
    """snap-1: every kind of row, some after AT; snap-2: its key destroyed (erased); snap-3: settled for
    less than its balance (cured by the journal's paid_in_full, no zero-balance payment)."""
    s = Spec("snap-1", OPEN)
    s.profile = {"monthly_income": "3000", "monthly_debt_payments": "900", "on_time_payments": 10,
                 "late_payments": 2, "missed_payments": 1, "broken_promises": 1}
    s.ability, s.willingness = 70, 55
    s.verified(OPEN + H, [("borrower", True), ("borrower", True), ("borrower", False), ("emergency_contact", True)])
    s.assessed(OPEN + 2 * H)
    s.attempts = [(OPEN + D, "sms", "borrower", "delivered"), (OPEN + D + H, "sms", "borrower", "delivered"),
                  (OPEN + 2 * D, "sms", "borrower", "failed"), (OPEN + 3 * D, "robot_call", "borrower", "no_answer"),
                  (OPEN + 4 * D, "agent_call", "borrower", "task_created"),
                  (OPEN + 5 * D, "agent_call", "borrower", "conversation"),
                  (OPEN + 5 * D, "sms", "emergency_contact", "delivered"),
                  (OPEN + 11 * D, "sms", "borrower", "delivered"),
                  (OPEN + 11 * D, "agent_call", "borrower", "conversation")]
    s.events.append((OPEN + 5 * D + H, "contact_outcome", {"party": "right_party", "result": "promise",
                                                         "reason": "job_loss", "notes": "lost the job"}))
    s.plain_events.append((OPEN + 6 * D, "contact_outcome", {"party": "right_party", "result": "promise",
                                                          "reason": "forgot", "notes": None}))
    s.promises = [(OPEN + 5 * D, OPEN + 7 * D, OPEN + 8 * D, "kept"),
                  (OPEN + 9 * D, OPEN + 12 * D + H, OPEN + 12 * D, "broken"),
                  (OPEN + 13 * D, OPEN + 16 * D + H, OPEN + 16 * D, "broken")]
    s.payments = [(OPEN + 7 * D, Decimal(300), Decimal(800)), (OPEN + 20 * D, Decimal(800), Decimal(0))]
    s.verified(OPEN + 11 * D, [("borrower", True)])
    s.assessed(OPEN + 11 * D)  # a second assessment (after a review): the first one counts
    s.events.append((OPEN + 20 * D, "paid_in_full", {"total_paid": "1100"}))
    erased = Spec("snap-2", OPEN)
    erased.assessed(OPEN + 2 * H)
    settled = Spec("snap-3", OPEN)
    settled.assessed(OPEN + 2 * H)
    settled.payments = [(OPEN + 9 * D, Decimal(600), Decimal(500))]
    settled.events.append((OPEN + 9 * D, "paid_in_full", {"total_paid": "600"}))
    skipped = Spec("snap-4", OPEN)  # promise rows on a wall clock far behind the workflow's (a simulation)
    skipped.assessed(OPEN + 2 * H)
    wall = OPEN - 30 * D
    skipped.promises = [(wall, wall, OPEN + 5 * D, "kept"), (wall, wall, OPEN + 9 * D, "broken")]
    skipped.events += [(OPEN + 3 * D, "stage_changed", {"from": "remote_contact", "to": "promise", "why": "taken"}),
                       (OPEN + 4 * D, "stage_changed", {"from": "promise", "to": "remote_contact", "why": "kept"}),
                       (OPEN + 6 * D, "stage_changed", {"from": "remote_contact", "to": "promise", "why": "taken"}),
                       (OPEN + 9 * D, "stage_changed", {"from": "promise", "to": "remote_contact", "why": "broken"})]
    warned = Spec("snap-5", OPEN, balance=Decimal(1000))  # an early warning first: part paid before it fell overdue
    warned.assessed(OPEN + 2 * H)
    warned.payments = [(OPEN - 2 * D, Decimal(100), Decimal(1000)), (OPEN + 3 * D, Decimal(250), Decimal(750))]
    return [s, erased, settled, skipped, warned]


def portfolio(n: int, seed: int = 7, start: datetime = T0) -> list[Spec]:
    """Cases whose cure within 30 days rides on their usable numbers and right-party contacts; ability and
    willingness are drawn apart from it, so the scorecard ranks by chance here and the model need not."""
    rng, out = random.Random(seed), []
    for i in range(n):
        opened = start + timedelta(hours=6 * i)
        s = Spec(f"pf-{seed}-{i:05d}", opened, country=rng.choice(["CN", "GB", "US"]), dpd=rng.randint(5, 60))
        s.ability, s.willingness = rng.randint(10, 95), rng.randint(10, 95)
        numbers = rng.choice([0, 1, 2])
        s.verified(opened + H, [("borrower", True)] * numbers + [("borrower", False)])
        s.assessed(opened + 2 * H)
        engaged = numbers > 0 and rng.random() < 0.6
        cured = rng.random() < (0.85 if engaged else 0.3 if numbers else 0.05)
        cure_day = rng.uniform(6, 28) if cured else None
        for day in range(1, 29, 3):
            at = opened + day * D
            if cure_day is not None and day >= cure_day:
                break
            s.attempts.append((at, "sms", "borrower", "delivered" if numbers else "failed"))
            s.attempts.append((at + H, "robot_call", "borrower",
                               "conversation" if engaged and rng.random() < 0.5 else "no_answer"))
        if cure_day is not None:
            if rng.random() < 0.4:
                s.payments.append((opened + cure_day / 2 * D, Decimal(400), Decimal(700)))
            s.payments.append((opened + cure_day * D, s.balance, Decimal(0)))
            s.events.append((opened + cure_day * D, "paid_in_full", {"total_paid": str(s.balance)}))
            s.stage = "relationship"
        elif rng.random() < 0.2:  # paid, but after the horizon: not cured within it
            s.payments.append((opened + 45 * D, s.balance, Decimal(0)))
        elif rng.random() < 0.05:
            s.stage, s.closed_at = "withdrawn", opened + 10 * D
        out.append(s)
    return out


@pytest.fixture(scope="module")
def ledger_url(database_url: str) -> str:
    """A database of its own: other tests write cases to the shared one, and training reads every case."""
    url = postgres.create_database(database_url, f"propensity_{uuid.uuid4().hex[:8]}")
    postgres.migrate(url)
    return url


@pytest_asyncio.fixture(scope="module")
async def ledger(ledger_url: str):
    engine = make_engine(ledger_url)
    async with Ledger(engine).transaction() as tx:
        for spec in hand_written() + portfolio(440):
            await write(tx, spec)
        await tx.conn.execute(update(db.case_keys).where(db.case_keys.c.case_id == "snap-2")
                              .values(key=None, destroyed_at=OPEN + 30 * D))
    yield engine
    await engine.dispose()


AT = OPEN + 10 * D


async def test_a_snapshot_counts_what_the_ledger_held_at_the_moment_and_nothing_after(ledger):
    async with ledger.connect() as conn:
        s = await snapshots.snapshot(conn, "snap-1", AT)
        assert await snapshots.snapshot(conn, "snap-1", OPEN + H) is None  # not assessed yet
        assert await snapshots.snapshot(conn, "snap-2", AT) is None  # erased: its inputs no longer open
        assert await snapshots.snapshot(conn, "nobody", AT) is None
        sealed_only = await snapshots.snapshot(conn, "snap-1", OPEN + 5 * D + 2 * H)
        later = await snapshots.snapshot(conn, "snap-1", OPEN + 13 * D)
    assert s is not None and sealed_only is not None and later is not None
    assert s.model_dump() == {
        "country": "GB", "days_past_due": 12, "principal": Decimal(1000), "balance": Decimal(1100),
        "monthly_income": Decimal(3000), "monthly_debt_payments": Decimal(900), "on_time_payments": 10,
        "late_payments": 2, "missed_payments": 1, "broken_promises_before": 1, "ability": 70, "willingness": 55,
        "numbers": 2, "days_open": 10.0, "messages_delivered": 2, "calls": 2, "right_party_contacts": 1,
        "promises": 2, "promises_kept": 1, "promises_broken": 0, "paid": Decimal(300),
        "reason": DelinquencyReason.FORGOT}  # the plain code; the sealed "job_loss" is never opened
    assert sealed_only.reason is None
    assert (later.numbers, later.messages_delivered, later.right_party_contacts, later.promises,
            later.promises_broken) == (1, 3, 2, 3, 1)


async def test_promises_are_placed_on_the_workflows_clock_not_the_ledgers_wall_clock(ledger):
    async with ledger.connect() as conn:
        seen = {day: await snapshots.snapshot(conn, "snap-4", OPEN + day * D) for day in (1, 3, 5, 8, 9)}
        moments = await snapshots.scoring_moments(conn, "snap-4")
    counts = {day: (s.promises, s.promises_kept, s.promises_broken) for day, s in seen.items() if s is not None}
    assert counts == {1: (0, 0, 0), 3: (1, 0, 0), 5: (1, 1, 0), 8: (2, 1, 0), 9: (2, 1, 1)}
    assert moments == [(OPEN + 2 * H, Trigger.ASSESSMENT), (OPEN + 9 * D, Trigger.BROKEN_PROMISE)]


async def test_paid_counts_only_what_came_after_the_case_opened(ledger):
    """The 100 paid while the loan was an early warning is netted out of the opening balance already."""
    async with ledger.connect() as conn:
        before = await snapshots.snapshot(conn, "snap-5", OPEN + 2 * H)
        after = await snapshots.snapshot(conn, "snap-5", OPEN + 5 * D)
        moments = await snapshots.scoring_moments(conn, "snap-5")
    assert before is not None and after is not None
    assert (before.balance, before.paid, after.paid) == (Decimal(1000), Decimal(0), Decimal(250))
    assert moments == [(OPEN + 2 * H, Trigger.ASSESSMENT), (OPEN + 3 * D, Trigger.PARTIAL_PAYMENT)]


async def test_scoring_moments_and_the_cure(ledger):
    async with ledger.connect() as conn:
        assert await snapshots.scoring_moments(conn, "snap-1") == [
            (OPEN + 2 * H, Trigger.ASSESSMENT), (OPEN + 5 * D, Trigger.RIGHT_PARTY_CONTACT),
            (OPEN + 7 * D, Trigger.PARTIAL_PAYMENT), (OPEN + 11 * D, Trigger.RIGHT_PARTY_CONTACT),
            (OPEN + 12 * D, Trigger.BROKEN_PROMISE), (OPEN + 16 * D, Trigger.BROKEN_PROMISE)]
        assert await snapshots.cured_at(conn, "snap-1") == OPEN + 20 * D
        assert await snapshots.cured_at(conn, "snap-3") == OPEN + 9 * D  # settled: by paid_in_full
        assert await snapshots.scoring_moments(conn, "nobody") == []


async def test_training_refuses_too_few_cases_and_writes_nothing(ledger, tmp_path: Path):
    async with ledger.connect() as conn:
        with pytest.raises(NotEnoughData, match="at least 5000 are needed"):
            await train(conn, tmp_path, 30, as_of=AS_OF, min_cases=5000)
        with pytest.raises(NotEnoughData, match="held-out side .* no cases"):
            await train(conn, tmp_path, 30, as_of=AS_OF, split_at=AS_OF, min_cases=10)
    assert not any(tmp_path.iterdir())


async def test_the_command_refuses_without_a_database_or_enough_cases(ledger_url, monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert await train_command.main(["--models-dir", str(tmp_path)]) == 2
    assert "DATABASE_URL is not set" in capsys.readouterr().err
    monkeypatch.setenv("DATABASE_URL", ledger_url)
    assert await train_command.main(["--models-dir", str(tmp_path), "--min-cases", "100000"]) == 2
    assert "no model trained" in capsys.readouterr().err and not any(tmp_path.iterdir())


async def test_the_model_beats_the_scorecard_out_of_time_and_loads_only_as_its_card_says(ledger, tmp_path):
    async with ledger.connect() as conn:
        trained = await train(conn, tmp_path, 30, as_of=AS_OF, min_cases=200)
        seen = await snapshots.snapshot(conn, "snap-1", AT)
    card, data = trained.card, trained.dataset
    assert card.features == list(FEATURES) and card.horizon_days == 30 and not card.simulated
    assert data.excluded > 0
    # no label window crosses the split: training cases' horizons ended by it, held-out cases opened from it
    opened = np.array([o for _, o in data.cases])
    held_out, training = opened >= card.split_at, opened + 30 * D <= card.split_at
    assert card.dropped_at_split == int((~held_out & ~training).sum()) > 0
    assert (card.n_train_cases, card.n_test_cases) == (training.sum(), held_out.sum())
    assert (trained.cases_train, trained.cases_test) == (card.n_train_cases, card.n_test_cases)
    assert (card.n_train, card.n_test) == (training[data.case].sum(), held_out[data.case].sum())
    assert card.n_train + card.n_test < len(data.y)  # the dropped cases' rows are on neither side
    assert card.positives_train == data.y[training[data.case]].sum()
    assert card.auc_model > card.auc_scorecard + 0.15, card
    assert card.auc_model_ci is not None and card.auc_model_ci[0] > 0.6
    assert card.auc_scorecard_ci is not None and card.auc_scorecard_ci[1] < card.auc_model_ci[1]
    assert sum(b.n for b in card.calibration) == card.n_test and card.brier_model is not None
    assert card.version.startswith("p-") and card.version.endswith(card.artifact_sha256[:8])
    assert trained.directory == tmp_path / card.version and propensity_model.latest(tmp_path) == trained.directory

    model = propensity_model.load(trained.directory)
    assert seen is not None
    score = model.score(seen)
    assert 0 <= score.probability <= 1 and score.model_version == card.version == model.version

    # the fair head-to-head, worked again from the ledger: each held-out case once, as it stood when assessed
    ids = [case_id for case_id, o in data.cases if o >= card.split_at]
    async with ledger.connect() as conn:
        found = await snapshots.histories(conn, ids)
    labels, scores, ranks = [], [], []
    for case_id in ids:
        h = found[case_id]
        assert h.assessed is not None
        at_assessment = snapshots.snapshot_at(h, h.assessed.at)
        assert at_assessment is not None
        cure = snapshots.cure_of(h)
        labels.append(int(cure is not None and cure <= h.opened_at + 30 * D))
        scores.append(model.score(at_assessment).probability)
        ranks.append(scorecard_rank(h.assessed.assessment))
    assert (card.n_test_cases, card.positives_test_cases) == (len(ids), sum(labels))
    assert card.auc_model_at_assessment == pytest.approx(roc_auc_score(labels, scores))
    assert card.auc_scorecard_at_assessment == pytest.approx(roc_auc_score(labels, ranks))
    assert card.auc_model_at_assessment != pytest.approx(card.auc_model)  # a different comparison
    model_first, rules_first = card.auc_model_at_assessment, card.auc_scorecard_at_assessment
    for ci, auc in ((card.auc_model_at_assessment_ci, model_first), (card.auc_scorecard_at_assessment_ci, rules_first),
                    (card.auc_difference_at_assessment_ci, model_first - rules_first),
                    (card.auc_difference_ci, card.auc_model - card.auc_scorecard)):
        assert ci is not None and ci[0] <= auc <= ci[1]
    # usable numbers are known at the assessment and carry the cure here: the model wins there too
    assert card.auc_model_at_assessment > card.auc_scorecard_at_assessment

    # the same data and seed: the same artifact, byte for byte, and the same measures
    again, measures, _, _ = fit(data, 30)
    assert propensity_model.sha256(propensity_model.dumps(again)) == card.artifact_sha256
    assert card.model_dump(exclude={"version", "trained_at", "artifact_sha256"}) == ModelCard(
        version=card.version, trained_at=card.trained_at, artifact_sha256=card.artifact_sha256,
        **measures).model_dump(exclude={"version", "trained_at", "artifact_sha256"})

    def copy(name: str) -> Path:
        folder = tmp_path / name
        folder.mkdir()
        for f in trained.directory.iterdir():
            (folder / f.name).write_bytes(f.read_bytes())
        return folder

    # a pickle runs code: a swapped model.joblib is refused before anything is unpickled
    marker = tmp_path / "unpickled"
    tampered = copy("tampered")
    (tampered / "model.joblib").write_bytes(pickle.dumps(_Trap(str(marker))))
    with pytest.raises(propensity_model.ModelRefused, match="SHA-256"):
        propensity_model.load(tampered)
    assert not marker.exists()

    other = copy("other-features")
    data = json.loads((other / "card.json").read_text())
    data["features"] = data["features"][:-1]
    (other / "card.json").write_text(json.dumps(data))
    with pytest.raises(propensity_model.ModelRefused, match="other features"):
        propensity_model.load(other)

    with pytest.raises(propensity_model.ModelRefused, match="artifact_sha256"):
        propensity_model.save(tmp_path / "x", model.estimator, card.model_copy(update={"artifact_sha256": "0" * 64}))
    with pytest.raises(FileExistsError):
        propensity_model.save(trained.directory, (trained.directory / "model.joblib").read_bytes(), card)


class _Trap:
    """Unpickled, it would create the marker file."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return pathlib.Path.touch, (pathlib.Path(self.path),)
