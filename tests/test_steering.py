"""Steering's pure decisions: the champion/challenger deal, an arm's policy, the segment from score and
rules, and early warning's groups and times (`domain.strategy`, `domain.propensity`, `domain.early_warning`)."""

from __future__ import annotations

import shutil
from collections import Counter
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from adapters.config_files import CONFIG_DIR, ConfigError, load_case_config, load_strategies
from domain import early_warning, propensity
from domain.enums import Channel, Segment
from domain.policy import EarlyWarningPolicy
from domain.propensity import Score
from domain.strategy import Arm, Trial, deal, merged
from testkit import cases as synthetic

TRIAL = Trial(salt="t-1", arms=[Arm(name="champion", weight=70, champion=True), Arm(name="challenger", weight=30)])


def test_the_deal_is_stable_and_follows_the_weights():
    ids = [f"C-{n}" for n in range(20_000)]
    first = [deal(i, TRIAL).name for i in ids]
    assert first == [deal(i, TRIAL).name for i in ids]  # the same case, the same arm, every time
    share = Counter(first)["challenger"] / len(ids)
    assert 0.28 < share < 0.32


def test_a_new_arm_or_weight_deals_only_new_cases_differently_and_a_declared_arm_is_never_dealt():
    staged = Trial(salt="t-1", arms=[*TRIAL.arms, Arm(name="staged", weight=0)])
    assert all(deal(f"C-{n}", staged).name != "staged" for n in range(5_000))
    assert [deal(f"C-{n}", staged).name for n in range(500)] == [deal(f"C-{n}", TRIAL).name for n in range(500)]
    resalted = Trial(salt="t-2", arms=TRIAL.arms)
    assert [deal(f"C-{n}", resalted).name for n in range(500)] != [deal(f"C-{n}", TRIAL).name for n in range(500)]


@pytest.mark.parametrize("arms, problem", [
    ([{"name": "a", "weight": 1}, {"name": "b", "weight": 1}], "exactly one arm is the champion"),
    ([{"name": "a", "weight": 1, "champion": True}, {"name": "a", "weight": 1}], "unique"),
    ([{"name": "a", "weight": 0, "champion": True}], "weight above 0"),
])
def test_a_trial_that_cannot_deal_is_refused(arms, problem):
    with pytest.raises(ValidationError, match=problem):
        Trial(salt="x", arms=arms)


def test_overrides_merge_mappings_and_replace_lists():
    base = {"a": {"b": 1, "c": [1, 2]}, "d": 2}
    assert merged(base, {"a": {"c": [3]}, "e": 5}) == {"a": {"b": 1, "c": [3]}, "d": 2, "e": 5}
    assert base == {"a": {"b": 1, "c": [1, 2]}, "d": 2}  # the policy's own data is untouched


def _with_trial(tmp_path: Path, arms: list[dict]) -> Path:
    folder = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, folder)
    (folder / "strategies.yaml").write_text(yaml.safe_dump(
        {"version": "t", "trials": {"standard": {"salt": "s", "arms": arms}}}), encoding="utf-8")
    return folder


def test_a_case_is_dealt_its_arm_and_gets_the_arms_policy(tmp_path):
    call_first = {"name": "call-first", "weight": 1, "overrides": {"segments": {"high_risk": {"schedule": [
        {"channel": "agent_call", "after": "PT0S", "template": "agent_reminder"}]}}}}
    folder = _with_trial(tmp_path, [{"name": "champion", "weight": 1, "champion": True}, call_first])
    dealt = {}
    for n in range(40):
        config = load_case_config("standard", "CN", [], folder, case_id=f"X-{n}")
        dealt[config.arm] = config.policy.segments[Segment.HIGH_RISK].schedule[0].channel
    assert dealt == {"champion": Channel.SMS, "call-first": Channel.AGENT_CALL}
    assert load_case_config("standard", "CN", [], folder).arm is None  # no case id (an old history): no trial


def test_an_arm_that_breaks_its_policy_is_refused_at_the_workers_check(tmp_path):
    folder = _with_trial(tmp_path, [{"name": "champion", "weight": 1, "champion": True},
                                    {"name": "broken", "weight": 1, "overrides": {"promise": {"grace": "soon"}}}])
    with pytest.raises(ConfigError, match="arm 'broken' of 'standard'"):
        load_strategies(folder, check=True)


