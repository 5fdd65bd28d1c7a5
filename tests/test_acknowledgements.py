"""Verification of Forms responses against the roster, before anything enters the evidence ledger."""

from datetime import UTC, datetime

from compliance.acknowledgements import (
    RosterEntry,
    VerifiedResponse,
    check_signed_name,
    name_matches,
    parse_time,
    verify_response,
)
from compliance.policy import FormQuestions
from compliance.quarantine import Rejected

STAFF = FormQuestions("staffform", "https://forms/staff", name="aaaa0001", agree="aaaa0002")
COMMUNITY = FormQuestions("commform", "https://forms/comm", name="bbbb0001", agree="bbbb0002", token="bbbb0003")
ANA = RosterEntry(1, "p-ana", "Ana María", "García-López", "ana.garcia@standard-sd.org", True)
BOB = RosterEntry(2, "p-bob", "Robert", "O'Brien", "bob.obrien@example.com", False)
PAPER = RosterEntry(3, "p-paper", "Lupe", "Ruiz", None, False)
BY_EMAIL = {"ana.garcia@standard-sd.org": ANA, "bob.obrien@example.com": BOB}
BY_TOKEN = {"tok-bob": (BOB, "t2"), "tok-paper": (PAPER, "t3")}


def response(q: FormQuestions, *, name=None, agree="I agree", token=None, email=None, rid="r1") -> dict:
    answers = {}
    for qid, value in ((q.name, name), (q.agree, agree), (q.token, token)):
        if qid and value is not None:
            answers[qid] = {"questionId": qid, "textAnswers": {"answers": [{"value": value}]}}
    out = {"responseId": rid, "answers": answers, "lastSubmittedTime": "2026-11-20T18:30:01.123456789Z"}
    if email is not None:
        out["respondentEmail"] = email
    return out


def check(q, resp, kind):
    return verify_response(resp, kind, q, by_email=BY_EMAIL, by_token=BY_TOKEN)


def test_staff_with_verified_email_and_name_variant() -> None:
    got = check(STAFF, response(STAFF, name="ana maria garcia lopez", email="Ana.Garcia@standard-sd.org"), "staff")
    assert isinstance(got, VerifiedResponse)
    assert (got.person_id, got.verified_email, got.token_id) == (1, "ana.garcia@standard-sd.org", None)
    assert got.submitted_at == datetime(2026, 11, 20, 18, 30, 1, 123456, tzinfo=UTC)


def test_staff_refusals_name_the_field() -> None:
    stranger = check(STAFF, response(STAFF, name="Ana Garcia Lopez", email="someone@gmail.com"), "staff")
    assert isinstance(stranger, Rejected) and stranger.field == "respondentEmail"
    wrong_name = check(STAFF, response(STAFF, name="Maria Torres", email="ana.garcia@standard-sd.org"), "staff")
    assert isinstance(wrong_name, Rejected) and wrong_name.field == "name"
    assert wrong_name.source_file == "forms:staffform" and wrong_name.sheet == "r1"
    no_agree = check(STAFF, response(STAFF, name="Ana García", agree=None, email="ana.garcia@standard-sd.org"), "staff")
    assert isinstance(no_agree, Rejected) and no_agree.field == "agree"


def test_community_token_email_and_name_cross_checked() -> None:
    ok = check(COMMUNITY, response(COMMUNITY, name="Bob O'Brien", token="tok-bob", email="BOB.OBRIEN@example.com"),
               "community")
    assert isinstance(ok, VerifiedResponse) and ok.token_id == "t2" and ok.verified_email is None
    forged = check(COMMUNITY, response(COMMUNITY, name="Bob O'Brien", token="tok-bo", email="bob.obrien@example.com"),
                   "community")
    assert isinstance(forged, Rejected) and forged.field == "token"
    borrowed = check(COMMUNITY, response(COMMUNITY, name="Bob O'Brien", token="tok-bob", email="eve@example.com"),
                     "community")
    assert isinstance(borrowed, Rejected) and borrowed.field == "respondentEmail"
    impostor = check(COMMUNITY, response(COMMUNITY, name="Eve Smith", token="tok-bob", email="bob.obrien@example.com"),
                     "community")
    assert isinstance(impostor, Rejected) and impostor.field == "name"
    # A person with no email on file (a paper-list volunteer given a link) is checked by token and name.
    paper = check(COMMUNITY, response(COMMUNITY, name="Guadalupe Ruiz", token="tok-paper", email="x@y.org"),
                  "community")
    assert isinstance(paper, VerifiedResponse) and paper.person_id == 3


