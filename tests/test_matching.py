"""Name matching: every written form of a student's name, every distractor class, scope and accuracy."""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path

import pytest

from compliance.photos.matching import (
    IDENTIFIED,
    MAX_AMBIGUOUS,
    REVIEW,
    Match,
    NameIndex,
    StudentName,
    build_index,
    fold,
    load_evaluation_set,
    precision_recall,
)

SITE = "lincoln-es"
OTHER = "washington-ms"

ROSTER = [
    StudentName("S001", "María José", "García López", site_id=SITE),
    StudentName("S002", "Ana", "Ruiz", site_id=SITE),
    StudentName("S003", "Benjamin", "Cho", preferred_first="Ben", site_id=SITE),
    StudentName("S004", "Carla", "Díaz", site_id=SITE),
    StudentName("S005", "Robert", "Smith", site_id=SITE),
    StudentName("S006", "Grace", "Park", site_id=SITE),
    StudentName("S007", "Liam", "O'Brien", site_id=SITE),
    StudentName("S008", "José", "Hernández", site_id=SITE),
    StudentName("S009", "Katherine", "Nguyen-Tran", site_id=SITE),
    StudentName("S010", "May", "Johnson", site_id=SITE),
    StudentName("S011", "Hope", "Williams", site_id=SITE),
    StudentName("S012", "William", "Brown", site_id=SITE),
    StudentName("S013", "Cesar", "Chavez", site_id=SITE),
    StudentName("S014", "Jonathan", "Lincoln", site_id=SITE),
    StudentName("S015", "Maribel", "Washington", site_id=SITE),
    StudentName("S016", "Esperanza", "Villanueva", site_id=SITE),
    StudentName("S017", "Luis Miguel", "Ortega", site_id=SITE),
    StudentName("S018", "Thomas", "Anderson", site_id=SITE),
    # Same written name at another school: the site decides.
    StudentName("S101", "Ana", "Ruiz", site_id=OTHER),
    StudentName("S102", "Daniel", "Kim", site_id=OTHER),
    StudentName("S103", "Carla", "Mendoza", site_id=OTHER),
]
STAFF = ["Tom Lee", "Patricia Gomez", "Daniel Kim"]
PLACES = ["Lincoln Elementary School", "Washington Middle School", "Cesar Chavez", "Lincoln Park"]


@pytest.fixture(scope="module")
def index() -> NameIndex:
    return build_index(ROSTER, distractors=STAFF + PLACES)


def found(index: NameIndex, text: str, site: str | None = SITE) -> dict[str, Match]:
    return {m.student_id: m for m in index.find({"caption": text}, site)}


def identified(index: NameIndex, text: str, site: str | None = SITE) -> set[str]:
    return {sid for sid, m in found(index, text, site).items() if m.confidence >= IDENTIFIED}


# -- variants ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "student", "form"),
    [
        ("Ana Ruiz shows her volcano.", "S002", "full"),
        ("ANA RUIZ at the science fair", "S002", "full"),
        ("María José García López won first place", "S001", "full"),
        ("Maria Garcia won first place", "S001", "full"),  # accents dropped, first surname only
        ("María García-López won first place", "S001", "full"),  # hyphen instead of space
        ("Maria J. Garcia at the podium", "S001", "full"),  # middle initial
        ("Maria Jose Garcia Lopez", "S001", "full"),
        ("Katherine Nguyen Tran reads aloud", "S009", "full"),  # hyphenated surname written with a space
        ("Luis Miguel Ortega scores", "S017", "full"),  # compound first name
        ("Luis Ortega scores", "S017", "full"),
        ("Ruiz, Ana - 3rd grade", "S002", "last_first"),
        ("García López, María José", "S001", "last_first"),
        ("Ana R. presents her project", "S002", "initial"),
        ("Liam O'Brien's robot", "S007", "full"),  # possessive on an apostrophe surname
        ("Liam O’Brien with his robot", "S007", "full"),  # typographic apostrophe
        ("Liam OBrien with his robot", "S007", "full"),
        ("Ana Ruiz's volcano erupts", "S002", "full"),
        ("Bobby Smith pitches", "S005", "nickname"),  # nicknames dataset: bobby -> robert
        ("Kate Nguyen-Tran", "S009", "nickname"),
        ("Pepe Hernandez in the spelling bee", "S008", "nickname"),  # Spanish hypocorism
        ("Ben Cho", "S003", "full"),  # preferred name from the SIS
        ("Benjamin Cho", "S003", "full"),
        ("Esperanza Vilanueva at the fair", "S016", "fuzzy"),  # one letter missing, 10-letter surname
        ("Esperansa Villanueva at the fair", "S016", "fuzzy"),  # one substitution in the first name
        ("Thomas Andersno", "S018", "fuzzy"),  # transposition
    ],
)
def test_variants(index: NameIndex, text: str, student: str, form: str) -> None:
    matches = found(index, text)
    assert student in matches, text
    assert matches[student].form == form
    assert matches[student].confidence >= IDENTIFIED
    assert set(matches) == {student}, f"{text!r} also matched {set(matches) - {student}}"


