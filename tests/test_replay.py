"""Before a deploy: every golden history replays against the current code, and the worked example
of changing a workflow safely: the same change fails replay unpatched and passes behind
`workflow.patched`.

Regenerate the golden set (every case of the lifecycle, flag and message tests as each test left
it, closed or still open; synthetic data, decrypted): `make golden`.
"""

from __future__ import annotations

from pathlib import Path

from temporalio import workflow

from adapters.converter import data_converter
from domain.case_input import CaseInput
from domain.status import CaseOutcome
from replay import from_files, replay
from workflows.case import OverdueCase, bookkeeping
from workflows.complaint import Complaint

GOLDEN = Path(__file__).parent / "golden"


async def test_every_golden_history_replays_against_the_current_code():
    histories = from_files([GOLDEN])
    still_open = [h for h in histories if not h.events[-1].HasField("workflow_execution_completed_event_attributes")]
    assert len(histories) >= 20 and len(still_open) >= 10  # open cases too: they stop mid-wait or mid-handler
    verdicts = await replay(histories, data_converter)
    assert [v.line() for v in verdicts if v.failure] == []


@workflow.defn(name="OverdueCase", sandboxed=False)
class WelcomesUnpatched(OverdueCase):
    """A change to the command sequence: the case's opening written to the ledger at once, before
    verification (one more activity)."""

    @workflow.run
    async def run(self, case: CaseInput) -> CaseOutcome:
        return await super().run(case)

    async def _open_case(self) -> None:
        await super()._open_case()
        self.c.event("welcome_noted", {})
        await bookkeeping.flush(self.c)


@workflow.defn(name="OverdueCase", sandboxed=False)
class WelcomesPatched(OverdueCase):
    """The same change, behind a patch: old histories take the old path, new cases the new one."""

    @workflow.run
    async def run(self, case: CaseInput) -> CaseOutcome:
        return await super().run(case)

    async def _open_case(self) -> None:
        await super()._open_case()
        if workflow.patched("welcome-noted"):
            self.c.event("welcome_noted", {})
            await bookkeeping.flush(self.c)


async def test_a_change_fails_replay_unpatched_and_passes_behind_a_patch():
    histories = [h for h in from_files([GOLDEN / "lean"]) if "paid_in_full" in h.workflow_id]  # the oldest
    unpatched = await replay(histories, data_converter, [WelcomesUnpatched, Complaint])
    patched = await replay(histories, data_converter, [WelcomesPatched, Complaint])
    assert unpatched[0].failure is not None and "Nondeterminism" in unpatched[0].failure
    # Where: the recorded step the new code replaced (verification), not the end of the history.
    assert "(activity_task_scheduled verify_contact_data)" in unpatched[0].diverges_at
    first_verify = next(e.event_id for e in histories[0].events
                        if e.activity_task_scheduled_event_attributes.activity_type.name == "verify_contact_data")
    assert unpatched[0].diverges_at.startswith(f"event {first_verify} ")
    assert patched[0].failure is None


async def test_a_case_timeline_reads_for_an_auditor_and_hides_personal_data_without_the_key():
    import timeline
    from adapters.codec import EncryptionCodec, new_key_line, parse_keys
    from adapters.converter import encrypted

    [history] = [h for h in from_files([GOLDEN / "lean"]) if "wilful_default" in h.workflow_id]
    items, tz = await timeline.rows(history, data_converter)  # golden histories are plaintext
    text = timeline.as_text("EX", items, tz)
    assert tz == "Asia/Shanghai" and "Test Borrower" in text
    for expected in ("Case opened", "SMS reminder 1 of 6", "Robot call 2 of 6", "Update approve",
                     "Update record_visit_outcome", "Case closed", "escalated", "guard ok (cn@2026.1)"):
        assert expected in text, expected
    page = timeline.as_html("EX", items, tz)
    assert page.startswith("<!doctype html>") and "<td>Case opened</td>" in page

    sealed = encrypted(EncryptionCodec(*parse_keys(new_key_line("k"))))
    for event in history.events:  # seal the history as the server would hold it
        from replay import payloads_in

        for payload in payloads_in(event):
            payload.CopyFrom((await sealed.payload_codec.encode([payload]))[0])
    stranger = encrypted(EncryptionCodec(*parse_keys(new_key_line("k"))))
    items, _ = await timeline.rows(history, stranger)
    assert "Test Borrower" not in timeline.as_text("EX", items, "UTC")
    assert any("[encrypted]" in r.detail for r in items)


async def test_a_distress_cases_story_shows_the_referral_the_hold_and_who_decided_in_the_borrowers_time():
    import timeline

    [history] = [h for h in from_files([GOLDEN / "books"]) if "distress_on_a_call" in h.workflow_id]
    items, tz = await timeline.rows(history, data_converter)
    text = timeline.as_text("EX", items, tz)
    for expected in ("Crisis-line referral", "Approval asked: wellbeing review", "Stage → wellbeing hold",
                     "Wellbeing review rejected", "by supervisor-1", "Handed off to wellbeing team",
                     "Stage → referred", "Assessed", "segment low risk", "Guard: defer", "conversation · distress"):
        assert expected in text, expected
    waits = [r for r in items if r.kind == "wait"]  # a wait ends in the borrower's time, as the header says
    assert waits and all("UTC" not in r.detail for r in waits) and "until 2026-12-01 08:00" in waits[0].detail
    decisions = timeline.only(items, {"approval", "review"})
    assert {r.kind for r in decisions} == {"approval", "review"} and len(decisions) == 3
    page = timeline.as_html("EX", decisions, tz)
    assert '<tr class="review">' in page and "@media print" in page and "Guard" not in page


async def test_the_desk_shows_in_a_cases_story_outcomes_tasks_and_assignments():
    import timeline

    [history] = [h for h in from_files([GOLDEN / "desk"]) if "call_back_is_a_task" in h.workflow_id]
    items, tz = await timeline.rows(history, data_converter)
    desk = timeline.as_text("EX", timeline.only(items, {"desk"}), tz)
    for expected in ("Outcome: right party, call back", "agent call by agent-1 · reason income cut",
                     "Task: call back", "call the borrower back as asked", "Task closed: call back",
                     "Outcome: right party, refused"):
        assert expected in desk, expected
    assert "Handed off to supervisor" in timeline.as_text("EX", items, tz)  # the late call-back
