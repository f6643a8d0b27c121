"""The case's enumerations, on their own so that policy and models can both use them."""

from __future__ import annotations

from enum import StrEnum


class Channel(StrEnum):
    SMS = "sms"
    ROBOT_CALL = "robot_call"
    AGENT_CALL = "agent_call"
    VISIT = "visit"
    LETTER = "letter"  # a statutory notice, posted by a print vendor
    EMAIL = "email"  # through an SMTP relay

    @property
    def is_voice(self) -> bool:
        return self in (Channel.ROBOT_CALL, Channel.AGENT_CALL)


class Outcome(StrEnum):
    """Every state a contact attempt can be in; receipts move it forward."""

    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"
    NO_ANSWER = "no_answer"
    ANSWERED = "answered"  # the borrower confirmed who they are and heard the message, no real exchange
    CONVERSATION = "conversation"  # a real exchange with the borrower
    WRONG_PARTY = "wrong_party"  # the number is not the borrower's: nothing was said of them; ceased
    THIRD_PARTY = "third_party"  # someone else answered (the borrower not confirmed): nothing was said
    VOICEMAIL = "voicemail"  # a machine: a limited-content message where the packs allow one, else nothing
    TASK_CREATED = "task_created"  # an agent call or visit handed to people
    SKIPPED = "skipped"  # the guard denied it

    @property
    def is_failure(self) -> bool:
        """Dialled or sent, and the borrower was not reached."""
        return self in (Outcome.FAILED, Outcome.NO_ANSWER, Outcome.WRONG_PARTY, Outcome.THIRD_PARTY, Outcome.VOICEMAIL)

    @property
    def is_interaction(self) -> bool:
        return self in (Outcome.ANSWERED, Outcome.CONVERSATION)


class Stage(StrEnum):
    UPCOMING = "upcoming"  # early warning: not overdue yet (`UpcomingDue`); overdue, it becomes a case
    VERIFICATION = "verification"
    ASSESSMENT = "assessment"
    REMOTE_CONTACT = "remote_contact"
    FIELD_VISIT = "field_visit"
    PROMISE = "promise"
    HARDSHIP_PLAN = "hardship_plan"
    WELLBEING_HOLD = "wellbeing_hold"
    RELATIONSHIP = "relationship"
    # terminal
    SETTLED = "settled"
    ESCALATED = "escalated"
    REFERRED = "referred"
    WITHDRAWN = "withdrawn"  # a dispute upheld: the debt is not owed as claimed

    @property
    def terminal(self) -> bool:
        return self in (Stage.SETTLED, Stage.ESCALATED, Stage.REFERRED, Stage.WITHDRAWN)


class Segment(StrEnum):
    HARDSHIP = "hardship"
    LOW_RISK = "low_risk"
    HIGH_RISK = "high_risk"


class HardshipReason(StrEnum):
    ILLNESS = "illness"
    JOB_LOSS = "job_loss"
    FORCE_MAJEURE = "force_majeure"
    OTHER = "other"



class VisitResult(StrEnum):
    MET = "met"
    NOT_HOME = "not_home"
    REFUSED = "refused"
    MOVED = "moved"



class CeaseScope(StrEnum):
    ALL = "all"
    CHANNEL = "channel"
    NUMBER = "number"



class VulnerabilityDriver(StrEnum):
    HEALTH = "health"
    LIFE_EVENT = "life_event"
    RESILIENCE = "resilience"
    CAPABILITY = "capability"



class ApprovalKind(StrEnum):
    VISIT = "visit"
    HARDSHIP_PLAN = "hardship_plan"
    WELLBEING_REVIEW = "wellbeing_review"
    VULNERABILITY_REVIEW = "vulnerability_review"
    HANDOFF = "handoff"  # a credit-bureau report and the legal / recovery hand-off: a person decides
    RELIEF = "relief"  # a relief offer beyond the offerer's own limits (the policy's approval matrix)



class HoldKind(StrEnum):
    PAUSE = "pause"  # an operator's pause
    DISPUTE = "dispute"  # the borrower disputes the debt: collection waits for verification
    CAPACITY = "capacity"  # doubt about mental capacity (CONC 7.10): recovery suspended
    MORATORIUM = "moratorium"  # Breathing Space: no contact, interest and fees frozen
    COMPLAINT = "complaint"  # a complaint under review (when the policy pauses contact for it)



class PromiseStatus(StrEnum):
    OPEN = "open"
    KEPT = "kept"
    BROKEN = "broken"
    SUPERSEDED = "superseded"


class InstalmentStatus(StrEnum):
    DUE = "due"
    PAID = "paid"
    MISSED = "missed"


class PlanStatus(StrEnum):
    PENDING_APPROVAL = "pending_approval"
    ACTIVE = "active"
    COMPLETED = "completed"
    BROKEN = "broken"
    REJECTED = "rejected"


