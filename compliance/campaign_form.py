"""The campaign form central office fills in (the Prefect UI's "Custom run"), as plain typed values.

The form is flat: each field is one labelled flow parameter, with a default instead of a "none" toggle.
Sites and categories are choices generated from the district profile when the deployment is made (the
site's name with its id, the category's English label), so nobody types an id. :func:`parameters_from_form`
turns the choices back into :class:`~compliance.campaign.CampaignParameters`, the domain object planning
reads; :func:`check_plan` makes a plan that reaches nobody an error saying what to change.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

from compliance.campaign import Audience, CampaignParameters
from compliance.consent import school_year_of
from compliance.errors import ConfigurationError
from compliance.settings import Settings
from compliance.vocabulary import PersonCategory

POLICY_CODE = "AR 1114"
# What the form's fields are called on screen (Prefect titles a parameter with its name otherwise).
TITLES: dict[str, str] = {
    "dry_run": "Dry run: plan only, send nothing",
    "campaign_name": "Campaign name (blank: policy title and date)",
    "sites": "Only these sites (none chosen: every site)",
    "categories": "Only these people (none chosen: everyone)",
    "include_already_acknowledged": "Also send to people who already acknowledged",
    "language": "Message language (a person's own preference wins)",
    "deadline_days": "Days people have to acknowledge",
    "policy_version": "Policy version number (0: the newest)",
    "policy_revision": "The policy text changed: does everyone acknowledge again?",
    "decided_by": "Who decided that (name or email)",
    "resend_announced": "Send again to people already announced this version",
}
REVISIONS: dict[str, str] = {
    "": "No change to decide",
    "material": "Material: everyone acknowledges again",
    "editorial": "Editorial: no new acknowledgement",
}
LANGUAGES: dict[str, str] = {"en": "English", "es": "Spanish (Español)"}


class CampaignSetupError(ConfigurationError):
    """The campaign as asked for cannot reach anyone (unknown site, empty roster, nobody planned)."""


def site_label(site_id: str, name: str) -> str:
    """How a site is offered on the form: its name, with the id people see in the workbook."""
    return f"{name} ({site_id})"


def site_choices(settings: Settings) -> type[StrEnum]:
    """The profile's sites as a choice list (values are the labels the form shows)."""
    return StrEnum("Site", {site.id: site_label(site.id, site.name) for site in settings.sites})  # type: ignore[return-value]


def category_choices() -> type[StrEnum]:
    """Person categories by their English label ("Walk-on coach", not ``walk_on_coach``)."""
    return StrEnum("PersonCategoryChoice", {c.value: c.label("en") for c in PersonCategory})  # type: ignore[return-value]


def revision_choices() -> type[StrEnum]:
    """How central office answers a pending policy revision, in words."""
    return StrEnum("PolicyRevision", {code or "none": label for code, label in REVISIONS.items()})  # type: ignore[return-value]


def language_choices() -> type[StrEnum]:
    """Message languages by name."""
    return StrEnum("MessageLanguage", LANGUAGES)  # type: ignore[return-value]


def _code(choice: Any, by_label: Mapping[str, str], what: str, fix: str) -> str:
    value = getattr(choice, "value", choice)
    if value in by_label.values():  # an id typed where the label was expected (CLI, scripts)
        return value
    if value not in by_label:
        raise CampaignSetupError(f"unknown {what} {value!r}: {fix}")
    return by_label[value]


def parameters_from_form(
    settings: Settings,
    *,
    dry_run: bool = True,
    campaign_name: str = "",
    sites: Iterable[Any] = (),
    categories: Iterable[Any] = (),
    include_already_acknowledged: bool = False,
    language: Any = "English",
    deadline_days: int = 21,
    policy_version: int = 0,
    policy_revision: Any = "No change to decide",
    decided_by: str = "",
    resend_announced: bool = False,
) -> CampaignParameters:
    """The form's flat values (labels or ids) as campaign parameters; an unknown choice is a setup error."""
    site_ids = {site_label(s.id, s.name): s.id for s in settings.sites}
    category_codes = {c.label("en"): c.value for c in PersonCategory}
    languages = {label: code for code, label in LANGUAGES.items()}
    chosen_sites = [
        _code(s, site_ids, "site", f"choose one of the profile's sites ({', '.join(site_ids.values())})")
        for s in sites
    ]
    chosen_categories = [
        _code(c, category_codes, "category", "choose one of the person categories") for c in categories
    ]
    if chosen_sites and chosen_categories:
        raise CampaignSetupError(
            "a campaign is for some sites or some categories, not both: clear one of the two lists"
        )
    scope = "sites" if chosen_sites else "categories" if chosen_categories else "everyone"
    return CampaignParameters(
        name=campaign_name.strip() or None,
        audience=Audience(
            scope=scope,
            site_ids=chosen_sites,
            categories=chosen_categories,
            only_outstanding=not include_already_acknowledged,
        ),
        policy_version_id=policy_version or None,
        language=_code(language, languages, "language", "choose English or Spanish"),
        deadline_days=deadline_days,
        dry_run=dry_run,
        policy_revision=_code(policy_revision, {v: k for k, v in REVISIONS.items()}, "policy revision answer",
                              "choose material, editorial or no change") or None,
        decided_by=decided_by.strip() or None,
        resend_announced=resend_announced,
    )  # fmt: skip


def run_name(params: CampaignParameters, settings: Settings, now: datetime) -> str:
    """What a campaign run is called in run lists: "DRY RUN — AR 1114 2026-27, 3 sites"."""
    start, end = school_year_of(now.astimezone(settings.tz).date(), settings.district.school_year_start).split("-")
    audience = params.audience
    if audience.scope == "sites":
        n = len(audience.site_ids)
        who = f"{n} site{'s' if n != 1 else ''}"
    elif audience.scope == "categories":
        who = ", ".join(PersonCategory(c).label("en") for c in audience.categories)
    else:
        who = "everyone"
    title = params.name or f"{POLICY_CODE} {start}-{end[-2:]}"
    return f"{'DRY RUN' if params.dry_run else 'SEND'} — {title}, {who}"


def check_roster(people: int) -> None:
    """An empty roster plans a campaign to nobody: say to sync it first."""
    if people == 0:
        raise CampaignSetupError(
            "the roster is empty: run the nightly job (roster sync) first, then plan the campaign again"
        )


def check_plan(summary: Mapping[str, Any]) -> None:
    """A plan reaching nobody is an error naming the likely fix (it never completes as an empty success)."""
    if summary.get("people_reached", 0) or summary.get("print_list", 0):
        return
    skipped = summary.get("skipped") or {}
    if skipped and set(skipped) == {"already_acknowledged"}:
        fix = "everyone chosen has already acknowledged; tick 'Also send to people who already acknowledged' to resend"
    elif "already_announced" in skipped and set(skipped) <= {"already_acknowledged", "already_announced"}:
        fix = (
            "another campaign already announced this version to everyone chosen; "
            "tick 'Send again to people already announced' (CLI: --resend-announced) to resend"
        )
    elif skipped:
        fix = "everyone chosen was skipped (" + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in skipped.items())
        fix += "); check the roster's email addresses and the people chosen"
    else:
        fix = "no active person matches the sites or categories chosen; choose others or run the nightly job first"
    raise CampaignSetupError(f"the campaign plans 0 people: {fix}")