def test_file_name_words(index: NameIndex) -> None:
    matches = index.find({"filename": "maria garcia lopez science fair", "alt": "Science fair"}, SITE)
    assert [(m.student_id, m.source) for m in matches] == [("S001", "filename")]
    assert matches[0].confidence >= 0.95


def test_list_of_names(index: NameIndex) -> None:
    text = "Left to right: Ana Ruiz, Ben Cho and Carla Diaz; back row Robert Smith."
    assert identified(index, text) == {"S002", "S003", "S004", "S005"}
    m = found(index, text)
    assert m["S004"].matched_text == "Carla Diaz"
    assert "Carla Diaz" in m["S004"].snippet


def test_roster_order_list_does_not_invent_people(index: NameIndex) -> None:
    # "Ruiz, Ben" would read as "Ben Ruiz" if lists were mistaken for "Last, First".
    text = "Ana Ruiz, Ben Cho"
    assert identified(index, text) == {"S002", "S003"}


def test_lone_first_name_needs_context(index: NameIndex) -> None:
    possessive = found(index, "Esperanza's poster won a ribbon.")
    assert possessive["S016"].form == "first_only"
    assert REVIEW <= possessive["S016"].confidence < IDENTIFIED
    assert found(index, "Congratulations to Esperanza!")["S016"].form == "first_only"
    assert found(index, "Esperanza")["S016"].confidence < IDENTIFIED  # the whole alt text
    # No name-like context: nothing.
    assert "S016" not in found(index, "The word Esperanza means hope in Spanish.")
    # Not unique at the site (two students called Carla? no: Carla is unique here, Ana is unique too) -> the
    # district-wide search never accepts a lone first name.
    assert "S016" not in found(index, "Esperanza's poster", site=None)


def test_lone_first_name_not_unique_at_site() -> None:
    roster = [StudentName("A", "Ana", "Ruiz", site_id=SITE), StudentName("B", "Ana", "Lopez", site_id=SITE)]
    ix = build_index(roster)
    assert ix.find({"caption": "Ana's drawing"}, SITE) == []
    assert [m.student_id for m in ix.find({"caption": "Ana's drawing"}, OTHER)] == []


# -- distractors ------------------------------------------------------------------------------------------


def test_staff_names_are_not_students(index: NameIndex) -> None:
    # Daniel Kim is a student at the other school and a teacher here.
    assert found(index, "Mr. Daniel Kim teaches fractions", site=OTHER) == {}
    assert found(index, "Coach Ben Cho", site=SITE) == {}
    same_name = found(index, "Daniel Kim at the fair", site=OTHER)
    assert same_name["S102"].confidence <= 0.5  # also a staff name: a human decides


@pytest.mark.parametrize(
    "text",
    [
        "Field day at Lincoln Park",
        "Visit from Washington Middle School",
        "Assembly at Cesar Chavez Elementary",
        "Grace Park Elementary choir",
        "Jonathan Lincoln Park cleanup day",
        "Welcome to Lincoln Elementary School!",
    ],
)
def test_place_names_are_not_students(index: NameIndex, text: str) -> None:
    assert identified(index, text) == set()


