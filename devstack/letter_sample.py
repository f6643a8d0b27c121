"""A sample letter, for the docs: an arrears notice to a made-up borrower, in English and Chinese.

Writes `docs/letters/arrears-notice-<locale>.pdf` and a PNG of each one's first page in `docs/screenshots/`,
with the real templates, layout and renderer (no database, no network). Rerun after changing the layout:

    .venv/bin/python -m devstack.letter_sample
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pypdfium2  # no stubs

from adapters.config_files import load_policy
from adapters.letters import LetterRenderer, LetterSender
from adapters.providers.base import OutboundRequest
from adapters.templates import TemplateLibrary
from domain.enums import Channel

ROOT = Path(__file__).resolve().parent.parent
POSTED = date(2026, 10, 5)  # fixed, so a rerun changes the files only when the layout changed
SAMPLES = {  # locale: (address line as the workflow writes it, the notice's variables); all made up
    "en": ("Ms A Sample, Flat 2, 14 Example Street, Leeds, LS2 9ZZ",
           {"arrears": "240.00", "amount": "1,480.50", "currency": "GBP", "due_date": "2026-09-01"}),
    "zh-CN": ("王小明, 示例路 88 号 3 单元 501 室, 上海市, 200000",
              {"arrears": "1,200.00", "amount": "8,650.00", "currency": "CNY", "due_date": "2026-09-01"}),
}


def main() -> None:
    policy = load_policy("standard")
    renderer = LetterRenderer(LetterSender.from_policy(policy.sender, ["PO Box 1000", "Example City", "EX1 1AA"]))
    templates = TemplateLibrary()
    for locale, (address, amounts) in SAMPLES.items():
        variables = {"sender_name": policy.sender.name, "sender_number": policy.sender.contact_number, **amounts}
        request = OutboundRequest(
            idempotency_key=f"sample-{locale}", channel=Channel.LETTER, to=address, locale=locale,
            template="arrears_notice", body=templates.render("arrears_notice", locale, variables, False))
        pdf = renderer.render(request, on=POSTED)
        target = ROOT / "docs" / "letters" / f"arrears-notice-{locale}.pdf"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(pdf)
        document = pypdfium2.PdfDocument(pdf)
        image = document[0].render(scale=110 / 72).to_pil()  # 110 dpi: legible, and small in the repository
        suffix = "" if locale == "en" else f"-{locale}"
        image.save(ROOT / "docs" / "screenshots" / f"letter-arrears-notice{suffix}.png", optimize=True)
        pages = len(document)
        document.close()
        print(f"{target.relative_to(ROOT)}: {len(pdf):,} bytes, {pages} page(s)")


if __name__ == "__main__":
    main()
