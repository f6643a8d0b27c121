"""The case's stages and the moves allowed between them: the one map the workflow follows, the audit
checks every recorded stage change against, and the docs draw their state diagram from.

The process runs forward (verification → assessment → remote contact → field visit → hand-off), and
a few events may move any open case: a payment in full (relationship), distress or vulnerability
(wellbeing hold), a dispute upheld (withdrawn), a promise or a hardship plan taken by an operator.
"""

from __future__ import annotations

from domain.enums import Stage

OPEN = frozenset(s for s in Stage if not s.terminal)
TERMINAL = frozenset(s for s in Stage if s.terminal)

# The process, stage by stage: where each stage's own step can lead.
PROCESS: dict[Stage, frozenset[Stage]] = {
    Stage.UPCOMING: frozenset({Stage.VERIFICATION, Stage.SETTLED}),  # overdue after all; or paid on time
    Stage.VERIFICATION: frozenset({Stage.ASSESSMENT}),
    Stage.ASSESSMENT: frozenset({Stage.REMOTE_CONTACT}),
    Stage.REMOTE_CONTACT: frozenset({Stage.FIELD_VISIT, Stage.ESCALATED, Stage.REFERRED}),
    Stage.FIELD_VISIT: frozenset({Stage.ESCALATED, Stage.REFERRED}),
    Stage.PROMISE: frozenset({Stage.REMOTE_CONTACT, Stage.FIELD_VISIT, Stage.ESCALATED, Stage.REFERRED}),
    Stage.HARDSHIP_PLAN: frozenset({Stage.REMOTE_CONTACT}),
    Stage.WELLBEING_HOLD: frozenset({Stage.ASSESSMENT, Stage.REMOTE_CONTACT, Stage.REFERRED}),
    Stage.RELATIONSHIP: frozenset({Stage.SETTLED}),
}

# What may move any open case, whatever its stage (and from which stages it may not). A loan not yet
# overdue (`upcoming`) is no collection case yet: only its own two moves apply.
ANY_OPEN_STAGE: dict[Stage, frozenset[Stage]] = {
    Stage.RELATIONSHIP: frozenset({Stage.UPCOMING}),  # paid in full
    Stage.WITHDRAWN: frozenset({Stage.UPCOMING}),  # a dispute upheld
    Stage.REFERRED: frozenset({Stage.UPCOMING}),  # a person takes the case: a hard stop (bankruptcy, death), a review
    Stage.WELLBEING_HOLD: frozenset({Stage.UPCOMING, Stage.RELATIONSHIP}),  # distress or vulnerability: stop, review
    Stage.HARDSHIP_PLAN: frozenset({Stage.UPCOMING, Stage.RELATIONSHIP}),  # hardship reported
    Stage.PROMISE: frozenset({Stage.UPCOMING, Stage.WELLBEING_HOLD, Stage.RELATIONSHIP}),  # a promise to pay taken
}


def allowed(source: Stage, target: Stage) -> bool:
    """Whether a case may move from `source` to `target` (staying put is not a move)."""
    if source.terminal or source is target:
        return False
    if target in PROCESS.get(source, frozenset()):
        return True
    barred = ANY_OPEN_STAGE.get(target)
    return barred is not None and source not in barred


def transitions() -> list[tuple[Stage, Stage]]:
    """Every allowed move, in the stages' order: for the state diagram and the audit."""
    return [(a, b) for a in Stage for b in Stage if allowed(a, b)]


def mermaid() -> str:
    """The state diagram, as Mermaid text (docs/lifecycle.md is generated from it)."""
    lines = ["stateDiagram-v2", f"    [*] --> {Stage.VERIFICATION.value}", f"    [*] --> {Stage.UPCOMING.value}"]
    lines += [f"    {a.value} --> {b.value}" for a, b in transitions()]
    lines += [f"    {s.value} --> [*]" for s in Stage if s.terminal]
    return "\n".join(lines)