def test_place_name_equal_to_student_name_needs_review(index: NameIndex) -> None:
    m = found(index, "Cesar Chavez reads his essay")
    assert REVIEW <= m["S013"].confidence <= 0.5


@pytest.mark.parametrize(
    "text",
    [
        "May the best team win!",
        "We hope to see you in May.",
        "Students will present their projects.",
        "Will you join us?",
        "Grace under pressure: the debate team.",
        "Amazing Grace, sung by the choir",
        "We hope grace park is open on Saturday",
    ],
)
def test_common_words_are_not_names(index: NameIndex, text: str) -> None:
    assert found(index, text) == {}


def test_word_names_count_in_full(index: NameIndex) -> None:
    assert identified(index, "May Johnson and Hope Williams") == {"S010", "S011"}
    assert identified(index, "Grace Park sings") == {"S006"}


def test_short_names_are_not_fuzzy(index: NameIndex) -> None:
    # "Ruis" is one letter off "Ruiz" but shorter than six letters: no guess.
    assert found(index, "Ana Ruis at the fair") == {}
    # Two typos in a long name are too far (the alt text "Esperanza ..." alone only asks for review).
    assert identified(index, "Esperanza Vilanuava") == set()
    assert found(index, "Esperanza Vilanuava at the fair") == {}


def test_unicode_decomposed_and_case(index: NameIndex) -> None:
    decomposed = "Mari\u0301a Jose\u0301 Garci\u0301a Lo\u0301pez"
    assert identified(index, decomposed) == {"S001"}
    assert found(index, decomposed)["S001"].matched_text == "María José García López"
    assert fold("María José García-López") == "maria jose garcia lopez"
    assert fold("O'Brien") == "obrien"


# -- confidence, scope, ambiguity ---------------------------------------------------------------------------


def test_confidence_ordering(index: NameIndex) -> None:
    def conf(text: str, student: str) -> float:
        return found(index, text)[student].confidence

    full_all = conf("Maria Jose Garcia Lopez", "S001")
    full_part = conf("Maria Garcia", "S001")
    last_first = conf("Ruiz, Ana", "S002")
    nickname = conf("Bobby Smith", "S005")
    initial = conf("Ana R.", "S002")
    fuzzy = conf("Esperanza Vilanueva", "S016")
    lone = conf("Esperanza's poster", "S016")
    assert full_all >= 0.95
    assert full_all > full_part > last_first > nickname > initial > fuzzy >= IDENTIFIED > lone >= REVIEW


def test_site_restriction(index: NameIndex) -> None:
    assert {m.student_id for m in index.find({"alt": "Ana Ruiz"}, SITE)} == {"S002"}
    assert {m.student_id for m in index.find({"alt": "Ana Ruiz"}, OTHER)} == {"S101"}
    # Carla Diaz is not at the other school: no guess there.
    assert index.find({"alt": "Carla Diaz"}, OTHER) == []
    # Unknown site (a district page): whole roster, the shared name is ambiguous and needs review.
    both = index.find({"alt": "Ana Ruiz"}, None)
    assert {m.student_id for m in both} == {"S002", "S101"}
    assert all(m.confidence <= 0.5 for m in both)
    assert {m.student_id for m in index.find({"alt": "Ana Ruiz"}, "district-office")} == {"S002", "S101"}


def test_initial_must_be_unique_in_scope() -> None:
    roster = [
        StudentName("A", "Ana", "Ruiz", site_id=SITE),
        StudentName("B", "Ana", "Rios", site_id=SITE),
        StudentName("C", "Ana", "Lopez", site_id=OTHER),
    ]
    ix = build_index(roster)
    assert all(m.confidence < IDENTIFIED for m in ix.find({"c": "Ana R. and her poster"}, SITE))
    assert [(m.student_id, m.confidence) for m in ix.find({"c": "Ana L. and her poster"}, OTHER)] == [("C", 0.8)]


