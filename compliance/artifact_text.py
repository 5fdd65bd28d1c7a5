"""What a flow run's artifacts say, in the words of the people who read them (central office, IT, the
superintendent's staff): labels instead of keys, percentages instead of fractions, site names next to site ids,
links instead of Drive ids, and a marker that tells a dry run from a real one in any list of runs.

Plain functions with no Prefect import: ``tasks/artifacts.py`` hands their text to Prefect, the flows only say
which numbers go in. Artifacts carry counts, labels and links only, never a person's name or address (a
campaign's print list of names is an output file for staff, linked from the artifact, never inside it).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date

from compliance.vocabulary import category_label

# Summary keys whose value is a fraction of 1: shown as a percentage.
PERCENT_KEYS = frozenset({"ack_rate", "ack_rate_employees", "ack_rate_associated"})

# Keys the pipeline's counts use (report summary, crawl coverage, campaign plan) and what people call them.
# Keys already written in words (most task counts are) get a capital letter and nothing else.
LABELS: Mapping[str, str] = {
    # the superintendent's report
    "active_people": "People on the roster (active)",
    "acknowledged": "Acknowledged the policy",
    "outstanding": "Not acknowledged yet",
    "ack_rate": "Acknowledgement rate",
    "ack_rate_employees": "Acknowledgement rate, employees",
    "ack_rate_associated": "Acknowledgement rate, associated persons",
    "violations_online": "Photo consent violations online",
    "violations_resolved": "Photo consent violations taken down",
    "median_takedown_days": "Median days to take a photo down",
    "quarantine_rows": "Input rows kept in quarantine",
    "report emails sent": "Report emails sent",
    "recipients": "Report recipients",
    # crawl coverage (compliance.photos.results.COVERAGE_KEYS) and the crawl's own counts
    "pages_found": "Pages found",
    "pages_crawled": "Pages read",
    "images_found": "Images found",
    "images_fetched": "Images fetched",
    "videos": "Videos",
    "pdfs_found": "PDFs found",
    "pdfs_read": "PDFs read",
    "refused_robots": "Refused: robots.txt",
    "refused_off_site": "Refused: off-site host",
    "refused_size": "Refused: too large",
    "refused_type": "Refused: content type",
    "refused_address": "Refused: blocked address",
    "refused_limit": "Refused: time or page limit",
    "refused_error": "Refused: errors",
    "seconds": "Crawl time (seconds)",
    # a campaign plan (compliance.campaign.CampaignPlan.summary)
    "individual_messages": "Individual messages",
    "group_messages": "Site-group messages (staff in Bcc)",
    "people_reached": "People reached by email",
    "print_list": "Paper copies to print",
    "resent": "Announced again on request",
}

# Why a campaign plan leaves a person out (compliance.campaign.SkipReason).
SKIP_REASONS: Mapping[str, str] = {
    "leaver": "Left the district",
    "already_acknowledged": "Already acknowledged this policy version",
    "already_announced": "Already announced by another campaign",
    "paper_only": "Paper only (gets a printed copy)",
    "no_valid_email": "No usable email address (gets a printed copy)",
    "unsafe_name": "Name unusable in an email header (row quarantined)",
}

# The nightly's steps (the keys of flows.nightly's results), as the run's summary names them.
STEPS: Mapping[str, str] = {
    "roster": "Roster",
    "policy": "Policy document",
    "acknowledgements": "Acknowledgements",
    "bounces": "Bounced mail",
    "follow-up": "Reminders and escalation",
    "incidents": "Incident reports",
    "students": "Students",
    "consent": "Consent forms",
    "crawl": "Website crawl",
    "photos": "Photo consent",
    "social": "Social media",
    "takedown": "Takedown requests",
    "mail": "Mail",
    "ledger": "Evidence ledger",
    "reports": "Incident reports",
}

DRY_RUN_MARKER = "DRY RUN: a plan only, nothing was sent and nothing was changed"
REAL_RUN_MARKER = "REAL RUN: messages were queued and sent"
NOT_YET = "none yet"
NO_SITE = "(none)"  # how a plan's counts by site key the people with no site


def label(key: str) -> str:
    """People's word for a count's key: the table above, else the key in words with a capital letter."""
    known = LABELS.get(key)
    if known:
        return known
    words = key.replace("_", " ").strip()
    words = re.sub(r"\byoutube\b", "YouTube", words[:1].upper() + words[1:], flags=re.I)
    return words


def percent(fraction: float | None) -> str:
    """0.553009 -> "55.3%"; None (nobody to count) -> "none yet"."""
    return NOT_YET if fraction is None else f"{fraction * 100:.1f}%"


def number(key: str, value: object) -> str:
    """A count as people read it: thousands separated, fractions as percentages, no "None", yes/no flags."""
    if value is None:
        return NOT_YET
    if isinstance(value, bool):
        return "yes" if value else "no"
    if key in PERCENT_KEYS and isinstance(value, int | float):
        return percent(float(value))
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.1f}"
    return str(value)


def site_label(site_id: str | None, names: Mapping[str, str]) -> str:
    """ "Lincoln Elementary School (lincoln-es)": the name people know, the id the profile uses."""
    if not site_id or site_id == NO_SITE:
        return "No site"
    name = names.get(site_id)
    return f"{name} ({site_id})" if name and name != site_id else site_id


def drive_link(file_id: str) -> str:
    """The Drive address of a file (what its webViewLink is): people open a link, they cannot use an id."""
    return f"https://drive.google.com/file/d/{file_id}/view"


def run_marker(dry_run: bool) -> str:
    """First line of every campaign artifact: which kind of run this was, readable in a list of runs."""
    return DRY_RUN_MARKER if dry_run else REAL_RUN_MARKER


def dry_run_name(name: str) -> str:
    """A dry run's campaign name (never stored): the name with the marker, no timestamp to decode."""
    return f"DRY RUN — {name}"


