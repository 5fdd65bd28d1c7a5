"""Artifacts in people's words (issue 14 item 6): what compliance.artifact_text makes of the flows' counts, and a
campaign's print list written for the office. Plain functions, no Prefect: the flows hand these texts over."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path

import openpyxl

from compliance.artifact_text import (
    DRY_RUN_MARKER,
    REAL_RUN_MARKER,
    counts_table,
    drive_link,
    dry_run_name,
    label,
    labelled_rows,
    nightly_headline,
    number,
    percent,
    plan_headline,
    plan_site_rows,
    print_list_filename,
    report_headline,
    run_marker,
    site_label,
    step_table,
    summary_markdown,
)

SITES = {"lincoln-es": "Lincoln Elementary School", "dist": "District Office"}
# What flows.nightly's results look like (keys as the tasks return them, crawl coverage in snake_case).
NIGHTLY = {
    "roster": {"people": 712, "joined": 712, "left": 0, "roster unchanged": 0, "rows rejected": 9},
    "policy": {"policy versions opened": 0, "policy version": 1},
    "acknowledgements": {"responses read": 500, "recorded": 470, "duplicates": 10, "refused": 20,
                         "paper rows recorded": 12},
    "follow-up": {"reminders": 40, "outstanding": 230},
    "crawl": {"pages": 120, "pages_found": 130, "refused_robots": 2, "held sites": 0, "seconds": 14},
    "photos": {"violations": 19, "new findings": 23, "needs review": 4},
    "takedown": {"takedown digests": 5, "takedown reminders": 0},
    "mail": {"sent": 52, "failed": 0, "deferred to a later window": 0, "to retry later": 1},
}  # fmt: skip
SNAKE = re.compile(r"\b[a-z]+_[a-z_]+\b")


def test_labels_numbers_and_percentages() -> None:
    assert label("ack_rate") == "Acknowledgement rate"
    assert label("refused_robots") == "Refused: robots.txt"
    assert label("takedown digests") == "Takedown digests"  # counts already in words keep them
    assert label("some_new_key") == "Some new key"
    assert number("ack_rate", 0.553009) == "55.3%" and percent(None) == "none yet"
    assert number("people", 12345) == "12,345" and number("median_takedown_days", 2.25) == "2.2"
    assert number("median_takedown_days", None) == "none yet" and number("held", True) == "yes"


def test_sites_by_name_and_id_and_drive_by_link() -> None:
    assert site_label("lincoln-es", SITES) == "Lincoln Elementary School (lincoln-es)"
    assert site_label("unknown-site", SITES) == "unknown-site"
    assert site_label(None, SITES) == site_label("(none)", SITES) == "No site"
    assert drive_link("1AbC") == "https://drive.google.com/file/d/1AbC/view"
    rows = labelled_rows([{"site": "lincoln-es", "pages_found": 1200, "refused_off_site": 3}], SITES)
    assert rows == [{"Site": "Lincoln Elementary School (lincoln-es)", "Pages found": "1,200",
                     "Refused: off-site host": "3"}]  # fmt: skip


def test_a_dry_run_is_marked_and_named_without_a_timestamp() -> None:
    from compliance.campaign import CampaignParameters, campaign_name
    from compliance.settings import load_settings

    assert run_marker(True) == DRY_RUN_MARKER and run_marker(False) == REAL_RUN_MARKER
    assert DRY_RUN_MARKER.startswith("DRY RUN") and "REAL" in REAL_RUN_MARKER
    assert dry_run_name("AR 1114 2026-27") == "DRY RUN — AR 1114 2026-27"

    class Version:
        title = "AR 1114 Social Media Policy 2026-2027"

    now = datetime(2026, 12, 1, 20, 31, 5, 123456, tzinfo=UTC)
    settings = load_settings()
    dry = campaign_name(CampaignParameters(), Version(), now, settings)  # type: ignore[arg-type]
    assert dry == "DRY RUN — AR 1114 Social Media Policy 2026-2027 (2026-12-01)"
    assert "123456" not in dry and "T20" not in dry
    real = campaign_name(CampaignParameters(dry_run=False, name="Fall"), Version(), now, settings)  # type: ignore[arg-type]
    assert real == "Fall"


def test_nightly_summary_first_then_every_count_labelled() -> None:
    headline = nightly_headline(NIGHTLY)
    text = summary_markdown("Nightly run 2026-12-01 02:00", headline, details=step_table(NIGHTLY))
    assert text.index("- Roster: 712 people") < text.index("### Details") < text.index("| Step | What | Count |")
    assert "Acknowledgements recorded: 470 from the forms, 12 from the paper binder; 20 refused" in text
    assert "Photo consent: 19 violations online" in text and "Mail: 52 sent, 0 failed, 1 waiting" in text
    assert "| Website crawl | Refused: robots.txt | 2 |" in text
    assert "None" not in text and not SNAKE.findall(text), SNAKE.findall(text)


def test_report_summary_in_percent_with_no_none() -> None:
    summary = {"ack_rate": 0.553009, "acknowledged": 400, "active_people": 723, "outstanding": 323,
               "violations_online": 5, "violations_resolved": 0, "median_takedown_days": None, "quarantine_rows": 2}
    lines = report_headline(summary)
    assert lines[0] == "Acknowledgement rate: 55.3% (400 of 723 people; 323 not yet)"
    assert "Median days to take a photo down: none taken down yet" in lines
    table = "\n".join(counts_table(summary))
    assert "55.3%" in table and "0.553009" not in table and "None" not in table
    assert not SNAKE.findall(table), SNAKE.findall(table)


def test_plan_headline_and_sites_in_words() -> None:
    summary = {"policy_version": "policy version 1 (AR 1114 Social Media Policy 2026-2027, revision 3)",
               "people_reached": 690, "individual_messages": 690, "group_messages": 0, "print_list": 14,
               "skipped": {"paper_only": 12, "no_valid_email": 2, "already_acknowledged": 3},
               "quota": {"days": 1, "senders": 3, "sending_minutes": 4}, "deadline": "2026-12-22",
               "staff_channel": "individual", "by_site": {"lincoln-es": 400, "(none)": 10, "dist": 280}}  # fmt: skip
    text = "\n".join(plan_headline(summary, 2))
    assert "Policy: policy version 1 (AR 1114 Social Media Policy 2026-2027)" in text and "revision" not in text
    assert label("youtube videos read") == "YouTube videos read"
    assert "People reached by email: 690 at 2 sites" in text and "Paper copies to print: 14" in text
    assert "Paper only (gets a printed copy): 12" in text and "Already acknowledged this policy version: 3" in text
    assert "1 day of Gmail quota with 3 sender mailboxes, about 4 minutes" in text
    assert not SNAKE.findall(text), SNAKE.findall(text)
    assert plan_site_rows(summary["by_site"], SITES) == [  # type: ignore[arg-type]
        {"Site": "Lincoln Elementary School (lincoln-es)", "People": "400"},
        {"Site": "District Office (dist)", "People": "280"},
        {"Site": "No site", "People": "10"},
    ]


def test_print_list_names_people_for_the_office_and_keeps_names_as_text(store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from compliance.campaign import Skipped
    from compliance.models import Person, Site
    from compliance.print_list import write_print_list

    with store.session() as session:
        session.add(Site(id="lincoln-es", name="Lincoln Elementary School", kind="elementary", org_unit="/L",
                         site_admin_email="principal@standard-sd.org", web_contact_email="web@standard-sd.org"))
        session.flush()
        people = [
            Person(person_key="p1", kind="associated", category="volunteer", given_name="Ana", family_name="Zuniga",
                   site_id="lincoln-es", paper_only=True, preferred_language="es", source="t"),
            Person(person_key="p2", kind="associated", category="vendor", given_name="=HYPERLINK(\"x\")",
                   family_name="Baker", site_id="lincoln-es", source="t"),
            Person(person_key="p3", kind="employee", category="employee", given_name="Sam", family_name="Oak",
                   site_id="lincoln-es", email="sam@x.org", source="t"),  # emailed: not on the list
        ]  # fmt: skip
        session.add_all(people)
        session.flush()
        skipped = [Skipped(people[0].id, "p1", "lincoln-es", "volunteer", "paper_only"),
                   Skipped(people[1].id, "p2", "lincoln-es", "vendor", "no_valid_email")]  # fmt: skip
        name = print_list_filename("DRY RUN — AR 1114 2026-27", date(2026, 12, 1))
        assert name == "print-list-dry-run-ar-1114-2026-27-2026-12-01.xlsx"
        path = write_print_list(session, skipped, SITES, tmp_path / name, title="Print list")
    ws = openpyxl.load_workbook(path)["Print list"]
    rows = list(ws.iter_rows(min_row=4, values_only=True))
    assert [r[:2] for r in rows] == [("Baker", '=HYPERLINK("x")'), ("Zuniga", "Ana")]  # by site, then name
    assert rows[1][2:6] == ("Lincoln Elementary School (lincoln-es)", "Volunteer", "Spanish",
                            "Paper only (gets a printed copy)")  # fmt: skip
    assert ws.cell(row=4, column=2).data_type == "s" and ws.cell(row=4, column=2).quotePrefix  # text, not a formula
    assert ws.page_setup.orientation == "landscape" and ws.page_setup.fitToWidth == 1
