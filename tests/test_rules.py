"""The business rules the workflow delegates to the domain, as pure functions: applying a payment,
when a schedule step is due, whether a visit is possible, what an outcome does to reachability, and
which stage moves are allowed (checked against every recorded move in the golden histories)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from domain import lifecycle, reachability, schedule
from domain.enums import Channel, Outcome, Person, Stage
from domain.payments import apply_payment
from domain.policy import ContactStep
from domain.visits import visit_possible

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
D = Decimal


def test_a_payment_lowers_the_balance_and_counts_towards_the_total():
    applied = apply_payment(D("3000.00"), D("0"), [], D("250.00"), "BANK-1")
    assert (applied.duplicate, applied.balance, applied.total_paid, applied.overpaid) == (
        False, D("2750.00"), D("250.00"), D("0"))


def test_a_payment_above_the_balance_settles_it_and_the_excess_is_owed_back():
    applied = apply_payment(D("100.00"), D("2900.00"), ["A"], D("130.50"), "B")
    assert applied.balance == 0 and applied.total_paid == D("3030.50") and applied.overpaid == D("30.50")


def test_a_reference_seen_before_changes_nothing():
    applied = apply_payment(D("100.00"), D("50.00"), ["BANK-1"], D("100.00"), "BANK-1")
    assert applied.duplicate and applied.balance == D("100.00") and applied.total_paid == D("50.00")


STEPS = [ContactStep(channel=Channel.SMS, after=timedelta(hours=2), template="reminder_gentle"),
         ContactStep(channel=Channel.ROBOT_CALL, after=timedelta(days=2), template="robot_reminder")]


def test_the_schedule_counts_each_step_from_the_one_before():
    assert schedule.first_step_at(STEPS, NOW) == NOW + timedelta(hours=2)
    assert schedule.next_step_at(STEPS, 1, NOW) == NOW + timedelta(days=2)
    assert schedule.next_step_at(STEPS, 2, NOW) is None  # past the end: the path is exhausted


@pytest.mark.parametrize("due, expected", [(None, True), (NOW, True), (NOW - timedelta(seconds=1), True),
                                           (NOW + timedelta(seconds=1), False)])
def test_a_step_is_due_at_its_time_and_not_before(due, expected):
    assert schedule.step_due(due, NOW) is expected


VISIT = {"treatment_allows": True, "already_visited": False, "balance": D("3000"), "min_balance": D("500"),
         "address_complete": True, "cease_all": False, "ceased_channels": []}


def test_a_visit_is_possible_when_every_condition_holds():
    assert visit_possible(**VISIT)


@pytest.mark.parametrize("change", [{"treatment_allows": False}, {"already_visited": True},
                                    {"balance": D("499.99")}, {"address_complete": False}, {"cease_all": True},
                                    {"ceased_channels": ["visit"]}])
def test_any_one_missing_condition_rules_a_visit_out(change):
    assert not visit_possible(**(VISIT | change))


def test_a_visit_stays_possible_when_only_other_channels_were_ceased():
    assert visit_possible(**(VISIT | {"ceased_channels": ["sms", "voice"]}))


@pytest.mark.parametrize("outcome, expected", [(Outcome.FAILED, 3), (Outcome.NO_ANSWER, 3), (Outcome.ANSWERED, 0),
                                               (Outcome.CONVERSATION, 0), (Outcome.DELIVERED, 0), (Outcome.SENT, 2)])
def test_failures_in_a_row_grow_on_failure_and_reset_on_contact(outcome, expected):
    assert reachability.failures_after(2, Person.BORROWER, outcome) == expected


def test_a_third_partys_phone_says_nothing_of_the_borrowers_reachability():
    assert reachability.failures_after(2, Person.EMERGENCY_CONTACT, Outcome.FAILED) == 2
    assert reachability.failures_after(2, Person.EMERGENCY_CONTACT, Outcome.ANSWERED) == 2


def test_unreachable_without_a_valid_number_or_after_the_packs_count_of_failures():
    assert reachability.unreachable(verified_without_number=True, failures=0, limit=5)
    assert reachability.unreachable(verified_without_number=False, failures=5, limit=5)
    assert not reachability.unreachable(verified_without_number=False, failures=4, limit=5)


def test_terminal_stages_allow_no_move_and_every_open_stage_has_one():
    for stage in Stage:
        moves = [b for b in Stage if lifecycle.allowed(stage, b)]
        assert (moves == []) is stage.terminal, stage


def test_the_process_runs_forward_and_special_events_may_move_any_open_case():
    assert lifecycle.allowed(Stage.VERIFICATION, Stage.ASSESSMENT)
    assert not lifecycle.allowed(Stage.ASSESSMENT, Stage.VERIFICATION)
    assert not lifecycle.allowed(Stage.VERIFICATION, Stage.ESCALATED)  # no hand-off before contact was tried
    collection = lifecycle.OPEN - {Stage.UPCOMING}  # a loan not yet overdue is no collection case yet
    assert all(lifecycle.allowed(s, Stage.RELATIONSHIP) for s in collection if s is not Stage.RELATIONSHIP)
    assert not lifecycle.allowed(Stage.WELLBEING_HOLD, Stage.PROMISE)  # no promise is taken from a person in crisis
    assert not lifecycle.allowed(Stage.SETTLED, Stage.RELATIONSHIP)
    # a hard stop (bankruptcy, death) hands the case to people from wherever it is
    assert all(lifecycle.allowed(s, Stage.REFERRED) for s in collection)
    # early warning: overdue after all it becomes a case (verification), paid on time it is done
    assert {b for b in Stage if lifecycle.allowed(Stage.UPCOMING, b)} == {Stage.VERIFICATION, Stage.SETTLED}


def test_every_stage_change_in_the_golden_histories_is_an_allowed_move():
    moves = set()
    for file in (Path(__file__).parent / "golden").rglob("*.json"):
        for event in json.loads(file.read_text())["events"]:
            scheduled = event.get("activityTaskScheduledEventAttributes")
            for payload in scheduled["input"]["payloads"] if scheduled else []:
                request = json.loads(base64.b64decode(payload["data"]))
                for fact in request.get("facts") or request.get("owed") or [] if isinstance(request, dict) else []:
                    if fact.get("kind") == "stage_changed":  # journal entries ride with a step's ledger write
                        moves.add((Stage(fact["data"]["from"]), Stage(fact["data"]["to"])))
    assert len(moves) >= 10
    assert [m for m in moves if not lifecycle.allowed(*m)] == []


def test_the_state_diagram_lists_every_allowed_move():
    text = lifecycle.mermaid()
    assert text.startswith("stateDiagram-v2")
    assert all(f"{a.value} --> {b.value}" in text for a, b in lifecycle.transitions())


def test_cases_with_the_same_configuration_share_one_frozen_copy():
    from datetime import date

    from adapters.config_files import load_case_config
    from domain.policy import shared

    first = shared(load_case_config("standard", "CN", [], today=date(2026, 11, 30)))
    again = shared(load_case_config("standard", "CN", [], today=date(2026, 11, 30)))
    other = shared(load_case_config("standard", "GB", [], today=date(2026, 11, 30)))
    assert first is again and other is not first and other.rules.packs != first.rules.packs
    with pytest.raises(ValueError, match="frozen"):
        first.policy.name = "changed"  # type: ignore[misc]