def test_too_many_namesakes_say_nothing() -> None:
    roster = [StudentName(f"S{i}", "Maria", "Garcia", site_id=f"site{i}") for i in range(MAX_AMBIGUOUS + 1)]
    ix = build_index(roster)
    assert ix.find({"c": "Maria Garcia"}, None) == []
    assert [m.student_id for m in ix.find({"c": "Maria Garcia"}, "site3")] == ["S3"]


def test_best_match_per_student_across_sources(index: NameIndex) -> None:
    texts = {"alt": "Ana R.", "figcaption": "Ana Ruiz with her volcano", "filename": "img"}
    matches = index.find(texts, SITE)
    assert len(matches) == 1
    assert matches[0].source == "figcaption" and matches[0].confidence >= 0.95
    assert matches[0].identified


def test_find_many_and_list_input(index: NameIndex) -> None:
    batch = index.find_many(["Ana Ruiz", "nobody here", "Ben Cho"], site_ids=[SITE, SITE, SITE])
    assert [[m.student_id for m in ms] for ms in batch] == [["S002"], [], ["S003"]]
    assert [m.source for m in index.find(["x", "Carla Diaz"], SITE)] == ["text1"]


def test_roster_rows_of_several_shapes() -> None:
    class Row:  # models.Student has ``id`` rather than ``student_id``
        id = "R1"
        legal_first = "Zoe"
        legal_last = "Quintero"
        preferred_first = None
        preferred_last = None
        site_id = SITE

    sheet_row = {"student_id": "R2", "legal_first": "Ian", "legal_last": "Moss", "preferred_first": float("nan")}
    ix = build_index([Row(), {**sheet_row, "site_id": SITE}])
    assert len(ix) == 2
    assert [m.student_id for m in ix.find({"c": "Zoe Quintero and Ian Moss"}, SITE)] == ["R1", "R2"]
    with pytest.raises(ValueError):
        build_index([{"legal_first": "No", "legal_last": "Id"}])


def test_empty_and_hostile_input(index: NameIndex) -> None:
    assert index.find({}, SITE) == []
    assert index.find({"alt": ""}, SITE) == []
    assert build_index([]).find({"alt": "Ana Ruiz"}) == []
    long_text = "lorem ipsum " * 50_000 + "Ana Ruiz"
    assert index.find({"context": long_text}, SITE) == []  # beyond the cut: names sit near the photo
    assert identified(index, "<b>Ana Ruiz</b> =cmd|' /C calc'!A0") == {"S002"}


