"""Contact data: phone numbers checked with `phonenumbers`, addresses for completeness.

A number is known everywhere outside the payload by its `ref`: a short keyed hash of its E.164
form, so ledgers, caps and cease requests work per number without storing the number itself.
"""

from __future__ import annotations

import hashlib

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberType

from domain.case_input import Address, Borrower, EmergencyContact
from domain.enums import Person
from domain.state import PhoneCheck, VerificationReport

_LINE_TYPES = {
    PhoneNumberType.MOBILE: "mobile",
    PhoneNumberType.FIXED_LINE: "fixed_line",
    PhoneNumberType.FIXED_LINE_OR_MOBILE: "fixed_line_or_mobile",
    PhoneNumberType.VOIP: "voip",
    PhoneNumberType.TOLL_FREE: "toll_free",
    PhoneNumberType.PREMIUM_RATE: "premium_rate",
    PhoneNumberType.SHARED_COST: "shared_cost",
    PhoneNumberType.PERSONAL_NUMBER: "personal",
    PhoneNumberType.PAGER: "pager",
    PhoneNumberType.UAN: "uan",
    PhoneNumberType.VOICEMAIL: "voicemail",
}
# NumberParseException.error_type is an int; its names, for the report.
_PARSE_ERRORS = {getattr(NumberParseException, name): name.lower() for name in (
    "INVALID_COUNTRY_CODE", "NOT_A_NUMBER", "TOO_SHORT_AFTER_IDD", "TOO_SHORT_NSN", "TOO_LONG")}
_CALLABLE = {"mobile", "fixed_line", "fixed_line_or_mobile", "voip", "personal"}
_TEXTABLE = {"mobile", "fixed_line_or_mobile"}


def normalize(number: str, region: str) -> str | None:
    """E.164, or None when the text is not a valid number for its region."""
    try:
        parsed = phonenumbers.parse(number, region)
    except NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def phone_ref(case_id: str, number: str, region: str) -> str:
    """Stable per case and number, whatever way the number was typed."""
    canonical = normalize(number, region) or "".join(c for c in number if c.isdigit() or c == "+")
    return hashlib.sha256(f"{case_id}:{canonical}".encode()).hexdigest()[:16]


def email_ref(case_id: str, address: str) -> str:
    """Stable per case and e-mail address, whatever its case: refused and ceased like a number's ref."""
    return hashlib.sha256(f"{case_id}:mailto:{address.strip().lower()}".encode()).hexdigest()[:16]


def check_phone(case_id: str, number: str, region: str, owner: Person, index: int) -> PhoneCheck:
    ref = phone_ref(case_id, number, region)
    try:
        parsed = phonenumbers.parse(number, region)
    except NumberParseException as e:
        return PhoneCheck(ref=ref, owner=owner, index=index, valid=False, line_type="unknown",
                          problem=f"unparseable: {_PARSE_ERRORS.get(e.error_type, 'unknown')}")
    if not phonenumbers.is_valid_number(parsed):
        return PhoneCheck(ref=ref, owner=owner, index=index, valid=False, line_type="unknown",
                          problem="not a valid number for its region")
    line = _LINE_TYPES.get(phonenumbers.number_type(parsed), "unknown")
    usable = line in (_TEXTABLE if owner is Person.BORROWER else _CALLABLE)
    return PhoneCheck(ref=ref, owner=owner, index=index, valid=usable, line_type=line,
                      problem=None if usable else f"line type {line} cannot be used")


def address_complete(address: Address) -> bool:
    return bool(address.line1.strip() and address.city.strip())


def verify(case_id: str, borrower: Borrower, contacts: list[EmergencyContact]) -> VerificationReport:
    """What is usable, and what the borrower must be asked to update."""
    phones = [
        check_phone(case_id, n, borrower.country, Person.BORROWER, i).model_copy(
            update={"robot_consent": n in borrower.robot_call_consent})
        for i, n in enumerate(borrower.mobile_numbers)
    ] + [
        check_phone(case_id, c.phone, borrower.country, Person.EMERGENCY_CONTACT, i) for i, c in enumerate(contacts)
    ]
    missing = []
    if not any(p.valid for p in phones if p.owner == "borrower"):
        missing.append("a valid mobile number")
    if not address_complete(borrower.address):
        missing.append("a complete home address")
    if not contacts:
        missing.append("an emergency contact")
    elif not any(p.valid for p in phones if p.owner == "emergency_contact"):
        missing.append("a valid emergency contact number")
    return VerificationReport(phones=phones, address_complete=address_complete(borrower.address), missing=missing)