def cell(value: object) -> str:
    """Text safe in a markdown table cell (a | or a line break would split the row)."""
    return str(value).replace("|", "\\|").replace("\n", " ")


def counts_table(counts: Mapping[str, object], *, what: str = "What", count: str = "Count") -> list[str]:
    """Markdown lines of a two-column table of labelled counts."""
    lines = [f"| {what} | {count} |", "| --- | ---: |"]
    lines += [f"| {cell(label(k))} | {cell(number(k, v))} |" for k, v in counts.items()]
    return lines


def step_table(results: Mapping[str, Mapping[str, object]]) -> list[str]:
    """Markdown lines of the detail table of a run with steps: step, what, count (one row per count)."""
    lines = ["| Step | What | Count |", "| --- | --- | ---: |"]
    for step, counts in results.items():
        name = STEPS.get(step, label(step))
        for key, value in counts.items():
            lines.append(f"| {cell(name)} | {cell(label(key))} | {cell(number(key, value))} |")
    return lines


def summary_markdown(
    title: str,
    headline: Sequence[str],
    *,
    marker: str | None = None,
    notes: Sequence[str] = (),
    links: Sequence[tuple[str, str]] = (),
    details: Sequence[str] = (),
    details_title: str = "Details",
    output: str | None = None,
) -> str:
    """One artifact, read top down: the marker, the title, what a reader must not miss, a few headline lines,
    links (text, address), then the detail table under its own heading and where the output is."""
    lines = [f"**{cell(marker)}**", ""] if marker else []
    lines += [f"## {title}", ""]
    lines += [f"**{cell(note)}**" for note in notes]
    if notes:
        lines.append("")
    lines += [f"- {line}" for line in headline]
    if links:
        lines += ["", *(f"- [{cell(text)}]({address})" for text, address in links)]
    if details:
        lines += ["", f"### {details_title}", "", *details]
    if output:
        lines += ["", f"Output: `{output}`"]
    return "\n".join(lines)


def labelled_rows(
    rows: Iterable[Mapping[str, object]], site_names: Mapping[str, str]
) -> list[dict[str, str]]:
    """Table artifact rows with labelled columns, formatted numbers and "Name (id)" in the site column."""
    out = []
    for row in rows:
        shown: dict[str, str] = {}
        for key, value in row.items():
            if key == "site":
                shown["Site"] = site_label(value if isinstance(value, str) else None, site_names)
            else:
                shown[label(key)] = number(key, value)
        out.append(shown)
    return out


def _n(count: int, singular: str, plural: str | None = None) -> str:
    return f"{count:,} {singular if count == 1 else (plural or singular + 's')}"


def nightly_headline(results: Mapping[str, Mapping[str, object]]) -> list[str]:
    """The few lines of a nightly run a person reads first; the detail table holds every count."""
    def get(step: str, key: str) -> int:
        value = results.get(step, {}).get(key, 0)
        return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0

    lines = []
    if "roster" in results:
        unchanged = " (roster unchanged since last night)" if get("roster", "roster unchanged") else ""
        lines.append(f"Roster: {_n(get('roster', 'people'), 'person', 'people')}, "
                     f"{get('roster', 'joined'):,} joined, {get('roster', 'left'):,} left{unchanged}")
    if "acknowledgements" in results:
        lines.append(f"Acknowledgements recorded: {get('acknowledgements', 'recorded'):,} from the forms, "
                     f"{get('acknowledgements', 'paper rows recorded'):,} from the paper binder; "
                     f"{get('acknowledgements', 'refused'):,} refused (in quarantine)")
    if "follow-up" in results:
        lines.append(f"Reminders queued: {get('follow-up', 'reminders'):,}; "
                     f"{get('follow-up', 'outstanding'):,} people have not acknowledged yet")
    if "crawl" in results:
        held = get("crawl", "held sites")
        lines.append(f"Websites: {get('crawl', 'pages'):,} pages read" + (f", {_n(held, 'site')} held" if held else ""))
    if "photos" in results:
        lines.append(f"Photo consent: {_n(get('photos', 'violations'), 'violation')} online, "
                     f"{get('photos', 'new findings'):,} new findings, {get('photos', 'needs review'):,} to review")
    if "takedown" in results:
        lines.append(f"Takedown requests to site administrators: {get('takedown', 'takedown digests'):,}, "
                     f"reminders {get('takedown', 'takedown reminders'):,}")
    if "mail" in results:
        waiting = get("mail", "deferred to a later window") + get("mail", "to retry later")
        lines.append(f"Mail: {get('mail', 'sent'):,} sent, {get('mail', 'failed'):,} failed, "
                     f"{waiting:,} waiting for a later window or a retry")
    return lines


