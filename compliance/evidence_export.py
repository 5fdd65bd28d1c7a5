"""Evidence bundles from the store: the chain entries about one person or one finding, their anchors, and the
acknowledgement evidence the entries' hashes stand for (compliance.bundle makes and checks the zip)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from compliance.bundle import bundle_document, make_bundle
from compliance.chain import sha256_hex
from compliance.ledger import _row_evidence, entry_of
from compliance.models import Acknowledgement, Finding, LedgerEvent, Person, PolicyVersion
from compliance.settings import Settings

Anchors = Sequence[tuple[str, Mapping[str, Any]]]


def person_bundle(session: Session, person_id: int, anchors: Anchors, settings: Settings, now: datetime) -> bytes:
    """What was sent to the person and when, what they signed (policy revision and hash), with its proof.

    The bundle carries the person's own signed evidence (typed name, verified district email): it is what
    the acknowledgement's hash stands for, and the bundle is made for that person's case only.
    """
    person = session.get(Person, person_id)
    if person is None:
        raise LookupError(f"no person with id {person_id}")
    rows = session.scalars(select(LedgerEvent).where(LedgerEvent.person_id == person_id).order_by(LedgerEvent.seq))
    entries = [entry_of(r) for r in rows]
    acks = []
    for ack, policy in session.execute(
        select(Acknowledgement, PolicyVersion)
        .join(PolicyVersion, PolicyVersion.id == Acknowledgement.policy_version_id)
        .where(Acknowledgement.person_id == person_id).order_by(Acknowledgement.id)
    ):
        evidence = _row_evidence(ack, person.person_key).decode("utf-8")
        acks.append({
            "acknowledgement_id": ack.id, "method": str(ack.method), "submitted_at": ack.submitted_at.isoformat(),
            "policy_version_id": policy.id, "policy_title": policy.title, "policy_drive_file_id": policy.drive_file_id,
            "policy_revision_id": policy.revision_id, "policy_sha256": ack.policy_sha256,
            "evidence": evidence, "evidence_sha256": sha256_hex(evidence.encode()),
        })
    document = bundle_document({"kind": "person", "id": person_id}, entries, anchors, acknowledgements=acks,
                               public_keys=settings.ledger.public_keys, generated_at=now)
    return make_bundle(document)


def finding_bundle(session: Session, finding_id: int, anchors: Anchors, settings: Settings, now: datetime) -> bytes:
    """A finding's opening and resolution, the takedown notices that named it, and the consent records of its
    student as applied (ids and hashes: the bundle names no one)."""
    finding = session.get(Finding, finding_id)
    if finding is None:
        raise LookupError(f"no finding with id {finding_id}")
    student = json.dumps(finding.student_id)
    rows = session.scalars(
        select(LedgerEvent).where(or_(
            LedgerEvent.finding_id == finding_id,
            (LedgerEvent.kind == "takedown_sent") & LedgerEvent.payload.contains(finding.finding_key),
            LedgerEvent.kind.in_(("consent_applied", "consent_revoked", "consent_withdrawn"))
            & LedgerEvent.payload.contains(f'"student_id":{student}'),
        )).order_by(LedgerEvent.seq)
    )
    document = bundle_document({"kind": "finding", "id": finding_id}, [entry_of(r) for r in rows], anchors,
                               public_keys=settings.ledger.public_keys, generated_at=now)
    return make_bundle(document)
