"""Accounts and items as last read: what tells tomorrow's read what changed, and what findings come from."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from compliance.models import SocialAccount, SocialItem
from compliance.social.items import AccountRead
from compliance.vocabulary import PageStatus


def account_row(session: Session, site_id: str, platform: str, account: str) -> SocialAccount:
    """The stored account for a profile entry (made the first night it is audited)."""
    row = session.scalars(
        select(SocialAccount).where(
            SocialAccount.site_id == site_id, SocialAccount.platform == platform, SocialAccount.account == account
        )
    ).first()
    if row is None:
        row = SocialAccount(site_id=site_id, platform=platform, account=account, counts={})
        session.add(row)
        session.flush()
    return row


def known_versions(session: Session, account: SocialAccount) -> dict[str, str]:
    """Item id -> version of the account's live items: an item whose version is unchanged is not read again."""
    rows = session.execute(
        select(SocialItem.item_id, SocialItem.version).where(
            SocialItem.account_id == account.id, SocialItem.status == PageStatus.LIVE
        )
    )
    return {item_id: version for item_id, version in rows}


def apply_read(session: Session, account: SocialAccount, read: AccountRead, now: datetime, *, full: bool = False
               ) -> dict[str, int]:
    """Store tonight's read: changed items written, items no longer published marked gone (only when the read
    was complete: a quota or an error never turns a video into a deleted one), the account's state noted."""
    items = {
        row.item_id: row for row in session.scalars(select(SocialItem).where(SocialItem.account_id == account.id))
    }
    counts = {"new": 0, "changed": 0, "gone": 0}
    for item in read.changed:
        row = items.get(item.item_id)
        if row is None:
            row = SocialItem(account_id=account.id, platform=account.platform, item_id=item.item_id,
                             first_seen_at=now)
            session.add(row)
            items[item.item_id] = row
            counts["new"] += 1
        elif row.version != item.version or row.status != PageStatus.LIVE:
            counts["changed"] += 1
        row.url, row.version, row.kind = item.url, item.version, item.kind
        row.evidence, row.status, row.last_seen_at = item.evidence(), PageStatus.LIVE, now
    changed = {i.item_id for i in read.changed}
    for item_id, row in items.items():
        if item_id in changed:
            continue
        if item_id in read.live:
            row.last_seen_at = now
        elif read.complete and row.status == PageStatus.LIVE:
            row.status = PageStatus.GONE
            counts["gone"] += 1
    if read.title:
        account.title = read.title[:500]
    if read.resolved_id:
        account.resolved_id = read.resolved_id[:200]
    account.audited_at = now
    account.held_reason = read.held_reason
    if full and read.complete:
        account.full_read_at = now
    account.counts = {**read.counts, **counts, "problems": len(read.problems)}
    session.flush()
    return counts


def live_items(session: Session, site_id: str, platform: str) -> list[SocialItem]:
    """The site's live items on ``platform`` (every account), in a stable order."""
    return list(
        session.scalars(
            select(SocialItem)
            .join(SocialAccount, SocialAccount.id == SocialItem.account_id)
            .where(SocialAccount.site_id == site_id, SocialItem.platform == platform,
                   SocialItem.status == PageStatus.LIVE)
            .order_by(SocialItem.url, SocialItem.item_id)
        )
    )


__all__ = ["account_row", "apply_read", "known_versions", "live_items"]
