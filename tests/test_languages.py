"""Every person in their language: the Directory custom schema (served by the emulator per projection, as the
Admin SDK does), the language column of a school's list, the SIS home language for parents on committees; a
Spanish campaign's messages and the Spanish policy text; the language version an acknowledgement records; the
fallback to English recorded when there is no translation. Emulator over HTTPS, real store, real files."""

from __future__ import annotations

import csv
import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import openpyxl
import pytest
from googleapiclient.errors import HttpError
from sqlalchemy import select

from compliance.campaign import CampaignParameters
from compliance.google.clients import GoogleClients
from compliance.languages import language_code, message_language
from compliance.models import Acknowledgement, Delivery, LedgerEvent, Person, PolicyVersion
from compliance.roster import normalize_email
from compliance.settings import get_settings
from compliance.store import Store
from emulator.district import LocalDistrict

pytestmark = pytest.mark.slow

START = datetime(2026, 9, 8, 16, 0, tzinfo=UTC)


def test_language_words_and_codes() -> None:
    assert [language_code(w) for w in ("Spanish", "Español", "es-MX", "SP", "01", "spa", " espanol ")] == ["es"] * 7
    assert [language_code(w) for w in ("English", "en", "00", "Inglés")] == ["en"] * 4
    # Another language, a blank, a placeholder: not a guess, the next source (or the campaign) decides.
    assert [language_code(w) for w in ("Vietnamese", "", None, "N/A", "s", "1")] == [None] * 6
    assert message_language("", "es") == "es" and message_language("en", "es") == "en"
    assert message_language("vi", "en") == "en" and message_language("es", "en") == "es"


def _people(db_url: str) -> dict[str, Person]:
    with Store(db_url).session() as s:
        return {p.email_normalized: p for p in s.scalars(select(Person).where(Person.active)) if p.email_normalized}


@pytest.fixture
def district(sample_dir: Path, sqlite_url: str, tmp_path: Path, prefect_harness: None):  # type: ignore[no-untyped-def]
    with LocalDistrict(sample_dir, sqlite_url, work_dir=tmp_path, sends_per_minute=6000) as d:
        d.emulator.admin.set_clock(START)
        yield d


def test_directory_serves_custom_schemas_per_projection(district: LocalDistrict) -> None:
    users = district.emulator.workspace.directory.users.values()
    speaker = next(u for u in users if (u.get("customSchemas") or {}).get("District", {}).get("preferred_language"))
    service = GoogleClients(get_settings()).directory()
    key = speaker["primaryEmail"]
    assert "customSchemas" not in service.users().get(userKey=key).execute()  # basic: no custom fields
    assert "customSchemas" not in service.users().get(userKey=key, projection="basic").execute()
    custom = service.users().get(userKey=key, projection="custom", customFieldMask="District").execute()
    assert custom["customSchemas"]["District"]["preferred_language"] == "es"
    other = service.users().get(userKey=key, projection="custom", customFieldMask="Payroll").execute()
    assert "customSchemas" not in other  # only the schemas the mask names
    full = service.users().get(userKey=key, projection="full").execute()
    assert full["customSchemas"] == speaker["customSchemas"]
    with pytest.raises(HttpError) as refused:
        service.users().get(userKey=key, projection="custom").execute()
    assert refused.value.resp.status == 400  # the mask is required with the custom projection
    page = service.users().list(customer="my_customer", projection="custom", customFieldMask="District",
                                query=f"email={key}").execute()
    assert page["users"][0]["customSchemas"]["District"]["preferred_language"] == "es"


