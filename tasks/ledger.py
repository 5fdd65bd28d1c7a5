"""After each nightly: chain what a crash left unchained, then anchor the chain head outside the database."""

from __future__ import annotations

from datetime import datetime

from prefect import task
from prefect.cache_policies import NO_CACHE

from compliance.anchors import write_anchor
from compliance.ledger import record_acknowledgements, record_missing_sends
from tasks import resources
from tasks.guard import retry_unless_configuration


@task(
    name="anchor-ledger",
    retries=2,
    retry_delay_seconds=[30, 120],
    retry_condition_fn=retry_unless_configuration,
    cache_policy=NO_CACHE,
)
def anchor_ledger(now: datetime) -> dict[str, int]:
    """Catch up unchained acknowledgements and sends, then write the head to Drive as a kept revision."""
    with resources.store().session() as session:
        caught_up = record_acknowledgements(session, now=now) + record_missing_sends(session, now=now)
        session.commit()
        anchor = write_anchor(session, resources.google(), resources.settings(), now)
        return {"events caught up": caught_up, "anchored at event": anchor.seq}
