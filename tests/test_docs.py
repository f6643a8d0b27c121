"""The docs cannot drift from the code: the generated pages equal their generator's output, every
relative link (and its #anchor) resolves, every setting is documented, and the README stays short.
Also the auditor's command, as the docs promise it: after `make run` it finds the ledger by itself."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

import audit
from devstack import contract

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^```.*?^```", re.S | re.M)
REGENERATE = "regenerate it: .venv/bin/python -m devstack.contract --write"


@pytest.mark.parametrize("name", sorted(contract.DOCS))
def test_generated_docs_equal_the_code(name):
    path, make = contract.DOCS[name]
    assert (ROOT / path).read_text(encoding="utf-8") == make(), f"{path} is out of date: {REGENERATE}"


def test_the_contract_names_every_message_of_every_workflow():
    text = (ROOT / "docs" / "contract.md").read_text(encoding="utf-8")
    for cls in contract.WORKFLOWS:
        for m in contract.messages(cls):
            assert f"`{m.name}`" in text, m.key


def test_a_wrong_or_missing_example_fails_the_generator(monkeypatch):
    wrong = dict(contract.EXAMPLES, record_payment=[{"amount": "-5", "paid_at": "2026-12-01T10:00:00",
                                                     "reference": "BANK-1"}])
    monkeypatch.setattr(contract, "EXAMPLES", wrong)
    with pytest.raises(ValueError, match="record_payment does not validate"):
        contract.contract()
    missing = {k: v for k, v in contract.EXAMPLES.items() if k != "pause"}
    monkeypatch.setattr(contract, "EXAMPLES", missing)
    with pytest.raises(ValueError, match="no example for 'pause'"):
        contract.contract()


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"`|\*\*|\[([^\]]*)\]\([^)]*\)", lambda m: m.group(1) or "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for line in FENCE.sub("", page.read_text(encoding="utf-8")).splitlines():
        if m := re.match(r"#{1,6}\s+(.*)", line):
            base = slug(m.group(1))
            n = seen.get(base, 0)
            seen[base] = n + 1
            out.add(base if n == 0 else f"{base}-{n}")
    return out


def links(page: Path) -> list[str]:
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    text = re.sub(r"`[^`\n]*`", lambda m: m.group(0) if "](" in m.group(0) else "", text)  # code spans
    return LINK.findall(text)


def broken_links(pages: list[Path] = PAGES, root: Path = ROOT) -> list[str]:
    broken = []
    for page in pages:
        for target in links(page):
            parts = urlsplit(target)
            if parts.scheme or target.startswith("mailto:"):
                continue
            path = (page.parent / unquote(parts.path)).resolve() if parts.path else page
            where = f"{page.relative_to(root)}: {target}"
            if not path.exists():
                broken.append(f"{where} (no such file)")
            elif parts.fragment and path.suffix == ".md" and parts.fragment not in anchors(path):
                broken.append(f"{where} (no such heading)")
    return broken


def test_every_relative_link_resolves():
    """README.md and docs/*.md: files and folders exist, #anchors name a heading."""
    assert not broken_links(), "\n".join(broken_links())


def test_the_link_checker_sees_a_broken_link(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# A `Title`\n[ok](#a-title) [gone](missing.md) [bad](#nope) ![img](x.png)\n"
                    "```\n[in code](ignored.md)\n```\n")
    assert broken_links([page], tmp_path) == [
        "page.md: missing.md (no such file)", "page.md: #nope (no such heading)", "page.md: x.png (no such file)"]


def test_the_readme_is_read_in_five_minutes():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.encode()) <= 10_240, "README.md is over 10 KB: move the detail to docs/"
    for must in ("make run", "make test", "docs/screenshots/", "```mermaid", "## Where things are"):
        assert must in readme, must


def test_every_setting_is_documented():
    """Each environment variable settings.py reads appears in docs/operations.md."""
    names = set(re.findall(r"\(\s*\"([A-Z][A-Z0-9_]{2,})\"", (ROOT / "settings.py").read_text()))
    assert names, "no environment variables found in settings.py"
    operations = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    assert not sorted(n for n in names if f"`{n}`" not in operations)


async def test_audit_without_a_ledger_says_what_to_do(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setattr(audit, "EMBEDDED_DATA", tmp_path / "postgres")
    assert await audit.main(["compliance-report"]) == 2
    err = capsys.readouterr().err
    assert "DATABASE_URL" in err and "make run" in err and str(tmp_path / "postgres") in err


async def test_audit_finds_the_embedded_database_by_itself(database_url, monkeypatch, capsys):
    """As after `make run`: no DATABASE_URL, an embedded server running on its data folder."""
    parts = urlsplit(database_url)
    socket_dir = Path(parse_qs(parts.query).get("host", [""])[0] or "/nonexistent")
    if not (socket_dir / "PG_VERSION").exists():
        pytest.skip("the tests' PostgreSQL is not an embedded server with its socket in its data folder")
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setattr(audit, "EMBEDDED_DATA", socket_dir)
    monkeypatch.setattr(audit, "EMBEDDED_DATABASE", parts.path.lstrip("/"))
    assert await audit.main(["compliance-report", "--case", "no-such-case"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("Compliance report: 0 case(s)")
    assert "DATABASE_URL is not set: reading the running embedded database" in err