def steps_headline(results: Mapping[str, Mapping[str, object]], steps: Sequence[str]) -> list[str]:
    """One line per step, "Step: 3 what, 0 other": for short runs whose every count is worth a glance."""
    return [
        f"{STEPS.get(step, label(step))}: "
        + ", ".join(f"{number(k, v)} {label(k)[:1].lower() + label(k)[1:]}" for k, v in results[step].items())
        for step in steps
        if results.get(step)
    ]


def plan_headline(summary: Mapping[str, object], site_count: int) -> list[str]:
    """A campaign plan's first lines: who it reaches, who gets paper, who is skipped, how long sending takes."""
    quota = summary.get("quota")
    quota = quota if isinstance(quota, Mapping) else {}
    skipped = summary.get("skipped")
    skipped = skipped if isinstance(skipped, Mapping) else {}
    skipped_text = "; ".join(f"{SKIP_REASONS.get(str(k), label(str(k)))}: {int(v):,}" for k, v in skipped.items())
    group = int(summary.get("group_messages") or 0)
    channel = summary.get("staff_channel")
    staff = ("staff get one message per site (Bcc)" if channel == "site_group" else "everyone gets their own message")
    return [
        # The Drive revision id means nothing to a reader: "policy version 1 (AR 1114 ..., revision 1WhF...)".
        f"Policy: {re.sub(r', revision [^),]+', '', str(summary.get('policy_version', 'the newest version')))}",
        f"People reached by email: {int(summary.get('people_reached') or 0):,} at {_n(site_count, 'site')} "
        f"({int(summary.get('individual_messages') or 0):,} individual messages, {group:,} site-group messages; "
        f"{staff})",
        f"Paper copies to print: {int(summary.get('print_list') or 0):,}",
        f"Left out: {skipped_text or 'nobody'}",
        f"Sending needs {_n(int(quota.get('days') or 0), 'day')} of Gmail quota with "
        f"{_n(int(quota.get('senders') or 0), 'sender mailbox', 'sender mailboxes')}, about "
        f"{_n(int(quota.get('sending_minutes') or 0), 'minute')} of sending",
        f"Deadline to acknowledge: {summary.get('deadline')}",
    ]


def plan_site_rows(by_site: Mapping[str, int], site_names: Mapping[str, str]) -> list[dict[str, str]]:
    """The plan's people by site, named, most first (the detail table under the plan)."""
    ordered = sorted(by_site.items(), key=lambda item: (-item[1], site_label(item[0] or None, site_names)))
    return [{"Site": site_label(site or None, site_names), "People": f"{n:,}"} for site, n in ordered]


def report_headline(summary: Mapping[str, object]) -> list[str]:
    """The superintendent report's first lines, as the workbook's Summary sheet words them."""
    def count(key: str) -> str:
        return number(key, summary.get(key))

    median = summary.get("median_takedown_days")
    return [
        f"Acknowledgement rate: {percent(summary.get('ack_rate'))} ({count('acknowledged')} of "  # type: ignore[arg-type]
        f"{count('active_people')} people; {count('outstanding')} not yet)",
        f"Photo consent violations online: {count('violations_online')}; taken down so far: "
        f"{count('violations_resolved')}",
        "Median days to take a photo down: "
        + (f"{float(median):.1f}" if isinstance(median, int | float) else "none taken down yet"),
        f"Input rows kept in quarantine: {count('quarantine_rows')}",
    ]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "campaign"


def print_list_filename(campaign: str, day: date) -> str:
    """``print-list-ar-1114-2026-27-2026-12-01.xlsx`` (a dry run's name starts "DRY RUN", so its file's does):
    a name for people, with no personal data."""
    slug = _slug(campaign)
    return f"print-list-{slug}.xlsx" if slug.endswith(day.isoformat()) else f"print-list-{slug}-{day.isoformat()}.xlsx"


def category_words(category: str) -> str:
    """A person category as the print list and tables show it."""
    return category_label(category)
