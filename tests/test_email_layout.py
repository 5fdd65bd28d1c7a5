"""Every email the pipeline sends, as a phone (390 px) and a desktop mail window (900 px) show it (issue 14, item 8).

Each kind (announcement, reminders 1 and 2 before and after the deadline, site administrator digest,
superintendent escalation, takedown digest and reminder, compliance report; English and Spanish) is built by the
real planners and rendered to MIME by the real message factory (tests/email_world.py), then opened in Debian's
headless Chromium (compliance.shell.browser) with the phone's viewport emulated. Checked at both widths:

- nothing scrolls sideways: the document's scrollWidth is at most the device width (a message without the
  viewport meta lays out at 980 px on a phone and fails this);
- the message's button (announcement, reminders, report) is drawn as a button (a coloured cell, not a bare
  link), visible, its text entirely inside the viewport, and above the fold for the personal messages;
- body text is at least 14 px at 390 px (the footer's fine print is not body text);
- a full-page screenshot matches the committed reference ``tests/reference/emails/<name>-<width>.png``:
  at most 1 % of the pixels may differ by more than a faint anti-aliasing shade, and the height by at most 1 %.

When a change to an email is meant, regenerate the references and look at them before committing::

    DC_UPDATE_EMAIL_REFERENCES=1 .venv/bin/pytest tests/test_email_layout.py

(that run writes the pictures and passes the comparison). On a mismatch, the new screenshot and a picture of
the differing pixels are written to ``var/test-output/emails/`` to look at. The browser tests skip, saying why,
only when Chromium is not installed and could not be (``make browser`` installs it as root with apt; ``make
test`` runs it first). The checks that need no browser (inline styles, viewport meta) always run.
"""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

import pytest
from email_world import Email, all_emails

from compliance.settings import PROJECT_ROOT
from compliance.shell.browser import HeadlessChromium, headless_chromium, unavailable_reason

REFERENCES = Path(__file__).parent / "reference" / "emails"
OUTPUT = PROJECT_ROOT / "var" / "test-output" / "emails"
UPDATE = os.environ.get("DC_UPDATE_EMAIL_REFERENCES") == "1"
PHONE, DESKTOP = (390, 844), (900, 800)
# A pixel "differs" past this many grey levels (anti-aliasing of the same glyph stays below it).
PIXEL_TOLERANCE = 48
MAX_DIFFERING = 0.01
MAX_HEIGHT_CHANGE = 0.01
WITH_BUTTON = ("announcement", "reminder", "compliance_report")
PERSONAL = ("announcement", "reminder")

BROWSER_REASON = unavailable_reason()
needs_browser = pytest.mark.skipif(BROWSER_REASON is not None, reason=f"headless Chromium: {BROWSER_REASON}")


@pytest.fixture(scope="module")
def emails(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Email]:
    from compliance.store import Store

    store = Store(f"sqlite:///{tmp_path_factory.mktemp('email-world') / 'store.db'}")
    with store.session() as session:
        return all_emails(session)


@pytest.fixture(scope="module")
def browser():  # type: ignore[no-untyped-def]
    if BROWSER_REASON is not None:
        pytest.skip(f"headless Chromium: {BROWSER_REASON}")
    with headless_chromium() as chromium:
        yield chromium


