"""The campaign's run form as the API keeps it: flat labelled fields, choices from the district profile,
unknown fields refused; and the values it gives turned into campaign parameters (or a setup error)."""

from __future__ import annotations

from datetime import UTC, datetime

import jsonschema
import pytest

from compliance.campaign import Audience, CampaignParameters
from compliance.campaign_form import (
    CampaignSetupError,
    check_plan,
    check_roster,
    parameters_from_form,
    run_name,
)
from compliance.errors import ConfigurationError
from compliance.settings import get_settings
from compliance.shell.deployments import JOBS, parameter_form
from compliance.vocabulary import PersonCategory


@pytest.fixture(scope="module")
def form() -> dict:
    return parameter_form(next(job for job in JOBS if job.name == "campaign"))


def _resolve(form: dict, prop: dict) -> dict:
    ref = prop.get("$ref") or prop.get("items", {}).get("$ref")
    return form["definitions"][ref.rsplit("/", 1)[1]] if ref else prop


def test_form_is_flat_labelled_and_without_toggles(form: dict) -> None:
    props = form["properties"]
    assert set(props) == {
        "dry_run", "campaign_name", "sites", "categories", "include_already_acknowledged", "language",
        "deadline_days", "policy_version", "policy_revision", "decided_by", "resend_announced",
    }  # fmt: skip
    assert "now" not in props and "params" not in props
    assert form["additionalProperties"] is False
    assert form.get("required", []) == []  # every field has a default: the form runs as it opens
    for name, prop in props.items():
        assert prop["title"] != name and " " in prop["title"], name  # a label, not the Python name
        assert prop.get("description"), name
        assert "anyOf" not in prop and "oneOf" not in prop, name  # no "str / None" toggle
    assert props["dry_run"]["default"] is True


def test_sites_and_categories_are_choices_from_the_profile(form: dict) -> None:
    settings = get_settings()
    sites = _resolve(form, form["properties"]["sites"])["enum"]
    assert sites == [f"{s.name} ({s.id})" for s in settings.sites]
    categories = _resolve(form, form["properties"]["categories"])["enum"]
    assert categories == [c.label("en") for c in PersonCategory]
    assert "walk_on_coach" not in categories and "Walk-on coach" in categories


def test_the_api_refuses_unknown_fields_and_unknown_choices(form: dict) -> None:
    jsonschema.validate({"dry_run": False, "sites": ["Lincoln Elementary School (lincoln-es)"]}, form)
    for bad in ({"dryrun": True}, {"sites": ["lincoln"]}, {"deadline_days": 0}, {"params": {"dry_run": True}}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, form)


def test_form_values_become_campaign_parameters() -> None:
    settings = get_settings()
    params = parameters_from_form(
        settings, dry_run=False, campaign_name="  Fall  ",
        sites=["Lincoln Elementary School (lincoln-es)", "roosevelt-es"],
        language="Spanish (Español)", include_already_acknowledged=True,
    )  # fmt: skip
    assert params == CampaignParameters(
        name="Fall",
        audience=Audience(scope="sites", site_ids=["lincoln-es", "roosevelt-es"], only_outstanding=False),
        language="es",
        dry_run=False,
    )
    by_category = parameters_from_form(settings, categories=["Walk-on coach"])
    assert by_category.audience.categories == ["walk_on_coach"] and by_category.dry_run is True
    assert parameters_from_form(settings).audience.scope == "everyone"


def test_unknown_site_and_sites_with_categories_say_the_fix() -> None:
    settings = get_settings()
    with pytest.raises(CampaignSetupError, match="unknown site 'nowhere-es': choose one of .*lincoln-es"):
        parameters_from_form(settings, sites=["nowhere-es"])
    with pytest.raises(ConfigurationError, match="not both"):
        parameters_from_form(settings, sites=["lincoln-es"], categories=["Volunteer"])


def test_empty_roster_and_empty_plan_are_errors_with_the_fix() -> None:
    with pytest.raises(CampaignSetupError, match="roster is empty: run the nightly job"):
        check_roster(0)
    check_roster(1)
    with pytest.raises(CampaignSetupError, match="0 people: everyone chosen has already acknowledged"):
        check_plan({"people_reached": 0, "print_list": 0, "skipped": {"already_acknowledged": 4}})
    with pytest.raises(CampaignSetupError, match="0 people: no active person matches"):
        check_plan({"people_reached": 0, "print_list": 0, "skipped": {}})
    check_plan({"people_reached": 0, "print_list": 2, "skipped": {"paper_only": 2}})  # paper copies: a plan


def test_run_is_named_for_what_it_is() -> None:
    settings = get_settings()
    fall = datetime(2026, 9, 1, 17, tzinfo=UTC)
    three = parameters_from_form(settings, sites=["lincoln-es", "roosevelt-es", "washington-ms"])
    assert run_name(three, settings, fall) == "DRY RUN — AR 1114 2026-27, 3 sites"
    real = parameters_from_form(settings, dry_run=False, categories=["Volunteer"])
    assert run_name(real, settings, datetime(2027, 3, 1, tzinfo=UTC)) == "SEND — AR 1114 2026-27, Volunteer"
    named = CampaignParameters(name="Spring reminder", dry_run=False)
    assert run_name(named, settings, fall) == "SEND — Spring reminder, everyone"


def test_the_flow_itself_refuses_unknown_parameters() -> None:
    from prefect.exceptions import SignatureMismatchError

    from flows.distribute_policy import distribute_policy

    assert distribute_policy.validate_parameters({"dry_run": False})["dry_run"] is False
    with pytest.raises(SignatureMismatchError):
        distribute_policy.validate_parameters({"dryrun": False})


def test_progress_line_estimates_from_the_measured_pace() -> None:
    from tasks.artifacts import progress_line

    assert progress_line(0, 700, 0.0) == "sent 0 of 700 (0%)"
    assert progress_line(300, 700, 150.0) == (
        "sent 300 of 700 (42%) at 120 a minute measured; about 3 minute(s) left"
    )
    assert progress_line(700, 700, 350.0).endswith("; done")
    assert progress_line(690, 700, 60.0).endswith("; under a minute left")


def test_runs_of_the_other_jobs_are_named_for_what_they_are() -> None:
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from compliance.run_names import nightly_run_name, report_run_name, site_audit_run_name

    la = ZoneInfo("America/Los_Angeles")
    start = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)  # 02:00 in the district
    assert nightly_run_name({}, start, la) == "Nightly 2026-12-01 — websites included"
    roster_only = "Nightly 2026-12-01 — roster, acknowledgements and mail only"
    assert nightly_run_name({"crawl": False}, start, la) == roster_only
    replay = {"now": "2026-09-02T09:00:00+00:00"}
    assert nightly_run_name(replay, start, la) == "Nightly 2026-09-02 — websites included (replay)"
    assert report_run_name({}, datetime(2026, 12, 1, 2, 0, tzinfo=UTC), la) == "Compliance report 2026-11-30"
    assert site_audit_run_name({"site_ids": ["a", "b"]}) == "Site audit: a, b"
    assert site_audit_run_name({"site_ids": list("abcde")}) == "Site audit: a, b, c and 2 more"
