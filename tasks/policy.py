"""Policy version in Drive and its acknowledgement forms: found or created once, then reused by every run.

The rules (when a version opens, the PDF, the forms, the revision decision) live in
``compliance.policy_versions``; these tasks give them the run's store and clients.
"""

from __future__ import annotations

from datetime import datetime

from prefect import task
from prefect.cache_policies import NO_CACHE

from compliance.policy import RevisionDecision
from compliance.policy_versions import (
    RevisionDecisionNeeded,
    ensure_version,
    known_policy_file_id,
    latest_version_id,
    probe_version,
)
from tasks import resources
from tasks.guard import retry_unless_configuration


def _retry_unless_configuration(task: object, task_run: object, state: object) -> bool:
    # A pending revision decision, like a configuration error, waits for a person; retrying only delays it.
    try:
        state.result()  # type: ignore[attr-defined]
    except RevisionDecisionNeeded:
        return False
    except Exception:  # noqa: BLE001 - the shared rule decides the rest
        pass
    return retry_unless_configuration(task, task_run, state)  # type: ignore[arg-type]

@task(
    name="probe-policy-version",
    retries=2,
    retry_delay_seconds=[30, 120],
    retry_condition_fn=_retry_unless_configuration,
    cache_policy=NO_CACHE,
)
def probe_policy_version(now: datetime) -> dict:
    """The version a real run would use, as JSON (:class:`~compliance.policy.VersionProbe`); changes nothing.

    Dry runs plan against it, so a dry run never creates a version, a form or a Drive file.
    """
    settings = resources.settings()
    with resources.store().session() as session:
        probe = probe_version(session, resources.google(), settings, known_policy_file_id(session, settings), now)
        session.rollback()  # read only, whatever a read may have loaded
    return probe.as_json()


@task(
    name="ensure-policy-version",
    retries=2,
    retry_delay_seconds=[30, 120],
    retry_condition_fn=retry_unless_configuration,
    cache_policy=NO_CACHE,
)
def ensure_policy_version(
    now: datetime, decision: RevisionDecision | None = None, decided_by: str | None = None
) -> int:
    """Current policy version id. The first document, a new school year (``renew_each_school_year``) or a
    material change opens a new one with its forms and PDF and closes the older forms; an editorial change
    keeps the version; changed text without ``decision`` raises
    :class:`~compliance.policy_versions.RevisionDecisionNeeded`.
    """
    with resources.store().session() as session:
        return ensure_version(session, resources.google(), resources.settings(), now, decision, decided_by)


@task(
    name="follow-policy-document",
    retries=2,
    retry_delay_seconds=[30, 120],
    retry_condition_fn=retry_unless_configuration,
    cache_policy=NO_CACHE,
)
def follow_policy_document(
    now: datetime, decision: RevisionDecision | None = None, decided_by: str | None = None
) -> dict[str, int]:
    """The nightly's look at the policy document: a new school year or a material change opens the new
    version; changed text nobody has classified yet is reported as pending (nothing opens, nothing is sent)."""
    with resources.store().session() as session:
        before = latest_version_id(session)
    if before is None:  # no campaign yet: the first version opens with distribute-policy
        return {"policy versions opened": 0, "policy revision pending decision": 0, "policy version": 0}
    try:
        current = ensure_policy_version.fn(now, decision, decided_by)
    except RevisionDecisionNeeded:
        return {"policy versions opened": 0, "policy revision pending decision": 1, "policy version": before}
    return {
        "policy versions opened": int(current > before),
        "policy revision pending decision": 0,
        "policy version": current,
    }