# What the page reports about itself, measured in the browser (one call per page and width).
MEASURE = r"""
const vw = arguments[0], vh = arguments[1];
const doc = document.documentElement;
const out = {scrollWidth: Math.max(doc.scrollWidth, document.body.scrollWidth), small: [], button: null};
const content = document.querySelector('[data-part=content]');
const walker = document.createTreeWalker(content, NodeFilter.SHOW_TEXT);
for (let node = walker.nextNode(); node; node = walker.nextNode()) {
  if (!node.textContent.trim()) continue;
  const size = parseFloat(getComputedStyle(node.parentElement).fontSize);
  if (size < 14) out.small.push([node.parentElement.tagName, size, node.textContent.trim().slice(0, 40)]);
}
const a = document.querySelector('[data-part=button]');
if (a) {
  const style = getComputedStyle(a), cell = getComputedStyle(a.parentElement);
  const box = a.getBoundingClientRect();
  const range = document.createRange(); range.selectNodeContents(a);
  const text = range.getBoundingClientRect();
  const pageTop = box.top + window.scrollY;
  out.button = {
    visible: style.display !== 'none' && style.visibility === 'visible' && parseFloat(style.opacity) === 1
             && box.width > 0 && box.height > 0,
    drawn: cell.backgroundColor !== 'rgba(0, 0, 0, 0)' && style.color !== cell.backgroundColor,
    textInside: text.left >= 0 && text.right <= vw && text.width > 0 && text.left >= box.left - 0.5
                && text.right <= box.right + 0.5,
    aboveFold: pageTop + box.height <= vh,
    label: a.textContent.trim(),
  };
}
return out;
"""


def _layout_problems(browser: HeadlessChromium, mail: Email, width: int, height: int) -> list[str]:
    """What is wrong with ``mail`` at that width (empty when nothing is)."""
    browser.open_html(mail.html, width, height, mobile=width < 600)
    got = browser.evaluate(MEASURE, width, height)
    problems = []
    if got["scrollWidth"] > width:
        problems.append(f"scrolls sideways: {got['scrollWidth']} px wide in a {width} px viewport")
    if width < 600 and got["small"]:
        problems.append(f"body text under 14 px: {got['small'][:3]}")
    button = got["button"]
    if mail.kind.startswith(WITH_BUTTON) and (mail.kind != "compliance_report" or "drive.google.com" in mail.html):
        if button is None:
            problems.append("no button")
        else:
            problems += [f"button {what}: {button['label']!r}" for what, ok in (
                ("not visible", button["visible"]), ("not drawn as a button", button["drawn"]),
                ("text outside the viewport or the button", button["textInside"]),
            ) if not ok]
            if mail.kind.startswith(PERSONAL) and not button["aboveFold"]:
                problems.append(f"button below the fold at {width}x{height}")
    return problems


def _compare(picture: bytes, reference: Path) -> str | None:
    """None when ``picture`` matches the reference within the tolerance; else what differs."""
    from PIL import Image, ImageChops

    got = Image.open(io.BytesIO(picture)).convert("L")
    want = Image.open(reference).convert("L")
    if got.width != want.width or abs(got.height - want.height) > MAX_HEIGHT_CHANGE * want.height:
        return f"size {got.size} against the reference's {want.size}"
    height = min(got.height, want.height)
    diff = ImageChops.difference(got.crop((0, 0, got.width, height)), want.crop((0, 0, want.width, height)))
    differing = sum(diff.point(lambda v: 255 if v > PIXEL_TOLERANCE else 0).histogram()[255:])
    share = differing / (got.width * height)
    if share > MAX_DIFFERING:
        OUTPUT.mkdir(parents=True, exist_ok=True)
        diff.point(lambda v: 255 if v > PIXEL_TOLERANCE else 0).save(OUTPUT / f"{reference.stem}.diff.png")
        return f"{share:.1%} of the pixels differ (at most {MAX_DIFFERING:.0%})"
    return None


# -- checks that need no browser -------------------------------------------------------------------------------


def test_every_kind_and_language_is_rendered(emails: dict[str, Email]) -> None:
    kinds = {(m.kind if not m.kind.startswith("reminder_") else "reminder", m.language) for m in emails.values()}
    for kind in ("announcement", "reminder", "site_digest", "superintendent_escalation", "takedown_digest",
                 "takedown_reminder", "compliance_report"):
        assert {(kind, "en"), (kind, "es")} <= kinds, kind
    assert emails["reminder2-en-overdue"].kind == "reminder_2" and emails["announcement-en-group"].kind == (
        "announcement_group")