class ReliefStatus(StrEnum):
    PENDING_APPROVAL = "pending_approval"  # beyond its offerer's limits: a higher role decides
    OFFERED = "offered"  # open to the borrower until it expires
    ACCEPTED = "accepted"
    COMPLETED = "completed"  # a settlement paid (the rest written off), a waiver applied
    REVIEWED = "reviewed"  # a freeze or token payments reached their review date
    BROKEN = "broken"  # token payments missed
    LAPSED = "lapsed"  # not accepted, or a settlement not paid, before it expired
    REJECTED = "rejected"  # by the approver


class HandOffStatus(StrEnum):
    AWAITING_APPROVAL = "awaiting_approval"
    APPROVED = "approved"
    REJECTED = "rejected"


class VisitStatus(StrEnum):
    AWAITING_APPROVAL = "awaiting_approval"
    APPROVED = "approved"
    DISPATCHED = "dispatched"
    OVERDUE = "overdue"
    REPORTED = "reported"
    REJECTED = "rejected"
    UNSTAFFED = "unstaffed"  # too few trained collectors of the region for too long: given up


class HandOff(StrEnum):
    """Who a case, or a question about it, is handed to (the ledger's `hand_offs.kind`)."""

    SUPERVISOR = "supervisor"
    CREDIT_BUREAU = "credit_bureau"
    LEGAL_RECOVERY = "legal_recovery"
    HARDSHIP_TEAM = "hardship_team"
    WELLBEING_TEAM = "wellbeing_team"
    INSOLVENCY_AND_ESTATES = "insolvency_and_estates"  # bankruptcy (a proof of claim) and deceased borrowers


class HardStop(StrEnum):
    """Sticky, with their evidence: each changes what may happen to the case for good."""

    ATTORNEY = "attorney"  # represented: deal only with the attorney (people do; nothing automated)
    BANKRUPTCY = "bankruptcy"  # a petition stays every act to collect: the case goes to a specialist team
    DECEASED = "deceased"  # the estate process: the case ends and goes to a specialist team
    TIME_BARRED = "time_barred"  # past the limitation period: no legal hand-off, no suggestion of a suit


class Person(StrEnum):
    """Who a number belongs to: the borrower, or an emergency contact (never told of the debt)."""

    BORROWER = "borrower"
    EMERGENCY_CONTACT = "emergency_contact"


# --- the desk: contact outcomes, worklists, tasks ---------------------------------------------


class Party(StrEnum):
    """Who answered a call or opened the door."""

    RIGHT_PARTY = "right_party"  # the borrower, identity confirmed
    WRONG_PARTY = "wrong_party"  # a stranger: the number or address is not the borrower's
    THIRD_PARTY = "third_party"  # someone who knows the borrower (family, an emergency contact)
    NONE = "none"  # nobody


class DelinquencyReason(StrEnum):
    """Why the loan is late, as the borrower tells it (理解其逾期起因): coded, so it can steer the case."""

    ILLNESS = "illness"
    JOB_LOSS = "job_loss"
    INCOME_CUT = "income_cut"
    BUSINESS_FAILURE = "business_failure"
    DISPUTE = "dispute"
    FRAUD_CLAIM = "fraud_claim"
    FORGOT = "forgot"
    REFUSES = "refuses"
    OTHER = "other"


class ContactResult(StrEnum):
    """What a conversation came to."""

    PROMISE = "promise"
    PAYMENT = "payment"
    HARDSHIP = "hardship"
    DISPUTE = "dispute"
    CALL_BACK = "call_back"
    REFUSED = "refused"
    NONE = "none"  # nothing came of it (nobody answered, a wrong party)


class TaskKind(StrEnum):
    """Work for a person that the case waits on."""

    CONTACT_DATA = "contact_data"  # missing or invalid contact data, obtained through lawful channels
    CALL_BACK = "call_back"  # the borrower asked to be called back at a time
    INVESTIGATION = "investigation"  # a conduct complaint against a staff member, for their supervisor
    REVIEW = "review"  # a wellbeing or vulnerability review past its deadline
    COLLECTORS = "collectors"  # no trained collectors of the borrower's region to dispatch
    BORROWER_MESSAGE = "borrower_message"  # a reply by SMS or e-mail that is not a stop: a person reads it
    TALK_TO_PERSON = "talk_to_person"  # the borrower asked on the self-service page to talk to someone


class TaskStatus(StrEnum):
    OPEN = "open"
    DONE = "done"
    CANCELLED = "cancelled"


class StaffRole(StrEnum):
    AGENT = "agent"
    COLLECTOR = "collector"
    SUPERVISOR = "supervisor"
    MANAGER = "manager"


class ScoreTrigger(StrEnum):
    """When a case is scored for its propensity to pay: at its assessment, then whenever the picture
    changes (`domain.propensity`)."""

    ASSESSMENT = "assessment"
    BROKEN_PROMISE = "broken_promise"
    RIGHT_PARTY_CONTACT = "right_party_contact"
    PARTIAL_PAYMENT = "partial_payment"