def test_the_shipped_trial_deals_only_the_champion_until_the_challenger_has_a_weight():
    trial = load_strategies(CONFIG_DIR, check=True).trials["standard"]
    assert trial.champion.name == "champion"
    assert {deal(f"C-{n}", trial).name for n in range(2_000)} == {"champion"}


# --- the segment from score and rules -----------------------------------------------------------------

def _score(p: float) -> Score:
    return Score(probability=p, model_version="m-1")


@pytest.mark.parametrize("rules, p, current, protected, expected", [
    (Segment.HIGH_RISK, None, None, False, Segment.HIGH_RISK),  # no model: the rules alone
    (Segment.HIGH_RISK, 0.8, None, False, Segment.LOW_RISK),  # likely to pay: the gentle path
    (Segment.LOW_RISK, 0.1, None, False, Segment.HIGH_RISK),  # unlikely: the strict path
    (Segment.LOW_RISK, 0.4, None, False, Segment.LOW_RISK),  # in between: the scorecard stands
    (Segment.HARDSHIP, 0.05, None, False, Segment.HARDSHIP),  # cannot pay: never moved to a stricter path
    (Segment.LOW_RISK, 0.05, Segment.HARDSHIP, False, Segment.HARDSHIP),  # on the hardship path: stays
    (Segment.LOW_RISK, 0.05, Segment.LOW_RISK, True, Segment.LOW_RISK),  # distress or vulnerability: stays
])
def test_the_segment_is_decided_from_the_score_and_the_rules(rules, p, current, protected, expected):
    score = _score(p) if p is not None else None
    segment, why = propensity.segment(rules, score, 0.6, 0.25, current=current, protected=protected)
    assert segment is expected
    assert ("m-1" in why) is (score is not None)


def test_features_are_ratios_in_a_fixed_order_and_every_snapshot_gives_all_of_them():
    case = synthetic.case(profile="high_risk")
    assessed = propensity.opening_snapshot(case, _assessment())
    values = propensity.features(assessed)
    assert len(values) == len(propensity.FEATURES)
    named = dict(zip(propensity.FEATURES, values, strict=True))
    assert named["country_CN"] == 1.0 and named["reason_none"] == 1.0
    assert named["debt_ratio"] == pytest.approx(2000 / 15000)
    assert named["history_on_time_share"] == pytest.approx(2 / 13)


def _assessment():
    from domain.state import Assessment

    return Assessment(ability=70, willingness=30, segment=Segment.HIGH_RISK, reasons=[])


# --- early warning --------------------------------------------------------------------------------

def test_the_control_group_is_the_policys_share_by_a_stable_hash():
    policy = EarlyWarningPolicy(control_share=0.2)
    groups = Counter(early_warning.group(f"E-{n}", policy) for n in range(20_000))
    assert 0.18 < groups["control"] / 20_000 < 0.22
    assert early_warning.group("E-1", policy) == early_warning.group("E-1", policy)


def test_the_reminder_goes_before_the_due_date_when_the_window_opens_and_overdue_starts_after_it():
    policy = EarlyWarningPolicy()  # three days before; no grace
    due = date(2026, 12, 10)
    assert early_warning.remind_at(due, "Asia/Shanghai", policy, time(8)) == datetime(2026, 12, 7, 0, tzinfo=UTC)
    assert early_warning.overdue_at(due, "Asia/Shanghai", policy) == datetime(2026, 12, 10, 16, tzinfo=UTC)
    assert early_warning.days_past_due(due, datetime(2026, 12, 12, 1, tzinfo=UTC), "Asia/Shanghai") == 2


def test_what_falls_due_is_the_instalment_where_the_loan_system_gives_one():
    plain = synthetic.case(balance="3000.00")
    assert early_warning.amount_due(plain) == Decimal("3000.00")
    with_instalments = synthetic.case(balance="3000.00", instalments={"amount": "500.00", "interval_days": 30,
                                                                      "arrears": "0"})
    assert early_warning.amount_due(with_instalments) == Decimal("500.00")