def test_styles_are_inline_and_phones_get_the_viewport_meta(emails: dict[str, Email]) -> None:
    for name, mail in emails.items():
        html = mail.html
        assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html, name
        assert "<style" not in html and "class=" not in html, name  # mail clients strip both
        outside_comments = re.sub(r"<!--.*?-->", "", html, flags=re.DOTALL)  # Outlook's conditional table
        bare = re.findall(r"<(p|td|th|table|a|li|ol|ul)(?:\s(?![^>]*style=)[^>]*)?>", outside_comments)
        assert bare == [], (name, bare[:5])
        if (mail.kind.startswith(WITH_BUTTON) and "drive.google.com/file" in html) or mail.kind.startswith(PERSONAL):
            # The bulletproof button: a cell with a background colour around the padded link.
            assert re.search(r'<td[^>]+bgcolor="#1a5fb4"[^>]*>\s*<a data-part="button"', html), name


# -- in the browser --------------------------------------------------------------------------------------------


@needs_browser
def test_the_checks_see_a_message_a_phone_would_zoom_out_of(browser: HeadlessChromium) -> None:
    # The old layout's faults: no viewport meta, a wide fixed table, the button styled by a class, 12 px text.
    bad = Email("bad", "announcement", "en", "x@example.com", "s", "", (
        "<!DOCTYPE html><html><head><style>a.action{background:#1a5fb4;color:#fff;padding:10px}</style></head>"
        "<body><div data-part=content><p style='font-size:12px'>Hello,</p><table width=700><tr><td>wide</td></tr>"
        "</table><p><a class=action data-part=button href='#'>Acknowledge the policy</a></p></div></body></html>"))
    problems = _layout_problems(browser, bad, *PHONE)
    assert any("scrolls sideways: 980" in p for p in problems), problems  # laid out at 980 px, as phones do
    assert any("under 14 px" in p for p in problems), problems
    assert any("not drawn as a button" in p for p in problems), problems  # a styled link, not a table button


@needs_browser
@pytest.mark.parametrize("width,height", [PHONE, DESKTOP], ids=["390px", "900px"])
def test_each_email_reads_at_phone_and_desktop_width(browser: HeadlessChromium, emails: dict[str, Email],
                                                      width: int, height: int) -> None:
    problems = {name: found for name, mail in emails.items()
                if (found := _layout_problems(browser, mail, width, height))}
    assert problems == {}


@needs_browser
@pytest.mark.parametrize("width,height", [PHONE, DESKTOP], ids=["390px", "900px"])
def test_each_email_looks_as_the_reference_screenshot(browser: HeadlessChromium, emails: dict[str, Email],
                                                      width: int, height: int) -> None:
    mismatches = {}
    for name, mail in emails.items():
        browser.open_html(mail.html, width, height, mobile=width < 600)
        picture = browser.screenshot()
        reference = REFERENCES / f"{name}-{width}.png"
        if UPDATE or not reference.exists():
            if not UPDATE:
                mismatches[name] = f"no reference {reference.name} (DC_UPDATE_EMAIL_REFERENCES=1 writes it)"
                continue
            reference.parent.mkdir(parents=True, exist_ok=True)
            _save_optimized(picture, reference)
            continue
        if (problem := _compare(picture, reference)) is not None:
            OUTPUT.mkdir(parents=True, exist_ok=True)
            (OUTPUT / reference.name).write_bytes(picture)
            mismatches[name] = problem
    assert mismatches == {}, f"screenshots differ from tests/reference/emails (new ones in {OUTPUT})"


def _save_optimized(picture: bytes, path: Path) -> None:
    from PIL import Image

    # A palette PNG is a third of the size and compares the same (the check is on grey levels).
    Image.open(io.BytesIO(picture)).convert("RGB").quantize(colors=64).save(path, optimize=True)
