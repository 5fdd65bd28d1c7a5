"""A short sample policy document for the demo, written for this project (a summary, not the regulation)."""

from __future__ import annotations

import html

POLICY_SECTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "Who this applies to",
        (
            "Every district employee, and every Associated Person: parents who lead or serve on school "
            "committees, "
            "volunteers, walk-on coaches, consultants, contractors, vendors, and child-care or after-school "
            "program staff who work with our students.",
        ),
    ),
    (
        "What we ask of you",
        (
            "Keep personal social-media accounts apart from accounts used for school work, and point "
            "students who "
            "want to connect with you to the school's official pages instead.",
            "Treat students, colleagues and families with respect online, on and off the clock. Threats, "
            "harassment, bullying or demeaning posts can lead to discipline and, where the law requires, "
            "a report "
            "to the authorities.",
            "Do not publish anything that identifies a student (a name, a photo or a video) on any school, "
            "personal or professional site unless the student's parent or guardian has given written "
            "consent and "
            "the principal has approved it.",
            "Never share grades, attendance or other confidential student or staff records outside the "
            "district's "
            "approved, secured systems.",
            "Do not use district logos on personal pages. If you mention that you work with the "
            "district, say that "
            "your views are your own.",
        ),
    ),
    (
        "What the district may do",
        (
            "District networks and accounts are not private: the district may review, keep or remove "
            "content and "
            "may limit access when this policy is not followed.",
            "Principals and site administrators share this policy with their staff and Associated "
            "Persons, look "
            "into reported problems, keep a record of serious incidents, and escalate to the right "
            "agency when a "
            "post suggests a threat or harm to a child.",
        ),
    ),
    (
        "Acknowledgement",
        (
            "Please confirm that you have read this policy. Employees confirm with their district account; "
            "Associated Persons without a district account use the personal link they receive by email, "
            "or sign "
            "the paper form at the school office.",
        ),
    ),
)


def policy_html(district_name: str, version: str = "2026-27") -> str:
    """The policy as a small standalone HTML page."""
    esc = html.escape
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Social media policy for employees and Associated Persons ({esc(version)})</title></head><body>",
        f"<h1>{esc(district_name)}: social media policy for employees and Associated Persons</h1>",
        f'<p class="version">Version {esc(version)}. Sample text written for this demonstration; it '
        f"summarises "
        "the district's administrative regulation on district-sponsored social media.</p>",
    ]
    for heading, paragraphs in POLICY_SECTIONS:
        parts.append(f"<h2>{esc(heading)}</h2>")
        if len(paragraphs) == 1:
            parts.append(f"<p>{esc(paragraphs[0])}</p>")
        else:
            parts.append("<ol>" + "".join(f"<li>{esc(p)}</li>" for p in paragraphs) + "</ol>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