def test_never_logs(index: NameIndex, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        index.find({"alt": "Ana Ruiz and Ben Cho"}, SITE)
        build_index(ROSTER)
    assert caplog.records == []


# -- accuracy ---------------------------------------------------------------------------------------------

# A small hand-labelled set: (caption, site, students a reader would say are identified).
LABELLED: list[tuple[str, str | None, set[str]]] = [
    ("Ana Ruiz and Carla Diaz at the science fair", SITE, {"S002", "S004"}),
    ("Students in Room 12 build volcanoes", SITE, set()),
    ("Left to right: Ben Cho, Robert Smith, Grace Park", SITE, {"S003", "S005", "S006"}),
    ("Field trip to Lincoln Park", SITE, set()),
    ("Principal Patricia Gomez welcomes families", SITE, set()),
    ("Mr. Tom Lee coaches the chess club", SITE, set()),
    ("Maria Garcia reads her poem", SITE, {"S001"}),
    ("Garcia Lopez, Maria Jose (grade 4)", SITE, {"S001"}),
    ("Katie N. holds the trophy", SITE, {"S009"}),
    ("Bobby Smith slides into home", SITE, {"S005"}),
    ("We hope you enjoy May's newsletter", SITE, set()),
    ("Will Brown and Hope Williams, reading buddies", SITE, {"S012", "S011"}),
    ("Amazing Grace performed by the choir", SITE, set()),
    ("Cesar Chavez Day assembly", SITE, set()),
    ("Thomas Anderson and Jonathan Lincoln", SITE, {"S018", "S014"}),
    ("Visit from Washington Middle School band", SITE, set()),
    ("Ana Ruiz presents at the district fair", OTHER, {"S101"}),
    ("Daniel Kim's robot", OTHER, set()),  # also a teacher's name: needs review, not identified
    ("Carla M. wins the spelling bee", OTHER, {"S103"}),
    ("Liam O'Brien, 5th grade", SITE, {"S007"}),
    ("jose hernandez science project", SITE, {"S008"}),
    ("Esperanza Villanueva and Luis Miguel Ortega", SITE, {"S016", "S017"}),
    ("Group photo of the 2nd grade class", SITE, set()),
    ("Maribel Washington leads the flag salute", SITE, {"S015"}),
    ("Washington, Maribel", SITE, {"S015"}),
    ("Pictured: Katherine Nguyen-Tran", SITE, {"S009"}),
    ("Ana Ruiz", None, set()),  # two Ana Ruiz in the district and no site: only needs review
    ("Thomas Andersen at the book fair", SITE, {"S018"}),
    ("The Lincoln Elementary School garden", SITE, set()),
    ("Josie Hernandez at the fair", SITE, set()),  # not on the roster
]


def test_f1_on_labelled_set(index: NameIndex) -> None:
    got = [identified(index, text, site) for text, site, _truth in LABELLED]
    precision, recall, f1 = precision_recall([truth for _text, _site, truth in LABELLED], got)
    print(f"labelled set: precision={precision:.3f} recall={recall:.3f} f1={f1:.3f}")
    wrong = [(text, got[k]) for k, (text, _site, truth) in enumerate(LABELLED) if got[k] != truth]
    assert f1 >= 0.95, wrong


def test_precision_recall_counts() -> None:
    ana = Match("A", 0.96, "Ana Ruiz", "alt", "Ana Ruiz")
    review = Match("B", 0.5, "Ben", "alt", "Ben")
    # text 1: A found (tp), B only at review level (fn); text 2: C predicted wrongly (fp).
    assert precision_recall([{"A", "B"}, set()], [[ana, review], {"C"}]) == (0.5, 0.5, 0.5)
    assert precision_recall([set()], [[]]) == (1.0, 1.0, 1.0)


def _sample_dir() -> Path | None:
    try:
        from compliance.sample import ensure_sample
    except ImportError:
        return None
    try:
        path = ensure_sample("standard")
    except Exception as exc:  # the generator is another team's work in progress: report, do not fail here
        pytest.skip(f"standard sample unavailable: {type(exc).__name__}: {exc}")
    return path if (path / "truth" / "captions.jsonl").is_file() else None


def test_precision_recall_on_sample_captions() -> None:
    sample = _sample_dir()
    if sample is None:
        pytest.skip("standard sample has no truth/captions.jsonl yet")
    roster, distractors, captions = load_evaluation_set(sample)
    ix = build_index(roster, distractors=distractors)
    got = ix.find_many([c["text"] for c in captions], site_ids=[c.get("site_id") for c in captions])
    precision, recall, f1 = precision_recall([c["student_ids"] for c in captions], got)
    print(f"sample captions: n={len(captions)} precision={precision:.3f} recall={recall:.3f} f1={f1:.3f}")
    assert precision >= 0.95 and recall >= 0.95


def test_sample_loader_reads_sis_csv(tmp_path: Path) -> None:
    (tmp_path / "sis").mkdir()
    (tmp_path / "truth").mkdir()
    with (tmp_path / "sis" / "students.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(
            [
                "student_id",
                "legal_first",
                "legal_last",
                "preferred_first",
                "preferred_last",
                "grade",
                "site_id",
            ]
        )
        w.writerow(["1", "Ana", "Ruiz", "", "", "3", SITE])
    (tmp_path / "truth" / "captions.jsonl").write_text(
        json.dumps({"caption_id": "c1", "text": "Ana Ruiz", "student_ids": ["1"]}) + "\n", encoding="utf-8"
    )
    roster, distractors, captions = load_evaluation_set(tmp_path)
    assert [s.student_id for s in roster] == ["1"] and captions[0]["caption_id"] == "c1"
    assert distractors == []


# -- rules learned from the sample district -----------------------------------------------------------------


def test_longer_reading_wins_over_a_name_inside_it() -> None:
    roster = [
        StudentName("MJ", "María José", "Casas Villanueva", site_id=SITE),
        StudentName("J", "José", "Casas", site_id=SITE),
    ]
    ix = build_index(roster)
    assert {m.student_id for m in ix.find({"c": "María José Casas at the fair"}, SITE) if m.identified} == {"MJ"}
    assert {m.student_id for m in ix.find({"c": "José Casas at the fair"}, SITE) if m.identified} == {"J"}


def test_namesakes_prefer_the_name_the_student_goes_by() -> None:
    roster = [
        StudentName("T1", "Thomas", "O'Connor", preferred_first="Tom", site_id=SITE),
        StudentName("T2", "Thomas", "O'Connor", site_id=SITE),
    ]
    ix = build_index(roster)
    by_id = {m.student_id: m for m in ix.find({"c": "Thomas O. at the fair"}, SITE)}
    assert by_id["T2"].identified and not by_id["T1"].identified  # T1 stays a candidate for review
    assert by_id["T1"].confidence >= REVIEW
    assert {m.student_id for m in ix.find({"c": "Tom O'Connor"}, SITE) if m.identified} == {"T1"}


def test_exact_first_name_is_not_also_read_as_a_nickname() -> None:
    roster = [
        StudentName("E1", "Elizabeth", "Cobb", preferred_first="Beth", site_id=SITE),
        StudentName("E2", "Elizabeth", "Crawford", site_id=SITE),
        StudentName("B1", "Bethany", "Cole", site_id=SITE),
    ]
    ix = build_index(roster)
    assert [m.student_id for m in ix.find({"c": "Elizabeth Crawford"}, SITE)] == ["E2"]
    assert {m.student_id for m in ix.find({"c": "Elizabeth C."}, SITE) if m.identified} == {"E2"}


def test_surname_particles() -> None:
    roster = [
        StudentName("Y", "Yeni", "de la Rosa Rosario", site_id=SITE),
        StudentName("P", "Pamela", "del Río Tello", site_id=SITE),
    ]
    ix = build_index(roster)
    assert identified(ix, "Congratulations to Yeni d.!") == {"Y"}
    assert identified(ix, "Congratulations to Yeni R.!") == {"Y"}
    assert identified(ix, "del Río Tello, Pamela and friends") == {"P"}
    assert identified(ix, "Yeni de la Rosa Rosario") == {"Y"}
    assert identified(ix, "Yeni a. and the team") == set()  # a lower-case letter is an initial only when
    # the student's surname is written in lower case


def test_staff_distractors_count_at_their_own_site_only() -> None:
    roster = [
        StudentName("A", "Robert", "Reed", site_id=SITE),
        StudentName("B", "Robert", "Reed", site_id=OTHER),
    ]
    ix = build_index(roster, distractors=[("Robert Reed", SITE)])
    assert all(not m.identified for m in ix.find({"c": "Robert Reed at the fair"}, SITE))
    assert [(m.student_id, m.identified) for m in ix.find({"c": "Robert Reed at the fair"}, OTHER)] == [("B", True)]


def test_texts_parsed_from_a_school_page(index: NameIndex) -> None:
    from compliance.photos.evidence import parse_page

    html = """<html><body>
      <figure><img src="/lincoln-es/images/maria-garcia-lopez-science-fair.jpg" alt="Science fair">
        <figcaption>Left to right: Ana Ruiz and Ben Cho</figcaption></figure>
      <div class="gallery"><a href="big.jpg" data-caption="Esperanza&#39;s winning poster">
        <img src="/lincoln-es/images/poster.jpg" alt=""></a></div>
      <p><img src="/lincoln-es/images/staff.jpg" alt="Coach Ben Cho and Principal Patricia Gomez"></p>
      <p><img src="/lincoln-es/images/group.jpg" alt="Our second graders at Lincoln Park"></p>
    </body></html>"""
    page = parse_page(html, "https://schools.example/lincoln-es/news/fair.html")
    found_per_image = {
        ref.image_url.rsplit("/", 1)[-1]: {(m.student_id, m.identified) for m in index.find(ref.texts, SITE)}
        for ref in page.images
    }
    assert found_per_image == {
        "maria-garcia-lopez-science-fair.jpg": {("S001", True), ("S002", True), ("S003", True)},
        "poster.jpg": {("S016", False)},  # a lone first name: needs review
        "staff.jpg": set(),
        "group.jpg": set(),
    }


def test_precision_recall_on_sample_pages() -> None:
    """Every (page, image) of the standard sample's websites: page texts and image metadata against photos.json."""
    sample = _sample_dir()
    if sample is None or not (sample / "truth" / "photos.json").is_file():
        pytest.skip("standard sample has no photo truth yet")
    from compliance.photos.evidence import parse_page, read_image
    from compliance.photos.findings import identify

    roster, distractors, _captions = load_evaluation_set(sample)
    ix = build_index(roster, distractors=distractors)
    truth = json.loads((sample / "truth" / "photos.json").read_text(encoding="utf-8"))
    expected = {
        (a["page"], a["image"]): set(a["student_ids"]) if a["identified"] else set()
        for a in truth["appearances"]
        if a["crawlable"] and a["image"] and not a["image"].startswith("embed/")  # photos of the sites' own files
    }
    base = "https://district.test/"
    sites = sample / "sites"
    truths: list[set[str]] = []
    got: list[list[Match]] = []
    seen: set[tuple[str, str]] = set()
    for html in sorted(sites.rglob("*.html")):
        rel = html.relative_to(sites).as_posix()
        if "/private/" in rel:
            continue  # robots.txt keeps the crawler out
        texts_of: dict[str, dict[str, str]] = {}
        for ref in parse_page(html.read_text(encoding="utf-8"), base + rel).images:
            if not ref.image_url.startswith(base):
                continue
            texts = texts_of.setdefault(ref.image_url.removeprefix(base), {})
            # The same photo twice on a page: both captions are evidence (the "#n" keeps each channel's kind).
            texts.update({(k if k not in texts else f"{k}#{len(texts)}"): v for k, v in ref.texts.items()})
        for image, texts in texts_of.items():
            if (sites / image).is_file():
                texts.update(read_image((sites / image).read_bytes(), 50_000_000).texts)
            seen.add((rel, image))
            truths.append(expected.get((rel, image), set()))
            # Each channel with the weight it can carry, as the audit reads it: text around an image alone
            # never identifies.
            got.append(identify(ix, texts, rel.split("/", 1)[0]))
    assert set(expected) <= seen  # every photo of the truth was read from its page
    precision, recall, f1 = precision_recall(truths, got)
    print(f"sample pages: images={len(truths)} precision={precision:.3f} recall={recall:.3f} f1={f1:.3f}")
    assert precision >= 0.95 and recall >= 0.95


def test_a_particle_alone_is_no_surname() -> None:
    roster = [
        StudentName("MC", "María del Carmen", "Bermúdez", site_id=SITE),
        StudentName("MQ", "María", "Quiñónez del Valle", site_id=SITE),
    ]
    ix = build_index(roster)
    assert identified(ix, "María del Carmen B. and friends") == {"MC"}
    assert identified(ix, "María Quiñónez del Valle") == {"MQ"}
    assert identified(ix, "María del Valle") == {"MQ"}  # a later surname with its particle


def test_index_cache_keys_on_roster_content_not_size() -> None:
    from compliance.photos.matching import IndexCache

    cache = IndexCache()
    before = [StudentName("s1", "Nadia", "Okafor", site_id="a"), StudentName("s2", "Tomas", "Reyes", site_id="a")]
    renamed = [before[0], StudentName("s2", "Tomas", "Reyna", site_id="a")]  # same size, one surname changed
    first = cache.get(before)
    assert cache.get(list(before)) is first  # same content: reused
    second = cache.get(renamed)
    assert second is not first
    texts = {"alt": "Tomas Reyna at the science fair"}
    assert [m.student_id for m in second.find(texts, "a")] == ["s2"]
    assert first.find(texts, "a") == []
    moved = [before[0], StudentName("s2", "Tomas", "Reyes", site_id="b")]  # a transfer changes the index too
    assert cache.get(moved) is not first