def test_hostile_names_are_refused_or_kept_as_data() -> None:
    newline = check(STAFF, response(STAFF, name="Ana García\nBcc: x@evil", email="ana.garcia@standard-sd.org"), "staff")
    assert isinstance(newline, Rejected) and "control" in newline.reason
    script = check(STAFF, response(STAFF, name="<script>alert(1)</script>", email="ana.garcia@standard-sd.org"),
                   "staff")
    assert isinstance(script, Rejected) and script.raw_value == "<script>alert(1)</script>"


def test_name_matching_rules() -> None:
    assert name_matches("Robert Garcia Lopez", "Bobby", "García-López")
    assert name_matches("bobby garcía lópez", "Robert", "Garcia Lopez")
    assert name_matches("Roberto Garcia", "Roberto", "García López")  # one of two surnames (issue 13)
    assert name_matches("Roberto Lopez", "Roberto", "García López")
    assert not name_matches("García López", "Roberto", "García López")  # no given name
    assert not name_matches("Roberto Smith", "Roberto", "García López")  # no roster surname


def test_signed_name_variants_are_accepted() -> None:
    accepted = [
        ("Bobby Garcia Lopez", "Roberto", "García López"),  # English nickname of the Spanish form
        ("Beto García", "Roberto", "García López"),  # Spanish hypocorism, one surname
        ("Roberto J. Garcia Lopez", "Roberto José", "García López"),  # middle initial
        ("Roberto Jose Garcia", "Roberto José", "García López"),  # middle name, accent dropped
        ("MARÍA DE LA ROSA", "Maria", "de la Rosa"),  # particles, case, accents
        ("Mr. Thomas O'Brien Jr.", "Tom", "OBrien"),  # honorific, suffix, apostrophe, nickname
        ("Ana Garcia-Lopez", "Ana", "García López"),  # hyphenated
    ]
    for signed, given, family in accepted:
        assert check_signed_name(signed, [(given, family)]).accepted, signed
    # A preferred name the person goes by is a variant too.
    assert check_signed_name("Sam Rivera", [("Samantha", "Rivera Ortiz"), ("Sam", "Rivera")]).accepted


def test_proxy_signatures_and_other_names_go_to_review_with_the_reason() -> None:
    cases = {
        ("Ann Baker signing for Tom Chen", "Ann", "Baker"): "signing for",
        ("Ann Baker signing for Tom Chen", "Tom", "Chen"): "signing for",
        ("Maria Lopez on behalf of Jose Lopez", "Maria", "Lopez"): "on behalf of",
        ("Rosa Diaz en nombre de Luis Diaz", "Luis", "Diaz"): "en nombre de",
        ("Tom Chen", "Ann", "Chen"): "given name is not this person's",
        ("Ann Baker", "Ann", "Chen"): "surname",
        ("Ann Baker Smith", "Ann", "Baker"): "words that are not this person's name",
    }
    for (signed, given, family), why in cases.items():
        check = check_signed_name(signed, [(given, family)])
        assert not check.accepted and check.reason.startswith("needs review") and why in check.reason, signed


def test_a_proxy_signature_on_the_form_is_quarantined_for_review_not_recorded() -> None:
    proxy = check(COMMUNITY, response(COMMUNITY, name="Bob O'Brien signing for Eve Smith", token="tok-bob",
                                      email="bob.obrien@example.com"), "community")
    assert isinstance(proxy, Rejected) and proxy.field == "name" and "signing for" in proxy.reason
    own = check(COMMUNITY, response(COMMUNITY, name="Bob O'Brien", token="tok-bob", email="bob.obrien@example.com"),
                "community")
    assert isinstance(own, VerifiedResponse)
    assert parse_time("2026-11-20T18:30:01Z") == datetime(2026, 11, 20, 18, 30, 1, tzinfo=UTC)
