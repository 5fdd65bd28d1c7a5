"""The vocabulary: values are the strings the store already holds; labels exist for every category and language."""

from __future__ import annotations

import pytest

from compliance.mail import LANGUAGES
from compliance.roster import map_category
from compliance.vocabulary import (
    CATEGORY_SYNONYMS,
    AckMethod,
    CampaignStatus,
    DeliveryKind,
    DeliveryStatus,
    FindingState,
    PersonCategory,
    PersonKind,
    Verdict,
    category_label,
    is_personal,
    reminder_kind,
    reminder_number,
)


def test_values_are_the_stored_strings() -> None:
    # Changing one of these changes what the database holds: it needs a data migration, not just an edit here.
    assert [str(k) for k in PersonKind] == ["employee", "associated"]
    assert [str(c) for c in PersonCategory] == [
        "employee", "committee_parent", "volunteer", "walk_on_coach", "consultant", "contractor", "vendor",
        "child_care_provider", "after_school_provider",
    ]
    assert [str(k) for k in DeliveryKind] == [
        "announcement", "announcement_group", "site_digest", "superintendent_escalation", "takedown_digest",
        "takedown_reminder", "compliance_report",
    ]
    assert [str(s) for s in DeliveryStatus] == ["pending", "sending", "sent", "failed", "bounced"]
    assert [str(s) for s in CampaignStatus] == ["dry_run", "planned", "sending"]
    assert [str(v) for v in Verdict] == ["violation", "ok", "needs_review"]
    assert [str(s) for s in FindingState] == ["new", "open", "resolved"]
    assert [str(m) for m in AckMethod] == ["form", "paper"]


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_category_has_a_label_in_every_language(language: str) -> None:
    labels = {c: c.label(language) for c in PersonCategory}
    assert all(labels.values()) and len(set(labels.values())) == len(labels)
    assert all(label != str(c) for c, label in labels.items())  # a label, not the stored value


def test_labels_follow_the_language_and_unknown_values_show_as_stored() -> None:
    assert category_label("walk_on_coach") == "Walk-on coach"
    assert category_label("walk_on_coach", "es") == "Entrenador/a externo/a"
    assert category_label("astronaut", "es") == "astronaut"
    assert PersonKind.ASSOCIATED.label == "Associated person" and FindingState.RESOLVED.label == "Taken down"


def test_categories_know_their_kind_and_synonyms_cover_every_associated_category() -> None:
    assert PersonCategory.EMPLOYEE.kind is PersonKind.EMPLOYEE
    assert {c.kind for c in PersonCategory.associated()} == {PersonKind.ASSOCIATED}
    assert set(CATEGORY_SYNONYMS) == set(PersonCategory.associated())
    for category, words in CATEGORY_SYNONYMS.items():
        assert map_category(words[0]) is category


def test_reminder_kinds_are_numbered() -> None:
    assert reminder_kind(2) == "reminder_2" and reminder_number("reminder_2") == 2
    assert reminder_number("announcement") is None and reminder_number("reminder_x") is None
    with pytest.raises(ValueError):
        reminder_kind(0)
    assert is_personal("announcement") and is_personal("reminder_1")
    assert not is_personal("announcement_group") and not is_personal("site_digest")


def test_incident_values_are_the_stored_strings_and_urgency_follows_the_agencies() -> None:
    from compliance.vocabulary import INCIDENT_KINDS, CaseCategory, CaseState, CaseStep

    assert [str(c) for c in CaseCategory] == [
        "threat", "images_of_minors", "suspected_abuse", "harassment", "misconduct", "other",
    ]
    assert [str(s) for s in CaseState] == ["open", "in_progress", "closed"]
    assert len({s.label for s in CaseStep}) == len(CaseStep) == 15
    assert {c for c in CaseCategory if c.urgent} == {
        CaseCategory.THREAT, CaseCategory.IMAGES_OF_MINORS, CaseCategory.SUSPECTED_ABUSE,
    }
    assert all(len(k) <= 30 for k in INCIDENT_KINDS)  # deliveries.kind is VARCHAR(30)