def test_preferred_language_from_directory_lists_and_sis(district: LocalDistrict, sqlite_url: str,
                                                         sample_dir: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from tasks import resources
    from tasks.consent import sync_students
    from tasks.roster import sync_roster

    sync_roster.fn(START)
    people = _people(sqlite_url)

    # Directory: every active user whose custom schema says Spanish, counted from what the emulator holds.
    directory = {
        normalize_email(u["primaryEmail"]): u["customSchemas"]["District"]["preferred_language"]
        for u in district.emulator.workspace.directory.users.values()
        if not u.get("suspended") and (u.get("customSchemas") or {}).get("District", {}).get("preferred_language")
        and normalize_email(u["primaryEmail"]) in people
    }
    assert len(directory) >= 10
    assert {e: people[e].preferred_language for e in directory} == directory
    assert {people[e].language_source for e in directory} == {"directory"}

    # The bilingual list's "Idioma / Language" column, read here with openpyxl.
    listed: dict[str, str] = {}
    for path in sorted((sample_dir / "associated").glob("*.xlsx")):
        sheet = openpyxl.load_workbook(path, read_only=True).worksheets[0]
        rows = list(sheet.iter_rows(values_only=True))
        header = next((r for r in rows if r and "Idioma / Language" in r), None)
        if header is None:
            continue
        email_col, lang_col = header.index("Correo / Email"), header.index("Idioma / Language")
        for row in rows[rows.index(header) + 1:]:
            email = normalize_email(str(row[email_col] or ""))
            if email in people and email not in directory:
                listed[email] = {"Español": "es", "English": "en"}[row[lang_col]]
    assert "es" in listed.values() and "en" in listed.values()
    assert {e: people[e].preferred_language for e in listed} == listed
    assert all("[Lista]#" in people[e].language_source for e in listed)

    # The SIS home language reaches a parent on a committee whose own list names no language.
    with Store(sqlite_url).session() as s:
        parent = s.scalars(select(Person).where(Person.category == "committee_parent", Person.active,
                                                Person.email_normalized.is_not(None),
                                                Person.preferred_language == "")).first()
        assert parent is not None
        parent_email, parent_id = parent.email, parent.id
    with (sample_dir / "sis" / "students.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    sis = tmp_path / "students-with-families.csv"
    with sis.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow([*rows[0], "Home Language", "Parent Email"])
        writer.writerow([*rows[1], "Spanish", parent_email])
        writer.writerows([*r, "English", ""] for r in rows[2:])
    monkeypatch.setenv("DC_SIS_EXPORT", str(sis))
    resources.reset()
    counts = sync_students.fn(START)
    assert counts["parents given their home language"] == 1
    with Store(sqlite_url).session() as s:
        got = s.get(Person, parent_id)
        assert (got.preferred_language, got.language_source) == ("es", f"{sis} home language")
    # The next roster sync keeps it (the SIS is read from the store), and changes nobody else.
    assert sync_roster.fn(START + timedelta(days=1))["updated"] == 0
    with Store(sqlite_url).session() as s:
        assert s.get(Person, parent_id).preferred_language == "es"


def _sent_to(district: LocalDistrict, address: str) -> list[dict]:
    return [m for m in district.emulator.admin.mail() if address in (m.get("to") or "")]


def test_spanish_readers_get_spanish_messages_the_spanish_policy_and_it_is_recorded(
        district: LocalDistrict, sqlite_url: str) -> None:
    from flows.distribute_policy import run_campaign
    from flows.nightly import nightly

    nightly(now=START, crawl=False)
    result = run_campaign(CampaignParameters(name="AR 1114 fall", dry_run=False), START)
    assert result["queued"] > 0
    with Store(sqlite_url).session() as s:
        version = s.scalars(select(PolicyVersion)).one()
        spanish = version.translations["es"]
        deliveries = s.scalars(select(Delivery).where(Delivery.kind == "announcement")).all()
        by_person = {d.person_id: d for d in deliveries}
        speakers = s.scalars(select(Person).where(Person.preferred_language == "es", Person.active,
                                                  Person.paper_only.is_(False))).all()
        community = next(p for p in speakers if not p.has_district_account and p.id in by_person)
        english = next(p for p in s.scalars(select(Person).where(Person.preferred_language == "en",
                                                                 Person.has_district_account.is_(False)))
                       if p.id in by_person)
        assert {by_person[p.id].context["language"] for p in speakers if p.id in by_person} == {"es"}
        community_email, community_id = community.email, community.id
        english_email = english.email
    # The Spanish text is its own Doc and PDF, published beside the English one; the form names both.
    files = district.emulator.workspace.drive.files
    assert spanish["drive_file_id"] in files and spanish["pdf_file_id"] in files
    assert spanish["sha256"] != version.sha256
    form = district.emulator.admin.form(version.community_form_id)["form"]
    assert spanish["sha256"] in form["info"]["description"]

    [message] = _sent_to(district, community_email)
    assert message["subject"].startswith("Acción requerida") and spanish["drive_file_id"] in message["text"]
    assert version.drive_file_id not in message["text"]
    [english_message] = _sent_to(district, english_email)
    assert english_message["subject"].startswith("Action needed") and version.drive_file_id in english_message["text"]

    # The link pre-fills the language read; the acknowledgement and its ledger event record the Spanish text.
    link = next(w for w in message["text"].split() if "usp=pp_url" in w)
    with Store(sqlite_url).session() as s:
        person = s.get(Person, community_id)
        signed = f"{person.given_name} {person.family_name}"
    district.emulator.admin.submit_form_response(None, {version.form_questions["community"]["name"]: signed,
                                                        version.form_questions["community"]["agree"]:
                                                            form["items"][1]["questionItem"]["question"]
                                                            ["choiceQuestion"]["options"][0]["value"]},
                                                 respondent_email=community_email, prefilled_url=link,
                                                 timestamp=START + timedelta(days=1))
    nightly(now=START + timedelta(days=1, hours=10), crawl=False)
    with Store(sqlite_url).session() as s:
        ack = s.scalars(select(Acknowledgement).where(Acknowledgement.person_id == community_id)).one()
        assert ack.language == "es"
        event = s.scalars(select(LedgerEvent).where(LedgerEvent.event_key == f"ack:{ack.id}")).one()
        payload = json.loads(event.payload)
        assert payload["language"] == "es" and payload["translation_sha256"] == spanish["sha256"]


def test_without_a_translation_spanish_messages_link_the_english_text_and_say_so(
        sample_dir: Path, sqlite_url: str, tmp_path: Path, prefect_harness: None) -> None:
    from flows.distribute_policy import run_campaign
    from flows.nightly import nightly

    # The same district with no Spanish text in its profile.
    district_dir = tmp_path / "district"
    shutil.copytree(sample_dir, district_dir)
    profile = district_dir / "profile.toml"
    text = profile.read_text(encoding="utf-8")
    assert '[policy_translations]\nes = "policy/ar1114-policy.es.html"\n' in text
    profile.write_text(text.replace('[policy_translations]\nes = "policy/ar1114-policy.es.html"\n', ""),
                       encoding="utf-8")
    with LocalDistrict(district_dir, sqlite_url, work_dir=tmp_path / "work", sends_per_minute=6000) as district:
        district.emulator.admin.set_clock(START)
        nightly(now=START, crawl=False)
        run_campaign(CampaignParameters(name="AR 1114 fall", dry_run=False), START)
        with Store(sqlite_url).session() as s:
            version = s.scalars(select(PolicyVersion)).one()
            assert not version.translations
            rows = s.execute(select(Delivery.context, Person.email).join(Person, Person.id == Delivery.person_id)
                             .where(Delivery.kind == "announcement", Person.preferred_language == "es")).all()
        assert rows and {json.dumps(c, sort_keys=True) for c, _ in rows} == {
            json.dumps({"language": "es", "policy_language": "en"}, sort_keys=True)}
        [message] = _sent_to(district, rows[0][1])
        assert message["subject"].startswith("Acción requerida")
        assert version.drive_file_id in message["text"] and "solo está disponible en inglés" in message["text"]
