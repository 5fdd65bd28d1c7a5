"""Community acknowledgement tokens: unguessable, bound to person and policy version, pre-filled links."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlsplit

from compliance.tokens import issue_token, prefilled_link, token_id_for, token_id_of, token_index, verify_token

SECRET = "test-secret-0123456789abcdef"


def test_token_shape_and_determinism() -> None:
    token = issue_token(SECRET, "assoc-0042", 3)
    assert re.fullmatch(r"[A-Za-z0-9_-]{8}\.[A-Za-z0-9_-]{22}", token)  # 48-bit id, 128-bit MAC
    assert token == issue_token(SECRET, "assoc-0042", 3)
    assert token_id_of(token) == token_id_for(SECRET, "assoc-0042", 3) == token.split(".")[0]
    assert verify_token(SECRET, token, "assoc-0042", 3)
    assert verify_token(SECRET, f"  {token}\n", "assoc-0042", 3)  # pasted with whitespace


def test_forged_and_moved_tokens_fail() -> None:
    token = issue_token(SECRET, "assoc-0042", 3)
    tid, mac = token.split(".")
    flipped = mac[:-1] + ("A" if mac[-1] != "A" else "B")
    assert not verify_token(SECRET, f"{tid}.{flipped}", "assoc-0042", 3)
    assert not verify_token(SECRET, token, "assoc-0043", 3)  # another person
    assert not verify_token(SECRET, token, "assoc-0042", 4)  # another policy version
    assert not verify_token("another-secret-0123456789", token, "assoc-0042", 3)
    assert not verify_token(SECRET, issue_token("attacker-secret-012345", "assoc-0042", 3), "assoc-0042", 3)
    assert not verify_token(SECRET, "", "assoc-0042", 3)
    assert not verify_token(SECRET, "ñ" * 31, "assoc-0042", 3)
    assert token_id_of("garbage") is None and token_id_of(".x") is None


def test_tokens_differ_per_person_and_never_collide_in_a_roster() -> None:
    keys = [f"assoc-{i:05d}" for i in range(5000)]
    index = token_index(SECRET, keys, 7)
    assert len(index) == 5000
    assert len({tid for _, tid in index.values()}) == 5000
    token = issue_token(SECRET, "assoc-00017", 7)
    assert index[token] == ("assoc-00017", token.split(".")[0])


def test_prefilled_link_uses_decimal_entry_numbers() -> None:
    token = issue_token(SECRET, "assoc-0042", 3)
    link = prefilled_link(
        "https://docs.google.com/forms/d/e/FORM/viewform", {"1a2b3c4d": token, "00ff": "María José"}
    )
    parts = urlsplit(link)
    assert parts.path == "/forms/d/e/FORM/viewform"
    params = parse_qsl(parts.query)
    assert params[0] == ("usp", "pp_url")
    assert (f"entry.{int('1a2b3c4d', 16)}", token) in params
    assert ("entry.255", "María José") in params
    assert "Mar%C3%ADa+Jos%C3%A9" in link


def test_rotated_keys_keep_codes_already_sent_and_name_the_key() -> None:
    from compliance.tokens import TokenKeys, key_id_of

    original = TokenKeys(SECRET)
    sent_last_year = original.issue("assoc-0042", 3)
    assert key_id_of(sent_last_year) == "" and sent_last_year.count(".") == 1  # the shape already sent
    rotated = TokenKeys("a-new-long-random-secret-2027", "k2027", {"": SECRET})
    fresh = rotated.issue("assoc-0042", 3)
    assert fresh.startswith("k2027.") and key_id_of(fresh) == "k2027" and fresh != sent_last_year
    assert token_id_of(fresh) == fresh.rpartition(".")[0]  # the ledger's token id names its key
    # Both verify after the rotation: the old code with the retired key, the new one with the current key.
    assert rotated.verify(sent_last_year, "assoc-0042", 3) and rotated.verify(fresh, "assoc-0042", 3)
    index = token_index(rotated, ["assoc-0042", "assoc-0043"], 3)
    assert index[sent_last_year][0] == index[fresh][0] == "assoc-0042" and len(index) == 4
    # ... and not the other way round, nor across persons, nor with the key id swapped or dropped.
    assert not original.verify(fresh, "assoc-0042", 3)
    assert not rotated.verify(fresh, "assoc-0043", 3)
    assert not rotated.verify("k2026" + fresh.removeprefix("k2027"), "assoc-0042", 3)
    assert not rotated.verify(fresh.removeprefix("k2027."), "assoc-0042", 3)
    # A retired key only verifies: nothing issued after rotation uses it.
    assert TokenKeys(SECRET, "", {}).verify(sent_last_year, "assoc-0042", 3)
    assert not TokenKeys("a-new-long-random-secret-2027", "k2027", {}).verify(sent_last_year, "assoc-0042", 3)


def test_key_ids_are_checked() -> None:
    import pytest

    from compliance.tokens import TokenKeys

    with pytest.raises(ValueError, match="key id"):
        TokenKeys(SECRET, "K.1")
    with pytest.raises(ValueError, match="both current and retired"):
        TokenKeys(SECRET, "k1", {"k1": SECRET})
